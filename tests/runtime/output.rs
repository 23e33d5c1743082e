//! The write side against nginx: `stub_status` counts after known traffic, `limit_rate`
//! downloads taking as long as nginx's (within generous bounds: the rate's granularity is a
//! second), `$limit_rate`, `X-Accel-Limit-Rate`, `keepalive_disable` and
//! `chunked_transfer_encoding off`. Skipped when nginx is not installed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{NGINX, free_port, recording_backend, temp_dir};
use crate::files::{exchange, normalize, start};

const STATUS_CONFIG: &str = "
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:PORT;
        root ROOT;
        add_header X-Active $connections_active;
        add_header X-Writing $connections_writing;
        location /stub { stub_status; }
    }
}
";

/// The numbers of a stub_status page, in its order.
fn counts(answer: &[u8]) -> Vec<u64> {
    let text = String::from_utf8_lossy(answer);
    let after_head = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    // Only the page, not a pipelined answer after it.
    let body = after_head.split("HTTP/").next().unwrap_or_default();
    body.split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap_or(u64::MAX))
        .collect()
}

/// The stub page after `settle`: polled (up to 2 s) until `want` holds, as a connection the
/// client closed may take a moment to leave the counters.
fn stub(port: u16, want: impl Fn(&[u64]) -> bool) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let seen = counts(&exchange(port, "GET /stub HTTP/1.1\r\nHost: x\r\n"));
        if want(&seen) || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What one server's counters say along a fixed sequence of connections.
fn status_walk(port: u16) -> Vec<String> {
    let mut seen = Vec::new();
    // [active, accepts, handled, requests, reading, writing, waiting]
    seen.push(format!("{:?}", stub(port, |c| c.first() == Some(&1))));
    let two = exchange(
        port,
        "GET /stub HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\n",
    );
    seen.push(format!("{:?}", counts(&two)));
    let idle = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    seen.push(format!(
        "idle {:?}",
        stub(port, |c| c.first() == Some(&2) && c.get(6) == Some(&1))
    ));
    let mut reading = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    reading.write_all(b"GET /x HTTP/1.0\r\n").expect("send");
    seen.push(format!(
        "reading {:?}",
        stub(port, |c| c.first() == Some(&3) && c.get(4) == Some(&1))
    ));
    drop((idle, reading));
    seen.push(format!(
        "closed {:?}",
        stub(port, |c| c.first() == Some(&1))
    ));
    let head = normalize(&exchange(port, "HEAD /stub HTTP/1.1\r\nHost: x\r\n"), port);
    seen.push(head.replace(|c: char| c.is_ascii_digit(), "N"));
    let post = normalize(&exchange(port, "POST /stub HTTP/1.1\r\nHost: x\r\n"), port);
    seen.push(post.lines().next().unwrap_or_default().to_string());
    seen
}

#[test]
fn stub_status_counts_connections_and_requests_as_nginx_does() {
    if !Path::new(NGINX).exists() {
        eprintln!("skipped: {NGINX} is not installed");
        return;
    }
    let base = temp_dir("stub-status");
    let www = base.join("www");
    std::fs::create_dir_all(&www).expect("www");
    let walks = [NGINX, env!("CARGO_BIN_EXE_ngxr")].map(|bin| {
        let name = Path::new(bin).file_name().unwrap_or_default();
        let port = free_port();
        let _server = start(bin, &base.join(name), STATUS_CONFIG, &www, port, 0);
        status_walk(port)
    });
    assert_eq!(walks[1], walks[0], "ngxr's walk, then nginx's");
    // The first page: this connection (the second, after the start-up probe), the first
    // request, being written; then an idle connection waiting beside the page's.
    assert_eq!(walks[0][0], "[1, 2, 2, 1, 0, 1, 0]", "{walks:?}");
    assert_eq!(walks[0][2], "idle [2, 5, 5, 3, 0, 1, 1]", "{walks:?}");
}

const RATE_CONFIG: &str = "
events {}
http {
    log_format rate \"$uri $limit_rate\";
    access_log logs/access.log rate;
    server {
        listen 127.0.0.1:PORT;
        root ROOT;
        location /data { limit_rate 12k; limit_rate_after 256; add_header X-Rate $limit_rate; }
        location /free { alias ROOT/data; }
        location /var { alias ROOT/data; limit_rate $arg_l; }
        location /set { set $limit_rate $arg_l; add_header X-Rate $limit_rate; return 200 ok; }
        location /accel { proxy_pass http://127.0.0.1:PORT/accelerated; }
        location /accelerated {
            alias ROOT/data;
            add_header X-Accel-Limit-Rate 20000;
        }
        location /chunks {
            chunked_transfer_encoding off;
            proxy_pass http://127.0.0.1:BACKEND;
            proxy_http_version 1.1;
        }
        location /safari { keepalive_disable safari; alias ROOT/data; }
    }
}
";

/// How long a download of `path` takes, and what it brought.
fn timed(port: u16, path: &str) -> (Duration, Vec<u8>) {
    let began = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).expect("send");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (began.elapsed(), out)
}

