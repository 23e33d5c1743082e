//! The rewrite module (`ngx_http_rewrite_module` on `ngx_http_script`): each server's and
//! location's `return`, `rewrite`, `set`, `if` and `break`, compiled once at load (variables
//! resolved, regexes compiled, `set` refusing a built-in name) and run per request in the
//! order written. An `if` block's steps run in line when its condition holds, then the steps
//! after it, as nginx compiles them into one code array.

use super::regex::Regex;
use super::request::Req;
use super::site::CReturn;
use super::uri::{self, Rewritten};
use super::value::{Complex, Part};
use super::vars::{Registry, Var, definable};
use crate::config::Cx;
use crate::config::Text;
use crate::config::rewrite::{Condition, Flag, Return, Rewrite, Step};
use crate::diag::Diagnostic;

#[derive(Debug)]
pub enum CStep {
    Return(CReturn),
    Rewrite(CRewrite),
    Set { name: String, value: Complex },
    If(Box<CIf>),
    Break,
}

#[derive(Debug)]
pub struct CRewrite {
    regex: Regex,
    replacement: Complex,
    flag: Flag,
    /// The replacement did not end with `?`: the request's arguments are kept.
    add_args: bool,
    /// The replacement has arguments of its own: a redirect adds the request's after `&`.
    has_args: bool,
}

#[derive(Debug)]
pub struct CIf {
    condition: CCondition,
    steps: Vec<CStep>,
}

#[derive(Debug)]
enum CCondition {
    Variable(Complex),
    Equal(Complex, Complex, bool),
    Match(Complex, Regex, bool),
    File(Complex, FileTest, bool),
}

#[derive(Debug, Clone, Copy)]
enum FileTest {
    Plain,
    Dir,
    Exists,
    Exec,
}

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

/// Variables a script defines: `set` names and the named captures of its regexes.
pub fn defined(steps: &[Step], sets: &mut Vec<String>, captures: &mut Vec<String>) {
    for step in steps {
        match step {
            Step::Set { variable, .. } => sets.push(variable.clone()),
            Step::Rewrite(r) => captures.extend(names(&r.regex, false)),
            Step::If(i) => {
                if let Condition::Match {
                    regex, caseless, ..
                } = &i.condition
                {
                    captures.extend(names(regex, *caseless));
                }
                defined(&i.steps, sets, captures);
            }
            Step::Return(_) | Step::Break => {}
        }
    }
}

