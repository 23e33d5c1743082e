//! The rewrite module per request (`ngx_http_rewrite_handler` running the script engine's
//! codes): the steps in order, `if` bodies in line, until a `return`, a redirect, `break`, a
//! `last`, or the end. A true `if` inside a location leaves the request with the block's
//! configuration, also after the block's steps (the last true `if` wins).

use super::{CCondition, CStep, FileTest};
use crate::config::rewrite::Flag;
use crate::eval::plan::ErrorLine;
use crate::eval::request::Req;
use crate::eval::site::{Action, CLocation, CReturn};
use crate::eval::uri::{self, Rewritten};
use crate::eval::value::{Complex, Part};
use crate::eval::vars::Var;

/// How a script ended.
#[derive(Debug)]
pub enum Flow<'s> {
    /// Go on in this location (`break`, `rewrite ... break`, or nothing changed the URI).
    Stay,
    /// The URI was rewritten: search the locations again.
    Again,
    /// `return`.
    Return(&'s CReturn),
    /// A redirecting `rewrite`: 301 or 302 and the `Location`.
    Redirect(u16, Vec<u8>),
}

/// What a script did.
#[derive(Debug)]
pub struct Ran<'s> {
    pub flow: Flow<'s>,
    /// The configuration of the last `if` block whose condition held, which the request
    /// keeps (nginx's `r->loc_conf`); `None`: the level's own.
    pub config: Option<&'s CLocation>,
    /// An `if` block whose condition held has a `proxy_pass`: the proxy became nginx's
    /// content handler, which a later block without one does not reset
    /// (`r->content_handler`).
    pub proxy_handler: bool,
}

/// Runs `steps` for `req` (`ngx_http_rewrite_handler`).
pub fn run<'s>(steps: &'s [CStep], req: &mut Req<'_>) -> Ran<'s> {
    let mut state = State {
        changed: false,
        config: None,
        proxy_handler: false,
    };
    let flow = match exec(steps, req, &mut state) {
        Some(flow) => flow,
        None if state.changed => Flow::Again,
        None => Flow::Stay,
    };
    Ran {
        flow,
        config: state.config,
        proxy_handler: state.proxy_handler,
    }
}

/// What the steps run so far left behind.
struct State<'s> {
    /// A `rewrite` without a flag changed the URI.
    changed: bool,
    config: Option<&'s CLocation>,
    proxy_handler: bool,
}

/// `None`: the steps ran to their end.
fn exec<'s>(steps: &'s [CStep], req: &mut Req<'_>, state: &mut State<'s>) -> Option<Flow<'s>> {
    for step in steps {
        match step {
            CStep::Return(r) => return Some(Flow::Return(r)),
            CStep::Set { name, value } => {
                let v = value.eval(req);
                req.sets.push((name.clone(), v));
            }
            CStep::SetArgs(value) => {
                let v = value.eval(req);
                req.set_args(v);
            }
            // `ngx_http_variable_set_limit_rate`: a value that is no size changes nothing.
            CStep::SetLimitRate(value) => {
                let v = value.eval(req);
                match super::super::output::literal_size(&v) {
                    Some(rate) => req.limit_rate = Some(rate),
                    None => req.errors.push(ErrorLine::error(format!(
                        "invalid $limit_rate \"{}\"",
                        String::from_utf8_lossy(&v)
                    ))),
                }
            }
            // `ngx_http_script_break_code`: a rewritten URI stays in this location.
            CStep::Break => {
                if state.changed {
                    req.target.rewritten = Rewritten::InPlace;
                }
                return Some(Flow::Stay);
            }
            CStep::If(i) => {
                if !test(&i.condition, req) {
                    continue;
                }
                if let Some(config) = &i.config {
                    state.config = Some(config);
                    state.proxy_handler |= matches!(config.action, Action::Proxy(_));
                }
                if let Some(flow) = exec(&i.steps, req, state) {
                    return Some(flow);
                }
            }
            CStep::Rewrite(rw) => {
                let uri = req.target.uri.clone();
                if !rw.regex.exec(&uri, &mut req.captures) {
                    req.captures.forget();
                    continue;
                }
                let status = match rw.flag {
                    Flag::Redirect => Some(302),
                    Flag::Permanent => Some(301),
                    _ => None,
                };
                let (result, split) = expand(&rw.replacement, req, status.is_some());
                if let Some(status) = status {
                    let mut location = uri::unescape_redirect(&result);
                    if rw.add_args && !req.target.args.is_empty() {
                        location.push(if rw.has_args { b'&' } else { b'?' });
                        location.extend_from_slice(&req.target.args);
                    }
                    return Some(Flow::Redirect(status, location));
                }
                set_uri(req, result, split, rw.add_args);
                match rw.flag {
                    Flag::Break => {
                        req.target.rewritten = Rewritten::InPlace;
                        return Some(Flow::Stay);
                    }
                    Flag::Last => return Some(Flow::Again),
                    _ => state.changed = true,
                }
            }
        }
    }
    None
}

