//! The browser module's `$modern_browser` and `$ancient_browser`
//! (`ngx_http_browser`), and nginx's own reading of a `User-Agent`
//! (`ngx_http_process_user_agent`: `$msie`, and who gets the padding of nginx's error
//! pages).

use crate::config::browser::Browser;
#[cfg(test)]
use crate::config::browser::parse_version;

/// Where each known browser's name is looked for (bytes skipped from the agent's start),
/// the name, and how far past its start the version begins, in `BROWSERS`' order
/// (`Opera/9.01` and `Opera 7.50` alike).
const MASKS: [(usize, &[u8], usize); 5] = [
    (0, b"Opera", "Opera ".len()),
    ("Mozilla/4.0 (compatible; ".len(), b"MSIE ", "MSIE ".len()),
    ("Mozilla/5.0 (".len(), b"rv:", "rv:".len()),
    ("Mozilla/5.0 (".len(), b"Safari/", "Safari/".len()),
    (
        "Mozilla/5.0 (compatible; ".len(),
        b"Konqueror/",
        "Konqueror/".len(),
    ),
];

/// What the browser module found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    Modern,
    Ancient,
}

/// A level's compiled browser settings.
#[derive(Debug, Default)]
pub struct CBrowser {
    /// `modern_browser` lines ordered as nginx sorts them (by browser, Opera first, added
    /// with an unreachable version when not listed); empty without any.
    modern: Vec<(usize, u64)>,
    unlisted: bool,
    ancient: Vec<Vec<u8>>,
    netscape4: bool,
    modern_value: Vec<u8>,
    ancient_value: Vec<u8>,
}

impl CBrowser {
    pub fn compile(b: &Browser) -> CBrowser {
        let (mut modern, unlisted) = match &b.modern {
            Some(m) => (m.list.clone(), m.unlisted),
            None => (Vec::new(), false),
        };
        if !modern.is_empty() && !modern.iter().any(|(slot, _)| *slot == 0) {
            modern.push((0, 4_001_000_000));
        }
        // A stable sort, as glibc's qsort is for these few lines.
        modern.sort_by_key(|(slot, _)| *slot);
        let (ancient, netscape4) = match &b.ancient {
            Some(a) => (
                a.list.iter().map(|s| s.as_bytes().to_vec()).collect(),
                a.netscape4,
            ),
            None => (Vec::new(), false),
        };
        let value = |v: &Option<String>| v.as_deref().unwrap_or("1").as_bytes().to_vec();
        CBrowser {
            modern,
            unlisted,
            ancient,
            netscape4,
            modern_value: value(&b.modern_value),
            ancient_value: value(&b.ancient_value),
        }
    }

    /// `$modern_browser` (`modern` true) or `$ancient_browser` for the agent `ua`.
    pub fn value(&self, ua: Option<&[u8]>, modern: bool) -> Vec<u8> {
        match (self.age(ua), modern) {
            (Age::Modern, true) => self.modern_value.clone(),
            (Age::Ancient, false) => self.ancient_value.clone(),
            _ => Vec::new(),
        }
    }

    fn age(&self, ua: Option<&[u8]>) -> Age {
        let unlisted = if self.unlisted {
            Age::Modern
        } else {
            Age::Ancient
        };
        let Some(ua) = ua else { return unlisted };
        if !self.modern.is_empty() {
            for &(slot, version) in &self.modern {
                let (skip, name, add) = MASKS[slot];
                let Some(from) = ua.get(skip..).filter(|r| !r.is_empty()) else {
                    continue;
                };
                let Some(at) = find(from, name) else { continue };
                let Some(rest) = from.get(at + add..).filter(|r| !r.is_empty()) else {
                    continue;
                };
                return version_age(rest, version);
            }
            if !self.unlisted {
                return Age::Ancient;
            }
        }
        if self.netscape4
            && ua.len() > "Mozilla/4.72 ".len()
            && ua.starts_with(b"Mozilla/")
            && (b'1'..=b'4').contains(&ua[8])
        {
            return Age::Ancient;
        }
        if self.ancient.iter().any(|a| find(ua, a).is_some()) {
            return Age::Ancient;
        }
        unlisted
    }
}

