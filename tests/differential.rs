//! nginx and ngxr side by side on the same configuration: every probe is sent to both, and
//! what the backend received (request line and headers, in order, byte for byte) and what the
//! client got back (status line, headers but `Date`, body) must be the same. Skipped, with a
//! note, where nginx is not installed.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, nginx, start_server, temp_dir};

/// An HTTP backend that records each request head it receives and answers the same way.
struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve(stream, &log));
            }
        });
        Recorder { addr, seen }
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }
}

fn serve(mut stream: TcpStream, log: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse::<usize>().ok());
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    // Read the body as framed, so the record shows exactly what was sent.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let body = &buf[head_end..];
        let done = match length {
            Some(n) => body.len() >= n,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => true,
        };
        if done {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    log.lock()
        .expect("lock")
        .push(String::from_utf8_lossy(&buf).into_owned());
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Backend: yes\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
    );
}

/// The tutorials' configuration plus the rules people trip over: URI rewriting by
/// `proxy_pass`, header inheritance, the defaults nginx adds, `return`.
fn config(dir: &Path, port: u16, backend: SocketAddr) -> String {
    format!(
        r#"
daemon off;
master_process off;
pid run.pid;
error_log {dir}/error.log;
events {{}}
http {{
    access_log off;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    upstream websocket {{
        server {backend};
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        proxy_set_header X-Server-Level yes;

        location / {{
            proxy_pass http://websocket;
            proxy_read_timeout 300s;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }}
        location /plain/ {{
            proxy_pass http://websocket;
        }}
        location /inherit/ {{
            proxy_pass http://websocket;
        }}
        location /rewrite/ {{
            proxy_pass http://websocket/new/;
        }}
        location = /exact {{
            proxy_pass http://{backend}/other;
            proxy_set_header Accept "";
        }}
        location /answer {{
            return 200 "answered by $server_name\n";
        }}
    }}
}}
"#,
        dir = dir.display()
    )
}

/// Sends `request` and reads the answer until the proxy closes, or stops sending for 2 s (a
/// keep-alive answer).
fn exchange(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to proxy");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("send");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// What may differ between the two runs: ports, the `Date` header, and nginx's name.
fn normalize(text: &str, port: u16, backend: SocketAddr) -> String {
    text.replace(&backend.to_string(), "BACKEND")
        .replace(&port.to_string(), "PORT")
        .lines()
        .filter(|l| !l.starts_with("Date: "))
        .collect::<Vec<_>>()
        .join("\n")
}

const PROBES: &[&str] = &[
    "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: probe\r\nX-Forwarded-For: 10.0.0.1\r\nConnection: close\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "GET /plain/a/b?q=%20 HTTP/1.1\r\nHost: localhost\r\nKeep-Alive: 300\r\nTE: trailers\r\nExpect: nothing\r\nProxy-Connection: keep-alive\r\nConnection: close\r\n\r\n",
    "GET /inherit/ HTTP/1.0\r\nHost: localhost\r\n\r\n",
    "GET /rewrite/a/b?c=d HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "GET /exact HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\nConnection: close\r\n\r\n",
    "POST /plain/form HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    "POST /plain/chunked HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "GET /answer HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "GET http://example.com:99/abs HTTP/1.1\r\nConnection: close\r\n\r\n",
    "GET /plain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: localhost\r\nCookie: a=1\r\nCookie: b=2\r\nX-Custom: one\r\nx-custom: two\r\nConnection: close\r\n\r\n",
    "\r\nGET /plain/lf HTTP/1.1\nHost: localhost\nX_Under: 1\nNo-Colon\nConnection: close\n\n",
    "POST /plain/continue HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
];

/// Runs every probe through one proxy; returns (what the backend saw, what the client got).
fn run_probes(port: u16, backend: &Recorder) -> Vec<(String, String)> {
    PROBES
        .iter()
        .map(|probe| {
            let answer = exchange(port, probe);
            // The backend thread records before it answers; give it a moment to be sure.
            std::thread::sleep(Duration::from_millis(20));
            let seen = backend.take().join("\n---\n");
            (
                normalize(&seen, port, backend.addr),
                normalize(&answer, port, backend.addr),
            )
        })
        .collect()
}

#[test]
fn nginx_and_ngxr_send_and_answer_the_same() {
    let Some(nginx) = nginx() else { return };
    let (nginx_backend, ngxr_backend) = (Recorder::start(), Recorder::start());
    let (nginx_port, ngxr_port) = (free_port(), free_port());
    let (nginx_dir, ngxr_dir) = (temp_dir("diff-nginx"), temp_dir("diff-ngxr"));
    let start = |bin: &str, dir: &Path, port: u16, backend: SocketAddr| {
        std::fs::write(dir.join("nginx.conf"), config(dir, port, backend)).expect("config");
        start_server(bin, dir, port)
    };
    let _nginx = start(nginx, &nginx_dir, nginx_port, nginx_backend.addr);
    let _ngxr = start(
        env!("CARGO_BIN_EXE_ngxr"),
        &ngxr_dir,
        ngxr_port,
        ngxr_backend.addr,
    );
    let theirs = run_probes(nginx_port, &nginx_backend);
    let ours = run_probes(ngxr_port, &ngxr_backend);
    let mut differences = Vec::new();
    for ((probe, (nb, nc)), (ob, oc)) in PROBES.iter().zip(&theirs).zip(&ours) {
        let first_line = probe.lines().next().unwrap_or_default();
        if nb != ob {
            differences.push(format!(
                "{first_line}\n  backend saw from nginx:\n{nb}\n  from ngxr:\n{ob}"
            ));
        }
        if nc != oc {
            differences.push(format!(
                "{first_line}\n  client got from nginx:\n{nc}\n  from ngxr:\n{oc}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n\n")
    );
}
