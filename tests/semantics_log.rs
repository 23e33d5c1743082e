//! Access-log lines rendered by ngxr's compiled `log_format` compared byte for byte with the
//! line Debian's nginx 1.22 writes for the same request (variables whose value depends on
//! timing are left out of the format). Skipped where `/usr/sbin/nginx` is absent.

// Helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{free_port, nginx, recording_backend, start_server, temp_dir};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ngxr::cli::Paths;
use ngxr::eval::plan::{ListenAddr, Outcome, Peer, RequestInfo, Route, UpstreamTry};

#[test]
fn log_lines_match_nginx() {
    let Some(nginx) = nginx() else { return };
    let dir = temp_dir("log");
    // Answers every request with an empty 200 carrying `X-Up: u`.
    let ((b, _heads), listen) = (
        recording_backend(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Up: u\r\nConnection: close\r\n\r\n",
        ),
        free_port(),
    );
    let conf = format!(
        r#"daemon off;
master_process off;
pid nginx.pid;
error_log error.log warn;
events {{ worker_connections 64; }}
http {{
    log_format plain '$remote_addr - $remote_user "$request" $status "$http_referer" "$http_user_agent" '
                     '$host|$server_name|$uri|$args|$is_args|$request_uri|$proxy_host|$proxy_port|'
                     '$upstream_addr|$upstream_status|$upstream_http_x_up|$http_x_missing|$server_port|$request_method|'
                     '$pipe|$upstream_response_length';
    log_format js escape=json '{{"ua":"$http_user_agent","uri":"$uri","missing":"$http_x_missing"}}';
    server {{
        listen 127.0.0.1:{listen};
        server_name logs.example;
        access_log access.log plain;
        access_log access.json js;
        access_log skipped.log plain if=$arg_log;
        access_log kept.log plain if=$arg_x;
        location /p/ {{ proxy_pass http://127.0.0.1:{b}; }}
    }}
}}
"#
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, &conf).unwrap();

    let headers = [
        ("Host", "Logs.Example"),
        ("User-Agent", "ua \"quoted\" \\ caf\u{e9}\t"),
        ("Authorization", "Basic dXNlcjpwdw=="),
    ];
    let target = "/p/a%20b/../c?x=1&y";
    let _nginx = start_server(nginx, &dir, listen);
    let mut s = TcpStream::connect(("127.0.0.1", listen)).unwrap();
    let mut raw = format!("GET {target} HTTP/1.1\r\n");
    for (n, v) in headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw.push_str("Connection: close\r\n\r\n");
    s.write_all(raw.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let read_log = |name: &str| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read(dir.join(name)).unwrap_or_default();
            if text.ends_with(b"\n") || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let (nginx_plain, nginx_json) = (read_log("access.log"), read_log("access.json"));
    let nginx_kept = read_log("kept.log");
    // Written with the others, if at all.
    let nginx_skipped = std::fs::read(dir.join("skipped.log")).unwrap_or_default();

    let loaded = ngxr::load::load(&Paths::resolve(Some(&dir), Some(&conf_path))).unwrap();
    let site = loaded.site.expect("the configuration loads");
    let mut owned: Vec<(Bytes, Bytes)> = headers
        .iter()
        .map(|(n, v)| {
            (
                Bytes::copy_from_slice(n.as_bytes()),
                Bytes::copy_from_slice(v.as_bytes()),
            )
        })
        .collect();
    owned.push((
        Bytes::from_static(b"Connection"),
        Bytes::from_static(b"close"),
    ));
    let addr = ListenAddr::Inet(format!("127.0.0.1:{listen}").parse().unwrap());
    let info = RequestInfo {
        listen: addr.clone(),
        remote: Peer::Inet("127.0.0.1:50000".parse().unwrap()),
        local: addr,
        proxy_protocol: None,
        sni: None,
        tls: false,
        handshake: None,
        client_cert: None,
        plain_on_ssl: false,
        framing_refused: None,
        method: "GET",
        target: target.as_bytes(),
        version: "HTTP/1.1",
        headers: &owned,
        connection: 1,
        connection_requests: 1,
        pipelined: false,
        request_id: ngxr::eval::plan::request_id(),
        opened: std::time::Instant::now(),
        started: std::time::Instant::now(),
        refused: None,
        limits: Default::default(),
        counts: &ngxr::eval::plan::UNCOUNTED,
        auth: &[],
        mirrored: 0,
        post_action: false,
        request_body: None,
        body_length: None,
        request_body_file: None,
        routed: None,
    };
    let Route::Proxy(p) = site.route(&info) else {
        panic!("expected a proxied request")
    };
    let outcome = Outcome {
        status: 200,
        upstreams: vec![UpstreamTry {
            addr: format!("127.0.0.1:{b}").into(),
            status: Some(200),
            ..Default::default()
        }],
        upstream_headers: vec![(Bytes::from_static(b"X-Up"), Bytes::from_static(b"u"))],
        ..Default::default()
    };
    let lines: Vec<Vec<u8>> = p
        .log
        .files
        .iter()
        .map(|f| f.format.render(&info, &outcome))
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&lines[0]),
        String::from_utf8_lossy(&nginx_plain)
    );
    assert_eq!(
        String::from_utf8_lossy(&lines[1]),
        String::from_utf8_lossy(&nginx_json)
    );
    // `if=$arg_log` is empty for this request, `if=$arg_x` is "1".
    assert_eq!((&lines[2][..], &nginx_skipped[..]), (&b""[..], &b""[..]));
    assert_eq!(lines[3], nginx_kept);
    assert_eq!(lines[3], lines[0]);
}
