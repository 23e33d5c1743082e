//! `add_before_body`/`add_after_body` as nginx serves them: proxied HTML (its length and
//! `Accept-Ranges` dropped, its `ETag` made weak), files (no ranges), `return` texts, each
//! addition a subrequest of its own (a file, a `return` reading the subrequest's `$uri`, a
//! proxied answer, a 404 page, a location that denies clients: subrequests skip the access
//! phase), `addition_types`, answers other than 200, HEAD, HTTP/1.0, and the sub and gzip
//! filters around it, and conditional or range headers, which subrequests ignore. The same configuration runs through ngxr and, when installed, nginx:
//! the answers must be the same.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::gzip::{Seen, exchange, header, serve};
use crate::support::nginx::Nginx;

const HTML: &str = "<html>Hello from upstream</html>";

/// A backend answering `HTML` with a length, `Last-Modified`, `ETag` and `Accept-Ranges`; a
/// path ending in `/slow` gets the body three bytes at a time with pauses, `/plain` as
/// `text/plain`.
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
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                     Last-Modified: Thu, 01 Jan 1970 00:00:01 GMT\r\nETag: \"x\"\r\n\
                     Accept-Ranges: bytes\r\n\r\n",
                    HTML.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                if path.ends_with("/slow") {
                    for piece in HTML.as_bytes().chunks(3) {
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
        "access_log off; default_type text/html; if_modified_since before;\n\
         server {{ listen 127.0.0.1:{port}; root {www};\n\
           location /p {{ proxy_pass http://{up}; add_before_body /before.txt; add_after_body /after; }}\n\
           location /ims {{ add_before_body /a.html; return 200 \"main\"; }}\n\
           location /slow {{ proxy_pass http://{up}; add_before_body /up/slow; add_after_body /up/slow; }}\n\
           location /up/ {{ proxy_pass http://{up}; }}\n\
           location /after {{ return 200 \"[after $uri $args $request_uri]\"; }}\n\
           location /denied {{ deny all; return 200 \"[not for clients]\"; }}\n\
           location /ret {{ add_after_body /after; return 200 \"main\"; }}\n\
           location /deny {{ add_before_body /denied; return 200 \"main\"; }}\n\
           location /missing {{ add_before_body /nothere; return 200 \"main\"; }}\n\
           location /empty {{ add_before_body \"\"; add_after_body /after; return 200 \"main\"; }}\n\
           location /err {{ add_before_body /before.txt; return 404; }}\n\
           location /created {{ add_before_body /before.txt; return 201 \"made\"; }}\n\
           location /types {{ proxy_pass http://{up}; add_before_body /before.txt; addition_types text/plain; }}\n\
           location /plain {{ proxy_pass http://{up}; add_before_body /before.txt; }}\n\
           location /sf {{ proxy_pass http://{up}; add_before_body /before.txt; sub_filter Hello Bye; }}\n\
           location /gz {{ proxy_pass http://{up}; add_before_body /before.txt; gzip on; gzip_min_length 1; }}\n\
           location /a.html {{ add_before_body /before.txt; add_after_body /after; }}\n\
           location = /before.txt {{ }}\n\
         }}"
    )
}

const CASES: &[(&str, &str, &str)] = &[
    ("GET /p", "", "1.1"),
    ("GET /slow/slow", "", "1.1"),
    ("GET /ret?a=1", "", "1.1"),
    ("GET /deny", "", "1.1"),
    ("GET /missing", "", "1.1"),
    ("GET /empty", "", "1.1"),
    ("GET /err", "", "1.1"),
    ("GET /created", "", "1.1"),
    ("GET /types/plain", "", "1.1"),
    ("GET /plain/plain", "", "1.1"),
    ("GET /sf", "", "1.1"),
    ("GET /gz", "Accept-Encoding: gzip\r\n", "1.1"),
    ("GET /a.html", "", "1.1"),
    ("GET /a.html", "Range: bytes=0-5\r\n", "1.1"),
    ("HEAD /p", "", "1.1"),
    (
        "GET /a.html",
        "If-Modified-Since: Thu, 01 Jan 2099 00:00:00 GMT\r\n",
        "1.1",
    ),
    ("GET /p", "", "1.0"),
    (
        "GET /ims",
        "If-Modified-Since: Thu, 01 Jan 2099 00:00:00 GMT\r\n",
        "1.1",
    ),
];

