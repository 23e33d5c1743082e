//! `proxy_cookie_domain`, `proxy_cookie_path` and `proxy_cookie_flags` compiled, and applied
//! to an upstream's `Set-Cookie` lines as nginx's proxy module does
//! (`ngx_http_proxy_rewrite_cookie`): the line is split at `;` into `key[=value]` attributes
//! (spaces around them dropped); each `Domain` and `Path` value goes through the first rule
//! that matches it; the first `proxy_cookie_flags` naming the cookie adds, replaces or removes
//! `Secure`, `HttpOnly` and `SameSite`. A line something changed is written again with `"; "`
//! between its attributes; any other line is left as the upstream wrote it. Rules without
//! variables are evaluated with no request at hand; others re-read the request (as the
//! access log does), once per answer that has a `Set-Cookie`.

use std::sync::{Arc, Weak};

use bytes::Bytes;

use super::plan::{CookieRewrite, Outcome, RequestInfo};
use super::proxy_rewrite::{self, Eval, regex, value, with_eval};
use super::regex::Regex;
use super::site::Inner;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::proxy_cookie::ProxyCookie;
use crate::config::proxy_rewrite::{Pattern, Rewrite};

/// A level's compiled cookie rules.
#[derive(Debug)]
pub struct CookieRules {
    domains: Vec<proxy_rewrite::Rewrite>,
    paths: Vec<proxy_rewrite::Rewrite>,
    flags: Vec<FlagRule>,
    /// Some value has variables (regex captures included): evaluating needs the request.
    variables: bool,
    /// The site, to re-read the request (server, location, `set` values) as routing left it.
    site: Weak<Inner>,
}

#[derive(Debug)]
enum Cookie {
    /// The cookie's name, in any case.
    Name(Complex),
    Regex(Regex),
}

#[derive(Debug)]
struct FlagRule {
    cookie: Cookie,
    flags: Vec<Flag>,
}

/// A flag known at load (its bits), or one to evaluate.
#[derive(Debug)]
enum Flag {
    Known(u16),
    Variable(Complex),
}

// nginx's `NGX_HTTP_PROXY_COOKIE_*` bits: each flag sets its group's bit and its own.
const SECURE: u16 = 0x0001;
const SECURE_ON: u16 = 0x0002;
const SECURE_OFF: u16 = 0x0004;
const HTTPONLY: u16 = 0x0008;
const HTTPONLY_ON: u16 = 0x0010;
const HTTPONLY_OFF: u16 = 0x0020;
const SAMESITE: u16 = 0x0040;
const SAMESITE_STRICT: u16 = 0x0080;
const SAMESITE_LAX: u16 = 0x0100;
const SAMESITE_NONE: u16 = 0x0200;
const SAMESITE_OFF: u16 = 0x0400;

/// `proxy_cookie_flags`' words (`ngx_http_proxy_cookie_flags_masks`), matched in any case;
/// an unknown word is ignored.
fn flag_bits(word: &[u8]) -> u16 {
    const MASKS: [(&[u8], u16); 8] = [
        (b"secure", SECURE | SECURE_ON),
        (b"nosecure", SECURE | SECURE_OFF),
        (b"httponly", HTTPONLY | HTTPONLY_ON),
        (b"nohttponly", HTTPONLY | HTTPONLY_OFF),
        (b"samesite=strict", SAMESITE | SAMESITE_STRICT),
        (b"samesite=lax", SAMESITE | SAMESITE_LAX),
        (b"samesite=none", SAMESITE | SAMESITE_NONE),
        (b"nosamesite", SAMESITE | SAMESITE_OFF),
    ];
    MASKS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
        .map_or(0, |(_, bits)| *bits)
}

