//! The client side of a connection, a TCP or unix-domain [`Socket`], plain or TLS, or the
//! pipe an HTTP/2 stream's request is served through (`runtime::http2`), as one type: the HTTP/1.x server reads and writes it, and after an upgrade the tunnel takes it
//! over. It also applies nginx's `send_timeout` to writes: a write that cannot make progress
//! for that long fails, and the connection closes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::time::Sleep;
use tokio_rustls::server::TlsStream;

use super::drain::{DrainRead, poll_read_any};
use super::socket::Socket;

/// nginx's `send_timeout` default.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
enum Io {
    Plain(Socket),
    Tls(Box<TlsStream<Socket>>),
    Pipe(DuplexStream),
}

#[derive(Debug)]
pub struct Downstream {
    io: Io,
    /// Armed only while a write is blocked.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Downstream {
    pub fn plain(stream: Socket) -> Downstream {
        Downstream {
            io: Io::Plain(stream),
            stalled: None,
        }
    }

    pub fn tls(stream: TlsStream<Socket>) -> Downstream {
        Downstream {
            io: Io::Tls(Box::new(stream)),
            stalled: None,
        }
    }

    pub fn pipe(stream: DuplexStream) -> Downstream {
        Downstream {
            io: Io::Pipe(stream),
            stalled: None,
        }
    }

    /// The socket under any TLS.
    fn socket(&self) -> Option<&Socket> {
        match &self.io {
            Io::Plain(s) => Some(s),
            Io::Tls(s) => Some(s.get_ref().0),
            Io::Pipe(_) => None,
        }
    }

    /// Waits until the client has closed its side (nginx's
    /// `ngx_http_upstream_check_broken_connection`, which epoll wakes while the upstream
    /// works): returns on end of stream, even behind bytes not read yet (a pipelined
    /// request, frames sent ahead of a 101), or with the socket's error (a reset), which
    /// nginx's log line names.
    /// An HTTP/2 stream's pipe tells nothing: the stream's end is not watched.
    pub async fn closed(&self) -> Option<io::Error> {
        match self.socket() {
            Some(socket) => socket.peer_closed().await,
            None => std::future::pending().await,
        }
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
            Io::Pipe(s) => poll_read_any(s, cx, buf),
        }
    }
}

impl AsyncRead for Downstream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Io::Pipe(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Downstream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Io::Pipe(s) => Pin::new(s).poll_write(cx, buf),
        };
        this.watch(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Pipe(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        };
        this.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
            Io::Pipe(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s).poll_flush(cx),
            Io::Pipe(s) => Pin::new(s).poll_flush(cx),
        };
        this.watch(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Io::Pipe(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
