//! An upstream's response head read by nginx's rules: the status line as
//! `ngx_http_parse_status_line` reads it (no reason phrase needed, spaces before the code,
//! IIS's `403.1`), then each header line as `ngx_http_parse_header_line` reads it for the proxy
//! module: underscores and other odd name bytes kept, a line without a colon a name with an
//! empty value, a repeated `HTTP/...` line skipped, tabs part of the value. Only what nginx
//! refuses is refused, with the text of its error-log line.

use std::ops::Range;

/// A complete head, as offsets into the bytes parsed.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// HTTP/1.1 or above: nginx keeps such a connection when nothing says `close`.
    pub http11: bool,
    /// What follows the three digits of the code up to the line end (`" OK"`, `""`,
    /// `".1 Forbidden"`): nginx writes the code and this as its status line.
    pub tail: Range<usize>,
    pub headers: Headers,
    /// The head's length, final empty line included.
    pub len: usize,
}

/// Why nginx refuses a head.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not an HTTP status line: nginx's proxy module reads the answer as HTTP/0.9's.
    StatusLine,
    /// A header line nginx cannot read: its log text (`upstream sent invalid header: "X\x01..."`).
    Header(String),
}

/// Parses `buf`; `Ok(None)` while the head is incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<Head>, Refused> {
    let Some(StatusLine {
        status,
        http11,
        tail,
        len: pos,
    }) = status_line(buf)?
    else {
        return Ok(None);
    };
    let Some((headers, len)) = header_lines(buf, pos)? else {
        return Ok(None);
    };
    Ok(Some(Head {
        status,
        http11,
        tail,
        headers,
        len,
    }))
}

/// A CGI head, as a FastCGI application's STDOUT begins (`ngx_http_fastcgi_process_header`):
/// header lines read as the proxy module reads them, up to the empty line.
#[derive(Debug, PartialEq, Eq)]
pub struct CgiHead {
    /// The status line's code and what follows it, where the head began with one.
    pub status: Option<(u16, Range<usize>)>,
    pub headers: Headers,
    /// The head's length, final empty line included.
    pub len: usize,
}

/// Parses a CGI head; with `status_line`, one that begins with an HTTP status line, as SCGI
/// and uwsgi answers may (`ngx_http_scgi_process_status_line`: bytes that are not one are the
/// first header line). `Ok(None)` while incomplete. The error is nginx's log text.
pub fn parse_cgi(buf: &[u8], status_line: bool) -> Result<Option<CgiHead>, String> {
    let line = match status_line {
        true => self::status_line(buf).or_else(|refused| match refused {
            Refused::StatusLine => Ok(Some(StatusLine::NONE)),
            Refused::Header(line) => Err(line),
        })?,
        false => Some(StatusLine::NONE),
    };
    let Some(line) = line else {
        return Ok(None);
    };
    let lines = header_lines(buf, line.len).map_err(|refused| match refused {
        Refused::Header(line) => line,
        Refused::StatusLine => "upstream sent invalid header".to_string(),
    })?;
    Ok(lines.map(|(headers, len)| CgiHead {
        status: (line.len > 0).then_some((line.status, line.tail)),
        headers,
        len,
    }))
}

/// Header lines as ranges of the bytes parsed.
pub type Headers = Vec<(Range<usize>, Range<usize>)>;

/// The header lines from `pos` to the empty line, and where the head ends.
fn header_lines(buf: &[u8], mut pos: usize) -> Result<Option<(Headers, usize)>, Refused> {
    let mut headers = Vec::new();
    loop {
        match header_line(&buf[pos..]) {
            Line::Partial => return Ok(None),
            Line::Invalid(end) => return Err(invalid(&buf[pos..], end)),
            Line::End(n) => return Ok(Some((headers, pos + n))),
            Line::Skipped(n) => pos += n,
            Line::Header { name, value, len } => {
                headers.push((shift(name, pos), shift(value, pos)));
                pos += len;
            }
        }
    }
}

fn shift(r: Range<usize>, by: usize) -> Range<usize> {
    r.start + by..r.end + by
}

/// nginx's log line for a header line refused at `end`: the line up to there, then the
/// byte there in hex.
fn invalid(line: &[u8], end: usize) -> Refused {
    let shown = String::from_utf8_lossy(&line[..end]);
    let byte = line.get(end).copied().unwrap_or(0);
    Refused::Header(format!(
        "upstream sent invalid header: \"{shown}\\x{byte:02x}...\""
    ))
}

/// A status line's parts, as [`Head`] has them; `len` is the line's, its end included.
struct StatusLine {
    status: u16,
    http11: bool,
    tail: Range<usize>,
    len: usize,
}