fn names(regex: &Text, caseless: bool) -> Vec<String> {
    Regex::new(&regex.value, caseless)
        .map(|re| re.names().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Compiles `steps`; `give` compiles a `return`. Problems go to `cx`, and a step in error is
/// left out (the load fails anyway).
pub fn compile(
    cx: &mut Cx<'_>,
    reg: &Registry,
    steps: &[Step],
    give: &mut dyn FnMut(&mut Cx<'_>, &Return) -> Option<CReturn>,
) -> Vec<CStep> {
    let mut out = Vec::with_capacity(steps.len());
    for step in steps {
        let compiled = match step {
            Step::Return(r) => give(cx, r).map(CStep::Return),
            Step::Rewrite(r) => rewrite(cx, reg, r).map(CStep::Rewrite),
            Step::Set { variable, value } => {
                if !definable(variable) {
                    at(cx, value, format!("the duplicate \"{variable}\" variable"));
                }
                Complex::compile(cx, reg, value).map(|value| CStep::Set {
                    name: variable.to_ascii_lowercase(),
                    value,
                })
            }
            Step::If(i) => {
                super::proxy_conf::validate(cx, reg, &i.settings);
                let condition = condition(cx, reg, &i.condition);
                let steps = compile(cx, reg, &i.steps, give);
                condition.map(|condition| CStep::If(Box::new(CIf { condition, steps })))
            }
            Step::Break => Some(CStep::Break),
        };
        out.extend(compiled);
    }
    out
}

fn rewrite(cx: &mut Cx<'_>, reg: &Registry, r: &Rewrite) -> Option<CRewrite> {
    if r.replacement.value.is_empty() {
        at(cx, &r.replacement, "empty replacement".into());
        return None;
    }
    let regex = regex(cx, &r.regex, false);
    let mut replacement = r.replacement.clone();
    // The last "?" drops the request's arguments.
    let add_args = !replacement.value.ends_with('?');
    if !add_args {
        replacement.value.pop();
    }
    let has_args = replacement.value.contains('?');
    let replacement = Complex::compile(cx, reg, &replacement);
    Some(CRewrite {
        regex: regex?,
        replacement: replacement?,
        flag: r.flag,
        add_args,
        has_args,
    })
}

fn condition(cx: &mut Cx<'_>, reg: &Registry, c: &Condition) -> Option<CCondition> {
    Some(match c {
        Condition::Variable(v) => CCondition::Variable(Complex::compile(cx, reg, v)?),
        Condition::Equal {
            variable,
            value,
            negate,
        } => {
            let left = Complex::compile(cx, reg, variable);
            let right = Complex::compile(cx, reg, value);
            CCondition::Equal(left?, right?, *negate)
        }
        Condition::Match {
            variable,
            regex: re,
            caseless,
            negate,
        } => {
            let left = Complex::compile(cx, reg, variable);
            let re = regex(cx, re, *caseless);
            CCondition::Match(left?, re?, *negate)
        }
        Condition::File { test, path } => {
            let negate = test.starts_with('!');
            let kind = match test.trim_start_matches('!') {
                "-f" => FileTest::Plain,
                "-d" => FileTest::Dir,
                "-e" => FileTest::Exists,
                _ => FileTest::Exec,
            };
            CCondition::File(Complex::compile(cx, reg, path)?, kind, negate)
        }
    })
}

fn regex(cx: &mut Cx<'_>, t: &Text, caseless: bool) -> Option<Regex> {
    match Regex::new(&t.value, caseless) {
        Ok(re) => Some(re),
        Err(message) => {
            at(cx, t, message);
            None
        }
    }
}

/// An error nginx reports while reading the directive `t` belongs to.
pub fn at(cx: &mut Cx<'_>, t: &Text, message: String) {
    let mut d = Diagnostic::emerg("rewrite::invalid", message, t.span, t.span);
    d.order = t.order;
    cx.sink.push(d);
}

/// Runs `steps` for `req` (`ngx_http_rewrite_handler`).
pub fn run<'s>(steps: &'s [CStep], req: &mut Req<'_>) -> Flow<'s> {
    let mut changed = false;
    match exec(steps, req, &mut changed) {
        Some(flow) => flow,
        None if changed => Flow::Again,
        None => Flow::Stay,
    }
}

/// `None`: the steps ran to their end.
fn exec<'s>(steps: &'s [CStep], req: &mut Req<'_>, changed: &mut bool) -> Option<Flow<'s>> {
    for step in steps {
        match step {
            CStep::Return(r) => return Some(Flow::Return(r)),
            CStep::Set { name, value } => {
                let v = value.eval(req);
                req.sets.push((name.clone(), v));
            }
            // `ngx_http_script_break_code`: a rewritten URI stays in this location.
            CStep::Break => {
                if *changed {
                    req.target.rewritten = Rewritten::InPlace;
                }
                return Some(Flow::Stay);
            }
            CStep::If(i) => {
                if test(&i.condition, req)
                    && let Some(flow) = exec(&i.steps, req, changed)
                {
                    return Some(flow);
                }
            }
            CStep::Rewrite(rw) => {
                let uri = req.target.uri.clone();
                if !rw.regex.exec(&uri, &mut req.captures) {
                    continue;
                }
                let status = match rw.flag {
                    Flag::Redirect => Some(302),
                    Flag::Permanent => Some(301),
                    _ => None,
                };
                let result = expand(&rw.replacement, req, status.is_some());
                if let Some(status) = status {
                    let mut location = uri::unescape_redirect(&result);
                    if rw.add_args && !req.target.args.is_empty() {
                        location.push(if rw.has_args { b'&' } else { b'?' });
                        location.extend_from_slice(&req.target.args);
                    }
                    return Some(Flow::Redirect(status, location));
                }
                set_uri(req, result, rw.add_args);
                match rw.flag {
                    Flag::Break => {
                        req.target.rewritten = Rewritten::InPlace;
                        return Some(Flow::Stay);
                    }
                    Flag::Last => return Some(Flow::Again),
                    _ => *changed = true,
                }
            }
        }
    }
    None
}

/// A replacement's value (`ngx_http_script_copy_capture_code`): when the request's path was
/// escaped, captures copied into arguments or a redirect are escaped again.
fn expand(replacement: &Complex, req: &mut Req<'_>, redirect: bool) -> Vec<u8> {
    let escape = req.target.quoted || req.target.uri.contains(&b'+');
    let mut in_args = redirect;
    let mut out = Vec::new();
    for part in &replacement.parts {
        match part {
            Part::Literal(l) => {
                out.extend_from_slice(l);
                in_args |= l.contains(&b'?');
            }
            Part::Var(_, Var::Capture(n)) if in_args && escape => {
                out.extend(uri::escape_args(&req.captures.get(*n)));
            }
            Part::Var(name, var) => out.extend(req.var(name, var).unwrap_or_default()),
        }
    }
    out
}

/// The new `$uri` and `$args` of an internal rewrite.
fn set_uri(req: &mut Req<'_>, result: Vec<u8>, add_args: bool) {
    req.target.rewritten = Rewritten::Located;
    let old = std::mem::take(&mut req.target.args);
    match result.iter().position(|&b| b == b'?') {
        Some(q) => {
            let mut args = result[q + 1..].to_vec();
            if add_args && !old.is_empty() {
                args.push(b'&');
                args.extend_from_slice(&old);
            }
            req.target.args = args;
            req.target.uri = result[..q].to_vec();
        }
        None => {
            if add_args {
                req.target.args = old;
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
            re.exec(&subject, &mut req.captures) != *negate
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
