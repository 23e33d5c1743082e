//! Reading a client's request head by nginx's rules (`ngx_http_parse_request_line` and
//! `ngx_http_parse_header_line`): what nginx accepts is accepted (bare LF line ends, empty
//! lines before the request line, a header line without a colon, names nginx itself would
//! ignore, which the site drops later per `ignore_invalid_headers`), and what nginx refuses is
//! refused with nginx's status. Names and values are kept as the client wrote them, in order.
//!
//! The parser works on the bytes read so far and says how long the head is once it is
//! complete; nothing is copied. It follows the head through nginx's buffers as
//! `ngx_http_alloc_large_header_buffer` moves it: the head is read into a
//! `client_header_buffer_size` buffer, and a line that does not end in the buffer it began in
//! moves to the next of `large_client_header_buffers` (a line ending right at a buffer's end
//! moves nothing, but the next line still takes a new buffer). A request line that cannot
//! move (it is as long as a large buffer, or none is left) is a 414; a header line, a 494
//! (shown as 400). The server whose buffers count is the connection's until the request
//! line's host or the `Host` header chooses another, from that line on.

use std::ops::Range;

use crate::eval::plan::{HeaderBuffers, authority_ok, target_refused};

/// Where nginx's header buffers stand, as offsets into the bytes parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Room {
    /// Where the buffer being filled ends.
    pub end: usize,
    /// Its size (a buffer filled with empty lines before a request line is read again from
    /// its start).
    pub size: usize,
    /// Large buffers taken.
    pub busy: usize,
}

impl Room {
    /// A head read into a fresh `client_header_buffer_size` buffer.
    pub fn fresh(buffers: &HeaderBuffers) -> Room {
        Room {
            end: buffers.client,
            size: buffers.client,
            busy: 0,
        }
    }

    /// Moves the line begun at `from` to a new large buffer, when nginx would: the part read
    /// is under the large buffers' size (a line beginning right at the buffer's end has no
    /// part to move) and a buffer is left.
    fn take_large(&mut self, from: usize, buffers: &HeaderBuffers) -> bool {
        let moved = self.end.saturating_sub(from);
        if (from < self.end && moved >= buffers.large_size) || self.busy >= buffers.large_num {
            return false;
        }
        *self = Room {
            end: from + buffers.large_size,
            size: buffers.large_size,
            busy: self.busy + 1,
        };
        true
    }
}

/// The header buffers of the server a head is read with: those of the connection's server,
/// and of the one a host name chooses.
pub struct Vhost<'a> {
    pub buffers: HeaderBuffers,
    pub by_name: &'a (dyn Fn(&[u8]) -> HeaderBuffers + Sync),
}

impl std::fmt::Debug for Vhost<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vhost")
            .field("buffers", &self.buffers)
            .finish_non_exhaustive()
    }
}

/// Why a head was refused (nginx's `NGX_HTTP_PARSE_*` and the checks after them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// `client sent invalid method`.
    InvalidMethod,
    /// `client sent invalid request`.
    InvalidRequest,
    /// `client sent invalid request` for a complete request line whose target
    /// `ngx_http_process_request_uri` refuses (`plan::target_refused`): no header is read.
    InvalidTarget,
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
    /// Where nginx's buffer ended when the head was refused for its size: a request line
    /// too long is cut there in `$request`.
    pub cut: usize,
    /// How many bytes fill nginx's buffer: the head need not be parsed again before a line
    /// ends or this many are read.
    pub need: usize,
    /// nginx's buffers once the head is complete.
    pub room: Room,
    /// The buffers a host name chose, by where that line begins (so parsing the head again
    /// looks nothing up again). Cleared for each head.
    pub chosen: Option<(usize, HeaderBuffers)>,
}

/// Parses `buf` from its start into `at` (reused between requests), the head beginning in
/// nginx's buffers at `room`; `Ok(false)` when the head is not complete yet.
pub fn parse_head(
    buf: &[u8],
    at: &mut HeadAt,
    mut room: Room,
    vhost: &Vhost<'_>,
) -> Result<bool, ParseError> {
    at.headers.clear();
    at.line_done = false;
    at.protocol = None;
    at.parsed = 0;
    let mut buffers = vhost.buffers;
    // Only what nginx's buffer holds is parsed: what lies past it is read after the move.
    let mut pos = loop {
        let seen = &buf[..buf.len().min(room.end)];
        if let Some(end) = request_line(seen, at)? {
            break end;
        }
        if seen.len() < room.end {
            at.need = room.end;
            return Ok(false);
        }
        if at.start >= room.end && room.size > 0 {
            // Nothing but empty lines: the buffer is read again from its start.
            room.end += room.size;
        } else if !room.take_large(at.start, &buffers) {
            at.cut = room.end;
            return Err(ParseError::UriTooLarge);
        }
    };
    at.line_done = true;
    at.parsed = pos;
    if target_refused(&buf[at.target.clone()], vhost.buffers.merge_slashes) {
        return Err(ParseError::InvalidTarget);
    }
    let line_host = absolute_host(buf, at);
    if let Some(host) = line_host {
        buffers = choose(at, vhost, pos, host);
    }
    let mut host_seen = line_host.is_some();
    loop {
        let seen = &buf[..buf.len().min(room.end)];
        match header_line(&seen[pos..]).map_err(|_| ParseError::InvalidHeader)? {
            Line::Partial if seen.len() < room.end => {
                at.need = room.end;
                return Ok(false);
            }
            Line::Partial => {
                if !room.take_large(pos, &buffers) {
                    at.cut = room.end;
                    return Err(ParseError::HeaderTooLarge);
                }
            }
            Line::End(n) => {
                at.len = pos + n;
                at.room = room;
                return Ok(true);
            }
            Line::Header { name, value, len } => {
                let (name, value) = (shift(name, pos), shift(value, pos));
                if !host_seen && buf[name.clone()].eq_ignore_ascii_case(b"host") {
                    host_seen = true;
                    buffers = choose(at, vhost, pos, &buf[value.clone()]);
                }
                at.headers.push((name, value));
                pos += len;
                at.parsed = pos;
            }
        }
    }
}

/// The host of a request line's absolute URI (`http://host:port/...`).
fn absolute_host<'b>(buf: &'b [u8], at: &HeadAt) -> Option<&'b [u8]> {
    let target = &buf[at.target.clone()];
    let scheme = target.windows(3).position(|w| w == b"://")?;
    if target.first() == Some(&b'/') {
        return None;
    }
    let rest = &target[scheme + 3..];
    let end = rest
        .iter()
        .position(|&c| matches!(c, b'/' | b'?'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The buffers of the server `name` chooses (`ngx_http_set_virtual_server`), for the lines
/// after the one at `line`.
fn choose(at: &mut HeadAt, vhost: &Vhost<'_>, line: usize, name: &[u8]) -> HeaderBuffers {
    if vhost.buffers.uniform {
        return vhost.buffers;
    }
    match at.chosen {
        Some((at_line, buffers)) if at_line == line => buffers,
        _ => {
            let buffers = (vhost.by_name)(name);
            at.chosen = Some((line, buffers));
            buffers
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
    // An absolute form's `host[:port]` is read by the line's own states: a byte they do not
    // take refuses the line.
    if absolute_host(buf, at).is_some_and(|host| !authority_ok(host)) {
        return Err(ParseError::InvalidRequest);
    }
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
