//! Smooth weighted round robin (nginx's `ngx_http_upstream_get_round_robin_peer`): every
//! usable peer gains its effective weight, the richest is picked and pays the total. Weights
//! 5,1,1 give `a a b a c a a`. Also the fallback of every other policy.

use super::{Attempt, Balancer, PeerState};

impl Balancer {
    pub(super) fn get_round_robin(
        &self,
        state: &mut [PeerState],
        attempt: &mut Attempt,
        now: u64,
    ) -> Option<usize> {
        loop {
            if self.single(attempt.tier) {
                let index = self.primary[0];
                let spec = &self.group.servers[index];
                let peer = &mut state[index];
                if !(spec.down || spec.max_conns > 0 && peer.conns >= spec.max_conns) {
                    peer.conns += 1;
                    return Some(0);
                }
            } else if let Some(local) = self.smooth(state, attempt, now, |_| true) {
                self.take(state, attempt, local, now);
                return Some(local);
            }
            if !self.to_backup(attempt) {
                return None;
            }
        }
    }

    /// nginx's `ngx_http_upstream_get_peer`: the smooth weighted choice among the untried,
    /// usable peers of the current tier that `only` accepts (a tier-local index).
    pub(super) fn smooth(
        &self,
        state: &mut [PeerState],
        attempt: &Attempt,
        now: u64,
        only: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let list = self.list(attempt.tier);
        let mut best: Option<(usize, i64)> = None;
        let mut total = 0;
        for (local, &index) in list.iter().enumerate() {
            let spec = &self.group.servers[index];
            if attempt.tried.get(local) || !only(local) || !Self::usable(spec, &state[index], now) {
                continue;
            }
            let peer = &mut state[index];
            peer.current_weight += peer.effective_weight;
            total += peer.effective_weight;
            if peer.effective_weight < i64::from(spec.weight) {
                peer.effective_weight += 1;
            }
            if best.is_none_or(|(_, weight)| peer.current_weight > weight) {
                best = Some((local, peer.current_weight));
            }
        }
        let (local, _) = best?;
        state[list[local]].current_weight -= total;
        Some(local)
    }
}
