//! The gzip filter's settings (`ngx_http_gzip_conf_t`) and the core module's `gzip_*` ones that
//! decide whether a client may get gzip (`gzip_vary`, `gzip_http_version`, `gzip_proxied`,
//! `gzip_disable`). Each inherits as nginx merges it: `gzip_types` and `gzip_disable` as whole
//! lists, `gzip_proxied` as a bitmask that several directives of one level OR together, and
//! `gzip_disable msie6` apart from the regexes it is written with. `gzip_static` is read here
//! too: it asks the same question of a request (`ngx_http_gzip_ok`), and so is `gunzip`, whose
//! filter inflates a gzipped answer for the clients that question turns away.

use super::settings::{flag, inherit_opt, set};
use super::{Cx, Text};
use crate::syntax::Directive;

/// One level's gzip settings; `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gzip {
    pub enable: Option<bool>,
    /// `gzip_comp_level`, 1..9 (default 1).
    pub comp_level: Option<u32>,
    /// `gzip_min_length` in bytes (default 20).
    pub min_length: Option<u64>,
    pub types: Option<GzipTypes>,
    /// `gzip_http_version 1.0` (the default is 1.1: HTTP/1.0 clients get no gzip).
    pub http10: Option<bool>,
    pub vary: Option<bool>,
    pub proxied: Option<Proxied>,
    /// `gzip_disable` regexes of the level (caseless, on `User-Agent`); `Some(empty)` when the
    /// level's `gzip_disable` named only `msie6`: nginx then inherits no regexes either.
    pub disable: Option<Vec<Text>>,
    /// `gzip_disable msie6`.
    pub disable_msie6: Option<bool>,
    /// `gzip_static` (the gzip_static module's, read with the rest for its use of them).
    pub static_: Option<GzipStatic>,
    /// `gunzip` (the gunzip filter's).
    pub gunzip: Option<bool>,
}

/// `gzip_static`: whether a file's `.gz` neighbour is sent instead of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GzipStatic {
    Off,
    /// To a client `ngx_http_gzip_ok` lets have gzip.
    On,
    /// To any client.
    Always,
}

/// `gzip_types`: the MIME types compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GzipTypes {
    /// `gzip_types *`: any response, even one without a `Content-Type`.
    Any,
    /// Lowercased types; `text/html` is always among them (`ngx_http_types_slot` puts it first).
    Listed(Vec<String>),
}

impl GzipTypes {
    /// nginx's default: `text/html` alone.
    pub fn html() -> GzipTypes {
        GzipTypes::Listed(vec!["text/html".to_string()])
    }

    /// `ngx_http_test_content_type` against these types. An upstream's type is looked up without
    /// a `;` that starts a `charset=` parameter (`ngx_http_upstream_copy_content_type`); nginx's
    /// own types are looked up whole.
    pub fn matches(&self, content_type: Option<&[u8]>, upstream: bool) -> bool {
        let list = match self {
            GzipTypes::Any => return true,
            GzipTypes::Listed(list) => list,
        };
        let Some(ct) = content_type.filter(|t| !t.is_empty()) else {
            return false;
        };
        let key = if upstream { without_charset(ct) } else { ct };
        list.iter().any(|t| t.as_bytes().eq_ignore_ascii_case(key))
    }
}

/// `gzip_proxied`'s flags, as nginx's bitmask: which answers to a request carrying `Via` may
/// be compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Proxied(u16);

impl Proxied {
    pub const OFF: Proxied = Proxied(1 << 0);
    pub const EXPIRED: Proxied = Proxied(1 << 1);
    pub const NO_CACHE: Proxied = Proxied(1 << 2);
    pub const NO_STORE: Proxied = Proxied(1 << 3);
    pub const PRIVATE: Proxied = Proxied(1 << 4);
    pub const NO_LAST_MODIFIED: Proxied = Proxied(1 << 5);
    pub const NO_ETAG: Proxied = Proxied(1 << 6);
    pub const AUTH: Proxied = Proxied(1 << 7);
    pub const ANY: Proxied = Proxied(1 << 8);

    const NAMES: [(&'static str, Proxied); 9] = [
        ("off", Proxied::OFF),
        ("expired", Proxied::EXPIRED),
        ("no-cache", Proxied::NO_CACHE),
        ("no-store", Proxied::NO_STORE),
        ("private", Proxied::PRIVATE),
        ("no_last_modified", Proxied::NO_LAST_MODIFIED),
        ("no_etag", Proxied::NO_ETAG),
        ("auth", Proxied::AUTH),
        ("any", Proxied::ANY),
    ];

    /// Whether every flag of `other` is set here.
    pub fn has(self, other: Proxied) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flag named `name` (case-insensitive, as `ngx_conf_set_bitmask_slot` compares).
    pub fn named(name: &str) -> Option<Proxied> {
        Proxied::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, flag)| *flag)
    }

    pub fn with(self, other: Proxied) -> Proxied {
        Proxied(self.0 | other.0)
    }
}

