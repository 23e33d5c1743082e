//! A connected stream socket, TCP or unix-domain, as one type: a client accepted on a
//! `listen` socket of either kind, or an upstream server's connection (`server unix:/path`).
//! Everything above it (TLS, the HTTP server, the exchange with upstreams, tunnels) reads and
//! writes through it, so both kinds behave alike.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BufMut;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::MsgFlags;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use super::drain::{DrainRead, poll_read_any};

/// How often a peer's hang-up is looked for while unread bytes hide it from epoll.
const HANGUP_POLL: Duration = Duration::from_millis(20);
/// `POLLRDHUP`, which nix does not name.
const RDHUP: PollFlags = PollFlags::from_bits_retain(libc::POLLRDHUP);

#[derive(Debug)]
pub enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    /// TCP_NODELAY; a unix-domain socket has no Nagle delay.
    pub fn set_nodelay(&self) {
        if let Socket::Tcp(s) = self {
            let _ = s.set_nodelay(true);
        }
    }

    /// Reads what is waiting without taking it (`recv(MSG_PEEK)`), waiting until something
    /// (or the end) comes; `Ok(0)` at end of stream.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.peek(buf).await,
            Socket::Unix(s) => loop {
                s.readable().await?;
                let peeked = s.try_io(Interest::READABLE, || {
                    nix::sys::socket::recv(s.as_raw_fd(), buf, MsgFlags::MSG_PEEK)
                        .map_err(io::Error::from)
                });
                match peeked {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    other => return other,
                }
            },
        }
    }

    /// Waits until the peer has closed its sending side or the connection failed, as
    /// nginx's `ngx_http_upstream_check_broken_connection` learns it from epoll
    /// (`EPOLLRDHUP`): the end counts even behind bytes not read yet (a pipelined request,
    /// frames a WebSocket client sent ahead of the 101, a TLS close_notify). Returns the
    /// socket's error (a reset), if any.
    pub async fn peer_closed(&self) -> Option<io::Error> {
        let mut probe = [0u8; 1];
        loop {
            let peeked = match self {
                Socket::Tcp(s) => s.try_io(Interest::READABLE, || self.recv_peek(&mut probe)),
                Socket::Unix(s) => s.try_io(Interest::READABLE, || self.recv_peek(&mut probe)),
            };
            match peeked {
                Ok(0) => return self.take_error(),
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Nothing waits: the next event says whether data or the end came.
                    if let Err(e) = self.readable().await {
                        return Some(e);
                    }
                }
                Err(e) => return Some(e),
            }
        }
        // Bytes wait unread, and their readiness must stay for whoever reads them next:
        // the socket's state is polled instead.
        loop {
            let mut fds = [PollFd::new(self.as_fd(), RDHUP)];
            match poll(&mut fds, PollTimeout::ZERO) {
                Ok(n) if n > 0 => return self.take_error(),
                Ok(_) => {}
                Err(e) => return Some(e.into()),
            }
            tokio::time::sleep(HANGUP_POLL).await;
        }
    }

    fn recv_peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        nix::sys::socket::recv(self.as_fd().as_raw_fd(), buf, MsgFlags::MSG_PEEK)
            .map_err(io::Error::from)
    }

    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Socket::Tcp(s) => s.as_fd(),
            Socket::Unix(s) => s.as_fd(),
        }
    }

    /// The socket's pending error (`SO_ERROR`), taken.
    fn take_error(&self) -> Option<io::Error> {
        let taken = match self {
            Socket::Tcp(s) => s.take_error(),
            Socket::Unix(s) => s.take_error(),
        };
        taken.unwrap_or_else(Some)
    }

    /// A non-blocking read into `buf`.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.try_read(buf),
            Socket::Unix(s) => s.try_read(buf),
        }
    }

    /// A non-blocking read into `buf`'s spare capacity.
    pub fn try_read_buf<B: BufMut>(&self, buf: &mut B) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.try_read_buf(buf),
            Socket::Unix(s) => s.try_read_buf(buf),
        }
    }

    /// Waits until a read would not block.
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.readable().await,
            Socket::Unix(s) => s.readable().await,
        }
    }

    /// Ready when a read would not block.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Socket::Tcp(s) => s.poll_read_ready(cx),
            Socket::Unix(s) => s.poll_read_ready(cx),
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Socket::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Socket::Tcp(s) => s.is_write_vectored(),
            Socket::Unix(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            Socket::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl DrainRead for Socket {
    fn closes_with_shutdown(&self) -> bool {
        false
    }

    fn poll_read_drain(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            Socket::Tcp(s) => s.poll_read_drain(cx, buf),
            Socket::Unix(s) => poll_read_any(s, cx, buf),
        }
    }
}
