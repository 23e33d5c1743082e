//! nginx answers every client with `HTTP/1.1` in the status line, HTTP/1.0 clients included;
//! hyper always answers those in `HTTP/1.0`. The request lifecycle arms a [`StatusLine`] when
//! it hands hyper the answer to a 1.0 request, and the client stream then respells the version
//! at the start of the next response head it writes (the same length, so write counts hold).
//!
//! nginx also sends `HTTP/1.1 100 Continue` to an HTTP/1.1 request with `Expect: 100-continue`
//! whenever it reads or discards the body, empty bodies included; hyper sends one only when a
//! non-empty body is read. So such a request also marks its [`StatusLine`], and the client
//! stream writes the interim answer before the final head unless hyper already wrote it.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

const HYPER: &[u8] = b"HTTP/1.0 ";
const NGINX: &[u8] = b"HTTP/1.1 ";

/// nginx's interim answer.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Shared by a connection's request handler and its client stream.
#[derive(Debug, Default)]
pub struct StatusLine {
    armed: AtomicBool,
    /// The request being answered expects `100 Continue` and has not had it yet.
    expects: AtomicBool,
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

    /// The request being answered expects `100 Continue` (nginx's `ngx_http_test_expect`).
    pub fn expect_continue(&self) {
        self.expects.store(true, Ordering::Release);
    }

    /// Whether `buf` starts a head while `100 Continue` is owed: it must go out first,
    /// unless `buf` is hyper's own.
    pub fn owes_continue(&self, buf: &[u8]) -> bool {
        self.expects.load(Ordering::Acquire) && buf.starts_with(b"HTTP/1.")
    }

    /// A head went out: the expectation is met.
    pub fn continue_settled(&self) {
        self.expects.store(false, Ordering::Release);
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

    #[test]
    fn continue_is_owed_before_a_head_until_one_went_out() {
        let line = StatusLine::default();
        assert!(!line.owes_continue(b"HTTP/1.1 200 OK\r\n"));
        line.expect_continue();
        assert!(!line.owes_continue(b"body"));
        assert!(line.owes_continue(b"HTTP/1.1 200 OK\r\n"));
        line.continue_settled();
        assert!(!line.owes_continue(b"HTTP/1.1 200 OK\r\n"));
    }
}
