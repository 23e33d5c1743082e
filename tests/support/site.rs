//! A hand-built [`Site`]: every request is proxied to one upstream group with the articles'
//! headers (Host, X-Real-IP, X-Forwarded-For, Upgrade, Connection from the
//! `$connection_upgrade` map), except `/return` which answers 200 directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ngxr::eval::plan::*;

#[derive(Debug)]
pub struct TestSite {
    pub listen: ListenSpec,
    pub group: Arc<UpstreamGroup>,
    pub timeouts: ProxyTimeouts,
    pub next_upstream: NextUpstream,
    pub version: &'static str,
    pub log: Arc<LogSpec>,
    pub certs: Vec<(String, Arc<TlsSpec>)>,
    pub client_max_body_size: u64,
    /// `proxy_redirect` rules and the absolute-redirect base.
    pub redirects: Option<Arc<dyn RedirectRewrite>>,
    pub location_base: Option<Bytes>,
    /// `worker_processes`.
    pub workers: usize,
    pub worker_connections: usize,
}

pub fn peer(addr: SocketAddr) -> PeerSpec {
    PeerSpec {
        addr: PeerAddr::Tcp(addr),
        name: addr.to_string().into(),
        weight: 1,
        max_fails: 1,
        fail_timeout: Duration::from_secs(10),
        backup: false,
        down: false,
        max_conns: 0,
    }
}

pub fn group(
    policy: Balance,
    servers: Vec<PeerSpec>,
    keepalive: Option<usize>,
) -> Arc<UpstreamGroup> {
    Arc::new(UpstreamGroup {
        name: "backend".into(),
        policy,
        servers,
        keepalive,
        keepalive_limits: ngxr::defaults::http::UPSTREAM_KEEPALIVE,
    })
}

pub fn default_next_upstream() -> NextUpstream {
    NextUpstream {
        error: true,
        timeout: true,
        ..NextUpstream::default()
    }
}

impl TestSite {
    /// Proxies to `servers` (round robin) on 127.0.0.1:0.
    pub fn new(servers: Vec<PeerSpec>) -> TestSite {
        TestSite::with_group(group(Balance::RoundRobin, servers, None))
    }

    pub fn with_group(group: Arc<UpstreamGroup>) -> TestSite {
        TestSite {
            listen: ListenSpec {
                addr: ListenAddr::Inet("127.0.0.1:0".parse().expect("addr")),
                ssl: false,
                proxy_protocol: false,
                proxy_protocol_flipped: Vec::new(),
                http2: false,
                socket: SocketOptions::default(),
            },
            group,
            timeouts: ProxyTimeouts {
                connect: Duration::from_secs(5),
                read: Duration::from_secs(300),
                send: Duration::from_secs(60),
                client_send: Duration::from_secs(60),
                client_body: ngxr::defaults::http::CLIENT_BODY_TIMEOUT,
            },
            next_upstream: default_next_upstream(),
            version: "HTTP/1.1",
            log: Arc::new(LogSpec::default()),
            certs: Vec::new(),
            client_max_body_size: 1024 * 1024,
            redirects: None,
            location_base: None,
            workers: 2,
            worker_connections: 4096,
        }
    }

    fn header<'a>(request: &'a RequestInfo<'_>, name: &str) -> Option<&'a Bytes> {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
}

impl Site for TestSite {
    fn listens(&self) -> Vec<ListenSpec> {
        vec![self.listen.clone()]
    }

