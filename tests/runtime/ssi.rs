//! The SSI filter as nginx serves it: files and proxied pages whose commands are carried
//! out — `include virtual` (relative and absolute, with arguments, waited, into a
//! variable, with a stub), `echo` with defaults and encodings, `set`, `if`/`elif`/`else`
//! with strings and regexes (their groups), `config errmsg`, `block`, syntax errors and
//! unknown commands, `ssi_silent_errors`, `ssi_types`, `ssi_last_modified`, a page that includes itself — and commands
//! split across the upstream's writes. The same configuration runs through ngxr and, when
//! installed, nginx: the answers must be the same.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::gzip::{Seen, exchange, header, serve};
use crate::support::nginx::Nginx;

const PAGE: &str = "<p><!--#echo var=\"arg_a\" default=\"none\" --></p>\
<!--#set var=\"x\" value=\"[$arg_a]\" --><!--#echo var=\"x\" -->\
<!--#include virtual=\"/inc/part.html?q=1\" -->|\
<!--#if expr=\"$arg_a = /^(h)(.*)/\" -->match $2=<!--#echo var=\"2\" -->\
<!--#elif expr=\"$arg_a\" -->some<!--#else -->none<!--#endif -->";

/// A backend answering `PAGE` two bytes a write (every command split), with a length and
/// `Last-Modified`; `/plain` as `text/plain`.
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
                let kind = if path.contains("/plain") {
                    "text/plain"
                } else {
                    "text/html"
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                     Last-Modified: Thu, 01 Jan 1970 00:00:01 GMT\r\nETag: \"x\"\r\n\r\n",
                    PAGE.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                for piece in PAGE.as_bytes().chunks(2) {
                    let _ = s.write_all(piece).await;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            });
        }
    });
    addr
}

fn http(port: u16, up: SocketAddr, www: &std::path::Path) -> String {
    let www = www.display();
    format!(
        "access_log off; default_type text/html;\n\
         server {{ listen 127.0.0.1:{port}; root {www}; ssi on;\n\
           location /p {{ proxy_pass http://{up}; }}\n\
           location /lm {{ proxy_pass http://{up}; ssi_last_modified on; }}\n\
           location /plain {{ proxy_pass http://{up}; }}\n\
           location /types {{ proxy_pass http://{up}/plain; ssi_types text/plain; }}\n\
           location /off {{ proxy_pass http://{up}; ssi off; }}\n\
           location /inc/ {{ }}\n\
           location /args {{ return 200 \"[args $args uri $uri]\"; }}\n\
           location /silent/ {{ ssi_silent_errors on; }}\n\
           location /iff/ {{ ssi off; if ($arg_s) {{ ssi on; }} }}\n\
           location = /both.html {{ add_after_body /inc/showx.html; }}\n\
           location /gz/ {{ gunzip on; gzip_static always; }}\n\
         }}"
    )
}

const FILES: &[(&str, &str)] = &[
    (
        "inc/part.html",
        "(part <!--#echo var=\"x\" --> <!--#echo var=\"arg_q\" -->)",
    ),
    (
        "rel/a.html",
        "A<!--#include virtual=\"b.html\" -->B<!--#include virtual=\"/args?z=$arg_a\" -->",
    ),
    ("rel/b.html", "{b}"),
    (
        "echo.html",
        "<!--#set var=\"v\" value=\"<a href='x'>&amp; \\\"q\\\" \\$x $x\" -->\
         1<!--#echo var=\"v\" -->2<!--#echo var=\"v\" encoding=\"none\" -->\
         3<!--#echo var=\"v\" encoding=\"url\" -->4<!--#echo var=\"nothere\" -->\
         5<!--#echo var=\"nothere\" default=\"\" -->6<!--#echo var=\"EMPTY\" -->",
    ),
    (
        "errors.html",
        "a<!--#nosuch -->b<!--#echo -->c<!--#echo var=\"x\" bad=\"1\" -->\
         d<!--#echo var x -->e<!--#config errmsg=\"[E]\" --><!--#else -->f\
         <!--#include virtual=\"/../x\" -->g<!-- plain comment --><!-x<!--#echo var=\"uri\"-->",
    ),
    ("silent/e.html", "a<!--#nosuch -->b"),
    (
        "set.html",
        "<!--#include virtual=\"/args?s=1\" set=\"got\" -->[<!--#echo var=\"got\" -->]\
         <!--#include virtual=\"/inc/b.html\" wait=\"yes\" -->\
         <!--#block name=\"one\" -->stub <!--#echo var=\"x\" --><!--#endblock -->\
         <!--#include virtual=\"/missing\" stub=\"one\" -->.",
    ),
    ("inc/b.html", "(b)"),
    (
        "cond.html",
        "<!--#if expr=\"$arg_a\" -->A<!--#else -->noA<!--#endif -->\
         <!--#if expr=\"$arg_a != x\" -->notx<!--#endif -->\
         <!--#if expr=\"$arg_a = /(?<word>[a-z]+)/\" -->[<!--#echo var=\"word\" -->]<!--#endif -->\
         <!--#if expr=\"$arg_a\" --><!--#if expr=\"x\" --><!--#endif -->",
    ),
    ("empty.html", ""),
    ("loop.html", "x<!--#include virtual=\"/loop.html\" -->y"),
    ("iff/a.html", "<!--#echo var=\"arg_s\" -->"),
    ("both.html", "<!--#set var=\"x\" value=\"shared\" -->main"),
    ("inc/showx.html", "[<!--#echo var=\"x\" -->]"),
    ("gzinc.html", "<<!--#include virtual=\"/gz/page.html\" -->>"),
];