/// Compiles a level's rules; `Some(None)` when there are none (nothing to do per answer),
/// `None` after an error (reported).
pub fn compile(
    cx: &mut Cx<'_>,
    reg: &Registry,
    rules: &ProxyCookie,
    site: &Weak<Inner>,
) -> Option<Option<Arc<CookieRules>>> {
    if rules.is_empty() {
        return Some(None);
    }
    // Captures are variables too: `$1` in a replacement reads the regex's match.
    let mut variables = false;
    let mut rewrites = |list: &Option<Vec<Rewrite>>, domain: bool| {
        list.iter()
            .flatten()
            .map(|r| proxy_rewrite::Rewrite::compile(cx, reg, r, domain, &mut variables))
            .collect::<Option<Vec<_>>>()
    };
    let domains = rewrites(&rules.domain, true)?;
    let paths = rewrites(&rules.path, false)?;
    let mut flags = Vec::new();
    for f in rules.flags.iter().flatten() {
        let cookie = match &f.cookie {
            Pattern::Regex { text, caseless } => Cookie::Regex(regex(cx, text, *caseless)?),
            Pattern::Value(text) => Cookie::Name(value(cx, reg, text, &mut variables)?),
        };
        let mut words = Vec::new();
        for text in &f.flags {
            let word = value(cx, reg, text, &mut variables)?;
            match word.as_literal() {
                Some(literal) => match flag_bits(literal) {
                    0 => {}
                    bits => words.push(Flag::Known(bits)),
                },
                None => words.push(Flag::Variable(word)),
            }
        }
        flags.push(FlagRule {
            cookie,
            flags: words,
        });
    }
    Some(Some(Arc::new(CookieRules {
        domains,
        paths,
        flags,
        variables,
        site: site.clone(),
    })))
}

impl CookieRewrite for CookieRules {
    fn rewrite(
        &self,
        request: &RequestInfo<'_>,
        outcome: &Outcome,
        headers: &mut [(Bytes, Bytes)],
    ) -> Vec<Option<Bytes>> {
        let is_cookie = |name: &Bytes| name.eq_ignore_ascii_case(b"set-cookie");
        if !headers.iter().any(|(name, _)| is_cookie(name)) {
            return Vec::new();
        }
        let each = |eval: &mut Eval<'_>| {
            let mut marks = Vec::new();
            for (_, value) in headers.iter_mut().filter(|(name, _)| is_cookie(name)) {
                let mut mark = None;
                if let Some(rewritten) = self.apply(eval, value, &mut mark) {
                    *value = Bytes::from(rewritten);
                }
                marks.push(mark.map(Bytes::from));
            }
            marks
        };
        with_eval(self.variables, &self.site, request, outcome, each).unwrap_or_default()
    }
}

/// One `key[=value]` part of a cookie line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attr {
    /// `None` once removed.
    key: Option<Vec<u8>>,
    /// `None` without `=`.
    value: Option<Vec<u8>>,
    /// Where the value starts in the upstream's line.
    at: usize,
}

impl Attr {
    fn new(key: &[u8], value: Option<&[u8]>) -> Attr {
        Attr {
            key: Some(key.to_vec()),
            value: value.map(<[u8]>::to_vec),
            at: 0,
        }
    }
}

impl CookieRules {
    /// `line` rewritten, or `None` when nothing changed it; `mark` gets the upstream's line
    /// as nginx's in-place rewrites leave it, when one did.
    fn apply(
        &self,
        eval: &mut Eval<'_>,
        line: &[u8],
        mark: &mut Option<Vec<u8>>,
    ) -> Option<Vec<u8>> {
        let mut attrs = parse(line);
        // A line whose first part is not `name=value` is left alone.
        attrs.first()?.value.as_ref()?;
        let mut changed = false;
        for attr in attrs.iter_mut().skip(1) {
            let (Some(key), Some(value)) = (attr.key.as_deref(), attr.value.as_mut()) else {
                continue;
            };
            let rules = if key.eq_ignore_ascii_case(b"domain") {
                &self.domains
            } else if key.eq_ignore_ascii_case(b"path") {
                &self.paths
            } else {
                continue;
            };
            if let Some(r) = rules.iter().find_map(|r| r.apply(eval, value)) {
                r.mark(
                    mark.get_or_insert_with(|| line.to_vec()),
                    attr.at,
                    value.len(),
                );
                *value = r.apply(value);
                changed = true;
            }
        }
        if mark.as_deref() == Some(line) {
            *mark = None;
        }
        changed |= self.apply_flags(eval, &mut attrs);
        changed.then(|| join(&attrs))
    }

