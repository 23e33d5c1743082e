//! TLS session resumption as nginx configures OpenSSL for it: `ssl_session_cache` (a cache of
//! this socket's own, `builtin`, and/or a named one shared by every socket naming it,
//! `shared:NAME:SIZE`, which outlives reloads), `ssl_session_tickets` and
//! `ssl_session_timeout`, which bounds both a cached session and a ticket.
//!
//! rustls keeps sessions through [`StoresServerSessions`] and tickets through
//! [`ProducesTickets`]; this module supplies both. Like OpenSSL's session id context, a
//! socket only resumes sessions created with its own certificates, even from a shared cache.
//! With `ssl_session_ticket_key`, tickets are sealed with the files' keys ([`FileKeys`]), so
//! they outlive restarts and pass between servers that share the files.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::server::{NoServerSessionStorage, ProducesTickets, StoresServerSessions};

use crate::eval::plan::{SessionSpec, SharedSessions, TlsSpec};

/// Bytes of a shared zone per session (nginx: "one megabyte of the cache contains about
/// 4000 sessions").
const ZONE_BYTES_PER_SESSION: u64 = 256;

/// A bounded cache of sessions that forgets the oldest first and each after its timeout.
#[derive(Debug)]
pub struct SessionCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Vec<u8>, Entry>,
    /// Insertion order: (serial, key); a key whose entry has another serial was replaced or
    /// taken since.
    order: VecDeque<(u64, Vec<u8>)>,
    serial: u64,
}

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires: Instant,
    serial: u64,
}

impl SessionCache {
    pub fn new(capacity: usize) -> SessionCache {
        SessionCache {
            capacity: capacity.max(1),
            inner: Mutex::new(Entries::default()),
        }
    }

    fn put(&self, key: Vec<u8>, value: Vec<u8>, timeout: Duration) {
        let mut e = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while e.map.len() >= self.capacity {
            let Some((serial, oldest)) = e.order.pop_front() else {
                break;
            };
            if e.map.get(&oldest).is_some_and(|x| x.serial == serial) {
                e.map.remove(&oldest);
            }
        }
        e.serial += 1;
        let serial = e.serial;
        e.order.push_back((serial, key.clone()));
        let entry = Entry {
            value,
            expires: Instant::now() + timeout,
            serial,
        };
        e.map.insert(key, entry);
        // Taken sessions leave stale keys behind in `order`; drop them now and then.
        if e.order.len() > 2 * e.map.len() + 64 {
            let Entries { map, order, .. } = &mut *e;
            order.retain(|(s, k)| map.get(k).is_some_and(|x| x.serial == *s));
        }
    }

    fn get(&self, key: &[u8], remove: bool) -> Option<Vec<u8>> {
        let mut e = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = e.map.get(key)?.expires > Instant::now();
        if !fresh || remove {
            return e.map.remove(key).filter(|_| fresh).map(|x| x.value);
        }
        e.map.get(key).map(|x| x.value.clone())
    }
}

/// Named caches, kept by the server across reloads as nginx keeps a shared zone whose name
/// and size did not change.
#[derive(Debug, Default)]
pub struct SharedZones {
    zones: Mutex<HashMap<String, (u64, Arc<SessionCache>)>>,
}

impl SharedZones {
    fn zone(&self, z: &SharedSessions) -> Arc<SessionCache> {
        let mut zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, cache)) = zones.get(&z.name).filter(|(size, _)| *size == z.size) {
            return cache.clone();
        }
        let capacity = usize::try_from(z.size / ZONE_BYTES_PER_SESSION).unwrap_or(usize::MAX);
        let cache = Arc::new(SessionCache::new(capacity));
        zones.insert(z.name.clone(), (z.size, cache.clone()));
        cache
    }
}

/// One socket's view of its caches: its own and a shared one, each entry tagged with the
/// socket's certificates so another socket's sessions are not resumed here.
#[derive(Debug)]
struct Store {
    caches: Vec<Arc<SessionCache>>,
    context: [u8; 8],
    timeout: Duration,
}

