//! Upstream groups as the runtime balances them: explicit `upstream` blocks, and the implicit
//! one-server groups `proxy_pass http://host:port` creates (`ngx_http_upstream_add`), shared
//! by every `proxy_pass` naming the same host and port.

use std::sync::Arc;

use super::plan::{PeerSpec, UpstreamGroup};
use super::site::NamedUpstream;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::proxy::StaticPass;
use crate::config::upstream::{self, Upstream};
use crate::defaults::http as dflt;

/// Every group known at load, explicit first.
#[derive(Debug, Default)]
pub struct Groups {
    pub all: Vec<NamedUpstream>,
}

impl Groups {
    /// Compiles the explicit `upstream` blocks.
    pub fn explicit(cx: &mut Cx<'_>, reg: &Registry, upstreams: &[Upstream]) -> Groups {
        let mut all: Vec<NamedUpstream> = Vec::new();
        for u in upstreams {
            if all
                .iter()
                .any(|g| g.group.name.eq_ignore_ascii_case(&u.name))
            {
                cx.late_error_at(
                    "upstream::duplicate",
                    format!("duplicate upstream \"{}\"", u.name),
                    u.span,
                );
                continue;
            }
            let servers = u
                .servers
                .iter()
                .flat_map(|s| {
                    s.addrs.iter().map(move |a| PeerSpec {
                        addr: *a,
                        name: a.to_string(),
                        weight: s.weight,
                        max_fails: s.max_fails,
                        fail_timeout: s.fail_timeout,
                        backup: s.backup,
                        down: s.down,
                        max_conns: s.max_conns,
                    })
                })
                .collect();
            let hash_key = match &u.hash_key {
                Some(k) => Complex::compile(cx, reg, k),
                None => None,
            };
            all.push(NamedUpstream {
                group: Arc::new(UpstreamGroup {
                    name: u.name.clone(),
                    policy: u.balance.clone(),
                    servers,
                    keepalive: u.keepalive,
                    keepalive_limits: u.keepalive_limits,
                }),
                port: None,
                hash_key,
            });
        }
        Groups { all }
    }

    /// The group a `proxy_pass` without variables uses: the `upstream` of that name, else the
    /// implicit group of host and port (created and resolved on first use).
    pub fn for_pass(&mut self, cx: &mut Cx<'_>, pass: &StaticPass) -> Option<NamedUpstream> {
        let explicit = self
            .all
            .iter()
            .find(|g| g.port.is_none() && g.group.name.eq_ignore_ascii_case(&pass.host));
        if let Some(g) = explicit {
            if let Some(port) = pass.port {
                cx.late_error_at(
                    "upstream::port",
                    format!("upstream \"{}\" may not have port {port}", pass.host),
                    pass.text.span,
                );
                return None;
            }
            return Some(g.clone());
        }
        let port = pass.port_or_default();
        if let Some(g) = self.all.iter().find(|g| {
            g.port == Some(port)
                && g.group
                    .name
                    .eq_ignore_ascii_case(&implicit_name(&pass.host, port))
        }) {
            return Some(g.clone());
        }
        let addrs = match upstream::resolve(&pass.host, port) {
            Ok(a) => a,
            Err(e) => {
                let pos = cx.tree.sources.nginx_pos(pass.text.span);
                cx.late_error(
                    "upstream::host_not_found",
                    format!("{e} in upstream \"{}\" in {pos}", pass.host),
                    pass.text.span,
                );
                return None;
            }
        };
        let group = NamedUpstream {
            group: Arc::new(implicit_group(implicit_name(&pass.host, port), &addrs)),
            port: Some(port),
            hash_key: None,
        };
        self.all.push(group.clone());
        Some(group)
    }
}

/// `host:port`, the name an implicit group is shown by.
pub fn implicit_name(host: &str, port: u16) -> String {
    format!("{host}:{port}")
}

/// A round-robin group of `addrs` with nginx's per-server defaults.
pub fn implicit_group(name: String, addrs: &[std::net::SocketAddr]) -> UpstreamGroup {
    UpstreamGroup {
        name,
        policy: super::plan::Balance::RoundRobin,
        servers: addrs
            .iter()
            .map(|a| PeerSpec {
                addr: *a,
                name: a.to_string(),
                weight: 1,
                max_fails: 1,
                fail_timeout: dflt::FAIL_TIMEOUT,
                backup: false,
                down: false,
                max_conns: 0,
            })
            .collect(),
        keepalive: None,
        keepalive_limits: dflt::UPSTREAM_KEEPALIVE,
    }
}
