//! `map` blocks as written: the source value, the variable it defines, and the entries in file
//! order (with `include`s spliced in). `eval::map` turns them into a lookup table.

use super::{Cx, Text};
use crate::source::Span;
use crate::syntax::Directive;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    pub source: Text,
    /// The variable's name without `$`.
    pub variable: String,
    pub span: Span,
    pub hostnames: bool,
    pub volatile: bool,
    pub default: Option<Text>,
    /// Keys as written (`~re`, `~*re`, `*.example.com`, exact), in file order.
    pub entries: Vec<MapEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    pub key: String,
    pub value: Text,
    pub span: Span,
}

/// Lowers `map SOURCE $VARIABLE { ... }`.
pub fn lower(cx: &mut Cx<'_>, d: &Directive) -> Option<Map> {
    let source = cx.text(d, 0)?;
    let var = cx.text(d, 1)?;
    let Some(variable) = var.value.strip_prefix('$').filter(|v| !v.is_empty()) else {
        cx.error(d, format!("invalid variable name \"{}\"", var.value));
        return None;
    };
    let mut map = Map {
        source,
        variable: variable.to_string(),
        span: d.span(),
        hostnames: false,
        volatile: false,
        default: None,
        entries: Vec::new(),
    };
    for c in cx.tree.expand(d.children()) {
        let key = c.name();
        match (key, c.args.len()) {
            ("hostnames", 0) => map.hostnames = true,
            ("volatile", 0) => map.volatile = true,
            (_, 1) => {
                let Some(value) = cx.text(c, 0) else { continue };
                if key == "default" {
                    if map.default.is_some() {
                        cx.error(c, "duplicate default map parameter");
                    }
                    map.default = Some(value);
                    continue;
                }
                let key = key.strip_prefix('\\').unwrap_or(key).to_string();
                map.entries.push(MapEntry {
                    key,
                    value,
                    span: c.span(),
                });
            }
            _ => cx.error(c, "invalid number of the map parameters"),
        }
    }
    Some(map)
}
