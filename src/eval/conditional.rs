//! nginx's header filters for a file about to be sent with status 200: the not-modified filter
//! (`If-Unmodified-Since`, `If-Match` → 412; `If-Modified-Since`, `If-None-Match` → 304) and
//! the range filter (`Range`, `If-Range` → 206 with one range or a multipart/byteranges body,
//! 416 when nothing is satisfiable). Pure functions of the request headers and the file's
//! size, mtime and ETag.

use super::clock::parse_time;
use crate::config::content::IfModifiedSince;

/// What the not-modified filter decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Send the file.
    Send,
    /// 304.
    NotModified,
    /// 412.
    PreconditionFailed,
}

/// The request's validators.
#[derive(Debug, Default, Clone, Copy)]
pub struct Validators<'a> {
    pub if_unmodified_since: Option<&'a [u8]>,
    pub if_match: Option<&'a [u8]>,
    pub if_modified_since: Option<&'a [u8]>,
    pub if_none_match: Option<&'a [u8]>,
}

impl<'a> Validators<'a> {
    /// The request's: the first line of each header, as nginx's `headers_in` keeps it.
    pub fn of(headers: &'a [(bytes::Bytes, bytes::Bytes)]) -> Validators<'a> {
        let first = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                .map(|(_, v)| &v[..])
        };
        Validators {
            if_unmodified_since: first("if-unmodified-since"),
            if_match: first("if-match"),
            if_modified_since: first("if-modified-since"),
            if_none_match: first("if-none-match"),
        }
    }
}

/// `ngx_http_not_modified_header_filter` for a 200 with this `mtime` and `etag`.
pub fn not_modified(
    v: &Validators<'_>,
    mtime: i64,
    etag: Option<&[u8]>,
    ims_mode: IfModifiedSince,
) -> Validity {
    if let Some(date) = v.if_unmodified_since
        && parse_time(date).is_none_or(|t| t < mtime)
    {
        return Validity::PreconditionFailed;
    }
    if let Some(list) = v.if_match
        && !matches_etag(list, etag, false)
    {
        return Validity::PreconditionFailed;
    }
    if v.if_modified_since.is_none() && v.if_none_match.is_none() {
        return Validity::Send;
    }
    if let Some(date) = v.if_modified_since
        && modified(date, mtime, ims_mode)
    {
        return Validity::Send;
    }
    if let Some(list) = v.if_none_match
        && !matches_etag(list, etag, true)
    {
        return Validity::Send;
    }
    Validity::NotModified
}

/// [`not_modified`] for an answer whose `Last-Modified` may be missing (`mtime` `None`, nginx's
/// -1): `If-Unmodified-Since` then always fails, and `If-Modified-Since` always finds it
/// modified.
pub fn not_modified_unknown_time(
    v: &Validators<'_>,
    mtime: Option<i64>,
    etag: Option<&[u8]>,
    ims_mode: IfModifiedSince,
) -> Validity {
    if let Some(mtime) = mtime {
        return not_modified(v, mtime, etag, ims_mode);
    }
    if v.if_unmodified_since.is_some() {
        return Validity::PreconditionFailed;
    }
    let sure = Validators {
        if_modified_since: None,
        if_unmodified_since: None,
        ..*v
    };
    match not_modified(&sure, 0, etag, ims_mode) {
        Validity::NotModified if v.if_modified_since.is_some() => Validity::Send,
        verdict => verdict,
    }
}

/// `ngx_http_test_if_modified`.
fn modified(date: &[u8], mtime: i64, mode: IfModifiedSince) -> bool {
    if mode == IfModifiedSince::Off {
        return true;
    }
    let Some(ims) = parse_time(date) else {
        // nginx's parse error (-1) never equals an mtime and is before it.
        return true;
    };
    if ims == mtime {
        return false;
    }
    mode == IfModifiedSince::Exact || ims < mtime
}

/// `ngx_http_test_if_match`: whether the comma-separated `list` holds `etag` (`*` holds any);
/// `weak` compares without the `W/` prefixes.
fn matches_etag(list: &[u8], etag: Option<&[u8]>, weak: bool) -> bool {
    let Some(mut etag) = etag else {
        return false;
    };
    if list == b"*" {
        return true;
    }
    if weak && etag.starts_with(b"W/") {
        etag = &etag[2..];
    }
    let mut rest = list;
    while !rest.is_empty() {
        if weak && rest.len() > 2 && rest.starts_with(b"W/") {
            rest = &rest[2..];
        }
        if etag.len() > rest.len() {
            return false;
        }
        if rest.starts_with(etag) {
            let after = rest[etag.len()..].trim_ascii_start();
            if after.is_empty() || after[0] == b',' {
                return true;
            }
        }
        let next = rest.iter().position(|&c| c == b',').unwrap_or(rest.len());
        rest = &rest[next..];
        let skip = rest
            .iter()
            .position(|&c| !matches!(c, b' ' | b'\t' | b','))
            .unwrap_or(rest.len());
        rest = &rest[skip..];
    }
    false
}

