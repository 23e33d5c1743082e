//! `add_trailer` at the chunked filter (`ngx_http_chunked_header_filter`): an answer that
//! expects trailers goes out chunked, its `Content-Length` dropped, to an HTTP/1.1 client
//! under `chunked_transfer_encoding on`; elsewhere (HTTP/1.0, a HEAD, a 204 or 304) it goes
//! as it would and no trailers are sent. They are evaluated when the body has ended and
//! written after the last chunk.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::context::OwnedRequest;
use super::response::Front;
use crate::eval::plan::{AddedTrailers, Sending};

/// The trailers the answer with `status` will end with, if any: `front` is then chunked.
pub fn expect(
    trailers: Option<&Arc<dyn AddedTrailers>>,
    status: u16,
    request: &OwnedRequest,
    sending: &Sending,
    front: &mut Front,
) -> Option<Arc<dyn AddedTrailers>> {
    let trailers = trailers.filter(|t| t.expected(status))?;
    if matches!(status, 204 | 304) || status < 200 || request.method == "HEAD" {
        return None;
    }
    if request.version != "HTTP/1.1" || !sending.chunked {
        return None;
    }
    front.content_length = None;
    front.chunked = true;
    Some(trailers.clone())
}

/// The last chunk with `lines` after it (`ngx_http_chunked_create_trailers`).
pub fn last_chunk(lines: &[(Bytes, Bytes)]) -> Bytes {
    let mut out = BytesMut::from(&b"0\r\n"[..]);
    for (name, value) in lines {
        out.put_slice(name);
        out.put_slice(b": ");
        out.put_slice(value);
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_follow_the_last_chunk() {
        assert_eq!(&last_chunk(&[])[..], b"0\r\n\r\n");
        let lines = [(Bytes::from("X-A"), Bytes::from("1"))];
        assert_eq!(&last_chunk(&lines)[..], b"0\r\nX-A: 1\r\n\r\n");
    }
}
