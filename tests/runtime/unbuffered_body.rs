//! `proxy_request_buffering off` against nginx: the request goes upstream as soon as its head
//! is read, with what of the body came along, however short the body; the rest follows as
//! the client sends it. To an HTTP/1.1 upstream a chunked body goes in chunks of nginx's own,
//! what came at once in one (nginx-tests' proxy_request_buffering*.t, "preread", "chunks").

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::common::{EMPTY_200, nginx, recording_backend, temp_dir};
use crate::files::start;

const CONFIG: &str = "
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:PORT;
        location / {
            proxy_request_buffering off;
            proxy_pass http://127.0.0.1:UP;
            EXTRA
        }
    }
}
";

/// What the backend got of a request whose body never ends, through `bin`, for each
/// configuration's extra directives.
fn upstream_views(bin: &str, prefix: &std::path::Path, cases: &[(&str, &str)]) -> Vec<String> {
    let mut views = Vec::new();
    for (i, (extra, request)) in cases.iter().enumerate() {
        let (up, heads) = recording_backend(EMPTY_200);
        let config = CONFIG
            .replace("UP", &up.to_string())
            .replace("EXTRA", extra);
        let (prefix, port) = (prefix.join(i.to_string()), crate::common::free_port());
        let server = start(bin, &prefix, &config, &prefix, port, 0);
        let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        client.write_all(request.as_bytes()).expect("send");
        // The rest of the body never comes: only an unbuffered pass reaches the backend.
        let seen = heads.recv_timeout(Duration::from_secs(3));
        let seen = seen.unwrap_or_else(|_| "nothing".into());
        views.push(seen.replace(&format!("127.0.0.1:{up}"), "UP"));
        drop(client);
        drop(server);
    }
    views
}

#[test]
fn a_body_goes_upstream_as_it_arrives_unbuffered() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("unbuffered-body");
    let length = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234";
    let chunked = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n4\r\nmany\r\n";
    // `$request_body` read somewhere makes the body one nginx keeps, not one it waits for.
    let kept = "add_header X-Body $request_body;";
    let cases = [
        ("", length),
        (kept, length),
        ("proxy_http_version 1.1;", chunked),
        (
            "proxy_http_version 1.1; add_header X-Body $request_body;",
            chunked,
        ),
    ];
    let theirs = upstream_views(nginx, &base.join("nginx"), &cases);
    let ours = upstream_views(env!("CARGO_BIN_EXE_ngxr"), &base.join("ngxr"), &cases);
    assert!(
        theirs[0].ends_with("\r\n\r\n01234"),
        "nginx's view: {theirs:?}"
    );
    assert!(
        theirs[2].ends_with("\r\n\r\n9\r\n01234many\r\n"),
        "nginx's view: {theirs:?}"
    );
    assert_eq!(theirs, ours);
}
