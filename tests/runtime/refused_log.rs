//! The access-log lines of requests nginx refuses before it chooses a location, against nginx:
//! a head it cannot read (400, 414, 494, 505), one the client leaves unfinished (400) or does
//! not finish within `client_header_timeout` (408), one refused once read (no `Host`, a bad
//! `Content-Length`, plain HTTP on an ssl port), and the connections that get no line (nothing
//! sent, a failed TLS handshake). Also `$request_completion` and `$connection_time`, and the
//! error log's `client sent ...` lines and those of connections that end idle. Skipped when
//! nginx is not installed.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use super::files::start;
use crate::common::{NGINX, free_port, nginx, temp_dir};

/// `SSL` is the ssl port, filled in before `start` fills in the rest.
const CONFIG: &str = r#"
error_log logs/error.log info;
events { worker_connections 64; }
http {
    client_header_timeout 1s;
    log_format t '"$request" $status $body_bytes_sent $bytes_sent $request_length '
                 '"$http_host" "$http_user_agent" $request_method "$request_uri" "$uri" '
                 '$server_name $host "$server_protocol" "$request_completion" '
                 '$connection_requests ct=$connection_time "$http_x"';
    access_log logs/access.log t;
    server {
        listen 127.0.0.1:PORT;
        listen 127.0.0.1:SSL ssl;
        ssl_certificate ROOT/cert.pem;
        ssl_certificate_key ROOT/key.pem;
        server_name default;
        location / { access_log logs/location.log t; return 200 "ok\n"; }
        location /close { return 444; }
    }
    server {
        listen 127.0.0.1:PORT;
        server_name other;
        access_log logs/other.log t;
        location / { return 200 "other\n"; }
    }
}
"#;

/// How a probe ends.
#[derive(Clone, Copy)]
enum End {
    /// Read the answer until the server closes.
    Answer,
    /// Stop sending (the client leaves mid-head), then read until the server closes.
    Leave,
    /// Send nothing more and wait for the server to give up (`client_header_timeout`).
    Wait,
}

