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
    $upstream_response_length $upstream_bytes_received $upstream_bytes_sent";

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
            if text.lines().count() >= 5 {
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
    let port = refusing_addr().port();
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
            "/r 200 25 . - - - - -",
            "/r 200 28 . - - - - -",
            "/r 200 49 p - - - - -"
        ]
    );

    let Some(nginx) = Nginx::serve(|port| http(port, &up, &dead)) else {
        return;
    };
    let (nginx_headers, nginx_lines) = run(nginx.addr, &nginx.dir.join("logs/v.log")).await;
    assert_eq!(headers, nginx_headers);
    assert_eq!(lines, nginx_lines);
}
