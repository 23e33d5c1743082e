//! `gzip on` as nginx serves it: proxied answers, `return` texts and nginx's own pages
//! compressed for clients that accept gzip, the head rewritten (`Content-Encoding`, chunked,
//! `Vary`, weak `ETag`, no `Accept-Ranges`), `gzip_proxied` for requests with `Via`, and
//! event streams flushed as they come. The same configuration runs through ngxr and, when
//! installed, nginx: heads must be equal and bodies equal once decompressed (zlib's bytes
//! themselves may differ).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::backend::Backend;
use crate::support::nginx::Nginx;
use crate::support::within;
use ngxr::cli::Paths;
use ngxr::runtime::{Running, Server};

const HTML: &str = "<html><body><p>hello, compressed world</p></body></html>";

/// The backend's answer for a path: 53-byte HTML with an `ETag` and `Accept-Ranges`, in
/// variants that the filter must treat differently.
fn answer(head: &str) -> Vec<u8> {
    let path = head.split(' ').nth(1).unwrap_or("/");
    let extra = if path.ends_with("/expired") {
        "Expires: Thu, 01 Jan 1970 00:00:01 GMT\r\n"
    } else if path.ends_with("/encoded") {
        "Content-Encoding: br\r\n"
    } else if path.ends_with("/cached") {
        "Cache-Control: max-age=60\r\n"
    } else {
        ""
    };
    let body = if path.ends_with("/tiny") {
        "<p/>"
    } else {
        HTML
    };
    let framing = if path.ends_with("/chunked") {
        format!(
            "Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        )
    } else {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    };
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nETag: \"abc\"\r\n\
         Accept-Ranges: bytes\r\n{extra}X-After: 1\r\n{framing}"
    )
    .into_bytes()
}

fn http(port: u16, up: SocketAddr) -> String {
    format!(
        "log_format g '$uri $status $gzip_ratio';\n\
         gzip on; gzip_vary on;\n\
         server {{ listen 127.0.0.1:{port}; access_log logs/g.log g;\n\
           location /p {{ proxy_pass http://{up}; }}\n\
           location /any {{ proxy_pass http://{up}; gzip_proxied any; }}\n\
           location /exp {{ proxy_pass http://{up}; gzip_proxied expired; }}\n\
           location /level {{ proxy_pass http://{up}; gzip_comp_level 9; gzip_http_version 1.0; }}\n\
           location /off {{ proxy_pass http://{up}; gzip off; }}\n\
           location /curl {{ proxy_pass http://{up}; gzip_disable \"^curl/\"; }}\n\
           location /text {{ return 200 \"plain text that is long enough to compress\\n\"; }}\n\
           location /html {{ default_type text/html; return 200 \"{HTML}\"; }}\n\
           location /short {{ default_type text/html; return 200 \"<p>short</p>\"; }}\n\
           location /star {{ gzip_types *; return 200 \"plain text that is long enough to compress\\n\"; }}\n\
           location /missing {{ }}\n\
         }}"
    )
}

/// Each case: method and path, extra request headers, HTTP version.
const CASES: &[(&str, &str, &str)] = &[
    ("GET /p", "Accept-Encoding: gzip, deflate\r\n", "1.1"),
    (
        "GET /p",
        "Accept-Encoding: gzip\r\nVia: 1.1 proxy\r\n",
        "1.1",
    ),
    ("GET /p", "", "1.1"),
    ("GET /p", "Accept-Encoding: gzip;q=0\r\n", "1.1"),
    ("GET /p", "Accept-Encoding: gzip\r\n", "1.0"),
    ("HEAD /p", "Accept-Encoding: gzip\r\n", "1.1"),
    ("GET /p/chunked", "Accept-Encoding: gzip\r\n", "1.1"),
    ("GET /p/encoded", "Accept-Encoding: gzip\r\n", "1.1"),
    ("GET /p/tiny", "Accept-Encoding: gzip\r\n", "1.1"),
    ("GET /any", "Accept-Encoding: gzip\r\nVia: x\r\n", "1.1"),
    (
        "GET /exp/expired",
        "Accept-Encoding: gzip\r\nVia: x\r\n",
        "1.1",
    ),
    (
        "GET /exp/cached",
        "Accept-Encoding: gzip\r\nVia: x\r\n",
        "1.1",
    ),
    ("GET /exp", "Accept-Encoding: gzip\r\nVia: x\r\n", "1.1"),
    ("GET /level", "Accept-Encoding: gzip\r\n", "1.0"),
    ("GET /off", "Accept-Encoding: gzip\r\n", "1.1"),
    (
        "GET /curl",
        "Accept-Encoding: gzip\r\nUser-Agent: curl/8.5\r\n",
        "1.1",
    ),
    (
        "GET /curl",
        "Accept-Encoding: gzip\r\nUser-Agent: Wget\r\n",
        "1.1",
    ),
    ("GET /text", "Accept-Encoding: gzip\r\n", "1.1"),
    ("GET /html", "Accept-Encoding: gzip\r\n", "1.1"),
    ("GET /short", "Accept-Encoding: gzip\r\n", "1.1"),
    ("GET /star", "Accept-Encoding: gzip\r\n", "1.1"),
    ("GET /missing", "Accept-Encoding: gzip\r\n", "1.1"),
];

