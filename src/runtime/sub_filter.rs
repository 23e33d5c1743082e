//! nginx's sub filter (`ngx_http_sub_filter_module`) for every response ngxr sends with a
//! body: proxied answers, files, `return` texts, nginx's own pages. It runs before the gzip
//! filter, as in nginx's filter chain: the body is rewritten, then compressed.
//!
//! [`header_filter`] decides from the answer's length and type (the strings were evaluated
//! when routing ended, `plan::SubFilter`) and rewrites the head; [`Substituted`] then rewrites
//! the body as it streams. Only the bytes that may begin a match not yet complete are held
//! back between reads (at most the longest string less one), never the whole body.

use std::task::{Context, Poll};

use bytes::Bytes;

use super::context::OwnedRequest;
use super::gzip::weaken_etag;
use super::response::Front;
use crate::eval::plan::SubFilter;
use std::sync::Arc;

/// `ngx_http_sub_header_filter` on a response about to be sent; `headers` are the lines
/// after nginx's own (`upstream` as for `gzip::header_filter`). Returns the body's filter
/// when it applies: the head then has no `Content-Length` (chunked for HTTP/1.1, otherwise
/// the connection closes) and no `Last-Modified` or `ETag` (with `sub_filter_last_modified
/// on`, the `ETag` made weak instead). (A file's ranges were refused when routing ended:
/// nginx's range filter, which runs after, offers none of a body of unknown length.)
pub fn header_filter(
    sub: Option<&Arc<SubFilter>>,
    status: u16,
    request: &OwnedRequest,
    front: &mut Front,
    headers: &mut Vec<(Bytes, Bytes)>,
    upstream: bool,
) -> Option<Substituted> {
    let sub = sub?;
    // nginx's own 304 is sent by the not-modified filter before the others see it.
    if (status == 304 && !upstream)
        || front.content_length == Some(0)
        || !sub.types.matches(front.content_type.as_deref(), upstream)
    {
        return None;
    }
    front.content_length = None;
    if sub.last_modified {
        weaken_etag(headers);
    } else {
        front.last_modified = None;
        remove_last(headers, "last-modified");
        remove_last(headers, "etag");
    }
    if !length_unknown(status, request, front) {
        return None;
    }
    Some(Substituted::new(sub.clone()))
}

/// nginx's chunked filter on an answer whose length a filter made unknown: chunked for an
/// HTTP/1.1 client, else ended by the close. `false`: the answer has no body (a HEAD
/// answer, a 204, a 304 or a 1xx), which the chunked filter leaves alone.
pub(super) fn length_unknown(status: u16, request: &OwnedRequest, front: &mut Front) -> bool {
    if request.method == "HEAD" || matches!(status, 204 | 304) || status < 200 {
        return false;
    }
    if request.version == "HTTP/1.1" && !front.chunked_off {
        front.chunked = true;
    } else {
        front.connection = "close";
    }
    true
}

/// Removes the line nginx's `headers_out` points at for `name`: the last one.
pub(super) fn remove_last(headers: &mut Vec<(Bytes, Bytes)>, name: &str) {
    if let Some(i) = headers
        .iter()
        .rposition(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
    {
        headers.remove(i);
    }
}

/// A body being rewritten: at each place, left to right, the first string (in the filter's
/// order) that matches there, ignoring ASCII case, is replaced and the scan goes on after
/// it; with `sub_filter_once`, a string already replaced is not looked for again, and once
/// every string was, the rest of the body passes as it is.
#[derive(Debug)]
pub struct Substituted {
    filter: Arc<SubFilter>,
    /// The body's last bytes, which begin a match that the next read may complete.
    held: Vec<u8>,
    /// Which strings were replaced (with `sub_filter_once`).
    applied: Vec<bool>,
    /// Every string was replaced under `sub_filter_once`: nothing more to look for.
    done: bool,
}

/// How one string compares at a place of the body.
enum Compared {
    Whole,
    /// The body ended while it still agreed.
    Partial,
    Differs,
}

impl Substituted {
    pub fn new(filter: Arc<SubFilter>) -> Substituted {
        let applied = vec![false; filter.pairs.len()];
        Substituted {
            filter,
            held: Vec::new(),
            applied,
            done: false,
        }
    }

    /// Rewrites `data`, the next piece of the body, into `out`, keeping back the bytes that
    /// may begin a match.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.done {
            out.extend_from_slice(data);
            return;
        }
        let mut body = std::mem::take(&mut self.held);
        body.extend_from_slice(data);
        let mut at = 0;
        'places: while at < body.len() {
            for (i, (search, replacement)) in self.filter.pairs.iter().enumerate() {
                if self.applied[i] {
                    continue;
                }
                match compare(&body[at..], search) {
                    Compared::Differs => {}
                    Compared::Partial => {
                        self.held = body.split_off(at);
                        return;
                    }
                    Compared::Whole => {
                        out.extend_from_slice(replacement);
                        at += search.len();
                        if self.filter.once {
                            self.applied[i] = true;
                            if self.applied.iter().all(|a| *a) {
                                self.done = true;
                                out.extend_from_slice(&body[at..]);
                                return;
                            }
                        }
                        continue 'places;
                    }
                }
            }
            out.push(body[at]);
            at += 1;
        }
    }

    /// The body ended: what was held back goes out as it is.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
    }

    /// The next piece of the rewritten body, pulling the body from `source` (a body's own
    /// poll): Pending only when the source is.
    pub fn poll_next<E>(
        &mut self,
        cx: &mut Context<'_>,
        mut source: impl FnMut(&mut Context<'_>) -> Poll<Option<Result<Bytes, E>>>,
    ) -> Poll<Option<Result<Bytes, E>>> {
        loop {
            let mut out = Vec::new();
            match source(cx) {
                Poll::Ready(Some(Ok(data))) => self.feed(&data, &mut out),
                Poll::Ready(None) => {
                    self.finish(&mut out);
                    if out.is_empty() {
                        return Poll::Ready(None);
                    }
                }
                other => return other,
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Bytes::from(out))));
            }
        }
    }
}

