//! `proxy_buffer_size` against nginx: an upstream's response head must end within that many
//! bytes (4096 by default here, the status line and the final empty line included), else
//! nginx logs `upstream sent too big header` and counts it `invalid_header` for
//! `proxy_next_upstream`; under `proxy_buffering` a head that fills the buffer exactly leaves
//! no room for the body, whose first read nginx takes for the upstream's close.

use crate::common::{nginx, recording_backend, temp_dir};
use crate::files::through_both;

const CONFIG: &str = "
events {}
http {
    log_format up '\"$request\" $status $body_bytes_sent $upstream_status '
                  '$upstream_response_length $upstream_bytes_received';
    access_log logs/access.log up;
    error_log logs/error.log warn;
    upstream next { server 127.0.0.1:H8000; server 127.0.0.1:H4000; }
    server {
        listen 127.0.0.1:PORT;
        location /4000 { proxy_pass http://127.0.0.1:H4000; }
        location /4096 { proxy_pass http://127.0.0.1:H4096; }
        location /chunked4096 { proxy_pass http://127.0.0.1:C4096; }
        location /4097 { proxy_pass http://127.0.0.1:H4097; }
        location /8000 { proxy_pass http://127.0.0.1:H8000; }
        location /off/ { proxy_buffering off; proxy_pass http://127.0.0.1:H4096; }
        location /big/ {
            proxy_buffer_size 16k;
            proxy_busy_buffers_size 16k;
            location /big/4097 { proxy_pass http://127.0.0.1:H4097; }
            location /big/8000 { proxy_pass http://127.0.0.1:H8000; }
        }
        location /next { proxy_next_upstream invalid_header; proxy_pass http://next; }
    }
}
";

/// An answer whose head is `size` bytes, `CRLF CRLF` included, then the body.
fn answer(size: usize, chunked: bool) -> &'static [u8] {
    let (framing, body): (&str, &str) = if chunked {
        ("Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\n\r\n")
    } else {
        ("Content-Length: 5", "hello")
    };
    let start = format!("HTTP/1.1 200 OK\r\n{framing}\r\nX-Pad: ");
    let pad = "a".repeat(size - start.len() - 4);
    let bytes = format!("{start}{pad}\r\n\r\n{body}").into_bytes();
    assert_eq!(bytes.len(), size + body.len());
    // The backend thread serves it for the rest of the test run.
    Box::leak(bytes.into_boxed_slice())
}

#[test]
fn heads_past_proxy_buffer_size_are_refused_as_nginx_refuses_them() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("buffer-size");
    let mut config = CONFIG.to_string();
    // Kept: a backend stops once nothing listens to what it records.
    let mut recorded = Vec::new();
    for (name, size, chunked) in [
        ("H4000", 4000, false),
        ("H4096", 4096, false),
        ("C4096", 4096, true),
        ("H4097", 4097, false),
        ("H8000", 8000, false),
    ] {
        let (port, heads) = recording_backend(answer(size, chunked));
        recorded.push(heads);
        config = config.replace(name, &port.to_string());
    }
    let probes = [
        "GET /4000 HTTP/1.1\r\nHost: a\r\n",
        "GET /4096 HTTP/1.1\r\nHost: a\r\n",
        "HEAD /4096 HTTP/1.1\r\nHost: a\r\n",
        "GET /chunked4096 HTTP/1.1\r\nHost: a\r\n",
        "GET /4097 HTTP/1.1\r\nHost: a\r\n",
        "GET /8000 HTTP/1.1\r\nHost: a\r\n",
        "GET /off/ HTTP/1.1\r\nHost: a\r\n",
        "GET /big/4097 HTTP/1.1\r\nHost: a\r\n",
        "GET /big/8000 HTTP/1.1\r\nHost: a\r\n",
        "GET /next HTTP/1.1\r\nHost: a\r\n",
    ];
    let seen = through_both(nginx, &config, &base, &probes);
    for (i, probe) in probes.iter().enumerate() {
        assert_eq!(seen[0].0[i], seen[1].0[i], "client bytes of {probe:?}");
    }
    assert_eq!(seen[0].1, seen[1].1, "access log");
    assert_eq!(seen[0].2, seen[1].2, "error log");
    let too_big = seen[1]
        .2
        .iter()
        .filter(|l| l.starts_with("upstream sent too big header while reading response header"))
        .count();
    assert_eq!(too_big, 3, "{:#?}", seen[1].2);
}
