//! HTTP proxying: what the backend sees, what the client gets, errors as nginx answers them.

use std::sync::Arc;
use std::time::Duration;

use crate::start;
use crate::support::backend::{Backend, ok};
use crate::support::site::{RedirectPrefix, TestSite, group, log_to, peer};
use crate::support::{body, get, header, raw, refusing_addr, within};

#[tokio::test]
async fn the_backend_sees_the_planned_request_line_and_headers_in_order() {
    let b = Backend::http("a").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let req = b"GET /chat?x=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t\r\nConnection: close\r\n\r\n";
    let response = raw(addr, req).await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    let seen = b.requests();
    assert_eq!(
        seen[0].head,
        "GET /chat?x=1 HTTP/1.1\r\nHost: example.test\r\nX-Real-IP: 127.0.0.1\r\n\
         X-Forwarded-For: 127.0.0.1\r\nConnection: close\r\nUser-Agent: t\r\n\r\n"
    );
}

#[tokio::test]
async fn every_keep_alive_request_keeps_the_client_s_header_spelling() {
    let b = Backend::http("a").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let one = "POST /1 HTTP/1.1\r\nHost: t\r\nx-lower: 1\r\nContent-Length: 3\r\n\r\nabc";
    let two = "GET /2 HTTP/1.1\r\nHost: t\r\nX-MiXed: 2\r\nConnection: close\r\n\r\n";
    let response = raw(addr, format!("{one}{two}").as_bytes()).await;
    assert_eq!(response.matches("HTTP/1.1 200 OK").count(), 2, "{response}");
    let seen = b.requests();
    assert!(
        seen[0].head.contains("\r\nx-lower: 1\r\n"),
        "{}",
        seen[0].head
    );
    assert!(
        seen[1].head.contains("\r\nX-MiXed: 2\r\n"),
        "{}",
        seen[1].head
    );
}

#[tokio::test]
async fn responses_look_like_nginx_s() {
    let b = Backend::http("a").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let response = get(addr, "/").await;
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    let names: Vec<&str> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(
        names,
        [
            "Server",
            "Date",
            "Content-Length",
            "Connection",
            "X-Backend"
        ],
        "{head}"
    );
    assert_eq!(header(&response, "server"), Some("nginx/1.22.1"));
    assert_eq!(header(&response, "connection"), Some("close"));
    assert_eq!(body(&response), "a");
}

#[tokio::test]
async fn keep_alive_and_pipelined_requests_share_one_connection() {
    let b = Backend::http("a").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let one = "GET /1 HTTP/1.1\r\nHost: t\r\n\r\n";
    let last = "GET /3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let response = raw(addr, format!("{one}{one}{last}").as_bytes()).await;
    assert_eq!(response.matches("HTTP/1.1 200 OK").count(), 3, "{response}");
    assert_eq!(response.matches("Connection: keep-alive").count(), 2);
    assert_eq!(b.requests().len(), 3);
}

#[tokio::test]
async fn an_http_1_0_client_gets_its_answer_and_a_close() {
    let b = Backend::http("a").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let response = raw(addr, b"GET / HTTP/1.0\r\n\r\n").await;
    // nginx answers every client in HTTP/1.1.
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert_eq!(header(&response, "connection"), Some("close"));
    assert_eq!(body(&response), "a");
}

#[tokio::test]
async fn proxy_redirect_rewrites_location_and_refresh() {
    let b = Backend::http_with(|_| {
        b"HTTP/1.1 302 Found\r\nX-A: 1\r\nLocation: http://up/x/y\r\n\
          Refresh: 3; url=http://up/x/z\r\nContent-Length: 0\r\n\r\n"
            .to_vec()
    })
    .await;
    let mut site = TestSite::new(vec![peer(b.addr)]);
    site.redirects = Some(Arc::new(RedirectPrefix("http://up/x/", "/app/")));
    site.location_base = Some("http://t".into());
    let (_proxy, addr) = start(site);
    let response = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(header(&response, "location"), Some("http://t/app/y"));
    assert_eq!(header(&response, "refresh"), Some("3; url=/app/z"));
    // The absolute Location moves to the header filter's place, before Connection.
    let location = response.find("Location:").expect("location");
    assert!(location < response.find("Connection:").expect("connection"));
}

