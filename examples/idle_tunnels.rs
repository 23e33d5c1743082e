//! Measures what an idle WebSocket tunnel costs in memory, for ngxr and for the installed
//! nginx: N clients open tunnels through the proxy to an echo backend (one message each, then
//! silence), and the growth of the proxy's resident memory is divided by N.
//! Run with `cargo run --release --example idle_tunnels [N]`.

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use common::Proxy;
use support::backend::Backend;

fn main() {
    if common::serve_if_asked() {
        return;
    }
    let n = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let backend = Backend::ws_echo("echo").await;
        let proxies = [Some(Proxy::ngxr(backend.addr)), Proxy::nginx(backend.addr)];
        for proxy in proxies.into_iter().flatten() {
            let per = per_tunnel(&proxy, n).await;
            println!("{}: {per:.2} KiB per idle tunnel ({n} tunnels)", proxy.name);
        }
    });
}

/// Opens `n` tunnels and returns the growth of the proxy's RSS per tunnel.
async fn per_tunnel(proxy: &Proxy, n: usize) -> f64 {
    // Warm up allocator arenas and worker threads with a few tunnels first.
    let mut open = Vec::new();
    for _ in 0..16 {
        open.push(tunnel(proxy.addr).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = proxy.rss_kib();
    for _ in 0..n {
        open.push(tunnel(proxy.addr).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = proxy.rss_kib();
    (after as f64 - before as f64) / n as f64
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn tunnel(addr: SocketAddr) -> Ws {
    let connect = tokio_tungstenite::connect_async(format!("ws://{addr}/"));
    let (mut ws, _) = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .expect("in time")
        .expect("handshake");
    ws.send(Message::text("hi")).await.expect("send");
    let _ = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    ws
}
