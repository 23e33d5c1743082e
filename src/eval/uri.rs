//! The request target as nginx reads it: the raw path and arguments, and `$uri`, the path
//! percent-decoded with `//` merged and `.`/`..` resolved (`ngx_http_parse_complex_uri` with
//! `merge_slashes on`). A target nginx refuses gives `None` (a 400).

/// A parsed request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `$request_uri`: path and query as sent (for an absolute URI, without scheme and host).
    pub unparsed: Vec<u8>,
    /// `$uri`: decoded and normalized.
    pub uri: Vec<u8>,
    /// `$args`: as sent, not decoded.
    pub args: Vec<u8>,
    /// `$args` is found though empty (nginx's `args.data` set, its length 0): a rewrite
    /// dropped the request's arguments with a final `?`, or its own `?` ended in nothing.
    pub empty_args: bool,
    /// The path held `%`-escapes (nginx's `quoted_uri`): a rewritten upstream URI is
    /// re-escaped then.
    pub quoted: bool,
    /// The host of an absolute-form target (`GET http://h/x`), which overrides `Host`.
    pub host: Option<Vec<u8>>,
    /// How the rewrite module changed the URI, if it did.
    pub rewritten: Rewritten,
}

/// nginx's `internal` and `valid_location` after a `rewrite`: the target as sent no longer
/// stands for the request, and after `break` the location's prefix no longer matches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rewritten {
    #[default]
    No,
    /// Rewritten, then the location searched again.
    Located,
    /// Rewritten and kept in the location that rewrote it (`break`).
    InPlace,
    /// Only the arguments were set (`set $args`): the target as sent no longer stands for
    /// the request (nginx's `valid_unparsed_uri`), but the request is no internal one and
    /// its location still matches.
    ArgsSet,
}

impl Target {
    /// A target nginx refused, kept as sent for the access-log line.
    pub fn raw(target: &[u8]) -> Target {
        Target {
            unparsed: target.to_vec(),
            uri: target.to_vec(),
            args: Vec::new(),
            empty_args: false,
            quoted: false,
            host: None,
            rewritten: Rewritten::No,
        }
    }
}

/// Parses `target` as sent in the request line; `merge_slashes` is the default server's.
pub fn parse(target: &[u8], merge_slashes: bool) -> Option<Target> {
    let (host, rest) = split_absolute(target)?;
    // `http://host?args`: nginx's `empty_path_in_uri`, the path is `/`.
    let empty_path = host.is_some() && rest.first() == Some(&b'?');
    if rest.first() != Some(&b'/') && !empty_path {
        return None;
    }
    // A `#` ends the path, or the arguments (`ngx_http_parse_complex_uri`); a `?` after it
    // starts no arguments.
    let (path, args) = match rest.iter().position(|b| *b == b'?' || *b == b'#') {
        Some(i) if rest[i] == b'?' => {
            let args = &rest[i + 1..];
            let end = args.iter().position(|b| *b == b'#').unwrap_or(args.len());
            (&rest[..i], &args[..end])
        }
        Some(i) => (&rest[..i], &[][..]),
        None => (rest, &[][..]),
    };
    let path = if empty_path { &b"/"[..] } else { path };
    Some(Target {
        unparsed: rest.to_vec(),
        uri: normalize(&decode(path)?, merge_slashes)?,
        args: args.to_vec(),
        empty_args: false,
        quoted: path.contains(&b'%'),
        host,
        rewritten: Rewritten::No,
    })
}

/// `http://host[:port]/path` → (host, `/path`); an origin-form target is returned as is.
fn split_absolute(target: &[u8]) -> Option<(Option<Vec<u8>>, &[u8])> {
    let lower = target
        .get(..8)
        .map(|p| p.to_ascii_lowercase())
        .unwrap_or_default();
    let skip = if lower.starts_with(b"http://") {
        7
    } else if lower.starts_with(b"https://") {
        8
    } else {
        return Some((None, target));
    };
    let rest = &target[skip..];
    let end = rest
        .iter()
        .position(|b| *b == b'/' || *b == b'?')
        .unwrap_or(rest.len());
    let host = rest[..end].to_vec();
    if !authority_ok(&host) {
        return None;
    }
    let path = &rest[end..];
    if path.is_empty() {
        return Some((Some(host), b"/"));
    }
    Some((Some(host), path))
}

