//! Test helpers for the runtime: a small [`Site`] that proxies everything to one upstream group
//! (the way the articles' configuration does), recording HTTP and WebSocket echo backends on
//! 127.0.0.1:0, and bounded waits. Every wait goes through [`within`].

#![allow(dead_code)]

pub mod backend;
pub mod fastcgi;
pub mod gateway;
pub mod nginx;
pub mod site;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Runs `fut`, failing the test after 10 seconds.
pub async fn within<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("timed out")
}

/// Sends raw bytes and reads until the server closes the connection.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    within(async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(request).await.expect("write");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
}

/// A GET with `Connection: close`; returns the whole response text.
pub async fn get(addr: SocketAddr, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    raw(addr, req.as_bytes()).await
}

/// The value of header `name` in a raw response.
pub fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The body of a raw response.
pub fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// A port on 127.0.0.1 where nothing listens (connections are refused). The port stays
/// bound, never listening, for the rest of the run: a port merely let go could be taken by
/// another test's listener while this one counts on the refusal.
pub fn refusing_addr() -> SocketAddr {
    static HELD: std::sync::Mutex<Vec<socket2::Socket>> = std::sync::Mutex::new(Vec::new());
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    let addr = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("addr");
    HELD.lock().unwrap_or_else(|e| e.into_inner()).push(socket);
    addr
}
