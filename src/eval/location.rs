//! Choosing the location (`ngx_http_core_find_location`): at each level an exact match ends
//! the search; otherwise the longest prefix is remembered and its nested locations searched;
//! then, unless that prefix was `^~`, the level's regexes in file order, the first match
//! winning (its nested locations searched in turn); else the longest prefix. A request for a
//! `proxy_pass` location's name without its final `/` is redirected there (`auto_redirect`).

use super::regex::Captures;
use super::site::CLocation;
use super::trace::{Candidate, Trace, note};
use crate::config::Modifier;

#[derive(Debug, Clone, Copy)]
pub enum Found<'s> {
    Location(&'s CLocation),
    /// nginx's `NGX_DONE`: answer 301 to this location's name.
    Redirect(&'s CLocation),
    None,
}

/// The static search's outcome at one level (nginx's return codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rc {
    /// An exact match.
    Ok,
    /// A prefix match; nested locations and regexes may still win.
    Again,
    /// Redirect to `name/`.
    Done,
    Declined,
}

pub fn find<'s>(
    top: &'s [CLocation],
    uri: &[u8],
    caps: &mut Captures,
    mut trace: Option<&mut Trace>,
) -> Found<'s> {
    let (rc, found) = find_in(top, uri, caps, &mut trace);
    let result = match (rc, found) {
        (Rc::Done, Some(l)) => Found::Redirect(l),
        (_, Some(l)) => Found::Location(l),
        (_, None) => Found::None,
    };
    if let Found::Location(l) | Found::Redirect(l) = result {
        note(&mut trace, |t| t.location = Some(candidate(l, "chosen")));
    }
    result
}

fn find_in<'s>(
    level: &'s [CLocation],
    uri: &[u8],
    caps: &mut Captures,
    trace: &mut Option<&mut Trace>,
) -> (Rc, Option<&'s CLocation>) {
    let (mut rc, mut found) = find_static(level, uri, trace);
    let mut noregex = false;
    if let (Rc::Again, Some(prefix)) = (rc, found) {
        noregex = prefix.modifier == Modifier::NoRegex;
        let (nested_rc, nested) = find_in(&prefix.children, uri, caps, trace);
        rc = nested_rc;
        found = nested.or(found);
    }
    if matches!(rc, Rc::Ok | Rc::Done) {
        skip_regexes(level, trace, "not tried: a static location already decided");
        return (rc, found);
    }
    if noregex {
        skip_regexes(level, trace, "not tried: the longest prefix is ^~");
        return (rc, found);
    }
    let mut regexes = level.iter().filter(|l| l.regex.is_some());
    for l in regexes.by_ref() {
        let Some(re) = &l.regex else { continue };
        if re.exec(uri, caps) {
            note(trace, |t| {
                t.candidates
                    .push(candidate(l, "regex matches: first in file order wins"))
            });
            let (_, nested) = find_in(&l.children, uri, caps, trace);
            for rest in regexes {
                note(trace, |t| {
                    t.candidates
                        .push(candidate(rest, "not tried: an earlier regex matched"))
                });
            }
            return (Rc::Ok, nested.or(Some(l)));
        }
        note(trace, |t| {
            t.candidates.push(candidate(l, "regex does not match"))
        });
    }
    (rc, found)
}

fn find_static<'s>(
    level: &'s [CLocation],
    uri: &[u8],
    trace: &mut Option<&mut Trace>,
) -> (Rc, Option<&'s CLocation>) {
    let statics = || {
        level.iter().filter(|l| {
            matches!(
                l.modifier,
                Modifier::Exact | Modifier::Prefix | Modifier::NoRegex
            )
        })
    };
    let exact = statics().find(|l| l.modifier == Modifier::Exact && l.name.as_bytes() == uri);
    let redirect = statics().find(|l| {
        l.auto_redirect && l.name.len() == uri.len() + 1 && l.name.as_bytes().starts_with(uri)
    });
    let prefix = statics()
        .filter(|l| l.modifier != Modifier::Exact && uri.starts_with(l.name.as_bytes()))
        .max_by_key(|l| l.name.len());
    // A location named exactly as the URI is found before a longer one could redirect (in
    // nginx's tree the longer name sits below it).
    let whole = prefix.filter(|p| p.name.len() == uri.len());
    let (rc, found) = match (exact, whole, redirect, prefix) {
        (Some(e), _, _, _) => (Rc::Ok, Some(e)),
        (None, Some(p), _, _) => (Rc::Again, Some(p)),
        (None, None, Some(r), _) => (Rc::Done, Some(r)),
        (None, None, None, Some(p)) => (Rc::Again, Some(p)),
        (None, None, None, None) => (Rc::Declined, None),
    };
    // Verdicts are put into words only for a trace.
    for l in statics() {
        note(trace, |t| {
            let verdict = if found.is_some_and(|f| std::ptr::eq(f, l)) {
                match rc {
                    Rc::Ok => "exact match".to_string(),
                    Rc::Done => format!(
                        "\"{}\" is this location without its final \"/\": 301 to it (proxy_pass auto_redirect)",
                        String::from_utf8_lossy(uri)
                    ),
                    _ => format!("longest matching prefix ({} bytes)", l.name.len()),
                }
            } else if l.modifier == Modifier::Exact {
                "exact: not equal".to_string()
            } else if uri.starts_with(l.name.as_bytes()) {
                "matching prefix, but shorter".to_string()
            } else {
                "prefix does not match".to_string()
            };
            t.candidates.push(candidate(l, &verdict));
        });
    }
    (rc, found)
}

fn skip_regexes(level: &[CLocation], trace: &mut Option<&mut Trace>, why: &str) {
    for l in level.iter().filter(|l| l.regex.is_some()) {
        note(trace, |t| t.candidates.push(candidate(l, why)));
    }
}

fn candidate(l: &CLocation, verdict: &str) -> Candidate {
    Candidate {
        span: l.span,
        modifier: l.modifier.as_str(),
        name: l.name.clone(),
        verdict: verdict.to_string(),
    }
}
