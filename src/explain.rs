//! `ngxr explain`: shows how nginx would route one request under a configuration — the
//! server and why, the location and the candidates it beat, the variables and maps read, the
//! upstream group, and the exact upstream request — by running the same routing the proxy
//! runs, with a trace.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::cli::{ExplainArgs, Format, Paths};
use crate::diag::Sink;
use crate::eval::plan::{Balance, ProxyRequest, RequestInfo, Route, Site, UpstreamGroup};
use crate::eval::{Compiled, Trace};
use crate::source::{SourceMap, Span};

/// The client port explain pretends the request came from (`$remote_port`).
const REMOTE_PORT: u16 = 40000;

pub fn run(args: &ExplainArgs) -> ExitCode {
    match explain(args) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// The report, or what stopped it (unreadable or invalid configuration, bad arguments).
pub fn explain(args: &ExplainArgs) -> Result<String, String> {
    let paths = Paths::resolve(args.prefix.as_deref(), args.conf.as_deref());
    let loaded = crate::load::load(&paths).map_err(|e| format!("ngxr: [emerg] {e}"))?;
    if loaded.has_errors() {
        let lines: Vec<String> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| match d.span {
                Some(s) => format!(
                    "ngxr: [emerg] {} ({})",
                    d.message,
                    loaded.tree.sources.nginx_pos(s)
                ),
                None => format!("ngxr: [emerg] {}", d.message),
            })
            .collect();
        return Err(lines.join("\n"));
    }
    // The loaded site is only known as `dyn Site`; compile once more for the traced routing.
    let site = crate::eval::compile(&loaded.tree, &paths, &mut Sink::default())
        .ok_or_else(|| "ngxr: the configuration could not be compiled".to_string())?;
    let request = Request::parse(args, &site)?;
    let info = request.info();
    let mut trace = Trace::default();
    let route = site.route_traced(&info, &mut trace);
    let report = report(&loaded.tree.sources, &trace, &route);
    Ok(match args.format {
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default(),
        Format::Human => human(&report),
    })
}

/// The request explain was asked about, owned.
struct Request {
    method: String,
    target: String,
    version: String,
    headers: Vec<(Bytes, Bytes)>,
    listen: SocketAddr,
    local: SocketAddr,
    remote: SocketAddr,
    tls: bool,
    sni: Option<String>,
}

impl Request {
    fn parse(args: &ExplainArgs, site: &Compiled) -> Result<Request, String> {
        let mut words = args.request.split_whitespace();
        let (Some(method), Some(target)) = (words.next(), words.next()) else {
            return Err(format!(
                "ngxr: the request must be 'METHOD TARGET [VERSION]', not {:?}",
                args.request
            ));
        };
        let version = words.next().unwrap_or("HTTP/1.1").to_string();
        let mut headers = Vec::new();
        for h in &args.headers {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| format!("ngxr: a header is 'Name: value', not {h:?}"))?;
            headers.push((
                Bytes::from(name.trim().to_string()),
                Bytes::from(value.trim().to_string()),
            ));
        }
        let listens = site.listens();
        let listen = match &args.listen {
            Some(l) => l
                .parse::<SocketAddr>()
                .map_err(|_| format!("ngxr: --listen wants ADDR:PORT, not {l:?}"))?,
            None => listens
                .first()
                .map(|l| l.addr)
                .ok_or("ngxr: the configuration listens nowhere")?,
        };
        let local = match listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listen.port())
            }
            _ => listen,
        };
        let remote_ip = args.remote_addr.parse::<IpAddr>().map_err(|_| {
            format!(
                "ngxr: --remote-addr wants an IP address, not {:?}",
                args.remote_addr
            )
        })?;
        let tls = listens.iter().any(|l| l.addr == listen && l.ssl);
        let sni = tls
            .then(|| {
                headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(b"host"))
            })
            .flatten()
            .map(|(_, v)| {
                String::from_utf8_lossy(v)
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            });
        Ok(Request {
            method: method.to_string(),
            target: target.to_string(),
            version,
            headers,
            listen,
            local,
            remote: SocketAddr::new(remote_ip, REMOTE_PORT),
            tls,
            sni,
        })
    }

    fn info(&self) -> RequestInfo<'_> {
        RequestInfo {
            listen: self.listen,
            remote: self.remote,
            local: self.local,
            sni: self.sni.as_deref(),
            tls: self.tls,
            method: &self.method,
            target: &self.target,
            version: &self.version,
            headers: &self.headers,
            connection: 1,
            connection_requests: 1,
        }
    }
}

