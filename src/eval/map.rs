//! A compiled `map`: exact keys, then the longest `*.suffix`, then the longest `prefix.*`
//! (both only with `hostnames`), then the first matching regex in file order, then `default`
//! (`ngx_http_map_find`). Keys compare case-insensitively.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::regex::Regex;
use super::request::Req;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::map::Map;
use crate::diag::Diagnostic;
use crate::source::Span;

#[derive(Debug)]
pub struct MapTable {
    /// The variable it defines, without `$`.
    pub name: String,
    pub span: Span,
    pub volatile: bool,
    source: Complex,
    hostnames: bool,
    exact: HashMap<Vec<u8>, Complex>,
    /// `*.example.com` → `.example.com`; `dot` also matches `example.com`.
    heads: Vec<(Vec<u8>, bool, Complex)>,
    /// `www.example.*` → `www.example.`.
    tails: Vec<(Vec<u8>, Complex)>,
    regexes: Vec<(Regex, Complex)>,
    default: Option<Complex>,
}

/// How a key matched, for explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    Exact,
    Head,
    Tail,
    Regex,
}

impl MapTable {
    pub fn compile(cx: &mut Cx<'_>, reg: &Registry, map: &Map) -> Option<MapTable> {
        let mut t = MapTable {
            name: map.variable.clone(),
            span: map.span,
            volatile: map.volatile,
            source: Complex::compile(cx, reg, &map.source)?,
            hostnames: map.hostnames,
            exact: HashMap::new(),
            heads: Vec::new(),
            tails: Vec::new(),
            regexes: Vec::new(),
            default: match &map.default {
                Some(d) => Some(Complex::compile(cx, reg, d)?),
                None => None,
            },
        };
        for e in &map.entries {
            let value = Complex::compile(cx, reg, &e.value)?;
            let key = e.key.as_str();
            if let Some(re) = key.strip_prefix('~') {
                let (pattern, caseless) = match re.strip_prefix('*') {
                    Some(p) => (p, true),
                    None => (re, false),
                };
                match Regex::new(pattern, caseless) {
                    Ok(re) => t.regexes.push((re, value)),
                    Err(message) => cx.late_error_at("map::regex", message, e.span),
                }
                continue;
            }
            let lower = key.to_ascii_lowercase().into_bytes();
            if t.hostnames && key.starts_with("*.") {
                t.heads.push((lower[1..].to_vec(), false, value));
            } else if t.hostnames && key.starts_with('.') {
                t.heads.push((lower, true, value));
            } else if t.hostnames && key.ends_with(".*") {
                t.tails.push((lower[..lower.len() - 1].to_vec(), value));
            } else {
                match t.exact.entry(lower) {
                    Entry::Vacant(slot) => {
                        slot.insert(value);
                    }
                    Entry::Occupied(slot) => {
                        // nginx names the key as it stored it: lowercased.
                        let shown = String::from_utf8_lossy(slot.key()).into_owned();
                        let mut d = Diagnostic::emerg(
                            "map::conflict",
                            format!("conflicting parameter \"{shown}\""),
                            e.span,
                            e.span,
                        );
                        d.order = e.value.order;
                        cx.sink.push(d);
                    }
                }
            }
        }
        Some(t)
    }

    /// The value for this request; `None` never happens for a map (no default = empty), but
    /// the signature follows the other variables.
    pub fn eval(&self, req: &mut Req<'_>) -> Option<Vec<u8>> {
        let mut raw = self.source.eval(req);
        if self.hostnames && raw.last() == Some(&b'.') {
            raw.pop();
        }
        let key = raw.to_ascii_lowercase();
        let found = self.find(&key, &raw, req);
        let (how, value) = match found {
            Some((how, v)) => (Some(how), v.eval(req)),
            None => (
                None,
                self.default
                    .as_ref()
                    .map(|d| d.eval(req))
                    .unwrap_or_default(),
            ),
        };
        if !req.traced {
            return Some(value);
        }
        req.notes.push(format!(
            "map ${}: key \"{}\" → {} \"{}\"",
            self.name,
            String::from_utf8_lossy(&key),
            match how {
                Some(Hit::Exact) => "exact key",
                Some(Hit::Head) => "wildcard *.key",
                Some(Hit::Tail) => "wildcard key.*",
                Some(Hit::Regex) => "regex",
                None => "default",
            },
            String::from_utf8_lossy(&value)
        ));
        Some(value)
    }

    /// `key` is the lowercased value for the hashes; regexes see the value as it was.
    fn find(&self, key: &[u8], raw: &[u8], req: &mut Req<'_>) -> Option<(Hit, &Complex)> {
        if let Some(v) = self.exact.get(key) {
            return Some((Hit::Exact, v));
        }
        let head = self
            .heads
            .iter()
            .filter(|(suffix, dot, _)| {
                key.ends_with(suffix) && key.len() > suffix.len() || *dot && key == &suffix[1..]
            })
            .max_by_key(|(suffix, _, _)| suffix.len());
        if let Some((_, _, v)) = head {
            return Some((Hit::Head, v));
        }
        let tail = self
            .tails
            .iter()
            .filter(|(prefix, _)| key.starts_with(prefix) && key.len() > prefix.len())
            .max_by_key(|(prefix, _)| prefix.len());
        if let Some((_, v)) = tail {
            return Some((Hit::Tail, v));
        }
        if key.is_empty() {
            return None;
        }
        self.regexes
            .iter()
            .find(|(re, _)| re.exec(raw, &mut req.captures))
            .map(|(_, v)| (Hit::Regex, v))
    }
}
