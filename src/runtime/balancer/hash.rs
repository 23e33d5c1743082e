//! `ip_hash`, `hash KEY` and `hash KEY consistent`, computed as nginx computes them so a client
//! or key lands on the same server under ngxr as under nginx: `ip_hash` on the first three
//! octets of an IPv4 address (the whole IPv6 address), `hash` Cache::Memcached-compatible, and
//! `consistent` on ketama points `crc32(HOST \0 PORT PREV_HASH)`, 160 per unit of weight.
//! After 20 unlucky tries each falls back to round robin, as nginx does.

use std::net::IpAddr;
use std::sync::Arc;

use super::crc32;
use super::{Attempt, Balancer, PeerState};
use crate::eval::plan::PeerSpec;

/// A ketama point: its hash and the `server` text (as written) it belongs to.
#[derive(Debug, Clone)]
pub(super) struct Point {
    hash: u32,
    server: Arc<str>,
}

/// nginx's `ngx_http_upstream_init_chash`.
pub(super) fn points<'a>(peers: impl Iterator<Item = &'a PeerSpec>) -> Vec<Point> {
    let mut points = Vec::new();
    for peer in peers {
        let server = peer.name.as_bytes();
        let (host, port) = split_host_port(server);
        let base = crc32::update(crc32::update(crc32::update(crc32::INIT, host), b"\0"), port);
        let mut prev = 0u32;
        for _ in 0..peer.weight * 160 {
            let hash = crc32::finish(crc32::update(base, &prev.to_le_bytes()));
            points.push(Point {
                hash,
                server: peer.name.clone(),
            });
            prev = hash;
        }
    }
    points.sort_by_key(|p| p.hash);
    points.dedup_by_key(|p| p.hash);
    points
}

/// `unix:PATH` → (PATH, ""); `host:123` → (host, 123); anything else is all host.
fn split_host_port(server: &[u8]) -> (&[u8], &[u8]) {
    if server.len() >= 5 && server[..5].eq_ignore_ascii_case(b"unix:") {
        return (&server[5..], b"");
    }
    let digits = server
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let colon = server.len() - digits;
    if colon > 0 && server[colon - 1] == b':' {
        return (&server[..colon - 1], &server[colon..]);
    }
    (server, b"")
}

/// The first point whose hash is >= `hash` (may be `points.len()`).
pub(super) fn find_point(points: &[Point], hash: u32) -> usize {
    points.partition_point(|p| p.hash < hash)
}

impl Balancer {
    pub(super) fn get_ip_hash(
        &self,
        state: &mut [PeerState],
        attempt: &mut Attempt,
        now: u64,
    ) -> Option<usize> {
        let octets: Vec<u8> = match attempt.client {
            Some(IpAddr::V4(v4)) => v4.octets()[..3].to_vec(),
            Some(IpAddr::V6(v6)) => v6.octets().to_vec(),
            // nginx's `ngx_http_upstream_ip_hash_pseudo_addr`.
            None => vec![0; 3],
        };
        self.get_by_weight(state, attempt, now, |attempt| {
            for &b in &octets {
                attempt.hash = (attempt.hash * 113 + u64::from(b)) % 6271;
            }
            attempt.hash
        })
    }

    pub(super) fn get_hash(
        &self,
        state: &mut [PeerState],
        attempt: &mut Attempt,
        now: u64,
    ) -> Option<usize> {
        if attempt.key.as_deref().unwrap_or_default().is_empty() {
            return self.get_round_robin(state, attempt, now);
        }
        self.get_by_weight(state, attempt, now, |attempt| {
            let mut crc = crc32::INIT;
            if attempt.rehash > 0 {
                crc = crc32::update(crc, attempt.rehash.to_string().as_bytes());
            }
            crc = crc32::update(crc, attempt.key.as_deref().unwrap_or_default());
            attempt.hash += u64::from((crc32::finish(crc) >> 16) & 0x7fff);
            attempt.rehash += 1;
            attempt.hash
        })
    }

    /// The loop `ip_hash` and `hash` share: hash → a weight slot → the peer owning it.
    fn get_by_weight(
        &self,
        state: &mut [PeerState],
        attempt: &mut Attempt,
        now: u64,
        mut next_hash: impl FnMut(&mut Attempt) -> u64,
    ) -> Option<usize> {
        if attempt.hash_tries > 20 || self.single(attempt.tier) || self.total_weight == 0 {
            return self.get_round_robin(state, attempt, now);
        }
        loop {
            let mut w = next_hash(attempt) % self.total_weight;
            let mut local = 0;
            while w >= u64::from(self.group.servers[self.primary[local]].weight) {
                w -= u64::from(self.group.servers[self.primary[local]].weight);
                local += 1;
            }
            let index = self.primary[local];
            if !attempt.tried.get(local)
                && Self::usable(&self.group.servers[index], &state[index], now)
            {
                self.take(state, attempt, local, now);
                return Some(local);
            }
            attempt.hash_tries += 1;
            if attempt.hash_tries > 20 {
                return self.get_round_robin(state, attempt, now);
            }
        }
    }

    pub(super) fn get_chash(
        &self,
        state: &mut [PeerState],
        attempt: &mut Attempt,
        now: u64,
    ) -> Option<usize> {
        let no_key = attempt.key.as_deref().unwrap_or_default().is_empty();
        if attempt.hash_tries > 20 || self.single(attempt.tier) || no_key || self.points.is_empty()
        {
            return self.get_round_robin(state, attempt, now);
        }
        loop {
            let point = &self.points[(attempt.hash % self.points.len() as u64) as usize];
            let servers = &self.group.servers;
            let primary = &self.primary;
            let only = |local: usize| servers[primary[local]].name == point.server;
            if let Some(local) = self.smooth(state, attempt, now, only) {
                self.take(state, attempt, local, now);
                return Some(local);
            }
            attempt.hash += 1;
            attempt.hash_tries += 1;
            if attempt.hash_tries > 20 {
                return self.get_round_robin(state, attempt, now);
            }
        }
    }
}
