//! The connection to an upstream server: a [`Socket`] (TCP, or unix-domain for `unix:/path`
//! servers), with TLS on top for `https://` (see [`super::upstream_tls`]), or FastCGI's
//! records for `fastcgi_pass` (see [`super::fastcgi`]: reads give the STDOUT). Everything past
//! connecting (the exchange, body streaming, the keepalive cache's liveness probe, tunnels)
//! reads and writes through this one type, so all kinds behave alike.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;

use super::drain::{DrainRead, poll_read_any};
use super::fastcgi::FastCgiPeer;
use super::socket::Socket;
use crate::eval::plan::PeerAddr;

#[derive(Debug)]
pub enum PeerStream {
    Plain(Socket),
    Tls(Box<TlsPeer>),
    /// A `fastcgi_pass` connection: reads give the application's STDOUT.
    FastCgi(Box<FastCgiPeer>),
}

/// A TLS connection to an upstream. Readiness of the socket says nothing about decrypted
/// bytes, so "ready to read" is answered by reading: what that read got waits in `ahead`
/// for the next read.
#[derive(Debug)]
pub struct TlsPeer {
    stream: TlsStream<Socket>,
    ahead: BytesMut,
    /// The server closed (with or without close_notify).
    eof: bool,
}

/// How much one readiness check decrypts at most.
const AHEAD: usize = 16 * 1024;

impl TlsPeer {
    /// Reads what is there into `ahead`; `Ready` once something (or the end) is known.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.ahead.is_empty() || self.eof {
            return Poll::Ready(Ok(()));
        }
        let mut scratch = [0u8; AHEAD];
        let mut read = ReadBuf::new(&mut scratch);
        match ready!(Pin::new(&mut self.stream).poll_read(cx, &mut read)) {
            Ok(()) if read.filled().is_empty() => self.eof = true,
            Ok(()) => self.ahead.extend_from_slice(read.filled()),
            // A server that closes without close_notify ends its stream, as with nginx
            // (OpenSSL's `SSL_OP_IGNORE_UNEXPECTED_EOF`): bodies delimited by the close stay
            // whole.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => self.eof = true,
            Err(e) => return Poll::Ready(Err(e)),
        }
        Poll::Ready(Ok(()))
    }

    /// Moves up to `max` read-ahead bytes out; `None` when there are none.
    fn take_ahead(&mut self, max: usize) -> Option<BytesMut> {
        if self.ahead.is_empty() {
            return None;
        }
        let n = max.min(self.ahead.len());
        Some(self.ahead.split_to(n))
    }
}

impl PeerStream {
    /// Opens a connection to `addr` (no timeout: the caller bounds it).
    pub async fn connect(addr: &PeerAddr) -> io::Result<Socket> {
        match addr {
            PeerAddr::Tcp(a) => TcpStream::connect(a).await.map(Socket::Tcp),
            PeerAddr::Unix(path) => UnixStream::connect(path).await.map(Socket::Unix),
        }
    }