const CASES: &[(&str, &str, &str)] = &[
    ("GET /p?a=hello", "", "1.1"),
    ("GET /p", "", "1.1"),
    ("GET /lm?a=x", "", "1.1"),
    ("GET /plain", "", "1.1"),
    ("GET /types?a=x", "", "1.1"),
    ("GET /off", "", "1.1"),
    ("GET /rel/a.html?a=7", "", "1.1"),
    ("GET /echo.html", "", "1.1"),
    ("GET /errors.html", "", "1.1"),
    ("GET /silent/e.html", "", "1.1"),
    ("GET /set.html", "", "1.1"),
    ("GET /cond.html?a=abc", "", "1.1"),
    ("GET /cond.html", "", "1.1"),
    ("GET /empty.html", "", "1.1"),
    ("GET /echo.html", "Range: bytes=0-3\r\n", "1.1"),
    ("HEAD /p", "", "1.1"),
    ("GET /p?a=hello", "", "1.0"),
    ("GET /loop.html", "", "1.1"),
    ("GET /iff/a.html?s=1", "", "1.1"),
    ("GET /iff/a.html", "", "1.1"),
    ("GET /both.html", "", "1.1"),
    ("GET /gzinc.html", "", "1.1"),
    ("GET /gzinc.html", "Accept-Encoding: gzip\r\n", "1.1"),
];

fn body(s: &Seen) -> String {
    String::from_utf8_lossy(&s.body).into_owned()
}

#[tokio::test]
async fn commands_are_carried_out_as_nginx_does() {
    let up = backend().await;
    let port = crate::common::free_port();
    let dir = crate::common::temp_dir(&format!("ssi-{port}"));
    let www = dir.join("www");
    for (path, text) in FILES {
        let file = www.join(path);
        std::fs::create_dir_all(file.parent().expect("dir")).expect("dirs");
        std::fs::write(file, text).expect("file");
    }
    // Only the compressed file: `gzip_static always` serves it even to a subrequest.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"inflated").expect("gzip");
    std::fs::create_dir_all(www.join("gz")).expect("gz dir");
    std::fs::write(www.join("gz/page.html.gz"), gz.finish().expect("gzip")).expect("gz");
    let running = serve(&dir, &http(port, up, &www));
    let addr = running.local_addrs()[0];
    let mut seen = Vec::new();
    for case in CASES {
        seen.push(exchange(addr, *case).await);
    }

    // What nginx 1.22 answers, whether or not it is installed here.
    assert_eq!(
        body(&seen[0]),
        "<p>hello</p>[hello](part [hello] 1)|match $2=ello"
    );
    assert_eq!(header(&seen[0].head, "content-length"), None);
    assert_eq!(header(&seen[0].head, "last-modified"), None);
    assert_eq!(header(&seen[0].head, "etag"), None);
    assert_eq!(body(&seen[1]), "<p>none</p>[](part [] 1)|none");
    assert_eq!(header(&seen[2].head, "etag"), Some("W/\"x\""));
    assert_eq!(body(&seen[3]), PAGE, "text/plain is not processed");
    assert!(body(&seen[4]).starts_with("<p>x</p>"), "ssi_types");
    assert_eq!(body(&seen[5]), PAGE, "ssi off");
    assert_eq!(body(&seen[6]), "A{b}B[args z=7 uri /args]");
    assert_eq!(
        body(&seen[7]),
        "1&lt;a href='x'&gt;&amp;amp; &quot;q&quot; $x 2<a href='x'>&amp; \"q\" $x \
         3%3Ca%20href=%27x%27%3E&amp;%20%22q%22%20$x%204(none)56(none)",
        "the encoding stays until changed"
    );
    let err = "[an error occurred while processing the directive]";
    assert_eq!(
        body(&seen[8]),
        format!("a{err}b{err}c{err}d{err}e[E]f[E]g<!-- plain comment --><!-x/errors.html")
    );
    assert_eq!(body(&seen[9]), "ab", "ssi_silent_errors");
    assert_eq!(
        body(&seen[10]),
        "[[args s=1 uri /args]](b)stub (none).",
        "the stub's own commands are carried out"
    );
    assert_eq!(body(&seen[11]), format!("Anotx[abc]{err}"));
    assert_eq!(body(&seen[12]), "noAnotx");
    assert_eq!(body(&seen[13]), "");
    assert!(seen[14].head.starts_with("HTTP/1.1 200 OK\n"), "no range");
    assert_eq!(header(&seen[15].head, "transfer-encoding"), None, "HEAD");
    assert_eq!(header(&seen[16].head, "connection"), Some("close"));
    let depth = "x".repeat(52) + err + &"y".repeat(52);
    assert_eq!(body(&seen[17]), depth, "nginx's 50 levels of subrequests");
    assert_eq!(body(&seen[18]), "1", "ssi on in an if block");
    assert_eq!(body(&seen[19]), "<!--#echo var=\"arg_s\" -->");
    assert_eq!(
        body(&seen[20]),
        "main[shared]",
        "an addition's SSI reads the main request's variables"
    );
    // `ngx_http_gzip_ok` declines a subrequest: gunzip inflates what it includes.
    assert_eq!(body(&seen[21]), "<inflated>");
    assert_eq!(body(&seen[22]), "<inflated>");

    let Some(nginx) = Nginx::serve(|port| http(port, up, &www)) else {
        return;
    };
    for (case, ours) in CASES.iter().zip(&seen) {
        assert_eq!(ours, &exchange(nginx.addr, *case).await, "{case:?}");
    }
}
