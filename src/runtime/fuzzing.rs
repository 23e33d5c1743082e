//! Entry points for the fuzz targets in `tests/fuzz` (cargo-fuzz builds every crate with
//! `--cfg fuzzing`; nothing here exists otherwise): the bytes a client or an upstream
//! controls, through the parsers that read them. None of them may panic, whatever comes.

use bytes::BytesMut;

use super::chunked::{ChunkedDecoder, Decoded};
use super::parse::{HeadAt, Room, Vhost, parse_head};
use crate::defaults::http::HEADER_BUFFERS;
use crate::eval::plan::HeaderBuffers;

/// A client's request head, with nginx's default buffers and with small ones (so lines
/// move between buffers and run out of them), a `Host` switching to other buffers.
pub fn client_head(bytes: &[u8]) {
    let small = HeaderBuffers {
        client: 16,
        large_num: 2,
        large_size: 32,
        uniform: false,
        merge_slashes: true,
    };
    for buffers in [HEADER_BUFFERS, small] {
        let by_name = move |name: &[u8]| if name.len() % 2 == 0 { small } else { buffers };
        let vhost = Vhost {
            buffers,
            by_name: &by_name,
        };
        let mut at = HeadAt::default();
        let _ = parse_head(bytes, &mut at, Room::fresh(&buffers), &vhost);
    }
}

/// An upstream's response head, then its body as a chunked one.
pub fn upstream_answer(bytes: &[u8]) {
    for head_request in [false, true] {
        let _ = super::exchange::parse_head(&mut BytesMut::from(bytes), head_request);
    }
    chunked(bytes);
}

/// A chunked body, whole and then a byte at a time.
pub fn chunked(bytes: &[u8]) {
    let mut whole = BytesMut::from(bytes);
    let mut decoder = ChunkedDecoder::default();
    while let Ok(Decoded::Data(_)) = decoder.decode(&mut whole) {}
    let mut decoder = ChunkedDecoder::default();
    let mut buf = BytesMut::new();
    for &b in bytes {
        buf.extend_from_slice(&[b]);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Decoded::Data(_)) => continue,
                Ok(Decoded::NeedMore) => break,
                Ok(Decoded::Done) | Err(_) => return,
            }
        }
    }
}

/// A PROXY protocol header, v1 or v2.
pub fn proxy_protocol(bytes: &[u8]) {
    let _ = super::proxy_protocol::parse(bytes);
}
