//! `empty_gif` (`ngx_http_empty_gif_handler`): GET and HEAD get nginx's transparent 1×1
//! GIF, dated 28 Sep 1970, through the not-modified and headers filters; any other method
//! is refused with 405.

use bytes::Bytes;

use super::conditional::{self, Validators, Validity};
use super::request::Req;
use super::route::{Next, made_answer};
use super::site::CLocation;
use super::static_::Served;

/// The image: one transparent pixel, 43 bytes.
const GIF: [u8; 43] = [
    b'G', b'I', b'F', b'8', b'9', b'a', // header
    0x01, 0x00, 0x01, 0x00, 0x80, 0x01, 0x00, // 1×1, a 2-color table, background #1
    0x00, 0x00, 0x00, 0xff, 0xff, 0xff, // black, white
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x01, 0x00, // #1 is transparent
    0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, // the image at 0,0
    0x02, 0x02, 0x4c, 0x01, 0x00, // its LZW data
    0x3b, // trailer
];

/// The image's `Last-Modified` (nginx's `last_modified_time` 23349600).
const MTIME: i64 = 23_349_600;

pub fn handler(loc: &CLocation, req: &mut Req<'_>, served: &Served) -> Next {
    if !matches!(req.method, "GET" | "HEAD") {
        return Next::Special(405, Vec::new());
    }
    let status = served.err_status.unwrap_or(200);
    // The header filter drops `Last-Modified` from any other status an `error_page` gave.
    if status == 200 {
        let validators = Validators::of(&req.headers);
        let validity =
            conditional::not_modified(&validators, MTIME, None, loc.content.if_modified_since);
        match validity {
            Validity::PreconditionFailed => return Next::Special(412, Vec::new()),
            Validity::NotModified => {
                let head = (None, Some(MTIME));
                return made_answer(304, head, Some(0), req, loc, |_| Vec::new());
            }
            Validity::Send => {}
        }
    }
    let mtime = (status == 200).then_some(MTIME);
    let head = (Some(Bytes::from_static(b"image/gif")), mtime);
    made_answer(200, head, Some(GIF.len()), req, loc, |_| GIF.to_vec())
}
