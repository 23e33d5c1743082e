//! The same requests through nginx and through ngxr, configured alike (the articles'
//! location block): the backend must see the same bytes and the client must get the same
//! answer, `Date` aside. Skipped when nginx is not installed.

use crate::start;
use crate::support::backend::Backend;
use crate::support::nginx::Nginx;
use crate::support::site::{TestSite, peer};
use crate::support::{raw, refusing_addr};

const LOCATION: &str = "proxy_pass http://backend; proxy_read_timeout 300s; \
    proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr; \
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_http_version 1.1; \
    proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;";

const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nServer: backend\r\nDate: yesterday\r\nX-One: 1\r\n\
    Content-Type: text/plain\r\nX-Two: 2\r\nContent-Length: 2\r\n\r\nok";

const CASES: &[&[u8]] = &[
    b"GET /a?x=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: UA\r\nAccept: */*\r\nConnection: close\r\n\r\n",
    b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nX-Custom: c\r\nConnection: close\r\n\r\nhello",
    b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    b"HEAD /h HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    b"GET /spelling HTTP/1.1\r\nhost: t\r\nuser-agent: ua\r\nX-A: 1\r\nx-b: 2\r\nX-A: 3\r\n\
      connection: close\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
      Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    // nginx sends `100 Continue` before reading any body, an empty one included.
    b"POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-Continue\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    b"POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
];