/// What the range filter decides for a file of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// No usable `Range`: the whole file, with `Accept-Ranges: bytes`.
    Whole,
    /// 206 with these `(start, end)` (end exclusive).
    Partial(Vec<(u64, u64)>),
    /// 416.
    NotSatisfiable,
}

/// The request's `Range` and `If-Range`, and how many ranges it may ask for (`max_ranges`,
/// or 1 for a proxied answer under `proxy_force_ranges`): more is answered whole.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub range: Option<&'a [u8]>,
    pub if_range: Option<&'a [u8]>,
    pub max: usize,
}

/// `ngx_http_range_header_filter` for a body of `size` bytes with this `mtime` and `etag`.
pub fn ranges(asked: Asked<'_>, size: u64, mtime: Option<i64>, etag: Option<&[u8]>) -> Ranges {
    let Asked {
        range,
        if_range,
        max,
    } = asked;
    let Some(range) = range else {
        return Ranges::Whole;
    };
    if range.len() < 7 || !range[..6].eq_ignore_ascii_case(b"bytes=") {
        return Ranges::Whole;
    }
    if let Some(cond) = if_range {
        let fresh = if cond.len() >= 2 && cond.ends_with(b"\"") {
            etag == Some(cond)
        } else {
            mtime.is_some() && parse_time(cond) == mtime
        };
        if !fresh {
            return Ranges::Whole;
        }
    }
    parse(&range[6..], size, max)
}

