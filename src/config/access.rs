//! The access module's `allow` and `deny`: rules checked in order at the access phase, the
//! first whose address matches the client deciding (`ngx_http_access_module`); and the
//! auth_basic module's two values, checked after them.

use super::realip::{Trusted, parse_cidr};
use super::{Cx, Text};
use crate::syntax::Directive;

/// One `allow` or `deny` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// `None`: `all`, which stands in every address family's list.
    pub from: Option<Trusted>,
}

/// Reads `allow ADDR|CIDR|unix:|all` or `deny ...` into the level's list.
pub fn rule(cx: &mut Cx<'_>, d: &Directive, rules: &mut Option<Vec<Rule>>) {
    let Some(text) = d.arg(0) else {
        cx.arity(d);
        return;
    };
    let from = match text {
        "all" => None,
        "unix:" => Some(Trusted::Unix),
        _ => match parse_cidr(text) {
            Some(net) => Some(net),
            None => {
                cx.error(d, format!("invalid parameter \"{text}\""));
                return;
            }
        },
    };
    rules.get_or_insert_with(Vec::new).push(Rule {
        allow: d.name() == "allow",
        from,
    });
}

/// `auth_basic` or `auth_basic_user_file`: one value that may hold variables, kept as
/// written (`off` and the file's prefix are decided per request, as nginx does).
pub fn text(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<Text>) {
    if slot.is_some() {
        return cx.duplicate(d);
    }
    *slot = cx.text(d, 0);
}
