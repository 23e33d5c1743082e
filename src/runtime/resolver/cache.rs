//! What a resolver keeps between requests (nginx's name tree): per lowercased name, its
//! addresses or the name it is an alias of, until the answer's TTL (or `valid=`) runs out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use super::NXDOMAIN;
use super::wire::Answer;

/// What a name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The A addresses then the AAAA ones; `ipv4` counts the former.
    Addrs { addrs: Vec<IpAddr>, ipv4: usize },
    /// A CNAME: its target is looked up in turn.
    Alias(String),
}

#[derive(Debug, Default)]
pub struct Cache {
    names: Mutex<HashMap<String, (Record, Instant)>>,
}

impl Cache {
    /// `name`'s record while it is valid at `now`.
    pub fn get(&self, name: &str, now: Instant) -> Option<Record> {
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        names
            .get(name)
            .filter(|(_, until)| *until >= now)
            .map(|(record, _)| record.clone())
    }

    /// Keeps `record` for `name` until `until`, dropping what has run out at `now` (names
    /// come from requests, so the cache only holds what is valid).
    pub fn put(&self, name: &str, record: Record, now: Instant, until: Instant) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        names.retain(|_, (_, valid)| *valid >= now);
        names.insert(name.to_string(), (record, until));
    }
}

/// A cached record's addresses as `ngx_resolver_export` hands them out: the A addresses
/// rotated by a random step, then the AAAA ones rotated likewise, the whole list starting at
/// a random place, so requests spread over the servers.
pub fn rotated(addrs: &[IpAddr], ipv4: usize) -> Vec<IpAddr> {
    let random = || super::super::balancer::next_random() as usize;
    let (v4, v6) = addrs.split_at(ipv4.min(addrs.len()));
    let mut out: Vec<IpAddr> = Vec::with_capacity(addrs.len());
    for part in [v4, v6] {
        if !part.is_empty() {
            let start = random() % part.len();
            out.extend(part[start..].iter().chain(&part[..start]));
        }
    }
    if !out.is_empty() {
        let start = random() % out.len();
        out.rotate_left(start);
    }
    out
}

/// The record the answers to one name's questions make, with its TTL (the smallest among
/// them), or the error code (`ngx_resolver_process_a`): an error code in any answer fails
/// the name (the last one received, whatever records came with it); else the addresses if
/// any answer has some; else the CNAME of the answer that came last (nginx follows one only
/// when the last answer has it); else NXDOMAIN (a name without addresses). `answers` are in
/// the order they came.
pub fn combine(answers: &[Answer]) -> Result<(Record, u32), u8> {
    if let Some(code) = answers.iter().rev().map(|a| a.rcode).find(|&c| c != 0) {
        return Err(code);
    }
    let ttl = answers.iter().filter_map(|a| a.ttl).min().unwrap_or(0);
    let by_type = |qtype| answers.iter().filter(move |a| a.qtype == qtype);
    let v4: Vec<IpAddr> = by_type(super::TYPE_A)
        .flat_map(|a| a.addrs.clone())
        .collect();
    let v6 = by_type(super::TYPE_AAAA).flat_map(|a| a.addrs.clone());
    let ipv4 = v4.len();
    let addrs: Vec<IpAddr> = v4.into_iter().chain(v6).collect();
    if !addrs.is_empty() {
        return Ok((Record::Addrs { addrs, ipv4 }, ttl));
    }
    match answers.last().and_then(|a| a.cname.clone()) {
        Some(target) => Ok((Record::Alias(target), ttl)),
        None => Err(NXDOMAIN),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::runtime::resolver::wire::{TYPE_A, TYPE_AAAA};

    fn answer(qtype: u16, rcode: u8, addrs: &[&str], ttl: Option<u32>) -> Answer {
        Answer {
            id: 1,
            qtype,
            rcode,
            truncated: false,
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            cname: None,
            ttl,
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn a_then_aaaa_with_the_smallest_ttl() {
        let got = combine(&[
            answer(TYPE_AAAA, 0, &["::1"], Some(20)),
            answer(TYPE_A, 0, &["10.0.0.1", "10.0.0.2"], Some(300)),
        ]);
        let addrs = ips(&["10.0.0.1", "10.0.0.2", "::1"]);
        assert_eq!(got, Ok((Record::Addrs { addrs, ipv4: 2 }, 20)));
    }

    #[test]
    fn no_data_is_host_not_found_and_an_error_code_fails_whatever_came_with_it() {
        let nodata = [
            answer(TYPE_A, 0, &[], None),
            answer(TYPE_AAAA, 0, &[], None),
        ];
        assert_eq!(combine(&nodata), Err(3));
        let failed = [
            answer(TYPE_A, 2, &["10.0.0.1"], Some(5)),
            answer(TYPE_AAAA, 0, &[], None),
        ];
        assert_eq!(combine(&failed), Err(2));
        let both = [
            answer(TYPE_A, 2, &[], None),
            answer(TYPE_AAAA, 5, &["::2"], Some(5)),
        ];
        assert_eq!(combine(&both), Err(5), "the last code received");
        // One family's addresses are enough.
        let half = [
            answer(TYPE_A, 0, &[], None),
            answer(TYPE_AAAA, 0, &["::2"], Some(5)),
        ];
        assert!(combine(&half).is_ok());
    }

    #[test]
    fn the_last_answers_cname_is_an_alias() {
        let mut a = answer(TYPE_A, 0, &[], Some(7));
        a.cname = Some("real.test".into());
        let mut aaaa = answer(TYPE_AAAA, 0, &[], Some(9));
        aaaa.cname = Some("other.test".into());
        let got = combine(&[a.clone(), aaaa]);
        assert_eq!(got, Ok((Record::Alias("other.test".into()), 7)));
        let nodata_last = [a, answer(TYPE_AAAA, 0, &[], None)];
        assert_eq!(combine(&nodata_last), Err(3));
    }

    #[test]
    fn rotation_keeps_each_family_in_ring_order() {
        let addrs = ips(&["10.0.0.1", "10.0.0.2", "10.0.0.3", "::1"]);
        for _ in 0..20 {
            let out = rotated(&addrs, 3);
            assert_eq!(out.len(), 4);
            let v6_at = out.iter().position(|a| a.is_ipv6()).unwrap();
            let mut ring = out.clone();
            ring.rotate_left((v6_at + 1) % 4);
            // After the AAAA address come the A ones, each followed by the next mod 3.
            let v4: Vec<u8> = ring[..3]
                .iter()
                .map(|a| match a {
                    IpAddr::V4(v) => v.octets()[3],
                    IpAddr::V6(_) => 0,
                })
                .collect();
            assert!(v4.windows(2).all(|w| w[1] == w[0] % 3 + 1), "{out:?}");
        }
    }

    #[test]
    fn records_live_until_their_time_and_expired_ones_go() {
        let cache = Cache::default();
        let now = Instant::now();
        let record = Record::Alias("x".into());
        let minute = Duration::from_secs(60);
        cache.put("old", record.clone(), now, now);
        cache.put("new", record.clone(), now, now + minute);
        assert_eq!(cache.get("new", now), Some(record.clone()));
        assert_eq!(cache.get("new", now + Duration::from_secs(61)), None);
        cache.put("other", record, now + Duration::from_secs(1), now + minute);
        assert_eq!(
            cache.names.lock().unwrap().len(),
            2,
            "the run-out name is gone"
        );
    }
}