impl StoresServerSessions for Store {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut tagged = self.context.to_vec();
        tagged.extend_from_slice(&value);
        for cache in &self.caches {
            cache.put(key.clone(), tagged.clone(), self.timeout);
        }
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lookup(key, false)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lookup(key, true)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

impl Store {
    /// OpenSSL looks in its own cache first, then in the external (shared) one.
    fn lookup(&self, key: &[u8], take: bool) -> Option<Vec<u8>> {
        let mut found = None;
        for cache in &self.caches {
            let hit = cache.get(key, take);
            if found.is_none() {
                found = hit;
            }
            if found.is_some() && !take {
                break;
            }
        }
        found?.strip_prefix(&self.context[..]).map(<[u8]>::to_vec)
    }
}

/// The session storage for a socket whose default server has `spec`.
pub fn storage(spec: &TlsSpec, zones: &SharedZones) -> Arc<dyn StoresServerSessions> {
    let s = &spec.sessions;
    let mut caches = Vec::new();
    if let Some(capacity) = s.builtin {
        caches.push(Arc::new(SessionCache::new(capacity)));
    }
    if let Some(z) = &s.shared {
        caches.push(zones.zone(z));
    }
    if caches.is_empty() {
        return Arc::new(NoServerSessionStorage {});
    }
    let mut h = DefaultHasher::new();
    spec.certificates.hash(&mut h);
    Arc::new(Store {
        caches,
        context: h.finish().to_be_bytes(),
        timeout: s.timeout,
    })
}

/// Tickets that carry their time of issue and are refused after `ssl_session_timeout`, as
/// OpenSSL refuses a session past its timeout however it came back.
#[derive(Debug)]
struct Expiring {
    inner: Arc<dyn ProducesTickets>,
    timeout: Duration,
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ProducesTickets for Expiring {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }

    fn lifetime(&self) -> u32 {
        u32::try_from(self.timeout.as_secs()).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut stamped = unix_secs().to_be_bytes().to_vec();
        stamped.extend_from_slice(plain);
        self.inner.encrypt(&stamped)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let plain = self.inner.decrypt(cipher)?;
        let (stamp, rest) = plain.split_at_checked(8)?;
        let issued = u64::from_be_bytes(stamp.try_into().ok()?);
        let age = unix_secs().saturating_sub(issued);
        (age <= self.timeout.as_secs()).then(|| rest.to_vec())
    }
}

/// The ticketer for a socket: with `ssl_session_ticket_key`, the files' keys; else rustls's
/// own (random keys, rotated); none when tickets are off. `None` also when the keys cannot
/// be had (a file gone since the check, no randomness): the socket then goes without
/// tickets, as OpenSSL would fail to make keys.
pub fn ticketer(s: &SessionSpec) -> Option<Arc<dyn ProducesTickets>> {
    if !s.tickets {
        return None;
    }
    let inner: Arc<dyn ProducesTickets> = if s.ticket_keys.is_empty() {
        rustls::crypto::ring::Ticketer::new().ok()?
    } else {
        match FileKeys::read(&s.ticket_keys) {
            Ok(keys) => Arc::new(keys),
            Err(e) => {
                super::log::error(format_args!("{e}"));
                return None;
            }
        }
    };
    Some(Arc::new(Expiring {
        inner,
        timeout: s.timeout,
    }))
}

/// Tickets sealed with `ssl_session_ticket_key` files, nginx's layout: 48 bytes (a 16-byte
/// name, a 16-byte AES key, a 16-byte HMAC key) or 80 (name, 32-byte HMAC key, 32-byte AES
/// key). The first key seals; a ticket opens with the key its name names. A ticket is the
/// key's name, a fresh nonce and the state sealed with AES-GCM under the file's AES key (the
/// HMAC key is not needed: GCM authenticates). The state inside is rustls's, which OpenSSL
/// could not resume anyway, so the format need not be OpenSSL's.
struct FileKeys {
    keys: Vec<([u8; 16], ring::aead::LessSafeKey)>,
    random: ring::rand::SystemRandom,
}

impl std::fmt::Debug for FileKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKeys")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl FileKeys {
    fn read(paths: &[std::path::PathBuf]) -> Result<FileKeys, String> {
        let mut keys = Vec::new();
        for path in paths {
            let bytes =
                std::fs::read(path).map_err(|e| crate::syntax::include::open_failed(path, &e))?;
            keys.push(
                FileKeys::key(&bytes)
                    .ok_or_else(|| format!("\"{}\" must be 48 or 80 bytes", path.display()))?,
            );
        }
        Ok(FileKeys {
            keys,
            random: ring::rand::SystemRandom::new(),
        })
    }

    /// The name and sealing key of one file's bytes.
    fn key(bytes: &[u8]) -> Option<([u8; 16], ring::aead::LessSafeKey)> {
        let (algorithm, aes) = match bytes.len() {
            48 => (&ring::aead::AES_128_GCM, &bytes[16..32]),
            80 => (&ring::aead::AES_256_GCM, &bytes[48..80]),
            _ => return None,
        };
        let name: [u8; 16] = bytes[..16].try_into().ok()?;
        let key = ring::aead::UnboundKey::new(algorithm, aes).ok()?;
        Some((name, ring::aead::LessSafeKey::new(key)))
    }
}

impl ProducesTickets for FileKeys {
    fn enabled(&self) -> bool {
        true
    }

