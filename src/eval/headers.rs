//! Request headers, query arguments and cookies read the way nginx's variables read them
//! (`$http_*`, `$arg_*`, `$cookie_*`, `$remote_user`), and which header names nginx keeps.

use bytes::Bytes;

/// Which request header names a server keeps (`ignore_invalid_headers`,
/// `underscores_in_headers`, as `ngx_http_parse_header_line` applies them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRules {
    pub ignore_invalid: bool,
    pub underscores: bool,
}

impl HeaderRules {
    pub fn keeps(&self, name: &[u8]) -> bool {
        let valid =
            |c: &u8| c.is_ascii_alphanumeric() || *c == b'-' || (self.underscores && *c == b'_');
        !self.ignore_invalid || (!name.is_empty() && name.iter().all(valid))
    }
}

/// `$http_NAME` (`name` lowercased, `-` for `_`): the first such header; X-Forwarded-For and
/// Cookie are all joined (`, ` and `; `) as in nginx 1.22.
pub fn header(headers: &[(Bytes, Bytes)], name: &str) -> Option<Vec<u8>> {
    let sep: Option<&[u8]> = match name {
        "x-forwarded-for" => Some(b", "),
        "cookie" => Some(b"; "),
        _ => None,
    };
    joined(headers, name, sep)
}

/// `$sent_http_NAME`: the first such response header; Cache-Control and Link, which nginx
/// 1.22 keeps as lists (`headers_out.cache_control`, `.link`), are all joined with `, `.
pub fn sent_header(headers: &[(Bytes, Bytes)], name: &str) -> Option<Vec<u8>> {
    let sep: Option<&[u8]> = matches!(name, "cache-control" | "link").then_some(b", ");
    joined(headers, name, sep)
}

/// The first `name` header (nginx 1.22's `ngx_http_variable_unknown_header`).
pub fn first(headers: &[(Bytes, Bytes)], name: &str) -> Option<Vec<u8>> {
    joined(headers, name, None)
}

/// The first `name` header, or with `sep` all of them joined.
fn joined(headers: &[(Bytes, Bytes)], name: &str, sep: Option<&[u8]>) -> Option<Vec<u8>> {
    let mut found = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()));
    let first = found.next()?.1.to_vec();
    let Some(sep) = sep else {
        return Some(first);
    };
    Some(found.fold(first, |mut acc, (_, v)| {
        acc.extend_from_slice(sep);
        acc.extend_from_slice(v);
        acc
    }))
}

/// `$arg_NAME` (`ngx_http_arg`): the first `name=value` in the query, name compared
/// case-insensitively.
pub fn arg(args: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    args.split(|b| *b == b'&').find_map(|pair| {
        let (k, v) = split_once(pair, b'=')?;
        k.eq_ignore_ascii_case(name).then(|| v.to_vec())
    })
}

/// `$cookie_NAME` (`ngx_http_parse_multi_header_lines` over every `Cookie` line): pairs end
/// at `;` or `,`, spaces (not tabs) may surround `=`, the value runs to the next `;`.
pub fn cookie(headers: &[(Bytes, Bytes)], name: &[u8]) -> Option<Vec<u8>> {
    let spaces = |s: &[u8]| s.iter().take_while(|b| **b == b' ').count();
    headers
        .iter()
        .filter(|(n, v)| n.eq_ignore_ascii_case(b"cookie") && v.len() >= name.len())
        .find_map(|(_, v)| {
            let mut rest = &v[..];
            while !rest.is_empty() {
                if rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name) {
                    let after = &rest[name.len()..];
                    if let Some(value) = after[spaces(after)..].strip_prefix(b"=") {
                        let value = &value[spaces(value)..];
                        let end = value.iter().position(|b| *b == b';').unwrap_or(value.len());
                        return Some(value[..end].to_vec());
                    }
                }
                // The next pair starts after a `;` or a `,`, and its spaces.
                let next = rest
                    .iter()
                    .position(|b| *b == b';' || *b == b',')
                    .map_or(rest.len(), |i| i + 1);
                rest = &rest[next..];
                rest = &rest[spaces(rest)..];
            }
            None
        })
}

/// `$upstream_cookie_NAME` (`ngx_http_parse_set_cookie_lines`): the value of the first
/// upstream `Set-Cookie` that starts with `NAME=`, up to its first `;`.
pub fn set_cookie(headers: &[(Bytes, Bytes)], name: &[u8]) -> Option<Vec<u8>> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"set-cookie"))
        .find_map(|(_, v)| {
            let head = v
                .get(..name.len())
                .filter(|h| h.eq_ignore_ascii_case(name))?;
            // Only spaces around `=`, as `ngx_http_parse_set_cookie_lines` skips: a tab is
            // not one.
            let spaces = |s: &[u8]| s.iter().take_while(|b| **b == b' ').count();
            let rest = &v[head.len()..];
            let rest = rest[spaces(rest)..].strip_prefix(b"=")?;
            let rest = &rest[spaces(rest)..];
            let end = rest.iter().position(|b| *b == b';').unwrap_or(rest.len());
            (v.len() > name.len()).then(|| rest[..end].to_vec())
        })
}

fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|b| *b == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

/// `$remote_user`: the user of `Authorization: Basic ...`.
pub fn remote_user(headers: &[(Bytes, Bytes)]) -> Option<Vec<u8>> {
    basic_credentials(headers).map(|(user, _)| user)
}

/// `ngx_http_auth_basic_user`: the user and password of `Authorization: Basic ...` (the
/// scheme in any case, spaces after it, base64 with a `:` after a non-empty user).
pub fn basic_credentials(headers: &[(Bytes, Bytes)]) -> Option<(Vec<u8>, Vec<u8>)> {
    let auth = header(headers, "authorization")?;
    let scheme = auth.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let cred = &auth[6..];
    let cred = &cred[cred.iter().take_while(|b| **b == b' ').count()..];
    if cred.is_empty() {
        return None;
    }
    let decoded = base64_decode(cred)?;
    let (user, passwd) = split_once(&decoded, b':')?;
    if user.is_empty() {
        return None;
    }
    Some((user.to_vec(), passwd.to_vec()))
}

/// `ngx_decode_base64`: up to the first `=`, every byte in the alphabet, not one byte past a
/// whole group of four.
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s: Vec<u8> = s.iter().copied().take_while(|c| *c != b'=').collect();
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(Bytes, Bytes)> {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    Bytes::copy_from_slice(n.as_bytes()),
                    Bytes::copy_from_slice(v.as_bytes()),
                )
            })
            .collect()
    }

    #[test]
    fn headers_args_cookies() {
        let hs = h(&[
            ("X-Forwarded-For", "1.1.1.1"),
            ("Cookie", "a=1; b=2"),
            ("x-forwarded-for", "2.2.2.2"),
        ]);
        assert_eq!(header(&hs, "x-forwarded-for").unwrap(), b"1.1.1.1, 2.2.2.2");
        assert_eq!(cookie(&hs, b"B").unwrap(), b"2");
        assert_eq!(arg(b"x=1&ID=7&id=8", b"id").unwrap(), b"7");
        assert_eq!(arg(b"x", b"x"), None);
        let auth = h(&[("Authorization", "Basic dXNlcjpwYXNz")]);
        assert_eq!(remote_user(&auth).unwrap(), b"user");
        let on = HeaderRules {
            ignore_invalid: true,
            underscores: false,
        };
        assert!(on.keeps(b"X-Bar") && !on.keeps(b"x_bar") && !on.keeps(b"x.bar"));
        let under = HeaderRules {
            underscores: true,
            ..on
        };
        assert!(under.keeps(b"x_bar") && !under.keeps(b"x.bar"));
        let off = HeaderRules {
            ignore_invalid: false,
            ..on
        };
        assert!(off.keeps(b"x.bar"));
        let up = h(&[("Set-Cookie", "tcx=1"), ("Set-Cookie", "TC = v; Path=/")]);
        assert_eq!(set_cookie(&up, b"tc").unwrap(), b"v");
        assert_eq!(set_cookie(&up, b"x"), None);
        let tabbed = [(
            Bytes::from_static(b"Set-Cookie"),
            Bytes::from_static(b"tc\t=\tcontent ;"),
        )];
        assert_eq!(set_cookie(&tabbed, b"tc"), None);
    }

    #[test]
    fn sent_cache_control_and_link_are_joined() {
        let h = |n: &'static str, v: &'static str| {
            (
                Bytes::from_static(n.as_bytes()),
                Bytes::from_static(v.as_bytes()),
            )
        };
        let hs = [
            h("Cache-Control", "a"),
            h("X-A", "1"),
            h("cache-control", "b"),
            h("X-A", "2"),
        ];
        assert_eq!(
            sent_header(&hs, "cache-control").as_deref(),
            Some(&b"a, b"[..])
        );
        assert_eq!(sent_header(&hs, "x-a").as_deref(), Some(&b"1"[..]));
        assert_eq!(header(&hs, "cache-control").as_deref(), Some(&b"a"[..]));
    }

    #[test]
    fn cookies_as_nginx_splits_them() {
        let line = |v: &'static str| {
            (
                Bytes::from_static(b"Cookie"),
                Bytes::from_static(v.as_bytes()),
            )
        };
        let hs = [line("a=1, b = 2 ;c=x,y; d\t=4"), line("e=5")];
        assert_eq!(cookie(&hs, b"b").unwrap(), b"2 ");
        assert_eq!(cookie(&hs, b"c").unwrap(), b"x,y");
        assert_eq!(cookie(&hs, b"y"), None);
        assert_eq!(cookie(&hs, b"d"), None);
        assert_eq!(cookie(&hs, b"e").unwrap(), b"5");
    }
}
