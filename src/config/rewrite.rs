//! The rewrite module's directives (`return`, `rewrite`, `set`, `if`, `break`) as a script:
//! the steps of a server or location in the order written, `if` bodies nested, read with
//! `ngx_http_rewrite_module`'s rules. `eval` resolves their variables (and `set` defines new
//! ones) whether or not ngxr serves them, as nginx does at load.

use super::location::{self, Location, Modifier};
use super::{Cx, Text};
use crate::source::Span;
use crate::syntax::Directive;

/// One directive of the rewrite module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Return(Return),
    Rewrite(Rewrite),
    /// `set $variable value`; `written` is the `$variable` argument's span.
    Set {
        variable: String,
        written: Span,
        value: Text,
    },
    If(Box<If>),
    Break,
}

/// `return code [text]` or `return URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    pub code: u16,
    /// The body, or for 301/302/303/307/308 the `Location`.
    pub text: Option<Text>,
}

/// `rewrite regex replacement [flag]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The pattern; its `order` places a compile error where nginx reports it.
    pub regex: Text,
    pub replacement: Text,
    pub flag: Flag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// No flag: go on with the next step.
    None,
    Last,
    Break,
    /// 302; also implied by a replacement starting with `http://`, `https://` or `$scheme`.
    Redirect,
    Permanent,
}

/// `if (condition) { ... }`: nginx makes the block a location of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct If {
    pub condition: Condition,
    /// The block: its steps are its `script`; inside a location, its settings are merged
    /// with the location's and a request whose condition holds goes on with them.
    pub block: Box<Location>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `($var)`: true unless empty or `0`.
    Variable(Text),
    /// `($var = value)`, `($var != value)`.
    Equal {
        variable: Text,
        value: Text,
        negate: bool,
    },
    /// `($var ~ re)`, `~*`, `!~`, `!~*`.
    Match {
        variable: Text,
        regex: Text,
        caseless: bool,
        negate: bool,
    },
    /// `(-f path)` and the other file tests (`-d`, `-e`, `-x`, each with `!`).
    File { test: String, path: Text },
}

impl Step {
    /// Reads a rewrite-module directive of the level `within` (modifier and name; `""` for
    /// a server); `None` for other directives (and for ones in error, reported to `cx`).
    pub fn lower(cx: &mut Cx<'_>, d: &Directive, within: (Modifier, &str)) -> Option<Step> {
        match d.name() {
            "return" => lower_return(cx, d).map(Step::Return),
            "rewrite" => lower_rewrite(cx, d).map(Step::Rewrite),
            "set" => {
                let variable = variable_name(cx, d, 0)?;
                let value = cx.text(d, 1)?;
                let written = d.args.first()?.span;
                Some(Step::Set {
                    variable,
                    written,
                    value,
                })
            }
            "if" => {
                let condition = condition(cx, d)?;
                let block = Box::new(location::lower_if(cx, d, within));
                Some(Step::If(Box::new(If {
                    condition,
                    block,
                    span: d.span(),
                })))
            }
            "break" => Some(Step::Break),
            _ => None,
        }
    }
}

/// The first `return` of a script, when nothing else comes before it.
pub fn leading_return(steps: &[Step]) -> Option<&Return> {
    match steps.first() {
        Some(Step::Return(r)) => Some(r),
        _ => None,
    }
}

/// Reads `return`, with `ngx_http_rewrite_return`'s rules.
fn lower_return(cx: &mut Cx<'_>, d: &Directive) -> Option<Return> {
    let first = cx.text(d, 0)?;
    if let Ok(code) = first.value.parse::<u16>() {
        if code > 999 {
            cx.error(d, format!("invalid return code \"{}\"", first.value));
            return None;
        }
        let text = if d.args.len() > 1 {
            cx.text(d, 1)
        } else {
            None
        };
        return Some(Return { code, text });
    }
    let v = &first.value;
    if d.args.len() == 1 && is_redirect(v) {
        return Some(Return {
            code: 302,
            text: Some(first),
        });
    }
    cx.error(d, format!("invalid return code \"{v}\""));
    None
}

