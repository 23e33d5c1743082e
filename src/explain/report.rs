//! The explain report as JSON: file and line of each decision, the variables read, the
//! upstream group and the upstream request, as [`crate::eval::Trace`] and the route hold them.

use serde_json::{Value, json};

use crate::eval::Trace;
use crate::eval::plan::{Balance, ProxyRequest, Response, Route, UpstreamGroup};
use crate::source::{SourceMap, Span};

fn place(sources: &SourceMap, span: Span) -> (String, usize) {
    let f = sources.file(span.file);
    (f.path.display().to_string(), f.line_col(span.start).0)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The report as JSON (the human form is printed from it too).
pub fn report(sources: &SourceMap, trace: &Trace, route: &Route) -> Value {
    let server = trace.server.as_ref().map(|s| {
        let (file, line) = place(sources, s.span);
        json!({"file": file, "line": line, "names": s.names, "why": s.why})
    });
    let candidate = |c: &crate::eval::trace::Candidate| {
        let (file, line) = place(sources, c.span);
        let matcher = if c.modifier.is_empty() {
            c.name.clone()
        } else {
            format!("{} {}", c.modifier, c.name)
        };
        json!({"file": file, "line": line, "match": matcher, "verdict": c.verdict})
    };
    let variables: serde_json::Map<String, Value> = trace
        .variables
        .iter()
        .map(|(n, v)| (n.clone(), Value::String(v.clone())))
        .collect();
    let upstream = trace.upstream.as_deref().map(group);
    let (upstream_request, response) = match route {
        Route::Proxy(p) => (
            json!({
                "method": text(&p.method),
                "uri": text(&p.uri),
                "version": p.version,
                "headers": p.headers.iter().map(|(n, v)| json!([text(n), text(v)])).collect::<Vec<_>>(),
                "body": p.body.as_deref().map(text),
                "read_timeout_ms": p.timeouts.read.as_millis() as u64,
                "connect_timeout_ms": p.timeouts.connect.as_millis() as u64,
                "send_timeout_ms": p.timeouts.send.as_millis() as u64,
                "tunnel": tunnel(p),
                "location_base": p.location_base.as_deref().map(text),
                "redirects": p.redirects.as_deref().map_or(&[][..], |r| r.written()).iter().map(|(f, t)| json!([f, t])).collect::<Vec<_>>(),
            }),
            Value::Null,
        ),
        Route::Respond(r) => (
            Value::Null,
            json!({
                "status": r.status,
                "headers": r.headers.iter().map(|(n, v)| json!([text(n), text(&sent_location(r, n, v))])).collect::<Vec<_>>(),
                "body": r.body.as_deref().map(text),
            }),
        ),
        Route::File(f) => (
            Value::Null,
            json!({
                "status": f.status,
                "headers": f.headers.iter().map(|(n, v)| json!([text(n), text(v)])).collect::<Vec<_>>(),
                "file_bytes": f.parts.iter().map(|p| p.size()).sum::<u64>(),
            }),
        ),
        // The answer waits for the subrequest, which the notes name.
        Route::Auth(_) => (Value::Null, json!({"auth_request": true})),
    };
    json!({
        "server": server,
        "location": trace.location.as_ref().map(candidate),
        "candidates": trace.candidates.iter().map(candidate).collect::<Vec<_>>(),
        "if_block": trace.if_block.map(|span| {
            let (file, line) = place(sources, span);
            json!({"file": file, "line": line})
        }),
        "variables": variables,
        "notes": trace.notes,
        "upstream": upstream,
        "upstream_request": upstream_request,
        "response": response,
    })
}

/// A header's value as the client gets it: a `Location` starting with `/` made absolute.
fn sent_location(r: &Response, name: &[u8], value: &[u8]) -> Vec<u8> {
    match &r.location_base {
        Some(base) if name.eq_ignore_ascii_case(b"location") && value.first() == Some(&b'/') => {
            [&base[..], value].concat()
        }
        _ => value.to_vec(),
    }
}

/// Whether a `101 Switching Protocols` from the upstream would open a WebSocket tunnel, and
/// why not when it would not (nginx tunnels only an HTTP/1.1 upstream request carrying
/// `Upgrade`, for a client that asked).
fn tunnel(p: &ProxyRequest) -> String {
    let upgrade = p
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(b"upgrade"));
    match (p.client_upgrade, upgrade, p.version) {
        (false, _, _) => "no: the client did not ask to upgrade".into(),
        (true, false, _) => {
            "no: the upstream request carries no Upgrade (proxy_set_header Upgrade $http_upgrade)"
                .into()
        }
        (true, true, "HTTP/1.0") => {
            "no: proxy_http_version is 1.0 (set proxy_http_version 1.1)".into()
        }
        (true, true, _) => format!(
            "yes: a 101 from the upstream opens a tunnel, closed once the upstream sends nothing for proxy_read_timeout {}s",
            p.timeouts.read.as_secs()
        ),
    }
}

fn group(g: &UpstreamGroup) -> Value {
    let policy = match &g.policy {
        Balance::RoundRobin => "round_robin",
        Balance::LeastConn => "least_conn",
        Balance::IpHash => "ip_hash",
        Balance::Hash { consistent: false } => "hash",
        Balance::Hash { consistent: true } => "hash consistent",
        Balance::Random { two: false } => "random",
        Balance::Random { two: true } => "random two",
    };
    let servers: Vec<Value> = g
        .servers
        .iter()
        .map(|s| {
            json!({"addr": &*s.name, "weight": s.weight, "max_fails": s.max_fails,
                   "fail_timeout_s": s.fail_timeout.as_secs(), "backup": s.backup, "down": s.down})
        })
        .collect();
    json!({"name": g.name, "policy": policy, "servers": servers})
}
