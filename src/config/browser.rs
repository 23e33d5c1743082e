//! The browser module's settings (`ngx_http_browser_conf_t`): `modern_browser` lines (with
//! `unlisted`) are inherited together by a level that writes none, `ancient_browser` lines
//! (with `netscape4`) likewise, each `*_browser_value` alone (the last written wins).

use super::Cx;
use crate::syntax::Directive;

/// The browsers `modern_browser` knows, in nginx's order of trying them (Opera first: its
/// agent may name MSIE).
pub const BROWSERS: [&str; 5] = ["opera", "msie", "gecko", "safari", "konqueror"];

/// `modern_browser` at one level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modern {
    /// Each browser (its index in [`BROWSERS`]) with the version from which it is modern,
    /// as nginx counts it (each dotted part two decimal digits below the one before).
    pub list: Vec<(usize, u64)>,
    /// `modern_browser unlisted`: a browser no line names is modern.
    pub unlisted: bool,
}

/// `ancient_browser` at one level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ancient {
    /// Substrings of the `User-Agent` that make a browser ancient.
    pub list: Vec<String>,
    /// `netscape4`: `Mozilla/` versions 1 to 4.
    pub netscape4: bool,
}

/// One level's browser settings; `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Browser {
    pub modern: Option<Modern>,
    pub ancient: Option<Ancient>,
    pub modern_value: Option<String>,
    pub ancient_value: Option<String>,
}

impl Browser {
    /// Reads `d` if it is one of the settings here; `false` otherwise.
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive) -> bool {
        match d.name() {
            "modern_browser" => self.modern_browser(cx, d),
            "ancient_browser" => {
                let ancient = self.ancient.get_or_insert_with(Ancient::default);
                for w in &d.args {
                    if w.value == "netscape4" {
                        ancient.netscape4 = true;
                    } else {
                        ancient.list.push(w.value.clone());
                    }
                }
            }
            "modern_browser_value" => self.modern_value = d.arg(0).map(str::to_string),
            "ancient_browser_value" => self.ancient_value = d.arg(0).map(str::to_string),
            _ => return false,
        }
        true
    }

    fn modern_browser(&mut self, cx: &mut Cx<'_>, d: &Directive) {
        let (Some(name), version) = (d.arg(0), d.arg(1)) else {
            return cx.arity(d);
        };
        let Some(version) = version else {
            if name == "unlisted" {
                self.modern.get_or_insert_with(Modern::default).unlisted = true;
            } else {
                // nginx fails here without saying why.
                cx.error(d, format!("invalid value \"{name}\""));
            }
            return;
        };
        let Some(slot) = BROWSERS.iter().position(|b| b.eq_ignore_ascii_case(name)) else {
            return cx.error(d, format!("unknown browser name \"{name}\""));
        };
        let Some(version) = parse_version(version.as_bytes()) else {
            return cx.error(d, format!("invalid browser version \"{version}\""));
        };
        let modern = self.modern.get_or_insert_with(Modern::default);
        modern.list.push((slot, version));
    }

    /// Fills what this level did not set from `parent`.
    pub fn inherit(&mut self, parent: &Browser) {
        if self.modern.is_none() {
            self.modern.clone_from(&parent.modern);
        }
        if self.ancient.is_none() {
            self.ancient.clone_from(&parent.ancient);
        }
        if self.modern_value.is_none() {
            self.modern_value.clone_from(&parent.modern_value);
        }
        if self.ancient_value.is_none() {
            self.ancient_value.clone_from(&parent.ancient_value);
        }
    }
}

/// A version as `modern_browser` reads it: digits and dots only, `1.2.3` is
/// 1·10⁶ + 2·10⁴ + 3·10². `None` for any other byte.
pub fn parse_version(text: &[u8]) -> Option<u64> {
    let (mut version, mut part, mut scale) = (0u64, 0u64, 1_000_000u64);
    for &c in text {
        match c {
            b'0'..=b'9' => part = part.wrapping_mul(10).wrapping_add(u64::from(c - b'0')),
            b'.' => {
                version = version.wrapping_add(part.wrapping_mul(scale));
                part = 0;
                scale /= 100;
            }
            _ => return None,
        }
    }
    Some(version.wrapping_add(part.wrapping_mul(scale)))
}
