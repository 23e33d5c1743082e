//! The seed articles' walkthrough through the real `ngxr` binary: each article's configuration,
//! unchanged apart from ports and paths, serves a WebSocket echo backend; a client sends
//! `Hello` and gets `Server received from client: Hello` back. With Node and Debian's node-ws
//! installed the backend is the articles' own Node `ws` server; the Rust echo backend runs
//! every seed regardless.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Running, free_port, temp_dir, wait_for_port};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// A temp dir with the `logs/` folder the seeds' relative log paths need.
fn seed_dir(name: &str) -> PathBuf {
    let dir = temp_dir(&format!("seed-{name}"));
    std::fs::create_dir_all(dir.join("logs")).expect("logs dir");
    dir
}

fn fixture(path: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/seeds")
        .join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `daemon off`, and a pid file in the temp dir unless the seed names its own (a second `pid`
/// would be a duplicate, as in nginx).
fn globals(conf: &str, dir: &Path) -> String {
    if conf.lines().any(|l| l.trim_start().starts_with("pid ")) {
        "daemon off;".into()
    } else {
        format!("daemon off; pid {}/ngxr.pid;", dir.display())
    }
}

/// Starts `ngxr -p DIR/ -c DIR/nginx.conf` on `conf` and waits for `port`.
fn start_ngxr(dir: &Path, conf: &str, port: u16) -> Running {
    std::fs::write(dir.join("nginx.conf"), conf).expect("write config");
    let child = Command::new(env!("CARGO_BIN_EXE_ngxr"))
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-g")
        .arg(globals(conf, dir))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ngxr");
    let running = Running(child);
    wait_for_port(port, "ngxr");
    running
}

/// A WebSocket echo server answering as the articles' Node server does, on a port it binds
/// itself (a port picked first and bound later may be taken in between).
async fn rust_echo() -> u16 {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind echo");
    let port = listener.local_addr().expect("echo address").port();
    tokio::spawn(ngxr::demo::echo_backend(listener));
    port
}

/// The articles' Node `ws` echo server, if Node and node-ws are installed.
fn node_echo(dir: &Path, port: u16) -> Option<Running> {
    let module = Path::new("/usr/share/nodejs/ws");
    if !module.exists() || Command::new("node").arg("--version").output().is_err() {
        return None;
    }
    let script = dir.join(format!("server-{port}.js"));
    std::fs::write(
        &script,
        "var WebSocketServer = require('ws').Server;\n\
         var wss = new WebSocketServer({host: '127.0.0.1', port: Number(process.argv[2])});\n\
         wss.on('connection', function (ws) {\n\
           ws.on('message', function (message) {\n\
             ws.send('Server received from client: ' + message);\n\
           });\n\
         });\n",
    )
    .ok()?;
    let child = Command::new("node")
        .arg(&script)
        .arg(port.to_string())
        .env("NODE_PATH", "/usr/share/nodejs")
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    let running = Running(child);
    wait_for_port(port, "the Node echo server");
    Some(running)
}

/// Sends `Hello` through the proxy and returns the reply.
async fn hello(port: u16, path: &str) -> String {
    let url = format!("ws://127.0.0.1:{port}{path}");
    tokio::time::timeout(Duration::from_secs(10), async {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("WebSocket handshake through ngxr");
        ws.send(Message::text("Hello")).await.expect("send");
        let reply = loop {
            match ws.next().await.expect("a reply").expect("a frame") {
                Message::Text(t) => break t.to_string(),
                _ => continue,
            }
        };
        let _ = ws.close(None).await;
        reply
    })
    .await
    .expect("reply within 10 s")
}

/// The http{} block of seeds 000 and 004 (the articles say: add it to nginx.conf's http
/// context), in a main file with `events`, backends and listen port moved to free ports.
fn http_block_seed(name: &str, port: u16, b1: u16, b2: u16) -> String {
    let http = fixture(&format!("{name}/nginx.conf"))
        .replace("localhost:8010", &format!("127.0.0.1:{b1}"))
        .replace("localhost:8011", &format!("127.0.0.1:{b2}"))
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace("listen       80;", &format!("listen 127.0.0.1:{port};"))
        .replace("/var/log/nginx/yourdomain.log", "logs/yourdomain.log");
    format!("events {{}}\n{http}")
}

#[tokio::test]
async fn seed_000_http_block_with_two_backends() {
    let dir = seed_dir("000");
    let (port, b1, b2) = (free_port(), rust_echo().await, rust_echo().await);
    let _ngxr = start_ngxr(&dir, &http_block_seed("000-http-block", port, b1, b2), port);
    assert_eq!(hello(port, "/").await, "Server received from client: Hello");
    // nginx logs a tunnelled request when the tunnel closes.
    let path = dir.join("logs/yourdomain.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        if log.contains("\"GET / HTTP/1.1\" 101 ") || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        log.contains("\"GET / HTTP/1.1\" 101 "),
        "access log: {log:?}"
    );
}

#[tokio::test]
async fn seed_004_http_block_with_two_backends() {
    let dir = seed_dir("004");
    let (port, b1, b2) = (free_port(), rust_echo().await, rust_echo().await);
    let _ngxr = start_ngxr(&dir, &http_block_seed("004-http-block", port, b1, b2), port);
    assert_eq!(hello(port, "/").await, "Server received from client: Hello");
}

#[tokio::test]
async fn seed_002_nginx_blog_example() {
    let dir = seed_dir("002");
    let (port, b) = (free_port(), rust_echo().await);
    let http = fixture("002-http-block/nginx.conf")
        .replace("192.168.100.10:8010", &format!("127.0.0.1:{b}"))
        .replace("listen 8020;", &format!("listen 127.0.0.1:{port};"));
    let _ngxr = start_ngxr(&dir, &format!("events {{}}\n{http}"), port);
    assert_eq!(hello(port, "/").await, "Server received from client: Hello");
}

#[tokio::test]
async fn seed_001_map_configuration() {
    let dir = seed_dir("001");
    let (port, b) = (free_port(), rust_echo().await);
    let conf = fixture("001-map-reconstructed/nginx.conf")
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{b}"))
        .replace(
            "server {\nlocation",
            &format!("server {{\nlisten 127.0.0.1:{port};\nlocation"),
        );
    let _ngxr = start_ngxr(&dir, &conf, port);
    assert_eq!(
        hello(port, "/chat/").await,
        "Server received from client: Hello"
    );
}

/// Seed 003: the tengine article's whole nginx.conf (user, worker_rlimit_nofile, epoll, gzip,
/// open_file_cache, fastcgi_*, proxy_cache_path, a log_format of several strings) and its
/// test.com, with include, log, temp and cache paths moved into a temp dir.
fn seed_003(dir: &Path, port: u16, backend: u16) -> String {
    let site = fixture("003-tengine/test.com")
        .replace("192.168.1.5:9000", &format!("127.0.0.1:{backend}"))
        .replace(
            "listen       80;",
            &format!("listen       127.0.0.1:{port};"),
        );
    std::fs::write(dir.join("test.com"), site).expect("write test.com");
    std::fs::write(dir.join("mime.types"), fixture("003-tengine/mime.types")).expect("mime.types");
    fixture("003-tengine/nginx.conf")
        .replace(
            "/home/apps/tengine/conf/test.com",
            &dir.join("test.com").display().to_string(),
        )
        .replace("/dev/shm/temp", &dir.join("temp").display().to_string())
        .replace("/dev/shm/cache", &dir.join("cache").display().to_string())
}

#[tokio::test]
async fn seed_003_tengine_nginx_conf() {
    let dir = seed_dir("003");
    let (port, b) = (free_port(), rust_echo().await);
    let _ngxr = start_ngxr(&dir, &seed_003(&dir, port, b), port);
    assert_eq!(
        hello(port, "/websocket").await,
        "Server received from client: Hello"
    );
}

#[tokio::test]
async fn articles_walkthrough_with_the_node_ws_server() {
    let dir = seed_dir("node");
    let (port, b1, b2) = (free_port(), free_port(), free_port());
    let (Some(_n1), Some(_n2)) = (node_echo(&dir, b1), node_echo(&dir, b2)) else {
        eprintln!("skipped: node or Debian's node-ws (/usr/share/nodejs/ws) is not installed");
        return;
    };
    let _ngxr = start_ngxr(&dir, &http_block_seed("000-http-block", port, b1, b2), port);
    // Two connections: round robin sends one to each Node server.
    assert_eq!(hello(port, "/").await, "Server received from client: Hello");
    assert_eq!(hello(port, "/").await, "Server received from client: Hello");

    let dir3 = seed_dir("node-003");
    let (port3, b3) = (free_port(), free_port());
    let Some(_n3) = node_echo(&dir3, b3) else {
        return;
    };
    let _ngxr3 = start_ngxr(&dir3, &seed_003(&dir3, port3, b3), port3);
    assert_eq!(
        hello(port3, "/websocket").await,
        "Server received from client: Hello"
    );
}
