//! The client side of a connection, plain or TLS, as one type: hyper serves it, and after an
//! upgrade the tunnel gets it back (by downcasting) without hyper's wrapping. It also applies
//! nginx's `send_timeout` to writes, which hyper has no notion of: a write that cannot make
//! progress for that long fails, and the connection closes.

use std::borrow::Cow;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tokio_rustls::server::TlsStream;

use super::capture::HeadCapture;
use super::drain::{DrainRead, poll_read_any};
use super::status_line::{CONTINUE, StatusLine};

/// nginx's `send_timeout` default.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

#[derive(Debug)]
pub struct Downstream {
    io: Io,
    /// Armed only while a write is blocked.
    stalled: Option<Pin<Box<Sleep>>>,
    /// Copies the first request head while it is being read.
    capture: Option<Arc<HeadCapture>>,
    /// Respells the status line of answers to HTTP/1.0 requests.
    status_line: Arc<StatusLine>,
    /// Bytes of `100 Continue` written so far while it goes out before a head.
    interim: Option<usize>,
}

impl Downstream {
    pub fn plain(
        stream: TcpStream,
        capture: Arc<HeadCapture>,
        status_line: Arc<StatusLine>,
    ) -> Downstream {
        Downstream {
            io: Io::Plain(stream),
            stalled: None,
            capture: Some(capture),
            status_line,
            interim: None,
        }
    }

    pub fn tls(
        stream: TlsStream<TcpStream>,
        capture: Arc<HeadCapture>,
        status_line: Arc<StatusLine>,
    ) -> Downstream {
        Downstream {
            io: Io::Tls(Box::new(stream)),
            stalled: None,
            capture: Some(capture),
            status_line,
            interim: None,
        }
    }

    /// Writes what is left of `100 Continue`; ready once all of it is out.
    fn poll_write_interim(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut written = self.interim.unwrap_or(0);
        while written < CONTINUE.len() {
            self.interim = Some(written);
            let rest = &CONTINUE[written..];
            let poll = match &mut self.io {
                Io::Plain(s) => Pin::new(s).poll_write(cx, rest),
                Io::Tls(s) => Pin::new(s).poll_write(cx, rest),
            };
            match ready!(self.watch(cx, poll)) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        self.interim = None;
        Poll::Ready(Ok(()))
    }

    /// Turns a blocked write into an error once it has been blocked for `SEND_TIMEOUT`.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(SEND_TIMEOUT)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "client timed out",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl DrainRead for Downstream {
    fn closes_with_shutdown(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }

    fn poll_read_drain(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => s.poll_read_drain(cx, buf),
            Io::Tls(s) => poll_read_any(&mut **s, cx, buf),
        }
    }
}

impl AsyncRead for Downstream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s).poll_read(cx, buf),
        };
        if let Some(capture) = &this.capture
            && poll.is_ready()
            && !capture.feed(&buf.filled()[before..])
        {
            this.capture = None;
        }
        poll
    }
}

impl AsyncWrite for Downstream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.interim.is_some() || this.status_line.owes_continue(buf) {
            if this.interim.is_some() || !buf.starts_with(&CONTINUE[..13]) {
                let done = ready!(this.poll_write_interim(cx));
                done?;
            }
            this.status_line.continue_settled();
        }
        let patched = this.status_line.patch(buf);
        let poll = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, &patched),
            Io::Tls(s) => Pin::new(s).poll_write(cx, &patched),
        };
        if matches!(patched, Cow::Owned(_)) && matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.status_line.disarm();
        }
        this.watch(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && (matches!(self.status_line.patch(first), Cow::Owned(_))
                || self.interim.is_some()
                || self.status_line.owes_continue(first))
        {
            // The head goes alone, through the patching path.
            return self.poll_write(cx, first);
        }
        let this = self.get_mut();
        let poll = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        };
        this.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s).poll_flush(cx),
        };
        this.watch(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
