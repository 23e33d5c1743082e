//! Reading a client's request head by nginx's rules (`ngx_http_parse_request_line` and
//! `ngx_http_parse_header_line`): what nginx accepts is accepted (bare LF line ends, empty
//! lines before the request line, a header line without a colon, names nginx itself would
//! ignore, which the site drops later per `ignore_invalid_headers`), and what nginx refuses is
//! refused with nginx's status. Names and values are kept as the client wrote them, in order.
//!
//! The parser works on the bytes read so far and says how long the head is once it is
//! complete; nothing is copied. Limits are those of nginx's default
//! `large_client_header_buffers 4 8k`: a request line that does not fit one buffer is a 414, a
//! header line that does not is a 494 (shown as 400), and a head beyond all four is a 494.

use std::ops::Range;

/// One of `large_client_header_buffers`.
pub const LINE_LIMIT: usize = 8 * 1024;
/// All of `large_client_header_buffers`.
pub const HEAD_LIMIT: usize = 4 * LINE_LIMIT;

/// Why a head was refused (nginx's `NGX_HTTP_PARSE_*` and the checks after them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// `client sent invalid method`.
    InvalidMethod,
    /// `client sent invalid request`.
    InvalidRequest,
    /// An HTTP major version above 1.
    InvalidVersion,
    /// `client sent invalid header line`.
    InvalidHeader,
    /// `client sent too long URI`.
    UriTooLarge,
    /// `client sent too long header line` / too large request.
    HeaderTooLarge,
}

impl ParseError {
    /// The status nginx finalizes the request with (494 is written as a 400 with its own
    /// page).
    pub fn status(self) -> u16 {
        match self {
            ParseError::InvalidVersion => 505,
            ParseError::UriTooLarge => 414,
            ParseError::HeaderTooLarge => 494,
            _ => 400,
        }
    }
}

/// Where the parts of a complete head are, as offsets into the bytes parsed.
#[derive(Debug, Default)]
pub struct HeadAt {
    pub method: Range<usize>,
    pub target: Range<usize>,
    /// `HTTP/1.0` (or below): nginx's keep-alive and framing rules for 1.0 apply.
    pub http10: bool,
    /// Name and value of each header line, in order.
    pub headers: Vec<(Range<usize>, Range<usize>)>,
    /// Length of the whole head, final empty line included.
    pub len: usize,
    /// Where the request line starts (nginx's `request_start`): past the empty lines before
    /// it. Kept for a head that is refused or cut short, whose `$request` is the line as
    /// far as it was read.
    pub start: usize,
    /// The request line was complete and valid.
    pub line_done: bool,
    /// Where the version begins, once its `H` was read: a refused line's
    /// `$server_protocol` is then empty rather than not found.
    pub protocol: Option<usize>,
    /// Where the last complete line ends: a head cut short counts up to here in
    /// `$request_length` (nginx's `header_in->pos`).
    pub parsed: usize,
}

/// Parses `buf` from its start into `at` (reused between requests); `Ok(false)` when the head
/// is not complete yet.
pub fn parse_head(buf: &[u8], at: &mut HeadAt) -> Result<bool, ParseError> {
    at.headers.clear();
    at.line_done = false;
    at.protocol = None;
    at.parsed = 0;
    let line = request_line(buf, at)?;
    if line.map_or(buf.len(), |n| n) > LINE_LIMIT {
        return Err(ParseError::UriTooLarge);
    }
    let Some(mut pos) = line else {
        return Ok(false);
    };
    at.line_done = true;
    at.parsed = pos;
    loop {
        match header_line(&buf[pos..]).map_err(|_| ParseError::InvalidHeader)? {
            Line::Partial if buf.len() - pos >= LINE_LIMIT => {
                return Err(ParseError::HeaderTooLarge);
            }
            Line::Partial if buf.len() >= HEAD_LIMIT => return Err(ParseError::HeaderTooLarge),
            Line::Partial => return Ok(false),
            Line::End(n) => {
                at.len = pos + n;
                return Ok(true);
            }
            Line::Header { name, value, len } => {
                if len > LINE_LIMIT {
                    return Err(ParseError::HeaderTooLarge);
                }
                at.headers.push((shift(name, pos), shift(value, pos)));
                pos += len;
                at.parsed = pos;
                if pos > HEAD_LIMIT {
                    return Err(ParseError::HeaderTooLarge);
                }
            }
        }
    }
}

fn shift(r: Range<usize>, by: usize) -> Range<usize> {
    r.start + by..r.end + by
}