/// Each probe on its own connection: the bytes, whether they go to the ssl port, the end.
fn probes() -> Vec<(Vec<u8>, bool, End)> {
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
    let long_header = format!(
        "GET / HTTP/1.1\r\nHost: other\r\nX: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let p = |s: &str, end| (s.as_bytes().to_vec(), false, end);
    vec![
        p(
            "GET / HTTP/1.1\r\nHost: default\r\nConnection: close\r\n\r\n",
            End::Answer,
        ),
        (
            b"GET /\x01x HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            false,
            End::Answer,
        ),
        p("get / HTTP/1.1\r\n\r\n", End::Answer),
        p("GET / HTTP/2.0\r\nHost: a\r\n\r\n", End::Answer),
        p(
            "GET / HTTP/1.1\r\nHost: other\r\nUser-Agent: ua\r\nBad Header: x\r\n\r\n",
            End::Answer,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: other\r\nX: \x00y\r\n\r\n".to_vec(),
            false,
            End::Answer,
        ),
        p("GET / HTTP/1.1\r\nUser-Agent: ua\r\n\r\n", End::Answer),
        p("TRACE /d HTTP/1.1\r\nHost: other\r\n\r\n", End::Answer),
        p("CONNECT /d HTTP/1.1\r\nHost: other\r\n\r\n", End::Answer),
        // Targets nginx refuses once the request line is read, before any header: an escape
        // that is not one, one of NUL, a `..` above the root (after empty lines, which
        // `$request_length` does not count), an absolute form's host of bytes it refuses
        // (the line itself is then refused).
        p(
            "GET /a%zz?x=1 HTTP/1.1\r\nHost: other\r\nX: y\r\n\r\n",
            End::Answer,
        ),
        p("GET /b%00 HTTP/1.1\r\nHost: other\r\n\r\n", End::Answer),
        p(
            "\r\nGET /c/../../d HTTP/1.0\r\nHost: other\r\n\r\n",
            End::Answer,
        ),
        p(
            "GET http://h_x/e HTTP/1.1\r\nHost: other\r\n\r\n",
            End::Answer,
        ),
        p(
            "GET /x HTTP/1.1\r\nHost: default\r\nContent-Length: abc\r\n\r\n",
            End::Answer,
        ),
        (long_uri.into_bytes(), false, End::Answer),
        (long_header.into_bytes(), false, End::Answer),
        p("GET / HTTP/1.1\r\nHost: other\r\nUser-Agent: u", End::Leave),
        p("GET /pa", End::Leave),
        p("\r\n\r\n", End::Leave),
        p("", End::Leave),
        p(
            "GET /k HTTP/1.1\r\nHost: default\r\n\r\nGET /k2 HT",
            End::Leave,
        ),
        p("GET /close HTTP/1.1\r\nHost: default\r\n\r\n", End::Answer),
        p("GET /t HTTP/1.1\r\nHost: other\r\nX: 1\r\n", End::Wait),
        p("GET /t2 HTT", End::Wait),
        (
            b"GET /y HTTP/1.1\r\nHost: default\r\nConnection: close\r\n\r\n".to_vec(),
            true,
            End::Answer,
        ),
        // Not a TLS handshake nginx (or rustls) can go on with.
        (b"\x16\x03\x01\x00\x05hello".to_vec(), true, End::Answer),
    ]
}

/// Sends `bytes` to `port` and ends as `end` says; every read is bounded.
fn send(port: u16, bytes: &[u8], end: End) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(bytes).expect("send");
    if let End::Leave = end {
        s.shutdown(Shutdown::Write).expect("shutdown");
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
}

/// Two requests on one connection, the second after a pause: its `$connection_time` must
/// count the pause.
fn keepalive(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /1 HTTP/1.1\r\nHost: default\r\n\r\n")
        .expect("send");
    let mut out = Vec::new();
    let mut chunk = [0u8; 1024];
    while !out.ends_with(b"ok\n") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => panic!("no first answer: {}", String::from_utf8_lossy(&out)),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"GET /2 HTTP/1.1\r\nHost: default\r\nConnection: close\r\n\r\n")
        .expect("send");
    let _ = s.read_to_end(&mut out);
}