/// The agent's version (digits and dots up to anything else) against the modern one: a
/// dotted prefix already above it decides.
fn version_age(text: &[u8], modern: u64) -> Age {
    let (mut version, mut part, mut scale) = (0u64, 0u64, 1_000_000u64);
    for &c in text {
        match c {
            b'0'..=b'9' => part = part.wrapping_mul(10).wrapping_add(u64::from(c - b'0')),
            b'.' => {
                version = version.wrapping_add(part.wrapping_mul(scale));
                if version > modern {
                    return Age::Modern;
                }
                part = 0;
                scale /= 100;
            }
            _ => break,
        }
    }
    version = version.wrapping_add(part.wrapping_mul(scale));
    if version >= modern {
        Age::Modern
    } else {
        Age::Ancient
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `$msie`: the agent names `MSIE ` (its first mention followed by at least three more
/// bytes) and not `Opera`.
pub fn msie(ua: &[u8]) -> bool {
    find(ua, b"MSIE ").is_some_and(|at| at + 7 < ua.len()) && find(ua, b"Opera").is_none()
}

/// Whether nginx pads its error pages for the agent `ua`: MSIE, or Chrome (an agent naming
/// `Chrome/` that is not MSIE, Opera or Gecko).
pub fn wants_padding(ua: &[u8]) -> bool {
    msie(ua)
        || (find(ua, b"Opera").is_none()
            && find(ua, b"Gecko/").is_none()
            && find(ua, b"Chrome/").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::browser::{Ancient, Modern};

    fn browser(modern: &[(usize, &str)], unlisted: bool, ancient: &[&str], ns4: bool) -> CBrowser {
        CBrowser::compile(&Browser {
            modern: Some(Modern {
                list: modern
                    .iter()
                    .map(|(s, v)| (*s, parse_version(v.as_bytes()).unwrap()))
                    .collect(),
                unlisted,
            }),
            ancient: Some(Ancient {
                list: ancient.iter().map(|s| s.to_string()).collect(),
                netscape4: ns4,
            }),
            modern_value: None,
            ancient_value: Some("old".into()),
        })
    }

    #[test]
    fn versions_as_nginx_reads_them() {
        assert_eq!(parse_version(b"5.5"), Some(5_050_000));
        assert_eq!(parse_version(b"1.2.3"), Some(1_020_300));
        assert_eq!(parse_version(b"6.x"), None);
        assert_eq!(version_age(b"5.51", 5_050_000), Age::Modern, "5.51 > 5.5");
        assert_eq!(version_age(b"5.5;", 5_050_000), Age::Modern);
        assert_eq!(version_age(b"5.4.9", 5_050_000), Age::Ancient);
        assert_eq!(version_age(b"6; x", 5_050_000), Age::Modern);
    }

    #[test]
    fn agents_are_modern_or_ancient() {
        let b = browser(&[(1, "6.0"), (2, "1.0")], false, &["Links"], true);
        let age = |ua: &str| b.age(Some(ua.as_bytes()));
        assert_eq!(
            age("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"),
            Age::Modern
        );
        assert_eq!(
            age("Mozilla/4.0 (compatible; MSIE 5.5; Windows NT 5.1)"),
            Age::Ancient
        );
        assert_eq!(age("Mozilla/5.0 (X11; rv:1.8) Gecko/20060729"), Age::Modern);
        assert_eq!(
            age("Mozilla/4.0 (compatible; MSIE 6.0; X11) Opera 7.50"),
            Age::Ancient,
            "Opera, added unreachable, is tried first"
        );
        assert_eq!(age("Links (2.1; Linux)"), Age::Ancient, "not listed");
        assert_eq!(b.age(None), Age::Ancient);
        assert_eq!(b.value(None, false), b"old");
        assert_eq!(b.value(None, true), b"");
        let open = browser(&[], true, &["Links"], true);
        assert_eq!(open.age(Some(b"Links (2.1)")), Age::Ancient);
        assert_eq!(open.age(Some(b"Mozilla/4.72 [en]")), Age::Ancient);
        assert_eq!(open.age(Some(b"curl/8")), Age::Modern);
        assert_eq!(open.value(Some(b"curl/8"), true), b"1");
    }

    #[test]
    fn user_agents_as_nginx_reads_them() {
        assert!(msie(b"Mozilla/4.0 (compatible; MSIE 6.0)"));
        assert!(!msie(b"MSIE 6."), "too short after MSIE");
        assert!(!msie(b"Mozilla/4.0 (compatible; MSIE 6.0) Opera 8"));
        assert!(wants_padding(b"Mozilla/5.0 Chrome/120 Safari/537"));
        assert!(!wants_padding(b"Mozilla/5.0 Gecko/2010 Chrome/1"));
    }
}
