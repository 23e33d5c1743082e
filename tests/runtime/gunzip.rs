//! `gunzip on` as nginx serves it: a backend's gzipped answers (whole, chunked, of two
//! members) go inflated to clients that may not have gzip (no `Accept-Encoding`, HTTP/1.0
//! under `gzip_http_version 1.1`, a `Via` under `gzip_proxied off`) and as they are to the
//! others; the sub filter sees the inflated body, `gzip on` does not compress it again, and
//! other encodings pass. Heads must be nginx's, bodies equal once de-chunked.

use std::io::Write;
use std::net::SocketAddr;

use crate::gzip::{exchange, header, serve};
use crate::support::backend::Backend;
use crate::support::nginx::Nginx;

const TEXT: &str = "<html><body><p>hello, inflated world</p></body></html>\n";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// The backend's answer for a path: `TEXT` gzipped with an `ETag` and `Accept-Ranges`, in
/// variants the filter treats differently.
fn answer(head: &str) -> Vec<u8> {
    let path = head.split(' ').nth(1).unwrap_or("/");
    let (encoding, body) = if path.ends_with("/plain") {
        ("", TEXT.as_bytes().to_vec())
    } else if path.ends_with("/br") {
        ("Content-Encoding: br\r\n", gzip(TEXT.as_bytes()))
    } else if path.ends_with("/multi") {
        let members = [gzip(b"first member, "), gzip(TEXT.as_bytes())].concat();
        ("Content-Encoding: gzip\r\n", members)
    } else if path.ends_with("/bad") {
        let mut cut = gzip(TEXT.as_bytes());
        cut.truncate(cut.len() - 6);
        ("Content-Encoding: gzip\r\n", cut)
    } else if path.ends_with("/garbage") {
        (
            "Content-Encoding: gzip\r\n",
            b"\x1f\x8b\x08\x00not deflate at all".to_vec(),
        )
    } else if path.ends_with("/upper") {
        ("Content-Encoding: GZIP\r\n", gzip(TEXT.as_bytes()))
    } else {
        ("Content-Encoding: gzip\r\n", gzip(TEXT.as_bytes()))
    };
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nETag: \"abc\"\r\n\
         Accept-Ranges: bytes\r\n{encoding}X-After: 1\r\n"
    )
    .into_bytes();
    if path.ends_with("/chunked") {
        out.extend_from_slice(
            format!("Transfer-Encoding: chunked\r\n\r\n{:x}\r\n", body.len()).as_bytes(),
        );
        out.extend_from_slice(&body);
        out.extend_from_slice(b"\r\n0\r\n\r\n");
    } else {
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(&body);
    }
    out
}

fn http(port: u16, up: SocketAddr) -> String {
    format!(
        "gunzip on; gzip_vary on;\n\
         server {{ listen 127.0.0.1:{port};\n\
           location /p {{ proxy_pass http://{up}; }}\n\
           location /any {{ proxy_pass http://{up}; gzip_proxied any; }}\n\
           location /sub {{ proxy_pass http://{up}; sub_filter hello bye; }}\n\
           location /gz {{ proxy_pass http://{up}; gzip on; }}\n\
           location /novary {{ proxy_pass http://{up}; gzip_vary off; }}\n\
           location /off {{ proxy_pass http://{up}; gunzip off; }}\n\
         }}"
    )
}

/// Each case: method and path, extra request headers, HTTP version.
const CASES: &[(&str, &str, &str)] = &[
    ("GET /p", "", "1.1"),
    ("GET /p", "Accept-Encoding: gzip\r\n", "1.1"),
    ("GET /p", "Accept-Encoding: gzip\r\n", "1.0"),
    ("GET /p", "", "1.0"),
    ("HEAD /p", "", "1.1"),
    ("GET /p", "Accept-Encoding: gzip\r\nVia: 1.1 x\r\n", "1.1"),
    ("GET /any", "Accept-Encoding: gzip\r\nVia: 1.1 x\r\n", "1.1"),
    ("GET /p/chunked", "", "1.1"),
    ("GET /p/multi", "", "1.1"),
    ("GET /p/upper", "", "1.1"),
    ("GET /p/br", "", "1.1"),
    ("GET /p/plain", "", "1.1"),
    ("GET /sub", "", "1.1"),
    ("GET /gz", "", "1.1"),
    ("GET /gz", "Accept-Encoding: gzip\r\n", "1.1"),
    ("GET /novary", "", "1.1"),
    ("GET /off", "", "1.1"),
    ("GET /p/bad", "", "1.1"),
    // Refused before any of it is inflated: the client gets nothing, not even the head.
    ("GET /p/garbage", "", "1.1"),
];

#[tokio::test]
async fn gzipped_answers_are_inflated_as_nginx_inflates_them() {
    let backend = Backend::http_with(|r| answer(&r.head)).await;
    let port = crate::common::free_port();
    let dir = crate::common::temp_dir(&format!("gunzip-{port}"));
    let running = serve(&dir, &http(port, backend.addr));
    let addr = running.local_addrs()[0];
    let mut seen = Vec::new();
    for case in CASES {
        seen.push(exchange(addr, *case).await);
    }
    // What nginx 1.22 answers, whether or not it is installed here.
    assert_eq!(
        seen[0].head,
        "HTTP/1.1 200 OK\nServer: nginx/1.22.1\nDate: *\nContent-Type: text/html\n\
         Transfer-Encoding: chunked\nConnection: close\nVary: Accept-Encoding\nETag: W/\"abc\"\n\
         X-After: 1\n"
    );
    assert_eq!(seen[0].body, TEXT.as_bytes());
    assert_eq!(header(&seen[1].head, "content-encoding"), Some("gzip"));
    assert_eq!(seen[CASES.len() - 1].head, "");
    assert_eq!(
        seen[12].body,
        TEXT.replace("hello", "bye").as_bytes(),
        "{:?}",
        seen[12]
    );
    let Some(nginx) = Nginx::serve(|port| http(port, backend.addr)) else {
        return;
    };
    for (case, ours) in CASES.iter().zip(&seen) {
        assert_eq!(ours, &exchange(nginx.addr, *case).await, "{case:?}");
    }
}