impl StatusLine {
    /// No status line: the head begins with its header lines.
    const NONE: StatusLine = StatusLine {
        status: 0,
        http11: false,
        tail: 0..0,
        len: 0,
    };
}

/// `HTTP/major.minor SP+ code [SP|.] text CRLF`.
fn status_line(buf: &[u8]) -> Result<Option<StatusLine>, Refused> {
    let prefix = b"HTTP/";
    let n = buf.len().min(prefix.len());
    if buf[..n] != prefix[..n] {
        return Err(Refused::StatusLine);
    }
    let mut p = prefix.len();
    let (mut major, mut minor) = (0u32, 0u32);
    let digit = |c: u8| c.is_ascii_digit().then(|| u32::from(c - b'0'));
    // Major: a non-zero first digit, then digits up to the dot.
    loop {
        let Some(&c) = buf.get(p) else {
            return Ok(None);
        };
        match (c, digit(c)) {
            (b'.', _) if p > prefix.len() => break,
            (_, Some(d)) if p == prefix.len() && d > 0 => major = d,
            (_, Some(d)) if p > prefix.len() && major <= 99 => major = major * 10 + d,
            _ => return Err(Refused::StatusLine),
        }
        p += 1;
    }
    p += 1;
    let minor_start = p;
    loop {
        let Some(&c) = buf.get(p) else {
            return Ok(None);
        };
        match (c, digit(c)) {
            (b' ', _) if p > minor_start => break,
            (_, Some(d)) if p == minor_start || minor <= 99 => minor = minor * 10 + d,
            _ => return Err(Refused::StatusLine),
        }
        p += 1;
    }
    let mut code = 0u16;
    let mut digits = 0;
    while digits < 3 {
        let Some(&c) = buf.get(p) else {
            return Ok(None);
        };
        match (c, digit(c)) {
            (b' ', _) if digits == 0 => {}
            (_, Some(d)) => {
                code = code * 10 + d as u16;
                digits += 1;
            }
            _ => return Err(Refused::StatusLine),
        }
        p += 1;
    }
    let tail_start = p;
    match buf.get(p) {
        None => return Ok(None),
        Some(b' ' | b'.' | b'\r' | b'\n') => {}
        Some(_) => return Err(Refused::StatusLine),
    }
    let Some(eol) = buf[p..].iter().position(|&c| c == b'\n').map(|i| p + i) else {
        return Ok(None);
    };
    // Text runs to the first CR, which the LF must follow.
    let tail_end = match buf[p..eol].iter().position(|&c| c == b'\r') {
        Some(i) if p + i + 1 == eol => p + i,
        Some(_) => return Err(Refused::StatusLine),
        None => eol,
    };
    let http11 = major > 1 || minor >= 1;
    Ok(Some(StatusLine {
        status: code,
        http11,
        tail: tail_start..tail_end,
        len: eol + 1,
    }))
}

#[derive(Debug, PartialEq, Eq)]
enum Line {
    Partial,
    /// Refused at this offset.
    Invalid(usize),
    /// The empty line ending the head, of this length.
    End(usize),
    /// A repeated status line (IIS), of this length.
    Skipped(usize),
    Header {
        name: Range<usize>,
        value: Range<usize>,
        len: usize,
    },
}

