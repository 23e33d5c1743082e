//! Speed of ngxr against the installed nginx, same backend, same clients, one worker each:
//! 64 KiB WebSocket messages (MB/s), small messages (proxy CPU per message), HTTP keep-alive
//! requests per second and WebSocket handshakes per second.
//! Run with `cargo run --release --example throughput`.

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use common::Proxy;
use support::backend::Backend;

fn main() {
    if common::serve_if_asked() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let ws = Backend::ws_echo("echo").await;
        let http = Backend::http("a").await;
        let kinds = match std::env::var("KIND") {
            Ok(k) if k == "nginx" => vec!["nginx"],
            Ok(k) if k == "ngxr" => vec!["ngxr"],
            _ => vec!["ngxr", "nginx"],
        };
        for kind in kinds {
            let start = |b: SocketAddr| match kind {
                "ngxr" => Some(Proxy::ngxr(b)),
                _ => Proxy::nginx(b),
            };
            if std::env::var("ONLY").as_deref() == Ok("http") {
                let Some(proxy) = start(http.addr) else { continue };
                let cpu = proxy.cpu_ticks();
                let rps = requests(proxy.addr, 16, 900).await;
                let us = (proxy.cpu_ticks() - cpu) as f64 * 10_000.0 / (16.0 * 900.0);
                println!("{kind}: {rps:.0} HTTP req/s, {us:.1} CPU-us/req");
                continue;
            }
            if std::env::var("ONLY").as_deref() == Ok("hs") {
                let Some(proxy) = start(ws.addr) else { continue };
                let (rate, cpu) = handshakes(&proxy, 8, 1500).await;
                println!("{kind}: {rate:.0} handshakes/s ({cpu:.0} CPU-us each)");
                continue;
            }
            let Some(proxy) = start(ws.addr) else { continue };
            let (mbps, big_cpu) = messages(&proxy, 4, 200, 64 * 1024).await;
            let (per_sec, small_cpu) = messages(&proxy, 8, 5000, 32).await;
            let (handshakes, hs_cpu) = handshakes(&proxy, 8, 150).await;
            drop(proxy);
            let Some(proxy) = start(http.addr) else { continue };
            let rps = requests(proxy.addr, 16, 900).await;
            println!(
                "{kind}: 64KiB msgs {mbps:.0} MB/s ({big_cpu:.1} CPU-ms/MB) | 32B msgs {per_sec:.0}/s \
                 ({small_cpu:.2} CPU-us/msg) | {rps:.0} HTTP req/s | {handshakes:.0} handshakes/s ({hs_cpu:.0} CPU-us each)"
            );
        }
    });
}

/// `conns` clients each echo `count` messages of `size` bytes; returns throughput (MB/s of
/// payload through the proxy, both directions, or messages/s when small) and proxy CPU per
/// unit (ms per MB, or µs per message).
async fn messages(proxy: &Proxy, conns: usize, count: usize, size: usize) -> (f64, f64) {
    let cpu = proxy.cpu_ticks();
    let started = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let addr = proxy.addr;
            tokio::spawn(async move {
                let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
                    .await
                    .expect("handshake");
                let payload = vec![7u8; size];
                for _ in 0..count {
                    ws.send(Message::binary(payload.clone()))
                        .await
                        .expect("send");
                    let reply = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
                    assert!(matches!(reply, Ok(Some(Ok(_)))), "echo");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_ms = (proxy.cpu_ticks() - cpu) as f64 * 10.0;
    let messages = (conns * count * 2) as f64;
    let megabytes = messages * size as f64 / 1e6;
    if size >= 1024 {
        (megabytes / secs, cpu_ms / megabytes)
    } else {
        (messages / secs, cpu_ms * 1000.0 / messages)
    }
}

async fn handshakes(proxy: &Proxy, conns: usize, each: usize) -> (f64, f64) {
    let addr = proxy.addr;
    let cpu = proxy.cpu_ticks();
    let started = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..each {
                    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
                        .await
                        .expect("handshake");
                    let _ = ws.close(None).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    let n = (conns * each) as f64;
    let cpu_us = (proxy.cpu_ticks() - cpu) as f64 * 10_000.0;
    (n / started.elapsed().as_secs_f64(), cpu_us / n)
}

/// `conns` keep-alive connections each sending `each` GETs one after the other.
async fn requests(addr: SocketAddr, conns: usize, each: usize) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let mut buf = Vec::with_capacity(4096);
                for _ in 0..each {
                    s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
                        .await
                        .expect("write");
                    read_response(&mut s, &mut buf).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    (conns * each) as f64 / started.elapsed().as_secs_f64()
}

/// Reads one response with a Content-Length body.
async fn read_response(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                buf.drain(..end + 4 + length);
                return;
            }
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}
