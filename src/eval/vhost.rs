//! Choosing the server for a request (`ngx_http_find_virtual_server`): among the servers on
//! the listen socket, an exact name, then the longest `*.suffix` (or `.suffix`), then the
//! longest `prefix.*`, then the first matching regex in file order; else the socket's default
//! server (`default_server`, or the first server listening there).

use super::plan::ListenAddr;
use super::regex::Captures;
use super::site::{CServer, listens_on};
use super::trace::{ServerChoice, Trace, note};
use crate::config::http::ServerName;

/// The servers listening where the connection arrived, most specific address first (a server
/// on `127.0.0.1:80` hides one on `*:80` for connections to 127.0.0.1).
pub fn on_socket<'s>(
    servers: &'s [CServer],
    listen: &ListenAddr,
    local: &ListenAddr,
) -> Vec<&'s CServer> {
    let exact: Vec<&CServer> = servers
        .iter()
        .filter(|s| s.listens.iter().any(|l| l.addr == *local))
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    servers
        .iter()
        .filter(|s| {
            s.listens
                .iter()
                .any(|l| listens_on(l, listen, local) || wildcard_for(&l.addr, local))
        })
        .collect()
}

/// Whether `addr` is the wildcard of `local`'s port and family.
fn wildcard_for(addr: &ListenAddr, local: &ListenAddr) -> bool {
    let (Some(addr), Some(local)) = (addr.inet(), local.inet()) else {
        return false;
    };
    addr.ip().is_unspecified() && addr.port() == local.port() && addr.is_ipv4() == local.is_ipv4()
}

/// The default server of the socket.
pub fn default<'s>(on: &[&'s CServer], local: &ListenAddr) -> Option<&'s CServer> {
    on.iter()
        .find(|s| {
            s.listens
                .iter()
                .any(|l| l.default_server && (l.addr == *local || wildcard_for(&l.addr, local)))
        })
        .or(on.first())
        .copied()
}

/// The server `host` (already validated) names, if any (not the default one).
pub fn named<'s>(on: &[&'s CServer], host: &[u8]) -> Option<&'s CServer> {
    find_by_name(on, host, &mut Captures::default()).map(|(s, _)| s)
}

/// The server `name` (as sent: an SNI name, a host) chooses, else the default one: the
/// server whose settings a connection reads its heads with.
pub fn named_or_default<'s>(
    on: &[&'s CServer],
    local: &ListenAddr,
    name: Option<&[u8]>,
) -> Option<&'s CServer> {
    let named = name
        .and_then(validate_host)
        .and_then(|host| named(on, &host));
    named.or_else(|| default(on, local))
}

/// Picks the server for `host` (already validated); records why in `trace`.
pub fn select<'s>(
    on: &[&'s CServer],
    local: &ListenAddr,
    host: Option<&[u8]>,
    caps: &mut Captures,
    mut trace: Option<&mut Trace>,
) -> Option<&'s CServer> {
    let host = host.unwrap_or(b"");
    let found = find_by_name(on, host, caps);
    let server = found.map_or_else(|| default(on, local), |(s, _)| Some(s));
    if let Some(s) = server {
        note(&mut trace, |t| {
            let shown = String::from_utf8_lossy(host);
            let why = match found.map(|(_, how)| how) {
                None => format!("no server_name matches \"{shown}\": default server for {local}"),
                Some(NameMatch::Exact) => format!("exact server_name \"{shown}\""),
                Some(NameMatch::Leading(suffix)) => {
                    format!("wildcard server_name \"*{suffix}\" matches \"{shown}\"")
                }
                Some(NameMatch::Trailing(prefix)) => {
                    format!("wildcard server_name \"{prefix}*\" matches \"{shown}\"")
                }
                Some(NameMatch::Regex(pattern)) => {
                    format!("regex server_name \"~{pattern}\" matches \"{shown}\"")
                }
            };
            t.server = Some(ServerChoice {
                span: s.span,
                names: s.names.iter().map(ServerName::display).collect(),
                why,
            })
        });
    }
    server
}

