//! `sub_filter` as nginx serves it: proxied HTML with several strings, `sub_filter_once` on
//! and off, variables in the strings, case ignored, matches split across the upstream's
//! writes, `sub_filter_types`, `sub_filter_last_modified`, files (ranges no longer offered),
//! `return` texts and nginx's own pages, and gzip after it. The same configuration runs
//! through ngxr and, when installed, nginx: the answers must be the same.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::gzip::{Seen, exchange, header, serve};
use crate::support::nginx::Nginx;

const HTML: &str = "<html>Hello World, HELLO world! abcdef foo bar</html>";
const FILE: &str = "<html><body>Hello World, hello world! abc</body></html>";

/// A backend answering `HTML` with a length, `Last-Modified` and `ETag`; a path ending in
/// `/slow` gets the body two bytes at a time with pauses (so every match straddles writes),
/// `/plain` as `text/plain`, `/enc` with a `Content-Encoding`; `/204` and `/304` get those
/// statuses and no body.
async fn backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                let kind = if path.ends_with("/plain") {
                    "text/plain"
                } else {
                    "text/html; charset=utf-8"
                };
                let enc = if path.ends_with("/enc") {
                    "Content-Encoding: br\r\n"
                } else {
                    ""
                };
                if let Some(status) = ["204", "304"].into_iter().find(|s| path.ends_with(s)) {
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: text/html\r\n\
                         Last-Modified: Thu, 01 Jan 1970 00:00:01 GMT\r\nETag: \"x\"\r\n\r\n"
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    return;
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                     Last-Modified: Thu, 01 Jan 1970 00:00:01 GMT\r\nETag: \"x\"\r\n\
                     Accept-Ranges: bytes\r\n{enc}\r\n",
                    HTML.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                if path.ends_with("/slow") {
                    for piece in HTML.as_bytes().chunks(2) {
                        let _ = s.write_all(piece).await;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                } else {
                    let _ = s.write_all(HTML.as_bytes()).await;
                }
            });
        }
    });
    addr
}

fn http(port: u16, up: SocketAddr, www: &std::path::Path) -> String {
    let www = www.display();
    format!(
        "access_log off;\n\
         server {{ listen 127.0.0.1:{port}; root {www};\n\
           location /p {{ proxy_pass http://{up}; sub_filter hello bye; sub_filter world EARTH; sub_filter abc $host; }}\n\
           location /many {{ proxy_pass http://{up}; sub_filter_once off; sub_filter hello bye; sub_filter world EARTH; sub_filter o 0; }}\n\
           location /order {{ proxy_pass http://{up}; sub_filter_once off; sub_filter \"hello world\" X; sub_filter hello Y; sub_filter h Z; }}\n\
           location /lm {{ proxy_pass http://{up}; sub_filter_last_modified on; sub_filter hello bye; }}\n\
           location /var {{ proxy_pass http://{up}; sub_filter $arg_m [$arg_m]; }}\n\
           location /types {{ proxy_pass http://{up}; sub_filter hello bye; sub_filter_types text/plain; }}\n\
           location /star {{ proxy_pass http://{up}; sub_filter hello bye; sub_filter_types *; }}\n\
           location /gz {{ proxy_pass http://{up}; sub_filter hello bye; gzip on; }}\n\
           location /ret {{ default_type text/html; sub_filter hello bye; return 200 \"hello hello\"; }}\n\
           location /missing {{ sub_filter nginx NGXR; }}\n\
           location /a.html {{ sub_filter hello bye; sub_filter_once off; }}\n\
         }}"
    )
}

const CASES: &[(&str, &str, &str)] = &[
    ("GET /p", "", "1.1"),
    ("GET /p/slow", "", "1.1"),
    ("GET /many", "", "1.1"),
    ("GET /many/slow", "", "1.1"),
    ("GET /order/slow", "", "1.1"),
    ("GET /lm", "", "1.1"),
    ("GET /var?m=WORLD", "", "1.1"),
    ("GET /var", "", "1.1"),
    ("GET /types/plain", "", "1.1"),
    ("GET /types", "", "1.1"),
    ("GET /p/plain", "", "1.1"),
    ("GET /star/plain", "", "1.1"),
    ("GET /p/enc", "", "1.1"),
    ("HEAD /p", "", "1.1"),
    ("GET /p", "", "1.0"),
    ("GET /gz", "Accept-Encoding: gzip\r\n", "1.1"),
    ("GET /ret", "", "1.1"),
    ("GET /missing", "", "1.1"),
    ("GET /a.html", "", "1.1"),
    ("GET /a.html", "Range: bytes=0-5\r\n", "1.1"),
    ("GET /p/204", "", "1.1"),
    ("GET /p/304", "", "1.1"),
];

