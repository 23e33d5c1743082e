//! The first request head of a connection as the client wrote it. hyper hands requests over
//! with lower-cased, regrouped header names; nginx passes the client's own names in their own
//! order. The client stream copies what hyper reads until the first blank line, and routing
//! takes the names from that copy (later requests on a keep-alive connection fall back to
//! the usual spelling). The copy is dropped once used.

use std::sync::Mutex;

use bytes::Bytes;

/// Longest head copied; a longer one falls back to the usual spelling.
const LIMIT: usize = 16 * 1024;

#[derive(Debug, Default)]
pub struct HeadCapture {
    state: Mutex<Capture>,
}

#[derive(Debug, Default)]
enum Capture {
    #[default]
    Reading,
    Partial(Vec<u8>),
    Complete(Vec<u8>),
    Over,
}

impl HeadCapture {
    /// Adds bytes the server just read; `false` once no more are wanted.
    pub fn feed(&self, bytes: &[u8]) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = match std::mem::take(&mut *state) {
            Capture::Reading => Vec::new(),
            Capture::Partial(seen) => seen,
            done => {
                *state = done;
                return false;
            }
        };
        seen.extend_from_slice(bytes);
        *state = match head_end(&seen) {
            Some(end) => {
                seen.truncate(end);
                Capture::Complete(seen)
            }
            None if seen.len() > LIMIT => Capture::Over,
            None => Capture::Partial(seen),
        };
        matches!(*state, Capture::Partial(_))
    }

    /// The first request's headers as written, once; `None` if not captured whole.
    pub fn take_headers(&self) -> Option<Vec<(Bytes, Bytes)>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Capture::Complete(head) = std::mem::replace(&mut *state, Capture::Over) else {
            return None;
        };
        let mut slots = [httparse::EMPTY_HEADER; 100];
        let mut request = httparse::Request::new(&mut slots);
        match request.parse(&head) {
            Ok(httparse::Status::Complete(_)) => Some(
                request
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            Bytes::copy_from_slice(h.name.as_bytes()),
                            Bytes::copy_from_slice(h.value),
                        )
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// Where the head ends (after `\r\n\r\n`, or `\n\n` from bare-LF clients).
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_names_and_order_as_sent() {
        let capture = HeadCapture::default();
        assert!(capture.feed(b"GET / HTTP/1.1\r\nhost: a\r\nX-b: 1\r\n"));
        assert!(!capture.feed(b"x-B: 2\r\n\r\nGET /next HTTP/1.1\r\n"));
        let headers = capture.take_headers().expect("complete");
        let names: Vec<&[u8]> = headers.iter().map(|(n, _)| &n[..]).collect();
        assert_eq!(names, [&b"host"[..], b"X-b", b"x-B"]);
        assert!(capture.take_headers().is_none(), "only once");
    }
}
