//! A `limit_req_zone`'s states and nginx's leaky bucket (`ngx_http_limit_req_lookup`,
//! `_account`, `_unlock`, `_expire`): per key, the excess of requests over the rate in
//! thousandths of a request and the time it was last updated, kept in least-recently-used
//! order so old states make room for new ones.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::slab::Slab;

/// One key's state (`ngx_http_limit_req_node_t`).
#[derive(Debug)]
struct Node {
    /// Thousandths of a request above the rate.
    excess: u64,
    /// Milliseconds (nginx's `ngx_current_msec`).
    last: u64,
    /// Requests holding the node between lookup and account (it may not be evicted then).
    count: u32,
    /// Position in the LRU order.
    stamp: u64,
}

#[derive(Debug)]
struct State {
    nodes: HashMap<Vec<u8>, Node>,
    /// Stamps, oldest first, to their keys.
    order: BTreeMap<u64, Vec<u8>>,
    next: u64,
    slab: Slab,
}

/// A zone's states, shared by every worker thread.
#[derive(Debug)]
pub struct ReqZone {
    pub name: String,
    /// Thousandths of a request per second.
    pub rate: u64,
    state: Mutex<State>,
}

/// What a lookup found (`NGX_BUSY`, `NGX_ERROR`, `NGX_OK`, `NGX_AGAIN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Over the burst: the excess it would have had.
    Busy(u64),
    /// No room for a new state: "could not allocate node".
    Full,
    /// The last limit: accounted, with its excess.
    Ok(u64),
    /// An earlier limit: the node is held until [`ReqZone::account`] or [`ReqZone::unlock`].
    Again,
}

/// The bytes a state takes in nginx's zone: the rbtree node up to `color` (32), the state
/// up to its key (48), the key.
fn node_size(key: &[u8]) -> u64 {
    80 + key.len() as u64
}

/// nginx's `ms = now - last` with its clamps for a clock that went back.
fn elapsed(now: u64, last: u64) -> i64 {
    let ms = now.wrapping_sub(last) as i64;
    if ms < -60000 { 1 } else { ms.max(0) }
}

