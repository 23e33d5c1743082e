//! What a configuration generation serves with: the compiled site plus the runtime state nginx
//! keeps per cycle (peer counters and keepalive caches of each upstream group). A reload builds
//! a new `State`; connections accepted earlier keep the one they started with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::access_log::AccessLogs;
use super::balancer::{Attempt, Balancer};
use super::peer::Pool;
use super::sessions::SharedZones;
use super::tls::CertCache;
use crate::eval::plan::{Site, UpstreamGroup};
use tokio_rustls::TlsAcceptor;

/// One upstream group at run time.
#[derive(Debug)]
pub struct Upstream {
    pub balancer: Balancer,
    pub pool: Option<Pool>,
}

pub struct State {
    pub site: Arc<dyn Site>,
    /// Shared by every generation, so reloads do not reopen files.
    pub logs: Arc<AccessLogs>,
    /// Keyed by the address of the group's `Arc` (the site hands out the same `Arc`s).
    upstreams: Mutex<HashMap<usize, Arc<Upstream>>>,
    /// TLS acceptors per `ssl` listen socket, built on first use.
    acceptors: Mutex<HashMap<SocketAddr, TlsAcceptor>>,
    /// Certificates read by this generation (a reload reads them again, as nginx does).
    certs: Arc<CertCache>,
    /// Shared session caches, which outlive the generation.
    sessions: Arc<SharedZones>,
}

impl State {
    pub fn new(site: Arc<dyn Site>, logs: Arc<AccessLogs>, sessions: Arc<SharedZones>) -> State {
        let state = State {
            site,
            logs,
            upstreams: Mutex::new(HashMap::new()),
            acceptors: Mutex::new(HashMap::new()),
            certs: Arc::new(CertCache::default()),
            sessions,
        };
        for group in state.site.upstreams() {
            state.upstream(&group);
        }
        state
    }

    /// The run-time state of `group`, created on first use.
    pub fn upstream(&self, group: &Arc<UpstreamGroup>) -> Arc<Upstream> {
        let key = Arc::as_ptr(group) as usize;
        let mut map = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key)
            .or_insert_with(|| {
                Arc::new(Upstream {
                    balancer: Balancer::new(group.clone()),
                    pool: Pool::for_group(group),
                })
            })
            .clone()
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
    /// The TLS acceptor of the `ssl` socket `listen`.
    pub fn acceptor(&self, listen: SocketAddr) -> TlsAcceptor {
        let mut map = self.acceptors.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(listen)
            .or_insert_with(|| {
                super::tls::acceptor(
                    self.site.clone(),
                    listen,
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
