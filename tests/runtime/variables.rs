//! Variables that only the runtime can give a value: `add_header` evaluated once the upstream
//! answered (`$upstream_*` per server tried, `-` for what is not known yet), and access-log
//! lines with `$request_length`, `$pipe` and the upstream byte counts. The same configuration
//! runs through ngxr and, when installed, nginx; the answers and log lines must be equal.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::backend::Backend;
use crate::support::nginx::Nginx;
use crate::support::{header, raw, refusing_addr, within};
use ngxr::cli::Paths;
use ngxr::runtime::Server;

const LOG: &str = "$uri $status $request_length $pipe $upstream_addr $upstream_status \
    $upstream_response_length $upstream_bytes_received $upstream_bytes_sent $body_bytes_sent \
    [$args]";

/// The `http` block body, listening on `port`, proxying to `up` or to `dead` (refusing).
fn http(port: u16, up: &str, dead: &str) -> String {
    format!(
        "log_format v '{LOG}';\n\
         server {{ listen 127.0.0.1:{port}; access_log logs/v.log v;\n\
           location /p {{ proxy_pass http://{up};\n\
             add_header X-Up \"$upstream_addr|$upstream_status|$upstream_response_length|$upstream_response_time|$status|$upstream_http_x_backend\"; }}\n\
           location /dead {{ proxy_pass http://{dead};\n\
             add_header X-Up \"$upstream_addr|$upstream_status|$upstream_connect_time|$upstream_header_time|$upstream_bytes_sent\" always; }}\n\
           location /r {{ return 200 ok; }}\n\
         }}"
    )
}

/// Requests and the header each answer is checked by (`None`: the log line only).
const REQUESTS: &[(&[u8], Option<&str>)] = &[
    (b"GET /p HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", Some("X-Up")),
    (b"GET /dead HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", Some("X-Up")),
    (b"GET /r HTTP/1.0\nHost: t\n\n", None),
    (
        b"GET /r HTTP/1.1\r\nHost: t\r\n\r\nGET /r?2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        None,
    ),
    // nginx counts the `100 Continue` it wrote in `$body_bytes_sent`.
    (
        b"POST /r HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        None,
    ),
    // A `?` with nothing after it: `$args` is not found either (`-`).
    (b"GET /r? HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", None),
];

