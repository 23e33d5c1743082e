//! Compiled `log_format`s and the access logs of each level. A format renders a line from the
//! request and what the runtime learned serving it, escaping variable values as nginx does
//! (`escape=default`: `"`, `\`, control and non-ASCII bytes as `\xXX`; `escape=json`).

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use super::plan::{LogFile, LogFormat, LogSpec, LogTarget, Outcome, RequestInfo};
use super::request::Req;
use super::site::Inner;
use super::value::{Complex, Part};
use super::vars::{Registry, Var};
use crate::config::log::{Escape, LogFormatDef};
use crate::config::settings::AccessLog;
use crate::config::{Cx, Text};

/// nginx's predefined `combined` format.
pub const COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

#[derive(Debug)]
pub struct CompiledLogFormat {
    pub name: String,
    escape: Escape,
    value: Complex,
    /// The site, to re-derive server and location variables when the line is written.
    site: Weak<Inner>,
}

impl CompiledLogFormat {
    pub fn compile(
        cx: &mut Cx<'_>,
        reg: &Registry,
        def: &LogFormatDef,
        site: &Weak<Inner>,
    ) -> Option<Arc<CompiledLogFormat>> {
        // One span over every part, so a variable's own place can be found in it.
        let joined = Text {
            value: def.parts.iter().map(|t| t.value.as_str()).collect(),
            span: def.parts.first()?.span.to(def.parts.last()?.span),
            order: def.parts.first()?.order,
        };
        Some(Arc::new(CompiledLogFormat {
            name: def.name.clone(),
            escape: def.escape,
            value: Complex::compile(cx, reg, &joined)?,
            site: site.clone(),
        }))
    }

    pub fn combined(site: &Weak<Inner>) -> Arc<CompiledLogFormat> {
        let reg = Registry::default();
        let value = Complex {
            parts: super::value::split_known(COMBINED, &reg),
        };
        Arc::new(CompiledLogFormat {
            name: "combined".into(),
            escape: Escape::Default,
            value,
            site: site.clone(),
        })
    }
}

impl LogFormat for CompiledLogFormat {
    fn render_sized(&self, request: &RequestInfo<'_>, outcome: &Outcome) -> (Vec<u8>, usize) {
        let Some(site) = self.site.upgrade() else {
            return (b"\n".to_vec(), 1);
        };
        let mut req = super::route::prepare(&site, request);
        req.outcome = Some(outcome);
        self.line(&mut req)
    }
}

impl CompiledLogFormat {
    /// The line and its room (see [`LogFormat::render_sized`]).
    fn line(&self, req: &mut Req<'_>) -> (Vec<u8>, usize) {
        let mut line = Vec::new();
        let mut room = 0;
        for part in &self.value.parts {
            let before = line.len();
            match part {
                Part::Literal(l) => line.extend_from_slice(l),
                Part::Var(name, var) => match (req.var(name, var), self.escape) {
                    (None, Escape::Default) => line.push(b'-'),
                    (None, _) => {}
                    (Some(v), Escape::Default) => escape_default(&v, &mut line),
                    (Some(v), Escape::Json) => escape_json(&v, &mut line),
                    (Some(v), Escape::None) => line.extend_from_slice(&v),
                },
            }
            room += match part {
                Part::Var(_, var) => widest(var),
                Part::Literal(_) => None,
            }
            .unwrap_or(line.len() - before);
        }
        line.push(b'\n');
        (line, room + 1)
    }
}

/// The width `ngx_http_log_vars` gives the log module's own variables (a 64-bit build's
/// `NGX_INT_T_LEN`, `NGX_OFF_T_LEN`... are 20), whatever their value.
fn widest(var: &Var) -> Option<usize> {
    Some(match var {
        Var::Pipe => 1,
        Var::TimeLocal => "28/Sep/1970:12:00:00 +0600".len(),
        Var::TimeIso8601 => "1970-09-28T12:00:00+06:00".len(),
        Var::Msec | Var::RequestTime => 20 + 4,
        Var::Status | Var::BytesSent | Var::BodyBytesSent | Var::RequestLength => 20,
        _ => return None,
    })
}

/// An `access_log ... if=CONDITION`: nothing is written when the condition is empty or `0`.
#[derive(Debug)]
struct Conditional {
    condition: Complex,
    format: Arc<CompiledLogFormat>,
}

impl LogFormat for Conditional {
    fn render_sized(&self, request: &RequestInfo<'_>, outcome: &Outcome) -> (Vec<u8>, usize) {
        let Some(site) = self.format.site.upgrade() else {
            return (Vec::new(), 0);
        };
        let mut req = super::route::prepare(&site, request);
        req.outcome = Some(outcome);
        match &self.condition.eval(&mut req)[..] {
            b"" | b"0" => (Vec::new(), 0),
            _ => self.format.line(&mut req),
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `ngx_http_log_escape`.
fn escape_default(v: &[u8], out: &mut Vec<u8>) {
    for &b in v {
        if !(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\' {
            out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.push(b);
        }
    }
}

/// `ngx_escape_json`.
fn escape_json(v: &[u8], out: &mut Vec<u8>) {
    for &b in v {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
            _ => out.push(b),
        }
    }
}

/// The access logs of one level: `access_log off` → none; unset → nginx's default file with
/// `combined`. `errors` are the level's `error_log`s, if it has any.
pub fn spec(
    cx: &mut Cx<'_>,
    reg: &Registry,
    logs: Option<&[AccessLog]>,
    errors: Option<&[(LogTarget, String)]>,
    formats: &[Arc<CompiledLogFormat>],
    combined: &Arc<CompiledLogFormat>,
) -> Arc<LogSpec> {
    let default = [AccessLog::File {
        target: LogTarget::File(PathBuf::from(crate::defaults::http::ACCESS_LOG)),
        format: "combined".into(),
        condition: None,
        buffer: None,
        span: crate::source::Span::new(crate::source::FileId(0), 0, 0),
    }];
    let logs = logs.unwrap_or(&default);
    let errors = errors.map(<[_]>::to_vec).unwrap_or_default();
    let mut files = Vec::new();
    for log in logs {
        match log {
            AccessLog::Off => {
                return Arc::new(LogSpec {
                    files: Vec::new(),
                    errors,
                    subrequests: false,
                    post_action: false,
                });
            }
            AccessLog::File {
                target,
                format,
                condition,
                buffer,
                span,
            } => {
                let f = if format == "combined" {
                    Some(combined.clone())
                } else {
                    formats.iter().find(|f| &f.name == format).cloned()
                };
                let f: Option<Arc<dyn LogFormat>> = match (f, condition) {
                    (Some(format), Some(c)) => Complex::compile(cx, reg, c)
                        .map(|condition| Arc::new(Conditional { condition, format }) as _),
                    (f, _) => f.map(|f| f as _),
                };
                match f {
                    Some(format) => files.push(LogFile {
                        target: target.clone(),
                        format,
                        buffer: *buffer,
                    }),
                    None => cx.late_error_at(
                        "log::unknown_format",
                        format!("unknown log format \"{format}\""),
                        *span,
                    ),
                }
            }
        }
    }
    Arc::new(LogSpec {
        files,
        errors,
        subrequests: false,
        post_action: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_nginx() {
        let mut out = Vec::new();
        escape_default(b"a\"b\\c\x01\xc3", &mut out);
        assert_eq!(out, b"a\\x22b\\x5Cc\\x01\\xC3");
        let mut out = Vec::new();
        escape_json(b"a\"\n\x01", &mut out);
        assert_eq!(out, b"a\\\"\\n\\u0001");
    }
}
