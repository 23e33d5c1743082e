//! `random [two]`: a peer drawn with probability proportional to its weight; with `two`, the
//! less loaded of two draws. Like nginx, gives up drawing after 20 misses and falls back to
//! round robin. (The draws cannot match nginx's `ngx_random()` sequence, only its distribution.)

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Attempt, Balancer, PeerState};

static SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

/// xorshift64*: enough for spreading load (and DNS query ids, as nginx's `ngx_random()`),
/// no dependency.
pub(crate) fn next_random() -> u64 {
    let mut x = SEED.load(Ordering::Relaxed);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    SEED.store(x, Ordering::Relaxed);
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

impl Balancer {
    pub(super) fn get_random(
        &self,
        state: &mut [PeerState],
        attempt: &mut Attempt,
        now: u64,
        two: bool,
    ) -> Option<usize> {
        if attempt.hash_tries > 20 || self.single(attempt.tier) || self.total_weight == 0 {
            return self.get_round_robin(state, attempt, now);
        }
        let Some(first) = self.draw(state, attempt, now) else {
            return self.get_round_robin(state, attempt, now);
        };
        let mut chosen = first;
        if two && let Some(second) = self.draw(state, attempt, now) {
            let (f, s) = (self.primary[first], self.primary[second]);
            let weight = |i: usize| u64::from(self.group.servers[i].weight);
            if u64::from(state[s].conns) * weight(f) < u64::from(state[f].conns) * weight(s) {
                chosen = second;
            }
        }
        self.take(state, attempt, chosen, now);
        Some(chosen)
    }

    /// One weighted draw among usable, untried primary peers (`None` after 20 misses, when
    /// round robin takes over).
    fn draw(&self, state: &mut [PeerState], attempt: &mut Attempt, now: u64) -> Option<usize> {
        loop {
            let mut x = next_random() % self.total_weight;
            let mut local = 0;
            while x >= u64::from(self.group.servers[self.primary[local]].weight) {
                x -= u64::from(self.group.servers[self.primary[local]].weight);
                local += 1;
            }
            let index = self.primary[local];
            if !attempt.tried.get(local)
                && Self::usable(&self.group.servers[index], &state[index], now)
            {
                return Some(local);
            }
            attempt.hash_tries += 1;
            if attempt.hash_tries > 20 {
                return None;
            }
        }
    }
}
