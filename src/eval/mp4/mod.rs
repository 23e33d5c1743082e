//! `mp4` (`ngx_http_mp4_handler`): a location's files sent as the static module sends them,
//! or, for `?start=`/`?end=` seconds, cut to that time so that a player can seek in a video
//! it streams over plain HTTP: the `moov` atom read (`atoms.rs`, over `buffer.rs`'s model
//! of nginx's buffers) and rewritten (`tables.rs`), then the part of `mdat` that plays from
//! the start. The file is read while routing, as nginx's handler reads it.

mod atoms;
mod buffer;
mod tables;
#[cfg(test)]
mod tests;

use bytes::Bytes;

pub use atoms::Conf;
use atoms::{Fail, Movie};
use tables::Processed;

use super::headers::arg;
use super::plan::FilePart;
use super::request::Req;
use super::route::Next;
use super::site::CLocation;
use super::static_::{self, Body, Served};

/// The error-log lines' "while ..." once the answer is being sent.
const SENDING: &str = " while sending mp4 to client";

pub fn handler(loc: &CLocation, conf: &Conf, req: &mut Req<'_>, served: &mut Served) -> Next {
    let (mapped, opened, file) = match static_::open_for_handler(loc, req, served) {
        Ok(opened) => opened,
        Err(next) => return next,
    };
    let mut body = Body::whole(opened.size, opened.mtime);
    if let Some((start, length)) = asked(&req.target.args) {
        // nginx lets the range filter take one range of such an answer, cut or not.
        body.single_range = true;
        let name = String::from_utf8_lossy(&mapped.path).into_owned();
        let mut movie = Movie::new(&file, name, *conf, opened.size, start, length);
        match tables::process(&mut movie) {
            Ok(Processed::Whole) => {}
            Ok(Processed::Cut(cut)) => {
                body.parts = vec![
                    FilePart::Text(Bytes::from(cut.head)),
                    FilePart::Range {
                        start: cut.data_start,
                        len: cut.data_end - cut.data_start,
                    },
                ];
            }
            Err(fail) => {
                if let Fail::Logged(line) = fail {
                    served.errors.push(line);
                }
                return Next::Special(500, Vec::new());
            }
        }
    }
    static_::send_file(loc, req, served, file, (body, SENDING))
}

/// The cut `?start=` and `?end=` ask for, in milliseconds: its start and length (0: to the
/// end); `None` when neither asks for one nginx can read.
fn asked(args: &[u8]) -> Option<(u64, u64)> {
    if args.is_empty() {
        return None;
    }
    let seconds = |name: &[u8]| arg(args, name).and_then(|v| atofp(&v, 3));
    let mut start = seconds(b"start");
    let mut length = 0;
    if let Some(end) = seconds(b"end").filter(|end| *end > 0) {
        let from = *start.get_or_insert(0);
        if end > from {
            length = end - from;
        }
    }
    Some((start?, length))
}

/// `ngx_http_mp4_atofp`: a decimal with at most one dot, as an integer scaled by
/// 10^`point`; digits past `point` after the dot are checked but dropped (a Flash player
/// sends many).
fn atofp(line: &[u8], mut point: u32) -> Option<u64> {
    if line.is_empty() {
        return None;
    }
    let max = i64::MAX as u64;
    let (cutoff, cutlim) = (max / 10, max % 10);
    let mut dot = false;
    let mut value: u64 = 0;
    for &c in line {
        if c == b'.' {
            if dot {
                return None;
            }
            dot = true;
            continue;
        }
        if !c.is_ascii_digit() {
            return None;
        }
        if point == 0 {
            continue;
        }
        let digit = u64::from(c - b'0');
        if value >= cutoff && (value > cutoff || digit > cutlim) {
            return None;
        }
        value = value * 10 + digit;
        point -= u32::from(dot);
    }
    while point > 0 {
        if value > cutoff {
            return None;
        }
        value *= 10;
        point -= 1;
    }
    Some(value)
}
