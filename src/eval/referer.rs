//! `$invalid_referer` (`ngx_http_referer_variable`): a level's `valid_referers` compiled once
//! with its server's names, then the request's `Referer` judged as nginx does: the scheme
//! (`http://` or `https://`, any case) stripped, the host (up to `/` or `:`, at most 256
//! bytes) looked up lowercased among the exact names, then the most specific `*.name`, then
//! `name.*`; a host found must also start its URI with the name's URI part. Then the
//! server's `~` names against the lowercased host, then the `~regex` referers, caseless,
//! against everything after the scheme.

use super::regex::Regex;
use crate::config::Cx;
use crate::config::http::ServerName;
use crate::config::referer::{HostKey, ValidReferers};

/// Hosts longer than this are invalid (nginx's buffer for the lowercased host).
const MAX_HOST: usize = 256;

/// A level's compiled `valid_referers`.
#[derive(Debug)]
pub struct Referers {
    none: bool,
    blocked: bool,
    hosts: Vec<(HostKey, Option<Vec<u8>>)>,
    /// The server's `~` names, when `server_names` was given here or above.
    server_regexes: Vec<Regex>,
    regexes: Vec<Regex>,
}

impl Referers {
    /// Compiles `v` for a level of the server named `names`; `None` after an error
    /// (reported).
    pub fn compile(cx: &mut Cx<'_>, v: &ValidReferers, names: &[ServerName]) -> Option<Referers> {
        let mut hosts = v.hosts.clone();
        let mut server_regexes = Vec::new();
        for n in names {
            let key = match n {
                ServerName::Regex(p, _) => {
                    if v.server_regexes {
                        server_regexes.push(Regex::new(p, true).ok()?);
                    }
                    continue;
                }
                _ if !v.server_names => continue,
                ServerName::Exact(s) => HostKey::parse(s),
                ServerName::LeadingWildcard(s) => HostKey::parse(&format!("*{s}")),
                ServerName::Dot(s) => HostKey::parse(s),
                ServerName::TrailingWildcard(s) => HostKey::parse(&format!("{s}*")),
            };
            let Some(key) = key else {
                let message = format!("invalid hostname or wildcard \"{}\"", n.display());
                cx.late_error_at("referer::name", message, v.at.span);
                return None;
            };
            if hosts.iter().any(|(k, _)| k.conflicts(&key)) {
                let message = format!("conflicting parameter \"{}\"", key.shown());
                cx.late_error_at("referer::name", message, v.at.span);
                return None;
            }
            hosts.push((key, None));
        }
        if (v.none || v.blocked) && hosts.is_empty() {
            let message = "the \"none\" or \"blocked\" referers are specified in the \
                           \"valid_referers\" directive without any valid referer";
            cx.late_error("referer::empty", message, v.at.span);
            return None;
        }
        let regexes = v
            .regexes
            .iter()
            .map(|t| Regex::new(&t.value, true).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Referers {
            none: v.none,
            blocked: v.blocked,
            hosts: hosts
                .into_iter()
                .map(|(k, uri)| (k, uri.map(String::into_bytes)))
                .collect(),
            server_regexes,
            regexes,
        })
    }

    /// Whether `referer` (the first `Referer` header, if any) is invalid here.
    pub fn invalid(&self, referer: Option<&[u8]>) -> bool {
        if self.hosts.is_empty() && self.server_regexes.is_empty() && self.regexes.is_empty() {
            return false;
        }
        let Some(referer) = referer else {
            return !self.none;
        };
        let rest = (referer.len() >= "http://i.ru".len())
            .then(|| strip_scheme(referer))
            .flatten();
        let Some(rest) = rest else {
            return !self.blocked;
        };
        let host_len = rest
            .iter()
            .position(|&c| c == b'/' || c == b':')
            .unwrap_or(rest.len());
        if host_len > MAX_HOST {
            return true;
        }
        let host = rest[..host_len].to_ascii_lowercase();
        if let Some(uri) = self.find(&host) {
            let path = match rest[host_len..].iter().position(|&c| c == b'/') {
                Some(at) => &rest[host_len + at..],
                None => &[],
            };
            return uri.is_some_and(|uri| !path.starts_with(uri));
        }
        let valid = self.server_regexes.iter().any(|re| re.is_match(&host))
            || self.regexes.iter().any(|re| re.is_match(rest));
        !valid
    }