/// A replacement's value (`ngx_http_script_copy_capture_code`): when the request's path was
/// escaped, captures copied into arguments or a redirect are escaped again. Also where the
/// replacement's own first `?` is in it: the arguments start there (nginx compiles that `?`
/// into the script; one a capture or a variable brings stays in the URI).
fn expand(replacement: &Complex, req: &mut Req<'_>, redirect: bool) -> (Vec<u8>, Option<usize>) {
    let escape = req.target.quoted || req.target.uri.contains(&b'+');
    let mut in_args = redirect;
    let mut split = None;
    let mut out = Vec::new();
    for part in &replacement.parts {
        match part {
            Part::Literal(l) => {
                let question = l.iter().position(|&b| b == b'?');
                if split.is_none() {
                    split = question.map(|q| out.len() + q);
                }
                out.extend_from_slice(l);
                in_args |= question.is_some();
            }
            Part::Var(_, Var::Capture(n)) if in_args && escape => {
                out.extend(uri::escape_args(&req.captures.get(*n)));
            }
            Part::Var(name, var) => out.extend(req.var(name, var).unwrap_or_default()),
        }
    }
    (out, split)
}

/// The new `$uri` and `$args` of an internal rewrite (`ngx_http_script_regex_end_code`):
/// the arguments are what follows the replacement's own `?` at `split`, then the request's
/// unless the replacement ends in `?`.
fn set_uri(req: &mut Req<'_>, result: Vec<u8>, split: Option<usize>, add_args: bool) {
    req.target.rewritten = Rewritten::Located;
    let old = std::mem::take(&mut req.target.args);
    match split {
        Some(q) => {
            let mut args = result[q + 1..].to_vec();
            if add_args && !old.is_empty() {
                args.push(b'&');
                args.extend_from_slice(&old);
            }
            req.target.empty_args = args.is_empty();
            req.target.args = args;
            req.target.uri = result[..q].to_vec();
        }
        None => {
            if add_args {
                req.target.args = old;
            } else {
                // The arguments' length is set to 0, where they were: found, if there
                // were any.
                req.target.empty_args |= !old.is_empty();
            }
            req.target.uri = result;
        }
    }
}

fn test(c: &CCondition, req: &mut Req<'_>) -> bool {
    match c {
        CCondition::Variable(v) => {
            let v = v.eval(req);
            !(v.is_empty() || v == b"0")
        }
        CCondition::Equal(l, r, negate) => (l.eval(req) == r.eval(req)) != *negate,
        CCondition::Match(l, re, negate) => {
            let subject = l.eval(req);
            let matched = re.exec(&subject, &mut req.captures);
            if !matched {
                req.captures.forget();
            }
            matched != *negate
        }
        CCondition::File(path, kind, negate) => {
            let path = String::from_utf8_lossy(&path.eval(req)).into_owned();
            let meta = std::fs::metadata(path).ok();
            let holds = match kind {
                FileTest::Plain => meta.is_some_and(|m| m.is_file()),
                FileTest::Dir => meta.is_some_and(|m| m.is_dir()),
                FileTest::Exists => meta.is_some(),
                FileTest::Exec => {
                    use std::os::unix::fs::PermissionsExt;
                    meta.is_some_and(|m| m.permissions().mode() & 0o111 != 0)
                }
            };
            holds != *negate
        }
    }
}
