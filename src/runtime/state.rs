//! What a configuration generation serves with: the compiled site plus the runtime state nginx
//! keeps per cycle (peer counters and keepalive caches of each upstream group). A reload builds
//! a new `State`; connections accepted earlier keep the one they started with.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use tokio::sync::watch;

use super::access_log::AccessLogs;
use super::balancer::{Attempt, Balancer};
use super::error::ProxyError;
use super::peer::Pool;
use super::resolver::Resolvers;
use super::server::Phase;
use super::sessions::SharedZones;
use super::tls::{Acceptor, CertCache};
use super::upstream_tls::Connector;
use crate::eval::plan::{
    ConnectionCounts, ListenAddr, ListenSpec, Site, UpstreamGroup, UpstreamTls,
};

/// One upstream group at run time.
#[derive(Debug)]
pub struct Upstream {
    pub balancer: Balancer,
    pub pool: Option<Pool>,
}

/// TLS clients by the address of their settings' `Arc`, each held with those settings so no
/// address is reused while the entry lives.
type Connectors = HashMap<usize, (Arc<UpstreamTls>, Arc<Connector>)>;

pub struct State {
    pub site: Arc<dyn Site>,
    /// Shared by every generation, so reloads do not reopen files.
    pub logs: Arc<AccessLogs>,
    /// The state of every group the site names, keyed by the address of the group's `Arc`
    /// (the site holds those `Arc`s, so no address is reused while the generation lives).
    /// Filled once in `new`, never per request.
    upstreams: HashMap<usize, Arc<Upstream>>,
    /// TLS clients per location's `proxy_ssl_*`, built on first use.
    connectors: Mutex<Connectors>,
    /// TLS acceptors per `ssl` listen socket, built on first use.
    acceptors: Mutex<HashMap<ListenAddr, Acceptor>>,
    /// Certificates read by this generation (a reload reads them again, as nginx does).
    certs: Arc<CertCache>,
    /// Shared session caches, which outlive the generation.
    sessions: Arc<SharedZones>,
    /// The server's connection counter ([`super::server::Shared::next_id`]), which upstream
    /// connections draw from too.
    pub connections: Arc<AtomicU64>,
    /// The stub_status counters ([`super::server::Shared::counts`]).
    pub counts: Arc<ConnectionCounts>,
    /// The `resolver` caches (a reload starts them afresh, as nginx's new cycle does).
    pub resolvers: Resolvers,
    /// Where this generation's connections stand: serving; draining once a QUIT or a
    /// reload retired it, as nginx's old worker drains; closing once its
    /// `worker_shutdown_timeout` is up ([`super::server::Running`] moves it on).
    pub phase: watch::Sender<Phase>,
}

impl State {
    pub fn new(
        site: Arc<dyn Site>,
        logs: Arc<AccessLogs>,
        sessions: Arc<SharedZones>,
        connections: Arc<AtomicU64>,
        counts: Arc<ConnectionCounts>,
    ) -> State {
        let upstreams = site
            .upstreams()
            .iter()
            .map(|group| (Arc::as_ptr(group) as usize, Upstream::new(group)))
            .collect();
        State {
            site,
            logs,
            upstreams,
            connectors: Mutex::new(HashMap::new()),
            acceptors: Mutex::new(HashMap::new()),
            certs: Arc::new(CertCache::default()),
            sessions,
            connections,
            counts,
            resolvers: Resolvers::default(),
            phase: watch::Sender::new(Phase::Running),
        }
    }

    /// The run-time state of `group`: the shared one of a group the site names, else (a
    /// `proxy_pass` with variables that evaluated to an address no group has) state of its
    /// own that ends with the request, as nginx builds such a request's round robin in the
    /// request's pool (`ngx_http_upstream_create_round_robin_peer`).
    pub fn upstream(&self, group: &Arc<UpstreamGroup>) -> Arc<Upstream> {
        match self.upstreams.get(&(Arc::as_ptr(group) as usize)) {
            Some(known) => known.clone(),
            None => Upstream::new(group),
        }
    }
}

impl Upstream {
    fn new(group: &Arc<UpstreamGroup>) -> Arc<Upstream> {
        Arc::new(Upstream {
            balancer: Balancer::new(group.clone()),
            pool: Pool::for_group(group),
        })
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("site", &self.site)
            .finish_non_exhaustive()
    }
}

