//! WebSocket tunnels against nginx, through raw sockets on both sides: a backend that answers
//! each path its own way (a 101 with a `Content-Length`, a 101 to a request that did not ask
//! to upgrade, a reset or silence after the 101, no answer at all) and clients that send,
//! wait, reset, and leave while the upstream thinks. The bytes each client gets (`Date`
//! aside), the access-log lines written as tunnels close and the error-log lines about them
//! must be nginx's, over TLS too, where close_notify goes only to a side still there.
//! Skipped when nginx is not installed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use super::files::{normalize, start};
use crate::common::{free_port, nginx, temp_dir};

/// `BACKEND` is the raw backend's port.
const CONFIG: &str = r#"
error_log logs/error.log info;
events { worker_connections 64; }
http {
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    log_format t '$request $status $body_bytes_sent $bytes_sent $upstream_status '
                 '"$request_completion" $upstream_bytes_received $upstream_bytes_sent '
                 '$sent_http_connection $sent_http_upgrade';
    access_log logs/access.log t;
    server {
        listen 127.0.0.1:PORT;
        location / {
            proxy_pass http://127.0.0.1:BACKEND;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1s;
        }
        location /pair/ {
            proxy_pass http://pair;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1s;
        }
    }
    server {
        listen 127.0.0.1:TLSPORT ssl;
        ssl_certificate TLSCRT;
        ssl_certificate_key TLSKEY;
        location / {
            proxy_pass http://127.0.0.1:BACKEND;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1s;
        }
    }
    upstream pair { server 127.0.0.1:BACKEND; server 127.0.0.1:BACKEND; }
}
"#;

/// The error log names the `Referer` too (`referrer: "..."`).
const UPGRADE: &str = "HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\
                       Referer: http://t/page\r\n\r\n";

/// What a client does, in order.
enum Step {
    Send(String),
    /// Reads what comes for this long.
    Wait(u64),
    /// Closes with a reset (`SO_LINGER` 0).
    Reset,
    /// Shuts its sending side down.
    Shut,
}

/// Each probe on its own connection; after its steps the client reads until the server
/// closes or 1.5 s pass.
fn probes() -> Vec<Vec<Step>> {
    use Step::*;
    let upgrade = |path: &str| Send(format!("GET {path} {UPGRADE}"));
    vec![
        // Bytes both ways, some sent right behind the request head: the log counts them.
        vec![
            Send(format!("GET /echo101 {UPGRADE}early")),
            Wait(300),
            Send("more".into()),
        ],
        // The upstream's `Content-Length` stays on the 101.
        vec![upgrade("/length101")],
        // A 101 nobody asked for is an ordinary answer: its body runs until the upstream
        // closes, and the client connection stays open for the next request.
        vec![
            Send("GET /extra101 HTTP/1.1\r\nHost: t\r\n\r\n".into()),
            Wait(400),
            Send("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n".into()),
        ],
        // Such a 101 from an upstream that then only idles: its body stays in nginx's
        // buffer, and `proxy_read_timeout` ends the answer without it.
        vec![Send("GET /greet101 HTTP/1.1\r\nHost: t\r\n\r\n".into())],
        // Its client leaving meanwhile ends it at once, a 499: nothing reached the client,
        // the head still held back with the body (`postpone_output`).
        vec![
            Send("GET /greet101 HTTP/1.1\r\nHost: t\r\n\r\n".into()),
            Wait(300),
            Shut,
        ],
        vec![
            Send("GET /greet101 HTTP/1.1\r\nHost: t\r\n\r\n".into()),
            Wait(300),
            Reset,
        ],
        // A 1xx before the 101 is the answer (nginx never asks for a 100): the rest is its
        // body, until the upstream closes, and no tunnel opens.
        vec![
            upgrade("/continue101"),
            Wait(400),
            Send("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n".into()),
        ],
        // An upgrade answered without one, and a frame sent right after the answer: nginx
        // reads it as the next request and refuses it at its first byte (400, closed).
        vec![
            upgrade("/ok"),
            Wait(300),
            Send("\u{81}\u{85}abcdhello".into()),
        ],
        // An upstream that resets: an `[error]` line.
        vec![upgrade("/reset101")],
        // A client that resets: an `[info]` line.
        vec![upgrade("/idle101"), Wait(300), Reset],
        // A client that leaves while the upstream thinks: a 499 and nginx's `[info]` line,
        // which names the reset.
        vec![upgrade("/slow101"), Wait(200), Shut],
        vec![upgrade("/slow101"), Wait(200), Reset],
        // Frames sent ahead of the 101 (after the head was read) do not hide the client's
        // leaving: nginx hears of it from epoll (`EPOLLRDHUP`) whatever waits unread.
        vec![
            upgrade("/slow101"),
            Wait(100),
            Send("early".into()),
            Wait(100),
            Shut,
        ],
        vec![
            upgrade("/slow101"),
            Wait(100),
            Send("early".into()),
            Wait(100),
            Reset,
        ],
        // Two servers that never answer: each timeout frees its server first (the
        // `temporarily disabled` line), then says it timed out, and the client gets a 504.
        vec![upgrade("/pair/silent"), Wait(2500)],
        // An idle tunnel: `proxy_read_timeout` closes it.
        vec![upgrade("/idle101")],
        // nginx's timer moves only when it would move by 300 ms or more: set for 1 s at the
        // 101, then for 1.4 s by a message at 0.4 s, it stays there for one at 0.65 s, and
        // the tunnel is closed before a message at 1.525 s (which would count in the log).
        vec![
            upgrade("/idle101"),
            Wait(400),
            Send("a".into()),
            Wait(250),
            Send("b".into()),
            Wait(875),
            Send("c".into()),
        ],
    ]
}