    /// The first `proxy_cookie_flags` naming the cookie, applied; `false` when none does or
    /// its flags come to nothing.
    fn apply_flags(&self, eval: &mut Eval<'_>, attrs: &mut Vec<Attr>) -> bool {
        let name = attrs
            .first()
            .and_then(|a| a.key.clone())
            .unwrap_or_default();
        let Some(rule) = self.flags.iter().find(|f| match &f.cookie {
            Cookie::Regex(re) => eval.matches(re, &name),
            Cookie::Name(c) => eval.value(c).eq_ignore_ascii_case(&name),
        }) else {
            return false;
        };
        let bits = rule.flags.iter().fold(0, |bits, f| {
            bits | match f {
                Flag::Known(b) => *b,
                Flag::Variable(c) => flag_bits(&eval.value(c)),
            }
        });
        if bits == 0 {
            return false;
        }
        edit_flags(attrs, bits);
        true
    }
}

/// `ngx_http_proxy_parse_cookie`: the parts between `;`s, each `key[=value]` with the spaces
/// around key and value dropped.
fn parse(line: &[u8]) -> Vec<Attr> {
    // The bounds of `s` (starting at `at` in the line) without its spaces.
    let trim = |s: &[u8], at: usize| -> (usize, usize) {
        let start = s.iter().position(|&c| c != b' ').unwrap_or(s.len());
        let end = s.iter().rposition(|&c| c != b' ').map_or(start, |i| i + 1);
        (at + start, at + end.max(start))
    };
    let mut attrs = Vec::new();
    let mut at = 0;
    for part in line.split(|&c| c == b';') {
        let (key, value) = match part.iter().position(|&c| c == b'=') {
            Some(eq) => (
                trim(&part[..eq], at),
                Some(trim(&part[eq + 1..], at + eq + 1)),
            ),
            None => (trim(part, at), None),
        };
        attrs.push(Attr {
            key: Some(line[key.0..key.1].to_vec()),
            value: value.map(|(s, e)| line[s..e].to_vec()),
            at: value.map_or(0, |(s, _)| s),
        });
        at += part.len() + 1;
    }
    attrs
}

/// The attributes left, `"; "` between them, `key=value` or `key`.
fn join(attrs: &[Attr]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, attr) in attrs.iter().enumerate() {
        let Some(key) = &attr.key else { continue };
        if i > 0 {
            out.extend_from_slice(b"; ");
        }
        out.extend_from_slice(key);
        if let Some(value) = &attr.value {
            out.push(b'=');
            out.extend_from_slice(value);
        }
    }
    out
}

/// `ngx_http_proxy_edit_cookie_flags`: each `Secure`, `HttpOnly` or `SameSite` the cookie has
/// is kept (the first one its flag asks for), set to the asked value, or removed (`no...`);
/// the ones asked for and missing are added in that order.
fn edit_flags(attrs: &mut Vec<Attr>, mut bits: u16) {
    for Attr { key, value, .. } in attrs.iter_mut().skip(1) {
        let Some(name) = key.as_deref() else { continue };
        if name.eq_ignore_ascii_case(b"secure") {
            if bits & SECURE_ON != 0 {
                bits &= !SECURE_ON;
            } else if bits & SECURE_OFF != 0 {
                *key = None;
            }
        } else if name.eq_ignore_ascii_case(b"httponly") {
            if bits & HTTPONLY_ON != 0 {
                bits &= !HTTPONLY_ON;
            } else if bits & HTTPONLY_OFF != 0 {
                *key = None;
            }
        } else if name.eq_ignore_ascii_case(b"samesite") {
            let wanted = [
                (SAMESITE_STRICT, &b"Strict"[..]),
                (SAMESITE_LAX, b"Lax"),
                (SAMESITE_NONE, b"None"),
            ];
            if let Some(&(bit, to)) = wanted.iter().find(|(bit, _)| bits & bit != 0) {
                bits &= !bit;
                let same = value.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(to));
                if !same {
                    *key = Some(b"SameSite".to_vec());
                    *value = Some(to.to_vec());
                }
            } else if bits & SAMESITE_OFF != 0 {
                *key = None;
            }
        }
    }
    if bits & SECURE_ON != 0 {
        attrs.push(Attr::new(b"Secure", None));
    }
    if bits & HTTPONLY_ON != 0 {
        attrs.push(Attr::new(b"HttpOnly", None));
    }
    let samesite: Option<&[u8]> = if bits & SAMESITE_STRICT != 0 {
        Some(b"Strict")
    } else if bits & SAMESITE_LAX != 0 {
        Some(b"Lax")
    } else if bits & SAMESITE_NONE != 0 {
        Some(b"None")
    } else {
        None
    };
    if let Some(v) = samesite {
        attrs.push(Attr::new(b"SameSite", Some(v)));
    }
}
