//! nginx's gunzip filter (`ngx_http_gunzip_filter_module`): under `gunzip on`, an answer whose
//! `Content-Encoding` is `gzip` goes out inflated to a client that `ngx_http_gzip_ok` does not
//! let have gzip, and as it is to one that it does. It runs before the sub and gzip filters
//! (nginx's filter order), so they see the inflated body.
//!
//! As with the gzip filter, [`header_filter`] rewrites the head and [`Gunzipped`] turns the
//! body, piece by piece as it comes, into the bytes the client gets: each piece read is
//! inflated and passed on at once (a gzip stream of several members is inflated whole, as
//! zlib's reset after each lets nginx do).

use std::io::Write as _;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::write::MultiGzDecoder;

use super::context::OwnedRequest;
use super::error::ProxyError;
use super::gzip::{add_vary, client_ok, unframe, weaken_etag};
use super::response::Front;
use crate::eval::plan::Gzip;

/// `ngx_http_gunzip_header_filter` on an upstream's answer about to be sent: `None` unless
/// `gunzip on` and the answer's `Content-Encoding` (the last line, as nginx points at it) is
/// `gzip`. Such an answer asks for `Vary: Accept-Encoding` (under `gzip_vary on`) whoever
/// gets it; for a client without gzip its head loses that `Content-Encoding`, its length and
/// `Accept-Ranges`, its `ETag` turns weak, and the body's inflater is returned (none for a
/// HEAD, which has no body).
pub fn header_filter(
    gzip: Option<&Gzip>,
    request: &OwnedRequest,
    front: &mut Front,
    headers: &mut Vec<(Bytes, Bytes)>,
) -> Option<Gunzipped> {
    let Gzip { settings, client } = gzip.filter(|g| g.settings.gunzip)?;
    let encoding = headers
        .iter()
        .rposition(|(n, _)| n.eq_ignore_ascii_case(b"content-encoding"))?;
    if !headers[encoding].1.eq_ignore_ascii_case(b"gzip") {
        return None;
    }
    if settings.vary {
        add_vary(headers);
    }
    if client_ok(*client, headers, front) {
        return None;
    }
    // `add_vary` put its line first, before the one found.
    let encoding = headers
        .iter()
        .rposition(|(n, _)| n.eq_ignore_ascii_case(b"content-encoding"))?;
    headers.remove(encoding);
    front.content_length = None;
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(b"accept-ranges"));
    weaken_etag(headers);
    if request.method == "HEAD" {
        return None;
    }
    unframe(request, front);
    Some(Gunzipped {
        inflate: MultiGzDecoder::new(Vec::new()),
        done: false,
    })
}

/// A body being inflated.
#[derive(Debug)]
pub struct Gunzipped {
    /// What it wrote so far and has not handed on is in its `Vec`.
    inflate: MultiGzDecoder<Vec<u8>>,
    done: bool,
}

impl Gunzipped {
    /// The next inflated piece, pulling the gzipped body from `source`: Pending only when the
    /// source is. A stream zlib refuses, or one the body ends in the middle of, ends the
    /// body with nginx's error.
    pub fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        mut source: impl FnMut(&mut Context<'_>) -> Poll<Option<Result<Bytes, ProxyError>>>,
    ) -> Poll<Option<Result<Bytes, ProxyError>>> {
        while !self.done {
            let inflated = match source(cx) {
                Poll::Ready(Some(Ok(data))) => self
                    .inflate
                    .write_all(&data)
                    .and_then(|()| self.inflate.flush())
                    .map_err(|_| ProxyError::Inflate("inflate() failed: 0, -3".into())),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    self.done = true;
                    self.inflate.try_finish().map_err(|_| {
                        ProxyError::Inflate("inflate() returned -5 on response end".into())
                    })
                }
                Poll::Pending => return Poll::Pending,
            };
            if let Err(e) = inflated {
                self.done = true;
                return Poll::Ready(Some(Err(e)));
            }
            let out = std::mem::take(self.inflate.get_mut());
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Bytes::from(out))));
            }
        }
        Poll::Ready(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Feeds `pieces` through a [`Gunzipped`]: what came out, and whether it ended in an error.
    fn inflate(pieces: Vec<Vec<u8>>) -> (Vec<u8>, bool) {
        let mut g = Gunzipped {
            inflate: MultiGzDecoder::new(Vec::new()),
            done: false,
        };
        let mut pieces = pieces.into_iter();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let (mut out, mut failed) = (Vec::new(), false);
        loop {
            let next = g.poll_next(&mut cx, |_| {
                Poll::Ready(pieces.next().map(|p| Ok(p.into())))
            });
            match next {
                Poll::Ready(Some(Ok(data))) => out.extend_from_slice(&data),
                Poll::Ready(Some(Err(_))) => failed = true,
                Poll::Ready(None) => return (out, failed),
                Poll::Pending => unreachable!(),
            }
        }
    }

    #[test]
    fn bodies_inflate_across_pieces_and_members() {
        let text = b"hello, inflated world ".repeat(100);
        let whole = gzip(&text);
        let pieces: Vec<Vec<u8>> = whole.chunks(7).map(<[u8]>::to_vec).collect();
        assert_eq!(inflate(pieces), (text.clone(), false));
        let two = [gzip(b"one "), gzip(b"two")].concat();
        assert_eq!(inflate(vec![two]), (b"one two".to_vec(), false));
        let cut = whole[..whole.len() - 4].to_vec();
        assert!(inflate(vec![cut]).1);
        assert!(inflate(vec![b"not gzip at all".to_vec()]).1);
    }
}
