//! The referer module's `valid_referers` (`ngx_http_referer_conf_t`): every directive of a
//! level adds to one list; a level with none takes its parent's whole, and a level with some
//! still takes its parent's regexes when it names none of its own
//! (`ngx_http_referer_merge_conf` merges the regex arrays either way). `server_names` is
//! resolved against the server's names when the site is compiled.

use super::{Cx, Text};
use crate::syntax::Directive;

/// A referer host as `ngx_hash_add_key` files it (with `NGX_HASH_WILDCARD_KEY`), lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKey {
    Exact(String),
    /// `*.example.com` (`dot` false) or `.example.com` (`dot` true, `example.com` too),
    /// stored as `.example.com`.
    Head {
        suffix: String,
        dot: bool,
    },
    /// `www.example.*`, stored as `www.example.`.
    Tail(String),
}

impl HostKey {
    /// Classifies `name` as `ngx_hash_add_key` does; `None` where it declines the key
    /// (`invalid hostname or wildcard`): two `*`, `..`, or a `*` not in a wildcard's place.
    pub fn parse(name: &str) -> Option<HostKey> {
        let b = name.as_bytes();
        let stars = b.iter().filter(|&&c| c == b'*').count();
        if stars > 1 || name.contains("..") || b.contains(&0) {
            return None;
        }
        let lower = name.to_ascii_lowercase();
        if b.len() > 1 && b[0] == b'.' {
            return Some(HostKey::Head {
                suffix: lower,
                dot: true,
            });
        }
        if b.len() > 2 {
            if let Some(rest) = lower.strip_prefix('*').filter(|r| r.starts_with('.')) {
                return Some(HostKey::Head {
                    suffix: rest.to_string(),
                    dot: false,
                });
            }
            if let Some(rest) = lower.strip_suffix('*').filter(|r| r.ends_with('.')) {
                return Some(HostKey::Tail(rest.to_string()));
            }
        }
        (stars == 0).then_some(HostKey::Exact(lower))
    }

    /// Whether `self` and `other` are the same key to nginx's conflict checks (`NGX_BUSY`):
    /// `.example.com` takes `example.com` in the exact hash and `*.example.com` in the
    /// wildcard one.
    pub fn conflicts(&self, other: &HostKey) -> bool {
        use HostKey::*;
        match (self, other) {
            (Exact(a), Exact(b)) | (Tail(a), Tail(b)) => a == b,
            (Head { suffix: a, .. }, Head { suffix: b, .. }) => a == b,
            (Exact(e), Head { suffix, dot: true }) | (Head { suffix, dot: true }, Exact(e)) => {
                suffix[1..] == *e
            }
            _ => false,
        }
    }

    /// As nginx names it in `conflicting parameter "..."` (lowercased where it was stored).
    pub fn shown(&self) -> String {
        match self {
            HostKey::Exact(s)
            | HostKey::Head {
                suffix: s,
                dot: true,
            } => s.clone(),
            HostKey::Head { suffix, dot: false } => format!("*{suffix}"),
            HostKey::Tail(s) => format!("{s}*"),
        }
    }
}

/// One level's `valid_referers`, merged with its parent's as nginx does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidReferers {
    /// `none`: a request without `Referer` is valid.
    pub none: bool,
    /// `blocked`: a `Referer` without `http://` or `https://` is valid.
    pub blocked: bool,
    /// `server_names`: the server's names are valid hosts.
    pub server_names: bool,
    /// The hosts, each with the URI prefix written after it (`example.com/galleries/`).
    pub hosts: Vec<(HostKey, Option<String>)>,
    /// `~regex` patterns (without `~`), matched caseless against the `Referer` after its
    /// scheme: this level's, else its parent's.
    pub regexes: Vec<Text>,
    /// The server's `~` names are tried against the host: this level's `server_names`, or
    /// its parent's (merged as the regexes are).
    pub server_regexes: bool,
    /// The first `valid_referers` of the level, for errors found when it is compiled.
    pub at: Text,
}

/// `valid_referers` at this level: its own directives read into `own`.
pub fn valid_referers(cx: &mut Cx<'_>, d: &Directive, own: &mut Option<ValidReferers>) {
    let Some(at) = cx.text(d, 0) else { return };
    let v = own.get_or_insert_with(|| ValidReferers {
        none: false,
        blocked: false,
        server_names: false,
        hosts: Vec::new(),
        regexes: Vec::new(),
        server_regexes: false,
        at,
    });
    for (i, w) in d.args.iter().enumerate() {
        let value = w.value.as_str();
        match value {
            "" => return cx.error(d, format!("invalid referer \"{value}\"")),
            "none" => v.none = true,
            "blocked" => v.blocked = true,
            "server_names" => {
                v.server_names = true;
                v.server_regexes = true;
            }
            _ if value.starts_with('~') => {
                if value.len() == 1 {
                    return cx.error(d, format!("empty regex in \"{value}\""));
                }
                if let Err(message) = crate::eval::regex::Regex::new(&value[1..], true) {
                    return cx.error(d, message);
                }
                if let Some(mut t) = cx.text(d, i) {
                    t.value.remove(0);
                    v.regexes.push(t);
                }
            }
            _ => {
                let (host, uri) = match value.find('/') {
                    Some(at) => (&value[..at], Some(value[at..].to_string())),
                    None => (value, None),
                };
                let Some(key) = HostKey::parse(host) else {
                    return cx.error(d, format!("invalid hostname or wildcard \"{host}\""));
                };
                if v.hosts.iter().any(|(k, _)| k.conflicts(&key)) {
                    return cx.error(d, format!("conflicting parameter \"{}\"", key.shown()));
                }
                v.hosts.push((key, uri));
            }
        }
    }
}

/// Fills a level that wrote no `valid_referers` from `parent`; one that did keeps only the
/// parent's regexes (and its use of the server's regex names) when it has none itself.
pub fn inherit(own: &mut Option<ValidReferers>, parent: &Option<ValidReferers>) {
    let Some(parent) = parent else { return };
    match own {
        None => *own = Some(parent.clone()),
        Some(v) => {
            if v.regexes.is_empty() {
                v.regexes.clone_from(&parent.regexes);
            }
            v.server_regexes |= parent.server_regexes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HostKey::{self, *};

    #[test]
    fn hosts_are_filed_as_ngx_hash_add_key_files_them() {
        let head = |s: &str, dot| Head {
            suffix: s.into(),
            dot,
        };
        assert_eq!(
            HostKey::parse("Example.COM"),
            Some(Exact("example.com".into()))
        );
        assert_eq!(
            HostKey::parse("*.example.com"),
            Some(head(".example.com", false))
        );
        assert_eq!(
            HostKey::parse(".example.com"),
            Some(head(".example.com", true))
        );
        assert_eq!(
            HostKey::parse("www.example.*"),
            Some(Tail("www.example.".into()))
        );
        assert_eq!(HostKey::parse("."), Some(Exact(".".into())));
        for bad in ["*.*.com", "a..b", "ww*.example.com", "*", "*."] {
            assert_eq!(HostKey::parse(bad), None, "{bad}");
        }
        let dot = head(".example.com", true);
        assert!(dot.conflicts(&Exact("example.com".into())));
        assert!(dot.conflicts(&head(".example.com", false)));
        assert!(!Exact("example.com".into()).conflicts(&head(".example.com", false)));
    }
}
