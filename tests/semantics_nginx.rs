//! Differential tests: for each request, the upstream request `ngxr explain` predicts must be
//! byte for byte the one Debian's nginx 1.22 sends to a recording backend, and a direct answer
//! must have nginx's status. Skipped (with a message) where `/usr/sbin/nginx` is absent.

// Helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{EMPTY_200, free_port, nginx, recording_backend, start_server, temp_dir};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// Locations exercising header merging, URI mapping, captures and maps; `{B}` is the
/// backend's port.
const CONF: &str = r#"daemon off;
master_process off;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    proxy_set_header X-Http-Level yes;
    map $http_x_key $mapped {
        default none;
        ~^id-(?<num>\d+)$ num-$num;
        ~*^ABC abc;
        exact exact-value;
    }
    upstream named { server 127.0.0.1:{B}; }
    server {
        listen 127.0.0.1:{L};
        server_name a.example *.wild.example;
        location / { proxy_pass http://127.0.0.1:{B}; }
        location /named/ { proxy_pass http://named; }
        location /swap/ { proxy_pass http://named/other/; }
        location = /exact { proxy_pass http://named/e; }
        location /own/ {
            proxy_set_header X-Own $host:$server_port;
            proxy_set_header Accept-Encoding "";
            proxy_set_header X-Map $mapped;
            proxy_pass http://127.0.0.1:{B};
        }
        location ~ ^/user/(\d+)/(?<rest>.*)$ {
            proxy_set_header X-Id "$1 $rest";
            proxy_http_version 1.1;
            proxy_pass http://named;
        }
        location /var/ { proxy_pass http://127.0.0.1:{B}/v$uri$is_args$args; }
        location ^~ /stop/ { proxy_pass http://named; }
        location ~ \.txt$ { return 403; }
        location /ret/ { return 302 /elsewhere; }
        location /nopass/ { proxy_pass_request_headers off; proxy_pass http://named; }
        location /redir/ { proxy_pass http://named; }
        location = /ws/ { proxy_pass http://named; }
        location /both/ { proxy_pass http://named; }
        location /both { return 204; }
        location /nest/ {
            location /nest/deep/ { proxy_pass http://named; }
            location ~ \.php$ { return 418; }
        }
    }
    server {
        listen 127.0.0.1:{L};
        server_name ~^(?<sub>[a-z]+)\.re\.example$ www.tail.*;
        location / {
            proxy_set_header X-Sub $sub;
            proxy_set_header X-Server $server_name;
            proxy_pass http://named;
        }
        location /r { return 301 /moved$is_args$args; }
        location /bare { return 301; }
        location /rel { absolute_redirect off; return 302 /x; }
        location /noport { port_in_redirect off; return 302 /x; }
        location /sn { server_name_in_redirect on; return 302 /x; }
    }
    server {
        listen 127.0.0.1:{L} default_server;
        server_name _;
        location / { return 200 "default $host"; }
        location /p/ { proxy_set_header X-Host $host; proxy_pass http://named; }
    }
}
"#;

/// (request line, headers)
const CASES: &[(&str, &[(&str, &str)])] = &[
    (
        "GET / HTTP/1.1",
        &[
            ("Host", "a.example"),
            ("Accept", "*/*"),
            ("Connection", "keep-alive"),
        ],
    ),
    (
        "GET /x/../y//z?a=b HTTP/1.1",
        &[
            ("Host", "A.Example:8080"),
            ("Upgrade", "h2c"),
            ("TE", "trailers"),
        ],
    ),
    (
        "GET /named/q HTTP/1.1",
        &[("Host", "x.wild.example"), ("X-Forwarded-For", "1.2.3.4")],
    ),
    ("GET /swap/a%2Fb/./c?x HTTP/1.1", &[("Host", "a.example")]),
    ("GET /swap/%7Etilde%20sp HTTP/1.1", &[("Host", "a.example")]),
    ("GET /exact?z=1 HTTP/1.1", &[("Host", "a.example")]),
    (
        "GET /own/p HTTP/1.1",
        &[
            ("Host", "a.example"),
            ("Accept-Encoding", "gzip"),
            ("X-Key", "id-42"),
        ],
    ),
    (
        "GET /own/p HTTP/1.1",
        &[("Host", "a.example"), ("X-Key", "abcdef")],
    ),
    (
        "GET /own/p HTTP/1.1",
        &[("Host", "a.example"), ("X-Key", "EXACT")],
    ),
    ("GET /user/7/profile/x?y HTTP/1.1", &[("Host", "a.example")]),
    ("GET /var/a%20b?k=v HTTP/1.1", &[("Host", "a.example")]),
    ("GET /stop/a.txt HTTP/1.1", &[("Host", "a.example")]),
    ("GET /other/a.txt HTTP/1.1", &[("Host", "a.example")]),
    ("GET /ret/x HTTP/1.1", &[("Host", "a.example")]),
    (
        "GET /nopass/x HTTP/1.1",
        &[("Host", "a.example"), ("X-Secret", "s")],
    ),
    ("GET /named HTTP/1.1", &[("Host", "a.example")]),
    ("GET /redir HTTP/1.1", &[("Host", "a.example")]),
    ("GET /redir?x=1 HTTP/1.1", &[("Host", "a.example:99")]),
    ("GET /ws HTTP/1.1", &[("Host", "a.example")]),
    ("GET /both HTTP/1.1", &[("Host", "a.example")]),
    ("GET /nest/deep HTTP/1.1", &[("Host", "a.example")]),
    ("GET /nest/deep/x.php HTTP/1.1", &[("Host", "a.example")]),
    ("GET /nest/x.php HTTP/1.1", &[("Host", "a.example")]),
    ("GET /nest/deep/x%2Ephp HTTP/1.1", &[("Host", "a.example")]),
    ("GET /x HTTP/1.1", &[("Host", "blog.re.example")]),
    ("GET /x HTTP/1.1", &[("Host", "www.tail.org")]),
    ("GET /r?a=1 HTTP/1.1", &[("Host", "blog.re.example")]),
    ("GET /bare HTTP/1.1", &[("Host", "blog.re.example")]),
    ("GET /rel HTTP/1.1", &[("Host", "blog.re.example")]),
    ("GET /noport HTTP/1.1", &[("Host", "blog.re.example")]),
    ("GET /sn HTTP/1.1", &[("Host", "blog.re.example")]),
    ("GET / HTTP/1.1", &[("Host", "nomatch.example")]),
    ("GET /p/q HTTP/1.0", &[]),
    (
        "GET /p/q HTTP/1.1",
        &[
            ("Host", "under_score.example"),
            ("X_Under", "u"),
            ("X.Dot", "d"),
        ],
    ),
    ("GET /../x HTTP/1.1", &[("Host", "a.example")]),
    (
        "GET / HTTP/1.1",
        &[("Host", "a.example"), ("Host", "b.example")],
    ),
    ("GET / HTTP/1.0", &[]),
    ("GET / HTTP/1.1", &[]),
];

fn explain(dir: &Path, line: &str, headers: &[(&str, &str)]) -> Value {
    let mut words = line.split(' ');
    let (method, target, version) = (
        words.next().unwrap(),
        words.next().unwrap(),
        words.next().unwrap(),
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ngxr"));
    cmd.arg("explain")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"));
    cmd.args(["--format", "json", &format!("{method} {target} {version}")]);
    for (n, v) in headers {
        cmd.arg("-H").arg(format!("{n}: {v}"));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What the backend should see, from explain's report.
fn predicted(report: &Value) -> Option<String> {
    let q = &report["upstream_request"];
    if q.is_null() {
        return None;
    }
    let mut s = format!(
        "{} {} {}\r\n",
        q["method"].as_str()?,
        q["uri"].as_str()?,
        q["version"].as_str()?
    );
    for h in q["headers"].as_array()? {
        s.push_str(&format!("{}: {}\r\n", h[0].as_str()?, h[1].as_str()?));
    }
    s.push_str("\r\n");
    Some(s)
}

/// Sends one raw request to nginx; the status code and the `Location` header, if any.
fn send(port: u16, line: &str, headers: &[(&str, &str)]) -> (u16, Option<String>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut raw = format!("{line}\r\n");
    for (n, v) in headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    s.write_all(raw.as_bytes()).unwrap();
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    let status = head.get(9..12).unwrap_or_default().parse().unwrap_or(0);
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .map(str::to_string);
    (status, location)
}

#[test]
fn upstream_requests_match_nginx() {
    let Some(nginx) = nginx() else { return };
    let dir = temp_dir("semantics");
    let (b, rx) = recording_backend(EMPTY_200);
    let listen = free_port();
    let conf = CONF
        .replace("{B}", &b.to_string())
        .replace("{L}", &listen.to_string());
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let _nginx = start_server(nginx, &dir, listen);
    let mut failures = Vec::new();
    for (line, headers) in CASES {
        let report = explain(&dir, line, headers);
        let (status, location) = send(listen, line, headers);
        match predicted(&report) {
            Some(expected) => {
                let seen = rx
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_else(|_| format!("nothing (status {status})"));
                if std::env::var("SEM_DEBUG").is_ok() {
                    eprintln!("{seen}");
                }
                if seen != expected {
                    failures.push(format!(
                        "{line} {headers:?}\n nginx sent:\n{seen}\n explain predicted:\n{expected}"
                    ));
                }
            }
            None => {
                let want = report["response"]["status"].as_u64().unwrap_or(0) as u16;
                let want_location = report["response"]["headers"]
                    .as_array()
                    .and_then(|h| h.iter().find(|h| h[0] == "Location"))
                    .and_then(|h| h[1].as_str())
                    .map(str::to_string);
                if (want, &want_location) != (status, &location) {
                    failures.push(format!(
                        "{line} {headers:?}: nginx answered {status} {location:?}, explain says {want} {want_location:?}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
