//! The sub filter's strings (`sub_filter STRING REPLACEMENT`), compiled once per level and
//! evaluated per request when routing ends; the runtime's `sub_filter.rs` applies the result
//! to the body. Without variables the pairs are ordered once, at load, as nginx orders them
//! when it merges the level.

use std::sync::Arc;

use bytes::Bytes;

use super::plan::{GzipTypes, SubFilter};
use super::request::Req;
use super::value::{Complex, Part};
use super::vars::Registry;
use crate::config::Cx;
use crate::config::sub_filter::SubFilter as Settings;

/// A level's sub filter.
#[derive(Debug)]
pub enum CSubFilter {
    /// No variables anywhere: the same filter for every request.
    Fixed(Arc<SubFilter>),
    /// Search strings or replacements with variables, evaluated per request.
    Dynamic {
        pairs: Vec<(Complex, Complex)>,
        types: GzipTypes,
        once: bool,
        last_modified: bool,
    },
}

/// Variables whose value nginx reads only once the answer is known (its status, the upstream
/// that gave it, what was sent): ngxr evaluates the strings when routing ends, so a string
/// that reads one is refused rather than given a different value.
fn answer_time(name: &str) -> bool {
    name.starts_with("upstream_")
        || name.starts_with("sent_http_")
        || name.starts_with("sent_trailer_")
        || matches!(
            name,
            "status" | "bytes_sent" | "body_bytes_sent" | "gzip_ratio"
        )
}

/// The level's filter, `None` without `sub_filter` (or after an error, reported).
pub fn compile(cx: &mut Cx<'_>, reg: &Registry, s: &Settings) -> Option<Arc<CSubFilter>> {
    let mut pairs = Vec::new();
    for (search, replacement) in s.pairs.as_deref()? {
        let search_value = Complex::compile(cx, reg, search)?;
        let replacement_value = Complex::compile(cx, reg, replacement)?;
        for (text, value) in [(search, &search_value), (replacement, &replacement_value)] {
            for part in &value.parts {
                if let Part::Var(name, _) = part
                    && answer_time(name)
                {
                    let what = format!("the \"${name}\" variable in \"sub_filter\"");
                    cx.unsupported_at(text.span, text.order, &what);
                }
            }
        }
        pairs.push((search_value, replacement_value));
    }
    let types = s.types.clone().unwrap_or_else(GzipTypes::html);
    let once = s.once.unwrap_or(true);
    let last_modified = s.last_modified.unwrap_or(false);
    let fixed: Option<Vec<(Bytes, Bytes)>> = pairs
        .iter()
        .map(|(m, v)| {
            let m = m.as_literal()?.to_ascii_lowercase();
            Some((Bytes::from(m), Bytes::copy_from_slice(v.as_literal()?)))
        })
        .collect();
    Some(Arc::new(match fixed {
        Some(fixed) => CSubFilter::Fixed(Arc::new(SubFilter {
            pairs: ordered(fixed),
            types,
            once,
            last_modified,
        })),
        None => CSubFilter::Dynamic {
            pairs,
            types,
            once,
            last_modified,
        },
    }))
}

impl CSubFilter {
    /// The filter for `req`: search strings evaluated and lowercased, those that came out
    /// empty left out; `None` when none is left (nginx then leaves the answer alone).
    pub fn for_request(&self, req: &mut Req<'_>) -> Option<Arc<SubFilter>> {
        let (pairs, types, once, last_modified) = match self {
            CSubFilter::Fixed(fixed) => return Some(fixed.clone()),
            CSubFilter::Dynamic {
                pairs,
                types,
                once,
                last_modified,
            } => (pairs, types, *once, *last_modified),
        };
        let mut evaluated = Vec::with_capacity(pairs.len());
        for (search, replacement) in pairs {
            let search = search.eval(req).to_ascii_lowercase();
            if !search.is_empty() {
                evaluated.push((Bytes::from(search), Bytes::from(replacement.eval(req))));
            }
        }
        if evaluated.is_empty() {
            return None;
        }
        Some(Arc::new(SubFilter {
            pairs: ordered(evaluated),
            types: types.clone(),
            once,
            last_modified,
        }))
    }
}

/// `ngx_http_sub_init_tables`'s order: a stable sort on each string's byte at the length of
/// the shortest one, less one. At a given place of the body nginx tries only the strings
/// whose byte there matches, in this order, and the first that matches whole wins.
pub fn ordered(mut pairs: Vec<(Bytes, Bytes)>) -> Vec<(Bytes, Bytes)> {
    let shortest = pairs.iter().map(|(m, _)| m.len()).min().unwrap_or(1);
    pairs.sort_by_key(|(m, _)| m.get(shortest - 1).copied());
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_ordered_by_the_byte_at_the_shortest_length() {
        let pair = |m: &'static str| (Bytes::from_static(m.as_bytes()), Bytes::new());
        let got = ordered(vec![pair("xc"), pair("ab"), pair("za"), pair("hello")]);
        let names: Vec<&[u8]> = got.iter().map(|(m, _)| &m[..]).collect();
        // Keys (the second byte): c, b, a, e.
        assert_eq!(names, [&b"za"[..], b"ab", b"xc", b"hello"]);
        // A tie keeps the written order.
        let got = ordered(vec![pair("hello world"), pair("hello"), pair("h")]);
        let names: Vec<&[u8]> = got.iter().map(|(m, _)| &m[..]).collect();
        assert_eq!(names, [&b"hello world"[..], b"hello", b"h"]);
    }
}
