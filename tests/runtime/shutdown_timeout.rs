//! `worker_shutdown_timeout` against nginx: after a QUIT, or for the old configuration's
//! connections after a reload, what is still open when the time is up is closed; kept-alive
//! connections close at once, a head being read is read to its end, an answer that comes in
//! the meantime says `Connection: close`, and the access log says how far each request got
//! (`000` for one still waiting for its upstream's head).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::{free_port, nginx, temp_dir};
use crate::files::{launch, write_config};
use crate::unix_listen::{Master, until};

const CONFIG: &str = r#"
worker_shutdown_timeout 1s;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    log_format f '$request|$status|$body_bytes_sent|$bytes_sent|$upstream_status|$request_completion';
    access_log logs/access.log f;
    client_header_timeout 4s;
    server {
        listen 127.0.0.1:PORT;
        location / {
            proxy_pass http://127.0.0.1:BACKEND;
            proxy_http_version 1.1;
            proxy_buffering off;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $http_connection;
        }
        location = /kept { return 200 "ok\n"; }
    }
}
"#;

/// A backend that answers `/slow` never, `/stream` with a head and 3 of its 100 bytes,
/// `/ws` with a 101, `/late` in full after half a second; each then holds the connection
/// until the proxy closes it. It counts the heads it has read.
fn holding_backend() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let heads = Arc::new(AtomicUsize::new(0));
    let counted = heads.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(8) {
            let Ok(mut conn) = conn else { return };
            let counted = counted.clone();
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(15)));
                let mut head = Vec::new();
                let mut buf = [0; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let answer: &[u8] = if head.starts_with(b"GET /stream ") {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"
                } else if head.starts_with(b"GET /late ") {
                    std::thread::sleep(Duration::from_millis(500));
                    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
                } else if head.starts_with(b"GET /ws ") {
                    b"HTTP/1.1 101 Switching\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n"
                } else {
                    b""
                };
                let _ = conn.write_all(answer);
                // Held until the proxy closes its side.
                while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    (port, heads)
}

/// What each client saw (its bytes without `Date`, and when the server closed, in steps
/// of the timeout), then the access log's lines, sorted.
fn shut_down(bin: &str, prefix: &Path, signal: Signal) -> Vec<String> {
    let port = free_port();
    let (backend, heads) = holding_backend();
    let config = CONFIG.replace("BACKEND", &backend.to_string());
    write_config(prefix, &config, prefix, port, 0);
    let mut server = Master(launch(bin, prefix, port, "master_process on;"));
    let connect = |request: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(8)))
            .expect("timeout");
        s.write_all(request.as_bytes()).expect("send");
        s
    };
    let clients = [
        ("slow", connect("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")),
        ("stream", connect("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")),
        ("late", connect("GET /late HTTP/1.1\r\nHost: x\r\n\r\n")),
        (
            "tunnel",
            connect("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n"),
        ),
        (
            "kept alive",
            connect("GET /kept HTTP/1.1\r\nHost: x\r\n\r\n"),
        ),
        ("head begun", connect("GET /kept HTTP/1.1\r\nHo")),
        ("nothing sent", connect("")),
    ];
    // The signal comes once the server has every connection in hand: the four proxied
    // requests at the backend (a loaded machine may take longer than the pause alone), the
    // rest connected before them.
    until("the proxied requests", || heads.load(Ordering::SeqCst) >= 4);
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    let pid = Pid::from_raw(server.0.0.id() as i32);
    kill(pid, signal).expect("signal");
    let readers = clients.map(|(name, mut s)| {
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            // 0: at once, 1: when the 1 s is up, 3 or 4: when the head timed out.
            let when = signalled.elapsed().as_millis().saturating_add(500) / 1000;
            let got = String::from_utf8_lossy(&got)
                .lines()
                .filter(|l| !l.starts_with("Date: "))
                .collect::<Vec<_>>()
                .join("|");
            format!("{name}: closed at {when}: {got}")
        })
    });
    let mut seen: Vec<String> = readers
        .into_iter()
        .map(|r| r.join().expect("reader"))
        .collect();
    if signal == Signal::SIGQUIT {
        until("the exit", || matches!(server.0.0.try_wait(), Ok(Some(_))));
    }
    let log = std::fs::read_to_string(prefix.join("logs/access.log")).unwrap_or_default();
    let mut lines: Vec<String> = log.lines().map(String::from).collect();
    lines.sort();
    seen.extend(lines);
    seen
}

fn against_nginx(name: &str, signal: Signal) {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir(name);
    let [theirs, ours] = [(nginx, "nginx"), (env!("CARGO_BIN_EXE_ngxr"), "ngxr")]
        .map(|(bin, dir)| shut_down(bin, &base.join(dir), signal));
    assert_eq!(ours, theirs);
    // The oracle itself: what a change of nginx would show first.
    let expected = [
        "slow: closed at 1: ",
        "stream: closed at 1: HTTP/1.1 200 OK|Server: nginx/1.22.1|Content-Length: 100|Connection: keep-alive||abc",
        "late: closed at 0: HTTP/1.1 200 OK|Server: nginx/1.22.1|Content-Length: 3|Connection: close||ok",
        "tunnel: closed at 1: HTTP/1.1 101 Switching|Server: nginx/1.22.1|Connection: upgrade|Upgrade: foo|",
        "kept alive: closed at 0: HTTP/1.1 200 OK|Server: nginx/1.22.1|Content-Type: text/plain|Content-Length: 3|Connection: keep-alive||ok",
        "head begun: closed at 4: ",
        "nothing sent: closed at 1: ",
        "GET /kept HTTP/1.1|200|3|150|-|OK",
        "GET /kept HTTP/1.1|408|0|0|-|",
        "GET /late HTTP/1.1|200|3|119|200|OK",
        "GET /slow HTTP/1.1|000|0|0|-|",
        "GET /stream HTTP/1.1|200|3|126|200|",
        "GET /ws HTTP/1.1|101|0|120|101|",
    ];
    assert_eq!(theirs, expected);
}

#[test]
fn after_quit_what_is_open_closes_when_the_time_is_up() {
    against_nginx("shutdown-timeout-quit", Signal::SIGQUIT);
}

#[test]
fn after_a_reload_the_old_connections_close_when_the_time_is_up() {
    against_nginx("shutdown-timeout-reload", Signal::SIGHUP);
}