    fn route(&self, request: &RequestInfo<'_>) -> Route {
        // The body's framing refused (400, 501) or `return 444`.
        let refused = request.framing_refused.map(|(status, _)| status);
        if let Some(status) = refused.or((request.target == b"/444").then_some(444)) {
            return Route::Respond(Response {
                status,
                log: self.log.clone(),
                routed: None,
                headers: Vec::new(),
                body: None,
                errors: Vec::new(),
                length_unknown: false,
                location_base: None,
                head_cut: None,
                server_tokens: true,
                keepalive: ngxr::defaults::http::KEEPALIVE,
                gzip: None,
                sub_filter: None,
                addition: None,
                ssi: None,
                limited: Default::default(),
                sending: Default::default(),
                trailers: None,
                mirrors: Vec::new(),
            });
        }
        if request.target == b"/return" {
            return Route::Respond(Response {
                status: 200,
                log: self.log.clone(),
                routed: None,
                headers: vec![(
                    Bytes::from_static(b"Content-Type"),
                    Bytes::from_static(b"text/plain"),
                )],
                body: Some(Bytes::from_static(b"returned\n")),
                errors: Vec::new(),
                length_unknown: false,
                location_base: None,
                head_cut: None,
                server_tokens: true,
                keepalive: ngxr::defaults::http::KEEPALIVE,
                gzip: None,
                sub_filter: None,
                addition: None,
                ssi: None,
                limited: Default::default(),
                sending: Default::default(),
                trailers: None,
                mirrors: Vec::new(),
            });
        }
        let upgrade = Self::header(request, "upgrade")
            .cloned()
            .unwrap_or_default();
        let host = Self::header(request, "host").cloned().unwrap_or_default();
        let remote = Bytes::from(request.remote.text());
        let connection = if upgrade.is_empty() {
            "close"
        } else {
            "upgrade"
        };
        let mut headers = vec![
            (Bytes::from_static(b"Host"), host),
            (Bytes::from_static(b"X-Real-IP"), remote.clone()),
            (Bytes::from_static(b"X-Forwarded-For"), remote),
            (Bytes::from_static(b"Upgrade"), upgrade.clone()),
            (
                Bytes::from_static(b"Connection"),
                Bytes::from_static(connection.as_bytes()),
            ),
        ];
        headers.retain(|(_, v)| !v.is_empty());
        let body_headers_at = headers.len();
        for (n, v) in request.headers {
            // The names set above and nginx's own defaults (`ngx_http_proxy_headers`).
            let skip = [
                "host",
                "connection",
                "upgrade",
                "content-length",
                "transfer-encoding",
                "te",
                "keep-alive",
                "expect",
            ];
            if !skip.iter().any(|s| n.eq_ignore_ascii_case(s.as_bytes())) {
                headers.push((n.clone(), v.clone()));
            }
        }
        Route::Proxy(Box::new(ProxyRequest {
            upstream: self.group.clone(),
            resolve: None,
            method: Bytes::copy_from_slice(request.method.as_bytes()),
            idempotent: !matches!(request.method, "POST" | "LOCK" | "PATCH"),
            body: None,
            stream_body: false,
            ignore_client_abort: false,
            force_ranges: false,
            range_filter: true,
            ignore_headers: IgnoreHeaders::default(),
            keep_body: None,
            cookies: None,
            uri: Bytes::copy_from_slice(request.target),
            version: self.version,
            body_headers_at,
            own_length: false,
            redirects: self.redirects.clone(),
            location_base: self.location_base.clone(),
            headers,
            balance_key: Some(Bytes::copy_from_slice(request.target)),
            client: request.remote.clone(),
            server: Bytes::new(),
            pass_body: true,
            client_upgrade: !upgrade.is_empty(),
            timeouts: self.timeouts,
            buffers: ProxyBuffers {
                head: 4096,
                buffering: true,
            },
            next_upstream: self.next_upstream,
            hide_headers: ["Date", "Server", "X-Pad", "X-Accel-Expires"]
                .iter()
                .map(|h| Bytes::from_static(h.as_bytes()))
                .collect(),
            add_headers: Arc::new(NoAddedHeaders),
            client_max_body_size: self.client_max_body_size,
            log: self.log.clone(),
            routed: None,
            error_pages: Vec::new(),
            intercept_errors: false,
            passes: Vec::new(),
            carried: Vec::new(),
            userid: Vec::new(),
            content_type: None,
            status: None,
            server_tokens: true,
            subrequest: false,
            errors: Vec::new(),
            keepalive: ngxr::defaults::http::KEEPALIVE,
            gzip: None,
            sub_filter: None,
            addition: None,
            ssi: None,
            limited: Default::default(),
            sending: Default::default(),
            trailers: None,
            mirrors: Vec::new(),
            tls: None,
            bind: None,
            cache: None,
            gateway: None,
        }))
    }

    /// The test site has no error pages: the runtime never asks.
    fn client_header_timeout(&self, _: &ListenAddr) -> Duration {
        ngxr::defaults::http::CLIENT_HEADER_TIMEOUT
    }

    fn header_buffers(&self, _: &ListenAddr, _: &ListenAddr, _: Option<&[u8]>) -> HeaderBuffers {
        ngxr::defaults::http::HEADER_BUFFERS
    }

    fn keepalive_timeout(&self, _: &ListenAddr, _: &ListenAddr, _: Option<&[u8]>) -> Duration {
        ngxr::defaults::http::KEEPALIVE.timeout
    }

    fn subrequest(&self, request: &RequestInfo<'_>, _: &[u8], _: &[u8]) -> Route {
        self.route(request)
    }

