//! `ngxr explain`: shows how nginx would route one request under a configuration — the
//! server and why, the location and the candidates it beat, the variables and maps read, the
//! upstream group, and the exact upstream request — by running the same routing the proxy
//! runs, with a trace.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

mod human;
mod report;

use bytes::Bytes;

use crate::cli::{ExplainArgs, Format, Paths};
use crate::diag::Sink;
use crate::eval::plan::{ListenAddr, Peer, RequestInfo, Site};
use crate::eval::{Compiled, Trace};

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
    let blocking: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error() && !about_this_machine(d.code))
        .map(|d| match d.span {
            Some(s) => format!(
                "ngxr: [emerg] {} ({})",
                d.message,
                loaded.tree.sources.nginx_pos(s)
            ),
            None => format!("ngxr: [emerg] {}", d.message),
        })
        .collect();
    if !blocking.is_empty() {
        return Err(blocking.join("\n"));
    }
    // The loaded site is only known as `dyn Site`; compile once more for the traced routing.
    let site = crate::eval::compile(&loaded.tree, &paths, &mut Sink::default())
        .ok_or_else(|| "ngxr: the configuration could not be compiled".to_string())?;
    let request = Request::parse(args, &site)?;
    let info = request.info();
    let mut trace = Trace::default();
    let route = site.route_traced(&info, &mut trace);
    let report = report::report(&loaded.tree.sources, &trace, &route);
    Ok(match args.format {
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default(),
        Format::Human => human::human(&report),
    })
}

/// Problems with this machine rather than with the configuration (a log directory, a
/// certificate file, a user that does not exist here): they stop nginx from starting, not
/// from deciding where a request goes, so explain carries on.
fn about_this_machine(code: &str) -> bool {
    ["file::", "ssl::load", "ssl::no_key", "user::"]
        .iter()
        .any(|p| code.starts_with(p))
}

/// The request explain was asked about, owned.
struct Request {
    method: String,
    target: String,
    version: String,
    headers: Vec<(Bytes, Bytes)>,
    listen: ListenAddr,
    local: ListenAddr,
    remote: Peer,
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
        let listen = match args.listen.as_deref() {
            Some(l) => match l.strip_prefix("unix:") {
                Some(path) if !path.is_empty() => ListenAddr::Unix(path.into()),
                _ => ListenAddr::Inet(l.parse::<SocketAddr>().map_err(|_| {
                    format!("ngxr: --listen wants ADDR:PORT or unix:PATH, not {l:?}")
                })?),
            },
            None => listens
                .first()
                .map(|l| l.addr.clone())
                .ok_or("ngxr: the configuration listens nowhere")?,
        };
        let local = match listen.inet() {
            Some(a) if a.ip().is_unspecified() => {
                let loopback = match a.ip() {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                };
                ListenAddr::Inet(SocketAddr::new(loopback, a.port()))
            }
            _ => listen.clone(),
        };
        let remote = match args.remote_addr.as_str() {
            "unix:" => Peer::Unix(None),
            addr => Peer::Inet(SocketAddr::new(
                addr.parse::<IpAddr>().map_err(|_| {
                    format!("ngxr: --remote-addr wants an IP address or unix:, not {addr:?}")
                })?,
                REMOTE_PORT,
            )),
        };
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
            remote,
            tls,
            sni,
        })
    }

    fn info(&self) -> RequestInfo<'_> {
        RequestInfo {
            listen: self.listen.clone(),
            remote: self.remote.clone(),
            local: self.local.clone(),
            proxy_protocol: None,
            sni: self.sni.as_deref(),
            tls: self.tls,
            // No client negotiated anything: the `$ssl_*` of a handshake are empty here.
            handshake: None,
            client_cert: None,
            plain_on_ssl: false,
            framing_refused: None,
            method: &self.method,
            target: self.target.as_bytes(),
            version: &self.version,
            headers: &self.headers,
            connection: 1,
            connection_requests: 1,
            pipelined: false,
            request_id: crate::eval::plan::request_id(),
            opened: std::time::Instant::now(),
            started: std::time::Instant::now(),
            refused: None,
            limits: Default::default(),
            counts: &crate::eval::plan::UNCOUNTED,
            auth: &[],
            mirrored: 0,
            post_action: false,
            request_body: None,
            body_length: None,
            request_body_file: None,
            routed: None,
        }
    }
}