/// The request line: `Some(length)` once complete (empty lines before it included).
fn request_line(buf: &[u8], at: &mut HeadAt) -> Result<Option<usize>, ParseError> {
    let start = buf
        .iter()
        .position(|&c| c != b'\r' && c != b'\n')
        .unwrap_or(buf.len());
    at.start = start;
    let mut p = start;
    // Method: capital letters, `_` and `-`, up to one space.
    loop {
        let Some(&c) = buf.get(p) else {
            return Ok(None);
        };
        match c {
            b'A'..=b'Z' | b'_' | b'-' => p += 1,
            b' ' if p > start => break,
            _ => return Err(ParseError::InvalidMethod),
        }
    }
    at.method = start..p;
    p = skip_spaces(buf, p);
    let target_start = p;
    match buf.get(p) {
        None => return Ok(None),
        Some(b'/') => {}
        Some(c) if c.is_ascii_alphabetic() => {
            // The absolute form: `scheme://` first.
            while buf
                .get(p)
                .is_some_and(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
            {
                p += 1;
            }
            let rest = &buf[p..];
            let n = rest.len().min(3);
            if rest[..n] != b"://"[..n] {
                return Err(ParseError::InvalidRequest);
            }
        }
        Some(_) => return Err(ParseError::InvalidRequest),
    }
    // The target, up to a space; CR or LF here would be HTTP/0.9, which ngxr does not serve.
    loop {
        let Some(&c) = buf.get(p) else {
            return Ok(None);
        };
        match c {
            b' ' => break,
            c if c < 0x20 || c == 0x7f => return Err(ParseError::InvalidRequest),
            _ => p += 1,
        }
    }
    at.target = target_start..p;
    p = skip_spaces(buf, p);
    at.protocol = (buf.get(p) == Some(&b'H')).then_some(p);
    let version = version(buf.get(p..).unwrap_or_default())?;
    let Some((http10, len)) = version else {
        return Ok(None);
    };
    at.http10 = http10;
    Ok(Some(p + len))
}

fn skip_spaces(buf: &[u8], mut p: usize) -> usize {
    while buf.get(p) == Some(&b' ') {
        p += 1;
    }
    p
}

/// `HTTP/major.minor`, optional spaces, the line end: `(is 1.0 or below, length)`.
fn version(buf: &[u8]) -> Result<Option<(bool, usize)>, ParseError> {
    let prefix = b"HTTP/";
    let n = buf.len().min(prefix.len());
    if buf[..n] != prefix[..n] {
        return Err(ParseError::InvalidRequest);
    }
    if n < prefix.len() {
        return Ok(None);
    }
    let mut p = prefix.len();
    let mut major = 0u32;
    let mut minor = 0u32;
    // Major: a non-zero first digit; above 1 is "version not supported".
    loop {
        let Some(&c) = buf.get(p) else {
            return Ok(None);
        };
        match c {
            b'.' if p > prefix.len() => break,
            b'1'..=b'9' if p == prefix.len() => major = u32::from(c - b'0'),
            b'0'..=b'9' if p > prefix.len() => major = major * 10 + u32::from(c - b'0'),
            _ => return Err(ParseError::InvalidRequest),
        }
        if major > 1 {
            return Err(ParseError::InvalidVersion);
        }
        p += 1;
    }
    p += 1;
    let minor_start = p;
    loop {
        let Some(&c) = buf.get(p) else {
            return Ok(None);
        };
        match c {
            b'0'..=b'9' if minor <= 99 => minor = minor * 10 + u32::from(c - b'0'),
            b' ' | b'\r' | b'\n' if p > minor_start => break,
            _ => return Err(ParseError::InvalidRequest),
        }
        p += 1;
    }
    p = skip_spaces(buf, p);
    let Some(len) = line_end(buf, p).map_err(|_| ParseError::InvalidRequest)? else {
        return Ok(None);
    };
    Ok(Some((minor == 0, p + len)))
}

/// A line ending at `p`: `CR LF` or a bare `LF`; `Some(bytes up to and including it)`.
fn line_end(buf: &[u8], p: usize) -> Result<Option<usize>, Bad> {
    match buf.get(p) {
        None => Ok(None),
        Some(b'\n') => Ok(Some(1)),
        Some(b'\r') => match buf.get(p + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some(2)),
            Some(_) => Err(Bad),
        },
        Some(_) => Err(Bad),
    }
}

/// A line nginx refuses.
#[derive(Debug)]
struct Bad;

#[derive(Debug, PartialEq, Eq)]
enum Line {
    Partial,
    /// The empty line ending the head, of this length.
    End(usize),
    Header {
        name: Range<usize>,
        value: Range<usize>,
        len: usize,
    },
}

/// One header line at the start of `buf`.
fn header_line(buf: &[u8]) -> Result<Line, Bad> {
    match buf.first() {
        None => return Ok(Line::Partial),
        Some(b'\r' | b'\n') => {
            return Ok(line_end(buf, 0)?.map_or(Line::Partial, Line::End));
        }
        // A line starting with a space (obs-fold), a control character or a colon.
        Some(&c) if c <= 0x20 || c == 0x7f || c == b':' => return Err(Bad),
        Some(_) => {}
    }
    let mut p = 1;
    // The name, up to a colon; a line without one is a name with an empty value.
    let name_end = loop {
        let Some(&c) = buf.get(p) else {
            return Ok(Line::Partial);
        };
        match c {
            b':' | b'\r' | b'\n' => break p,
            c if c <= 0x20 || c == 0x7f => return Err(Bad),
            _ => p += 1,
        }
    };
    if buf[p] == b':' {
        p += 1;
    }
    p = skip_spaces(buf, p);
    let value_start = p;
    let mut value_end = p;
    loop {
        let Some(&c) = buf.get(p) else {
            return Ok(Line::Partial);
        };
        match c {
            b'\r' | b'\n' => break,
            0 => return Err(Bad),
            b' ' => {}
            _ => value_end = p + 1,
        }
        p += 1;
    }
    let Some(end) = line_end(buf, p)? else {
        return Ok(Line::Partial);
    };
    Ok(Line::Header {
        name: 0..name_end,
        value: value_start..value_end,
        len: p + end,
    })
}

#[cfg(test)]
mod tests;