/// `search` (lowercase) against the start of `body`, ASCII case ignored.
fn compare(body: &[u8], search: &[u8]) -> Compared {
    let n = body.len().min(search.len());
    if !body[..n].eq_ignore_ascii_case(&search[..n]) {
        Compared::Differs
    } else if n < search.len() {
        Compared::Partial
    } else {
        Compared::Whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::plan::GzipTypes;

    fn filter(pairs: &[(&str, &str)], once: bool) -> Substituted {
        let pairs = pairs
            .iter()
            .map(|(m, v)| (Bytes::from(m.to_string()), Bytes::from(v.to_string())))
            .collect();
        Substituted::new(Arc::new(SubFilter {
            pairs,
            types: GzipTypes::html(),
            once,
            last_modified: false,
        }))
    }

    /// The body fed in `pieces`; each piece's output and the whole.
    fn run(s: &mut Substituted, pieces: &[&str]) -> (Vec<String>, String) {
        let mut each = Vec::new();
        for p in pieces {
            let mut out = Vec::new();
            s.feed(p.as_bytes(), &mut out);
            each.push(String::from_utf8_lossy(&out).into_owned());
        }
        let mut out = Vec::new();
        s.finish(&mut out);
        each.push(String::from_utf8_lossy(&out).into_owned());
        let whole = each.concat();
        (each, whole)
    }

    #[test]
    fn once_replaces_each_string_at_its_first_match() {
        let mut s = filter(&[("hello", "bye"), ("world", "EARTH")], true);
        let (_, whole) = run(&mut s, &["Hello World, HELLO world!"]);
        assert_eq!(whole, "bye EARTH, HELLO world!");
    }

    #[test]
    fn off_replaces_every_match_case_ignored() {
        let mut s = filter(&[("hello", "bye"), ("world", "EARTH"), ("o", "0")], false);
        let (_, whole) = run(&mut s, &["Hello World, HELLO world! foo"]);
        assert_eq!(whole, "bye EARTH, bye EARTH! f00");
    }

    #[test]
    fn the_first_string_in_order_wins_at_a_place() {
        let mut s = filter(&[("hello world", "X"), ("hello", "Y"), ("h", "Z")], false);
        let (_, whole) = run(&mut s, &["<html>Hello World, HELLO world! hellO there"]);
        assert_eq!(whole, "<Ztml>X, X! Y tZere");
        // At the body's end a string that only began to match keeps the tail as it is, even
        // where a later string would match it whole (nginx does not look again).
        let mut s = filter(&[("hello world", "X"), ("hello", "Y"), ("h", "Z")], false);
        let (_, whole) = run(&mut s, &["x hellO"]);
        assert_eq!(whole, "x hellO");
    }

    #[test]
    fn matches_straddle_pieces_and_only_their_start_is_held() {
        let mut s = filter(&[("hello", "bye")], false);
        let (each, whole) = run(&mut s, &["say he", "l", "lo to hel", "p"]);
        assert_eq!(whole, "say bye to help");
        assert_eq!(each, ["say ", "", "bye to ", "help", ""]);
        // A tail that only began a match goes out at the end.
        let mut s = filter(&[("hello", "bye")], false);
        let (each, _) = run(&mut s, &["ahel"]);
        assert_eq!(each, ["a", "hel"]);
    }

    #[test]
    fn a_longer_string_that_fails_lets_a_shorter_one_match() {
        let mut s = filter(&[("abcd", "1"), ("ab", "2")], false);
        let (_, whole) = run(&mut s, &["xab", "cx ab!"]);
        assert_eq!(whole, "x2cx 2!");
    }

    #[test]
    fn after_every_string_was_replaced_once_the_rest_passes() {
        let mut s = filter(&[("a", "1")], true);
        let (each, _) = run(&mut s, &["bab", "aa"]);
        assert_eq!(each, ["b1b", "aa", ""]);
        let mut s = filter(&[("a", "")], false);
        let (_, whole) = run(&mut s, &["banana"]);
        assert_eq!(whole, "bnn");
    }
}
