//! The rewrite module's steps checked as nginx compiles them at load: every value's
//! variables resolved, every regex compiled, `set` refusing a built-in name. ngxr serves only
//! a leading `return` (the other steps stay unsupported, see `directives::support`), but
//! `nginx -t` rejects a script with an unknown variable whichever it is.

use super::regex::Regex;
use super::value::Complex;
use super::vars::{Registry, definable};
use crate::config::Cx;
use crate::config::Text;
use crate::config::rewrite::{Condition, Step};
use crate::diag::Diagnostic;

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

/// Compiles every value and regex of `steps`, reporting problems to `cx`.
pub fn check(cx: &mut Cx<'_>, reg: &Registry, steps: &[Step]) {
    for step in steps {
        match step {
            Step::Return(r) => {
                if let Some(t) = &r.text {
                    Complex::compile(cx, reg, t);
                }
            }
            Step::Rewrite(r) => {
                regex(cx, &r.regex, false);
                Complex::compile(cx, reg, &r.replacement);
            }
            Step::Set { variable, value } => {
                if !definable(variable) {
                    at(cx, value, format!("the duplicate \"{variable}\" variable"));
                }
                Complex::compile(cx, reg, value);
            }
            Step::If(i) => {
                match &i.condition {
                    Condition::Variable(v) => {
                        Complex::compile(cx, reg, v);
                    }
                    Condition::Equal {
                        variable, value, ..
                    } => {
                        Complex::compile(cx, reg, variable);
                        Complex::compile(cx, reg, value);
                    }
                    Condition::Match {
                        variable,
                        regex: re,
                        caseless,
                        ..
                    } => {
                        Complex::compile(cx, reg, variable);
                        regex(cx, re, *caseless);
                    }
                    Condition::File { path, .. } => {
                        Complex::compile(cx, reg, path);
                    }
                }
                super::proxy_conf::validate(cx, reg, &i.settings);
                check(cx, reg, &i.steps);
            }
            Step::Break => {}
        }
    }
}

fn regex(cx: &mut Cx<'_>, t: &Text, caseless: bool) {
    if let Err(message) = Regex::new(&t.value, caseless) {
        at(cx, t, message);
    }
}

/// An error nginx reports while reading the directive `t` belongs to.
pub fn at(cx: &mut Cx<'_>, t: &Text, message: String) {
    let mut d = Diagnostic::emerg("rewrite::invalid", message, t.span, t.span);
    d.order = t.order;
    cx.sink.push(d);
}
