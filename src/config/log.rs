//! `log_format`: a named format and how variable values are escaped in it; where an
//! `access_log` or `error_log` writes.

use std::path::PathBuf;

use super::syslog::Syslog;
use super::{Cx, Text};
use crate::syntax::Directive;

/// Where a log's lines go: a file (`stderr` included), or a syslog server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogTarget {
    File(PathBuf),
    Syslog(Syslog),
}

impl LogTarget {
    /// The `access_log`/`error_log` argument `value`: `syslog:...` (the error is nginx's),
    /// `stderr`, or a path relative to the prefix.
    pub fn parse(cx: &Cx<'_>, value: &str) -> Result<LogTarget, String> {
        if value.starts_with("syslog:") {
            return super::syslog::parse(value).map(LogTarget::Syslog);
        }
        Ok(LogTarget::File(match value {
            "stderr" => PathBuf::from(value),
            _ => cx.prefixed(value),
        }))
    }
}

impl std::fmt::Display for LogTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogTarget::File(path) => write!(f, "{}", path.display()),
            LogTarget::Syslog(_) => f.write_str("syslog"),
        }
    }
}

/// How an `access_log` file gathers its lines (`buffer=`, `flush=`, `gzip`): up to `size`
/// bytes, written when the next line does not fit, once the oldest has waited `flush`, and on
/// reopen and exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBuffer {
    pub size: usize,
    pub flush: Option<std::time::Duration>,
    /// `gzip[=level]`: each write is one whole gzip member at this level (nginx's
    /// `ngx_http_log_gzip`), so the file is gzip members back to back, which `zcat` reads.
    pub gzip: Option<u32>,
}

/// `escape=default|json|none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    Default,
    Json,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormatDef {
    pub name: String,
    pub escape: Escape,
    /// The format strings, concatenated by nginx without separator.
    pub parts: Vec<Text>,
}

/// Lowers `log_format NAME [escape=...] STRING ...`.
pub fn lower_format(
    cx: &mut Cx<'_>,
    d: &Directive,
    known: &[LogFormatDef],
) -> Option<LogFormatDef> {
    let Some(name) = d.arg(0) else {
        cx.arity(d);
        return None;
    };
    if name == "combined" || known.iter().any(|f| f.name == name) {
        cx.error(d, format!("duplicate \"log_format\" name \"{name}\""));
        return None;
    }
    let mut first = 1;
    let mut escape = Escape::Default;
    if let Some(e) = d.arg(1).and_then(|a| a.strip_prefix("escape=")) {
        escape = match e {
            "default" => Escape::Default,
            "json" => Escape::Json,
            "none" => Escape::None,
            _ => {
                cx.error(d, format!("unknown log format escaping \"{e}\""));
                return None;
            }
        };
        first = 2;
    }
    let parts = (first..d.args.len())
        .filter_map(|i| cx.text(d, i))
        .collect();
    Some(LogFormatDef {
        name: name.to_string(),
        escape,
        parts,
    })
}
