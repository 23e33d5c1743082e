//! Response heads as nginx's header filter writes them: status line with nginx's (or the
//! upstream's) reason phrase, then `Server`, `Date`, `Content-Type`, `Content-Length`,
//! `Last-Modified`, `Location`, `Transfer-Encoding`, `Connection`, then the remaining headers
//! in order, then `add_header`s. Names are written as given: nginx's own as nginx spells
//! them, the upstream's and `add_header`'s byte for byte.

use std::cell::RefCell;
use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};

use super::body::ProxyBody;
use super::pages;
use super::throttle::Throttle;
use super::tunnel::Tunnel;
use crate::defaults::NGINX_VERSION;

/// The headers nginx writes first, taken out of the header list.
#[derive(Debug, Default)]
pub struct Front {
    pub content_type: Option<Bytes>,
    pub content_length: Option<u64>,
    pub last_modified: Option<Bytes>,
    pub location: Option<Bytes>,
    pub chunked: bool,
    /// `keep-alive`, `close` or `upgrade`.
    pub connection: &'static str,
    /// With `keep-alive`: `Keep-Alive: timeout=N` follows (`keepalive_timeout`'s second
    /// value; 0: not sent).
    pub keepalive_header: u64,
    /// `server_tokens off`: `Server: nginx`, no version.
    pub hide_version: bool,
    /// `chunked_transfer_encoding off`: a body of unknown length is not chunked; the
    /// connection closes after it.
    pub chunked_off: bool,
    /// `proxy_pass_header Server`: the `Server` line is the upstream's (among its headers,
    /// or none if it sent none); nginx writes no `Server` of its own then.
    pub upstream_server: bool,
    /// `proxy_pass_header Date`: the upstream's `Date` written in nginx's place for it, or
    /// none when it sent none (nginx's proxy module adds an empty one, which the header
    /// filter leaves out); `None`: nginx's own.
    pub upstream_date: Option<Option<Bytes>>,
}

impl Front {
    /// Moves the headers nginx places itself out of `headers`. A `Location` moves only when
    /// the header filter makes it absolute (see `location_base`).
    pub fn take_from(
        headers: &mut Vec<(Bytes, Bytes)>,
        connection: &'static str,
        location_base: Option<&Bytes>,
    ) -> Front {
        let mut front = Front::take(headers, connection, true);
        if let Some(base) = location_base
            && let Some(at) = headers
                .iter()
                .position(|(n, v)| n.eq_ignore_ascii_case(b"location") && v.first() == Some(&b'/'))
        {
            let (_, value) = headers.remove(at);
            front.location = Some(Bytes::from([&base[..], &value].concat()));
        }
        front
    }

    /// For an upstream's answer: only `Content-Type` moves; nginx keeps the upstream's
    /// `Last-Modified` and `Location` where they were (see `redirect::apply` for the exception).
    pub fn take_upstream(headers: &mut Vec<(Bytes, Bytes)>, connection: &'static str) -> Front {
        Front::take(headers, connection, false)
    }

    fn take(headers: &mut Vec<(Bytes, Bytes)>, connection: &'static str, all: bool) -> Front {
        let mut front = Front {
            connection,
            ..Front::default()
        };
        headers.retain(|(name, value)| {
            let slot = if name.eq_ignore_ascii_case(b"content-type") {
                &mut front.content_type
            } else if all && name.eq_ignore_ascii_case(b"last-modified") {
                &mut front.last_modified
            } else {
                return true;
            };
            // nginx's own answers list its value first: a later one is an `add_header`
            // line, which nginx sends as a header of its own beside it. An upstream's
            // repeated line replaces the one before (`ngx_http_upstream_copy_content_type`).
            if all && slot.is_some() {
                return true;
            }
            *slot = Some(value.clone());
            false
        });
        front
    }
}

/// A response ready to send: nginx's head bytes, then the body.
#[derive(Debug)]
pub struct Answer {
    /// Status line, headers and the empty line, as written to the client.
    pub head: BytesMut,
    pub body: ProxyBody,
    /// The body goes out in chunked framing.
    pub chunked: bool,
    /// The connection stays open for another request afterwards.
    pub keepalive: bool,
    /// A 101: the tunnel to run once the head is sent.
    pub tunnel: Option<Box<Tunnel>>,
    /// `limit_rate`: the answer is written at a rate.
    pub throttle: Option<Box<Throttle>>,
    /// The head waits for the body's first data (or its end, or a failure nginx still
    /// flushes), as nginx's write filter holds a short head back (`postpone_output`).
    pub hold_head: bool,
    /// An upstream's body: while it is awaited, a client that leaves ends the request (nginx's
    /// `ngx_http_upstream_check_broken_connection`, off under `proxy_ignore_client_abort`).
    pub watch_client: bool,
    /// The request's `mirror` subrequests, still running: the connection waits for them
    /// before its next request, and the request's log line is written after them (nginx
    /// counts them on the main request, which is freed last).
    pub background: Vec<tokio::task::JoinHandle<()>>,
}

