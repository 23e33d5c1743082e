//! Starting and stopping the server: [`Server::start`] binds every listen socket of a site
//! and serves it on `worker_processes` worker threads; the [`Running`] handle reports
//! the bound addresses, swaps in a reloaded site (new connections only, as nginx's new workers
//! take new connections while old ones finish theirs), and shuts down gracefully or at once.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{Notify, Semaphore, watch};

use super::access_log::AccessLogs;
use super::listen::{self, Listener};
use super::sessions::SharedZones;
use super::state::State;
use super::workers::Workers;
use crate::eval::plan::{ConnectionCounts, ListenAddr, ListenSpec, Site};

/// What the server (its listen sockets) or a configuration generation (its connections) is
/// doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// Finish current requests and tunnels, accept nothing new, close kept-alive connections
    /// waiting for a request (nginx's worker after QUIT, or an old one after a reload).
    Draining,
    /// `worker_shutdown_timeout` is up: what is still open closes now (nginx's shutdown
    /// timer). Only a generation gets here.
    Closing,
}

/// State every task of a server shares.
#[derive(Debug)]
pub struct Shared {
    pub state: ArcSwap<State>,
    pub logs: Arc<AccessLogs>,
    /// `ssl_session_cache shared:` zones, kept across reloads.
    pub sessions: Arc<SharedZones>,
    pub phase: watch::Sender<Phase>,
    pub limit: Arc<Semaphore>,
    pub worker_connections: usize,
    /// nginx's `ngx_connection_counter`: numbers client connections (`$connection`, the
    /// error log's `*N`) and the upstream connections opened for them alike. Kept across
    /// reloads, as nginx keeps its shared zone.
    pub next_id: Arc<AtomicU64>,
    /// nginx's `ngx_stat_*` (`stub_status`), kept across reloads as its shared zone is;
    /// `active` counts open client connections (tunnels included), `drained` wakes up when it
    /// reaches zero.
    pub counts: Arc<ConnectionCounts>,
    pub drained: Notify,
}

#[derive(Debug)]
pub struct Server;

/// A bound listen socket and the accept loops serving it with `spec`. Dropping it closes the
/// socket (and deletes a unix-domain socket's file).
#[derive(Debug)]
struct Bound {
    spec: ListenSpec,
    addr: ListenAddr,
    listener: Listener,
    accepts: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Bound {
    fn drop(&mut self) {
        self.accepts.iter().for_each(|a| a.abort());
    }
}

/// A started server.
#[derive(Debug)]
pub struct Running {
    workers: Workers,
    shared: Arc<Shared>,
    /// Each listen spec with the address it is bound to and its accept loop.
    bound: Vec<Bound>,
}

/// A site whose listen sockets are bound but not yet served: no thread exists yet, so the
/// process may still become a daemon.
#[derive(Debug)]
pub struct Prepared {
    site: Arc<dyn Site>,
    listeners: Vec<(ListenSpec, Listener)>,
}

impl Server {
    /// Binds every `listen` of `site` and starts serving.
    pub fn start(site: Arc<dyn Site>) -> io::Result<Running> {
        Server::prepare(site)?.serve()
    }

    /// Binds every `listen` of `site` (nginx reports a failed bind before going to the
    /// background).
    pub fn prepare(site: Arc<dyn Site>) -> io::Result<Prepared> {
        let listeners = site
            .listens()
            .into_iter()
            .map(|spec| listen::bind(&spec).map(|l| (spec, l)))
            .collect::<io::Result<_>>()?;
        Ok(Prepared { site, listeners })
    }
}

impl Prepared {
    /// Starts the `worker_processes` workers.
    pub fn serve(self) -> io::Result<Running> {
        let process = self.site.process();
        let workers = Workers::start(process.worker_processes)?;
        let logs = Arc::new(AccessLogs::default());
        let sessions = Arc::new(SharedZones::default());
        let next_id = Arc::new(AtomicU64::new(1));
        let counts = Arc::new(ConnectionCounts::new());
        let shared = Arc::new(Shared {
            state: ArcSwap::from_pointee(State::new(
                self.site.clone(),
                logs.clone(),
                sessions.clone(),
                next_id.clone(),
                counts.clone(),
            )),
            logs,
            sessions,
            phase: watch::Sender::new(Phase::Running),
            // nginx's cap is per worker.
            limit: Arc::new(Semaphore::new(
                process.worker_connections.max(1) * process.worker_processes.max(1),
            )),
            worker_connections: process.worker_connections,
            next_id,
            counts,
            drained: Notify::new(),
        });
        let mut running = Running {
            workers,
            shared,
            bound: Vec::new(),
        };
        for (spec, listener) in self.listeners {
            running.serve_listener(spec, listener)?;
        }
        running.spawn_flusher();
        running.open_logs();
        Ok(running)
    }
}

impl Running {
    /// The bound address of every TCP listen socket, in `listens()` order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.bound.iter().filter_map(|b| b.addr.inet()).collect()
    }

