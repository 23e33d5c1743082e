//! The access module's `allow` and `deny`: rules checked in order at the access phase, the
//! first whose address matches the client deciding (`ngx_http_access_module`); and the
//! auth_basic module's two values, checked after them; and the auth_request module's, whose
//! subrequest is asked last.

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

/// One `auth_request_set $variable value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSet {
    /// The name without its `$`.
    pub variable: String,
    pub value: Text,
}

/// `auth_request URI | off` (`off` is kept, so that a level turns an inherited one off).
pub fn auth_request(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<Option<Text>>) {
    if slot.is_some() {
        return cx.duplicate(d);
    }
    *slot = Some(cx.text(d, 0).filter(|t| t.value != "off"));
}

/// `auth_request_set $variable value`, added to the level's list.
pub fn auth_request_set(cx: &mut Cx<'_>, d: &Directive, list: &mut Option<Vec<AuthSet>>) {
    let (Some(name), Some(value)) = (d.arg(0), cx.text(d, 1)) else {
        return;
    };
    let Some(variable) = name.strip_prefix('$') else {
        cx.error(d, format!("invalid variable name \"{name}\""));
        return;
    };
    list.get_or_insert_with(Vec::new).push(AuthSet {
        variable: variable.to_string(),
        value,
    });
}
