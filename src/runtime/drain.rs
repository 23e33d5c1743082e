//! Reading for the tunnel the way nginx reads: a read that returns less than was asked for
//! means the socket is drained (nginx then clears `rev->ready`), so the tunnel does not issue
//! the extra `recv()` that would only answer EAGAIN. One system call fewer per message.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// One end of a tunnel.
pub trait DrainRead: AsyncRead + AsyncWrite + Unpin {
    /// Like `poll_read` into `buf`, returning the count (0 at end of stream).
    fn poll_read_drain(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        poll_read_any(self, cx, buf)
    }

    /// Whether closing needs a protocol goodbye (TLS close_notify) before the socket closes.
    fn closes_with_shutdown(&self) -> bool {
        true
    }
}

/// The plain `poll_read`, for streams whose readiness is not the socket's (TLS).
pub fn poll_read_any<T: AsyncRead + Unpin + ?Sized>(
    io: &mut T,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let mut read = ReadBuf::new(buf);
    ready!(Pin::new(io).poll_read(cx, &mut read))?;
    Poll::Ready(Ok(read.filled().len()))
}

impl DrainRead for TcpStream {
    fn closes_with_shutdown(&self) -> bool {
        false
    }

    fn poll_read_drain(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.poll_read_ready(cx))?;
            let mut got = 0;
            let socket = socket2::SockRef::from(&*self);
            let capacity = buf.len();
            // A short read reports WouldBlock to tokio, which then clears the readiness (a newer
            // event is never lost: tokio only clears the readiness it handed out).
            let result = self.try_io(Interest::READABLE, || {
                let n = (&*socket).read(buf)?;
                got = n;
                if n > 0 && n < capacity {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(n)
                }
            });
            match result {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(_) if got > 0 => return Poll::Ready(Ok(got)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
