//! The socket to an upstream server: TCP, or a unix-domain stream socket for `unix:/path`
//! servers. Everything past connecting (the exchange, body streaming, the keepalive cache's
//! liveness probe, tunnels) reads and writes through this one type, so both kinds behave alike.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BufMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use super::drain::{DrainRead, poll_read_any};
use crate::eval::plan::PeerAddr;

#[derive(Debug)]
pub enum PeerStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl PeerStream {
    /// Opens a connection to `addr` (no timeout: the caller bounds it).
    pub async fn connect(addr: &PeerAddr) -> io::Result<PeerStream> {
        match addr {
            PeerAddr::Tcp(a) => TcpStream::connect(a).await.map(PeerStream::Tcp),
            PeerAddr::Unix(path) => UnixStream::connect(path).await.map(PeerStream::Unix),
        }
    }

    /// TCP_NODELAY, for streamed bodies and tunnels; a unix socket has no Nagle delay.
    pub fn set_nodelay(&self) {
        if let PeerStream::Tcp(s) = self {
            let _ = s.set_nodelay(true);
        }
    }

    /// A non-blocking read (`WouldBlock` when nothing is there).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            PeerStream::Tcp(s) => s.try_read(buf),
            PeerStream::Unix(s) => s.try_read(buf),
        }
    }

    /// A non-blocking read into `buf`'s spare capacity.
    pub fn try_read_buf<B: BufMut>(&self, buf: &mut B) -> io::Result<usize> {
        match self {
            PeerStream::Tcp(s) => s.try_read_buf(buf),
            PeerStream::Unix(s) => s.try_read_buf(buf),
        }
    }

    /// Ready when a read would not block.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            PeerStream::Tcp(s) => s.poll_read_ready(cx),
            PeerStream::Unix(s) => s.poll_read_ready(cx),
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
            PeerStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            PeerStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
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
            PeerStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            PeerStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            PeerStream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            PeerStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl DrainRead for PeerStream {
    fn closes_with_shutdown(&self) -> bool {
        false
    }

    fn poll_read_drain(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            PeerStream::Tcp(s) => s.poll_read_drain(cx, buf),
            PeerStream::Unix(s) => poll_read_any(s, cx, buf),
        }
    }
}