fn body(answer: &[u8]) -> &[u8] {
    let at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |i| i + 4);
    &answer[at..]
}

/// Everything one server answered, and how long each rated download took.
fn rate_walk(bin: &str, base: &Path, www: &Path, backend: u16) -> (Vec<String>, Vec<Duration>) {
    let name = Path::new(bin).file_name().unwrap_or_default();
    let prefix = base.join(name);
    let port = free_port();
    let config = RATE_CONFIG.replace("BACKEND", &backend.to_string());
    let server = start(bin, &prefix, &config, www, port, 0);
    let mut seen = Vec::new();
    let mut took = Vec::new();
    for path in ["/data", "/var?l=15k", "/accel", "/free"] {
        let (time, answer) = timed(port, path);
        assert_eq!(body(&answer).len(), 30000, "{bin} {path}");
        took.push(time);
        let rate = String::from_utf8_lossy(&answer)
            .lines()
            .find(|l| l.starts_with("X-Rate") || l.starts_with("X-Accel"))
            .map(str::to_string);
        seen.push(format!("{path} {rate:?}"));
    }
    for probe in [
        "GET /set?l=40k HTTP/1.1\r\nHost: x\r\n",
        "GET /set?l=4x HTTP/1.1\r\nHost: x\r\n",
        "GET /chunks HTTP/1.1\r\nHost: x\r\n",
        "GET /safari HTTP/1.1\r\nHost: x\r\nUser-Agent: Mac OS X Safari/7534.48.3\r\n",
        "HEAD /safari HTTP/1.1\r\nHost: x\r\nUser-Agent: Chrome/1 Mac OS X Safari/1\r\n",
    ] {
        // Kept-alive unless the server says otherwise: no `Connection: close` is added.
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(1500)))
            .expect("timeout");
        s.write_all(format!("{probe}\r\n").as_bytes())
            .expect("send");
        let mut out = Vec::new();
        let mut chunk = [0u8; 65536];
        while let Ok(n) = s.read(&mut chunk) {
            if n == 0 || out.len() > 30000 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
            if out.windows(4).any(|w| w == b"\r\n\r\n") && probe.contains("/set") {
                break;
            }
        }
        let text = normalize(&out, port);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let kept: Vec<&str> = head
            .lines()
            .filter(|l| !l.starts_with("ETag") && !l.starts_with("Last-Modified"))
            .collect();
        seen.push(kept.join("|"));
    }
    server.quit();
    let log = std::fs::read_to_string(prefix.join("logs/access.log")).unwrap_or_default();
    // A proxied request and the one it made end close together: compared in any order.
    let mut lines: Vec<String> = log.lines().map(str::to_string).collect();
    lines.sort();
    seen.extend(lines);
    (seen, took)
}

#[test]
fn limit_rate_paces_downloads_as_nginx_does() {
    if !Path::new(NGINX).exists() {
        eprintln!("skipped: {NGINX} is not installed");
        return;
    }
    let base = temp_dir("limit-rate");
    let www = base.join("www");
    std::fs::create_dir_all(&www).expect("www");
    std::fs::write(www.join("data"), vec![b'X'; 30000]).expect("data");
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    // Both servers at once: the waits overlap.
    let walks = std::thread::scope(|scope| {
        let runs = [NGINX, env!("CARGO_BIN_EXE_ngxr")].map(|bin| {
            let (base, www) = (&base, &www);
            scope.spawn(move || {
                let (backend, _heads) = recording_backend(chunked);
                rate_walk(bin, base, www, backend)
            })
        });
        runs.map(|r| r.join().expect("a walk"))
    });
    let [(nginx_seen, nginx_took), (ngxr_seen, ngxr_took)] = walks;
    assert_eq!(
        ngxr_seen, nginx_seen,
        "ngxr's answers and log, then nginx's"
    );
    // 30000 bytes at 12k after 256: two waits of a second; at 15k, one; at 20000 (the
    // upstream's header), one; unlimited, none.
    let bounds = [(1.5, 4.0), (0.7, 3.0), (0.7, 3.0), (0.0, 0.6)];
    for (i, (low, high)) in bounds.into_iter().enumerate() {
        for took in [nginx_took[i], ngxr_took[i]] {
            let s = took.as_secs_f64();
            assert!(
                s >= low && s <= high,
                "download {i} took {s:.2} s; nginx {nginx_took:?}, ngxr {ngxr_took:?}"
            );
        }
    }
}
