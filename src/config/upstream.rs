//! `upstream` blocks: servers with their parameters, resolved at load as nginx does without a
//! `resolver`, and the balancing method.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::units::parse_sec;
use super::{Cx, Text};
use crate::eval::plan::{Balance, KeepaliveLimits, PeerAddr};
use crate::source::Span;
use crate::syntax::Directive;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub name: String,
    pub span: Span,
    pub servers: Vec<UpstreamServer>,
    pub balance: Balance,
    /// `hash KEY`.
    pub hash_key: Option<Text>,
    pub keepalive: Option<usize>,
    pub keepalive_limits: KeepaliveLimits,
}

/// One `server` line; a host name that resolves to several addresses gives several peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamServer {
    pub addrs: Vec<PeerAddr>,
    pub weight: u32,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub backup: bool,
    pub down: bool,
    pub max_conns: u32,
}

/// The shared memory zones the `zone` directives declare, by name, in reading order: nginx
/// checks their sizes across all upstreams (`ngx_shared_memory_add`).
///
/// ngxr keeps only the checks: nginx needs the zone so that its worker processes share the
/// group's peer state (failures, `max_conns` counts, round-robin position); ngxr's workers are
/// threads of one process that already share one state per group, so a zone changes nothing.
#[derive(Debug, Default)]
pub struct Zones {
    /// Name, size in bytes (0: declared without one so far), first declaration.
    declared: Vec<(String, u64, Span)>,
}

impl Zones {
    /// `zone NAME [SIZE]`.
    fn declare(&mut self, cx: &mut Cx<'_>, d: &Directive) {
        let name = d.arg(0).unwrap_or_default();
        if name.is_empty() {
            cx.error(d, format!("invalid zone name \"{name}\""));
            return;
        }
        let size = match d.arg(1) {
            None => 0,
            Some(text) => match crate::units::parse_size(text) {
                None => {
                    cx.error(d, format!("invalid zone size \"{text}\""));
                    return;
                }
                Some(n) if n < ZONE_MIN => {
                    cx.error(d, format!("zone \"{name}\" is too small"));
                    return;
                }
                Some(n) => n.unsigned_abs(),
            },
        };
        match self.declared.iter_mut().find(|(n, _, _)| n == name) {
            None => self.declared.push((name.to_string(), size, d.span())),
            Some((_, known, _)) if *known == 0 => *known = size,
            Some((_, known, _)) if size != 0 && size != *known => cx.error(
                d,
                format!(
                    "the size {size} of shared memory zone \"{name}\" conflicts with already \
                     declared size {known}"
                ),
            ),
            Some(_) => {}
        }
    }

    /// nginx refuses a zone no `zone` line gave a size, once the whole file is read.
    pub fn check_sizes(&self, cx: &mut Cx<'_>) {
        for (name, _, span) in self.declared.iter().filter(|(_, size, _)| *size == 0) {
            cx.late_error(
                "upstream::zone",
                format!("zero size shared memory zone \"{name}\""),
                *span,
            );
        }
    }
}

/// The smallest zone nginx accepts: eight pages of 4 KiB.
const ZONE_MIN: i64 = 8 * 4096;

