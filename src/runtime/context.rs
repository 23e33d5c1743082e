//! Per-connection and per-request facts the site needs to route a request and the access log
//! needs afterwards: addresses, TLS/SNI, counters, and an owned copy of the request line and
//! headers from which a [`RequestInfo`] is lent out.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use bytes::Bytes;

use super::client::{PartialHead, RequestHead};
use super::state::State;
use crate::eval::plan::{
    ClientCert, ConnHolds, LimitStatus, ListenAddr, Outcome, Peer, ProxyProtocol, Refused,
    RequestInfo, Routed, TlsFacts,
};

/// One accepted client connection.
#[derive(Debug)]
pub struct ConnCtx {
    pub state: Arc<State>,
    /// The listen socket as configured (one of `Site::listens`).
    pub listen: ListenAddr,
    pub remote: Peer,
    pub local: ListenAddr,
    /// What the PROXY protocol header said, when the socket wants one and it named addresses.
    pub proxy_protocol: Option<ProxyProtocol>,
    pub sni: Option<Arc<str>>,
    pub tls: bool,
    /// A plain HTTP client on an `ssl` socket: its requests are read, then refused with
    /// nginx's 497 ("The plain HTTP request was sent to HTTPS port").
    pub plain_on_ssl: bool,
    /// An HTTP/2 connection: each stream's request is served as an HTTP/1 request whose
    /// version is `HTTP/2.0` (`runtime::http2`).
    pub http2: bool,
    /// What the TLS handshake settled (`$ssl_*`).
    pub handshake: Option<TlsFacts>,
    /// The client's certificate, when the server SNI chose asked for one.
    pub client_cert: Option<Arc<ClientCert>>,
    /// `$connection`.
    pub id: u64,
    /// Requests served so far (`$connection_requests` is this + 1 while serving).
    pub requests: AtomicU64,
    /// When it was accepted (`keepalive_time` counts from here).
    pub opened: Instant,
    /// Counts the connection as open until the last request (or tunnel) on it ends.
    pub _live: super::conn::Live,
}

impl ConnCtx {
    /// A graceful shutdown (QUIT, or a reload for an older configuration) has begun: nginx's
    /// `ngx_exiting`, under which no answer keeps its connection alive.
    pub fn draining(&self) -> bool {
        *self.state.phase.borrow() != super::server::Phase::Running
    }

    /// Counts a request nginx has begun to read (any byte of its head): its number.
    pub fn next_request(&self) -> u64 {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }
}

/// The request line and headers, kept with the request until its log line is written.
#[derive(Debug, Clone)]
pub struct OwnedRequest {
    pub conn: Arc<ConnCtx>,
    pub method: String,
    pub target: Bytes,
    pub version: &'static str,
    pub headers: Vec<(Bytes, Bytes)>,
    pub connection_requests: u64,
    /// The head's length as received (`$request_length` without the body).
    pub head_length: u64,
    /// Room left after the head in nginx's header buffer, where the body's first bytes go.
    pub head_room: u64,
    /// `$pipe`.
    pub pipelined: bool,
    pub request_id: [u8; 32],
    /// When the request began (`$request_time`).
    pub started: Instant,
    /// Answered before a location was chosen (`RequestInfo::refused`).
    pub refused: Option<RefusedLine>,
    /// Its body's framing was refused (`RequestInfo::framing_refused`).
    pub framing_refused: Option<(u16, String)>,
    /// What the preaccess limits decided (`$limit_req_status`, `$limit_conn_status`).
    pub limits: LimitStatus,
    /// The `limit_conn` counts the request holds, given back when the last copy of the
    /// request (the access log's, a tunnel's) is dropped.
    pub holds: Option<Arc<ConnHolds>>,
    /// What its `auth_request` subrequests answered, in order (`RequestInfo::auth`).
    pub auth: Vec<Outcome>,
    /// What a proxy pass kept of the body for `$request_body`.
    pub request_body: Option<Bytes>,
    /// The length of a chunked body a proxy pass read whole (`$content_length` from then on).
    pub body_length: Option<u64>,
    /// The file a proxy pass wrote the body to (`$request_body_file`).
    pub request_body_file: Option<Arc<super::body_file::BodyFile>>,
    /// The body a proxy pass read whole and sent, for a later pass to send again.
    pub sent_body: Option<Bytes>,
    /// The request as the route being served left it (`RequestInfo::routed`).
    pub routed: Option<Arc<Routed>>,
    /// How many `mirror` subrequests were started for it (`RequestInfo::mirrored`).
    pub mirrored: usize,
    /// It was answered and is routed again for `post_action` (`RequestInfo::post_action`).
    pub post_action: bool,
    /// A subrequest's URI: its error-log lines name it after the request's line.
    pub subrequest: Option<Bytes>,
    /// What the SSI filters of the main request and its subrequests share, once one runs.
    pub ssi: Option<super::ssi::SharedSsi>,
    /// How deep a subrequest it is (0: the main request), for nginx's limit.
    pub depth: u8,
}

/// The owned form of [`Refused`].
#[derive(Debug, Clone)]
pub struct RefusedLine {
    pub line: Bytes,
    pub line_parsed: bool,
    pub protocol_begun: bool,
    pub target_refused: bool,
}

