//! Sequences nginx produces for the same upstream blocks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::Balancer;
use crate::eval::plan::{Balance, PeerAddr, PeerSpec, UpstreamGroup};

fn peer(port: u16, weight: u32) -> PeerSpec {
    PeerSpec {
        addr: PeerAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], port))),
        name: format!("127.0.0.1:{port}").into(),
        weight,
        max_fails: 1,
        fail_timeout: Duration::from_secs(10),
        backup: false,
        down: false,
        max_conns: 0,
    }
}

fn group(policy: Balance, servers: Vec<PeerSpec>) -> Balancer {
    Balancer::new(Arc::new(UpstreamGroup {
        name: "u".into(),
        policy,
        servers,
        keepalive: None,
        keepalive_limits: crate::defaults::http::UPSTREAM_KEEPALIVE,
    }))
}

const CLIENT: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));

/// Picks `n` times, each request succeeding at once; returns the ports as letters a, b, c...
fn sequence(b: &Balancer, n: usize, client: Option<IpAddr>, key: Option<&'static str>) -> String {
    (0..n)
        .map(|_| {
            let mut attempt = b.begin(client, key.map(|k| Bytes::from_static(k.as_bytes())));
            let index = b.get(&mut attempt, 100).expect("a peer");
            b.free(&mut attempt, false, 100);
            char::from(b'a' + index as u8)
        })
        .collect()
}

#[test]
fn smooth_weighted_round_robin_matches_nginx() {
    let b = group(
        Balance::RoundRobin,
        vec![peer(1, 5), peer(2, 1), peer(3, 1)],
    );
    assert_eq!(sequence(&b, 14, CLIENT, None), "aabacaaaabacaa");
    let b = group(Balance::RoundRobin, vec![peer(1, 1), peer(2, 1)]);
    assert_eq!(sequence(&b, 4, CLIENT, None), "abab");
    let b = group(Balance::RoundRobin, vec![peer(1, 2), peer(2, 1)]);
    assert_eq!(sequence(&b, 6, CLIENT, None), "abaaba");
}

#[test]
fn down_servers_are_skipped_and_not_counted_as_tries() {
    let mut servers = vec![peer(1, 1), peer(2, 1), peer(3, 1)];
    servers[1].down = true;
    let b = group(Balance::RoundRobin, servers);
    assert_eq!(sequence(&b, 4, CLIENT, None), "acac");
    assert_eq!(b.begin(CLIENT, None).tries, 2);
}

#[test]
fn a_failed_server_rests_for_fail_timeout_then_comes_back() {
    let b = group(Balance::RoundRobin, vec![peer(1, 1), peer(2, 1)]);
    let mut attempt = b.begin(CLIENT, None);
    assert_eq!(b.get(&mut attempt, 100), Some(0));
    b.free(&mut attempt, true, 100);
    assert_eq!(attempt.tries, 1);
    assert_eq!(b.get(&mut attempt, 100), Some(1), "next upstream");
    b.free(&mut attempt, false, 100);
    // Within fail_timeout (10s) only b is used.
    let picks: Vec<_> = (0..3)
        .map(|_| {
            let mut a = b.begin(CLIENT, None);
            let i = b.get(&mut a, 105);
            b.free(&mut a, false, 105);
            i
        })
        .collect();
    assert_eq!(picks, vec![Some(1), Some(1), Some(1)]);
    let later: Vec<_> = (0..3)
        .map(|_| {
            let mut a = b.begin(CLIENT, None);
            let i = b.get(&mut a, 111);
            b.free(&mut a, false, 111);
            i
        })
        .collect();
    assert!(
        later.contains(&Some(0)),
        "after fail_timeout a is back: {later:?}"
    );
}

#[test]
fn backup_servers_serve_only_when_every_primary_is_unavailable() {
    let mut servers = vec![peer(1, 1), peer(2, 1), peer(3, 1)];
    servers[2].backup = true;
    let b = group(Balance::RoundRobin, servers);
    assert_eq!(sequence(&b, 4, CLIENT, None), "abab");
    let mut attempt = b.begin(CLIENT, None);
    assert_eq!(attempt.tries, 3);
    for expected in [0, 1, 2] {
        assert_eq!(b.get(&mut attempt, 100), Some(expected));
        b.free(&mut attempt, true, 100);
    }
    assert_eq!(b.get(&mut attempt, 100), None, "no live upstreams");
}

#[test]
fn a_single_server_is_always_tried_and_never_retried() {
    let b = group(Balance::RoundRobin, vec![peer(1, 1)]);
    let mut attempt = b.begin(CLIENT, None);
    assert_eq!(b.get(&mut attempt, 100), Some(0));
    b.free(&mut attempt, true, 100);
    assert_eq!(attempt.tries, 0);
    let mut attempt = b.begin(CLIENT, None);
    assert_eq!(b.get(&mut attempt, 100), Some(0), "max_fails ignored");
}