impl State {
    /// The TLS client for `settings`, built once per generation so its session cache serves
    /// every request of the location. A file it cannot read fails the request with 500
    /// (nginx would have refused the configuration).
    pub fn connector(&self, settings: &Arc<UpstreamTls>) -> Result<Arc<Connector>, ProxyError> {
        let mut map = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        let key = Arc::as_ptr(settings) as usize;
        if let Some((_, connector)) = map.get(&key) {
            return Ok(connector.clone());
        }
        let connector = Arc::new(Connector::new(settings).map_err(ProxyError::TlsSetup)?);
        map.insert(key, (settings.clone(), connector.clone()));
        Ok(connector)
    }

    /// The TLS acceptor of the `ssl` socket `listen`.
    pub fn acceptor(&self, listen: &ListenSpec) -> Acceptor {
        let mut map = self.acceptors.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(listen.addr.clone())
            .or_insert_with(|| {
                super::tls::acceptor(
                    self.site.clone(),
                    listen.addr.clone(),
                    listen.http2,
                    self.certs.clone(),
                    &self.sessions,
                )
            })
            .clone()
    }
}

/// The server chosen for a request, counted as busy (`least_conn`, `max_conns`) until the
/// response or the tunnel ends, as nginx frees its peer only when the request finalizes.
#[derive(Debug)]
pub struct Hold {
    pub upstream: Arc<Upstream>,
    pub attempt: Attempt,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.upstream
            .balancer
            .free(&mut self.attempt, false, now_secs());
    }
}

/// Seconds since the process started: the clock `max_fails`/`fail_timeout` count in.
pub fn now_secs() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    // Starts at 1000 so a failure at "time 0" is not confused with "never checked".
    START.get_or_init(Instant::now).elapsed().as_secs() + 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Paths;
    use crate::eval::plan::{RequestInfo, Route};
    use bytes::Bytes;

    /// The site of `conf`, loaded as `ngxr -c` loads it.
    fn site(conf: &str) -> Arc<dyn Site> {
        let dir = std::env::temp_dir().join(format!("ngxr-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        crate::load::site_for_serving(&Paths::resolve(Some(&dir), Some(&path)), None).unwrap()
    }

    /// The group `GET target` is proxied to.
    fn group_of(site: &Arc<dyn Site>, target: &str) -> Arc<UpstreamGroup> {
        let headers = [(Bytes::from_static(b"host"), Bytes::from_static(b"x"))];
        let listen = site.listens()[0].addr.clone();
        let info = RequestInfo {
            listen: listen.clone(),
            remote: crate::eval::plan::Peer::Inet("10.0.0.7:5000".parse().unwrap()),
            local: listen,
            proxy_protocol: None,
            sni: None,
            tls: false,
            handshake: None,
            client_cert: None,
            plain_on_ssl: false,
            framing_refused: None,
            method: "GET",
            target: target.as_bytes(),
            version: "HTTP/1.1",
            headers: &headers,
            connection: 1,
            connection_requests: 1,
            pipelined: false,
            request_id: [b'0'; 32],
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
        };
        match site.route(&info) {
            Route::Proxy(p) => p.upstream.clone(),
            other => panic!("{target} was not proxied: {other:?}"),
        }
    }

    #[test]
    fn proxy_pass_with_variables_to_an_address_keeps_no_state_after_the_request() {
        let site = site(
            "events {} http { server { listen 127.0.0.1:18099;
               location / { proxy_pass http://127.0.0.1:$arg_p; }
               location /known { proxy_pass http://127.0.0.1:9; } } }",
        );
        let state = State::new(
            site.clone(),
            Arc::default(),
            Arc::default(),
            Arc::default(),
            Arc::default(),
        );
        let kept = state.upstreams.len();
        for port in 1000..3000 {
            let group = group_of(&site, &format!("/?p={port}"));
            let upstream = Arc::downgrade(&state.upstream(&group));
            assert!(upstream.upgrade().is_none(), "state of port {port} kept");
        }
        assert_eq!(state.upstreams.len(), kept);
        // An address a `proxy_pass` without variables names shares that group's state.
        let known = group_of(&site, "/?p=9");
        assert!(Arc::ptr_eq(
            &state.upstream(&known),
            &state.upstream(&known)
        ));
    }
}