impl OwnedRequest {
    /// The request `head` read on `conn` (its method is capital letters, `_` and `-`).
    pub fn from_head(
        conn: Arc<ConnCtx>,
        head: RequestHead,
        connection_requests: u64,
        started: Instant,
    ) -> OwnedRequest {
        let http2 = conn.http2;
        OwnedRequest {
            conn,
            method: String::from_utf8_lossy(&head.method).into_owned(),
            // Copied out of the connection's read buffer: as a slice of it, the target kept
            // that buffer in memory for as long as the request lives, which for a WebSocket
            // tunnel is its whole life (idle tunnels measured 7.5 KB each instead of 3.8 KB).
            target: Bytes::copy_from_slice(&head.target),
            version: match (http2, head.http10) {
                (true, _) => "HTTP/2.0",
                (false, true) => "HTTP/1.0",
                (false, false) => "HTTP/1.1",
            },
            headers: head.headers,
            connection_requests,
            head_length: head.length as u64,
            head_room: head.room as u64,
            pipelined: head.pipelined,
            request_id: crate::eval::plan::request_id(),
            started,
            refused: None,
            framing_refused: None,
            limits: LimitStatus::default(),
            holds: None,
            auth: Vec::new(),
            request_body: None,
            body_length: None,
            request_body_file: None,
            sent_body: None,
            routed: None,
            mirrored: 0,
            post_action: false,
            subrequest: None,
            ssi: None,
            depth: 0,
        }
    }

    /// nginx stopped reading `raw` (the head this request was made of) at header line `at`:
    /// the lines after it are dropped and `$request_length` ends with it.
    pub fn cut_head(&mut self, raw: &[u8], at: usize) {
        let Some((_, value)) = self.headers.get(at) else {
            return;
        };
        // The value is a slice of `raw`: its line ends at the next line feed.
        let from = (value.as_ptr() as usize).wrapping_sub(raw.as_ptr() as usize) + value.len();
        let Some(end) = raw
            .get(from..)
            .and_then(|rest| rest.iter().position(|&c| c == b'\n'))
        else {
            return;
        };
        self.headers.truncate(at + 1);
        self.head_length = (from + end + 1) as u64;
    }

    /// A head refused (or cut short) while it was read, with what was parsed of it.
    pub fn from_partial(
        conn: Arc<ConnCtx>,
        head: PartialHead,
        connection_requests: u64,
    ) -> OwnedRequest {
        let (method, target, http10) = head.parsed.clone().unwrap_or_default();
        let http2 = conn.http2;
        let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
        OwnedRequest {
            conn,
            method: text(&method),
            target,
            version: match (head.parsed.is_some(), http10) {
                (false, _) => "",
                (true, _) if http2 => "HTTP/2.0",
                (true, true) => "HTTP/1.0",
                (true, false) => "HTTP/1.1",
            },
            headers: head.headers,
            connection_requests,
            head_length: head.length as u64,
            head_room: 0,
            pipelined: head.pipelined,
            request_id: crate::eval::plan::request_id(),
            started: head.began,
            framing_refused: None,
            refused: Some(RefusedLine {
                line: head.line,
                line_parsed: head.parsed.is_some(),
                protocol_begun: head.protocol_begun,
                target_refused: head.target_refused,
            }),
            limits: LimitStatus::default(),
            holds: None,
            auth: Vec::new(),
            request_body: None,
            body_length: None,
            request_body_file: None,
            sent_body: None,
            routed: None,
            mirrored: 0,
            post_action: false,
            subrequest: None,
            ssi: None,
            depth: 0,
        }
    }

    pub fn info(&self) -> RequestInfo<'_> {
        RequestInfo {
            listen: self.conn.listen.clone(),
            remote: self.conn.remote.clone(),
            local: self.conn.local.clone(),
            proxy_protocol: self.conn.proxy_protocol.as_ref(),
            sni: self.conn.sni.as_deref(),
            tls: self.conn.tls,
            handshake: self.conn.handshake,
            client_cert: self.conn.client_cert.as_deref(),
            plain_on_ssl: self.conn.plain_on_ssl,
            framing_refused: self
                .framing_refused
                .as_ref()
                .map(|(s, why)| (*s, why.as_str())),
            method: &self.method,
            target: &self.target,
            version: self.version,
            headers: &self.headers,
            connection: self.conn.id,
            connection_requests: self.connection_requests,
            pipelined: self.pipelined,
            request_id: self.request_id,
            opened: self.conn.opened,
            started: self.started,
            refused: self.refused.as_ref().map(|r| Refused {
                line: &r.line,
                line_parsed: r.line_parsed,
                protocol_begun: r.protocol_begun,
                target_refused: r.target_refused,
            }),
            limits: self.limits,
            counts: &self.conn.state.counts,
            auth: &self.auth,
            mirrored: self.mirrored,
            post_action: self.post_action,
            request_body: self.request_body.as_deref(),
            body_length: self.body_length,
            request_body_file: self.request_body_file.as_deref().map(|f| f.name()),
            routed: self.routed.as_deref(),
        }
    }

    /// The first value of header `name` (case-insensitive).
    /// `, subrequest: "URI"` for a subrequest's error-log lines (nginx's
    /// `ngx_http_log_error_handler`), empty for the request's own.
    pub fn subrequest_context(&self) -> String {
        self.subrequest.as_ref().map_or_else(String::new, |uri| {
            format!(", subrequest: \"{}\"", String::from_utf8_lossy(uri))
        })
    }

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