impl Answer {
    /// Counts an interim answer (`100 Continue`) sent before this one, in the log line of
    /// the body or of the tunnel that follows.
    pub fn record_interim(&mut self, size: usize) {
        self.body.record_interim(size);
        if let Some(tunnel) = &mut self.tunnel {
            tunnel.finish.outcome.body_bytes_sent += size as u64;
            tunnel.finish.outcome.bytes_sent += size as u64;
        }
    }
}

/// Builds the response head as nginx's header filter writes it. `reason` is an upstream's
/// status line after its code, written as it came instead of a space and nginx's phrase;
/// `add` are the `add_header` lines that apply, evaluated.
pub fn build(
    status: u16,
    reason: Option<&[u8]>,
    front: Front,
    rest: &[(Bytes, Bytes)],
    add: &[(Bytes, Bytes)],
    mut body: ProxyBody,
) -> Answer {
    let mut head = BytesMut::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(decimal(u64::from(status), &mut [0; 20]));
    match reason {
        Some(tail) => head.extend_from_slice(tail),
        None => {
            head.extend_from_slice(b" ");
            // A status nginx has no phrase for is written as its code and a space.
            head.extend_from_slice(pages::reason(status).unwrap_or_default().as_bytes());
        }
    }
    head.extend_from_slice(b"\r\n");
    // `$sent_http_*` needs the header list only when a log will be written.
    let mut sent = body.logs().then(Vec::new);
    let mut put = |name: &[u8], value: &[u8]| {
        head.extend_from_slice(name);
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
        if let Some(sent) = &mut sent {
            sent.push((Bytes::copy_from_slice(name), Bytes::copy_from_slice(value)));
        }
    };
    if !front.upstream_server {
        put(
            b"Server",
            if front.hide_version {
                b"nginx"
            } else {
                SERVER.as_bytes()
            },
        );
    }
    match &front.upstream_date {
        None => put(b"Date", &http_date()),
        Some(Some(date)) => put(b"Date", date),
        Some(None) => {}
    }
    if let Some(v) = &front.content_type {
        put(b"Content-Type", v);
    }
    if let Some(n) = front.content_length {
        put(b"Content-Length", decimal(n, &mut [0; 20]));
    }
    if let Some(v) = &front.last_modified {
        put(b"Last-Modified", v);
    }
    if let Some(v) = &front.location {
        put(b"Location", v);
    }
    if front.chunked {
        put(b"Transfer-Encoding", b"chunked");
    }
    put(b"Connection", front.connection.as_bytes());
    if front.keepalive_header > 0 && front.connection == "keep-alive" {
        let mut line = b"timeout=".to_vec();
        line.extend_from_slice(decimal(front.keepalive_header, &mut [0; 20]));
        put(b"Keep-Alive", &line);
    }
    for (name, value) in rest.iter().chain(add) {
        put(name, value);
    }
    head.extend_from_slice(b"\r\n");
    body.record_head(head.len(), sent);
    Answer {
        head,
        body,
        chunked: front.chunked,
        keepalive: front.connection == "keep-alive",
        tunnel: None,
        throttle: None,
        hold_head: false,
        watch_client: false,
        background: Vec::new(),
    }
}

/// The `Server` value, `nginx/1.22.1`.
static SERVER: LazyLock<String> = LazyLock::new(|| format!("nginx/{NGINX_VERSION}"));

/// A `Content-Length` value as a number: surrounding blanks allowed, anything else refused.
pub fn content_length(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

/// `n` in decimal, written into `digits`.
pub fn decimal(n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[at..]
}

/// The `Date` value, formatted once per second per thread.
fn http_date() -> Bytes {
    thread_local! {
        static CACHE: RefCell<(u64, Bytes)> = const { RefCell::new((0, Bytes::new())) };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs || cache.1.is_empty() {
            *cache = (secs, Bytes::from(httpdate::fmt_http_date(now)));
        }
        cache.1.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(front: Front) -> String {
        let answer = build(200, None, front, &[], &[], ProxyBody::full(None, None));
        String::from_utf8_lossy(&answer.head).into_owned()
    }

    #[test]
    fn keepalive_timeout_s_header_value_goes_with_keep_alive_only() {
        let front = |connection| Front {
            connection,
            keepalive_header: 60,
            ..Front::default()
        };
        let kept = head(front("keep-alive"));
        assert!(
            kept.contains("\r\nConnection: keep-alive\r\nKeep-Alive: timeout=60\r\n"),
            "{kept}"
        );
        assert!(!head(front("close")).contains("Keep-Alive:"));
        assert!(
            !head(Front {
                connection: "keep-alive",
                ..Front::default()
            })
            .contains("Keep-Alive:")
        );
    }
}
