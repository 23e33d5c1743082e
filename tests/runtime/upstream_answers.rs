//! Upstream answers that nginx reframes or reports, against nginx: chunks read together go
//! out as one chunk and `$body_bytes_sent` counts the framing; `$upstream_response_length`
//! counts every byte read after the head; a 304 and a 204 keep their `Content-Length`; a body longer
//! than its `Content-Length` is cut there with nginx's warning; `proxy_pass_header Server`
//! leaves the `Server` line to the upstream; a chunked body past `client_max_body_size` is
//! reported as nginx reports it. Heads nginx reads leniently (no reason phrase, odd header
//! lines, `Transfer-Encoding` beside `Content-Length`, a length that is not a number) reach
//! the client as nginx passes them; a header line it refuses is a 502 with its log line.

use crate::common::{nginx, recording_backend, temp_dir};
use crate::files::through_both;

const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
const NOT_MODIFIED: &[u8] =
    b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 0\r\n\r\n";
const TOO_LONG: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nabcdefghij";
const NAMED: &[u8] = b"HTTP/1.1 200 OK\r\nServer: backend\r\nContent-Length: 2\r\n\r\nok";
const NO_CONTENT: &[u8] = b"HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\n\
    Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 0\r\n\r\n";
const NO_REASON: &[u8] = b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok";
const ODD_LINES: &[u8] = b"HTTP/1.1  403.1 Forbidden\r\nX_U: 1\r\nNoColon\r\nX-A:\tv \t\r\n\
    HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const BOTH_FRAMINGS: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\
    Content-Length: 100\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
const BAD_LENGTH: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: x2\r\nConnection: close\r\n\r\nok";
const BAD_NAME: &[u8] = b"HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 2\r\n\r\nok";

