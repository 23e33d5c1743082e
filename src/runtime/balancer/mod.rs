//! Choosing the upstream server for each try, the way nginx's balancers choose: the same
//! sequence for the same weights, the same peers skipped as `down` or failed, the same switch to
//! `backup` servers. Pure logic over a peer table; callers pass the time in seconds (nginx's
//! `ngx_time()`), so the unit tests replay nginx's decisions exactly.
//!
//! One [`Balancer`] per upstream group lives as long as the site; each request opens an
//! [`Attempt`] (nginx's per-request peer data: tried bits, hash state, tries left), then calls
//! [`Balancer::get`] for each try and [`Balancer::free`] with the result.

mod crc32;
mod hash;
mod least_conn;
mod random;
mod round_robin;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

pub(crate) use random::next_random;

use crate::eval::plan::{Balance, PeerSpec, UpstreamGroup};

/// Peer state shared by every request of one group (nginx's `ngx_http_upstream_rr_peer_t`).
#[derive(Debug, Clone, Default)]
struct PeerState {
    current_weight: i64,
    effective_weight: i64,
    fails: u32,
    accessed: u64,
    checked: u64,
    conns: u32,
}

/// The primary servers, or the `backup` ones (nginx's `peers` and `peers->next`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Primary,
    Backup,
}

/// The state of one group's servers and the policy that picks among them.
#[derive(Debug)]
pub(crate) struct Balancer {
    group: Arc<UpstreamGroup>,
    state: Mutex<Vec<PeerState>>,
    /// Indices into `group.servers`.
    primary: Vec<usize>,
    backup: Vec<usize>,
    /// Sum of the primary weights, `down` ones included (as nginx counts them).
    total_weight: u64,
    /// `hash ... consistent`: the ketama points, sorted.
    points: Vec<hash::Point>,
}

/// nginx's `tried` bitmap over a tier's servers: held inline for up to 64 of them, so a
/// request's attempt allocates nothing.
#[derive(Debug, Default)]
struct Tried {
    low: u64,
    high: Vec<bool>,
}

impl Tried {
    fn new(servers: usize) -> Tried {
        Tried {
            low: 0,
            high: vec![false; servers.saturating_sub(64)],
        }
    }

    fn get(&self, i: usize) -> bool {
        match i.checked_sub(64) {
            None => self.low >> i & 1 == 1,
            Some(i) => self.high.get(i).copied().unwrap_or(false),
        }
    }

    fn set(&mut self, i: usize) {
        match i.checked_sub(64) {
            None => self.low |= 1 << i,
            Some(i) => {
                if let Some(bit) = self.high.get_mut(i) {
                    *bit = true;
                }
            }
        }
    }
}

/// One request's progress through the peers (nginx's per-request peer data).
#[derive(Debug)]
pub(crate) struct Attempt {
    tier: Tier,
    /// Tried bits over the current tier's list.
    tried: Tried,
    /// Tries left (nginx's `pc->tries`): every server that is not `down`.
    pub(crate) tries: u32,
    /// The tier-local index of the last peer handed out.
    current: Option<usize>,
    /// `None`: a unix-domain socket's client.
    client: Option<IpAddr>,
    key: Option<Bytes>,
    hash: u64,
    rehash: u64,
    hash_tries: u32,
}

impl Balancer {
    pub(crate) fn new(group: Arc<UpstreamGroup>) -> Balancer {
        let state = group
            .servers
            .iter()
            .map(|s| PeerState {
                effective_weight: i64::from(s.weight),
                ..PeerState::default()
            })
            .collect();
        let (backup, primary): (Vec<usize>, Vec<usize>) =
            (0..group.servers.len()).partition(|&i| group.servers[i].backup);
        let total_weight = primary
            .iter()
            .map(|&i| u64::from(group.servers[i].weight))
            .sum();
        let points = match group.policy {
            Balance::Hash { consistent: true } => {
                hash::points(primary.iter().map(|&i| &group.servers[i]))
            }
            _ => Vec::new(),
        };
        Balancer {
            group,
            state: Mutex::new(state),
            primary,
            backup,
            total_weight,
            points,
        }
    }

    /// Starts a request (nginx's `init_peer`): `client` feeds `ip_hash`, `key` feeds `hash`.
    pub(crate) fn begin(&self, client: Option<IpAddr>, key: Option<Bytes>) -> Attempt {
        let live = |list: &[usize]| {
            list.iter()
                .filter(|&&i| !self.group.servers[i].down)
                .count()
        };
        let tries = (live(&self.primary) + live(&self.backup)) as u32;
        let mut attempt = Attempt {
            tier: Tier::Primary,
            tried: Tried::new(self.primary.len()),
            tries,
            current: None,
            client,
            key,
            hash: 0,
            rehash: 0,
            hash_tries: 0,
        };
        match self.group.policy {
            Balance::IpHash => attempt.hash = 89,
            Balance::Hash { consistent: true } => {
                let key = attempt.key.as_deref().unwrap_or_default();
                attempt.hash = hash::find_point(&self.points, crc32::crc32(key)) as u64;
            }
            _ => {}
        }
        attempt
    }