/// Lowers `upstream NAME { ... }`.
pub fn lower(cx: &mut Cx<'_>, d: &Directive, zones: &mut Zones) -> Option<Upstream> {
    let name = match d.arg(0) {
        Some(n) => n.to_string(),
        None => {
            cx.arity(d);
            return None;
        }
    };
    let mut u = Upstream {
        name,
        span: d.span(),
        servers: Vec::new(),
        balance: Balance::RoundRobin,
        hash_key: None,
        keepalive: None,
        keepalive_limits: crate::defaults::http::UPSTREAM_KEEPALIVE,
    };
    let mut server_lines = 0;
    for c in cx.tree.expand(d.children()) {
        match c.name() {
            "server" => {
                server_lines += 1;
                u.servers.extend(server(cx, c));
            }
            "ip_hash" => u.balance = Balance::IpHash,
            "least_conn" => u.balance = Balance::LeastConn,
            "random" => match c.arg(0) {
                None => u.balance = Balance::Random { two: false },
                Some("two") => u.balance = Balance::Random { two: true },
                Some(p) => cx.error(c, format!("invalid parameter \"{p}\"")),
            },
            "hash" => {
                let consistent = match c.arg(1) {
                    None => false,
                    Some("consistent") => true,
                    Some(p) => {
                        cx.error(c, format!("invalid parameter \"{p}\""));
                        continue;
                    }
                };
                u.hash_key = cx.text(c, 0);
                u.balance = Balance::Hash { consistent };
            }
            "keepalive" => match c.arg(0).map(str::parse::<usize>) {
                Some(Ok(n)) if n > 0 => u.keepalive = Some(n),
                _ => cx.error(
                    c,
                    format!(
                        "invalid value \"{}\" in \"keepalive\" directive",
                        c.arg(0).unwrap_or("")
                    ),
                ),
            },
            "zone" => zones.declare(cx, c),
            "keepalive_timeout" => match c.arg(0).and_then(super::units::parse_msec) {
                Some(t) => u.keepalive_limits.timeout = t,
                None => cx.invalid_value(c),
            },
            "keepalive_time" => match c.arg(0).and_then(super::units::parse_msec) {
                Some(t) => u.keepalive_limits.time = t,
                None => cx.invalid_value(c),
            },
            "keepalive_requests" => match c.arg(0).map(str::parse::<u64>) {
                Some(Ok(n)) => u.keepalive_limits.requests = n,
                _ => cx.invalid_value(c),
            },
            _ => {}
        }
    }
    if server_lines == 0 {
        cx.error(d, "no servers are inside upstream");
    }
    Some(u)
}

/// `server ADDRESS [weight=N] [max_fails=N] [fail_timeout=T] [backup] [down] [max_conns=N]`.
fn server(cx: &mut Cx<'_>, d: &Directive) -> Option<UpstreamServer> {
    let Some(target) = d.arg(0) else {
        cx.arity(d);
        return None;
    };
    let mut s = UpstreamServer {
        addrs: Vec::new(),
        weight: 1,
        max_fails: 1,
        fail_timeout: crate::defaults::http::FAIL_TIMEOUT,
        backup: false,
        down: false,
        max_conns: 0,
    };
    for w in d.args.iter().skip(1) {
        let p = w.as_str();
        let ok = if let Some(v) = p.strip_prefix("weight=") {
            v.parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .map(|n| s.weight = n)
        } else if let Some(v) = p.strip_prefix("max_fails=") {
            v.parse::<u32>().ok().map(|n| s.max_fails = n)
        } else if let Some(v) = p.strip_prefix("max_conns=") {
            v.parse::<u32>().ok().map(|n| s.max_conns = n)
        } else if let Some(v) = p.strip_prefix("fail_timeout=") {
            parse_sec(v).map(|t| s.fail_timeout = t)
        } else if p == "backup" {
            s.backup = true;
            Some(())
        } else if p == "down" {
            s.down = true;
            Some(())
        } else {
            None
        };
        if ok.is_none() {
            cx.error(d, format!("invalid parameter \"{p}\""));
            return None;
        }
    }
    let addrs = if let Some(path) = super::proxy::strip_unix(target) {
        super::proxy::unix_path(path).map(|path| vec![PeerAddr::Unix(path)])
    } else {
        resolve(target, 80).map(|addrs| addrs.into_iter().map(PeerAddr::Tcp).collect())
    };
    match addrs {
        Ok(addrs) => s.addrs = addrs,
        Err(e) => {
            cx.error(d, format!("{e} in upstream \"{target}\""));
            return None;
        }
    }
    Some(s)
}

/// `ngx_parse_url` + `ngx_inet_resolve_host`: every address of `host[:port]`, in the
/// resolver's order. The error is nginx's (`host not found`, `invalid port`).
pub fn resolve(target: &str, default_port: u16) -> Result<Vec<SocketAddr>, &'static str> {
    let (host, port) = super::proxy::split_host_port(target).ok_or("invalid port")?;
    let port = port.unwrap_or(default_port);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|_| "host not found")?
        .collect();
    let mut seen = Vec::with_capacity(addrs.len());
    addrs.retain(|a| {
        let fresh = !seen.contains(a);
        seen.push(*a);
        fresh
    });
    if addrs.is_empty() {
        return Err("host not found");
    }
    Ok(addrs)
}
