//! `proxy_force_ranges`: nginx's range filter at a proxied answer. The upstream module lets
//! the filter at it whatever the upstream's `Accept-Ranges` said (that line is not passed
//! on), one range at most (`r->single_range`); the filter serves a 200 of known length only,
//! so an answer the gzip or sub filter rewrote goes whole. A range is a 206 with that part
//! of the streamed body, an unsatisfiable one the 416 page, anything else the whole answer
//! with `Accept-Ranges: bytes`.

use bytes::Bytes;

use super::context::OwnedRequest;
use crate::eval::plan::{Asked, Ranges, ranges};

/// What the range filter makes of an answer with `status` and `length` (after the header
/// filters before it), whose headers so far are `headers` (the upstream's) and `added`
/// (`add_header`'s); `None` when it is not let at it.
pub fn decide(
    request: &OwnedRequest,
    status: u16,
    length: Option<u64>,
    headers: &[(Bytes, Bytes)],
    added: &[(Bytes, Bytes)],
) -> Option<Ranges> {
    let size = length.filter(|_| status == 200)?;
    // `r->headers_out.etag` and `last_modified_time`: an `add_header` replaces the
    // upstream's line, and of the upstream's the last counts.
    let last = |name: &[u8]| {
        let mut lines = added.iter().rev().chain(headers.iter().rev());
        lines
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let mtime = last(b"last-modified").and_then(|v| crate::eval::plan::parse_http_time(v));
    let asked = Asked {
        range: request.header("range"),
        if_range: request.header("if-range"),
        max: 1,
    };
    Some(ranges(asked, size, mtime, last(b"etag").map(|v| &v[..])))
}

/// The lines a 416 goes out with: the answer's so far without `Last-Modified` and `ETag`
/// (`ngx_http_send_special_response` clears them), then `Content-Range`.
pub fn not_satisfiable(
    mut headers: Vec<(Bytes, Bytes)>,
    added: Vec<(Bytes, Bytes)>,
    size: u64,
) -> Vec<(Bytes, Bytes)> {
    headers.extend(added);
    headers.retain(|(n, _)| {
        !n.eq_ignore_ascii_case(b"last-modified") && !n.eq_ignore_ascii_case(b"etag")
    });
    let value = Bytes::from(format!("bytes */{size}"));
    headers.push((Bytes::from_static(b"Content-Range"), value));
    headers
}