/// The request line's `host[:port]` (`ngx_http_parse_request_line`, states `sw_host` to
/// `sw_port`): letters, digits, `.` and `-`, or a `[...]` literal, then only digits after `:`.
pub fn authority_ok(authority: &[u8]) -> bool {
    let rest = match authority.strip_prefix(b"[") {
        Some(literal) => {
            let Some(close) = literal.iter().position(|b| *b == b']') else {
                return false;
            };
            let allowed = |b: &u8| b.is_ascii_alphanumeric() || b":-._~!$&'()*+,;=".contains(b);
            if !literal[..close].iter().all(allowed) {
                return false;
            }
            &literal[close + 1..]
        }
        None => {
            let end = authority
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-'))
                .unwrap_or(authority.len());
            &authority[end..]
        }
    };
    match rest.split_first() {
        None => true,
        Some((b':', port)) => port.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// `ngx_unescape_uri` with `NGX_UNESCAPE_REDIRECT`, as a rewrite's redirect applies it to
/// the `Location`: `%XX` of a printable character above `%` decoded, others kept, and
/// everything from the first `?` (written or decoded) on copied as it is.
pub fn unescape_redirect(s: &[u8]) -> Vec<u8> {
    unescape_as(s, true)
}

/// `ngx_unescape_uri` without flags: every `%XX` decoded.
pub fn unescape(s: &[u8]) -> Vec<u8> {
    unescape_as(s, false)
}

/// nginx's unescaping state machine: an escape that is not one loses its `%` (and its first
/// digit), whatever the mode.
fn unescape_as(s: &[u8], redirect: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let ch = s[i];
        if redirect && ch == b'?' {
            out.extend_from_slice(&s[i..]);
            return out;
        }
        if ch != b'%' {
            out.push(ch);
            i += 1;
            continue;
        }
        let hi = s.get(i + 1).and_then(|c| (*c as char).to_digit(16));
        let Some(hi) = hi else {
            // nginx drops the `%` and keeps the character after it.
            out.extend(s.get(i + 1));
            i += 2;
            continue;
        };
        let Some(lo) = s.get(i + 2).and_then(|c| (*c as char).to_digit(16)) else {
            // Both dropped.
            i += 3;
            continue;
        };
        let byte = (hi * 16 + lo) as u8;
        let by_letter = s[i + 2].is_ascii_alphabetic();
        i += 3;
        if !redirect {
            out.push(byte);
            continue;
        }
        if by_letter && byte == b'?' {
            out.push(byte);
            out.extend_from_slice(&s[i..]);
            return out;
        }
        if byte > b'%' && byte < 0x7f {
            out.push(byte);
        } else {
            out.extend_from_slice(&s[i - 3..i]);
        }
    }
    out
}

fn decode(path: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' {
            let hex = path.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            let byte = u8::from_str_radix(s, 16).ok()?;
            if byte == 0 {
                return None;
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(path[i]);
            i += 1;
        }
    }
    Some(out)
}

