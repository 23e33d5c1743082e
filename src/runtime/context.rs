//! Per-connection and per-request facts the site needs to route a request and the access log
//! needs afterwards: addresses, TLS/SNI, counters, and an owned copy of the request line and
//! headers from which a [`RequestInfo`] is lent out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use bytes::Bytes;

use super::state::State;
use crate::eval::plan::{RequestInfo, TlsFacts};

/// One accepted client connection.
#[derive(Debug)]
pub struct ConnCtx {
    pub state: Arc<State>,
    /// The listen socket as configured (one of `Site::listens`).
    pub listen: SocketAddr,
    pub remote: SocketAddr,
    pub local: SocketAddr,
    pub sni: Option<Arc<str>>,
    pub tls: bool,
    /// What the TLS handshake settled (`$ssl_*`).
    pub handshake: Option<TlsFacts>,
    /// `$connection`.
    pub id: u64,
    /// Requests served so far (`$connection_requests` is this + 1 while serving).
    pub requests: AtomicU64,
    /// When it was accepted (`keepalive_time` counts from here).
    pub opened: Instant,
    /// Counts the connection as open until the last request (or tunnel) on it ends.
    pub _live: super::conn::Live,
    /// The request heads as the client wrote them.
    pub heads: Arc<super::capture::HeadCapture>,
    /// Armed to answer an HTTP/1.0 request with nginx's `HTTP/1.1` status line.
    pub status_line: Arc<super::status_line::StatusLine>,
}

/// The request line and headers, owned so they outlive the hyper request (for the log).
#[derive(Debug, Clone)]
pub struct OwnedRequest {
    pub conn: Arc<ConnCtx>,
    pub method: String,
    pub target: String,
    pub version: &'static str,
    pub headers: Vec<(Bytes, Bytes)>,
    pub connection_requests: u64,
    /// The head's length as received (`$request_length` without the body).
    pub head_length: u64,
    /// `$pipe`.
    pub pipelined: bool,
    pub request_id: [u8; 32],
}

impl OwnedRequest {
    pub fn from_parts(
        conn: Arc<ConnCtx>,
        parts: &http::request::Parts,
        connection_requests: u64,
    ) -> OwnedRequest {
        let version = if parts.version == http::Version::HTTP_10 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        };
        let as_sent = conn.heads.next_head().and_then(|head| {
            let same = head.method == parts.method.as_str().as_bytes()
                && head.headers.len() == parts.headers.len();
            if !same {
                conn.heads.stop();
            }
            same.then_some(head)
        });
        let method = parts.method.as_str().to_string();
        let target = parts.uri.to_string();
        let (headers, head_length, pipelined) = match as_sent {
            Some(head) => (head.headers, head.length as u64, head.pipelined),
            None => {
                let headers: Vec<(Bytes, Bytes)> = parts
                    .headers
                    .iter()
                    .map(|(n, v)| (title_case(n.as_str()), Bytes::copy_from_slice(v.as_bytes())))
                    .collect();
                // Not captured: the length it has written out canonically.
                let line = method.len() + target.len() + version.len() + 4;
                let fields: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
                (headers, (line + fields + 2) as u64, false)
            }
        };
        OwnedRequest {
            conn,
            method,
            target,
            version,
            headers,
            connection_requests,
            head_length,
            pipelined,
            request_id: crate::eval::plan::request_id(),
        }
    }

    pub fn info(&self) -> RequestInfo<'_> {
        RequestInfo {
            listen: self.conn.listen,
            remote: self.conn.remote,
            local: self.conn.local,
            sni: self.conn.sni.as_deref(),
            tls: self.conn.tls,
            handshake: self.conn.handshake,
            method: &self.method,
            target: &self.target,
            version: self.version,
            headers: &self.headers,
            connection: self.conn.id,
            connection_requests: self.connection_requests,
            pipelined: self.pipelined,
            request_id: self.request_id,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &v[..])
    }

    /// Whether header `name` lists `token` (comma-separated, case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case(name.as_bytes())
                && v.split(|&c| c == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    }
}

/// hyper lowers header names; clients mostly send the canonical spelling, which is what
/// upstreams then see (nginx passes the client's own): `Title-Case`, except the names whose
/// usual spelling is not.
fn title_case(name: &str) -> Bytes {
    const IRREGULAR: [(&str, &str); 5] = [
        ("sec-websocket-", "Sec-WebSocket-"),
        ("x-real-ip", "X-Real-IP"),
        ("dnt", "DNT"),
        ("te", "TE"),
        ("etag", "ETag"),
    ];
    let mut out = Vec::with_capacity(name.len());
    let mut rest = name;
    if let Some((lower, spelled)) = IRREGULAR.iter().find(|(lower, _)| {
        name.starts_with(lower) && (lower.ends_with('-') || name.len() == lower.len())
    }) {
        out.extend_from_slice(spelled.as_bytes());
        rest = &name[lower.len()..];
    }
    let mut upper = out.is_empty() || out.ends_with(b"-");
    for c in rest.bytes() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == b'-';
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_names_get_their_usual_spelling() {
        let spell = |n| String::from_utf8(super::title_case(n).to_vec()).expect("ascii");
        assert_eq!(spell("user-agent"), "User-Agent");
        assert_eq!(spell("sec-websocket-key"), "Sec-WebSocket-Key");
        assert_eq!(spell("x-real-ip"), "X-Real-IP");
        assert_eq!(spell("te"), "TE");
        assert_eq!(spell("tenant"), "Tenant");
    }
}