impl ReqZone {
    pub fn new(name: String, rate: u64, size: u64) -> ReqZone {
        let mut slab = Slab::new(size);
        // The zone's shared context and its log context, as `ngx_http_limit_req_init_zone`
        // allocates them.
        slab.alloc(80);
        slab.alloc(21 + name.len() as u64);
        ReqZone {
            name,
            rate: rate.max(1),
            state: Mutex::new(State {
                nodes: HashMap::new(),
                order: BTreeMap::new(),
                next: 0,
                slab,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The excess once `ms` milliseconds drained it, plus this request.
    fn leak(&self, excess: u64, ms: i64) -> u64 {
        let drained = i128::from(self.rate) * i128::from(ms) / 1000;
        (i128::from(excess) - drained + 1000).clamp(0, i128::from(u64::MAX)) as u64
    }

    /// `ngx_http_limit_req_lookup`: `account` is set for the last limit of the level.
    pub fn lookup(&self, key: &[u8], now: u64, burst: u64, account: bool) -> Lookup {
        let mut st = self.lock();
        let stamp = st.next;
        st.next += 1;
        if let Some(node) = st.nodes.get(key) {
            let (old_stamp, last, excess) = (node.stamp, node.last, node.excess);
            st.order.remove(&old_stamp);
            st.order.insert(stamp, key.to_vec());
            let ms = elapsed(now, last);
            let excess = self.leak(excess, ms);
            let Some(node) = st.nodes.get_mut(key) else {
                return Lookup::Full;
            };
            node.stamp = stamp;
            if excess > burst {
                return Lookup::Busy(excess);
            }
            if account {
                node.excess = excess;
                if ms != 0 {
                    node.last = now;
                }
                return Lookup::Ok(excess);
            }
            node.count += 1;
            return Lookup::Again;
        }
        let size = node_size(key);
        self.expire(&mut st, now, 1);
        if !st.slab.alloc(size) {
            self.expire(&mut st, now, 0);
            if !st.slab.alloc(size) {
                return Lookup::Full;
            }
        }
        st.order.insert(stamp, key.to_vec());
        let (last, count) = if account { (now, 0) } else { (0, 1) };
        st.nodes.insert(
            key.to_vec(),
            Node {
                excess: 0,
                last,
                count,
                stamp,
            },
        );
        if account {
            Lookup::Ok(0)
        } else {
            Lookup::Again
        }
    }

    /// `ngx_http_limit_req_account` for one held node: its excess now, which it keeps, and
    /// the hold released.
    pub fn account(&self, key: &[u8], now: u64) -> u64 {
        let mut st = self.lock();
        let Some(node) = st.nodes.get_mut(key) else {
            return 0;
        };
        let ms = elapsed(now, node.last);
        let excess = self.leak(node.excess, ms);
        if ms != 0 {
            node.last = now;
        }
        node.excess = excess;
        node.count = node.count.saturating_sub(1);
        excess
    }

    /// `ngx_http_limit_req_unlock` for one held node.
    pub fn unlock(&self, key: &[u8]) {
        if let Some(node) = self.lock().nodes.get_mut(key) {
            node.count = node.count.saturating_sub(1);
        }
    }

    /// `ngx_http_limit_req_expire`: `n == 1` drops up to two idle states whose excess has
    /// drained for a minute; `n == 0` drops the oldest state first, whatever it holds.
    fn expire(&self, st: &mut State, now: u64, mut n: u32) {
        while n < 3 {
            let Some((&stamp, key)) = st.order.first_key_value() else {
                return;
            };
            let Some(node) = st.nodes.get(key) else {
                return;
            };
            if node.count != 0 {
                return;
            }
            if n != 0 {
                let ms = (now.wrapping_sub(node.last) as i64).unsigned_abs();
                if ms < 60000 {
                    return;
                }
                let drained = u128::from(self.rate) * u128::from(ms) / 1000;
                if u128::from(node.excess) > drained {
                    return;
                }
            }
            n += 1;
            let key = key.clone();
            st.order.remove(&stamp);
            st.nodes.remove(&key);
            st.slab.free(node_size(&key));
        }
    }

    /// How many states the zone holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock far from 0, as nginx's monotonic milliseconds are.
    const T: u64 = 1 << 40;

    fn zone(rate_per_s: u64) -> ReqZone {
        ReqZone::new("one".into(), rate_per_s * 1000, 1 << 20)
    }

    #[test]
    fn one_per_second_with_a_burst_of_two_takes_three_at_once() {
        let z = zone(1);
        let seq: Vec<Lookup> = (0..5).map(|_| z.lookup(b"k", T, 2000, true)).collect();
        assert_eq!(
            seq,
            [
                Lookup::Ok(0),
                Lookup::Ok(1000),
                Lookup::Ok(2000),
                Lookup::Busy(3000),
                Lookup::Busy(3000)
            ]
        );
        // Half a second later half a request has leaked.
        assert_eq!(z.lookup(b"k", T + 500, 2000, true), Lookup::Busy(2500));
        assert_eq!(z.lookup(b"k", T + 1000, 2000, true), Lookup::Ok(2000));
        // Other keys have their own buckets.
        assert_eq!(z.lookup(b"j", T, 2000, true), Lookup::Ok(0));
    }

    #[test]
    fn without_burst_the_second_request_within_the_interval_is_refused() {
        let z = zone(2);
        assert_eq!(z.lookup(b"k", T, 0, true), Lookup::Ok(0));
        assert_eq!(z.lookup(b"k", T + 100, 0, true), Lookup::Busy(800));
        // Refusals do not add to the excess: 500 ms after the first, it has drained.
        assert_eq!(z.lookup(b"k", T + 500, 0, true), Lookup::Ok(0));
    }

    #[test]
    fn held_nodes_are_accounted_later() {
        let z = zone(1);
        assert_eq!(z.lookup(b"k", T, 0, false), Lookup::Again);
        // A new held node starts from `last = 0`: accounting drains it fully.
        assert_eq!(z.account(b"k", T), 0);
        assert_eq!(z.lookup(b"k", T, 5000, false), Lookup::Again);
        assert_eq!(z.account(b"k", T), 1000);
        assert_eq!(z.lookup(b"k", T, 5000, false), Lookup::Again);
        z.unlock(b"k");
        assert_eq!(z.lookup(b"k", T, 5000, true), Lookup::Ok(2000));
    }

    #[test]
    fn a_full_zone_evicts_the_oldest_state() {
        let z = ReqZone::new("one".into(), 1000, 32 * 1024);
        for i in 0..191u32 {
            assert_eq!(z.lookup(&i.to_be_bytes(), T, 0, true), Lookup::Ok(0));
        }
        assert_eq!(z.len(), 191);
        assert_eq!(z.lookup(b"new!", T, 0, true), Lookup::Ok(0));
        assert_eq!(z.len(), 191);
        // The oldest (key 0) was dropped: it starts afresh.
        assert_eq!(z.lookup(&0u32.to_be_bytes(), T, 0, true), Lookup::Ok(0));
        // A held oldest state cannot be dropped: the zone is full.
        let z = ReqZone::new("one".into(), 1000, 32 * 1024);
        assert_eq!(z.lookup(b"held", T, 0, false), Lookup::Again);
        for i in 0..190u32 {
            assert_eq!(z.lookup(&i.to_be_bytes(), T, 0, true), Lookup::Ok(0));
        }
        assert_eq!(z.lookup(b"more", T, 0, true), Lookup::Full);
    }

    #[test]
    fn idle_drained_states_expire_after_a_minute() {
        let z = zone(1);
        z.lookup(b"a", T, 0, true);
        z.lookup(b"b", T, 0, true);
        z.lookup(b"c", T + 61_000, 0, true);
        assert_eq!(z.len(), 1);
    }
}