    fn variable(&self, _: &RequestInfo<'_>, _: &str) -> Option<Vec<u8>> {
        None
    }

    fn refused(&self, _: &RequestInfo<'_>) -> (Arc<LogSpec>, Bytes) {
        (self.log.clone(), Bytes::new())
    }

    fn reroute(&self, request: &RequestInfo<'_>, passes: &[Pass], _: &Outcome) -> Route {
        let status = match passes.last() {
            Some(Pass::Status(status)) => *status,
            _ => 502,
        };
        Route::Respond(Response {
            status,
            log: self.log.clone(),
            routed: None,
            headers: Vec::new(),
            body: Some(Bytes::copy_from_slice(request.target)),
            errors: Vec::new(),
            length_unknown: false,
            location_base: None,
            head_cut: None,
            server_tokens: true,
            keepalive: ngxr::defaults::http::KEEPALIVE,
            gzip: None,
            sub_filter: None,
            addition: None,
            ssi: None,
            limited: Default::default(),
            sending: Default::default(),
            trailers: None,
            mirrors: Vec::new(),
        })
    }

    fn tls(&self, _listen: &ListenAddr, sni: Option<&str>) -> Option<Arc<TlsSpec>> {
        let by_name = sni.and_then(|sni| self.certs.iter().find(|(name, _)| name == sni));
        by_name.or(self.certs.first()).map(|(_, c)| c.clone())
    }

    fn tls_servers(&self, _listen: &ListenAddr) -> Vec<Arc<TlsSpec>> {
        self.certs.iter().map(|(_, c)| c.clone()).collect()
    }

    fn upstreams(&self) -> Vec<Arc<UpstreamGroup>> {
        vec![self.group.clone()]
    }

    fn process(&self) -> ProcessSpec {
        ProcessSpec {
            worker_processes: self.workers,
            worker_connections: self.worker_connections,
            pid: None,
            error_logs: Vec::new(),
            daemon: false,
            logs: vec![self.log.clone()],
            shutdown_timeout: Duration::ZERO,
            temp_paths: Vec::new(),
        }
    }
}

/// A location without `add_header`.
#[derive(Debug)]
struct NoAddedHeaders;

impl AddedHeaders for NoAddedHeaders {
    fn reads_request(&self) -> bool {
        false
    }

    fn evaluate(
        &self,
        _: &RequestInfo<'_>,
        _: &Outcome,
        _: ngxr::eval::plan::HeadersSoFar<'_>,
        _: &mut Vec<(Bytes, Bytes)>,
    ) -> Vec<(Bytes, Bytes)> {
        Vec::new()
    }
}

/// `$request $status $body_bytes_sent $upstream_addr $sent_http_server`.
#[derive(Debug)]
pub struct PlainFormat;

impl LogFormat for PlainFormat {
    fn render(&self, request: &RequestInfo<'_>, outcome: &Outcome) -> Vec<u8> {
        let sent_server = outcome
            .sent_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"server"))
            .map_or("-".into(), |(_, v)| String::from_utf8_lossy(v).into_owned());
        format!(
            "{} {} {} {} {} {} {}\n",
            request.method,
            String::from_utf8_lossy(request.target),
            request.version,
            outcome.status,
            outcome.body_bytes_sent,
            outcome
                .upstreams
                .iter()
                .map(|u| &*u.addr)
                .collect::<Vec<_>>()
                .join(", "),
            sent_server
        )
        .into_bytes()
    }
}

pub fn log_to(path: PathBuf) -> Arc<LogSpec> {
    Arc::new(LogSpec {
        subrequests: false,
        post_action: false,
        files: vec![LogFile {
            target: LogTarget::File(path),
            format: Arc::new(PlainFormat),
            buffer: None,
        }],
        errors: Vec::new(),
    })
}

/// `proxy_redirect PREFIX REPLACEMENT;` for a hand-built site: a `Location` (or `Refresh` URL)
/// starting with the prefix has it replaced.
#[derive(Debug)]
pub struct RedirectPrefix(pub &'static str, pub &'static str);

impl RedirectRewrite for RedirectPrefix {
    fn rewrite(
        &self,
        _: &RequestInfo<'_>,
        _: &Outcome,
        value: &[u8],
        at: usize,
    ) -> Option<Rewritten> {
        let rest = value[at..].strip_prefix(self.0.as_bytes())?;
        Some(Rewritten {
            value: [&value[..at], self.1.as_bytes(), rest].concat(),
            mark: None,
        })
    }

    fn written(&self) -> &[(String, String)] {
        &[]
    }
}
