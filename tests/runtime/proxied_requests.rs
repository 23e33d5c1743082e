//! Requests through `proxy_pass` that nginx answers or ends in its own way, against nginx:
//! statuses its status-line table has no phrase for, the methods it refuses whatever the
//! location (CONNECT, TRACE), and client bodies that are broken or left unfinished. The
//! answers, the access-log lines and the error-log lines must be nginx's. Skipped when nginx
//! is not installed.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use super::files::{Probe, Seen, assert_same, exchange, through_both};
use crate::common::{nginx, temp_dir};

const CONFIG: &str = r#"
error_log logs/error.log info;
events { worker_connections 64; }
http {
    log_format t '"$request" $status $body_bytes_sent $bytes_sent $request_length '
                 '"$uri" "$request_uri" "$args" $upstream_status';
    access_log logs/access.log t;
    server {
        listen 127.0.0.1:PORT;
        lingering_timeout 500ms;
        location / { proxy_pass http://127.0.0.1:SELF/back; }
        location /small { client_max_body_size 10; proxy_pass http://127.0.0.1:SELF/back; }
        location /back { return 200 "back $request_method $request_uri\n"; }
        location /rw/ { rewrite ^/rw/(.*)$ /back/$1 break; proxy_pass http://127.0.0.1:SELF; }
        location /rwa/ {
            rewrite ^/rwa/(.*)$ /back/$1?a=$1 break;
            proxy_pass http://127.0.0.1:SELF;
        }
        location /rwq/ { rewrite ^ /back/fixed? break; proxy_pass http://127.0.0.1:SELF; }
        location /silent { proxy_pass http://127.0.0.1:SILENT; }
        location /intercepted {
            proxy_pass http://127.0.0.1:SELF/teapot;
            proxy_intercept_errors on;
            error_page 418 /err;
            error_page 404 =200 /err;
        }
        location /gone { return 404; error_page 404 /err; }
        location /gone200 { return 404; error_page 404 = /err; }
        location = /err { return 200 "err $status\n"; }
        location /teapot { return 418 "tea\n"; }
        location /multi { return 207; }
        location /choices { return 300 "choose\n"; }
        location /nonauth { return 203 "x\n"; }
    }
}
"#;

/// How a probe is sent.
enum Sent {
    /// As [`exchange`] sends it, with its `Connection: close`.
    Whole(&'static str),
    /// As it is; then the client stops sending (half-closes) before its body is complete,
    /// and reads whatever comes back.
    Leaving(&'static str),
    /// As it is, without the rest of its body; the answer is read until the server closes,
    /// and followed by whether that took a `lingering_timeout` (500 ms) or came at once.
    Unsent(&'static str),
    /// As it is; then, 300 ms later, the client closes without reading an answer.
    Gone(&'static str),
}

impl Sent {
    fn text(&self) -> &'static str {
        match self {
            Sent::Whole(t) | Sent::Leaving(t) | Sent::Unsent(t) | Sent::Gone(t) => t,
        }
    }
}

impl Probe for Sent {
    fn send(&self, _prefix: &Path, port: u16) -> Vec<u8> {
        let request = match self {
            Sent::Whole(request) => return exchange(port, request),
            Sent::Leaving(request) | Sent::Unsent(request) => request,
            Sent::Gone(request) => {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                s.write_all(request.as_bytes()).expect("send");
                std::thread::sleep(Duration::from_millis(300));
                return Vec::new();
            }
        };
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(request.as_bytes()).expect("send");
        let sent = Instant::now();
        if let Sent::Leaving(_) = self {
            s.shutdown(Shutdown::Write).expect("shutdown");
        }
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        if let Sent::Unsent(_) = self {
            let waited = sent.elapsed() >= Duration::from_millis(400);
            out.extend_from_slice(if waited { b"<lingered>" } else { b"<closed>" });
        }
        out
    }
}

/// [`through_both`] without the `info` lines of the connections that only checked the
/// servers were listening, which ngxr does not write (README, known differences).
fn served<P: Probe>(nginx: &str, name: &str, probes: &[P]) -> [Seen; 2] {
    // No probe here goes to /silent: its port refuses.
    served_by(nginx, &CONFIG.replace("SILENT", "1"), name, probes)
}

/// [`served`] with `config`.
fn served_by<P: Probe>(nginx: &str, config: &str, name: &str, probes: &[P]) -> [Seen; 2] {
    let mut seen = through_both(nginx, config, &temp_dir(name), probes);
    for (_, _, errors) in &mut seen {
        errors.retain(|l| !l.contains("closed connection while waiting for request"));
    }
    seen
}

/// nginx writes a status its table has no phrase for as the code and a space (`418 `), not
/// the phrase of the IANA registry.
#[test]
fn statuses_without_nginx_s_phrase_get_none() {
    let Some(nginx) = nginx() else { return };
    let probes = [
        "GET /teapot HTTP/1.1\r\nHost: a\r\n",
        "HEAD /teapot HTTP/1.0\r\n",
        "GET /multi HTTP/1.1\r\nHost: a\r\n",
        "GET /choices HTTP/1.1\r\nHost: a\r\n",
        "GET /nonauth HTTP/1.1\r\nHost: a\r\n",
    ];
    let seen = served(nginx, "phrases", &probes);
    assert!(
        seen[0].0[0].starts_with("HTTP/1.1 418 \r\n"),
        "{}",
        seen[0].0[0]
    );
    assert_same(&seen, &probes);
}

/// A CONNECT is refused with a 405 once its head is read, as a TRACE is, and never reaches
/// the upstream; the connection closes after it.
#[test]
fn connect_is_refused_before_any_location() {
    let Some(nginx) = nginx() else { return };
    let probes = [
        "CONNECT /x HTTP/1.1\r\nHost: a\r\n",
        "CONNECT /stream/x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab",
        "TRACE /x HTTP/1.1\r\nHost: a\r\n",
    ];
    let seen = served(nginx, "connect", &probes);
    assert!(
        seen[0].0[0].starts_with("HTTP/1.1 405 Not Allowed\r\n"),
        "{}",
        seen[0].0[0]
    );
    assert_same(&seen, &probes);
}

/// A client that leaves before its body is in gets no answer: nginx logs a 400 with no byte
/// sent, and says why at `info`. A broken chunked body gets nginx's 400 page and its own
/// words at `error`. (Not probed with `proxy_request_buffering off`: there nginx's outcome
/// races with the upstream, which may answer before nginx reads the client's end.)
#[test]
fn bodies_left_unfinished_or_broken_end_as_nginx_ends_them() {
    let Some(nginx) = nginx() else { return };
    let probes = [
        Sent::Leaving("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"),
        Sent::Leaving(
            "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
        ),
        Sent::Whole(
            "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        ),
    ];
    let seen = served(nginx, "bodies", &probes);
    assert_eq!(seen[0].0[0], "", "nginx answers nothing");
    assert_same(&seen, &probes.map(|p| p.text()));
}

/// A body no one read is discarded once the answer is out, whatever the answer and whether
/// the connection is kept: the server waits `lingering_timeout` for it before it closes. A
/// head refused before its `Content-Length` was read has nothing discarded: it closes at
/// once.
#[test]
fn bodies_no_one_reads_are_discarded_as_nginx_discards_them() {
    let Some(nginx) = nginx() else { return };
    let probes = [
        Sent::Unsent("POST /teapot HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
        Sent::Unsent(
            "POST /teapot HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nab",
        ),
        Sent::Unsent("POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n"),
        Sent::Unsent("CONNECT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
        Sent::Unsent("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
        Sent::Whole("POST /teapot HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n<pause>hello"),
    ];
    let seen = served(nginx, "discarded", &probes);
    assert!(seen[0].0[0].ends_with("<lingered>"), "{}", seen[0].0[0]);
    assert!(seen[0].0[4].ends_with("<closed>"), "{}", seen[0].0[4]);
    assert_same(&seen, &probes.map(|p| p.text()));
}

/// A rewrite's arguments start at its replacement's own `?`: one that a capture brings (an
/// escaped `%3F` in the request) stays in the URI, escaped again upstream. A replacement
/// ending in `?` leaves `$args` empty but found when the request had arguments.
#[test]
fn rewrites_split_arguments_where_nginx_splits_them() {
    let Some(nginx) = nginx() else { return };
    let probes = [
        "GET /rw/a%3Fb?x=1 HTTP/1.1\r\nHost: a\r\n",
        "GET /rwa/a%3Fb HTTP/1.1\r\nHost: a\r\n",
        "GET /rwq/z?q=1 HTTP/1.1\r\nHost: a\r\n",
        "GET /rwq/z HTTP/1.1\r\nHost: a\r\n",
    ];
    let seen = served(nginx, "rewrites", &probes);
    assert!(
        seen[0].0[0].ends_with("back GET /back/a%3Fb?x=1\n"),
        "{}",
        seen[0].0[0]
    );
    assert_same(&seen, &probes);
}

/// A client that leaves while the upstream has not answered: the 499's line counts the
/// body nginx read before it went upstream.
#[test]
fn a_499_counts_the_body_read() {
    let Some(nginx) = nginx() else { return };
    // Connections wait in its backlog, never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    let config = CONFIG.replace("SILENT", &port.to_string());
    let probes = [Sent::Gone(
        "POST /silent HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    )];
    let seen = served_by(nginx, &config, "gone", &probes);
    assert!(seen[0].1.contains(" 499 "), "{}", seen[0].1);
    assert_same(&seen, &probes.map(|p| p.text()));
}

/// `$status` in the page an `error_page` sends is the error's (nginx's `r->err_status`, read
/// before the status being returned), or the one `=code` imposes.
#[test]
fn an_error_page_s_status_is_the_error_s() {
    let Some(nginx) = nginx() else { return };
    let probes = [
        "GET /intercepted HTTP/1.1\r\nHost: a\r\n",
        "GET /gone HTTP/1.1\r\nHost: a\r\n",
        "GET /gone200 HTTP/1.1\r\nHost: a\r\n",
    ];
    let seen = served(nginx, "err-status", &probes);
    assert!(seen[0].0[1].ends_with("err 404\n"), "{}", seen[0].0[1]);
    assert_same(&seen, &probes);
}