/// A replacement or `return` target that nginx treats as a redirect.
fn is_redirect(v: &str) -> bool {
    v.starts_with("http://") || v.starts_with("https://") || v.starts_with("$scheme")
}

fn lower_rewrite(cx: &mut Cx<'_>, d: &Directive) -> Option<Rewrite> {
    let regex = cx.text(d, 0)?;
    let replacement = cx.text(d, 1)?;
    let mut flag = match d.arg(2) {
        None => Flag::None,
        Some("last") => Flag::Last,
        Some("break") => Flag::Break,
        Some("redirect") => Flag::Redirect,
        Some("permanent") => Flag::Permanent,
        Some(other) => {
            cx.error(d, format!("invalid parameter \"{other}\""));
            return None;
        }
    };
    if flag == Flag::None && is_redirect(&replacement.value) {
        flag = Flag::Redirect;
    }
    Some(Rewrite {
        regex,
        replacement,
        flag,
    })
}

/// `$name` at argument `i`, without its `$`.
fn variable_name(cx: &mut Cx<'_>, d: &Directive, i: usize) -> Option<String> {
    let t = cx.text(d, i)?;
    match t.value.strip_prefix('$').filter(|v| !v.is_empty()) {
        Some(v) => Some(v.to_string()),
        None => {
            cx.error(d, format!("invalid variable name \"{}\"", t.value));
            None
        }
    }
}

/// `ngx_http_rewrite_if_condition`: the words between the parentheses.
fn condition(cx: &mut Cx<'_>, d: &Directive) -> Option<Condition> {
    let order = cx.tree.order_of(d);
    let mut words: Vec<Text> = d
        .args
        .iter()
        .map(|w| Text {
            value: w.value.clone(),
            span: w.span,
            order,
        })
        .collect();
    let invalid = |cx: &mut Cx<'_>, w: &str| {
        cx.error(d, format!("invalid condition \"{w}\""));
    };
    match words.first_mut() {
        Some(w) if w.value.starts_with('(') => {
            w.value.remove(0);
            if w.value.is_empty() {
                words.remove(0);
            }
        }
        first => {
            let w = first.map(|w| w.value.clone()).unwrap_or_default();
            invalid(cx, &w);
            return None;
        }
    }
    match words.last_mut() {
        Some(w) if w.value.ends_with(')') => {
            w.value.pop();
            if w.value.is_empty() {
                words.pop();
            }
        }
        last => {
            let w = last.map(|w| w.value.clone()).unwrap_or_default();
            invalid(cx, &w);
            return None;
        }
    }
    let Some(first) = words.first().cloned() else {
        invalid(cx, "");
        return None;
    };
    if first.value.len() > 1 && first.value.starts_with('$') {
        return match words.as_slice() {
            [_] => Some(Condition::Variable(first)),
            [_, op, value] => {
                let (negate, caseless) = match op.value.as_str() {
                    "=" | "!=" => {
                        return Some(Condition::Equal {
                            variable: first.clone(),
                            value: value.clone(),
                            negate: op.value == "!=",
                        });
                    }
                    "~" => (false, false),
                    "~*" => (false, true),
                    "!~" => (true, false),
                    "!~*" => (true, true),
                    other => {
                        cx.error(d, format!("unexpected \"{other}\" in condition"));
                        return None;
                    }
                };
                Some(Condition::Match {
                    variable: first.clone(),
                    regex: value.clone(),
                    caseless,
                    negate,
                })
            }
            _ => {
                invalid(cx, &first.value);
                None
            }
        };
    }
    let test = first.value.as_str();
    let known = ["-f", "-d", "-e", "-x", "!-f", "!-d", "!-e", "!-x"];
    match words.as_slice() {
        [_, path] if known.contains(&test) => Some(Condition::File {
            test: test.to_string(),
            path: path.clone(),
        }),
        _ => {
            invalid(cx, test);
            None
        }
    }
}
