//! `add_trailer` against nginx: the lines after a chunked body's last chunk (`always` ones for
//! any status, empty values left out, `$sent_http_*` and `$sent_trailer_*` read as the body
//! ends), a file's `Content-Length` given up for chunked framing; none for HTTP/1.0,
//! `chunked_transfer_encoding off` or a HEAD, inherited only by levels with none of their
//! own, on `return` answers, error pages and proxied answers (`$upstream_response_length`).
//! Skipped when nginx is not installed.

use crate::common::{nginx, temp_dir};
use crate::files::{assert_same, drop_nginx_port_wait, through_both};

const CONFIG: &str = r#"
events {}
http {
    root ROOT;
    log_format t '$request $status $body_bytes_sent';
    access_log logs/access.log t;
    error_log logs/error.log info;
    server {
        listen 127.0.0.1:PORT;
        add_trailer X-Var $host;
        add_trailer X-Always $host always;
        add_trailer X-Empty '';
        add_trailer X-Sent-HTTP $sent_http_accept_ranges;
        add_trailer X-Sent-Trailer $sent_trailer_x_var;
        location /t1 { }
        location /nx { }
        location /header { add_header X-Var foo; }
        location /own { add_trailer X-Own $uri; }
        location /not_chunked { chunked_transfer_encoding off; }
        location /proxy {
            proxy_pass http://127.0.0.1:PORT/t1;
            add_trailer X-Length $upstream_response_length;
        }
        location /ret {
            add_trailer A b;
            add_trailer A c;
            add_trailer B $sent_trailer_a;
            return 200 "x";
        }
        location /gone { add_trailer A b; return 404; }
    }
}
"#;

#[test]
fn trailers_follow_chunked_bodies_as_nginx_sends_them() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("trailers");
    std::fs::write(base.join("t1"), "SEE-THIS").expect("file");
    std::fs::write(base.join("header"), "").expect("file");
    std::fs::create_dir_all(base.join("own")).expect("dir");
    std::fs::write(base.join("own/x"), "own").expect("file");
    let get = |method: &str, uri: &str, version: &str| {
        format!("{method} {uri} HTTP/{version}\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    };
    let probes = [
        get("GET", "/t1", "1.1"),
        get("GET", "/nx", "1.1"),
        get("GET", "/header", "1.1"),
        get("GET", "/own/x", "1.1"),
        get("GET", "/t1", "1.0"),
        get("GET", "/not_chunked", "1.1"),
        get("HEAD", "/t1", "1.1"),
        get("GET", "/proxy", "1.1"),
        get("GET", "/ret", "1.1"),
        get("GET", "/gone", "1.1"),
    ];
    let mut seen = through_both(nginx, CONFIG, &base, &probes);
    drop_nginx_port_wait(&mut seen);
    assert_same(&seen, &probes);
    let ours = &seen[1].0;
    assert!(ours[0].ends_with("0\r\nX-Var: localhost\r\nX-Always: localhost\r\nX-Sent-HTTP: bytes\r\nX-Sent-Trailer: localhost\r\n\r\n"), "{}", ours[0]);
    assert!(
        ours[8].ends_with("0\r\nA: b\r\nA: c\r\nB: b\r\n\r\n"),
        "{}",
        ours[8]
    );
}
