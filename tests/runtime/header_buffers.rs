//! `client_header_buffer_size` and `large_client_header_buffers` against nginx: a request line
//! longer than a large buffer is a 414, a header line longer than one a 400 ("Request Header
//! Or Cookie Too Large"), and a head whose lines, each short enough, run out of buffers is a
//! 400 too. The socket's default server's buffers count until the request line's host or the
//! `Host` header chooses another server, whose buffers count from the next line on. Skipped
//! when nginx is not installed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::common::{nginx, temp_dir};
use crate::files::{Probe, Sent, Via, assert_same, through_both};

const CONFIG: &str = r#"
error_log logs/error.log warn;
events { worker_connections 64; }
http {
    log_format t '"$request" $status $request_length $server_name $host';
    access_log logs/access.log t;
    server {
        listen 127.0.0.1:PORT;
        server_name default;
        client_header_buffer_size 100;
        large_client_header_buffers 3 600;
        location / { return 200 "default $uri\n"; }
    }
    server {
        listen 127.0.0.1:PORT;
        server_name wide;
        client_header_buffer_size 4k;
        large_client_header_buffers 2 2k;
        location / { return 200 "wide $uri\n"; }
    }
}
"#;

/// Bytes sent as they are, then the answer read until the server closes.
struct Raw(Vec<u8>);

impl Probe for Raw {
    fn send(&self, _prefix: &Path, port: u16) -> Vec<u8> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(&self.0).expect("send");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    }
}

/// A line of `len` bytes, its CRLF included: `start`, then `a`s, then `end`.
fn line(start: &str, len: usize, end: &str) -> String {
    format!(
        "{start}{}{end}\r\n",
        "a".repeat(len - start.len() - end.len() - 2)
    )
}

/// A head of these lines (the request line first), closing the connection.
fn head(lines: &[String]) -> Raw {
    Raw(format!("{}Connection: close\r\n\r\n", lines.concat()).into_bytes())
}

fn probes() -> Vec<Raw> {
    let get = |len| line("GET /", len, " HTTP/1.1");
    let host = |name: &str| format!("Host: {name}\r\n");
    let plain = "GET / HTTP/1.1\r\n".to_string();
    let mut probes = vec![
        // The request line fits a large buffer, or does not.
        head(&[get(599), host("default")]),
        head(&[get(600), host("default")]),
        head(&[get(601), host("default")]),
        // A later `Host` does not widen the request line's buffer.
        head(&[get(1500), host("wide")]),
        // Header lines (cookies) of a large buffer's size, and one byte more.
        head(&[plain.clone(), host("default"), line("Cookie: ", 600, "")]),
        head(&[plain.clone(), host("default"), line("Cookie: ", 601, "")]),
        // The `Host` chooses the buffers of the lines after it.
        head(&[plain.clone(), host("wide"), line("Cookie: ", 1500, "")]),
        head(&[plain.clone(), line("Cookie: ", 1500, ""), host("wide")]),
        head(&[plain.clone(), host("nowhere"), line("Cookie: ", 1500, "")]),
        head(&[
            "GET http://wide/x HTTP/1.1\r\n".to_string(),
            line("Cookie: ", 1500, ""),
        ]),
        head(&[
            "GET http://wide:8/x HTTP/1.1\r\n".to_string(),
            host("default"),
            line("Cookie: ", 1500, ""),
        ]),
        // Empty lines before the request line fill the first buffer again and again.
        Raw(format!(
            "{}GET /crlf HTTP/1.1\r\nHost: default\r\nConnection: close\r\n\r\n",
            "\r\n".repeat(160)
        )
        .into_bytes()),
    ];
    // Lines each well under the size run out of buffers: where depends on where each line
    // falls against the buffers' ends.
    for n in 1..=8 {
        let mut lines = vec![plain.clone(), host("default")];
        lines.extend((0..n).map(|i| line(&format!("X-{i}: "), 250, "")));
        probes.push(head(&lines));
    }
    for n in [2, 3, 4] {
        let mut lines = vec![plain.clone(), host("wide")];
        lines.extend((0..n).map(|i| line(&format!("X-{i}: "), 1000, "")));
        probes.push(head(&lines));
    }
    // A pipelined request begins where the one before it ended, in that buffer.
    for first in [40, 90, 400] {
        let a = format!(
            "GET /1 HTTP/1.1\r\nHost: default\r\n{}\r\n",
            line("X: ", first, "")
        );
        let b = [get(590), host("default"), line("X: ", 590, "")].concat();
        probes.push(Raw(format!("{a}{b}Connection: close\r\n\r\n").into_bytes()));
    }
    probes
}

#[test]
fn header_buffers_are_filled_as_nginx_fills_them() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("header-buffers");
    let probes = probes();
    let seen = through_both(nginx, CONFIG, &base, &probes);
    let shown: Vec<String> = probes
        .iter()
        .map(|p| String::from_utf8_lossy(&p.0[..p.0.len().min(200)]).into_owned())
        .collect();
    assert_same(&seen, &shown);
    // The answers differ from probe to probe: the limits were reached, and not everywhere.
    let ours = &seen[1].0;
    assert!(ours[1].starts_with("HTTP/1.1 200 "), "{}", ours[1]);
    assert!(ours[2].starts_with("HTTP/1.1 414 "), "{}", ours[2]);
    assert!(
        ours[5].contains("Request Header Or Cookie Too Large"),
        "{}",
        ours[5]
    );
    assert!(ours[6].ends_with("wide /\n"), "{}", ours[6]);
    assert!(ours[7].starts_with("HTTP/1.1 400 "), "{}", ours[7]);
}

/// A PROXY protocol header takes the start of nginx's first buffer: the request begins after
/// it, and its lines fall against the buffers' ends accordingly.
const PROXIED: &str = r#"
error_log logs/error.log warn;
events { worker_connections 64; }
http {
    log_format t '"$request" $status $request_length';
    access_log logs/access.log t;
    client_header_buffer_size 100;
    large_client_header_buffers 2 600;
    server {
        listen 127.0.0.1:PORT proxy_protocol;
        location / { return 200 "$uri\n"; }
    }
}
"#;

#[test]
fn a_proxy_protocol_header_takes_room_in_the_first_buffer() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("header-buffers-proxied");
    let mut probes = Vec::new();
    // With the header's 38 bytes before it, a 60-byte request line leaves the first buffer
    // and three 300-byte lines run out of buffers; without, they would fit.
    for first in [40, 60, 95] {
        for n in 2..=4 {
            let mut lines = vec![line("GET /", first, " HTTP/1.1"), "Host: a\r\n".to_string()];
            lines.extend((0..n).map(|i| line(&format!("X-{i}: "), 300, "")));
            probes.push(Sent {
                via: Via::Preface(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n"),
                request: format!("{}\r\n", lines.concat()),
            });
        }
    }
    let seen = through_both(nginx, PROXIED, &base, &probes);
    let shown: Vec<String> = probes.iter().map(|p| p.request.clone()).collect();
    assert_same(&seen, &shown);
    // Some heads fit, some ran out of buffers.
    assert!(seen[1].0.iter().any(|a| a.starts_with("HTTP/1.1 200 ")));
    assert!(seen[1].0.iter().any(|a| a.starts_with("HTTP/1.1 400 ")));
}
