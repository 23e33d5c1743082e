//! Against nginx: `limit_req` (a quick burst with `burst=`/`nodelay`, a refusal's status and
//! error page, `delay=`, dry run, an empty key, inheritance, the preaccess phase before
//! `deny`) and `limit_conn` (a second request while the first is being proxied), with
//! `$limit_req_status`/`$limit_conn_status` and the error-log lines at their levels.
//!
//! Rates are low (1r/m, 1r/s) so a quick burst decides the same way on any machine; the one
//! delay waited for is about a second, and every wait is bounded.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use super::files::{exchange, start};
use crate::common::{NGINX, free_port, nginx, temp_dir};

const CONFIG: &str = r#"
error_log logs/error.log warn;
events { worker_connections 64; }
http {
    root ROOT;
    access_log off;
    types { text/plain txt; }
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
    limit_req_zone $arg_k zone=bykey:1m rate=1r/m;
    limit_req_zone $arg_k zone=srv:1m rate=1r/m;
    limit_req_zone $binary_remote_addr zone=paced:1m rate=1r/s;
    limit_conn_zone $binary_remote_addr zone=addr:1m;
    server {
        listen 127.0.0.1:PORT;
        server_name lim;
        limit_req zone=srv;
        add_header X-Req $limit_req_status always;
        add_header X-Conn $limit_conn_status always;
        add_header X-Time $request_time always;
        location /burst/ { limit_req zone=one burst=2 nodelay; limit_req_status 429; }
        location /key/ { limit_req zone=bykey; }
        location /page/ { limit_req zone=bykey; error_page 503 /key/x.txt; }
        location /dry/ { limit_req zone=bykey; limit_req_dry_run on; }
        location /inherited/ { }
        location /deny/ { deny all; }
        location /paced/ { limit_req zone=paced burst=3 delay=1; }
        location /early/ { return 200 "early\n"; }
        location /conn/ {
            limit_req zone=bykey burst=9 nodelay;
            limit_conn addr 1;
            limit_conn_log_level warn;
            proxy_read_timeout 1s;
            proxy_pass http://127.0.0.1:DEAD;
        }
    }
}
"#;

/// Status line and the two limit headers of an answer.
fn summary(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let mut out = lines.next().unwrap_or_default().to_string();
    for l in lines.filter(|l| l.starts_with("X-Req:") || l.starts_with("X-Conn:")) {
        out.push_str(" | ");
        out.push_str(l);
    }
    out
}

fn get(port: u16, path: &str) -> String {
    summary(&exchange(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: lim\r\n"),
    ))
}

/// Every probe in order, on a server of its own, with what each answered.
fn run(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    let mut probe = |path: &str| {
        let answer = get(port, path);
        out.push(format!("{path} -> {answer}"));
    };
    for _ in 0..5 {
        probe("/burst/x.txt");
    }
    // The server's limit is keyed by `k`: without one nothing is limited.
    for _ in 0..3 {
        probe("/inherited/x.txt");
    }
    for path in ["/inherited/x.txt?k=i", "/inherited/x.txt?k=i"] {
        probe(path);
    }
    // A level with its own limit_req inherits none.
    for _ in 0..3 {
        probe("/key/x.txt");
    }
    for path in ["/key/x.txt?k=a", "/key/x.txt?k=a", "/key/x.txt?k=b"] {
        probe(path);
    }
    // The refusal's error page is an internal redirect that limit_req lets through.
    for path in ["/page/x.txt?k=p", "/page/x.txt?k=p"] {
        probe(path);
    }
    for _ in 0..3 {
        probe("/dry/x.txt?k=d");
    }
    // The preaccess phase comes before the access phase.
    for _ in 0..2 {
        probe("/deny/x.txt?k=z");
    }
    // `return` answers in the rewrite phase, before any limit.
    for _ in 0..2 {
        probe("/early/?k=e");
    }
    out
}

/// `delay=1`: the second request passes at once, the third waits about a second, and its
/// `$request_time` (read by `add_header` as the head goes out) counts the wait.
fn paced(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let answer = exchange(port, "GET /paced/x.txt HTTP/1.1\r\nHost: lim\r\n");
        let waited = start.elapsed() >= Duration::from_millis(300);
        let text = String::from_utf8_lossy(&answer);
        let timed = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Time: "))
            .and_then(|t| t.trim().parse::<f64>().ok())
            .is_some_and(|t| t >= 0.3);
        let summary = summary(&answer);
        out.push(format!("{summary} waited={waited} timed={timed}"));
    }
    out
}

