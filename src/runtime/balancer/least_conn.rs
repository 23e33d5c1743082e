//! `least_conn` (nginx's `ngx_http_upstream_get_least_conn_peer`): the peer with the fewest
//! active connections relative to its weight; ties are broken by smooth weighted round robin
//! among the tied peers, starting at the first of them.

use super::{Attempt, Balancer, PeerState};

impl Balancer {
    pub(super) fn get_least_conn(
        &self,
        state: &mut [PeerState],
        attempt: &mut Attempt,
        now: u64,
    ) -> Option<usize> {
        if self.single(attempt.tier) {
            return self.get_round_robin(state, attempt, now);
        }
        loop {
            if let Some(local) = self.least(state, attempt, now) {
                self.take(state, attempt, local, now);
                return Some(local);
            }
            if !self.to_backup(attempt) {
                return None;
            }
        }
    }

    fn least(&self, state: &mut [PeerState], attempt: &Attempt, now: u64) -> Option<usize> {
        let list = self.list(attempt.tier);
        let servers = &self.group.servers;
        // conns/weight compared as nginx does, by cross-multiplying.
        let load = |state: &[PeerState], local: usize| {
            let index = list[local];
            (
                u64::from(state[index].conns),
                u64::from(servers[index].weight),
            )
        };
        let mut best: Option<usize> = None;
        let mut many = false;
        for (local, &index) in list.iter().enumerate() {
            if attempt.tried.get(local) || !Self::usable(&servers[index], &state[index], now) {
                continue;
            }
            let (conns, weight) = load(state, local);
            match best {
                None => best = Some(local),
                Some(b) => {
                    let (bc, bw) = load(state, b);
                    if conns * bw < bc * weight {
                        best = Some(local);
                        many = false;
                    } else if conns * bw == bc * weight {
                        many = true;
                    }
                }
            }
        }
        let first = best?;
        if !many {
            return Some(first);
        }
        let (fc, fw) = load(state, first);
        let mut best = first;
        let mut total = 0;
        for local in first..list.len() {
            let index = list[local];
            let (conns, weight) = load(state, local);
            if attempt.tried.get(local)
                || conns * fw != fc * weight
                || !Self::usable(&servers[index], &state[index], now)
            {
                continue;
            }
            let peer = &mut state[index];
            peer.current_weight += peer.effective_weight;
            total += peer.effective_weight;
            if peer.effective_weight < i64::from(servers[index].weight) {
                peer.effective_weight += 1;
            }
            if peer.current_weight > state[list[best]].current_weight {
                best = local;
            }
        }
        state[list[best]].current_weight -= total;
        Some(best)
    }
}