    /// Serves `site` to connections accepted from now on. A socket whose address stays is
    /// kept, as nginx's new cycle takes over the old one's sockets (its accept loops restart
    /// when what they serve it with changed: `ssl`, `proxy_protocol`...); new addresses are
    /// bound first, so a failure leaves everything as it was; the sockets no longer listed
    /// are closed (their open connections finish) and a unix-domain socket's file deleted.
    pub fn reload(&mut self, site: Arc<dyn Site>) -> io::Result<()> {
        let listens = site.listens();
        let fresh = listens
            .iter()
            .filter(|l| !self.bound.iter().any(|b| b.spec.addr == l.addr))
            .map(|spec| listen::bind(spec).map(|l| (spec.clone(), l)))
            .collect::<io::Result<Vec<_>>>()?;
        // Accept loops for the kept sockets whose options changed, made before anything is
        // replaced.
        let mut respawned: Vec<(usize, ListenSpec, Vec<_>)> = Vec::new();
        for (i, b) in self.bound.iter().enumerate() {
            let Some(spec) = listens
                .iter()
                .find(|l| l.addr == b.spec.addr && **l != b.spec)
            else {
                continue;
            };
            match self.spawn_accepts(spec, &b.listener) {
                Ok(accepts) => respawned.push((i, spec.clone(), accepts)),
                Err(e) => {
                    let spawned = respawned.iter().flat_map(|(_, _, a)| a);
                    spawned.for_each(|a| a.abort());
                    return Err(e);
                }
            }
        }
        for (i, spec, accepts) in respawned {
            let b = &mut self.bound[i];
            if spec.socket != b.spec.socket {
                b.listener.reconfigure(&spec, &b.spec.socket);
            }
            b.accepts.iter().for_each(|a| a.abort());
            (b.spec, b.accepts) = (spec, accepts);
        }
        self.bound.retain(|b| {
            let kept = listens.iter().any(|l| l.addr == b.spec.addr);
            if let (false, ListenAddr::Unix(path)) = (kept, &b.spec.addr) {
                super::log::warn(format_args!("deleting socket {path}"));
            }
            kept
        });
        for (spec, listener) in fresh {
            self.serve_listener(spec, listener)?;
        }
        let state = State::new(
            site,
            self.shared.logs.clone(),
            self.shared.sessions.clone(),
            self.shared.next_id.clone(),
            self.shared.counts.clone(),
        );
        let old = self.shared.state.swap(Arc::new(state));
        self.retire(&old);
        // The old configuration's buffered lines are written and its files closed; the
        // caller opens the new one's.
        self.shared.logs.reopen();
        Ok(())
    }

    /// Flushes and reopens the access logs and the error log (nginx's USR1).
    pub fn reopen_logs(&self) {
        self.shared.logs.reopen();
        super::log::reopen();
        self.open_logs();
    }

    /// Opens (creating) every log file of the running configuration, as nginx does when it
    /// loads one and on SIGUSR1; after [`super::log::configure`], which closes the levels'.
    pub fn open_logs(&self) {
        let process = self.shared.state.load().site.process();
        for spec in &process.logs {
            for file in &spec.files {
                self.shared.logs.open(file);
            }
            super::log::open_level(&spec.errors);
        }
    }

    /// Stops accepting and waits until every connection and tunnel has finished, or has been
    /// closed by `worker_shutdown_timeout`.
    pub async fn shutdown_graceful(mut self) {
        self.shared.phase.send_replace(Phase::Draining);
        self.retire(&self.shared.state.load_full());
        loop {
            let drained = self.shared.drained.notified();
            if self.shared.counts.active.get() == 0 {
                break;
            }
            // A bounded wait re-checks the counter in case a wake-up was missed.
            let _ = tokio::time::timeout(Duration::from_millis(200), drained).await;
        }
        self.shutdown_now();
    }

    /// Drains the connections of `state`, a generation no longer taking new ones, and sets
    /// its `worker_shutdown_timeout` timer, as nginx's worker does on QUIT
    /// (`ngx_set_shutdown_timer`); the timer closes what is still open then. A generation
    /// already retired keeps its timer.
    fn retire(&self, state: &Arc<State>) {
        let began = state.phase.send_if_modified(|p| {
            let running = *p == Phase::Running;
            if running {
                *p = Phase::Draining;
            }
            running
        });
        let timeout = state.site.process().shutdown_timeout;
        if !began || timeout.is_zero() {
            return;
        }
        // Weak: a generation whose connections have all ended needs no timer.
        let state = Arc::downgrade(state);
        self.workers.spawn_one(async move {
            tokio::time::sleep(timeout).await;
            if let Some(state) = state.upgrade() {
                state.phase.send_replace(Phase::Closing);
            }
        });
    }

    /// Closes everything at once (nginx's TERM/INT).
    pub fn shutdown_now(&mut self) {
        self.shared.phase.send_replace(Phase::Draining);
        self.shared.logs.flush();
        self.workers.stop();
    }

    /// Serves `listener`, bound for `spec`.
    fn serve_listener(&mut self, spec: ListenSpec, listener: Listener) -> io::Result<()> {
        let addr = listener.bound_addr(&spec);
        let accepts = self.spawn_accepts(&spec, &listener)?;
        self.bound.push(Bound {
            spec,
            addr,
            listener,
            accepts,
        });
        Ok(())
    }

    /// Every worker accepts on its own copy of the socket, with its own copy of `spec` (so
    /// no count is shared between threads per connection).
    fn spawn_accepts(
        &self,
        spec: &ListenSpec,
        listener: &Listener,
    ) -> io::Result<Vec<tokio::task::JoinHandle<()>>> {
        let tasks = (0..self.workers.count())
            .map(|_| {
                let copy = listener.try_clone()?;
                let spec = Arc::new(spec.clone());
                Ok(listen::accept_loop(self.shared.clone(), spec, copy))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(self.workers.spawn_each(tasks))
    }

    /// Writes buffered access-log lines out once their `flush=` time is up (checked every
    /// second).
    fn spawn_flusher(&self) {
        let logs = Arc::downgrade(&self.shared.logs);
        self.workers.spawn_one(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                match logs.upgrade() {
                    Some(logs) => logs.flush_due(),
                    None => return,
                }
            }
        });
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}
