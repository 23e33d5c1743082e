//! `resolver` end to end: a fake DNS server on 127.0.0.1 (UDP, answers from a table, every
//! question recorded), a backend, and the `ngxr` binary with a `proxy_pass` naming `$arg_h`.
//! The statuses, `$upstream_addr` and error-log lines written out below are nginx 1.22's;
//! when nginx is installed it serves the same configuration against its own fake DNS server
//! and must answer and log the same.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::{EMPTY_200, free_port, nginx, recording_backend, start_server, temp_dir};

/// `PORT`, `DNS` and `BACK` are filled in per server.
const CONFIG: &str = r#"
daemon off;
master_process off;
pid run.pid;
error_log logs/error.log error;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen 127.0.0.1:PORT;
        location / {
            resolver 127.0.0.1:DNS;
            resolver_timeout 1s;
            proxy_pass http://$arg_h:BACK;
            add_header X-Up $upstream_addr always;
        }
        location /nores { proxy_pass http://$arg_h:BACK; }
    }
}
"#;

/// The probes, each with the status and `X-Up` nginx answers (`BACK` for the backend's port).
const PROBES: &[(&str, u16, &str)] = &[
    ("/?h=one.test", 200, "127.0.0.1:BACK"),
    // From the cache: the DNS server is not asked again (checked below).
    ("/?h=ONE.test", 200, "127.0.0.1:BACK"),
    // A fresh answer's addresses in its order; nothing listens on 127.0.0.2.
    ("/?h=many.test", 200, "127.0.0.2:BACK, 127.0.0.1:BACK"),
    ("/?h=alias.test", 200, "127.0.0.1:BACK"),
    ("/?h=gone.test", 502, ""),
    ("/?h=fail.test", 502, ""),
    ("/?h=silent.test", 502, ""),
    ("/nores?h=one.test", 502, ""),
];

