//! Measures what an idle WebSocket tunnel costs in memory, for ngxr and for the installed
//! nginx: a proxy process is started, N clients open tunnels through it to an echo backend
//! (one message each, then silence), and the growth of the proxy's resident memory is divided
//! by N. Run with `cargo run --release --example idle_tunnels [N]`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use support::backend::Backend;
use support::site::{TestSite, peer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("proxy") {
        return serve(&args[2]);
    }
    let n = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(drive(n));
}

/// The proxy side: ngxr serving a test site in front of `backend`, until stdin closes.
fn serve(backend: &str) {
    let backend: SocketAddr = backend.parse().expect("backend address");
    let running =
        ngxr::runtime::Server::start(Arc::new(TestSite::new(vec![peer(backend)]))).expect("start");
    println!("{}", running.local_addrs()[0]);
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

async fn drive(n: usize) {
    let backend = Backend::ws_echo("echo").await;
    let exe = std::env::current_exe().expect("exe");
    let mut child = Command::new(exe)
        .arg("proxy")
        .arg(backend.addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn proxy");
    let mut first = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut first).expect("port");
    let addr: SocketAddr = first.trim().parse().expect("address");
    let per = measure(child.id(), addr, n).await;
    println!("ngxr:  {per:.2} KiB per idle tunnel ({n} tunnels)");
    drop(child.stdin.take());
    let _ = child.wait();

    if let Some((mut nginx, worker, addr)) = start_nginx(backend.addr) {
        let per = measure(worker, addr, n).await;
        println!("nginx: {per:.2} KiB per idle tunnel ({n} tunnels)");
        // TERM to the master stops its worker too (a KILL would orphan it).
        let master = nix::unistd::Pid::from_raw(nginx.id() as i32);
        let _ = nix::sys::signal::kill(master, nix::sys::signal::Signal::SIGTERM);
        let _ = nginx.wait();
    }
}

/// Opens `n` tunnels through `addr` and returns the growth of `pid`'s RSS per tunnel.
async fn measure(pid: u32, addr: SocketAddr, n: usize) -> f64 {
    // Warm up allocator arenas and worker threads with a few tunnels first.
    let mut open = Vec::new();
    for _ in 0..16 {
        open.push(tunnel(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid);
    for _ in 0..n {
        open.push(tunnel(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    drop(open);
    (after as f64 - before as f64) / n as f64
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn tunnel(addr: SocketAddr) -> Ws {
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(format!("ws://{addr}/")),
    )
    .await
    .expect("in time")
    .expect("handshake");
    ws.send(Message::text("hi")).await.expect("send");
    let _ = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    ws
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// nginx with the articles' configuration in front of `backend`; returns it, its worker's
/// pid and its address.
fn start_nginx(backend: SocketAddr) -> Option<(Child, u32, SocketAddr)> {
    let nginx = std::path::Path::new("/usr/sbin/nginx");
    if !nginx.exists() {
        return None;
    }
    let port = support::refusing_addr().port();
    let dir = std::env::temp_dir().join(format!("ngxr-idle-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("logs")).ok()?;
    let conf = format!(
        "worker_processes 1; daemon off; error_log stderr; pid nginx.pid;\n\
         events {{ worker_connections 4096; }}\n\
         http {{ access_log off;\n\
           map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
           upstream websocket {{ server {backend}; }}\n\
           server {{ listen 127.0.0.1:{port};\n\
             location / {{ proxy_pass http://websocket; proxy_read_timeout 300s;\n\
               proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade;\n\
               proxy_set_header Connection $connection_upgrade; proxy_set_header Host $host; }} }} }}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).ok()?;
    let child = Command::new(nginx)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(500));
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).ok()?;
    let worker = children.split_whitespace().next()?.parse().ok()?;
    Some((child, worker, SocketAddr::from(([127, 0, 0, 1], port))))
}