#[test]
fn ip_hash_uses_the_first_three_octets() {
    let b = group(Balance::IpHash, vec![peer(1, 1), peer(2, 1), peer(3, 1)]);
    // 89 → 127 → 0 → 0 through (h * 113 + octet) % 6271 gives 4040; 4040 % 3 = 2.
    assert_eq!(sequence(&b, 3, CLIENT, None), "ccc");
    let same_net = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 200));
    assert_eq!(sequence(&b, 1, Some(same_net), None), "c");
    // A unix-domain client hashes nginx's three zero bytes: 89 → 3786 → 1390 → 295.
    assert_eq!(sequence(&b, 2, None, None), "bb");
    let spread: std::collections::HashSet<String> = (0..30u8)
        .map(|i| sequence(&b, 1, Some(IpAddr::V4(Ipv4Addr::new(10, 0, i, 1))), None))
        .collect();
    assert_eq!(spread.len(), 3);
}

#[test]
fn hash_is_stable_per_key_and_rehashes_past_a_failed_server() {
    let b = group(
        Balance::Hash { consistent: false },
        vec![peer(1, 1), peer(2, 1)],
    );
    let first = sequence(&b, 1, CLIENT, Some("/x"));
    assert_eq!(sequence(&b, 5, CLIENT, Some("/x")), first.repeat(5));
    let mut attempt = b.begin(CLIENT, Some(Bytes::from_static(b"/x")));
    let chosen = b.get(&mut attempt, 100);
    b.free(&mut attempt, true, 100);
    assert_ne!(b.get(&mut attempt, 100), chosen);
}

#[test]
fn consistent_hash_builds_160_points_per_weight_and_moves_few_keys() {
    let three = group(
        Balance::Hash { consistent: true },
        vec![peer(1, 1), peer(2, 1), peer(3, 2)],
    );
    assert_eq!(three.points.len(), 4 * 160);
    let two = group(
        Balance::Hash { consistent: true },
        vec![peer(1, 1), peer(2, 1)],
    );
    let keys: Vec<&'static str> = vec!["/a", "/b", "/c", "/d", "/e", "/f", "/g", "/h", "/i", "/j"];
    for key in keys {
        let on_three = sequence(&three, 1, CLIENT, Some(key));
        if on_three != "c" {
            assert_eq!(
                sequence(&two, 1, CLIENT, Some(key)),
                on_three,
                "key {key} moved"
            );
        }
    }
}

#[test]
fn least_conn_prefers_the_idle_server_and_round_robins_ties() {
    let b = group(Balance::LeastConn, vec![peer(1, 1), peer(2, 1)]);
    let mut busy = b.begin(CLIENT, None);
    assert_eq!(b.get(&mut busy, 100), Some(0));
    assert_eq!(sequence(&b, 3, CLIENT, None), "bbb");
    b.free(&mut busy, false, 100);
    // The tie that picked a for `busy` left a's current weight behind: b goes first.
    assert_eq!(sequence(&b, 4, CLIENT, None), "baba");
}

#[test]
fn random_spreads_by_weight() {
    let b = group(Balance::Random { two: false }, vec![peer(1, 3), peer(2, 1)]);
    let picks = sequence(&b, 400, CLIENT, None);
    let a = picks.matches('a').count();
    assert!((240..=360).contains(&a), "{a} of 400");
}

/// What nginx 1.22.1 chose for `/k0` ... `/k23` with `server 127.0.0.1:18011;
/// server 127.0.0.1:18012 weight=2; server 127.0.0.1:18013;` (1, 2, 3 = the port's last digit).
fn nginx_picks(policy: Balance, expected: &str) {
    let b = group(policy, vec![peer(18011, 1), peer(18012, 2), peer(18013, 1)]);
    let got: String = (0..24)
        .map(|i| {
            let key = Bytes::from(format!("/k{i}"));
            let mut attempt = b.begin(CLIENT, Some(key));
            let index = b.get(&mut attempt, 100).expect("a peer");
            b.free(&mut attempt, false, 100);
            char::from(b'1' + index as u8)
        })
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn consistent_hash_picks_what_nginx_picks() {
    nginx_picks(
        Balance::Hash { consistent: true },
        "122312223323232121231122",
    );
}

#[test]
fn hash_picks_what_nginx_picks() {
    nginx_picks(
        Balance::Hash { consistent: false },
        "132222313131222213132213",
    );
}

#[test]
fn ip_hash_picks_what_nginx_picks() {
    // Clients 127.(i/3).(i*7).1 against three equal servers, as nginx 1.22.1 chose.
    let b = group(
        Balance::IpHash,
        vec![peer(18011, 1), peer(18012, 1), peer(18013, 1)],
    );
    let got: String = (0..24u32)
        .map(|i| {
            let client = IpAddr::V4(Ipv4Addr::new(127, (i / 3) as u8, (i * 7 % 256) as u8, 1));
            let mut attempt = b.begin(Some(client), None);
            let index = b.get(&mut attempt, 100).expect("a peer");
            b.free(&mut attempt, false, 100);
            char::from(b'1' + index as u8)
        })
        .collect();
    assert_eq!(got, "312231123312231123312231");
}

#[test]
fn tried_bits_hold_past_sixty_four_servers() {
    let mut tried = super::Tried::new(70);
    for i in [0, 63, 64, 69] {
        assert!(!tried.get(i));
        tried.set(i);
        assert!(tried.get(i));
    }
    assert!(!tried.get(1) && !tried.get(65));
    // Past the tier's end nothing is recorded, and nothing panics.
    tried.set(70);
    assert!(!tried.get(70));
}