/// A record in an answer.
enum Rr {
    A(Ipv4Addr),
    Cname(&'static str),
}

/// nginx's test names: what the fake server answers to a question (`None`: nothing at all).
fn table(name: &str, qtype: u16) -> Option<(u8, Vec<Rr>)> {
    const A: u16 = 1;
    let a = |ip: [u8; 4]| Rr::A(Ipv4Addr::from(ip));
    Some(match (name.to_ascii_lowercase().as_str(), qtype) {
        ("one.test", A) => (0, vec![a([127, 0, 0, 1])]),
        ("many.test", A) => (0, vec![a([127, 0, 0, 2]), a([127, 0, 0, 1])]),
        ("alias.test", _) => (0, vec![Rr::Cname("one.test")]),
        ("gone.test", _) => (3, Vec::new()),
        ("fail.test", A) => (2, vec![a([127, 0, 0, 1])]),
        ("silent.test", _) => return None,
        _ => (0, Vec::new()),
    })
}

/// A DNS server on 127.0.0.1 answering from [`table`], until dropped.
struct FakeDns {
    port: u16,
    questions: Arc<Mutex<Vec<(String, u16)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeDns {
    fn start() -> FakeDns {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the fake DNS server");
        let port = socket.local_addr().expect("its address").port();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("a read timeout");
        let questions = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (asked, stopped) = (questions.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Some((name, qtype, question_end)) = question(&buf[..n]) else {
                    continue;
                };
                asked
                    .lock()
                    .expect("the question list")
                    .push((name.clone(), qtype));
                if let Some((rcode, records)) = table(&name, qtype) {
                    let reply = reply(&buf[..question_end], rcode, &records);
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        FakeDns {
            port,
            questions,
            stop,
            thread: Some(thread),
        }
    }

    /// How many questions for `name` (any case) arrived.
    fn asked(&self, name: &str) -> usize {
        let questions = self.questions.lock().expect("the question list");
        questions
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The question of a query: name, type, and where the question ends.
fn question(msg: &[u8]) -> Option<(String, u16, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*msg.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(msg.get(at..at + len)?).into_owned());
        at += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]);
    Some((labels.join("."), qtype, at + 4))
}

/// The answer to `query` (header and question): its records, owned by the question's name.
fn reply(query: &[u8], rcode: u8, records: &[Rr]) -> Vec<u8> {
    let mut out = query.to_vec();
    out[2] = 0x81;
    out[3] = 0x80 | rcode;
    out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    for record in records {
        let (rtype, data): (u16, Vec<u8>) = match record {
            Rr::A(ip) => (1, ip.octets().to_vec()),
            Rr::Cname(target) => {
                let mut name = Vec::new();
                for label in target.split('.') {
                    name.push(label.len() as u8);
                    name.extend_from_slice(label.as_bytes());
                }
                name.push(0);
                (5, name)
            }
        };
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&60u32.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

/// The status and `X-Up` of a GET for `path`.
fn probe(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).expect("send");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let up = text
        .split("\r\n")
        .find_map(|l| l.strip_prefix("X-Up: "))
        .unwrap_or_default();
    (status, up.to_string())
}

/// The `[error]` lines of the log, from the message on, without the connection number.
fn errors(prefix: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default();
    log.lines()
        .filter_map(|l| l.split_once("[error] ").map(|(_, rest)| rest))
        .map(|rest| rest.split_once(' ').map_or(rest, |(_, m)| m))
        .map(|m| m.split_once(' ').map_or(m, |(_, m)| m).to_string())
        .collect()
}

/// Runs every probe against `bin` with its own fake DNS server; the answers (ports spelled
/// `BACK`), the error lines, and the questions the DNS server got for `one.test`.
fn serve(bin: &str, dir: &Path) -> (Vec<(u16, String)>, Vec<String>, usize) {
    let dns = FakeDns::start();
    let (back, _heads) = recording_backend(EMPTY_200);
    let port = free_port();
    std::fs::create_dir_all(dir.join("logs")).expect("logs dir");
    let conf = CONFIG
        .replace("PORT", &port.to_string())
        .replace("DNS", &dns.port.to_string())
        .replace("BACK", &back.to_string());
    std::fs::write(dir.join("nginx.conf"), conf).expect("config");
    let _server = start_server(bin, dir, port);
    let answers = PROBES
        .iter()
        .map(|(path, ..)| {
            let (status, up) = probe(port, path);
            (status, up.replace(&back.to_string(), "BACK"))
        })
        .collect();
    // Each request's lines are written by the time its answer is read, but give slack.
    crate::files::settle_logs(dir, 0);
    let lines = errors(dir)
        .into_iter()
        .map(|l| l.replace(&back.to_string(), "BACK"))
        .collect();
    (answers, lines, dns.asked("one.test"))
}

#[test]
fn names_resolve_through_the_resolver_as_nginx_resolves_them() {
    let base = temp_dir("resolver");
    let started = Instant::now();
    let (answers, lines, asked) = serve(env!("CARGO_BIN_EXE_ngxr"), &base.join("ngxr"));
    assert!(started.elapsed() < Duration::from_secs(15));
    let expected: Vec<(u16, String)> = PROBES
        .iter()
        .map(|(_, status, up)| (*status, up.to_string()))
        .collect();
    assert_eq!(answers, expected);
    // A and AAAA once for the first request, nothing for the second, nothing without a
    // resolver.
    assert_eq!(asked, 2);
    let request = |h: &str| {
        format!("client: 127.0.0.1, server: , request: \"GET /?h={h} HTTP/1.1\", host: \"x\"")
    };
    for line in [
        format!("connect() failed (111: Connection refused) while connecting to upstream, {}", request("many.test")).replace(", host: \"x\"", ", upstream: \"http://127.0.0.2:BACK/?h=many.test\", host: \"x\""),
        format!("gone.test could not be resolved (3: Host not found), {}", request("gone.test")),
        format!("fail.test could not be resolved (2: Server failure), {}", request("fail.test")),
        format!("silent.test could not be resolved (110: Operation timed out), {}", request("silent.test")),
        "no resolver defined to resolve one.test, client: 127.0.0.1, server: , request: \"GET /nores?h=one.test HTTP/1.1\", host: \"x\"".to_string(),
    ] {
        assert!(lines.contains(&line), "{line}\nnot among\n{lines:#?}");
    }

    let Some(nginx) = nginx() else { return };
    let (theirs, their_lines, their_asked) = serve(nginx, &base.join("nginx"));
    assert_eq!(answers, theirs);
    assert_eq!(lines, their_lines);
    assert_eq!(asked, their_asked);
}