fn body(s: &Seen) -> String {
    String::from_utf8_lossy(&s.body).into_owned()
}

#[tokio::test]
async fn subrequests_bodies_go_around_the_answer() {
    let up = backend().await;
    let port = crate::common::free_port();
    let dir = crate::common::temp_dir(&format!("addition-{port}"));
    let www = dir.join("www");
    std::fs::create_dir_all(&www).expect("www");
    std::fs::write(www.join("a.html"), "<p>file</p>").expect("file");
    std::fs::write(www.join("before.txt"), "[Hello before]").expect("file");
    let running = serve(&dir, &http(port, up, &www));
    let addr = running.local_addrs()[0];
    let mut seen = Vec::new();
    for case in CASES {
        seen.push(exchange(addr, *case).await);
    }

    // What nginx 1.22 answers, whether or not it is installed here.
    let after = "[after /after  /p]";
    assert_eq!(body(&seen[0]), format!("[Hello before]{HTML}{after}"));
    assert_eq!(header(&seen[0].head, "content-length"), None);
    assert_eq!(header(&seen[0].head, "transfer-encoding"), Some("chunked"));
    assert_eq!(header(&seen[0].head, "accept-ranges"), None);
    assert_eq!(header(&seen[0].head, "etag"), Some("W/\"x\""));
    assert!(header(&seen[0].head, "last-modified").is_some());
    assert_eq!(body(&seen[1]), format!("{HTML}{HTML}{HTML}"));
    assert_eq!(body(&seen[2]), "main[after /after  /ret?a=1]");
    assert_eq!(body(&seen[3]), "[not for clients]main", "no access phase");
    assert!(body(&seen[4]).contains("<title>404 Not Found</title>"));
    assert!(body(&seen[4]).ends_with("</html>\r\nmain"));
    assert_eq!(body(&seen[5]), "main[after /after  /empty]");
    assert!(seen[6].head.starts_with("HTTP/1.1 404"));
    assert!(!body(&seen[6]).contains("before"), "only a 200");
    assert_eq!(body(&seen[7]), "made", "only a 200");
    assert_eq!(body(&seen[8]), format!("[Hello before]{HTML}"));
    assert_eq!(body(&seen[9]), HTML, "text/plain not listed");
    assert_eq!(
        body(&seen[10]),
        "[Hello before]<html>Bye from upstream</html>",
        "the sub filter of the main request is not the subrequest's"
    );
    assert_eq!(header(&seen[11].head, "content-encoding"), Some("gzip"));
    assert_eq!(body(&seen[11]), format!("[Hello before]{HTML}"));
    assert_eq!(
        body(&seen[12]),
        "[Hello before]<p>file</p>[after /after  /a.html]"
    );
    assert!(seen[13].head.starts_with("HTTP/1.1 200 OK\n"), "no range");
    assert_eq!(
        body(&seen[13]),
        body(&seen[12]),
        "none in the subrequests either"
    );
    assert_eq!(header(&seen[13].head, "accept-ranges"), None);
    assert!(header(&seen[12].head, "etag").is_some_and(|e| e.starts_with("W/\"")));
    assert_eq!(body(&seen[14]), "", "HEAD");
    assert_eq!(header(&seen[14].head, "transfer-encoding"), None, "HEAD");
    assert!(seen[15].head.starts_with("HTTP/1.1 304"));
    assert_eq!(header(&seen[16].head, "connection"), Some("close"));
    assert_eq!(body(&seen[16]), format!("[Hello before]{HTML}{after}"));

    assert_eq!(
        body(&seen[17]),
        "<p>file</p>main",
        "no 304 for a subrequest"
    );

    let Some(nginx) = Nginx::serve(|port| http(port, up, &www)) else {
        return;
    };
    for (case, ours) in CASES.iter().zip(&seen) {
        assert_eq!(ours, &exchange(nginx.addr, *case).await, "{case:?}");
    }
}