impl Gzip {
    /// Fills what this level did not set from `parent`.
    pub fn inherit(&mut self, parent: &Gzip) {
        let Gzip {
            enable,
            comp_level,
            min_length,
            types,
            http10,
            vary,
            proxied,
            disable,
            disable_msie6,
            static_,
            gunzip,
        } = parent;
        self.enable = self.enable.or(*enable);
        self.comp_level = self.comp_level.or(*comp_level);
        self.min_length = self.min_length.or(*min_length);
        inherit_opt(&mut self.types, types);
        self.http10 = self.http10.or(*http10);
        self.vary = self.vary.or(*vary);
        self.proxied = self.proxied.or(*proxied);
        inherit_opt(&mut self.disable, disable);
        self.disable_msie6 = self.disable_msie6.or(*disable_msie6);
        self.static_ = self.static_.or(*static_);
        self.gunzip = self.gunzip.or(*gunzip);
    }

    /// Reads `d` if it is one of the settings here; `false` otherwise.
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive) -> bool {
        match d.name() {
            "gzip" => flag(cx, d, &mut self.enable),
            "gunzip" => flag(cx, d, &mut self.gunzip),
            "gzip_vary" => flag(cx, d, &mut self.vary),
            // `ngx_conf_set_enum_slot` compares without case.
            "gzip_static" => set(cx, d, &mut self.static_, |s| {
                let values = [
                    ("off", GzipStatic::Off),
                    ("on", GzipStatic::On),
                    ("always", GzipStatic::Always),
                ];
                let found = values.into_iter().find(|(n, _)| n.eq_ignore_ascii_case(s));
                found.map(|(_, v)| v)
            }),
            "gzip_min_length" => set(cx, d, &mut self.min_length, |s| {
                crate::units::parse_size(s).and_then(|n| u64::try_from(n).ok())
            }),
            "gzip_http_version" => set(cx, d, &mut self.http10, |s| match s {
                "1.0" => Some(true),
                "1.1" => Some(false),
                _ => None,
            }),
            "gzip_comp_level" => {
                set(cx, d, &mut self.comp_level, |s| s.parse().ok());
                if self.comp_level.is_some_and(|n| !(1..=9).contains(&n)) {
                    self.comp_level = None;
                    cx.error(d, "value must be between 1 and 9");
                }
            }
            "gzip_types" => self.types(cx, d),
            "gzip_proxied" => {
                let mut mask = self.proxied.unwrap_or_default();
                for w in &d.args {
                    match Proxied::named(&w.value) {
                        Some(f) => mask = mask.with(f),
                        None => {
                            cx.error(d, format!("invalid value \"{}\"", w.value));
                            return true;
                        }
                    }
                }
                self.proxied = Some(mask);
            }
            "gzip_disable" => {
                let list = self.disable.get_or_insert_with(Vec::new);
                for (i, w) in d.args.iter().enumerate() {
                    if w.value == "msie6" {
                        self.disable_msie6 = Some(true);
                    } else if let Some(text) = cx.text(d, i) {
                        list.push(text);
                    }
                }
            }
            _ => return false,
        }
        true
    }

    /// `ngx_http_types_slot`: `text/html` first, then each type lowercased; `*` makes it any
    /// type for good (later words and directives of the level change nothing).
    fn types(&mut self, cx: &mut Cx<'_>, d: &Directive) {
        let mut list = match self.types.take().unwrap_or_else(GzipTypes::html) {
            GzipTypes::Any => None,
            GzipTypes::Listed(list) => Some(list),
        };
        cx.types_slot(d, &mut list);
        self.types = Some(list.map_or(GzipTypes::Any, GzipTypes::Listed));
    }
}

/// The type before a `;` followed (after spaces) by `charset=`; the whole value otherwise.
fn without_charset(ct: &[u8]) -> &[u8] {
    for (i, _) in ct.iter().enumerate().filter(|(_, c)| **c == b';') {
        let rest = &ct[i + 1..];
        let rest = &rest[rest.iter().take_while(|c| **c == b' ').count()..];
        if rest.len() >= 8 && rest[..8].eq_ignore_ascii_case(b"charset=") {
            return &ct[..i];
        }
    }
    ct
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(types: &[&str]) -> GzipTypes {
        GzipTypes::Listed(types.iter().map(|t| t.to_string()).collect())
    }

    #[test]
    fn types_match_as_nginx_looks_them_up() {
        let html = list(&["text/html"]);
        assert!(html.matches(Some(b"text/html"), false));
        assert!(html.matches(Some(b"Text/HTML"), false));
        assert!(html.matches(Some(b"text/html; charset=utf-8"), true));
        assert!(html.matches(Some(b"text/html;CHARSET=utf-8"), true));
        // Only a charset parameter is set apart, and only from an upstream's type.
        assert!(!html.matches(Some(b"text/html; q=1"), true));
        assert!(!html.matches(Some(b"text/html ; charset=x"), true));
        assert!(!html.matches(Some(b"text/html; charset=utf-8"), false));
        assert!(!html.matches(Some(b"text/plain"), true));
        assert!(!html.matches(None, true));
        assert!(GzipTypes::Any.matches(None, true));
    }
}