fn body(s: &Seen) -> String {
    String::from_utf8_lossy(&s.body).into_owned()
}

#[tokio::test]
async fn bodies_are_rewritten_as_nginx_rewrites_them() {
    let up = backend().await;
    let port = crate::common::free_port();
    let dir = crate::common::temp_dir(&format!("sub-filter-{port}"));
    let www = dir.join("www");
    std::fs::create_dir_all(&www).expect("www");
    std::fs::write(www.join("a.html"), FILE).expect("file");
    let running = serve(&dir, &http(port, up, &www));
    let addr = running.local_addrs()[0];
    let mut seen = Vec::new();
    for case in CASES {
        seen.push(exchange(addr, *case).await);
    }

    // What nginx 1.22 answers, whether or not it is installed here.
    let once = "<html>bye EARTH, HELLO world! tdef foo bar</html>";
    assert_eq!(body(&seen[0]), once);
    assert_eq!(body(&seen[1]), once, "matches across the upstream's writes");
    let all = "<html>bye EARTH, bye EARTH! abcdef f00 bar</html>";
    assert_eq!(body(&seen[2]), all);
    assert_eq!(body(&seen[3]), all);
    assert_eq!(body(&seen[4]), "<Ztml>X, X! abcdef foo bar</Ztml>");
    assert_eq!(header(&seen[0].head, "content-length"), None);
    assert_eq!(header(&seen[0].head, "transfer-encoding"), Some("chunked"));
    assert_eq!(header(&seen[0].head, "last-modified"), None);
    assert_eq!(header(&seen[0].head, "etag"), None);
    assert_eq!(header(&seen[5].head, "etag"), Some("W/\"x\""));
    assert!(header(&seen[5].head, "last-modified").is_some());
    assert_eq!(
        body(&seen[6]),
        "<html>Hello [WORLD], HELLO world! abcdef foo bar</html>"
    );
    // Every string empty: the answer is left alone, its length kept.
    assert_eq!(body(&seen[7]), HTML);
    assert_eq!(header(&seen[7].head, "content-length"), Some("53"));
    assert!(body(&seen[8]).starts_with("<html>bye"), "text/plain listed");
    assert!(
        body(&seen[9]).starts_with("<html>bye"),
        "text/html always is"
    );
    assert_eq!(body(&seen[10]), HTML, "text/plain not listed");
    assert!(body(&seen[11]).starts_with("<html>bye"), "*");
    assert!(body(&seen[12]).starts_with("<html>bye"), "encoded, still");
    assert_eq!(header(&seen[13].head, "content-length"), None, "HEAD");
    assert_eq!(header(&seen[13].head, "transfer-encoding"), None, "HEAD");
    assert_eq!(header(&seen[14].head, "connection"), Some("close"));
    assert_eq!(header(&seen[15].head, "content-encoding"), Some("gzip"));
    assert!(
        body(&seen[15]).starts_with("<html>bye World"),
        "rewritten, then gzipped"
    );
    assert_eq!(body(&seen[16]), "bye hello");
    assert!(body(&seen[17]).contains("<center>NGXR/1.22.1</center>"));
    let file = "<html><body>bye World, bye world! abc</body></html>";
    assert_eq!(body(&seen[18]), file);
    assert!(seen[19].head.starts_with("HTTP/1.1 200 OK\n"), "no range");
    assert_eq!(header(&seen[19].head, "accept-ranges"), None);
    assert_eq!(body(&seen[19]), file);
    // An upstream's 204 and 304 lose their dates too, but are not framed.
    for s in &seen[20..22] {
        assert_eq!(header(&s.head, "last-modified"), None);
        assert_eq!(header(&s.head, "transfer-encoding"), None);
    }

    let Some(nginx) = Nginx::serve(|port| http(port, up, &www)) else {
        return;
    };
    for (case, ours) in CASES.iter().zip(&seen) {
        assert_eq!(ours, &exchange(nginx.addr, *case).await, "{case:?}");
    }
}
