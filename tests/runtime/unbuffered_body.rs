//! `proxy_request_buffering off` against nginx: the request goes upstream as soon as its head
//! is read, with what of the body came along, however short the body; the rest follows as
//! the client sends it (nginx-tests' proxy_request_buffering.t, "preread").

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

#[test]
fn a_short_body_goes_upstream_as_it_arrives_unbuffered() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("unbuffered-body");
    let mut seen = Vec::new();
    for (bin, name) in [(nginx, "nginx"), (env!("CARGO_BIN_EXE_ngxr"), "ngxr")] {
        let mut views = Vec::new();
        // `$request_body` read somewhere makes the body one nginx keeps, not one it waits for.
        for extra in ["", "add_header X-Body $request_body;"] {
            let (up, heads) = recording_backend(EMPTY_200);
            let config = CONFIG
                .replace("UP", &up.to_string())
                .replace("EXTRA", extra);
            let (prefix, port) = (base.join(name), crate::common::free_port());
            let server = start(bin, &prefix, &config, &base, port, 0);
            let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let request = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234";
            client.write_all(request.as_bytes()).expect("send");
            // The other five bytes never come: only an unbuffered pass reaches the backend.
            let head = heads.recv_timeout(Duration::from_secs(3));
            views.push(head.map_or("nothing".into(), |h| {
                h.split_once("\r\n\r\n")
                    .map_or(h.clone(), |(_, body)| body.to_string())
            }));
            drop(client);
            drop(server);
        }
        seen.push(views);
    }
    assert_eq!(seen[0], ["01234", "01234"], "nginx's view");
    assert_eq!(seen[0], seen[1]);
}
