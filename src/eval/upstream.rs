//! Upstream groups as the runtime balances them: explicit `upstream` blocks, and the implicit
//! one-server groups `proxy_pass http://host:port` creates (`ngx_http_upstream_add`), shared
//! by every `proxy_pass` naming the same host and port.

use std::path::Path;
use std::sync::Arc;

use super::plan::{PeerAddr, PeerSpec, UpstreamGroup};
use super::site::NamedUpstream;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::proxy::{StaticPass, Target};
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
                        addr: a.clone(),
                        name: a.to_string().into(),
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
    /// implicit group of host and port, or of a unix socket (created on first use). A host
    /// that does not resolve is reported here unless `checked` (a `fastcgi_pass`, whose
    /// problems `unserved::check_passes` words as nginx does).
    pub fn for_pass(
        &mut self,
        cx: &mut Cx<'_>,
        pass: &StaticPass,
        checked: bool,
    ) -> Option<NamedUpstream> {
        let (host, port) = match &pass.url.target {
            Target::Host { name, port } => (name, *port),
            Target::Unix(path) => return Some(self.for_unix(path)),
        };
        let explicit = self
            .all
            .iter()
            .find(|g| g.port.is_none() && g.group.name.eq_ignore_ascii_case(host));
        if let Some(g) = explicit {
            if let Some(port) = port {
                cx.late_error_at(
                    "upstream::port",
                    format!("upstream \"{host}\" may not have port {port}"),
                    pass.text.span,
                );
                return None;
            }
            return Some(g.clone());
        }
        let port = port.unwrap_or(pass.url.default_port());
        if let Some(g) = find_implicit(&self.all, host, port) {
            return Some(g.clone());
        }
        let addrs = match upstream::resolve(host, port) {
            Ok(a) => a,
            Err(_) if checked => return None,
            Err(e) => {
                let pos = cx.tree.sources.nginx_pos(pass.text.span);
                cx.late_error(
                    "upstream::host_not_found",
                    format!("{e} in upstream \"{host}\" in {pos}"),
                    pass.text.span,
                );
                return None;
            }
        };
        let addrs: Vec<PeerAddr> = addrs.into_iter().map(PeerAddr::Tcp).collect();
        let group = implicit(implicit_name(host, port), port, &addrs);
        self.all.push(group.clone());
        Some(group)
    }

    /// The implicit group of `proxy_pass http://unix:PATH`.
    fn for_unix(&mut self, path: &Path) -> NamedUpstream {
        if let Some(g) = find_unix(&self.all, path) {
            return g.clone();
        }
        let group = unix_group(path);
        self.all.push(group.clone());
        group
    }
}

/// `host:port`, the name an implicit group is shown by.
pub fn implicit_name(host: &str, port: u16) -> String {
    format!("{host}:{port}")
}

/// The implicit group of `host:port` among `groups`.
pub fn find_implicit<'g>(
    groups: &'g [NamedUpstream],
    host: &str,
    port: u16,
) -> Option<&'g NamedUpstream> {
    groups.iter().find(|g| {
        g.port == Some(port)
            && g.group
                .name
                .eq_ignore_ascii_case(&implicit_name(host, port))
    })
}

/// The port nginx keys a unix socket's implicit group by (`ngx_http_upstream_add` compares
/// host and port; a unix URL's host is its path and its port 0).
const UNIX_PORT: u16 = 0;

/// The implicit group of the unix socket `path` among `groups`.
pub fn find_unix<'g>(groups: &'g [NamedUpstream], path: &Path) -> Option<&'g NamedUpstream> {
    let name = path.to_string_lossy();
    groups
        .iter()
        .find(|g| g.port == Some(UNIX_PORT) && g.group.name == name)
}

/// A new implicit group for the unix socket `path`, named by its path as nginx names it.
pub fn unix_group(path: &Path) -> NamedUpstream {
    let name = path.to_string_lossy().into_owned();
    implicit(name, UNIX_PORT, &[PeerAddr::Unix(path.to_path_buf())])
}

/// An implicit group keyed by `port`: round robin over `addrs` with nginx's per-server
/// defaults.
pub fn implicit(name: String, port: u16, addrs: &[PeerAddr]) -> NamedUpstream {
    let group = UpstreamGroup {
        name,
        policy: super::plan::Balance::RoundRobin,
        servers: addrs
            .iter()
            .map(|a| PeerSpec {
                addr: a.clone(),
                name: a.to_string().into(),
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
    };
    NamedUpstream {
        group: Arc::new(group),
        port: Some(port),
        hash_key: None,
    }
}
