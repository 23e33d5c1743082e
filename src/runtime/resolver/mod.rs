//! nginx's resolver (`src/core/ngx_resolver.c`) for `proxy_pass` with variables: a host name
//! no upstream block has is asked of the `resolver`'s DNS servers over UDP (A, and AAAA
//! unless `ipv6=off`), answers are kept for their TTL (or `valid=`), CNAMEs are followed, and
//! the addresses become the servers of a group of the request's own, as
//! `ngx_http_upstream_create_round_robin_peer` makes one: tried in order, one after another
//! as `proxy_next_upstream` allows, with no state kept between requests.
//!
//! Each `resolver` directive has one cache, shared by the levels that inherit it; failures
//! are not kept. Differences: concurrent requests for the same name each ask (nginx makes the
//! later ones wait for the first), a resend goes out on a new socket so a late answer to the
//! previous one is lost, and a truncated answer is read as it is (nginx asks again over TCP).

mod cache;
mod exchange;
mod wire;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use self::cache::{Cache, Record};
use self::exchange::Question;
use self::wire::{TYPE_A, TYPE_AAAA};
use crate::eval::plan::{PeerAddr, Resolve, ResolverSpec, UpstreamGroup};
use crate::eval::upstream::implicit;

/// How long a query waits for its answer before it is sent again, to the next server
/// (nginx's `resend_timeout`).
const RESEND: Duration = Duration::from_secs(5);
/// CNAMEs followed for one name (`NGX_RESOLVER_MAX_RECURSION`).
const MAX_RECURSION: usize = 50;
/// nginx's NXDOMAIN, which it also answers for a name that has no address.
pub(super) const NXDOMAIN: u8 = 3;

/// Why a name could not be resolved, as nginx reports it: `NAME could not be resolved
/// (CODE: TEXT)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A DNS response code, or 3 when the name has no address.
    #[error("{0}: {text}", text = strerror(*.0))]
    Code(u8),
    /// `resolver_timeout` passed without an answer.
    #[error("110: Operation timed out")]
    TimedOut,
}

/// `ngx_resolver_strerror`.
pub(super) fn strerror(code: u8) -> &'static str {
    match code {
        1 => "Format error",
        2 => "Server failure",
        3 => "Host not found",
        4 => "Unimplemented",
        5 => "Operation refused",
        _ => "Unknown error",
    }
}

/// The caches of one configuration generation, one per `resolver` directive (keyed by the
/// address of its `Arc`, which the site keeps as long as the generation lives).
#[derive(Debug, Default)]
pub struct Resolvers {
    caches: Mutex<HashMap<usize, Arc<Resolver>>>,
}

/// One `resolver`: its servers, its cache, and which server the next query goes to.
#[derive(Debug)]
struct Resolver {
    spec: Arc<ResolverSpec>,
    cache: Cache,
    next_server: AtomicUsize,
}

impl Resolvers {
    /// The request's own group for `name`: its addresses with `name.port`, named after the
    /// host (as nginx names a resolved group). The site does not know it, so its balancing
    /// state lives as long as the request (`State::upstream`).
    pub async fn group(&self, name: &Resolve) -> Result<Arc<UpstreamGroup>, ResolveError> {
        let resolver = self.resolver(&name.resolver);
        let deadline = Instant::now() + name.timeout;
        let addrs = resolver.addresses(&name.host, deadline).await?;
        let peers: Vec<PeerAddr> = addrs
            .into_iter()
            .map(|ip| PeerAddr::Tcp(SocketAddr::new(ip, name.port)))
            .collect();
        Ok(implicit(name.host.clone(), name.port, &peers).group)
    }

    fn resolver(&self, spec: &Arc<ResolverSpec>) -> Arc<Resolver> {
        let key = Arc::as_ptr(spec) as usize;
        let mut map = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key)
            .or_insert_with(|| {
                Arc::new(Resolver {
                    spec: spec.clone(),
                    cache: Cache::default(),
                    next_server: AtomicUsize::new(0),
                })
            })
            .clone()
    }
}

impl Resolver {
    /// `host`'s addresses: cached ones rotated as nginx rotates them, fresh ones in the
    /// answers' order (A before AAAA), following CNAMEs.
    async fn addresses(&self, host: &str, deadline: Instant) -> Result<Vec<IpAddr>, ResolveError> {
        let mut name = host.to_ascii_lowercase();
        for _ in 0..=MAX_RECURSION {
            if let Some(record) = self.cache.get(&name, Instant::now()) {
                match record {
                    Record::Addrs { addrs, ipv4 } => return Ok(cache::rotated(&addrs, ipv4)),
                    Record::Alias(target) => {
                        name = target;
                        continue;
                    }
                }
            }
            let (record, ttl) = self.ask(&name, deadline).await?;
            let valid = self
                .spec
                .valid
                .unwrap_or(Duration::from_secs(u64::from(ttl)));
            let now = Instant::now();
            self.cache.put(&name, record.clone(), now, now + valid);
            match record {
                Record::Addrs { addrs, .. } => return Ok(addrs),
                Record::Alias(target) => name = target,
            }
        }
        Err(ResolveError::Code(NXDOMAIN))
    }

    /// Asks the servers, in turn, until every question has its answer or `deadline` passes;
    /// combines the answers as `ngx_resolver_process_a` does.
    async fn ask(&self, name: &str, deadline: Instant) -> Result<(Record, u32), ResolveError> {
        let types: &[u16] = if self.spec.ipv6 {
            &[TYPE_A, TYPE_AAAA]
        } else {
            &[TYPE_A]
        };
        let mut pending = Vec::with_capacity(types.len());
        for &qtype in types {
            let id = (super::balancer::next_random() & 0xffff) as u16;
            let query = wire::query(id, name, qtype).map_err(|_| ResolveError::Code(NXDOMAIN))?;
            pending.push(Question { id, qtype, query });
        }
        let mut answers = Vec::with_capacity(types.len());
        while !pending.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return Err(ResolveError::TimedOut);
            }
            let server = self.server();
            let round_end = deadline.min(now + RESEND);
            let asked = exchange::round(server, name, &mut pending, &mut answers, round_end);
            if let Err((call, e)) = asked.await {
                super::log::error(format_args!(
                    "{call} failed ({}) while resolving, resolver: {server}",
                    crate::syntax::include::os_error(&e)
                ));
                tokio::time::sleep_until(round_end.into()).await;
            }
        }
        cache::combine(&answers).map_err(ResolveError::Code)
    }

    /// The next server in turn.
    fn server(&self) -> SocketAddr {
        let i = self.next_server.fetch_add(1, Ordering::Relaxed);
        self.spec.servers[i % self.spec.servers.len()]
    }
}
