//! `proxy_force_ranges` and `max_ranges` against nginx: a proxied 200 of known length
//! answers a single range with 206 and that part of the body (cut across the upstream's
//! reads), an unsatisfiable one with the 416 page, several ranges, a stale `If-Range` or no
//! `Range` whole with nginx's `Accept-Ranges` in place of the upstream's; an answer of
//! unknown length, a location without the directive and `max_ranges 0` are left alone; and
//! `max_ranges` for files. Skipped when nginx is not installed.

use crate::common::{ANSWER_PAUSE, nginx, recording_backend, temp_dir};
use crate::files::{assert_same, drop_nginx_port_wait, through_both};

const CONFIG: &str = r#"
events {}
http {
    log_format t '$request $status $body_bytes_sent';
    access_log logs/access.log t;
    error_log logs/error.log info;
    server {
        listen 127.0.0.1:PORT;
        location /r/ {
            proxy_pass http://127.0.0.1:LENGTH;
            proxy_force_ranges on;
            add_header X-Added yes;
        }
        location /chunked/ { proxy_pass http://127.0.0.1:CHUNKED; proxy_force_ranges on; }
        location /off/ { proxy_pass http://127.0.0.1:LENGTH; }
        location /max0/ {
            proxy_pass http://127.0.0.1:LENGTH;
            proxy_force_ranges on;
            max_ranges 0;
        }
        location /files/ { root ROOT; max_ranges 1; }
        location /nofiles/ { root ROOT; max_ranges 0; }
    }
}
"#;

fn answer(template: &str) -> &'static [u8] {
    let text = template.replace("PAUSE", std::str::from_utf8(ANSWER_PAUSE).unwrap_or(""));
    Box::leak(text.into_bytes().into_boxed_slice())
}

#[test]
fn forced_ranges_as_nginx_serves_them() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("force-ranges");
    for dir in ["files", "nofiles"] {
        std::fs::create_dir_all(base.join(dir)).expect("mkdir");
        std::fs::write(base.join(dir).join("t.txt"), "SEE-THIS").expect("file");
    }
    // The body comes in two reads, so a range is cut from both.
    let (length, _seen) = recording_backend(answer(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\
         Accept-Ranges: none\r\nLast-Modified: Mon, 28 Sep 1970 06:00:00 GMT\r\n\
         ETag: \"e\"\r\nX-Foo: bar\r\n\r\nSEE-PAUSETHIS",
    ));
    let (chunked, _seen_too) = recording_backend(answer(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nSEE-THIS\r\n0\r\n\r\n",
    ));
    let config = CONFIG
        .replace("LENGTH", &length.to_string())
        .replace("CHUNKED", &chunked.to_string());
    let get = |uri: &str, extra: &str| {
        format!("GET {uri} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n{extra}\r\n")
    };
    let probes = [
        get("/r/t", "Range: bytes=4-\r\n"),
        get("/r/t", "Range: bytes=2-5\r\n"),
        get("/r/t", "Range: bytes=-2\r\n"),
        get("/r/t", "Range: bytes=20-\r\n"),
        get("/r/t", "Range: bytes=0-1,4-5\r\n"),
        get("/r/t", ""),
        get("/r/t", "Range: bytes=4-\r\nIf-Range: \"e\"\r\n"),
        get("/r/t", "Range: bytes=4-\r\nIf-Range: \"f\"\r\n"),
        get(
            "/r/t",
            "Range: bytes=4-\r\nIf-Range: Mon, 28 Sep 1970 06:00:00 GMT\r\n",
        ),
        "HEAD /r/t HTTP/1.1\r\nHost: a\r\nConnection: close\r\nRange: bytes=4-\r\n\r\n".into(),
        "GET /r/t HTTP/1.0\r\nRange: bytes=1-2\r\n\r\n".into(),
        get("/chunked/t", "Range: bytes=4-\r\n"),
        get("/off/t", "Range: bytes=4-\r\n"),
        get("/max0/t", "Range: bytes=4-\r\n"),
        get("/files/t.txt", "Range: bytes=0-1,4-5\r\n"),
        get("/files/t.txt", "Range: bytes=4-\r\n"),
        get("/nofiles/t.txt", "Range: bytes=4-\r\n"),
    ];
    let mut seen = through_both(nginx, &config, &base, &probes);
    drop_nginx_port_wait(&mut seen);
    assert_same(&seen, &probes);
    let ours = &seen[1].0;
    assert!(ours[0].starts_with("HTTP/1.1 206") && ours[0].ends_with("\r\n\r\nTHIS"));
    assert!(ours[1].ends_with("\r\n\r\nE-TH"), "{}", ours[1]);
}