    /// Wraps the connected `stream` once its TLS handshake is done.
    pub fn tls(stream: TlsStream<Socket>) -> PeerStream {
        PeerStream::Tls(Box::new(TlsPeer {
            stream,
            ahead: BytesMut::new(),
            eof: false,
        }))
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, PeerStream::Tls(_))
    }

    pub fn is_fastcgi(&self) -> bool {
        matches!(self, PeerStream::FastCgi(_))
    }

    /// This connection speaking FastCGI (a plain one only: FastCGI has no TLS).
    pub fn into_fastcgi(self) -> PeerStream {
        match self {
            PeerStream::Plain(socket) => PeerStream::FastCgi(Box::new(FastCgiPeer::new(socket))),
            other => other,
        }
    }

    /// The FastCGI layer, on a `fastcgi_pass` connection.
    pub fn fastcgi(&mut self) -> Option<&mut FastCgiPeer> {
        match self {
            PeerStream::FastCgi(f) => Some(f),
            _ => None,
        }
    }

    /// The TCP socket under the stream, when there is no TLS on it.
    pub fn plain_tcp(&self) -> Option<&TcpStream> {
        match self {
            PeerStream::Plain(Socket::Tcp(s)) => Some(s),
            PeerStream::FastCgi(f) => match &f.socket {
                Socket::Tcp(s) => Some(s),
                Socket::Unix(_) => None,
            },
            _ => None,
        }
    }

    /// TCP_NODELAY, for streamed bodies and tunnels; a unix socket has no Nagle delay.
    pub fn set_nodelay(&self) {
        match self {
            PeerStream::Plain(s) => s.set_nodelay(),
            PeerStream::Tls(t) => t.stream.get_ref().0.set_nodelay(),
            PeerStream::FastCgi(f) => f.socket.set_nodelay(),
        }
    }

    /// Whether an idle connection can take another request: the server has neither closed
    /// it nor sent anything. Over TLS the check reads records, so a session ticket that came
    /// late is taken in and the connection stays usable.
    pub fn idle_and_open(&mut self) -> bool {
        let mut probe = [0u8; 1];
        let would_block =
            |r: io::Result<usize>| matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        match self {
            PeerStream::Plain(s) => would_block(s.try_read(&mut probe)),
            PeerStream::Tls(t) => {
                let mut cx = Context::from_waker(Waker::noop());
                t.poll_fill(&mut cx).is_pending()
            }
            PeerStream::FastCgi(f) => f.idle_and_open(),
        }
    }

    /// A non-blocking read into `buf`'s spare capacity.
    pub fn try_read_buf<B: BufMut>(&mut self, buf: &mut B) -> io::Result<usize> {
        match self {
            PeerStream::Plain(s) => s.try_read_buf(buf),
            PeerStream::Tls(t) => match t.take_ahead(buf.remaining_mut()) {
                Some(bytes) => {
                    buf.put_slice(&bytes);
                    Ok(bytes.len())
                }
                None if t.eof => Ok(0),
                None => Err(io::ErrorKind::WouldBlock.into()),
            },
            PeerStream::FastCgi(f) => {
                let mut cx = Context::from_waker(Waker::noop());
                if let Poll::Ready(Err(e)) = f.poll_fill(&mut cx, buf.remaining_mut()) {
                    return Err(e);
                }
                match f.take_stdout(buf.remaining_mut()) {
                    Some(bytes) => {
                        buf.put_slice(&bytes);
                        Ok(bytes.len())
                    }
                    None if f.ended() => Ok(0),
                    None => Err(io::ErrorKind::WouldBlock.into()),
                }
            }
        }
    }

    /// Ready when a read would not block.
    pub fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            PeerStream::Plain(s) => s.poll_read_ready(cx),
            PeerStream::Tls(t) => t.poll_fill(cx),
            PeerStream::FastCgi(f) => f.poll_fill(cx, usize::MAX),
        }
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            PeerStream::Tls(t) => {
                ready!(t.poll_fill(cx))?;
                if let Some(bytes) = t.take_ahead(buf.remaining()) {
                    buf.put_slice(&bytes);
                }
                Poll::Ready(Ok(()))
            }
            PeerStream::FastCgi(f) => {
                ready!(f.poll_fill(cx, buf.remaining()))?;
                if let Some(bytes) = f.take_stdout(buf.remaining()) {
                    buf.put_slice(&bytes);
                }
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            PeerStream::Tls(t) => Pin::new(&mut t.stream).poll_write(cx, buf),
            PeerStream::FastCgi(f) => Pin::new(&mut f.socket).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            PeerStream::Tls(t) => Pin::new(&mut t.stream).poll_flush(cx),
            PeerStream::FastCgi(f) => Pin::new(&mut f.socket).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            PeerStream::Tls(t) => Pin::new(&mut t.stream).poll_shutdown(cx),
            PeerStream::FastCgi(f) => Pin::new(&mut f.socket).poll_shutdown(cx),
        }
    }
}

impl DrainRead for PeerStream {
    /// TLS says close_notify before the socket closes.
    fn closes_with_shutdown(&self) -> bool {
        self.is_tls()
    }

    fn poll_read_drain(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            PeerStream::Plain(s) => s.poll_read_drain(cx, buf),
            PeerStream::Tls(_) | PeerStream::FastCgi(_) => poll_read_any(self, cx, buf),
        }
    }
}