/// Probes over TLS: a side that closed or failed gets no close_notify, as nginx sends none
/// to a peer whose read ended (`no_send_shutdown`); the others get one.
fn tls_probes() -> Vec<Vec<Step>> {
    use Step::*;
    let upgrade = |path: &str| Send(format!("GET {path} {UPGRADE}"));
    vec![
        // The client half-closes without close_notify: none comes back.
        vec![
            upgrade("/echo101"),
            Wait(300),
            Send("hi".into()),
            Wait(200),
            Shut,
        ],
        // A client's reset reads as a close on TLS (`ngx_ssl_recv`): no error-log line.
        vec![upgrade("/idle101"), Wait(300), Reset],
        // The upstream resets, or goes idle: the client gets close_notify.
        vec![upgrade("/reset101")],
        vec![upgrade("/idle101")],
    ]
}

/// The raw backend: a thread per connection, the answer chosen by the request's path.
fn backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let port = listener.local_addr().expect("backend address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    port
}

fn answer(mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match s.read(&mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return,
        }
    };
    let head = String::from_utf8_lossy(&got[..end]).into_owned();
    let path = head.split(' ').nth(1).unwrap_or_default().to_string();
    let switching = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: xyz\r\n";
    if path == "/slow101" {
        std::thread::sleep(Duration::from_millis(600));
    }
    if path == "/pair/silent" {
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        return;
    }
    let reply = match path.as_str() {
        "/length101" => {
            format!("{switching}Sec-WebSocket-Protocol: chat\r\nContent-Length: 5\r\n\r\n")
        }
        "/extra101" => format!("{switching}\r\nEXTRA"),
        "/greet101" => format!("{switching}\r\nhello"),
        "/continue101" => format!("HTTP/1.1 100 Continue\r\n\r\n{switching}\r\n"),
        "/reset101" | "/idle101" | "/echo101" | "/slow101" => format!("{switching}\r\n"),
        _ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_string(),
    };
    let _ = s.write_all(reply.as_bytes());
    match path.as_str() {
        "/reset101" => {
            std::thread::sleep(Duration::from_millis(200));
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
        "/idle101" | "/greet101" => while matches!(s.read(&mut buf), Ok(n) if n > 0) {},
        "/echo101" => {
            let _ = s.write_all(&got[end..]);
            while let Ok(n @ 1..) = s.read(&mut buf) {
                let _ = s.write_all(&buf[..n]);
            }
        }
        _ => {}
    }
}

/// A client's connection: plain, or TLS over it.
trait Duplex: Read + Write {}

impl<T: Read + Write> Duplex for T {}

fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).expect("connect")
}

/// Runs `steps` against 127.0.0.1:`port`; returns what the client got, with how it ended.
fn talk(port: u16, steps: &[Step]) -> String {
    let s = connect(port);
    let control = s.try_clone().expect("clone");
    converse(&mut &s, &control, steps)
}

/// [`talk`] over TLS (the handshake done first).
fn talk_tls(port: u16, steps: &[Step]) -> String {
    let mut tcp = connect(port);
    let control = tcp.try_clone().expect("clone");
    let config = crate::tls::client_config(
        &rustls::version::TLS12,
        &[rustls::SignatureScheme::ECDSA_NISTP256_SHA256],
    );
    let name = rustls::pki_types::ServerName::try_from("t").expect("name");
    let mut conn = rustls::ClientConnection::new(config, name).expect("client");
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).expect("handshake");
    }
    converse(&mut rustls::StreamOwned::new(conn, tcp), &control, steps)
}

