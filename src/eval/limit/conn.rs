//! A `limit_conn_zone`'s counters (`ngx_http_limit_conn_handler` and its cleanup): per key,
//! the requests being served now. A request's count is held by a [`ConnHolds`] that the
//! runtime keeps for as long as the request lives (a WebSocket tunnel's whole life), and
//! dropping it gives the count back, as nginx's pool cleanup does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::slab::Slab;

#[derive(Debug)]
struct State {
    conns: HashMap<Vec<u8>, u32>,
    slab: Slab,
}

/// A zone's counters, shared by every worker thread.
#[derive(Debug)]
pub struct ConnZone {
    pub name: String,
    state: Mutex<State>,
}

/// What [`ConnZone::acquire`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Acquired {
    /// Counted: the count is given back when the hold drops.
    Held(ConnHold),
    /// At the limit already.
    Limited,
    /// No room for a new key: nginx's slab reports "no memory".
    Full,
}

/// The bytes a counter takes: the rbtree node up to `color` (32), the counter up to its key
/// (4), the key.
fn node_size(key: &[u8]) -> u64 {
    36 + key.len() as u64
}

impl ConnZone {
    pub fn new(name: String, size: u64) -> ConnZone {
        let mut slab = Slab::new(size);
        // The shared context and the log context (`ngx_http_limit_conn_init_zone`).
        slab.alloc(64);
        slab.alloc(23 + name.len() as u64);
        ConnZone {
            name,
            state: Mutex::new(State {
                conns: HashMap::new(),
                slab,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one more request for `key` unless `limit` are already counted.
    pub fn acquire(self: &Arc<Self>, key: &[u8], limit: u32) -> Acquired {
        let mut st = self.lock();
        match st.conns.get_mut(key) {
            Some(n) if *n >= limit => return Acquired::Limited,
            Some(n) => *n += 1,
            None => {
                if !st.slab.alloc(node_size(key)) {
                    return Acquired::Full;
                }
                st.conns.insert(key.to_vec(), 1);
            }
        }
        Acquired::Held(ConnHold {
            zone: self.clone(),
            key: key.to_vec(),
        })
    }

    /// The count for `key` now.
    #[cfg(test)]
    pub fn count(&self, key: &[u8]) -> u32 {
        self.lock().conns.get(key).copied().unwrap_or(0)
    }
}

/// One counted request in one zone.
#[derive(Debug)]
pub struct ConnHold {
    zone: Arc<ConnZone>,
    key: Vec<u8>,
}

impl PartialEq for ConnHold {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.zone, &other.zone) && self.key == other.key
    }
}

impl Eq for ConnHold {}

impl Drop for ConnHold {
    fn drop(&mut self) {
        let mut st = self.zone.lock();
        let gone = match st.conns.get_mut(&self.key) {
            Some(n) => {
                *n -= 1;
                *n == 0
            }
            None => false,
        };
        if gone {
            st.conns.remove(&self.key);
            st.slab.free(node_size(&self.key));
        }
    }
}

/// Every count a request holds; the runtime keeps it until the request is over.
#[derive(Debug, Default)]
pub struct ConnHolds {
    _held: Vec<ConnHold>,
}

impl ConnHolds {
    pub(super) fn new(held: Vec<ConnHold>) -> ConnHolds {
        ConnHolds { _held: held }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_held_until_dropped() {
        let z = Arc::new(ConnZone::new("addr".into(), 1 << 20));
        let a = z.acquire(b"k", 2);
        let b = z.acquire(b"k", 2);
        assert!(matches!(a, Acquired::Held(_)) && matches!(b, Acquired::Held(_)));
        assert_eq!(z.acquire(b"k", 2), Acquired::Limited);
        assert!(matches!(z.acquire(b"j", 2), Acquired::Held(_)));
        drop(a);
        assert_eq!(z.count(b"k"), 1);
        assert!(matches!(z.acquire(b"k", 2), Acquired::Held(_)));
        drop(b);
        assert_eq!(z.count(b"k"), 0);
    }

    #[test]
    fn a_full_zone_refuses_new_keys() {
        let z = Arc::new(ConnZone::new("addr".into(), 32 * 1024));
        let held: Vec<Acquired> = (0..2000u32)
            .map(|i| z.acquire(&i.to_be_bytes(), 1))
            .take_while(|a| matches!(a, Acquired::Held(_)))
            .collect();
        // 7 pages of 64-byte chunks, less the one page of 32-byte chunks and the context.
        assert_eq!(held.len(), 6 * 64 - 1);
        assert_eq!(z.acquire(b"more", 1), Acquired::Full);
        drop(held);
        assert!(matches!(z.acquire(b"more", 1), Acquired::Held(_)));
    }
}