    /// The URI part of the name `host` matches (`Some(None)`: the name has none), as
    /// `ngx_hash_find_combined` finds it: exact, then the longest `*.suffix`, then the
    /// longest `prefix.*`.
    fn find(&self, host: &[u8]) -> Option<Option<&[u8]>> {
        fn uri(h: &(HostKey, Option<Vec<u8>>)) -> Option<&[u8]> {
            h.1.as_deref()
        }
        let exact = self
            .hosts
            .iter()
            .find(|(k, _)| matches!(k, HostKey::Exact(e) if e.as_bytes() == host));
        if let Some(h) = exact {
            return Some(uri(h));
        }
        if host.is_empty() {
            return None;
        }
        let head = self
            .hosts
            .iter()
            .filter_map(|h| match &h.0 {
                HostKey::Head { suffix, dot } => {
                    let s = suffix.as_bytes();
                    let under = host.len() > s.len() && host.ends_with(s);
                    (under || *dot && host == &s[1..]).then_some((s.len(), h))
                }
                _ => None,
            })
            .max_by_key(|(len, _)| *len);
        if let Some((_, h)) = head {
            return Some(uri(h));
        }
        self.hosts
            .iter()
            .filter_map(|h| match &h.0 {
                HostKey::Tail(prefix) => host
                    .starts_with(prefix.as_bytes())
                    .then_some((prefix.len(), h)),
                _ => None,
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, h)| uri(h))
    }
}

/// What follows `http://` or `https://` (any case), if the referer starts with either.
fn strip_scheme(referer: &[u8]) -> Option<&[u8]> {
    ["http://", "https://"].iter().find_map(|scheme| {
        let n = scheme.len();
        (referer.len() >= n && referer[..n].eq_ignore_ascii_case(scheme.as_bytes()))
            .then(|| &referer[n..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn referers(none: bool, blocked: bool, names: &[&str], regexes: &[&str]) -> Referers {
        let hosts = names
            .iter()
            .map(|n| {
                let (host, uri) = match n.find('/') {
                    Some(at) => (&n[..at], Some(n.as_bytes()[at..].to_vec())),
                    None => (*n, None),
                };
                (HostKey::parse(host).unwrap(), uri)
            })
            .collect();
        Referers {
            none,
            blocked,
            hosts,
            server_regexes: Vec::new(),
            regexes: regexes
                .iter()
                .map(|r| Regex::new(r, true).unwrap())
                .collect(),
        }
    }

    #[test]
    fn none_and_blocked() {
        let r = referers(true, true, &["example.com"], &[]);
        assert!(!r.invalid(None));
        assert!(!r.invalid(Some(b"ftp://example.org/")));
        assert!(
            !r.invalid(Some(b"http://x")),
            "too short for a scheme: blocked"
        );
        assert!(r.invalid(Some(b"http://example.org/")));
        let strict = referers(false, false, &["example.com"], &[]);
        assert!(strict.invalid(None));
        assert!(strict.invalid(Some(b"example.com")));
        assert!(!strict.invalid(Some(b"HTTPS://EXAMPLE.com:8080/x")));
    }

    #[test]
    fn wildcards_and_uri_parts() {
        let r = referers(
            false,
            false,
            &[
                "*.example.com/pics/",
                ".example.org",
                "www.example.*",
                "a.example.com",
            ],
            &[],
        );
        assert!(!r.invalid(Some(b"http://img.example.com/pics/1.png")));
        assert!(r.invalid(Some(b"http://img.example.com/other")));
        assert!(r.invalid(Some(b"http://example.com/pics/")));
        assert!(
            !r.invalid(Some(b"http://a.example.com/other")),
            "exact first"
        );
        assert!(!r.invalid(Some(b"http://example.org")));
        assert!(!r.invalid(Some(b"http://x.example.org/")));
        assert!(!r.invalid(Some(b"http://www.example.net/")));
        assert!(r.invalid(Some(b"http://www.example")));
        let long = format!("http://{}.example.org/", "a".repeat(260));
        assert!(r.invalid(Some(long.as_bytes())));
    }

    #[test]
    fn regexes_see_the_referer_after_its_scheme() {
        let r = referers(false, false, &[], &["^google\\.", "/search\\?"]);
        assert!(!r.invalid(Some(b"https://Google.de/x")));
        assert!(!r.invalid(Some(b"http://bing.com/search?q=1")));
        assert!(r.invalid(Some(b"http://bing.com/")));
        let empty = referers(false, false, &[], &[]);
        assert!(
            !empty.invalid(Some(b"http://bing.com/")),
            "nothing to check"
        );
    }
}