/// Which kind of `server_name` matched: kept as a reference and put into words only when a
/// trace asks, so serving a request formats nothing.
#[derive(Clone, Copy)]
enum NameMatch<'s> {
    Exact,
    /// `*.example.com` or `.example.com`, by its suffix.
    Leading(&'s str),
    /// `www.example.*`, by its prefix.
    Trailing(&'s str),
    /// By its pattern.
    Regex(&'s str),
}

fn find_by_name<'s>(
    on: &[&'s CServer],
    host: &[u8],
    caps: &mut Captures,
) -> Option<(&'s CServer, NameMatch<'s>)> {
    for s in on {
        if s.names
            .iter()
            .any(|n| matches!(n, ServerName::Exact(e) if e.as_bytes() == host))
        {
            return Some((s, NameMatch::Exact));
        }
    }
    let mut best: Option<(&CServer, &str)> = None;
    for s in on {
        for n in &s.names {
            let suffix = match n {
                ServerName::LeadingWildcard(x)
                    if host.ends_with(x.as_bytes()) && host.len() > x.len() =>
                {
                    x
                }
                ServerName::Dot(x)
                    if host.ends_with(x.as_bytes()) && host.len() > x.len()
                        || host == &x.as_bytes()[1..] =>
                {
                    x
                }
                _ => continue,
            };
            if best.is_none_or(|(_, b)| suffix.len() > b.len()) {
                best = Some((s, suffix));
            }
        }
    }
    if let Some((s, suffix)) = best {
        return Some((s, NameMatch::Leading(suffix)));
    }
    for s in on {
        for n in &s.names {
            if let ServerName::TrailingWildcard(x) = n
                && host.starts_with(x.as_bytes())
                && host.len() > x.len()
                && best.is_none_or(|(_, b)| x.len() > b.len())
            {
                best = Some((s, x));
            }
        }
    }
    if let Some((s, prefix)) = best {
        return Some((s, NameMatch::Trailing(prefix)));
    }
    if host.is_empty() {
        return None;
    }
    for s in on {
        for (_, re) in &s.name_regexes {
            if re.exec(host, caps) {
                return Some((s, NameMatch::Regex(&re.pattern)));
            }
        }
    }
    None
}

/// `ngx_http_validate_host`: lowercased, port and trailing dot removed; `None` is a 400. Every
/// byte is checked, the port's too: no `..`, no `/`, no control character or space.
pub fn validate_host(host: &[u8]) -> Option<Vec<u8>> {
    #[derive(PartialEq)]
    enum State {
        Usual,
        Literal,
        Rest,
    }
    let mut state = State::Usual;
    let mut host_len = host.len();
    let mut dot_pos = None;
    for (i, &c) in host.iter().enumerate() {
        match c {
            b'.' => {
                if i > 0 && dot_pos == Some(i - 1) {
                    return None;
                }
                dot_pos = Some(i);
            }
            b':' if state == State::Usual => {
                host_len = i;
                state = State::Rest;
            }
            b'[' if i == 0 => state = State::Literal,
            b']' if state == State::Literal => {
                host_len = i + 1;
                state = State::Rest;
            }
            b'/' => return None,
            c if c <= 0x20 || c == 0x7f => return None,
            _ => {}
        }
    }
    if host_len > 0 && dot_pos == Some(host_len - 1) {
        host_len -= 1;
    }
    (host_len > 0).then(|| host[..host_len].to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_as_nginx_validates_them() {
        assert_eq!(validate_host(b"A.Example:8080").unwrap(), b"a.example");
        assert_eq!(validate_host(b"example.com.").unwrap(), b"example.com");
        assert_eq!(validate_host(b"[::1]:80").unwrap(), b"[::1]");
        assert_eq!(validate_host(b"a..b"), None);
        assert_eq!(validate_host(b"a/b"), None);
        assert_eq!(validate_host(b"localhost\x02"), None);
        assert_eq!(validate_host(b"a b"), None);
        assert_eq!(validate_host(b"a:8/0"), None);
        assert_eq!(validate_host(b"a:1..2"), None);
        assert_eq!(validate_host(b":80"), None);
    }
}