/// Runs `steps` on `s`, whose socket `control` half-closes or resets.
fn converse(s: &mut dyn Duplex, control: &TcpStream, steps: &[Step]) -> String {
    control
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let mut got = Vec::new();
    let read_for = |s: &mut dyn Duplex, ms: u64, got: &mut Vec<u8>| -> Option<&'static str> {
        let deadline = Instant::now() + Duration::from_millis(ms);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match s.read(&mut buf) {
                Ok(0) => return Some("<closed>"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Some("<closed without close_notify>");
                }
                Err(_) => return Some("<reset>"),
            }
        }
        None
    };
    for step in steps {
        match step {
            Step::Send(bytes) => {
                s.write_all(bytes.as_bytes()).expect("send");
                s.flush().expect("flush");
            }
            Step::Wait(ms) => {
                if let Some(end) = read_for(s, *ms, &mut got) {
                    return format!("{}{end}", String::from_utf8_lossy(&got));
                }
            }
            Step::Shut => control
                .shutdown(std::net::Shutdown::Write)
                .expect("shutdown"),
            Step::Reset => {
                let _ = socket2::SockRef::from(control).set_linger(Some(Duration::ZERO));
                return format!("{}<client reset>", String::from_utf8_lossy(&got));
            }
        }
    }
    let end = read_for(s, 1500, &mut got).unwrap_or("<open>");
    format!("{}{end}", String::from_utf8_lossy(&got))
}

/// The error-log lines about tunnels and clients that left, as `[level] message`, ports as
/// `PORT`.
fn tunnel_lines(dir: &Path, ports: &[u16]) -> Vec<String> {
    let log = std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default();
    log.lines()
        .filter(|l| {
            [
                "upgraded connection",
                "prematurely closed",
                "timed out",
                "disabled",
            ]
            .iter()
            .any(|what| l.contains(what))
        })
        .filter_map(|l| {
            let (_, from_level) = l.split_once(" [")?;
            let (level, rest) = from_level.split_once("] ")?;
            let (_, message) = rest.split_once(": *")?;
            let (_, message) = message.split_once(' ')?;
            let mut line = format!("[{level}] {message}");
            for port in ports {
                line = line.replace(&port.to_string(), "PORT");
            }
            Some(line)
        })
        .collect()
}

fn access_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("logs/access.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn tunnels_answer_and_log_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("tunnel-oracle");
    let upstream = backend();
    let (pair, _) = crate::tls::pair(&base, "t", &rcgen::PKCS_ECDSA_P256_SHA256);
    let config = CONFIG
        .replace("BACKEND", &upstream.to_string())
        .replace("TLSCRT", &pair.certificate.display().to_string())
        .replace("TLSKEY", &pair.key.display().to_string());
    let (nginx_dir, ngxr_dir) = (base.join("nginx"), base.join("ngxr"));
    let (nginx_port, ngxr_port) = (free_port(), free_port());
    let (nginx_tls, ngxr_tls) = (free_port(), free_port());
    let with_tls = |port: u16| config.replace("TLSPORT", &port.to_string());
    let nginx_config = with_tls(nginx_tls);
    let mut nginx_server = Some(start(
        nginx,
        &nginx_dir,
        &nginx_config,
        &base,
        nginx_port,
        0,
    ));
    let mut ngxr_server = Some(start(
        env!("CARGO_BIN_EXE_ngxr"),
        &ngxr_dir,
        &with_tls(ngxr_tls),
        &base,
        ngxr_port,
        0,
    ));
    let mut differences = Vec::new();
    let runs = [
        (
            probes(),
            talk as fn(u16, &[Step]) -> String,
            [nginx_port, ngxr_port],
        ),
        (tls_probes(), talk_tls, [nginx_tls, ngxr_tls]),
    ];
    for (probes, talk, [theirs_at, ours_at]) in runs {
        for steps in probes {
            let theirs = normalize(talk(theirs_at, &steps).as_bytes(), theirs_at);
            let ours = normalize(talk(ours_at, &steps).as_bytes(), ours_at);
            if theirs != ours {
                differences.push(format!("--- nginx:\n{theirs}\n--- ngxr:\n{ours}"));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n=====\n"));
    // Both write their logs by the time they are stopped (ngxr flushes access logs each second).
    std::thread::sleep(Duration::from_millis(1200));
    crate::files::settle_logs(&nginx_dir, 0);
    crate::files::settle_logs(&ngxr_dir, 0);
    drop((nginx_server.take(), ngxr_server.take()));
    let ports = [nginx_port, ngxr_port, nginx_tls, ngxr_tls, upstream];
    assert_eq!(
        tunnel_lines(&ngxr_dir, &ports),
        tunnel_lines(&nginx_dir, &ports)
    );
    assert_eq!(access_lines(&ngxr_dir), access_lines(&nginx_dir));
}
