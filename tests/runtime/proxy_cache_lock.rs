//! `proxy_cache_lock`, `proxy_cache_lock_timeout` and `proxy_cache_lock_age` against nginx:
//! two requests for one missing entry, the second sent while the first waits for a slow
//! origin (which answers after 1 s and counts what it gets). Under the lock the second
//! waits and is answered from the cache (the origin asked once); past
//! `proxy_cache_lock_timeout` it asks the origin itself without keeping the answer, with
//! nginx's `cache lock timeout` line; past `proxy_cache_lock_age` it takes the lock and asks.
//! Then `proxy_cache_background_update`: an expired entry answers (`STALE`) while a background
//! subrequest asks the origin for the next, which the request after gets (`HIT`).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{nginx, temp_dir};
use crate::files::{exchange, file_messages, settle_logs, start};

const CONFIG: &str = r#"
events {}
http {
    log_format t '$uri $upstream_cache_status $status';
    access_log logs/access.log t;
    error_log logs/error.log info;
    proxy_cache_path PREFIX/cache keys_zone=z:1m;
    proxy_cache z;
    proxy_cache_valid 200 1m;
    proxy_cache_lock on;
    server {
        listen 127.0.0.1:PORT;
        location /lock/ { proxy_pass http://127.0.0.1:ORIGIN; }
        location /timeout/ {
            proxy_cache_lock_timeout 200ms;
            proxy_pass http://127.0.0.1:ORIGIN;
        }
        location /age/ {
            proxy_cache_lock_age 200ms;
            proxy_pass http://127.0.0.1:ORIGIN;
        }
        location /background/ {
            proxy_cache_valid 200 1s;
            proxy_cache_use_stale updating;
            proxy_cache_background_update on;
            proxy_pass http://127.0.0.1:ORIGIN;
        }
        # The answer's `stale-while-revalidate` stands for `proxy_cache_use_stale updating`.
        location /swr/ {
            proxy_cache_background_update on;
            proxy_pass http://127.0.0.1:ORIGIN;
        }
    }
}
"#;

/// An origin that answers each request 1 s after its head came, with the header lines
/// `extra`, and counts them.
fn slow_origin(extra: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the origin");
    let port = listener.local_addr().expect("origin address").port();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { break };
            let counted = counted.clone();
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut head = Vec::new();
                let mut chunk = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                std::thread::sleep(Duration::from_secs(1));
                let body = format!("answer {n}\n");
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes());
            });
        }
    });
    (port, count)
}

/// What one server did: the access log's lines sorted, the origin's count, the
/// `cache lock timeout` lines.
fn run(bin: &str, prefix: &std::path::Path) -> (Vec<String>, usize, usize) {
    let (origin, count) = slow_origin("");
    let port = crate::common::free_port();
    let config = CONFIG.replace("ORIGIN", &origin.to_string());
    let server = start(bin, prefix, &config, prefix, port, 0);
    for uri in ["/lock/a", "/timeout/a", "/age/a"] {
        let request = format!("GET {uri} HTTP/1.1\r\nHost: a\r\n");
        let first = {
            let request = request.clone();
            std::thread::spawn(move || exchange(port, &request))
        };
        std::thread::sleep(Duration::from_millis(100));
        let second = exchange(port, &request);
        let first = first.join().expect("first request");
        for answer in [first, second] {
            assert!(answer.starts_with(b"HTTP/1.1 200 "));
        }
    }
    settle_logs(prefix, 6);
    server.quit();
    let access = std::fs::read_to_string(prefix.join("logs/access.log")).unwrap_or_default();
    let mut lines: Vec<String> = access.lines().map(String::from).collect();
    lines.sort();
    let errors = file_messages(&prefix.join("logs/error.log"), Some(prefix), &[port]);
    let timeouts = errors
        .iter()
        .filter(|l| l.starts_with("cache lock timeout"))
        .count();
    (lines, count.load(Ordering::SeqCst), timeouts)
}

#[test]
fn cache_lock_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("cache-lock");
    let theirs = run(nginx, &base.join("nginx"));
    let ours = run(env!("CARGO_BIN_EXE_ngxr"), &base.join("ngxr_"));
    assert_eq!(theirs, ours);
    let expected = [
        "/age/a MISS 200",
        "/age/a MISS 200",
        "/lock/a HIT 200",
        "/lock/a MISS 200",
        "/timeout/a MISS 200",
        "/timeout/a MISS 200",
    ];
    assert_eq!(ours.0, expected);
    // The lock's second request got the first's answer; the two others asked themselves.
    assert_eq!(ours.1, 5);
    assert_eq!(ours.2, 1);
}

/// What one server answered to a request, an expired one, and one after: the bodies and
/// the access log's lines, and the origin's count.
fn run_background(
    bin: &str,
    prefix: &std::path::Path,
    location: &str,
    extra: &'static str,
) -> (Vec<String>, String, usize) {
    let (origin, count) = slow_origin(extra);
    let port = crate::common::free_port();
    let config = CONFIG.replace("ORIGIN", &origin.to_string());
    let server = start(bin, prefix, &config, prefix, port, 0);
    let request = format!("GET /{location}/a HTTP/1.1\r\nHost: a\r\n");
    let mut bodies = Vec::new();
    // The second's connection closes once the update is over (the answer is kept then):
    // the third comes at once, well within the new entry's second.
    for pause in [2200, 0, 0] {
        let sent = std::time::Instant::now();
        let answer = String::from_utf8_lossy(&exchange(port, &request)).into_owned();
        if bodies.len() == 1 {
            let waited = sent.elapsed() >= Duration::from_millis(900);
            assert!(waited, "{bin}: closed before the update was over");
        }
        let body = answer.rsplit("\r\n\r\n").next().unwrap_or_default();
        bodies.push(body.to_string());
        std::thread::sleep(Duration::from_millis(pause));
    }
    settle_logs(prefix, 3);
    server.quit();
    let access = std::fs::read_to_string(prefix.join("logs/access.log")).unwrap_or_default();
    (bodies, access, count.load(Ordering::SeqCst))
}

#[test]
fn background_update_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("cache-background");
    let theirs = run_background(nginx, &base.join("nginx"), "background", "");
    let ours = run_background(
        env!("CARGO_BIN_EXE_ngxr"),
        &base.join("ngxr_"),
        "background",
        "",
    );
    assert_eq!(theirs, ours);
    assert_eq!(ours.0, ["answer 1\n", "answer 1\n", "answer 2\n"]);
    let expected = "/background/a MISS 200\n/background/a STALE 200\n/background/a HIT 200\n";
    assert_eq!(ours.1, expected);
    assert_eq!(ours.2, 2);
}

/// `Cache-Control: stale-while-revalidate=` in the answer lets its entry answer expired
/// while it is updated, without `proxy_cache_use_stale updating`.
#[test]
fn stale_while_revalidate_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("cache-swr");
    let extra = "Cache-Control: max-age=1, stale-while-revalidate=100\r\n";
    let theirs = run_background(nginx, &base.join("nginx"), "swr", extra);
    let ours = run_background(
        env!("CARGO_BIN_EXE_ngxr"),
        &base.join("ngxr_"),
        "swr",
        extra,
    );
    assert_eq!(theirs, ours);
    assert_eq!(
        ours.1,
        "/swr/a MISS 200\n/swr/a STALE 200\n/swr/a HIT 200\n"
    );
}