/// `ngx_http_range_parse`: more than `max` satisfiable ranges decline.
fn parse(spec: &[u8], size: u64, max: usize) -> Ranges {
    let mut p = Cursor { s: spec, i: 0 };
    let mut out = Vec::new();
    let mut total: u64 = 0;
    loop {
        p.spaces();
        let (start, end);
        if p.peek() != Some(b'-') {
            let Some(s) = p.number() else {
                return Ranges::NotSatisfiable;
            };
            p.spaces();
            if p.next() != Some(b'-') {
                return Ranges::NotSatisfiable;
            }
            p.spaces();
            if matches!(p.peek(), Some(b',') | None) {
                (start, end) = (s, size);
            } else {
                let Some(e) = p.number() else {
                    return Ranges::NotSatisfiable;
                };
                p.spaces();
                if !matches!(p.peek(), Some(b',') | None) {
                    return Ranges::NotSatisfiable;
                }
                (start, end) = (s, if e >= size { size } else { e + 1 });
            }
        } else {
            p.i += 1;
            let Some(n) = p.number() else {
                return Ranges::NotSatisfiable;
            };
            p.spaces();
            if !matches!(p.peek(), Some(b',') | None) {
                return Ranges::NotSatisfiable;
            }
            start = size.saturating_sub(n);
            end = size;
        }
        if start < end {
            out.push((start, end));
            total = total.saturating_add(end - start);
            if out.len() > max {
                return Ranges::Whole;
            }
        } else if start == 0 {
            return Ranges::Whole;
        }
        if p.next() != Some(b',') {
            break;
        }
    }
    if out.is_empty() {
        Ranges::NotSatisfiable
    } else if total > size {
        Ranges::Whole
    } else {
        Ranges::Partial(out)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek();
        self.i += 1;
        c
    }

    fn spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    /// Digits as a number; `None` without digits or past nginx's `off_t` limit.
    fn number(&mut self) -> Option<u64> {
        let from = self.i;
        let mut n: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            if n > i64::MAX as u64 {
                return None;
            }
            self.i += 1;
        }
        (self.i > from).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MTIME: i64 = 1_700_000_000;
    const DATE: &[u8] = b"Tue, 14 Nov 2023 22:13:20 GMT";

    fn v<'a>(ims: Option<&'a [u8]>, inm: Option<&'a [u8]>) -> Validators<'a> {
        Validators {
            if_modified_since: ims,
            if_none_match: inm,
            ..Validators::default()
        }
    }

    #[test]
    fn if_modified_since_exact_and_before() {
        let etag = Some(&b"\"1-2\""[..]);
        let same = v(Some(DATE), None);
        assert_eq!(
            not_modified(&same, MTIME, etag, IfModifiedSince::Exact),
            Validity::NotModified
        );
        let later = v(Some(b"Wed, 15 Nov 2023 00:00:00 GMT"), None);
        assert_eq!(
            not_modified(&later, MTIME, etag, IfModifiedSince::Exact),
            Validity::Send
        );
        assert_eq!(
            not_modified(&later, MTIME, etag, IfModifiedSince::Before),
            Validity::NotModified
        );
        assert_eq!(
            not_modified(&same, MTIME, etag, IfModifiedSince::Off),
            Validity::Send
        );
        let garbage = v(Some(b"yesterday"), None);
        assert_eq!(
            not_modified(&garbage, MTIME, etag, IfModifiedSince::Before),
            Validity::Send
        );
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let etag = Some(&b"\"65-a\""[..]);
        for (list, expected) in [
            (&b"\"65-a\""[..], Validity::NotModified),
            (b"\"x\", W/\"65-a\"", Validity::NotModified),
            (b"*", Validity::NotModified),
            (b"\"65-b\"", Validity::Send),
            (b"\"65-a\"x", Validity::Send),
        ] {
            let req = v(None, Some(list));
            assert_eq!(
                not_modified(&req, MTIME, etag, IfModifiedSince::Exact),
                expected,
                "{}",
                String::from_utf8_lossy(list)
            );
        }
        let strict = Validators {
            if_match: Some(b"W/\"65-a\""),
            ..Validators::default()
        };
        assert_eq!(
            not_modified(&strict, MTIME, etag, IfModifiedSince::Exact),
            Validity::PreconditionFailed
        );
    }

    #[test]
    fn ranges_as_nginx_parses_them() {
        let r = |spec: &str| {
            let asked = Asked {
                range: Some(spec.as_bytes()),
                if_range: None,
                max: usize::MAX,
            };
            ranges(asked, 10, Some(MTIME), None)
        };
        assert_eq!(r("bytes=0-4"), Ranges::Partial(vec![(0, 5)]));
        assert_eq!(r("bytes=5-"), Ranges::Partial(vec![(5, 10)]));
        assert_eq!(r("bytes=-3"), Ranges::Partial(vec![(7, 10)]));
        assert_eq!(r("bytes=-30"), Ranges::Partial(vec![(0, 10)]));
        assert_eq!(r("bytes=2-100"), Ranges::Partial(vec![(2, 10)]));
        assert_eq!(r("bytes=0-1, 4-5"), Ranges::Partial(vec![(0, 2), (4, 6)]));
        assert_eq!(r("bytes=10-"), Ranges::NotSatisfiable);
        assert_eq!(r("bytes=x"), Ranges::NotSatisfiable);
        assert_eq!(r("bytes=0-0,0-9"), Ranges::Whole);
        assert_eq!(r("bytes=0-"), Ranges::Partial(vec![(0, 10)]));
        assert_eq!(r("pages=1-2"), Ranges::Whole);
    }

    #[test]
    fn if_range_must_match_the_etag_or_date() {
        let etag = Some(&b"\"e\""[..]);
        fn asked(cond: &[u8]) -> Asked<'_> {
            Asked {
                range: Some(b"bytes=0-1"),
                if_range: Some(cond),
                max: usize::MAX,
            }
        }
        let r = |cond: &[u8]| ranges(asked(cond), 10, Some(MTIME), etag);
        assert_eq!(r(b"\"e\""), Ranges::Partial(vec![(0, 2)]));
        assert_eq!(r(b"\"f\""), Ranges::Whole);
        assert_eq!(r(DATE), Ranges::Partial(vec![(0, 2)]));
        assert_eq!(r(b"Wed, 15 Nov 2023 00:00:00 GMT"), Ranges::Whole);
        let no_date = ranges(asked(DATE), 10, None, etag);
        assert_eq!(no_date, Ranges::Whole);
    }

    #[test]
    fn more_ranges_than_allowed_are_answered_whole() {
        let r = |spec: &str, max| {
            let asked = Asked {
                range: Some(spec.as_bytes()),
                if_range: None,
                max,
            };
            ranges(asked, 10, None, None)
        };
        assert_eq!(r("bytes=0-1,4-5", 1), Ranges::Whole);
        assert_eq!(r("bytes=0-1,4-5", 2), Ranges::Partial(vec![(0, 2), (4, 6)]));
        // Ranges past the end do not count.
        assert_eq!(r("bytes=0-1,40-50", 1), Ranges::Partial(vec![(0, 2)]));
        assert_eq!(r("bytes=4-", 1), Ranges::Partial(vec![(4, 10)]));
    }
}