    /// The next server to try, as an index into the group's `servers`; `None` when no server
    /// is available ("no live upstreams").
    pub(crate) fn get(&self, attempt: &mut Attempt, now: u64) -> Option<usize> {
        let mut state = self.lock();
        let local = match self.group.policy {
            Balance::RoundRobin => self.get_round_robin(&mut state, attempt, now),
            Balance::LeastConn => self.get_least_conn(&mut state, attempt, now),
            Balance::IpHash => self.get_ip_hash(&mut state, attempt, now),
            Balance::Hash { consistent: false } => self.get_hash(&mut state, attempt, now),
            Balance::Hash { consistent: true } => self.get_chash(&mut state, attempt, now),
            Balance::Random { two } => self.get_random(&mut state, attempt, now, two),
        }?;
        attempt.current = Some(local);
        Some(self.list(attempt.tier)[local])
    }

    /// Drops what only picking needs (the hash key), for an attempt that is over but whose
    /// server stays busy. No `get` may follow.
    pub(crate) fn settle(attempt: &mut Attempt) {
        attempt.key = None;
        attempt.tried = Tried::default();
    }

    /// Ends a try on the server [`get`](Self::get) returned; `failed` counts towards
    /// `max_fails` (nginx's `free_round_robin_peer`). `true`: that failure reached
    /// `max_fails`, so the server is now disabled for `fail_timeout` (nginx warns with the
    /// request's context, which the caller has).
    pub(crate) fn free(&self, attempt: &mut Attempt, failed: bool, now: u64) -> bool {
        let Some(local) = attempt.current.take() else {
            return false;
        };
        let index = self.list(attempt.tier)[local];
        let spec = &self.group.servers[index];
        let mut state = self.lock();
        let peer = &mut state[index];
        if self.single(attempt.tier) {
            peer.conns = peer.conns.saturating_sub(1);
            attempt.tries = 0;
            return false;
        }
        let mut disabled = false;
        if failed {
            peer.fails += 1;
            peer.accessed = now;
            peer.checked = now;
            if let Some(step) = spec.weight.checked_div(spec.max_fails) {
                peer.effective_weight -= i64::from(step);
                disabled = peer.fails >= spec.max_fails;
            }
            peer.effective_weight = peer.effective_weight.max(0);
        } else if peer.accessed < peer.checked {
            peer.fails = 0;
        }
        peer.conns = peer.conns.saturating_sub(1);
        attempt.tries = attempt.tries.saturating_sub(1);
        disabled
    }

    fn lock(&self) -> MutexGuard<'_, Vec<PeerState>> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn list(&self, tier: Tier) -> &[usize] {
        match tier {
            Tier::Primary => &self.primary,
            Tier::Backup => &self.backup,
        }
    }

    /// nginx's `peers->single`: one primary server and no backup.
    fn single(&self, tier: Tier) -> bool {
        tier == Tier::Primary && self.primary.len() == 1 && self.backup.is_empty()
    }

    /// Whether a server may be tried now: not `down`, not failed within `fail_timeout`, under
    /// `max_conns`.
    fn usable(spec: &PeerSpec, peer: &PeerState, now: u64) -> bool {
        if spec.down {
            return false;
        }
        if spec.max_fails > 0
            && peer.fails >= spec.max_fails
            && now.saturating_sub(peer.checked) <= spec.fail_timeout.as_secs()
        {
            return false;
        }
        !(spec.max_conns > 0 && peer.conns >= spec.max_conns)
    }

    /// Marks a pick (nginx: `conns++`, and `checked` moves on once `fail_timeout` has passed).
    fn take(&self, state: &mut [PeerState], attempt: &mut Attempt, local: usize, now: u64) {
        let index = self.list(attempt.tier)[local];
        let peer = &mut state[index];
        peer.conns += 1;
        if now.saturating_sub(peer.checked) > self.group.servers[index].fail_timeout.as_secs() {
            peer.checked = now;
        }
        attempt.tried.set(local);
    }

    /// Moves to the backup servers, if any (nginx's `failed:` label).
    fn to_backup(&self, attempt: &mut Attempt) -> bool {
        if attempt.tier == Tier::Backup || self.backup.is_empty() {
            return false;
        }
        attempt.tier = Tier::Backup;
        attempt.tried = Tried::new(self.backup.len());
        true
    }
}
