//! nginx answers every client with `HTTP/1.1` in the status line, HTTP/1.0 clients included;
//! hyper always answers those in `HTTP/1.0`. The request lifecycle arms a [`StatusLine`] when
//! it hands hyper the answer to a 1.0 request, and the client stream then respells the version
//! at the start of the next response head it writes (the same length, so write counts hold).

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

const HYPER: &[u8] = b"HTTP/1.0 ";
const NGINX: &[u8] = b"HTTP/1.1 ";

/// Shared by a connection's request handler and its client stream.
#[derive(Debug, Default)]
pub struct StatusLine {
    armed: AtomicBool,
}

impl StatusLine {
    /// The next response head written answers an HTTP/1.0 request.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::Release);
    }

    /// `buf` with the version respelled if it starts the armed response head.
    pub fn patch<'a>(&self, buf: &'a [u8]) -> Cow<'a, [u8]> {
        if !self.armed.load(Ordering::Acquire) || !buf.starts_with(HYPER) {
            return Cow::Borrowed(buf);
        }
        let mut owned = buf.to_vec();
        owned[..NGINX.len()].copy_from_slice(NGINX);
        Cow::Owned(owned)
    }

    /// Called after a patched buffer was (at least partly) written.
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respells_only_an_armed_head() {
        let line = StatusLine::default();
        assert_eq!(&*line.patch(b"HTTP/1.0 200 OK\r\n"), b"HTTP/1.0 200 OK\r\n");
        line.arm();
        assert_eq!(&*line.patch(b"body"), b"body");
        assert_eq!(&*line.patch(b"HTTP/1.0 200 OK\r\n"), b"HTTP/1.1 200 OK\r\n");
    }
}