fn place(sources: &SourceMap, span: Span) -> (String, usize) {
    let f = sources.file(span.file);
    (f.path.display().to_string(), f.line_col(span.start).0)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The report as JSON (the human form is printed from it too).
fn report(sources: &SourceMap, trace: &Trace, route: &Route) -> Value {
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
                "read_timeout_ms": p.timeouts.read.as_millis() as u64,
                "connect_timeout_ms": p.timeouts.connect.as_millis() as u64,
                "send_timeout_ms": p.timeouts.send.as_millis() as u64,
                "tunnel": tunnel(p),
                "redirects": p.redirects.iter().map(|(f, t)| json!([text(f), text(t)])).collect::<Vec<_>>(),
            }),
            Value::Null,
        ),
        Route::Respond(r) => (
            Value::Null,
            json!({
                "status": r.status,
                "headers": r.headers.iter().map(|(n, v)| json!([text(n), text(v)])).collect::<Vec<_>>(),
                "body": r.body.as_deref().map(text),
            }),
        ),
    };
    json!({
        "server": server,
        "location": trace.location.as_ref().map(candidate),
        "candidates": trace.candidates.iter().map(candidate).collect::<Vec<_>>(),
        "variables": variables,
        "notes": trace.notes,
        "upstream": upstream,
        "upstream_request": upstream_request,
        "response": response,
    })
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
            json!({"addr": s.name, "weight": s.weight, "max_fails": s.max_fails,
                   "fail_timeout_s": s.fail_timeout.as_secs(), "backup": s.backup, "down": s.down})
        })
        .collect();
    json!({"name": g.name, "policy": policy, "servers": servers})
}

/// The same report for people.
fn human(r: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let at = |v: &Value| format!("{}:{}", s(&v["file"]), v["line"]);
    let mut out = Vec::new();
    if !r["server"].is_null() {
        let names: Vec<String> = r["server"]["names"]
            .as_array()
            .into_iter()
            .flatten()
            .map(s)
            .collect();
        out.push(format!(
            "server    {}  server_name {}",
            at(&r["server"]),
            names.join(" ")
        ));
        out.push(format!("          because: {}", s(&r["server"]["why"])));
    }
    if !r["location"].is_null() {
        out.push(format!(
            "location  {}  location {}",
            at(&r["location"]),
            s(&r["location"]["match"])
        ));
    }
    for c in r["candidates"].as_array().into_iter().flatten() {
        out.push(format!(
            "          {}  {:<20} {}",
            at(c),
            s(&c["match"]),
            s(&c["verdict"])
        ));
    }
    if let Some(vars) = r["variables"].as_object().filter(|v| !v.is_empty()) {
        out.push("variables".into());
        for (name, value) in vars {
            out.push(format!("          ${name} = {value}"));
        }
    }
    for n in r["notes"].as_array().into_iter().flatten() {
        out.push(format!("note      {}", s(n)));
    }
    if !r["upstream"].is_null() {
        let u = &r["upstream"];
        let servers: Vec<String> = u["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| format!("{} weight={}", s(&p["addr"]), p["weight"]))
            .collect();
        out.push(format!(
            "upstream  {} ({}): {}",
            s(&u["name"]),
            s(&u["policy"]),
            servers.join(", ")
        ));
    }
    let q = &r["upstream_request"];
    if !q.is_null() {
        out.push("upstream request".into());
        out.push(format!(
            "          {} {} {}",
            s(&q["method"]),
            s(&q["uri"]),
            s(&q["version"])
        ));
        for h in q["headers"].as_array().into_iter().flatten() {
            out.push(format!("          {}: {}", s(&h[0]), s(&h[1])));
        }
        out.push(format!("tunnel    {}", s(&q["tunnel"])));
    }
    let a = &r["response"];
    if !a.is_null() {
        out.push(format!("response  {}", a["status"]));
        for h in a["headers"].as_array().into_iter().flatten() {
            out.push(format!("          {}: {}", s(&h[0]), s(&h[1])));
        }
    }
    out.join("\n")
}