/// `ngx_http_parse_unsafe_uri`: the URI and arguments (after the first `?`) that an
/// `X-Accel-Redirect` value names, the URI `%`-decoded when it was escaped. `Err` holds the
/// URI as nginx's `unsafe URI "..." was detected` names it, when the value is empty, starts
/// with `?`, or has a `..` segment or a NUL before its arguments, as written or decoded.
pub fn parse_unsafe(value: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Vec<u8>> {
    if value.first().is_none_or(|&c| c == b'?') || dot_dot_first(value) {
        return Err(value.to_vec());
    }
    let end = value.iter().position(|&c| c == b'?').unwrap_or(value.len());
    let (uri, args) = (&value[..end], value.get(end + 1..).unwrap_or_default());
    // nginx looks past the `?` for the end of a `/..` segment.
    if uri.contains(&0) || (0..end).any(|i| dot_dot_after(value, i)) {
        return Err(value.to_vec());
    }
    if !uri.contains(&b'%') {
        return Ok((uri.to_vec(), args.to_vec()));
    }
    let decoded = unescape(uri);
    let unsafe_ = decoded.is_empty()
        || dot_dot_first(&decoded)
        || decoded.contains(&0)
        || (0..decoded.len()).any(|i| dot_dot_after(&decoded, i));
    if unsafe_ {
        return Err(decoded);
    }
    Ok((decoded, args.to_vec()))
}

/// `s` starts with a `..` segment.
fn dot_dot_first(s: &[u8]) -> bool {
    s.starts_with(b"..") && (s.len() == 2 || s[2] == b'/')
}

/// A `/..` segment starts at `s[i]` (ending `s` or followed by `/`).
fn dot_dot_after(s: &[u8], i: usize) -> bool {
    s[i] == b'/' && s.len() - i > 2 && dot_dot_first(&s[i + 1..])
}

/// Merges slashes and resolves dot segments; `..` above the root is refused.
fn normalize(path: &[u8], merge_slashes: bool) -> Option<Vec<u8>> {
    let mut segments: Vec<&[u8]> = Vec::new();
    let parts: Vec<&[u8]> = path.split(|b| *b == b'/').skip(1).collect();
    let last = parts.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, seg) in parts.iter().enumerate() {
        match *seg {
            b"" if !merge_slashes && i != last => {
                segments.push(b"");
                trailing_slash = false;
            }
            b"" | b"." => trailing_slash = i == last,
            b".." => {
                segments.pop()?;
                trailing_slash = i == last;
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for s in &segments {
        out.push(b'/');
        out.extend_from_slice(s);
    }
    if segments.is_empty() || trailing_slash {
        out.push(b'/');
    }
    Some(out)
}

/// `ngx_escape_uri(..., NGX_ESCAPE_URI)`: what nginx re-escapes in a decoded path.
pub fn escape(path: &[u8]) -> Vec<u8> {
    escape_with(path, |b| {
        matches!(
            b,
            b'"' | b'#' | b'%' | b'<' | b'>' | b'?' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
        )
    })
}

/// `ngx_escape_uri` with `NGX_ESCAPE_ARGS`: how the rewrite module copies a capture into
/// arguments (or a redirect) when the request's path was escaped.
pub fn escape_args(value: &[u8]) -> Vec<u8> {
    escape_with(value, |b| {
        matches!(
            b,
            b'"' | b'#'
                | b'%'
                | b'&'
                | b'+'
                | b';'
                | b'<'
                | b'>'
                | b'?'
                | b'\\'
                | b'^'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
        )
    })
}

/// `ngx_escape_uri` with `NGX_ESCAPE_URI_COMPONENT`: all but letters, digits and `-._~`.
pub fn escape_component(value: &[u8]) -> Vec<u8> {
    escape_with(value, |b| {
        !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    })
}

/// `ngx_escape_uri` with `NGX_ESCAPE_REFRESH`: a URL put in a `Refresh` page's attribute.
pub fn escape_refresh(value: &[u8]) -> Vec<u8> {
    escape_with(value, |b| {
        matches!(
            b,
            b'"' | b'\'' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'~'
        )
    })
}

/// `%XX` for controls, space, non-ASCII and the bytes `special` names.
fn escape_with(path: &[u8], special: fn(u8) -> bool) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(path.len());
    for &b in path {
        if b <= 0x20 || b >= 0x7f || special(b) {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        } else {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(t: &str) -> Option<String> {
        parse(t.as_bytes(), true).map(|t| String::from_utf8_lossy(&t.uri).into_owned())
    }

    #[test]
    fn normalizes_like_nginx() {
        assert_eq!(uri("/a//b/./c/../d").as_deref(), Some("/a/b/d"));
        assert_eq!(uri("/a/%2e%2e/b").as_deref(), Some("/b"));
        assert_eq!(uri("/chat/room?x=1").as_deref(), Some("/chat/room"));
        assert_eq!(uri("/a/b/..").as_deref(), Some("/a/"));
        assert_eq!(uri("/a/.").as_deref(), Some("/a/"));
        assert_eq!(uri("/").as_deref(), Some("/"));
        assert_eq!(uri("/%41b").as_deref(), Some("/Ab"));
        let kept = |t: &str| parse(t.as_bytes(), false).map(|t| t.uri);
        assert_eq!(kept("/foo//../bar").as_deref(), Some(&b"/foo/bar"[..]));
        assert_eq!(kept("/foo///../bar").as_deref(), Some(&b"/foo//bar"[..]));
        assert_eq!(uri("/../x"), None);
        assert_eq!(uri("/%zz"), None);
        assert_eq!(uri("x"), None);
    }

    #[test]
    fn fragments_and_empty_paths_as_nginx() {
        let args = |t: &str| parse(t.as_bytes(), true).map(|t| (t.uri, t.args));
        assert_eq!(args("/a?b#c?d#e"), Some((b"/a".to_vec(), b"b".to_vec())));
        assert_eq!(args("/a#x?b"), Some((b"/a".to_vec(), Vec::new())));
        assert_eq!(
            args("http://localhost:8080?args#frag"),
            Some((b"/".to_vec(), b"args".to_vec()))
        );
        let t = parse(b"http://localhost?args", true).unwrap();
        assert_eq!(t.unparsed, b"?args");
    }

    #[test]
    fn absolute_form_and_args() {
        let t = parse(b"http://Example.com:8080/p?q=1", true).unwrap();
        assert_eq!(t.host.as_deref(), Some(&b"Example.com:8080"[..]));
        assert_eq!(t.unparsed, b"/p?q=1");
        assert_eq!(t.args, b"q=1");
        assert!(parse(b"http://[::1]:80/", true).is_some());
        for bad in [
            "http://e.com.:1.2/",
            "http://[::1]./",
            "http://x[::1]/",
            "http://a_b/",
        ] {
            assert!(parse(bad.as_bytes(), true).is_none(), "{bad}");
        }
    }

    #[test]
    fn unescapes_redirects_like_nginx() {
        let u = |s: &str| String::from_utf8(unescape_redirect(s.as_bytes())).unwrap();
        assert_eq!(
            u("http%3A%2F%2Fexample.com%2F%3Ffrom"),
            "http://example.com/?from"
        );
        assert_eq!(
            u("http%3A%2F%2Fe.com%0D%0Asplit"),
            "http://e.com%0D%0Asplit"
        );
        assert_eq!(u("/a%20b?x=%41"), "/a%20b?x=%41");
    }

    #[test]
    fn x_accel_redirect_values_as_nginx_parses_them() {
        let ok = |v: &str| {
            parse_unsafe(v.as_bytes())
                .map(|(u, a)| (String::from_utf8(u).unwrap(), String::from_utf8(a).unwrap()))
        };
        let pair = |u: &str, a: &str| Ok((u.to_string(), a.to_string()));
        assert_eq!(ok("/index.html"), pair("/index.html", ""));
        assert_eq!(ok("/foo?bar"), pair("/foo", "bar"));
        assert_eq!(ok("/foo%20bar"), pair("/foo bar", ""));
        assert_eq!(ok("/ret%3Fa=1"), pair("/ret?a=1", ""));
        assert_eq!(ok("/a?x=%2e%2e"), pair("/a", "x=%2e%2e"));
        assert_eq!(ok("/..x"), pair("/..x", ""));
        // nginx's lookahead sees the `?` after `/..`, which is no separator.
        assert_eq!(ok("/..?x"), pair("/..", "x"));
        let bad = |v: &str| {
            parse_unsafe(v.as_bytes())
                .err()
                .map(|e| String::from_utf8(e).unwrap())
        };
        assert_eq!(bad(""), Some(String::new()));
        assert_eq!(bad("?a"), Some("?a".into()));
        assert_eq!(bad(".."), Some("..".into()));
        assert_eq!(bad("../foo"), Some("../foo".into()));
        assert_eq!(bad("/foo/.."), Some("/foo/..".into()));
        assert_eq!(bad("/foo/../x?y"), Some("/foo/../x?y".into()));
        assert_eq!(bad("/foo/.%2e"), Some("/foo/..".into()));
        assert_eq!(parse_unsafe(b"/a%00b").err(), Some(b"/a\0b".to_vec()));
        assert_eq!(parse_unsafe(b"/a\0b").err(), Some(b"/a\0b".to_vec()));
        assert_eq!(unescape(b"%41%4z%%"), b"A%");
    }

    #[test]
    fn escapes_like_ngx_escape_uri() {
        assert_eq!(escape(b"/a b?#%"), b"/a%20b%3F%23%25");
        assert_eq!(escape(b"/caf\xc3\xa9"), b"/caf%C3%A9");
    }
}
