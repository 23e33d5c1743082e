//! Compiled evaluators: what nginx decides per request, prepared once at load. `compile`
//! lowers the syntax tree (`config`) and compiles it into a [`Compiled`] site, which the
//! runtime asks through [`plan::Site`] and `ngxr explain` through [`Compiled::route_traced`].

mod accel;
mod access;
mod added;
mod addr;
mod autoindex;
mod base64;
mod bind;
mod browser;
mod cache;
mod charset;
mod client_cert;
pub mod clock;
mod compile;
mod conditional;
mod crypt;
mod empty_gif;
mod error_page;
pub mod fastcgi;
mod files;
mod flv;
pub mod gateway;
pub mod geo;
mod gzip;
pub mod headers;
mod index;
mod limit;
pub mod location;
pub mod log;
pub mod map;
mod mime;
mod mirror;
mod mp4;
mod output;
pub mod plan;
pub mod proxy;
mod proxy_conf;
mod proxy_cookie;
mod proxy_redirect;
mod proxy_rewrite;
mod random_index;
mod realip;
mod referer;
pub mod regex;
pub mod request;
pub mod route;
pub mod script;
mod secure_link;
pub mod site;
mod split_clients;
mod static_;
mod sub_filter;
mod tls;
pub mod trace;
mod trailers;
mod try_files;
mod unserved;
pub mod upstream;
mod upstream_tls;
pub mod uri;
mod userid;
pub mod value;
pub mod vars;
pub mod vhost;

#[cfg(test)]
mod auth_request_tests;
#[cfg(test)]
mod if_tests;
#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod mirror_tests;
#[cfg(test)]
mod proxy_cookie_tests;
#[cfg(test)]
mod script_tests;
#[cfg(test)]
mod static_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::cli::Paths;
use crate::config::Cx;
use crate::diag::Sink;
use crate::syntax::SyntaxTree;

pub use trace::Trace;

/// A configuration compiled for serving. Immutable, shared by every connection.
#[derive(Debug)]
pub struct Compiled {
    inner: Arc<site::Inner>,
}

/// Lowers and compiles a parsed configuration; problems go to `sink` (nginx's wording, with
/// `order` from `SyntaxTree::order_of`). Always returns the site as far as it could be built;
/// the caller discards it when `sink` holds errors.
pub fn compile(tree: &SyntaxTree, paths: &Paths, sink: &mut Sink) -> Option<Compiled> {
    let config = crate::config::lower(tree, paths, sink);
    let mut cx = Cx::new(tree, paths, sink);
    let inner = Arc::new_cyclic(|weak| compile::build(&mut cx, &config, weak));
    Some(Compiled { inner })
}

impl Compiled {
    /// Routes like [`plan::Site::route`] and records every decision in `trace`.
    pub fn route_traced(&self, request: &plan::RequestInfo<'_>, trace: &mut Trace) -> plan::Route {
        route::route(&self.inner, request, Some(trace))
    }
}

impl plan::Site for Compiled {
    fn listens(&self) -> Vec<plan::ListenSpec> {
        self.inner.listens.clone()
    }

    fn route(&self, request: &plan::RequestInfo<'_>) -> plan::Route {
        route::route(&self.inner, request, None)
    }

    fn reroute(
        &self,
        request: &plan::RequestInfo<'_>,
        passes: &[plan::Pass],
        outcome: &plan::Outcome,
    ) -> plan::Route {
        route::route_after(&self.inner, request, passes, Some(outcome), None)
    }

    fn subrequest(&self, request: &plan::RequestInfo<'_>, uri: &[u8], args: &[u8]) -> plan::Route {
        route::output_subrequest(&self.inner, request, uri, args)
    }

    fn variable(&self, request: &plan::RequestInfo<'_>, name: &str) -> Option<Vec<u8>> {
        route::variable(&self.inner, request, name)
    }

    fn client_header_timeout(&self, listen: &plan::ListenAddr) -> std::time::Duration {
        let on = vhost::on_socket(&self.inner.servers, listen, listen);
        vhost::default(&on, listen).map_or(crate::defaults::http::CLIENT_HEADER_TIMEOUT, |s| {
            s.header_timeout
        })
    }

    fn header_buffers(
        &self,
        listen: &plan::ListenAddr,
        local: &plan::ListenAddr,
        name: Option<&[u8]>,
    ) -> plan::HeaderBuffers {
        let on = vhost::on_socket(&self.inner.servers, listen, local);
        let Some(server) = vhost::named_or_default(&on, local, name) else {
            return crate::defaults::http::HEADER_BUFFERS;
        };
        let mut buffers = server.header_buffers;
        buffers.uniform = on.iter().all(|s| {
            let b = s.header_buffers;
            (b.client, b.large_num, b.large_size)
                == (buffers.client, buffers.large_num, buffers.large_size)
        });
        buffers
    }

    fn keepalive_timeout(
        &self,
        listen: &plan::ListenAddr,
        local: &plan::ListenAddr,
        name: Option<&[u8]>,
    ) -> std::time::Duration {
        let on = vhost::on_socket(&self.inner.servers, listen, local);
        vhost::named_or_default(&on, local, name)
            .map_or(crate::defaults::http::KEEPALIVE.timeout, |s| {
                s.keepalive.timeout
            })
    }

    fn refused(&self, request: &plan::RequestInfo<'_>) -> (Arc<plan::LogSpec>, bytes::Bytes) {
        route::refused_log(&self.inner, request)
    }

    fn tls(&self, listen: &plan::ListenAddr, sni: Option<&str>) -> Option<Arc<plan::TlsSpec>> {
        let on = vhost::on_socket(&self.inner.servers, listen, listen);
        let host = sni.and_then(|s| vhost::validate_host(s.as_bytes()));
        let mut caps = regex::Captures::default();
        let server = vhost::select(&on, listen, host.as_deref(), &mut caps, None)?;
        server
            .tls
            .clone()
            .or_else(|| vhost::default(&on, listen).and_then(|s| s.tls.clone()))
    }

    fn tls_servers(&self, listen: &plan::ListenAddr) -> Vec<Arc<plan::TlsSpec>> {
        // Every server on the port (the address a connection reaches decides which apply), or
        // on the unix-domain socket.
        let alike = |addr: &plan::ListenAddr| match (addr.inet(), listen.inet()) {
            (Some(a), Some(l)) => a.port() == l.port() && a.is_ipv4() == l.is_ipv4(),
            _ => addr == listen,
        };
        let mut out: Vec<Arc<plan::TlsSpec>> = Vec::new();
        let on_port = self
            .inner
            .servers
            .iter()
            .filter(|s| s.listens.iter().any(|l| alike(&l.addr)));
        for spec in on_port.filter_map(|s| s.tls.as_ref()) {
            if !out.iter().any(|o| Arc::ptr_eq(o, spec)) {
                out.push(spec.clone());
            }
        }
        out
    }

    fn upstreams(&self) -> Vec<Arc<plan::UpstreamGroup>> {
        self.inner.upstreams.clone()
    }

    fn process(&self) -> plan::ProcessSpec {
        self.inner.process.clone()
    }
}