    /// [`Expiring`] gives the lifetime.
    fn lifetime(&self) -> u32 {
        0
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        use ring::rand::SecureRandom;
        let (name, key) = self.keys.first()?;
        let mut nonce = [0u8; ring::aead::NONCE_LEN];
        self.random.fill(&mut nonce).ok()?;
        let mut sealed = plain.to_vec();
        key.seal_in_place_append_tag(
            ring::aead::Nonce::assume_unique_for_key(nonce),
            ring::aead::Aad::from(name),
            &mut sealed,
        )
        .ok()?;
        let mut ticket = Vec::with_capacity(16 + nonce.len() + sealed.len());
        ticket.extend_from_slice(name);
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(&sealed);
        Some(ticket)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let (name, rest) = ticket.split_at_checked(16)?;
        let (nonce, sealed) = rest.split_at_checked(ring::aead::NONCE_LEN)?;
        let (_, key) = self.keys.iter().find(|(n, _)| n == name)?;
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut opened = sealed.to_vec();
        let plain = key
            .open_in_place(nonce, ring::aead::Aad::from(name), &mut opened)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_forgets_the_oldest_and_the_expired() {
        let c = SessionCache::new(2);
        let long = Duration::from_secs(60);
        c.put(b"a".to_vec(), b"1".to_vec(), long);
        c.put(b"b".to_vec(), b"2".to_vec(), long);
        c.put(b"c".to_vec(), b"3".to_vec(), long);
        assert_eq!(c.get(b"a", false), None, "the oldest made room");
        assert_eq!(c.get(b"b", false), Some(b"2".to_vec()));
        assert_eq!(c.get(b"c", true), Some(b"3".to_vec()));
        assert_eq!(c.get(b"c", false), None, "taken");
        c.put(b"d".to_vec(), b"4".to_vec(), Duration::ZERO);
        assert_eq!(c.get(b"d", false), None, "expired");
    }

    #[test]
    fn a_socket_does_not_resume_another_certificates_sessions() {
        let cache = Arc::new(SessionCache::new(10));
        let store = |context: u8| Store {
            caches: vec![cache.clone()],
            context: [context; 8],
            timeout: Duration::from_secs(60),
        };
        assert!(store(1).put(b"id".to_vec(), b"session".to_vec()));
        assert_eq!(store(2).get(b"id"), None);
        assert_eq!(store(1).get(b"id"), Some(b"session".to_vec()));
    }

    #[test]
    fn ticket_key_files_seal_and_open_by_name() {
        let dir = std::env::temp_dir().join(format!("ngxr-ticket-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let old = dir.join("old.key");
        let new = dir.join("new.key");
        std::fs::write(&old, [1u8; 48]).expect("write");
        std::fs::write(&new, [2u8; 80]).expect("write");
        let spec = |keys: Vec<std::path::PathBuf>| SessionSpec {
            builtin: None,
            shared: None,
            tickets: true,
            timeout: Duration::from_secs(300),
            ticket_keys: keys,
        };
        let before = ticketer(&spec(vec![old.clone()])).expect("keys");
        let ticket = before.encrypt(b"state").expect("sealed");
        // A restart that keeps the key opens its tickets; a new first key seals from then on.
        let after = ticketer(&spec(vec![new.clone(), old.clone()])).expect("keys");
        assert_eq!(after.decrypt(&ticket), Some(b"state".to_vec()));
        let newer = after.encrypt(b"state").expect("sealed");
        assert!(before.decrypt(&newer).is_none(), "sealed with the new key");
        let mut forged = ticket.clone();
        if let Some(last) = forged.last_mut() {
            *last ^= 1;
        }
        assert!(after.decrypt(&forged).is_none());
        let other = ticketer(&spec(vec![new])).expect("keys");
        assert!(other.decrypt(&ticket).is_none(), "the old key is gone");
        std::fs::write(&old, [1u8; 47]).expect("write");
        assert!(FileKeys::read(&[old]).is_err());
    }

    #[test]
    fn tickets_expire_with_the_session_timeout() {
        let live = ticketer(&SessionSpec {
            builtin: None,
            shared: None,
            tickets: true,
            timeout: Duration::from_secs(300),
            ticket_keys: Vec::new(),
        })
        .expect("tickets on");
        let t = live.encrypt(b"state").expect("encrypts");
        assert_eq!(live.decrypt(&t), Some(b"state".to_vec()));
        assert_eq!(live.lifetime(), 300);
        let old = Expiring {
            inner: rustls::crypto::ring::Ticketer::new().expect("keys"),
            timeout: Duration::from_secs(300),
        };
        let mut stale = (unix_secs() - 301).to_be_bytes().to_vec();
        stale.extend_from_slice(b"state");
        let t = old.inner.encrypt(&stale).expect("encrypts");
        assert_eq!(old.decrypt(&t), None);
    }
}
