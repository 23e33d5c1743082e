//! `flv` (`ngx_http_flv_handler`): a location's files sent as the static module sends them,
//! but from the byte `?start=` names on, behind the 13-byte FLV header nginx writes, so
//! that a Flash player can seek in a video it streams over plain HTTP.

use bytes::Bytes;

use super::headers::arg;
use super::plan::FilePart;
use super::request::Req;
use super::route::Next;
use super::site::CLocation;
use super::static_::{self, Body, Served};

/// nginx's `ngx_flv_header`: "FLV", version 1, audio and video, a 9-byte header, and the
/// first tag's zero "previous tag size".
const FLV_HEADER: &[u8; 13] = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00";

pub fn handler(loc: &CLocation, req: &mut Req<'_>, served: &mut Served) -> Next {
    let (_, opened, file) = match static_::open_for_handler(loc, req, served) {
        Ok(opened) => opened,
        Err(next) => return next,
    };
    let start = start(&req.target.args, opened.size);
    let body = match start {
        0 => Body::whole(opened.size, opened.mtime),
        start => Body {
            parts: vec![
                FilePart::Text(Bytes::from_static(FLV_HEADER)),
                FilePart::Range {
                    start,
                    len: opened.size - start,
                },
            ],
            mtime: opened.mtime,
            single_range: false,
        },
    };
    static_::send_file(
        loc,
        req,
        served,
        file,
        (body, " while sending flv to client"),
    )
}

/// The offset `?start=` asks for (`ngx_atoof`: digits only), 0 for none, one nginx cannot
/// read, or one at or past the file's end.
fn start(args: &[u8], size: u64) -> u64 {
    if args.is_empty() {
        return 0;
    }
    arg(args, b"start")
        .and_then(|v| crate::units::atoi(std::str::from_utf8(&v).ok()?))
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| *n < size)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::start;

    #[test]
    fn start_is_read_as_nginx_reads_it() {
        assert_eq!(start(b"start=100", 913), 100);
        assert_eq!(start(b"a=1&START=7", 913), 7);
        assert_eq!(start(b"start=913", 913), 0);
        assert_eq!(start(b"start=", 913), 0);
        assert_eq!(start(b"start=+5", 913), 0);
        assert_eq!(start(b"start=5x", 913), 0);
        assert_eq!(start(b"start=99999999999999999999", 913), 0);
        assert_eq!(start(b"xstart=5", 913), 0);
        assert_eq!(start(b"", 913), 0);
    }
}
