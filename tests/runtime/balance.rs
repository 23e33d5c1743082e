//! Load balancing through real sockets: the order nginx would pick, failover, backup.

use ngxr::eval::plan::Balance;

use crate::start;
use crate::support::backend::Backend;
use crate::support::site::{TestSite, group, peer};
use crate::support::{get, header, refusing_addr, within};

/// Which backend answered each of `n` requests.
async fn picks(addr: std::net::SocketAddr, n: usize) -> String {
    let mut out = String::new();
    for _ in 0..n {
        let response = get(addr, "/").await;
        out.push_str(header(&response, "x-backend").unwrap_or("-"));
    }
    out
}

#[tokio::test]
async fn weighted_round_robin_follows_nginx_s_sequence() {
    let (a, b, c) = (
        Backend::http("a").await,
        Backend::http("b").await,
        Backend::http("c").await,
    );
    let mut servers = vec![peer(a.addr), peer(b.addr), peer(c.addr)];
    servers[0].weight = 5;
    let (_proxy, addr) = start(TestSite::new(servers));
    assert_eq!(picks(addr, 7).await, "aabacaa");
}

#[tokio::test]
async fn two_equal_servers_alternate() {
    let (a, b) = (Backend::http("a").await, Backend::http("b").await);
    let (_proxy, addr) = start(TestSite::new(vec![peer(a.addr), peer(b.addr)]));
    assert_eq!(picks(addr, 4).await, "abab");
}

#[tokio::test]
async fn a_refusing_server_fails_over_and_then_rests() {
    let b = Backend::http("b").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(refusing_addr()), peer(b.addr)]));
    assert_eq!(picks(addr, 4).await, "bbbb");
    assert_eq!(b.requests().len(), 4);
}

#[tokio::test]
async fn backup_serves_when_every_primary_is_down() {
    let backup = Backend::http("z").await;
    let mut servers = vec![
        peer(refusing_addr()),
        peer(refusing_addr()),
        peer(backup.addr),
    ];
    servers[2].backup = true;
    let (_proxy, addr) = start(TestSite::new(servers));
    assert_eq!(picks(addr, 2).await, "zz");
}

#[tokio::test]
async fn consistent_hash_keeps_a_key_on_one_server() {
    let (a, b) = (Backend::http("a").await, Backend::http("b").await);
    let g = group(
        Balance::Hash { consistent: true },
        vec![peer(a.addr), peer(b.addr)],
        None,
    );
    let (_proxy, addr) = start(TestSite::with_group(g));
    let mut seen = std::collections::HashSet::new();
    // Ports (hence ketama points) change every run: 40 keys make "all on one server" a
    // one-in-a-trillion event.
    for i in 0..40 {
        let key = format!("/k{i}");
        let first = header(&get(addr, &key).await, "x-backend").map(str::to_string);
        let again = header(&get(addr, &key).await, "x-backend").map(str::to_string);
        assert_eq!(again, first, "{key}");
        seen.insert(first);
    }
    assert_eq!(seen.len(), 2, "keys spread over both servers");
}

#[tokio::test]
async fn least_conn_counts_open_tunnels() {
    let (a, b) = (Backend::ws_echo("a").await, Backend::ws_echo("b").await);
    let g = group(Balance::LeastConn, vec![peer(a.addr), peer(b.addr)], None);
    let (_proxy, addr) = start(TestSite::with_group(g));
    let open = || async {
        let (ws, response) = within(tokio_tungstenite::connect_async(format!("ws://{addr}/")))
            .await
            .expect("handshake");
        let name = response.headers()["x-backend"]
            .to_str()
            .expect("name")
            .to_string();
        (ws, name)
    };
    let (_first, on) = open().await;
    assert_eq!(on, "a");
    let (mut second, on) = open().await;
    assert_eq!(on, "b");
    second.close(None).await.expect("close");
    drop(second);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // a still carries a tunnel, b none: b again (round robin alone would say a).
    let (_third, on) = open().await;
    assert_eq!(on, "b");
}