/// A response: its head with `Date` blanked, and its body de-chunked and gunzipped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

pub(crate) fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(": ")?;
        n.eq_ignore_ascii_case(name).then_some(v)
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..eol]).unwrap_or("0");
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        let start = eol + 2;
        if size == 0 || start + size > data.len() {
            break;
        }
        out.extend_from_slice(&data[start..start + size]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// The decompressed body, or a description of what was not a whole gzip stream.
fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    match flate2::read::GzDecoder::new(data).read_to_end(&mut plain) {
        Ok(_) => plain,
        Err(e) => format!("not gzip ({e}): {data:?}").into_bytes(),
    }
}

pub(crate) fn parse(response: &[u8]) -> Seen {
    let at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |i| i + 4);
    let head: String = String::from_utf8_lossy(&response[..at])
        .lines()
        .map(|l| {
            if l.starts_with("Date: ") {
                "Date: *"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut body = response[at..].to_vec();
    if header(&head, "transfer-encoding") == Some("chunked") {
        body = dechunk(&body);
    }
    // A HEAD answer says gzip and has no body.
    if header(&head, "content-encoding") == Some("gzip") && !body.is_empty() {
        body = gunzip(&body);
    }
    Seen { head, body }
}

pub(crate) async fn exchange(
    addr: SocketAddr,
    (line, headers, version): (&str, &str, &str),
) -> Seen {
    let request = format!("{line} HTTP/{version}\r\nHost: t\r\n{headers}Connection: close\r\n\r\n");
    within(async {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(request.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        parse(&out)
    })
    .await
}

pub(crate) fn serve(dir: &std::path::Path, http: &str) -> Running {
    std::fs::create_dir_all(dir.join("logs")).expect("prefix");
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!("error_log stderr crit; events {{}}\nhttp {{ {http} }}\n"),
    )
    .expect("conf");
    let site = ngxr::load::site_for_serving(&Paths::resolve(Some(dir), Some(&conf)), None)
        .expect("the configuration loads");
    Server::start(Arc::clone(&site)).expect("server starts")
}

/// The access log's lines once `n` are written.
async fn log_lines(path: &std::path::Path, n: usize) -> Vec<String> {
    within(async {
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.lines().count() >= n {
                return text.lines().map(str::to_string).collect();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn responses_are_gzipped_as_nginx_gzips_them() {
    let backend = Backend::http_with(|r| answer(&r.head)).await;
    let port = crate::common::free_port();
    let dir = crate::common::temp_dir(&format!("gzip-{port}"));
    let running = serve(&dir, &http(port, backend.addr));
    let addr = running.local_addrs()[0];
    let mut seen = Vec::new();
    for case in CASES {
        seen.push(exchange(addr, *case).await);
    }
    for (case, s) in CASES.iter().zip(&seen) {
        assert!(!s.body.starts_with(b"not gzip"), "{case:?}: {s:?}");
    }

    // What nginx 1.22 answers, whether or not it is installed here.
    let first = &seen[0];
    assert_eq!(
        first.head,
        "HTTP/1.1 200 OK\nServer: nginx/1.22.1\nDate: *\nContent-Type: text/html; charset=utf-8\n\
         Transfer-Encoding: chunked\nConnection: close\nVary: Accept-Encoding\nETag: W/\"abc\"\n\
         X-After: 1\nContent-Encoding: gzip\n"
    );
    assert_eq!(first.body, HTML.as_bytes());
    let gzipped: Vec<bool> = seen
        .iter()
        .map(|s| header(&s.head, "content-encoding") == Some("gzip"))
        .collect();
    assert_eq!(
        gzipped,
        [
            true, false, false, false, false, true, true, false, false, true, true, false, true,
            true, false, false, true, false, true, false, true, true
        ]
    );
    // Vary goes out whenever the response itself qualified, even to a client without gzip.
    assert_eq!(header(&seen[2].head, "vary"), Some("Accept-Encoding"));
    // A HEAD answer's head says gzip (nginx decides before it knows there is no body).
    assert_eq!(header(&seen[5].head, "vary"), Some("Accept-Encoding"));
    assert_eq!(header(&seen[5].head, "content-length"), None);
    assert_eq!(header(&seen[5].head, "transfer-encoding"), None);
    assert_eq!(header(&seen[17].head, "vary"), None, "text/plain");
    // HTTP/1.0 with `gzip_http_version 1.0`: no length, the connection closes.
    assert_eq!(header(&seen[13].head, "connection"), Some("close"));
    assert_eq!(header(&seen[13].head, "content-length"), None);
    assert!(seen[21].head.starts_with("HTTP/1.1 404 Not Found\n"));
    assert!(String::from_utf8_lossy(&seen[21].body).contains("<center>nginx/1.22.1</center>"));
    let ngxr_log = log_lines(&dir.join("logs/g.log"), CASES.len()).await;
    let ratios = |lines: &[String]| -> Vec<bool> {
        lines
            .iter()
            .map(|l| {
                let ratio = l.rsplit(' ').next().unwrap_or("-");
                ratio != "-" && ratio.contains('.')
            })
            .collect()
    };
    // `$gzip_ratio` needs a body: not found for the HEAD.
    let mut compressed = gzipped.clone();
    compressed[5] = false;
    assert_eq!(ratios(&ngxr_log), compressed, "$gzip_ratio: {ngxr_log:?}");

    let Some(nginx) = Nginx::serve(|port| http(port, backend.addr)) else {
        return;
    };
    for (case, ours) in CASES.iter().zip(&seen) {
        assert_eq!(ours, &exchange(nginx.addr, *case).await, "{case:?}");
    }
    let nginx_log = log_lines(&nginx.dir.join("logs/g.log"), CASES.len()).await;
    assert_eq!(ratios(&ngxr_log), ratios(&nginx_log), "{nginx_log:?}");
}

/// A backend that sends an event stream's head and first event, then the second event and
/// the end only once `go` fires.
async fn event_stream(go: tokio::sync::oneshot::Receiver<()>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let mut buf = vec![0u8; 4096];
        let _ = s.read(&mut buf).await;
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                    Transfer-Encoding: chunked\r\n\r\nb\r\ndata: one\n\n\r\n";
        let _ = s.write_all(head.as_bytes()).await;
        let _ = go.await;
        let _ = s.write_all(b"b\r\ndata: two\n\n\r\n0\r\n\r\n").await;
        let _ = s.read(&mut buf).await;
    });
    addr
}

/// Reads from `s` until the gzip received so far decompresses to `want`.
async fn until_decompressed(s: &mut tokio::net::TcpStream, got: &mut Vec<u8>, want: &[u8]) {
    within(async {
        loop {
            let at = got.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
            if let Some(at) = at {
                let mut d = flate2::write::GzDecoder::new(Vec::new());
                let _ = d.write_all(&dechunk(&got[at..]));
                let _ = d.flush();
                if d.get_ref().as_slice() == want {
                    return;
                }
            }
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed before {}", String::from_utf8_lossy(want));
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
}

async fn stream_through(proxy: impl FnOnce(SocketAddr) -> Option<(SocketAddr, Box<dyn Send>)>) {
    let (go, wait) = tokio::sync::oneshot::channel();
    let Some((addr, _keep)) = proxy(event_stream(wait).await) else {
        return;
    };
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = "GET /events HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n";
    s.write_all(request.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    until_decompressed(&mut s, &mut got, b"data: one\n\n").await;
    let _ = go.send(());
    until_decompressed(&mut s, &mut got, b"data: one\n\ndata: two\n\n").await;
}

fn stream_conf(port: u16, up: SocketAddr) -> String {
    format!(
        "access_log off; gzip on; gzip_types text/event-stream;\n\
         server {{ listen 127.0.0.1:{port};\n\
           location / {{ proxy_pass http://{up}; proxy_buffering off; }} }}"
    )
}

#[tokio::test]
async fn an_event_stream_is_flushed_event_by_event() {
    stream_through(|up| {
        let port = crate::common::free_port();
        let dir = crate::common::temp_dir(&format!("gzip-events-{port}"));
        let running = serve(&dir, &stream_conf(port, up));
        Some((running.local_addrs()[0], Box::new(running)))
    })
    .await;
    stream_through(|up| {
        let nginx = Nginx::serve(|port| stream_conf(port, up))?;
        Some((nginx.addr, Box::new(nginx)))
    })
    .await;
}