const CONFIG: &str = "
events {}
http {
    log_format up '\"$request\" $status $body_bytes_sent $upstream_response_length $upstream_status';
    access_log logs/access.log up;
    error_log logs/error.log warn;
    server {
        listen 127.0.0.1:PORT;
        location /chunked { proxy_pass http://127.0.0.1:CHUNKED; }
        location /304 { proxy_pass http://127.0.0.1:NOT_MODIFIED; }
        location /long { proxy_pass http://127.0.0.1:TOO_LONG; }
        location /named { proxy_pass http://127.0.0.1:NAMED; proxy_pass_header Server; }
        location /unnamed { proxy_pass http://127.0.0.1:CHUNKED; proxy_pass_header Server; }
        location /small { proxy_pass http://127.0.0.1:CHUNKED; client_max_body_size 1k; }
        location /again { proxy_pass http://127.0.0.1:DEAD; error_page 502 = @named; }
        location @named { proxy_pass http://127.0.0.1:NAMED; }
        location /204 { proxy_pass http://127.0.0.1:NO_CONTENT; }
        location /noreason { proxy_pass http://127.0.0.1:NO_REASON; }
        location /odd { proxy_pass http://127.0.0.1:ODD_LINES; }
        location /both { proxy_pass http://127.0.0.1:BOTH_FRAMINGS; }
        location /badlength { proxy_pass http://127.0.0.1:BAD_LENGTH; }
        location /badname { proxy_pass http://127.0.0.1:BAD_NAME; }
    }
}
";

fn probes() -> Vec<String> {
    let mut probes: Vec<String> = [
        "GET /chunked HTTP/1.1\r\nHost: a\r\n",
        "HEAD /chunked HTTP/1.1\r\nHost: a\r\n",
        "GET /chunked HTTP/1.0\r\nHost: a\r\n",
        "GET /304 HTTP/1.1\r\nHost: a\r\n",
        "GET /long HTTP/1.1\r\nHost: a\r\n",
        "GET /named HTTP/1.1\r\nHost: a\r\n",
        "GET /unnamed HTTP/1.1\r\nHost: a\r\n",
        "GET /again HTTP/1.1\r\nHost: a\r\n",
        "GET /noreason HTTP/1.1\r\nHost: a\r\n",
        "GET /204 HTTP/1.1\r\nHost: a\r\n",
        "GET /odd HTTP/1.1\r\nHost: a\r\n",
        "GET /both HTTP/1.1\r\nHost: a\r\n",
        "GET /badlength HTTP/1.1\r\nHost: a\r\n",
        "GET /badname HTTP/1.1\r\nHost: a\r\n",
    ]
    .map(String::from)
    .to_vec();
    let big = "a".repeat(2000);
    probes.push(format!(
        "POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n{big}\r\n0\r\n\r\n"
    ));
    probes
}

#[test]
fn odd_upstream_answers_reach_client_and_logs_as_nginx_s() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("upstream-answers");
    let mut config = CONFIG.replace("DEAD", &crate::common::free_port().to_string());
    // Kept: a backend stops once nothing listens to what it records.
    let mut recorded = Vec::new();
    for (name, answer) in [
        ("NOT_MODIFIED", NOT_MODIFIED),
        ("TOO_LONG", TOO_LONG),
        ("CHUNKED", CHUNKED),
        ("NO_CONTENT", NO_CONTENT),
        ("NO_REASON", NO_REASON),
        ("ODD_LINES", ODD_LINES),
        ("BOTH_FRAMINGS", BOTH_FRAMINGS),
        ("BAD_LENGTH", BAD_LENGTH),
        ("BAD_NAME", BAD_NAME),
        ("NAMED", NAMED),
    ] {
        let (port, heads) = recording_backend(answer);
        recorded.push(heads);
        config = config.replace(name, &port.to_string());
    }
    let seen = through_both(nginx, &config, &base, &probes());
    assert_eq!(seen[0].0, seen[1].0, "client bytes");
    assert_eq!(seen[0].1, seen[1].1, "access log");
    assert_eq!(seen[0].2, seen[1].2, "error log");
    assert_eq!(seen[1].2.len(), 4, "{:?}", seen[1].2);
}

/// A server whose accept queue is full: a connect to it stays in SYN_SENT until the client
/// gives up. The listener and the connection filling its queue are returned to be kept.
fn unanswering_server() -> (u16, socket2::Socket, std::net::TcpStream) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
    listener.bind(&addr.into()).expect("bind");
    // A backlog of 0 holds one connection.
    listener.listen(0).expect("listen");
    let port = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .expect("port");
    let filler = std::net::TcpStream::connect(("127.0.0.1", port)).expect("filler");
    (port, listener, filler)
}

/// A connect that is still under way after `proxy_connect_timeout` is nginx's 504, logged as
/// a timeout while connecting; `$upstream_connect_time` stays `-`. (The request's first
/// write is what learns how a connect ended; here it finds the connect unfinished.)
#[test]
fn a_connect_that_does_not_finish_in_time_is_nginx_s_504() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("connect-timeout");
    let (port, _listener, _filler) = unanswering_server();
    let config = "
events {}
http {
    log_format up '\"$request\" $status $upstream_status $upstream_connect_time';
    access_log logs/access.log up;
    error_log logs/error.log warn;
    server {
        listen 127.0.0.1:PORT;
        location / { proxy_pass http://127.0.0.1:SLOW; proxy_connect_timeout 300ms; }
    }
}
"
    .replace("SLOW", &port.to_string());
    let probes = ["GET / HTTP/1.1\r\nHost: a\r\n"];
    let seen = through_both(nginx, &config, &base, &probes);
    crate::files::assert_same(&seen, &probes);
    assert!(seen[1].0[0].starts_with("HTTP/1.1 504"), "{:?}", seen[1].0);
    assert!(seen[1].1.contains(" 504 504 -"), "{:?}", seen[1].1);
    assert!(
        seen[1]
            .2
            .iter()
            .any(|l| l.contains("while connecting to upstream")),
        "{:?}",
        seen[1].2
    );
}

/// Answers nginx's proxy module reads past their framing, against nginx. Without a status
/// line it can read (`http/1.1`, a four-digit code, no code, plain text) the answer is taken
/// for HTTP/0.9: nginx logs an error, writes no head of its own and passes every byte on
/// until the server closes, logging `$status` 009 and `$upstream_status` 200 (a HEAD gets
/// nothing, the bytes counted and warned about as a body past a length of 0). Bytes after
/// the head of a 204 or a 304 are counted and warned about (not for a HEAD request, which
/// ends before its body is read). A chunked body whose bytes read with the head are
/// malformed sends the client nothing at all; so does one broken before any data came, under
/// `proxy_buffering` (nginx holds the short head back for the data, and drops it), but not
/// one broken after its first chunk went out. (`<pause>`: the backend's
/// [`crate::common::ANSWER_PAUSE`].)
#[test]
fn answers_read_past_their_framing_as_nginx_reads_them() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("upstream-unframed");
    let mut config = "
events {}
http {
    log_format up '\"$request\" $status $body_bytes_sent $bytes_sent $upstream_response_length $upstream_status';
    access_log logs/access.log up;
    error_log logs/error.log warn;
    server {
        listen 127.0.0.1:PORT;
        location /lower { proxy_pass http://127.0.0.1:LOWER; }
        location /digits { proxy_pass http://127.0.0.1:DIGITS; }
        location /nocode { proxy_pass http://127.0.0.1:NO_CODE; }
        location /text { proxy_pass http://127.0.0.1:TEXT; }
        location /204 { proxy_pass http://127.0.0.1:NO_CONTENT; }
        location /304 { proxy_pass http://127.0.0.1:NOT_MODIFIED; }
        location /badchunk { proxy_pass http://127.0.0.1:BAD_CHUNK; }
        location /latechunk { proxy_pass http://127.0.0.1:HEAD_THEN_BROKEN; }
        location /latechunk/unbuffered {
            proxy_pass http://127.0.0.1:HEAD_THEN_BROKEN;
            proxy_buffering off;
        }
        location /secondchunk { proxy_pass http://127.0.0.1:CHUNK_THEN_BROKEN; }
    }
}
"
    .to_string();
    let mut recorded = Vec::new();
    for (name, answer) in [
        ("LOWER", &b"http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"[..]),
        ("DIGITS", b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok"),
        ("NO_CODE", b"HTTP/1.1 \r\n\r\nok"),
        ("TEXT", b"hello\r\n"),
        (
            "NO_CONTENT",
            b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\nextra",
        ),
        (
            "NOT_MODIFIED",
            b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\nextra",
        ),
        (
            "BAD_CHUNK",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n",
        ),
        (
            "HEAD_THEN_BROKEN",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n<pause>zz\r\n",
        ),
        (
            "CHUNK_THEN_BROKEN",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n<pause>zz\r\n",
        ),
    ] {
        let (port, heads) = recording_backend(answer);
        recorded.push(heads);
        config = config.replace(name, &port.to_string());
    }
    let probes = [
        "GET /lower HTTP/1.1\r\nHost: a\r\n",
        "GET /digits HTTP/1.1\r\nHost: a\r\n",
        "GET /nocode HTTP/1.0\r\nHost: a\r\n",
        "GET /text HTTP/1.1\r\nHost: a\r\n",
        "HEAD /text HTTP/1.1\r\nHost: a\r\n",
        "GET /204 HTTP/1.1\r\nHost: a\r\n",
        "HEAD /204 HTTP/1.1\r\nHost: a\r\n",
        "GET /304 HTTP/1.1\r\nHost: a\r\n",
        "GET /badchunk HTTP/1.1\r\nHost: a\r\n",
        "HEAD /badchunk HTTP/1.1\r\nHost: a\r\n",
        "GET /latechunk HTTP/1.1\r\nHost: a\r\n",
        "GET /latechunk/unbuffered HTTP/1.1\r\nHost: a\r\n",
        "GET /secondchunk HTTP/1.1\r\nHost: a\r\n",
    ];
    let seen = through_both(nginx, &config, &base, &probes);
    crate::files::assert_same(&seen, &probes);
    assert_eq!(seen[1].0[3], "hello\r\n", "{:?}", seen[1].0);
    assert!(seen[1].0[8].is_empty(), "{:?}", seen[1].0);
    assert!(seen[1].0[10].is_empty(), "{:?}", seen[1].0);
    assert!(seen[1].0[11].starts_with("HTTP/1.1 200"), "{:?}", seen[1].0);
    assert!(
        seen[1].1.contains("\"GET /text HTTP/1.1\" 009 7 7 7 200"),
        "{}",
        seen[1].1
    );
}

/// `proxy_cache off` (nginx's default) with every cache setting but a zone: nothing is cached,
/// so two requests for one URI each reach the backend, and a HEAD stays a HEAD.
#[test]
fn cache_settings_without_a_zone_cache_nothing_as_in_nginx() {
    let Some(nginx) = nginx() else { return };
    let mirror = crate::common::Mirror::start();
    let base = temp_dir("cache-off");
    let config = "
        events { worker_connections 64; }
        http {
            access_log off;
            proxy_cache_path PREFIX/cache keys_zone=z:1m;
            proxy_cache_valid 200 301 10m;
            proxy_cache_valid any 1m;
            proxy_cache_key $uri;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 1s;
            proxy_cache_use_stale error timeout updating;
            proxy_cache_methods GET HEAD;
            proxy_cache_min_uses 1;
            proxy_cache_revalidate on;
            proxy_cache_background_update on;
            proxy_cache_convert_head on;
            server {
                listen 127.0.0.1:PORT;
                location / {
                    proxy_cache off;
                    proxy_pass http://127.0.0.1:MIRROR;
                }
            }
        }"
    .replace("MIRROR", &mirror.port.to_string());
    let probes = [
        "GET /same HTTP/1.1\r\nHost: a\r\nX-N: 1\r\nConnection: close\r\n\r\n",
        "GET /same HTTP/1.1\r\nHost: a\r\nX-N: 2\r\nConnection: close\r\n\r\n",
        "HEAD /same HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ];
    let seen = through_both(nginx, &config, &base, &probes);
    crate::files::assert_same(&seen, &probes);
    assert!(seen[0].0[1].contains("X-N: 2"), "{}", seen[0].0[1]);
}