/// The checked headers of each answer, then the access-log lines.
async fn run(addr: std::net::SocketAddr, log: &Path) -> (Vec<String>, Vec<String>) {
    let mut headers = Vec::new();
    for (request, name) in REQUESTS {
        let answer = raw(addr, request).await;
        if let Some(name) = name {
            headers.push(header(&answer, name).unwrap_or("(none)").to_string());
        }
    }
    let lines = within(async {
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.lines().count() >= 7 {
                return text.lines().map(str::to_string).collect();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    (headers, lines)
}

#[tokio::test]
async fn upstream_and_request_variables_read_as_in_nginx() {
    let backend = Backend::http("b").await;
    let (up, dead) = (backend.addr.to_string(), refusing_addr().to_string());
    let port = crate::common::free_port();
    let dir = std::env::temp_dir().join(format!("ngxr-vars-{}-{port}", std::process::id()));
    std::fs::create_dir_all(dir.join("logs")).expect("prefix");
    let conf = dir.join("nginx.conf");
    let text = format!(
        "error_log stderr crit; events {{}}\nhttp {{ {} }}\n",
        http(port, &up, &dead)
    );
    std::fs::write(&conf, text).expect("conf");
    let site = ngxr::load::site_for_serving(&Paths::resolve(Some(&dir), Some(&conf)), None)
        .expect("the configuration loads");
    let running = Server::start(Arc::clone(&site)).expect("server starts");
    let started = Instant::now();
    let (headers, lines) = run(running.local_addrs()[0], &dir.join("logs/v.log")).await;
    assert!(started.elapsed() < Duration::from_secs(10));

    // What nginx 1.22 answers, whether or not it is installed here.
    assert_eq!(
        headers,
        [format!("{up}|200|0|-|200|b"), format!("{dead}|502|-|-|0"),]
    );
    assert_eq!(
        lines[2..],
        [
            "/r 200 25 . - - - - - 2 [-]",
            "/r 200 28 . - - - - - 2 [-]",
            "/r 200 49 p - - - - - 2 [2]",
            "/r 200 89 . - - - - - 27 [-]",
            "/r 200 48 . - - - - - 2 [-]"
        ]
    );

    let Some(nginx) = Nginx::serve(|port| http(port, &up, &dead)) else {
        return;
    };
    let (nginx_headers, nginx_lines) = run(nginx.addr, &nginx.dir.join("logs/v.log")).await;
    assert_eq!(headers, nginx_headers);
    assert_eq!(lines, nginx_lines);
}

/// `$connection` on a sequence of fresh client connections: nginx numbers every upstream
/// connection it opens from the same counter as the clients (a refused one too), and a
/// cached keepalive connection keeps its number.
fn numbered(port: u16, up: &str, dead: &str) -> String {
    format!(
        "upstream ka {{ server {up}; keepalive 2; }}\n\
         server {{ listen 127.0.0.1:{port}; add_header X-C $connection always;\n\
           location /p {{ proxy_pass http://{up}; }}\n\
           location /ka {{ proxy_pass http://ka; proxy_http_version 1.1;\n\
             proxy_set_header Connection \"\"; }}\n\
           location /dead {{ proxy_pass http://{dead}; }}\n\
           location /r {{ return 204; }}\n\
         }}"
    )
}

/// The `X-C` of each request, each on a connection of its own, counted from the first (the
/// harness's readiness probe already took a number from nginx).
async fn connection_numbers(addr: std::net::SocketAddr) -> Vec<String> {
    let mut numbers = Vec::new();
    let mut first = None;
    for path in ["/p", "/p", "/r", "/ka", "/ka", "/dead", "/r"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let answer = raw(addr, request.as_bytes()).await;
        let number: u64 = header(&answer, "X-C")
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        let first = *first.get_or_insert(number);
        numbers.push(format!("{path} +{}", number - first));
    }
    numbers
}

#[tokio::test]
async fn upstream_connections_take_connection_numbers_as_in_nginx() {
    let backend = Backend::http("b").await;
    let (up, dead) = (backend.addr.to_string(), refusing_addr().to_string());
    let port = crate::common::free_port();
    let dir = std::env::temp_dir().join(format!("ngxr-numbers-{}-{port}", std::process::id()));
    std::fs::create_dir_all(dir.join("logs")).expect("prefix");
    let conf = dir.join("nginx.conf");
    let text = format!(
        "error_log stderr crit; events {{}}\nhttp {{ {} }}\n",
        numbered(port, &up, &dead)
    );
    std::fs::write(&conf, text).expect("conf");
    let site = ngxr::load::site_for_serving(&Paths::resolve(Some(&dir), Some(&conf)), None)
        .expect("the configuration loads");
    let running = Server::start(site).expect("server starts");
    let got = connection_numbers(running.local_addrs()[0]).await;
    // What nginx 1.22 answers, whether or not it is installed here.
    let expected = [
        "/p +0", "/p +2", "/r +4", "/ka +5", "/ka +7", "/dead +8", "/r +10",
    ];
    assert_eq!(got, expected);

    let Some(nginx) = Nginx::serve(|port| numbered(port, &up, &dead)) else {
        return;
    };
    assert_eq!(connection_numbers(nginx.addr).await, expected);
}

/// `add_header` lines reading the answer they are added to: its status and the headers set
/// before them (the earlier `add_header`s included, the later ones not).
fn heads(port: u16, up: &str) -> String {
    format!(
        "server {{ listen 127.0.0.1:{port};\n\
           location /r {{ add_header X-A a;\n\
             add_header X-S \"$status|$sent_http_x_a|$sent_http_content_type|$sent_http_content_length|$sent_http_x_b\";\n\
             add_header X-B b; return 201 hi; }}\n\
           location /p {{ proxy_pass http://{up};\n\
             add_header X-S \"$status|$sent_http_x_backend|$sent_http_content_length|$sent_http_connection|$sent_http_server|$sent_http_transfer_encoding\"; }}\n\
         }}"
    )
}

/// The `X-S` of `/r` and `/p`.
async fn seen_by_add_header(addr: std::net::SocketAddr) -> Vec<String> {
    let mut seen = Vec::new();
    for path in ["/r", "/p"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let answer = raw(addr, request.as_bytes()).await;
        seen.push(header(&answer, "X-S").unwrap_or("(none)").to_string());
    }
    seen
}

#[tokio::test]
async fn add_header_reads_the_status_and_headers_being_sent() {
    let backend = Backend::http("b").await;
    let up = backend.addr.to_string();
    let port = crate::common::free_port();
    let dir = std::env::temp_dir().join(format!("ngxr-heads-{}-{port}", std::process::id()));
    std::fs::create_dir_all(dir.join("logs")).expect("prefix");
    let conf = dir.join("nginx.conf");
    let text = format!(
        "error_log stderr crit; events {{}}\nhttp {{ {} }}\n",
        heads(port, &up)
    );
    std::fs::write(&conf, text).expect("conf");
    let site = ngxr::load::site_for_serving(&Paths::resolve(Some(&dir), Some(&conf)), None)
        .expect("the configuration loads");
    let running = Server::start(site).expect("server starts");
    let got = seen_by_add_header(running.local_addrs()[0]).await;
    // What nginx 1.22 answers, whether or not it is installed here.
    let expected = ["201|a|text/plain|2|", "200|b|1|close||"];
    assert_eq!(got, expected);

    let Some(nginx) = Nginx::serve(|port| heads(port, &up)) else {
        return;
    };
    assert_eq!(seen_by_add_header(nginx.addr).await, expected);
}
