//! Machine-readable output: `ngxr check --format json` for editors and CI, and `ngxr dump`
//! in crossplane's format so existing crossplane tooling can read ngxr's parse.

use serde_json::{Value, json};

use crate::diag::{Diagnostic, NginxAt};
use crate::source::SourceMap;
use crate::syntax::{Body, Directive, SyntaxTree};

/// `{"diagnostics": [{severity, code, message, file, line, column, help}]}`.
pub fn diagnostics(diagnostics: &[Diagnostic], sources: &SourceMap) -> Value {
    let items: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            let (file, line, column) = match d.span {
                Some(span) => {
                    let f = sources.file(span.file);
                    let (line, col) = f.line_col(span.start);
                    (f.path.display().to_string(), line, col)
                }
                None => (String::new(), 0, 0),
            };
            json!({
                "severity": d.severity.as_str(),
                "code": d.code,
                "message": d.message,
                "file": file,
                "line": line,
                "column": column,
                "help": d.help,
            })
        })
        .collect();
    json!({ "diagnostics": items })
}

/// crossplane's `parse` output: one entry per file read, directives with line and args,
/// `include` pointing at the entries it read.
pub fn dump(tree: &SyntaxTree, diagnostics: &[Diagnostic]) -> Value {
    let mut all_errors = Vec::new();
    let config: Vec<Value> = tree
        .files
        .iter()
        .filter(|pf| !tree.sources.file(pf.file).command_line)
        .map(|pf| {
            let path = tree.sources.file(pf.file).path.display().to_string();
            let errors: Vec<Value> = diagnostics
                .iter()
                .filter(|d| d.is_error() && d.span.is_some_and(|s| s.file == pf.file))
                .map(|d| crossplane_error(d, tree))
                .collect();
            all_errors.extend(errors.iter().cloned());
            json!({
                "file": path,
                "status": if errors.is_empty() { "ok" } else { "failed" },
                "errors": errors,
                "parsed": directives(&pf.directives, tree),
            })
        })
        .collect();
    json!({
        "status": if all_errors.is_empty() { "ok" } else { "failed" },
        "errors": all_errors,
        "config": config,
    })
}

fn crossplane_error(d: &Diagnostic, tree: &SyntaxTree) -> Value {
    let (file, line) = match d.nginx_at {
        NginxAt::Line(s) => {
            let f = tree.sources.file(s.file);
            (f.path.display().to_string(), Some(f.line_col(s.start).0))
        }
        NginxAt::EndOf(id) => {
            let f = tree.sources.file(id);
            (f.path.display().to_string(), Some(f.last_line()))
        }
        NginxAt::Nowhere => (String::new(), None),
    };
    let error = match line {
        Some(l) => format!("{} in {file}:{l}", d.message),
        None => d.message.clone(),
    };
    json!({ "file": file, "line": line, "error": error })
}

fn directives(ds: &[Directive], tree: &SyntaxTree) -> Vec<Value> {
    ds.iter()
        .map(|d| {
            let line = tree
                .sources
                .file(d.name.span.file)
                .line_col(d.name.span.start)
                .0;
            let mut args: Vec<Value> = d.args.iter().map(|a| json!(a.value)).collect();
            let mut obj = json!({ "directive": d.name(), "line": line });
            match &d.body {
                Body::Block { children, .. } => obj["block"] = json!(directives(children, tree)),
                Body::Raw { text, .. } => args.push(json!(text)),
                Body::None => {}
            }
            obj["args"] = json!(args);
            if d.name() == "include" {
                obj["includes"] = json!(d.includes.iter().map(|f| f.0).collect::<Vec<_>>());
            }
            obj
        })
        .collect()
}
