//! The rewrite module (`ngx_http_rewrite_module` on `ngx_http_script`): each server's and
//! location's `return`, `rewrite`, `set`, `if` and `break`, compiled once at load (variables
//! resolved, regexes compiled, `set` refusing a built-in name) and run per request in the
//! order written. An `if` block's steps run in line when its condition holds, then the steps
//! after it, as nginx compiles them into one code array; inside a location the request also
//! takes the block's configuration (`ngx_http_script_if_code` switching `r->loc_conf`). This
//! file compiles; `run.rs` runs.

mod run;

pub use run::{Flow, run};

use super::regex::Regex;
use super::site::{CLocation, CReturn};
use super::value::Complex;
use super::vars::{Registry, definable, has_set_handler};
use crate::config::Cx;
use crate::config::Text;
use crate::config::rewrite::{Condition, Flag, Return, Rewrite, Step};
use crate::diag::Diagnostic;

#[derive(Debug)]
pub enum CStep {
    Return(CReturn),
    Rewrite(CRewrite),
    Set {
        name: String,
        value: Complex,
    },
    /// `set $limit_rate`: the request's rate, parsed as a size.
    SetLimitRate(Complex),
    /// `set $args`: the request's arguments (see `Req::set_args`).
    SetArgs(Complex),
    If(Box<CIf>),
    Break,
}

#[derive(Debug)]
pub struct CRewrite {
    pub(super) regex: Regex,
    pub(super) replacement: Complex,
    pub(super) flag: Flag,
    /// The replacement did not end with `?`: the request's arguments are kept.
    pub(super) add_args: bool,
    /// The replacement has arguments of its own: a redirect adds the request's after `&`.
    pub(super) has_args: bool,
}

#[derive(Debug)]
pub struct CIf {
    pub(super) condition: CCondition,
    pub(super) steps: Vec<CStep>,
    /// The block's configuration, merged with its location's; `None` at the server level,
    /// where nginx switches nothing.
    pub config: Option<Box<CLocation>>,
}

#[derive(Debug)]
pub(super) enum CCondition {
    Variable(Complex),
    Equal(Complex, Complex, bool),
    Match(Complex, Regex, bool),
    File(Complex, FileTest, bool),
}

#[derive(Debug, Clone, Copy)]
pub(super) enum FileTest {
    Plain,
    Dir,
    Exists,
    Exec,
}

/// Variables a script defines: `set` names and the named captures of its regexes.
pub fn defined(steps: &[Step], sets: &mut Vec<String>, captures: &mut Vec<String>) {
    for step in steps {
        match step {
            Step::Set { variable, .. } if has_set_handler(variable) => {}
            Step::Set { variable, .. } => sets.push(variable.clone()),
            Step::Rewrite(r) => captures.extend(names(&r.regex, false)),
            Step::If(i) => {
                if let Condition::Match {
                    regex, caseless, ..
                } = &i.condition
                {
                    captures.extend(names(regex, *caseless));
                }
                defined(&i.block.script, sets, captures);
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

/// Compiles `steps`; `give` compiles a `return`, `blocks` gives each `if` in order its
/// compiled configuration (nothing at the server level). Problems go to `cx`, and a step in
/// error is left out (the load fails anyway).
pub fn compile(
    cx: &mut Cx<'_>,
    reg: &Registry,
    steps: &[Step],
    give: &mut dyn FnMut(&mut Cx<'_>, &Return) -> Option<CReturn>,
    blocks: &mut dyn Iterator<Item = Option<Box<CLocation>>>,
) -> Vec<CStep> {
    let mut out = Vec::with_capacity(steps.len());
    for step in steps {
        let compiled = match step {
            Step::Return(r) => give(cx, r).map(CStep::Return),
            Step::Rewrite(r) => rewrite(cx, reg, r).map(CStep::Rewrite),
            Step::Set {
                variable, value, ..
            } => {
                if !definable(variable) {
                    at(cx, value, format!("the duplicate \"{variable}\" variable"));
                }
                let value = Complex::compile(cx, reg, value);
                if variable.eq_ignore_ascii_case("args") {
                    value.map(CStep::SetArgs)
                } else if has_set_handler(variable) {
                    value.map(CStep::SetLimitRate)
                } else {
                    value.map(|value| CStep::Set {
                        name: variable.to_ascii_lowercase(),
                        value,
                    })
                }
            }
            Step::If(i) => {
                let config = blocks.next().flatten();
                let condition = condition(cx, reg, &i.condition);
                let steps = compile(cx, reg, &i.block.script, give, blocks);
                condition.map(|condition| {
                    CStep::If(Box::new(CIf {
                        condition,
                        steps,
                        config,
                    }))
                })
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