/// Replaces the value of every `Date:` line.
fn undated(response: &str) -> String {
    response
        .split("\r\n")
        .map(|line| {
            if line.starts_with("Date: ") {
                "Date: *"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Sends `request` and reads what comes back until close, or briefly when the server keeps
/// the connection open.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    if request.windows(8).any(|w| w == b"Upgrade:") {
        return crate::support::within(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.write_all(request).await.expect("write");
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.expect("read");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
        .await;
    }
    raw(addr, request).await
}

#[tokio::test]
async fn ngxr_and_nginx_send_and_answer_the_same_bytes() {
    let for_nginx = Backend::http_with(|_| ANSWER.to_vec()).await;
    let for_ngxr = Backend::http_with(|_| ANSWER.to_vec()).await;
    let Some(nginx) = Nginx::start(&format!("server {};", for_nginx.addr), LOCATION) else {
        return;
    };
    let (_proxy, ngxr) = start(TestSite::new(vec![peer(for_ngxr.addr)]));
    for case in CASES {
        let expected = undated(&exchange(nginx.addr, case).await);
        let got = undated(&exchange(ngxr, case).await);
        assert_eq!(
            got,
            expected,
            "client side of {}",
            String::from_utf8_lossy(case)
        );
    }
    let heads = |b: &Backend| {
        b.requests()
            .into_iter()
            .map(|r| (r.head, r.body))
            .collect::<Vec<_>>()
    };
    assert_eq!(heads(&for_ngxr), heads(&for_nginx), "what the backends saw");
}

#[tokio::test]
async fn the_502_is_byte_for_byte_nginx_s() {
    let dead = refusing_addr();
    let Some(nginx) = Nginx::start(&format!("server {dead};"), LOCATION) else {
        return;
    };
    let (_proxy, ngxr) = start(TestSite::new(vec![peer(dead)]));
    let case = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_eq!(
        undated(&raw(ngxr, case).await),
        undated(&raw(nginx.addr, case).await)
    );
    let chrome = b"GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: Mozilla/5.0 Chrome/120.0\r\n\
                   Connection: close\r\n\r\n";
    assert_eq!(
        undated(&raw(ngxr, chrome).await),
        undated(&raw(nginx.addr, chrome).await)
    );
}

#[tokio::test]
async fn the_101_is_byte_for_byte_nginx_s() {
    // This backend spells its headers in lower case (`sec-websocket-accept`): nginx passes
    // them as they are, and so must ngxr.
    let echo = Backend::ws_echo("e").await;
    let Some(nginx) = Nginx::start(&format!("server {};", echo.addr), LOCATION) else {
        return;
    };
    let (_proxy, ngxr) = start(TestSite::new(vec![peer(echo.addr)]));
    let case = CASES[6];
    let expected = undated(&exchange(nginx.addr, case).await);
    assert!(
        expected.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{expected}"
    );
    assert_eq!(undated(&exchange(ngxr, case).await), expected);
}

#[tokio::test]
async fn upstream_header_spelling_passes_through() {
    let answer = b"HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nx-lower: 1\r\nX-UPPER: 2\r\n\
        WWW-Authenticate: Basic\r\nContent-Length: 2\r\n\r\nok";
    let for_nginx = Backend::http_with(move |_| answer.to_vec()).await;
    let for_ngxr = Backend::http_with(move |_| answer.to_vec()).await;
    let Some(nginx) = Nginx::start(&format!("server {};", for_nginx.addr), LOCATION) else {
        return;
    };
    let (_proxy, ngxr) = start(TestSite::new(vec![peer(for_ngxr.addr)]));
    for _ in 0..2 {
        // Twice: the spelling must not depend on what came before.
        let expected = undated(&raw(nginx.addr, CASES[0]).await);
        assert!(
            expected.contains("\r\nETag: \"v1\"\r\nx-lower: 1\r\nX-UPPER: 2\r\n"),
            "{expected}"
        );
        assert_eq!(undated(&raw(ngxr, CASES[0]).await), expected);
    }
}

/// Heads nginx refuses or reads in its own way: the client must get nginx's answer (its
/// error page, its status line) and the backend what nginx's would see.
const ODD_HEADS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  folded\r\nConnection: close\r\n\r\n",
    b"get / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nBad\x01Name: 1\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: t\r\n\r\n",
    b"GET /a b HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"\r\n\nGET /lf HTTP/1.1\nHost: t\nNo-Colon\nConnection: close\n\n",
    b"GET /old HTTP/1.0\r\nHost: t\r\n\r\n",
    // Bytes that are not UTF-8 in the target: nginx takes any byte but controls and spaces.
    b"GET /caf\xe9?q=\xff HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
];

#[tokio::test]
async fn odd_and_malformed_heads_get_nginx_s_answers() {
    let for_nginx = Backend::http_with(|_| ANSWER.to_vec()).await;
    let for_ngxr = Backend::http_with(|_| ANSWER.to_vec()).await;
    let Some(nginx) = Nginx::start(&format!("server {};", for_nginx.addr), LOCATION) else {
        return;
    };
    let (_proxy, ngxr) = start(TestSite::new(vec![peer(for_ngxr.addr)]));
    let long_uri = [
        b"GET /".as_slice(),
        &[b'a'; 9000],
        b" HTTP/1.1\r\nHost: t\r\n\r\n",
    ]
    .concat();
    let long_header = [
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: ".as_slice(),
        &[b'a'; 9000],
        b"\r\n\r\n",
    ]
    .concat();
    let cases = ODD_HEADS
        .iter()
        .copied()
        .chain([long_uri.as_slice(), long_header.as_slice()]);
    for case in cases {
        let expected = undated(&raw(nginx.addr, case).await);
        let got = undated(&raw(ngxr, case).await);
        assert_eq!(
            got,
            expected,
            "client side of {:?}",
            String::from_utf8_lossy(&case[..case.len().min(80)])
        );
    }
    let heads = |b: &Backend| {
        b.requests()
            .into_iter()
            .map(|r| (r.head, r.body))
            .collect::<Vec<_>>()
    };
    assert_eq!(heads(&for_ngxr), heads(&for_nginx), "what the backends saw");
}

/// Sends `request` and reads the response head, up to its blank line.
async fn head_of(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    crate::support::within(async {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(request).await.expect("write");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).await.expect("read") == 1 {
            head.push(byte[0]);
        }
        undated(&String::from_utf8_lossy(&head))
    })
    .await
}

#[tokio::test]
async fn a_101_to_a_request_that_did_not_upgrade_is_passed_on_not_502() {
    // nginx-tests ssl_proxy_upgrade.t "log - bytes noupgrade": nginx passes the 101 on as an
    // ordinary answer, with its own reason phrase and `Connection: upgrade`.
    let answer =
        b"HTTP/1.1 101 Switching\r\nUpgrade: foo\r\nConnection: close\r\n\r\nhandshaked\r\n";
    let for_nginx = Backend::http_with(move |_| answer.to_vec()).await;
    let for_ngxr = Backend::http_with(move |_| answer.to_vec()).await;
    let case = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n\r\n";
    let (_proxy, ngxr) = start(TestSite::new(vec![peer(for_ngxr.addr)]));
    let expected = "HTTP/1.1 101 Switching\r\nServer: nginx/1.22.1\r\nDate: *\r\n\
                    Connection: upgrade\r\nUpgrade: foo\r\n\r\n";
    assert_eq!(head_of(ngxr, case).await, expected);
    let Some(nginx) = Nginx::start(&format!("server {};", for_nginx.addr), LOCATION) else {
        return;
    };
    assert_eq!(head_of(nginx.addr, case).await, expected);
}
