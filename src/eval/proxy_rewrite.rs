//! nginx's `ngx_http_proxy_rewrite_t` compiled: the rules `proxy_redirect` applies to an
//! upstream's `Location` and `Refresh`, and `proxy_cookie_domain`/`_path` to its `Set-Cookie`
//! values. A value pattern must start the value (a domain must be it); a regex found
//! anywhere replaces the whole value, its captures read by the replacement. Rules without
//! variables are evaluated with no request at hand; the others re-read the request as routing
//! left it (as the access log does), with what the upstream answered.

use std::borrow::Cow;
use std::sync::Weak;

use super::plan::{Outcome, RequestInfo};
use super::regex::Regex;
use super::request::Req;
use super::site::Inner;
use super::value::Complex;
use super::vars::Registry;
use crate::config::proxy_rewrite::{self, Pattern};
use crate::config::{Cx, Text};
use crate::diag::Diagnostic;

#[derive(Debug)]
pub(super) enum Match {
    /// `proxy_cookie_path` without `~`: the path starts with it.
    Prefix(Complex),
    /// `proxy_cookie_domain` without `~`: the domain, its own leading dot aside, is it (in
    /// any case).
    Domain(Complex),
    /// A regex found anywhere in the value replaces the whole value.
    Regex(Regex),
}

#[derive(Debug)]
pub(super) struct Rewrite {
    pub(super) pattern: Match,
    pub(super) replacement: Complex,
}

/// A regex of the rules; its error is nginx's, at its directive.
pub(super) fn regex(cx: &mut Cx<'_>, text: &Text, caseless: bool) -> Option<Regex> {
    match Regex::new(&text.value, caseless) {
        Ok(re) => Some(re),
        Err(message) => {
            let mut d = Diagnostic::emerg("proxy_rewrite::regex", message, text.span, text.span);
            d.order = text.order;
            cx.sink.push(d);
            None
        }
    }
}

/// What evaluates the rules' values: nothing (every value is a literal), or the request.
pub(super) enum Eval<'a> {
    Literal,
    Request(Box<Req<'a>>),
}

impl Eval<'_> {
    pub(super) fn value<'c>(&mut self, c: &'c Complex) -> Cow<'c, [u8]> {
        match (c.as_literal(), self) {
            (Some(literal), _) => Cow::Borrowed(literal),
            (None, Eval::Request(req)) => Cow::Owned(c.eval(req)),
            (None, Eval::Literal) => Cow::Borrowed(b""),
        }
    }

    /// A regex match, which sets the request's captures (`ngx_http_regex_exec`).
    pub(super) fn matches(&mut self, re: &Regex, subject: &[u8]) -> bool {
        match self {
            Eval::Literal => re.is_match(subject),
            Eval::Request(req) => re.exec(subject, &mut req.captures),
        }
    }
}

/// nginx's `ngx_http_proxy_rewrite(value, prefix, len, replacement)`: `len` bytes of the
/// value from `prefix` on give way to `replacement`.
pub(super) struct Replaced {
    pub(super) prefix: usize,
    pub(super) len: usize,
    pub(super) replacement: Vec<u8>,
}

impl Replaced {
    pub(super) fn apply(&self, value: &[u8]) -> Vec<u8> {
        let end = self.prefix + self.len;
        [&value[..self.prefix], &self.replacement, &value[end..]].concat()
    }

    /// What nginx leaves in its buffer, which `$upstream_http_*` reads: a
    /// replacement no longer than what it replaces (and not the whole value) is written
    /// over the value in place, the rest of the value moved after it with the byte that
    /// followed it (nginx expects a terminating NUL there), the line's length unchanged.
    pub(super) fn mark(&self, line: &mut [u8], at: usize, old_len: usize) {
        if self.len == old_len || self.replacement.len() > self.len {
            return;
        }
        let start = at + self.prefix;
        let after = line.get(at + old_len).copied().unwrap_or(0);
        let mut moved = line[start + self.len..at + old_len].to_vec();
        moved.push(after);
        let written = self.replacement.iter().chain(&moved);
        for (slot, byte) in line[start..].iter_mut().zip(written) {
            *slot = *byte;
        }
    }
}

impl Rewrite {
    /// What this rule replaces in `value`, or `None` when it does not match.
    pub(super) fn apply(&self, eval: &mut Eval<'_>, value: &[u8]) -> Option<Replaced> {
        let (prefix, len) = match &self.pattern {
            Match::Prefix(p) => {
                let p = eval.value(p);
                if !value.starts_with(&p) {
                    return None;
                }
                (0, p.len())
            }
            Match::Domain(p) => {
                let dot = usize::from(value.first() == Some(&b'.'));
                if !eval.value(p).eq_ignore_ascii_case(&value[dot..]) {
                    return None;
                }
                (dot, value.len() - dot)
            }
            Match::Regex(re) => {
                if !eval.matches(re, value) {
                    return None;
                }
                (0, value.len())
            }
        };
        Some(Replaced {
            prefix,
            len,
            replacement: eval.value(&self.replacement).into_owned(),
        })
    }
}

impl Rewrite {
    /// `r` compiled; `domain` reads a value pattern as `proxy_cookie_domain` does. `variables`
    /// turns true when evaluating needs the request (regex captures included).
    pub(super) fn compile(
        cx: &mut Cx<'_>,
        reg: &Registry,
        r: &proxy_rewrite::Rewrite,
        domain: bool,
        variables: &mut bool,
    ) -> Option<Rewrite> {
        let pattern = match &r.pattern {
            Pattern::Regex { text, caseless } => Match::Regex(regex(cx, text, *caseless)?),
            Pattern::Value(text) if domain => Match::Domain(value(cx, reg, text, variables)?),
            Pattern::Value(text) => Match::Prefix(value(cx, reg, text, variables)?),
        };
        let replacement = value(cx, reg, &r.replacement, variables)?;
        Some(Rewrite {
            pattern,
            replacement,
        })
    }
}

/// A rule's value compiled, noting in `variables` whether it has any.
pub(super) fn value(
    cx: &mut Cx<'_>,
    reg: &Registry,
    text: &Text,
    variables: &mut bool,
) -> Option<Complex> {
    let c = Complex::compile(cx, reg, text)?;
    *variables |= c.as_literal().is_none();
    Some(c)
}

/// Runs `f` with what evaluates rules: nothing when none has `variables`, else the request
/// as routing left it, with `outcome`. `None` when the site is gone (a reload's old one).
pub(super) fn with_eval<R>(
    variables: bool,
    site: &Weak<Inner>,
    request: &RequestInfo<'_>,
    outcome: &Outcome,
    f: impl FnOnce(&mut Eval<'_>) -> R,
) -> Option<R> {
    if !variables {
        return Some(f(&mut Eval::Literal));
    }
    let site = site.upgrade()?;
    let mut req = super::route::prepare(&site, request);
    req.outcome = Some(outcome);
    Some(f(&mut Eval::Request(Box::new(req))))
}
