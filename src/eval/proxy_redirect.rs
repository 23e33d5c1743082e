//! `proxy_redirect` compiled, and applied to an upstream's `Location` (and the URL after `url=`
//! in its `Refresh`) as nginx's proxy module does (`ngx_http_proxy_rewrite_redirect`): the
//! first rule that matches rewrites the value. Unset or `default`, the rule is "the
//! `proxy_pass` URL → the location's name" (without a URI part: URL + `/` → `/`), only for a
//! URL without variables; `off` is no rule.

use std::sync::{Arc, Weak};

use super::plan::{Outcome, RedirectRewrite, RequestInfo, Rewritten};
use super::proxy_rewrite::{Match, Replaced, Rewrite, with_eval};
use super::site::Inner;
use super::value::{Complex, Part};
use super::vars::Registry;
use crate::config::Cx;
use crate::config::location::Location;
use crate::config::proxy::{ProxyPass, Redirect};
use crate::config::proxy_rewrite::{self, Pattern};

/// A location's compiled `proxy_redirect` rules.
#[derive(Debug)]
pub struct ProxyRedirects {
    rules: Vec<Rewrite>,
    /// Each rule as written (`~`/`~*` before a regex), for `explain`.
    written: Vec<(String, String)>,
    /// Some value has variables (regex captures included): evaluating needs the request.
    variables: bool,
    /// The site, to re-read the request (server, location, `set` values) as routing left it.
    site: Weak<Inner>,
}

/// The rules of `l`, which proxies to `pass`; `Some(None)` when there are none, `None` after
/// an error (reported).
pub fn compile(
    cx: &mut Cx<'_>,
    reg: &Registry,
    l: &Location,
    pass: &ProxyPass,
    site: &Weak<Inner>,
) -> Option<Option<Arc<ProxyRedirects>>> {
    let default = [Redirect::Default];
    let list = l.settings.proxy_redirect.as_deref().unwrap_or(&default);
    let mut rules = Vec::new();
    let mut written = Vec::new();
    let mut variables = false;
    for r in list {
        match (r, pass) {
            (Redirect::Off, _) => return Some(None),
            (Redirect::Default, ProxyPass::Variables(_)) => {}
            (Redirect::Default, ProxyPass::Static(sp)) => {
                let (from, to) = match &sp.url.uri {
                    Some(_) => (sp.text.value.clone(), l.name.clone()),
                    None => (format!("{}/", sp.text.value), "/".to_string()),
                };
                // Taken as they are: nginx reads no variables in either.
                let literal = |s: &str| Complex {
                    parts: vec![Part::Literal(s.as_bytes().to_vec())],
                };
                rules.push(Rewrite {
                    pattern: Match::Prefix(literal(&from)),
                    replacement: literal(&to),
                });
                written.push((from, to));
            }
            (Redirect::Replace(rule), _) => {
                rules.push(Rewrite::compile(cx, reg, rule, false, &mut variables)?);
                written.push(as_written(rule));
            }
        }
    }
    if rules.is_empty() {
        return Some(None);
    }
    Some(Some(Arc::new(ProxyRedirects {
        rules,
        written,
        variables,
        site: site.clone(),
    })))
}

fn as_written(rule: &proxy_rewrite::Rewrite) -> (String, String) {
    let pattern = match &rule.pattern {
        Pattern::Value(text) => text.value.clone(),
        Pattern::Regex { text, caseless } => {
            format!("{}{}", if *caseless { "~*" } else { "~" }, text.value)
        }
    };
    (pattern, rule.replacement.value.clone())
}

impl RedirectRewrite for ProxyRedirects {
    fn rewrite(
        &self,
        request: &RequestInfo<'_>,
        outcome: &Outcome,
        value: &[u8],
        at: usize,
    ) -> Option<Rewritten> {
        let url = value.get(at..)?;
        let replaced = with_eval(self.variables, &self.site, request, outcome, |eval| {
            self.rules.iter().find_map(|r| r.apply(eval, url))
        })??;
        // nginx rewrites the whole header value from `at` on.
        let replaced = Replaced {
            prefix: at + replaced.prefix,
            ..replaced
        };
        let mut mark = value.to_vec();
        replaced.mark(&mut mark, 0, value.len());
        Some(Rewritten {
            value: replaced.apply(value),
            mark: (mark != value).then_some(mark),
        })
    }

    fn written(&self) -> &[(String, String)] {
        &self.written
    }
}