/// The lines of each log (`ngxr` writes its buffer out within a second: wait up to 5 s for
/// `expected` lines in all), ports as `PORT`, `$connection_time` checked for its form and
/// kept only as "at least 0.3 s" or not.
fn lines(dir: &Path, ports: &[u16], expected: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut all = Vec::new();
        for name in ["access.log", "location.log", "other.log"] {
            let text = std::fs::read(dir.join("logs").join(name)).unwrap_or_default();
            for line in String::from_utf8_lossy(&text).lines() {
                let mut line = format!("{name}: {line}");
                for port in ports {
                    line = line.replace(&port.to_string(), "PORT");
                }
                all.push(tidy_connection_time(&line));
            }
        }
        if all.len() >= expected || Instant::now() > deadline {
            return all;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The error log's `client sent ...` lines about the headers nginx processes once the head
/// is read (what the head broke), ports as `PORT`.
fn client_sent(dir: &Path, ports: &[u16]) -> Vec<String> {
    super::files::log_messages(dir, Some(dir), ports)
        .into_iter()
        .filter(|l| processed(l))
        .collect()
}

/// A line about a head nginx stopped reading or refused once read (ngxr does not yet log
/// those about a header line it cannot read).
fn processed(line: &str) -> bool {
    let checked = [
        "duplicate",
        "TRACE",
        "CONNECT",
        "without \"Host\"",
        "invalid host",
    ];
    let unread = [
        "invalid header line",
        "too long header line",
        "too large request",
    ];
    (line.starts_with("client sent") && checked.iter().any(|c| line.contains(c)))
        || (line.contains("while reading client") && !unread.iter().any(|c| line.contains(c)))
}

/// Headers nginx takes once, a second or invalid `Host`, and `Connection` lines that
/// contradict each other: the answer, the access-log line (its server's, and what nginx had
/// read when it stopped at the line it refused: `$request_length` and the headers after
/// it) and the `[info]` line must be nginx's.
#[test]
fn headers_nginx_takes_once_are_refused_as_nginx_refuses_them() {
    let Some(nginx) = nginx() else { return };
    let config = r#"
error_log logs/error.log info;
events { worker_connections 64; }
http {
    log_format t '"$request" $status $server_name $host "$http_host" $request_length '
                 '"$http_connection"';
    access_log logs/access.log t;
    server { listen 127.0.0.1:PORT; server_name default; return 200 "default\n"; }
    server {
        listen 127.0.0.1:PORT;
        server_name other;
        access_log logs/other.log t;
        location / { return 200 "other\n"; }
    }
}
"#;
    let probes = [
        "POST /d HTTP/1.1\r\nHost: other\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nx",
        "GET /d HTTP/1.1\r\nHost: default\r\nIf-None-Match: a\r\nIf-None-Match: b\r\n",
        "GET /d HTTP/1.1\r\nHost: other\r\nAuthorization: a\r\nAuthorization: b\r\n",
        "GET /d HTTP/1.1\r\nHost: other\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "GET /d HTTP/1.1\r\nHost: other\r\nHost: default\r\n",
        "GET /d HTTP/1.1\r\nHost: a/b\r\n",
        "GET /d HTTP/1.1\r\nHost: other\r\nRange: bytes=0-1\r\nRange: bytes=0-2\r\n",
        "TRACE /d HTTP/1.1\r\nHost: other\r\n",
        // The `Connection: close` the probe adds comes last and decides; before it, the
        // first answer's `Connection` says which line nginx heeded.
        "GET /k HTTP/1.1\r\nHost: other\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n\
         GET /k2 HTTP/1.1\r\nHost: other\r\n",
        "GET /k HTTP/1.0\r\nHost: other\r\nConnection: x-Keep-Alive-y\r\n\r\n\
         GET /k2 HTTP/1.1\r\nHost: other\r\n",
    ];
    let mut seen = super::files::through_both(nginx, config, &temp_dir("once"), &probes);
    for (_, _, errors) in &mut seen {
        errors.retain(|l| processed(l));
    }
    assert_eq!(seen[0].2.len(), 7, "{:?}", seen[0].2);
    super::files::assert_same(&seen, &probes);
}

fn tidy_connection_time(line: &str) -> String {
    let Some((before, rest)) = line.split_once(" ct=") else {
        return line.to_string();
    };
    let (value, after) = rest.split_once(' ').unwrap_or((rest, ""));
    let (secs, millis) = value.split_once('.').unwrap_or_default();
    assert!(
        !secs.is_empty()
            && secs.bytes().all(|c| c.is_ascii_digit())
            && millis.len() == 3
            && millis.bytes().all(|c| c.is_ascii_digit()),
        "$connection_time {value:?} in {line}"
    );
    let long = value.parse::<f64>().is_ok_and(|t| t >= 0.3);
    format!(
        "{before} ct={} {after}",
        if long { "long" } else { "short" }
    )
}

#[test]
fn refused_heads_are_logged_as_nginx_logs_them() {
    let Some(_) = nginx() else { return };
    let base = temp_dir("refused-log");
    let www = base.join("www");
    std::fs::create_dir_all(&www).expect("www");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["default".to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("self-signed");
    std::fs::write(www.join("cert.pem"), cert.pem()).expect("write cert");
    std::fs::write(www.join("key.pem"), key.serialize_pem()).expect("write key");

    let run = |bin: &str, dir: &Path| {
        let (port, ssl) = (free_port(), free_port());
        let config = CONFIG.replace("SSL", &ssl.to_string());
        let server = start(bin, dir, &config, &www, port, 0);
        for (bytes, on_ssl, end) in probes() {
            send(if on_ssl { ssl } else { port }, &bytes, end);
        }
        keepalive(port);
        (server, [port, ssl])
    };
    let (_nginx, ports) = run(NGINX, &base.join("nginx"));
    let theirs = lines(&base.join("nginx"), &ports, 0);
    let their_errors = client_sent(&base.join("nginx"), &ports);
    let (_ngxr, ports) = run(env!("CARGO_BIN_EXE_ngxr"), &base.join("ngxr"));
    let ours = lines(&base.join("ngxr"), &ports, theirs.len());
    let our_errors = client_sent(&base.join("ngxr"), &ports);
    assert!(
        our_errors == their_errors,
        "error lines, nginx's then ngxr's:\n{}\n--\n{}",
        their_errors.join("\n"),
        our_errors.join("\n")
    );

    // What nginx does, as this test expects it: a line for each probe but the one that sent
    // nothing and the failed handshake, one more for the pipelined pair, two for the kept
    // connection.
    assert_eq!(theirs.len(), probes().len() - 2 + 1 + 2, "{theirs:#?}");
    assert!(
        theirs.last().is_some_and(|l| l.contains("ct=long")),
        "{theirs:#?}"
    );
    let differences: Vec<String> = theirs
        .iter()
        .zip(&ours)
        .filter(|(t, o)| t != o)
        .map(|(t, o)| format!("nginx: {t}\nngxr:  {o}"))
        .collect();
    assert!(
        differences.is_empty() && theirs.len() == ours.len(),
        "{} lines differ ({} vs {} lines):\n{}",
        differences.len(),
        theirs.len(),
        ours.len(),
        differences.join("\n")
    );
}

/// Connections that end with no head begun: before a first request (closed, reset, timed
/// out; on an ssl port before the handshake) and between requests (closed, reset;
/// `keepalive_timeout` says nothing). The error log's `[info]` lines about them must be
/// nginx's.
#[test]
fn idle_connections_end_with_nginx_s_lines() {
    let Some(nginx) = nginx() else { return };
    let config = r#"
error_log logs/error.log info;
events { worker_connections 64; }
http {
    client_header_timeout 1s;
    keepalive_timeout 1s;
    access_log off;
    server {
        listen 127.0.0.1:PORT;
        listen 127.0.0.1:SSL ssl;
        ssl_certificate CERT;
        ssl_certificate_key KEY;
        return 200 "ok\n";
    }
}
"#;
    let base = temp_dir("idle-lines");
    let (pair, _) = crate::tls::pair(&base, "a", &rcgen::PKCS_ECDSA_P256_SHA256);
    let run = |bin: &str, dir: &Path| {
        let (port, ssl) = (free_port(), free_port());
        let config = config
            .replace("SSL", &ssl.to_string())
            .replace("CERT", &pair.certificate.display().to_string())
            .replace("KEY", &pair.key.display().to_string());
        let server = start(bin, dir, &config, &base, port, 0);
        let connect = || {
            let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            s
        };
        let answered = || {
            let mut s = connect();
            s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                .expect("send");
            let mut out = Vec::new();
            let mut chunk = [0u8; 1024];
            while !out.ends_with(b"ok\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => panic!("no answer: {}", String::from_utf8_lossy(&out)),
                    Ok(n) => out.extend_from_slice(&chunk[..n]),
                }
            }
            s
        };
        let reset = |s: TcpStream| {
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .expect("linger");
        };
        let wait_out = |mut s: TcpStream| {
            let _ = s.read_to_end(&mut Vec::new());
        };
        drop(connect());
        reset(connect());
        wait_out(connect());
        // On the ssl port, before a handshake.
        drop(TcpStream::connect(("127.0.0.1", ssl)).expect("connect"));
        drop(answered());
        reset(answered());
        wait_out(answered());
        // A line is written as its connection ends.
        std::thread::sleep(Duration::from_millis(200));
        drop(server);
        super::files::log_messages(dir, None, &[port, ssl])
            .into_iter()
            .filter(|l| l.contains("closed") || l.contains("while waiting"))
            .collect::<Vec<_>>()
    };
    let theirs = run(nginx, &base.join("nginx"));
    // One more for the connection that saw the server listen.
    assert_eq!(theirs.len(), 7, "{theirs:#?}");
    assert_eq!(run(env!("CARGO_BIN_EXE_ngxr"), &base.join("ngxr")), theirs);
}