/// One header line at the start of `buf`.
fn header_line(buf: &[u8]) -> Line {
    match buf.first() {
        None => return Line::Partial,
        Some(b'\n') => return Line::End(1),
        Some(b'\r') => {
            return match buf.get(1) {
                None => Line::Partial,
                Some(b'\n') => Line::End(2),
                Some(_) => Line::Invalid(1),
            };
        }
        Some(&c) if c <= 0x20 || c == 0x7f || c == b':' => return Line::Invalid(0),
        Some(_) => {}
    }
    let mut p = 1;
    let name_end = loop {
        let Some(&c) = buf.get(p) else {
            return Line::Partial;
        };
        match c {
            b':' | b'\r' | b'\n' => break p,
            b'/' if &buf[..p] == b"HTTP" => {
                return match buf[p..].iter().position(|&c| c == b'\n') {
                    Some(i) => Line::Skipped(p + i + 1),
                    None => Line::Partial,
                };
            }
            c if c <= 0x20 || c == 0x7f => return Line::Invalid(p),
            _ => p += 1,
        }
    };
    if buf[p] == b':' {
        p += 1;
        while buf.get(p) == Some(&b' ') {
            p += 1;
        }
    }
    let value_start = p;
    // The value runs to the line's end (found a word at a time); a NUL in it is refused,
    // trailing spaces are not part of it.
    let end = memchr::memchr2(b'\r', b'\n', &buf[p..]).map(|i| p + i);
    if let Some(nul) = memchr::memchr(0, &buf[p..end.unwrap_or(buf.len())]) {
        return Line::Invalid(p + nul);
    }
    let Some(end) = end else {
        return Line::Partial;
    };
    let value_end = buf[p..end]
        .iter()
        .rposition(|&c| c != b' ')
        .map_or(p, |i| p + i + 1);
    p = end;
    // CRs may repeat before the LF; anything else after a CR is refused.
    while buf.get(p) == Some(&b'\r') {
        p += 1;
    }
    match buf.get(p) {
        None => Line::Partial,
        Some(b'\n') => Line::Header {
            name: 0..name_end,
            value: value_start..value_end,
            len: p + 1,
        },
        Some(_) => Line::Invalid(value_end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &[u8]) -> (u16, String, Vec<(String, String)>) {
        let h = parse(text).expect("valid").expect("complete");
        assert_eq!(h.len, text.len());
        let s = |r: &Range<usize>| String::from_utf8_lossy(&text[r.clone()]).into_owned();
        let headers = h.headers.iter().map(|(n, v)| (s(n), s(v))).collect();
        (h.status, s(&h.tail), headers)
    }

    #[test]
    fn status_lines_nginx_reads() {
        assert_eq!(head(b"HTTP/1.1 200\r\n\r\n").1, "");
        assert_eq!(head(b"HTTP/1.1  404 Not Found\r\n\r\n").1, " Not Found");
        assert_eq!(head(b"HTTP/1.0 403.1 Forbidden\n\n").1, ".1 Forbidden");
        assert_eq!(head(b"HTTP/2.0 204 \r\n\r\n").0, 204);
        assert_eq!(head(b"HTTP/1.1 999 Odd\r\n\r\n").0, 999);
        for bad in [
            &b"http/1.1 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 \r\n\r\n",
            b"HTTP/0.9 200 OK\r\n\r\n",
            b"hello\r\n",
        ] {
            assert_eq!(parse(bad), Err(Refused::StatusLine), "{bad:?}");
        }
        assert_eq!(parse(b"HTTP/1.1 200 O"), Ok(None));
    }

    #[test]
    fn header_lines_as_the_proxy_module_reads_them() {
        let (_, _, headers) = head(
            b"HTTP/1.1 200 OK\r\nX_U: 1\r\nNoColon\r\nX-A:\tv \t\r\nX@Y: 2\r\nHTTP/1.1 200 OK\r\nE:\r\n\r\n",
        );
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("X_U", "1"),
                ("NoColon", ""),
                ("X-A", "\tv \t"),
                ("X@Y", "2"),
                ("E", "")
            ]
        );
    }

    #[test]
    fn refused_header_lines_are_logged_as_nginx_logs_them() {
        let refused = |line: &[u8]| {
            let text = [&b"HTTP/1.1 200 OK\r\n"[..], line, b"\r\n\r\n"].concat();
            match parse(&text) {
                Err(Refused::Header(message)) => message,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            refused(b"X-A : b"),
            r#"upstream sent invalid header: "X-A\x20...""#
        );
        assert_eq!(
            refused(b" folded"),
            r#"upstream sent invalid header: "\x20...""#
        );
        assert_eq!(
            refused(b": v"),
            r#"upstream sent invalid header: "\x3a...""#
        );
        assert_eq!(
            refused(b"X\x01Y: 1"),
            r#"upstream sent invalid header: "X\x01...""#
        );
    }

    #[test]
    fn cgi_heads_may_begin_with_a_status_line_where_allowed() {
        let with = parse_cgi(b"HTTP/1.0 201 Made\r\nStatus: 404\r\n\r\n", true);
        let with = with.expect("valid").expect("complete");
        assert_eq!(with.status, Some((201, 12..17)));
        assert_eq!(with.headers.len(), 1);
        // Not a status line: the first header line.
        let without = parse_cgi(b"Status: 404\r\n\r\n", true);
        assert_eq!(without.expect("valid").expect("complete").status, None);
        // Where it is not allowed (FastCGI), it is a line nginx skips, as it skips a
        // repeated status line.
        let fastcgi = parse_cgi(b"HTTP/1.0 201 Made\r\n\r\n", false);
        let fastcgi = fastcgi.expect("valid").expect("complete");
        assert_eq!((fastcgi.status, fastcgi.headers.len()), (None, 0));
        // A status line begun but not ended waits for more.
        assert_eq!(parse_cgi(b"HTTP/1.", true), Ok(None));
    }
}
