//! `proxy_cookie_domain`, `proxy_cookie_path` and `proxy_cookie_flags` as written: the rules
//! that rewrite an upstream's `Set-Cookie` lines. Each directive is a list of its level; a
//! level with any of one kind inherits none of that kind, and `off` stops the inheritance
//! (`ngx_conf_merge_ptr_value`). `eval::proxy_cookie` compiles them.

use super::proxy_rewrite::{Pattern, Rewrite, regex_or_value, with_value};
use super::settings::inherit_opt;
use super::{Cx, Text};
use crate::syntax::Directive;

/// One level's cookie rules; `None` means "not set here", an empty list is `off`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyCookie {
    pub domain: Option<Vec<Rewrite>>,
    pub path: Option<Vec<Rewrite>>,
    pub flags: Option<Vec<Flags>>,
}

/// `proxy_cookie_flags COOKIE FLAG...`: the cookie's name (compared without regard to case)
/// and its flags as written (each may hold variables, and is read per request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flags {
    pub cookie: Pattern,
    pub flags: Vec<Text>,
}

impl ProxyCookie {
    pub fn inherit(&mut self, parent: &ProxyCookie) {
        inherit_opt(&mut self.domain, &parent.domain);
        inherit_opt(&mut self.path, &parent.path);
        inherit_opt(&mut self.flags, &parent.flags);
    }

    /// Whether no rule applies (the proxy module then leaves `Set-Cookie` alone).
    pub fn is_empty(&self) -> bool {
        let none = |n: Option<usize>| n.unwrap_or(0) == 0;
        none(self.domain.as_ref().map(Vec::len))
            && none(self.path.as_ref().map(Vec::len))
            && none(self.flags.as_ref().map(Vec::len))
    }

    /// Every regex of the rules, with whether it is caseless.
    pub fn regexes(&self) -> impl Iterator<Item = (&Text, bool)> {
        let rewrites = self.domain.iter().chain(&self.path).flatten();
        let flags = self.flags.iter().flatten();
        rewrites
            .map(|r| &r.pattern)
            .chain(flags.map(|f| &f.cookie))
            .filter_map(|p| match p {
                Pattern::Regex { text, caseless } => Some((text, *caseless)),
                Pattern::Value(_) => None,
            })
    }

    /// Reads `d` if it is one of the three directives; `false` otherwise.
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive) -> bool {
        match d.name() {
            "proxy_cookie_domain" => {
                if let Some(r) = start(cx, d, &mut self.domain).and_then(|()| domain(cx, d)) {
                    self.domain.get_or_insert_with(Vec::new).push(r);
                }
            }
            "proxy_cookie_path" => {
                if let Some(r) = start(cx, d, &mut self.path).and_then(|()| path(cx, d)) {
                    self.path.get_or_insert_with(Vec::new).push(r);
                }
            }
            "proxy_cookie_flags" => {
                if let Some(f) = start(cx, d, &mut self.flags).and_then(|()| flags(cx, d)) {
                    self.flags.get_or_insert_with(Vec::new).push(f);
                }
            }
            _ => return false,
        }
        true
    }
}

/// The checks every one of the three makes first: a level that said `off` takes no more,
/// `off` comes alone and only first, and one argument is `off` or nothing. `None` when the
/// directive is done with (an error, or `off` recorded).
fn start<T>(cx: &mut Cx<'_>, d: &Directive, list: &mut Option<Vec<T>>) -> Option<()> {
    if list.as_ref().is_some_and(Vec::is_empty) {
        cx.duplicate(d);
        return None;
    }
    if d.args.len() != 1 {
        return Some(());
    }
    match d.arg(0) {
        Some("off") if list.is_some() => cx.duplicate(d),
        Some("off") => *list = Some(Vec::new()),
        Some(other) => cx.error(d, format!("invalid parameter \"{other}\"")),
        None => cx.arity(d),
    }
    None
}

/// `proxy_cookie_domain`: a `~` regex is always caseless (there is no `~*`); otherwise a
/// leading dot of the domain and of the replacement is dropped (the cookie keeps its own).
fn domain(cx: &mut Cx<'_>, d: &Directive) -> Option<Rewrite> {
    let pattern = cx.text(d, 0)?;
    let mut replacement = cx.text(d, 1)?;
    let pattern = match pattern.value.strip_prefix('~') {
        Some(regex) => Pattern::Regex {
            text: with_value(&pattern, regex),
            caseless: true,
        },
        None => {
            if let Some(rest) = replacement.value.strip_prefix('.') {
                replacement = with_value(&replacement, rest);
            }
            let domain = pattern.value.strip_prefix('.').unwrap_or(&pattern.value);
            Pattern::Value(with_value(&pattern, domain))
        }
    };
    Some(Rewrite {
        pattern,
        replacement,
    })
}

/// `proxy_cookie_path`: a prefix, or a `~` / `~*` regex.
fn path(cx: &mut Cx<'_>, d: &Directive) -> Option<Rewrite> {
    let pattern = cx.text(d, 0)?;
    let replacement = cx.text(d, 1)?;
    Some(Rewrite {
        pattern: regex_or_value(pattern, true),
        replacement,
    })
}

/// `proxy_cookie_flags`: a name (with variables) or a `~` regex, which is caseless.
fn flags(cx: &mut Cx<'_>, d: &Directive) -> Option<Flags> {
    let cookie = cx.text(d, 0)?;
    let flags = (1..d.args.len()).filter_map(|i| cx.text(d, i)).collect();
    Some(Flags {
        cookie: regex_or_value(cookie, false),
        flags,
    })
}
