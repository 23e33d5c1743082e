//! Complex values (`"$host:$server_port"`, `$connection_upgrade`): split into literal parts
//! and variables once at load, evaluated per request.

use super::request::Req;
use super::vars::{Registry, Var};
use crate::config::{Cx, Text};
use crate::diag::Diagnostic;
use crate::source::Span;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(Vec<u8>),
    /// The name as written (for explain) and what it resolved to.
    Var(String, Var),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Complex {
    pub parts: Vec<Part>,
}

impl Complex {
    /// Splits `text` as `ngx_http_script_compile` does and resolves each variable; problems
    /// (`invalid variable name`, `unknown "x" variable`) go to the sink.
    pub fn compile(cx: &mut Cx<'_>, registry: &Registry, text: &Text) -> Option<Complex> {
        if !text.value.contains('$') {
            let parts = vec![Part::Literal(text.value.as_bytes().to_vec())];
            return Some(Complex { parts });
        }
        match split(&text.value) {
            Ok(raw) => {
                let mut parts = Vec::with_capacity(raw.len());
                let mut searched = 0;
                for p in raw {
                    parts.push(match p {
                        RawPart::Literal(l) => Part::Literal(l),
                        RawPart::Capture(n) => Part::Var(n.to_string(), Var::Capture(n)),
                        RawPart::Name(name) => match registry.resolve(&name) {
                            Some(var @ Var::Unsupported(_)) => {
                                let span = written_at(cx, text, &name, &mut searched);
                                let what = format!("the \"${name}\" variable");
                                cx.unsupported_at(span, text.order, &what);
                                Part::Var(name, var)
                            }
                            Some(var) => Part::Var(name, var),
                            None => {
                                cx.late_error(
                                    "variable::unknown",
                                    format!("unknown \"{name}\" variable"),
                                    text.span,
                                );
                                return None;
                            }
                        },
                    });
                }
                Some(Complex { parts })
            }
            Err(message) => {
                let mut d = Diagnostic::emerg("variable::invalid", message, text.span, text.span);
                d.order = text.order;
                cx.sink.push(d);
                None
            }
        }
    }

    /// The value when it has no variables.
    pub fn as_literal(&self) -> Option<&[u8]> {
        match self.parts.as_slice() {
            [] => Some(b""),
            [Part::Literal(l)] => Some(l),
            _ => None,
        }
    }

    pub fn eval(&self, req: &mut Req<'_>) -> Vec<u8> {
        // The common `proxy_set_header Host $host;`: the variable's value is the result.
        if let [Part::Var(name, var)] = self.parts.as_slice() {
            return req.var(name, var).unwrap_or_default();
        }
        let mut out = Vec::new();
        for p in &self.parts {
            match p {
                Part::Literal(l) => out.extend_from_slice(l),
                Part::Var(name, var) => out.extend(req.var(name, var).unwrap_or_default()),
            }
        }
        out
    }
}

/// Where `$name` (or `${name}`) is written in `text`'s source, searching on from `searched`
/// (an offset into it, moved past the match) so a name used twice gets each of its places;
/// the whole argument when the source does not spell it so.
fn written_at(cx: &Cx<'_>, text: &Text, name: &str, searched: &mut usize) -> Span {
    let raw = cx.tree.sources.text(text.span);
    let plain = format!("${name}");
    let bracketed = format!("${{{name}}}");
    let mut from = *searched;
    while let Some(at) = raw
        .get(from..)
        .and_then(|rest| rest.find('$'))
        .map(|i| from + i)
    {
        let rest = &raw[at..];
        let len = if rest.starts_with(&bracketed) {
            bracketed.len()
        } else if rest.starts_with(&plain)
            && !rest[plain.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            plain.len()
        } else {
            from = at + 1;
            continue;
        };
        *searched = at + len;
        let start = text.span.start as usize + at;
        return Span::new(text.span.file, start, start + len);
    }
    text.span
}

/// Splits a value ngxr itself defines (nginx's `combined`), whose variables all exist.
pub fn split_known(text: &str, registry: &Registry) -> Vec<Part> {
    split(text)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| match p {
            RawPart::Literal(l) => Some(Part::Literal(l)),
            RawPart::Capture(n) => Some(Part::Var(n.to_string(), Var::Capture(n))),
            RawPart::Name(name) => registry.resolve(&name).map(|v| Part::Var(name, v)),
        })
        .collect()
}

enum RawPart {
    Literal(Vec<u8>),
    Capture(usize),
    Name(String),
}

fn split(text: &str) -> Result<Vec<RawPart>, String> {
    let b = text.as_bytes();
    let mut parts = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    let invalid = || format!("invalid variable name \"{text}\"");
    while i < b.len() {
        if b[i] != b'$' {
            lit.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&c) = b.get(i) else {
            return Err(invalid());
        };
        if !lit.is_empty() {
            parts.push(RawPart::Literal(std::mem::take(&mut lit)));
        }
        if (b'1'..=b'9').contains(&c) {
            parts.push(RawPart::Capture(usize::from(c - b'0')));
            i += 1;
            continue;
        }
        let bracket = c == b'{';
        if bracket {
            i += 1;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let name = &text[start..i];
        if bracket {
            if b.get(i) != Some(&b'}') {
                return Err(format!(
                    "the closing bracket in \"{name}\" variable is missing"
                ));
            }
            i += 1;
        }
        if name.is_empty() {
            return Err(invalid());
        }
        parts.push(RawPart::Name(name.to_string()));
    }
    if !lit.is_empty() {
        parts.push(RawPart::Literal(lit));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(text: &str) -> Result<Vec<String>, String> {
        split(text).map(|parts| {
            parts
                .into_iter()
                .map(|p| match p {
                    RawPart::Literal(l) => format!("'{}'", String::from_utf8_lossy(&l)),
                    RawPart::Capture(n) => format!("${n}"),
                    RawPart::Name(n) => format!("${{{n}}}"),
                })
                .collect()
        })
    }

    #[test]
    fn splits_like_script_compile() {
        assert_eq!(
            shape("$host:$server_port").unwrap(),
            ["${host}", "':'", "${server_port}"]
        );
        assert_eq!(
            shape("${host}x$1y").unwrap(),
            ["${host}", "'x'", "$1", "'y'"]
        );
        assert_eq!(shape("a-$http_x-b").unwrap(), ["'a-'", "${http_x}", "'-b'"]);
        assert_eq!(shape("$"), Err("invalid variable name \"$\"".into()));
        assert_eq!(shape("$-"), Err("invalid variable name \"$-\"".into()));
        assert!(shape("${host").unwrap_err().contains("closing bracket"));
    }
}