#[tokio::test]
async fn chunked_bodies_both_ways() {
    let b = Backend::http_with(|_| {
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
            .to_vec()
    })
    .await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let req =
        b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let response = raw(addr, req).await;
    assert_eq!(header(&response, "transfer-encoding"), Some("chunked"));
    assert!(
        body(&response).starts_with("7\r\nabcdefg\r\n") || body(&response).starts_with("3\r\nabc"),
        "{response}"
    );
    assert!(body(&response).ends_with("0\r\n\r\n"));
    let seen = &b.requests()[0];
    assert!(
        seen.head.contains("Content-Length: 11\r\n"),
        "{}",
        seen.head
    );
    assert_eq!(seen.body, b"hello world");
}

#[tokio::test]
async fn a_large_body_streams_to_the_backend() {
    let b = Backend::http("a").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let payload = vec![b'x'; 300 * 1024];
    let mut req = format!(
        "PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    )
    .into_bytes();
    req.extend_from_slice(&payload);
    let response = raw(addr, &req).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(b.requests()[0].body.len(), payload.len());
}

#[tokio::test]
async fn no_reachable_server_gives_nginx_s_502_page() {
    let (_proxy, addr) = start(TestSite::new(vec![peer(refusing_addr())]));
    let response = get(addr, "/").await;
    assert!(
        response.starts_with("HTTP/1.1 502 Bad Gateway\r\nServer: nginx/1.22.1\r\n"),
        "{response}"
    );
    assert_eq!(header(&response, "content-type"), Some("text/html"));
    assert_eq!(
        body(&response),
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
         <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n\
         </body>\r\n</html>\r\n"
    );
}

#[tokio::test]
async fn a_silent_server_gives_504_after_proxy_read_timeout() {
    let b = Backend::silent().await;
    let mut site = TestSite::new(vec![peer(b.addr)]);
    site.timeouts.read = Duration::from_millis(300);
    let (_proxy, addr) = start(site);
    let started = std::time::Instant::now();
    let response = get(addr, "/").await;
    assert!(
        response.starts_with("HTTP/1.1 504 Gateway Time-out\r\n"),
        "{response}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn client_max_body_size_gives_413() {
    let b = Backend::http("a").await;
    let mut site = TestSite::new(vec![peer(b.addr)]);
    site.client_max_body_size = 10;
    let (_proxy, addr) = start(site);
    let req = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world";
    let response = raw(addr, req).await;
    assert!(
        response.starts_with("HTTP/1.1 413 Request Entity Too Large\r\n"),
        "{response}"
    );
    assert_eq!(header(&response, "connection"), Some("close"));
    assert!(b.requests().is_empty());
}

#[tokio::test]
async fn a_direct_answer_skips_the_backend() {
    let b = Backend::http("a").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let response = get(addr, "/return").await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert_eq!(header(&response, "content-type"), Some("text/plain"));
    assert_eq!(body(&response), "returned\n");
    assert!(b.requests().is_empty());
}

#[tokio::test]
async fn keepalive_upstreams_reuse_connections_and_others_do_not() {
    for (keepalive, expected) in [(Some(4), 1), (None, 3)] {
        let b = Backend::http_with(|_| ok("a")).await;
        let policy = ngxr::eval::plan::Balance::RoundRobin;
        let site = TestSite::with_group(group(policy, vec![peer(b.addr)], keepalive));
        let (_proxy, addr) = start(site);
        for _ in 0..3 {
            assert!(get(addr, "/").await.starts_with("HTTP/1.1 200"));
        }
        assert_eq!(b.requests().len(), 3);
        assert_eq!(b.connection_count(), expected, "keepalive {keepalive:?}");
    }
}

#[tokio::test]
async fn the_access_log_gets_a_line_per_request() {
    let dir = std::env::temp_dir().join(format!("ngxr-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("access.log");
    let _ = std::fs::remove_file(&path);
    let b = Backend::http("a").await;
    let mut site = TestSite::new(vec![peer(b.addr)]);
    site.log = log_to(path.clone());
    let (_proxy, addr) = start(site);
    get(addr, "/logged").await;
    let line = within(async {
        loop {
            if let Ok(text) = std::fs::read_to_string(&path)
                && !text.is_empty()
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(
        line,
        format!("GET /logged HTTP/1.1 200 1 {} nginx/1.22.1\n", b.addr)
    );
}

#[tokio::test]
async fn a_head_request_gets_the_upstream_length_and_no_body() {
    let b = Backend::http_with(|_| b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".to_vec()).await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let response = raw(
        addr,
        b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert_eq!(header(&response, "content-length"), Some("5"));
    assert_eq!(body(&response), "");
}

#[tokio::test]
async fn a_close_delimited_megabyte_streams_to_the_client_chunked() {
    let b = Backend::http_with(|_| {
        let mut r = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        r.extend(std::iter::repeat_n(b'z', 1024 * 1024));
        r
    })
    .await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let response = get(addr, "/").await;
    assert_eq!(header(&response, "transfer-encoding"), Some("chunked"));
    let payload: usize = body(&response).bytes().filter(|&c| c == b'z').count();
    assert_eq!(payload, 1024 * 1024);
    assert!(body(&response).ends_with("\r\n0\r\n\r\n"));
}

#[tokio::test]
async fn bare_lf_requests_are_understood() {
    let b = Backend::http("a").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let response = raw(addr, b"GET /lf HTTP/1.1\nHost: t\nConnection: close\n\n").await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        b.requests()[0]
            .head
            .starts_with("GET /lf HTTP/1.1\r\nHost: t\r\n")
    );
}

#[tokio::test]
async fn worker_connections_caps_open_connections() {
    let b = Backend::http("a").await;
    let mut site = TestSite::new(vec![peer(b.addr)]);
    site.worker_connections = 1;
    site.workers = 1;
    let (_proxy, addr) = start(site);
    let mut first = within(tokio::net::TcpStream::connect(addr))
        .await
        .expect("first");
    // The first connection holds the only slot: the second is closed unanswered.
    let second = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(second, "");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    first
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    within(first.read_to_string(&mut out)).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
}

#[tokio::test]
async fn return_444_closes_without_an_answer() {
    let b = Backend::http("a").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    assert_eq!(get(addr, "/444").await, "");
    assert!(b.requests().is_empty());
}

#[tokio::test]
async fn an_http_1_0_keep_alive_client_is_told_close_when_the_length_is_unknown() {
    let b = Backend::http_with(|_| {
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n".to_vec()
    })
    .await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let response = raw(addr, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").await;
    assert_eq!(header(&response, "connection"), Some("close"), "{response}");
    assert_eq!(header(&response, "transfer-encoding"), None);
    assert_eq!(body(&response), "hi");
}

#[tokio::test]
async fn a_client_that_leaves_before_the_answer_is_logged_as_499() {
    let dir = std::env::temp_dir().join(format!("ngxr-499-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("access.log");
    let _ = std::fs::remove_file(&path);
    let b = Backend::silent().await;
    let mut site = TestSite::new(vec![peer(b.addr)]);
    site.log = log_to(path.clone());
    let (_proxy, addr) = start(site);
    {
        use tokio::io::AsyncWriteExt;
        let mut s = within(tokio::net::TcpStream::connect(addr))
            .await
            .expect("connect");
        s.write_all(b"GET /gone HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .expect("write");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let line = within(async {
        loop {
            if let Ok(text) = std::fs::read_to_string(&path)
                && !text.is_empty()
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(line.starts_with("GET /gone HTTP/1.1 499 0"), "{line}");
}