/// A request held by a backend that never answers, then a second one from the same client.
fn connections(port: u16, dead: &TcpListener) -> Vec<String> {
    let mut first = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    first
        .write_all(b"GET /conn/?k=c HTTP/1.1\r\nHost: lim\r\nConnection: close\r\n\r\n")
        .expect("send");
    // The proxied request reached the backend: the connection is counted.
    dead.set_nonblocking(false).expect("blocking");
    let (held, _) = dead.accept().expect("backend accept");
    let second = get(port, "/conn/?k=c");
    let mut answer = Vec::new();
    let _ = first.read_to_end(&mut answer);
    drop(held);
    // The first request is over (504 after proxy_read_timeout): its count is given back.
    let third = std::thread::scope(|s| {
        let backend = s.spawn(|| dead.accept().map(|(c, _)| c));
        let third = get(port, "/conn/?k=c");
        let _ = backend.join();
        third
    });
    vec![summary(&answer), second, third]
}

/// The limit modules' error-log lines: level and message, the excess's digits left out (they
/// depend on the milliseconds between requests).
fn limit_lines(dir: &Path, port: u16) -> Vec<String> {
    let log = std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("limiting ") || l.contains("delaying "))
        .filter_map(|l| {
            let level = &l[l.find('[')?..=l.find(']')?];
            let (_, message) = l.split_once(": *")?;
            let message = message
                .split_once(' ')?
                .1
                .replace(&port.to_string(), "PORT");
            let message = match message.split_once("excess: ") {
                Some((before, after)) => {
                    let rest = after.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
                    format!("{before}excess: N{rest}")
                }
                None => message,
            };
            Some(format!("{level} {message}"))
        })
        .collect()
}

fn serve(
    bin: &str,
    dir: &Path,
    www: &Path,
) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let port = free_port();
    let dead = TcpListener::bind("127.0.0.1:0").expect("backend");
    let dead_port = dead.local_addr().expect("addr").port();
    let running = start(bin, dir, CONFIG, www, port, dead_port);
    let seen = run(port);
    let paced = paced(port);
    let conns = connections(port, &dead);
    drop(running);
    (seen, paced, conns, limit_lines(dir, port))
}

#[test]
fn limit_req_and_limit_conn_as_nginx() {
    let Some(_) = nginx() else { return };
    let base = temp_dir("limit-modules");
    let www = base.join("www");
    for dir in ["burst", "inherited", "key", "page", "dry", "deny", "paced"] {
        std::fs::create_dir_all(www.join(dir)).expect("mkdir");
        std::fs::write(www.join(dir).join("x.txt"), dir).expect("write file");
    }
    let theirs = serve(NGINX, &base.join("nginx"), &www);
    let ours = serve(env!("CARGO_BIN_EXE_ngxr"), &base.join("ngxr"), &www);
    // What the burst must come to, whoever serves it.
    let statuses: Vec<&str> = ours.0[..5]
        .iter()
        .map(|l| &l[l.find("HTTP/1.1 ").map_or(0, |i| i + 9)..][..3])
        .collect();
    assert_eq!(
        statuses,
        ["200", "200", "200", "429", "429"],
        "{:#?}",
        ours.0
    );
    assert_eq!(ours.0, theirs.0);
    assert!(
        ours.1[2].contains("DELAYED waited=true timed=true"),
        "{:?}",
        ours.1
    );
    assert!(
        ours.1[1].contains("waited=false timed=false"),
        "{:?}",
        ours.1
    );
    assert_eq!(ours.1, theirs.1);
    assert!(ours.2[1].starts_with("HTTP/1.1 503"), "{:?}", ours.2);
    assert_eq!(ours.2, theirs.2);
    assert!(
        ours.3.iter().any(|l| l.starts_with(
            "[error] limiting requests, excess: N by zone \"one\", client: 127.0.0.1, server: lim, \
             request: \"GET /burst/x.txt HTTP/1.1\", host: \"lim\""
        )),
        "{:#?}",
        ours.3
    );
    assert_eq!(ours.3, theirs.3);
}
