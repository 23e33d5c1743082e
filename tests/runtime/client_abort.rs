//! `proxy_ignore_client_abort` against nginx: a client sends its request and closes while a
//! slow backend works. Without the directive nginx closes the upstream connection at once
//! and logs 499; with it the backend finishes and answers, and the request is logged with the
//! upstream's status. The backend's view (closed early, or answered) and the access and error
//! logs must be nginx's.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::{nginx, temp_dir};
use crate::files::{file_messages, start};

const CONFIG: &str = "
events {}
http {
    log_format t '$request $status $body_bytes_sent $upstream_status $request_completion';
    access_log logs/access.log t;
    error_log logs/error.log info;
    server {
        listen 127.0.0.1:PORT;
        location /on { proxy_pass http://127.0.0.1:SLOW; proxy_ignore_client_abort on; }
        location /off { proxy_pass http://127.0.0.1:SLOW; }
    }
}
";

/// A backend that takes 600 ms over each request, then answers; it reports whether the
/// proxy closed the connection first.
fn slow_backend() -> (u16, mpsc::Receiver<&'static str>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a backend");
    let port = listener.local_addr().expect("address").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { break };
            let mut head = Vec::new();
            let mut chunk = [0u8; 1024];
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&chunk[..n]),
                }
            }
            // Working: a read that ends (0 bytes) is the proxy giving up.
            s.set_read_timeout(Some(Duration::from_millis(600))).ok();
            let seen = match s.read(&mut chunk) {
                Ok(0) => "closed early",
                _ => match s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello") {
                    Ok(()) => "answered",
                    Err(_) => "could not answer",
                },
            };
            if tx.send(seen).is_err() {
                break;
            }
        }
    });
    (port, rx)
}

#[test]
fn a_client_leaving_ends_the_upstream_request_unless_told_to_ignore_it() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("client-abort");
    let mut seen = Vec::new();
    for (bin, name) in [(nginx, "nginx"), (env!("CARGO_BIN_EXE_ngxr"), "ngxr")] {
        let (slow, backend) = slow_backend();
        let config = CONFIG.replace("SLOW", &slow.to_string());
        let (prefix, port) = (base.join(name), crate::common::free_port());
        let server = start(bin, &prefix, &config, &base, port, 0);
        let mut views = Vec::new();
        for path in ["/on", "/off"] {
            let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
            client.write_all(request.as_bytes()).expect("send");
            std::thread::sleep(Duration::from_millis(200));
            drop(client);
            let view = backend.recv_timeout(Duration::from_secs(5));
            views.push(view.unwrap_or("no request"));
            // The proxy is done with the request once the backend is.
            std::thread::sleep(Duration::from_millis(300));
        }
        // ngxr writes its access log every second.
        std::thread::sleep(Duration::from_millis(1300));
        drop(server);
        let access = std::fs::read_to_string(prefix.join("logs/access.log")).unwrap_or_default();
        let errors: Vec<String> =
            file_messages(&prefix.join("logs/error.log"), None, &[port, slow])
                .into_iter()
                // nginx's `[info]` lines for a client closing before a request or between
                // two (the start's own probe), which ngxr does not write (README, known
                // differences).
                .filter(|l| !l.contains("closed keepalive connection"))
                .filter(|l| !l.contains("closed connection while waiting for request"))
                .collect();
        seen.push((views, access, errors));
    }
    assert_eq!(seen[0].0, ["answered", "closed early"], "nginx's view");
    assert_eq!(seen[0], seen[1]);
}
