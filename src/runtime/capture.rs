//! Request heads as the client wrote them. hyper hands requests over with lower-cased,
//! regrouped header names; nginx passes the client's own names in their own order. The client
//! stream copies each request head hyper reads, skips the body that follows when its
//! `Content-Length` says how long it is, and queues the head; routing takes the names from the
//! queue, request by request. A chunked body, an upgrade, a head over the limit or a head that
//! does not match hyper's request ends the copying: later requests on that connection fall
//! back to the usual spelling.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;

/// Longest head copied.
const LIMIT: usize = 16 * 1024;
/// Pipelined heads queued before copying stops.
const QUEUED: usize = 16;

#[derive(Debug, Default)]
pub struct HeadCapture {
    state: Mutex<Capture>,
}

#[derive(Debug, Default)]
struct Capture {
    /// The head being read.
    partial: Vec<u8>,
    /// Body bytes still to pass over before the next head.
    skip: u64,
    heads: VecDeque<Head>,
    /// No more heads are copied.
    over: bool,
    /// The head being read began in the read that ended the request before it.
    pipelined: bool,
}

/// A captured head: its method and headers as written.
#[derive(Debug)]
pub struct Head {
    pub method: Vec<u8>,
    pub headers: Vec<(Bytes, Bytes)>,
    /// Its length in bytes, request line included (`$request_length` without the body).
    pub length: usize,
    /// It arrived with the request before it, as nginx sees a pipelined one (`$pipe`): nginx
    /// reads what the client has sent in one go, and finds the next request already there.
    pub pipelined: bool,
}

impl HeadCapture {
    /// Adds bytes the server just read; `false` once no more are wanted.
    pub fn feed(&self, mut bytes: &[u8]) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // A request ended earlier in this same read.
        let mut ended = false;
        while !bytes.is_empty() && !state.over {
            if state.skip > 0 {
                let n = bytes
                    .len()
                    .min(usize::try_from(state.skip).unwrap_or(usize::MAX));
                state.skip -= n as u64;
                bytes = &bytes[n..];
                ended = state.skip == 0;
                continue;
            }
            let seen = state.partial.len();
            if seen == 0 {
                state.pipelined = ended;
            }
            // A head end may straddle two reads: look again from up to 3 bytes back.
            let from = seen.saturating_sub(3);
            state.partial.extend_from_slice(bytes);
            match head_end(&state.partial[from..]).map(|end| from + end) {
                Some(end) => {
                    bytes = &bytes[end - seen..];
                    let head = std::mem::take(&mut state.partial);
                    state.queue(&head[..end]);
                    ended = true;
                }
                None => {
                    state.over = state.partial.len() > LIMIT;
                    bytes = &[];
                }
            }
        }
        if state.over {
            state.partial = Vec::new();
        }
        !state.over
    }

    /// The next request's head as written; `None` if it was not captured.
    pub fn next_head(&self) -> Option<Head> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let head = state.heads.pop_front();
        if head.is_none() {
            state.over = true;
        }
        head
    }

    /// Called when a head did not match hyper's request: copying is no longer trusted.
    pub fn stop(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state = Capture {
            over: true,
            ..Capture::default()
        };
    }
}

impl Capture {
    /// Queues a complete head and learns how long its body is.
    fn queue(&mut self, head: &[u8]) {
        let Some(mut head) = parse(head) else {
            self.over = true;
            return;
        };
        head.pipelined = self.pipelined;
        match body_length(&head.headers) {
            Some(length) if self.heads.len() < QUEUED => self.skip = length,
            _ => self.over = true,
        }
        self.heads.push_back(head);
    }
}

/// The body length a head announces: `Some(0)` for none; `None` when the capture cannot
/// follow it (chunked, upgrades, a bad length).
fn body_length(headers: &[(Bytes, Bytes)]) -> Option<u64> {
    let mut length = 0;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case(b"transfer-encoding") || name.eq_ignore_ascii_case(b"upgrade")
        {
            return None;
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            length = std::str::from_utf8(value).ok()?.trim().parse().ok()?;
        }
    }
    Some(length)
}

fn parse(head: &[u8]) -> Option<Head> {
    let mut slots = [httparse::EMPTY_HEADER; 100];
    let mut request = httparse::Request::new(&mut slots);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => Some(Head {
            method: request.method?.as_bytes().to_vec(),
            length: head.len(),
            pipelined: false,
            headers: request
                .headers
                .iter()
                .map(|h| {
                    (
                        Bytes::copy_from_slice(h.name.as_bytes()),
                        Bytes::copy_from_slice(h.value),
                    )
                })
                .collect(),
        }),
        _ => None,
    }
}

/// Where the head ends (after `\r\n\r\n`, or `\n\n` from bare-LF clients).
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes.iter().enumerate().find_map(|(i, &c)| {
        if c != b'\n' {
            return None;
        }
        let rest = &bytes[i + 1..];
        if rest.starts_with(b"\n") {
            Some(i + 2)
        } else if rest.starts_with(b"\r\n") {
            Some(i + 3)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(head: &Head) -> Vec<&[u8]> {
        head.headers.iter().map(|(n, _)| &n[..]).collect()
    }

    #[test]
    fn keeps_names_and_order_as_sent() {
        let capture = HeadCapture::default();
        assert!(capture.feed(b"GET / HTTP/1.1\r\nhost: a\r\nX-b: 1\r\n"));
        assert!(capture.feed(b"x-B: 2\r\n\r\nGET /next HTTP/1.1\r\n"));
        let head = capture.next_head().expect("complete");
        assert_eq!(names(&head), [&b"host"[..], b"X-b", b"x-B"]);
        assert_eq!(head.length, 43);
    }

    #[test]
    fn a_head_read_with_the_one_before_is_pipelined() {
        let capture = HeadCapture::default();
        assert!(capture.feed(b"GET /1 HTTP/1.1\n\nPOST /2 HTTP/1.1\nContent-Length: 1\n\n"));
        assert!(capture.feed(b"xGET /3 HTTP/1.1\n\n"));
        assert!(capture.feed(b"GET /4 HTTP/1.1\n\n"));
        let pipelined: Vec<bool> = std::iter::from_fn(|| capture.next_head())
            .map(|h| h.pipelined)
            .collect();
        assert_eq!(pipelined, [false, true, true, false]);
    }

    #[test]
    fn follows_keep_alive_requests_past_their_bodies() {
        let capture = HeadCapture::default();
        assert!(capture.feed(b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 4\r\n\r\nab"));
        assert!(capture.feed(b"cdPUT /2 HTTP/1.1\r"));
        assert!(capture.feed(b"\nHOST: b\r\n\r"));
        assert!(capture.feed(b"\n"));
        assert_eq!(capture.next_head().expect("first").method, b"POST");
        let second = capture.next_head().expect("second");
        assert_eq!(second.method, b"PUT");
        assert_eq!(names(&second), [&b"HOST"[..]]);
        assert!(capture.next_head().is_none());
    }

    #[test]
    fn stops_at_a_chunked_body() {
        let capture = HeadCapture::default();
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(!capture.feed(chunked));
        assert!(capture.next_head().is_some());
        assert!(capture.next_head().is_none());
    }
}
