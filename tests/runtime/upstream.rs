//! The upstream side loaded from real configurations: the keepalive cache's limits and its
//! reuse rule, unix-socket servers (checked against nginx when it is installed), and the
//! client connection's keepalive limits.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ngxr::cli::Paths;
use ngxr::runtime::{Running, Server, load_site};

use crate::common::free_port;
use crate::common::temp_dir;
use crate::support::backend::{Backend, Recorded, ok};
use crate::support::nginx::Nginx;
use crate::support::{get, raw, within};

/// Serves `http { HTTP }` with ngxr in this process; `HTTP` listens on `port`.
pub fn serve(dir: &Path, http: &str, port: u16) -> (Running, SocketAddr) {
    let conf = dir.join("ngxr.conf");
    let text = format!(
        "pid ngxr.pid; error_log error.log;\nevents {{}}\nhttp {{ access_log off;\n{http} }}\n"
    );
    std::fs::write(&conf, text).expect("write conf");
    let site = load_site(&Paths::resolve(Some(dir), Some(&conf)), None).expect("loads");
    let running = Server::start(site).expect("starts");
    (running, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// `http_version 1.1` with `Connection: ""`: what upstream keepalive needs.
const KEEP: &str = "proxy_http_version 1.1; proxy_set_header Connection \"\";";

#[tokio::test]
async fn upstream_keepalive_limits_retire_connections_as_nginx_does() {
    // nginx-tests upstream_keepalive.t, with each group on its own backend to count them.
    let (requests, time, timeout) = (
        Backend::http_with(|_| ok("r")).await,
        Backend::http_with(|_| ok("t")).await,
        Backend::http_with(|_| ok("i")).await,
    );
    let dir = temp_dir("limits");
    let port = free_port();
    let http = format!(
        "upstream r {{ server {}; keepalive 1; keepalive_requests 3; }}
         upstream t {{ server {}; keepalive 1; keepalive_time 300ms; }}
         upstream i {{ server {}; keepalive 1; keepalive_timeout 200ms; }}
         server {{ listen 127.0.0.1:{port}; {KEEP}
             location /r {{ proxy_pass http://r; }}
             location /t {{ proxy_pass http://t; }}
             location /i {{ proxy_pass http://i; }} }}",
        requests.addr, time.addr, timeout.addr
    );
    let (_ngxr, addr) = serve(&dir, &http, port);
    for _ in 0..4 {
        assert!(get(addr, "/r").await.starts_with("HTTP/1.1 200"));
    }
    assert_eq!(requests.connection_count(), 2, "3 requests, then a new one");

    get(addr, "/t").await;
    get(addr, "/t").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Taken from the cache past its keepalive_time: it serves this request, then closes.
    get(addr, "/t").await;
    assert_eq!(time.connection_count(), 1);
    get(addr, "/t").await;
    assert_eq!(time.connection_count(), 2);

    get(addr, "/i").await;
    get(addr, "/i").await;
    assert_eq!(timeout.connection_count(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    get(addr, "/i").await;
    assert_eq!(timeout.connection_count(), 2, "idle past keepalive_timeout");
}

#[tokio::test]
async fn only_http11_answers_without_close_leave_a_connection_for_reuse() {
    let answers: [&'static [u8]; 3] = [
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ];
    for (answer, connections) in answers.into_iter().zip([3, 3, 1]) {
        let b = Backend::http_with(move |_| answer.to_vec()).await;
        let dir = temp_dir("reuse");
        let port = free_port();
        let http = format!(
            "upstream u {{ server {}; keepalive 2; }}
             server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://u; {KEEP} }} }}",
            b.addr
        );
        let (_ngxr, addr) = serve(&dir, &http, port);
        for _ in 0..3 {
            assert!(get(addr, "/").await.ends_with("ok"));
        }
        let first = String::from_utf8_lossy(&answer[..40]).into_owned();
        assert_eq!(b.connection_count(), connections, "{first}");
    }
}

/// The heads a unix-socket backend receives for the same requests through `serve`.
async fn unix_heads(
    name: &str,
    run: impl Fn(&Path, &str, u16) -> Option<Box<dyn Send>>,
) -> Option<Vec<String>> {
    let dir = temp_dir(name);
    let sock = dir.join("b.sock");
    let b = Backend::unix_with(&sock, |r: &Recorded| {
        let uri = r.head.split(' ').nth(1).unwrap_or_default().to_string();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{uri}",
            uri.len()
        )
        .into_bytes()
    })
    .await;
    let port = free_port();
    let s = sock.display();
    let http = format!(
        "upstream u {{ server unix:{s}; }}
         server {{ listen 127.0.0.1:{port};
             proxy_set_header X-Proxy \"$proxy_host|$proxy_port\";
             location /static/ {{ proxy_pass http://unix:{s}:/x/; }}
             location /plain {{ proxy_pass http://unix:{s}; }}
             location /u {{ proxy_pass http://u; }}
             location /var {{ proxy_pass http://$arg_b; }} }}"
    );
    let _server = run(&dir, &http, port)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for path in [
        "/static/a?q",
        "/plain/b",
        "/u",
        &format!("/var?b=unix:{s}:/v"),
    ] {
        let response = get(addr, path).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{path}: {response}");
    }
    let heads = b.requests().into_iter().map(|r| r.head).collect();
    Some(heads)
}

#[tokio::test]
async fn unix_socket_servers_get_what_nginx_sends_them() {
    let ngxr = unix_heads("unix-ngxr", |dir, http, port| {
        Some(Box::new(serve(dir, http, port).0) as Box<dyn Send>)
    })
    .await
    .expect("ngxr serves");
    assert!(
        ngxr[0].starts_with("GET /x/a?q HTTP/1.0\r\nX-Proxy: localhost|\r\nHost: localhost\r\n")
    );
    assert!(ngxr[1].starts_with("GET /plain/b HTTP/1.0\r\n"));
    assert!(ngxr[2].contains("\r\nX-Proxy: u|80\r\nHost: u\r\n"));
    assert!(ngxr[3].starts_with("GET /v HTTP/1.0\r\nX-Proxy: localhost|\r\n"));
    let nginx = unix_heads("unix-nginx", |dir, http, port| {
        Nginx::serve_at(dir, http, port).map(|n| Box::new(n) as Box<dyn Send>)
    })
    .await;
    if let Some(nginx) = nginx {
        assert_eq!(ngxr, nginx);
    }
}

#[tokio::test]
async fn upstream_addr_names_the_socket_or_the_group_without_live_servers() {
    let dir = temp_dir("addr");
    let sock = dir.join("b.sock");
    let _b = Backend::unix_with(&sock, |_| ok("b")).await;
    let port = free_port();
    let http = format!(
        "log_format a $upstream_addr|$upstream_status;
         upstream down {{ server 127.0.0.1:1 down; }}
         server {{ listen 127.0.0.1:{port}; access_log {}/a.log a;
             location / {{ proxy_pass http://unix:{}; }}
             location /down {{ proxy_pass http://down; }} }}",
        dir.display(),
        sock.display()
    );
    let (_ngxr, addr) = serve(&dir, &http, port);
    assert!(get(addr, "/").await.starts_with("HTTP/1.1 200"));
    assert!(get(addr, "/down").await.starts_with("HTTP/1.1 502"));
    let log = within(async {
        loop {
            let text = std::fs::read_to_string(dir.join("a.log")).unwrap_or_default();
            if text.lines().count() == 2 {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(log, format!("unix:{}|200\ndown|502\n", sock.display()));
}

#[tokio::test]
async fn client_connections_close_at_the_location_s_keepalive_limits() {
    let b = Backend::http_with(|_| ok("b")).await;
    let dir = temp_dir("client");
    let port = free_port();
    let http = format!(
        "server {{ listen 127.0.0.1:{port}; keepalive_requests 2;
             location / {{ proxy_pass http://{}; }}
             location /off {{ keepalive_timeout 0; proxy_pass http://{0}; }} }}",
        b.addr
    );
    let (_ngxr, addr) = serve(&dir, &http, port);
    let three = b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\n\
                  GET /3 HTTP/1.1\r\nHost: t\r\n\r\n";
    let answers = raw(addr, three).await;
    assert_eq!(answers.matches("HTTP/1.1 200").count(), 2, "{answers}");
    assert_eq!(answers.matches("Connection: keep-alive").count(), 1);
    assert_eq!(answers.matches("Connection: close").count(), 1);
    let off = raw(
        addr,
        b"GET /off HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await;
    assert_eq!(off.matches("HTTP/1.1 200").count(), 1, "{off}");
    assert!(off.contains("Connection: close"));
}

#[tokio::test]
async fn an_idle_client_connection_closes_after_the_location_s_keepalive_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = temp_dir("client-idle");
    let port = free_port();
    let http = format!(
        "keepalive_timeout 30s; server {{ listen 127.0.0.1:{port};
             location / {{ return 204; }}
             location /short {{ keepalive_timeout 1s; return 204; }} }}"
    );
    let (_ngxr, addr) = serve(&dir, &http, port);
    // Waits for the answer, then for the close; `None` when the connection stayed open.
    let idle_for = |path: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
        s.write_all(request.as_bytes()).await.expect("send");
        let mut buf = [0u8; 1024];
        let n = within(s.read(&mut buf)).await.expect("answer");
        assert!(buf[..n].starts_with(b"HTTP/1.1 204"));
        let answered = std::time::Instant::now();
        match tokio::time::timeout(Duration::from_secs(4), s.read(&mut buf)).await {
            Ok(Ok(0)) => Some(answered.elapsed()),
            _ => None,
        }
    };
    let (short, long) = tokio::join!(idle_for("/short"), idle_for("/"));
    let short = short.expect("closed after the location's 1 s");
    assert!(short >= Duration::from_millis(900), "{short:?}");
    assert_eq!(long, None, "kept for the server's 30 s");
}
