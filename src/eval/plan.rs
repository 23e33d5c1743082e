//! The contract between `eval` (what nginx would decide) and `runtime` (doing it).
//!
//! `eval` compiles a checked configuration once into a value implementing [`Site`]; per
//! request the runtime hands it a [`RequestInfo`] and gets back a [`Route`]: either an answer to
//! send at once or a fully built upstream request. `ngxr explain` prints the same `Route`, so
//! what explain shows is what the proxy sends.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// A compiled configuration as the runtime sees it. Built once at load (and at each reload);
/// immutable and shared by every connection.
pub trait Site: std::fmt::Debug + Send + Sync {
    /// Every distinct listen socket.
    fn listens(&self) -> Vec<ListenSpec>;
    /// Routes one request: the whole of nginx's server/location choice and proxy settings.
    fn route(&self, request: &RequestInfo<'_>) -> Route;
    /// The TLS settings for a connection on `listen` with this SNI (nginx: the server chosen by
    /// SNI, else the default server of that socket); `sni: None` gives the default server's.
    fn tls(&self, listen: &ListenAddr, sni: Option<&str>) -> Option<Arc<TlsSpec>>;
    /// Every TLS setting a handshake on `listen` may get from [`Site::tls`] (the runtime
    /// prepares them when the socket's first connection comes).
    fn tls_servers(&self, listen: &ListenAddr) -> Vec<Arc<TlsSpec>>;
    /// The request routed again after a proxy pass that did not answer it: one that failed
    /// with a status (502, 504...) or whose upstream answered one under
    /// `proxy_intercept_errors` goes to nginx's `error_page`, one whose upstream answered with
    /// `X-Accel-Redirect` is redirected internally. Every pass it went through so far
    /// (`ProxyRequest::passes` plus the last) stands for what it ended in. `outcome` is what
    /// the runtime learned (`$upstream_status` and friends in the page).
    fn reroute(&self, request: &RequestInfo<'_>, passes: &[Pass], outcome: &Outcome) -> Route;
    /// A subrequest of `request` (routed, `RequestInfo::routed` set) to `uri` with `args`
    /// (`ngx_http_subrequest`): an internal GET in the request's server, with its headers
    /// and `set` values, which skips the access phase. Its body is for the runtime to write
    /// into the request's own (the addition filter).
    fn subrequest(&self, request: &RequestInfo<'_>, uri: &[u8], args: &[u8]) -> Route;
    /// The variable `name` of `request` as routing left it (`RequestInfo::routed`), for
    /// the SSI filter, whose commands name variables in the body; `None` when nginx finds
    /// no value (or knows no such variable).
    fn variable(&self, request: &RequestInfo<'_>, name: &str) -> Option<Vec<u8>>;
    /// The logs of a request answered before a location was chosen (`refused` is set): the
    /// server level's, of the server its `Host` chose if one was read and valid, else of
    /// the socket's default server; with that server's name, which its error-log lines give.
    fn refused(&self, request: &RequestInfo<'_>) -> (Arc<LogSpec>, Bytes);
    /// `client_header_timeout` on socket `listen`: its default server's, as nginx reads the
    /// handshake and the head with that server's settings.
    fn client_header_timeout(&self, listen: &ListenAddr) -> Duration;
    /// The header buffers of the server a connection on `listen` (arrived at `local`) reads
    /// its heads with: the one `name` (an SNI name, a request line's or a `Host` header's
    /// host, as sent) chooses, else the socket's default server, as nginx's
    /// `ngx_http_set_virtual_server` leaves it.
    fn header_buffers(
        &self,
        listen: &ListenAddr,
        local: &ListenAddr,
        name: Option<&[u8]>,
    ) -> HeaderBuffers;
    /// `keepalive_timeout` of the same server as [`Site::header_buffers`]: how long an
    /// HTTP/2 connection without streams stays open (nginx 1.19.7 on).
    fn keepalive_timeout(
        &self,
        listen: &ListenAddr,
        local: &ListenAddr,
        name: Option<&[u8]>,
    ) -> Duration;
    /// Every upstream group, implicit ones included, so the runtime can keep peer state.
    fn upstreams(&self) -> Vec<Arc<UpstreamGroup>>;
    /// Process-level settings from the main and events contexts.
    fn process(&self) -> ProcessSpec;
}

/// The TLS settings of one server: certificates, protocols and session resumption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSpec {
    /// `ssl_certificate`/`ssl_certificate_key` pairs in configuration order. A handshake gets
    /// the first one whose key signs with an algorithm the client offers, in the client's
    /// order of preference (as OpenSSL chooses among nginx's certificates).
    pub certificates: Vec<CertificatePair>,
    /// `TLSv1.2`, `TLSv1.3` as written (others are warned about by `check`).
    pub protocols: Vec<String>,
    pub sessions: SessionSpec,
    /// `ssl_reject_handshake on`: a handshake for this server ends with the alert
    /// `unrecognized_name`.
    pub reject: bool,
    /// `ssl_verify_client` other than `off`: the handshake asks for a certificate, which is
    /// checked as OpenSSL checks it (the request then decides what a failure means).
    pub client_auth: Option<Arc<ClientAuth>>,
}

/// How a server asks for and checks client certificates (nginx's `SSL_CTX` verify settings).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientAuth {
    /// `ssl_client_certificate`: trusted, and its subjects are the names sent to clients.
    pub client_certificate: Option<PathBuf>,
    /// `ssl_trusted_certificate`: trusted, not sent.
    pub trusted_certificate: Option<PathBuf>,
    /// `ssl_crl`: every certificate of a chain then needs its issuer's CRL.
    pub crl: Option<PathBuf>,
    /// `ssl_verify_depth`: the most intermediate certificates a chain may have.
    pub depth: u32,
}

/// The certificate a client sent and OpenSSL's verdict on its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The client's own certificate, DER.
    pub der: Vec<u8>,
    /// `None` for `X509_V_OK`.
    pub error: Option<VerifyError>,
}

/// An `X509_V_ERR_*` code with OpenSSL 3's words for it (`X509_verify_cert_error_string`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyError {
    pub code: u32,
    pub text: &'static str,
}

/// One `ssl_certificate` and its `ssl_certificate_key`: absolute paths, PEM (the certificate
/// file may hold a chain).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertificatePair {
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// `ssl_password_file`: what opens a key sealed with a passphrase.
    pub passwords: Option<Arc<Passwords>>,
}

/// The passwords of an `ssl_password_file`, tried in order. Never printed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Passwords(pub Vec<Vec<u8>>);

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Passwords({} hidden)", self.0.len())
    }
}

/// How sessions are resumed on a socket (the settings of its default server, whose context
/// OpenSSL keeps sessions in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// `ssl_session_cache builtin[:N]`: sessions kept for this socket alone, at most this many.
    pub builtin: Option<usize>,
    /// `ssl_session_cache shared:NAME:SIZE`.
    pub shared: Option<SharedSessions>,
    /// `ssl_session_tickets`.
    pub tickets: bool,
    /// `ssl_session_timeout`: how long a cached session or a ticket can be resumed.
    pub timeout: Duration,
    /// `ssl_session_ticket_key` files (48 or 80 bytes each), the first encrypting: tickets
    /// then survive restarts and are shared by servers with the same files.
    pub ticket_keys: Vec<PathBuf>,
}

/// A named session cache: every socket naming it shares it, and it outlives reloads while its
/// name and size stay (nginx's shared memory zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSessions {
    pub name: String,
    /// The zone size in bytes (nginx: about 4000 sessions per megabyte).
    pub size: u64,
}

/// What a TLS handshake settled, for the `$ssl_*` variables, in OpenSSL's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsFacts {
    /// `$ssl_protocol`: `TLSv1.2`, `TLSv1.3`.
    pub protocol: &'static str,
    /// `$ssl_cipher`: `TLS_AES_128_GCM_SHA256`, `ECDHE-RSA-AES128-GCM-SHA256`...
    pub cipher: &'static str,
    /// `$ssl_curve`: `X25519`, `prime256v1`, `secp384r1`.
    pub curve: &'static str,
    /// `$ssl_session_reused`.
    pub reused: bool,
    /// `$ssl_alpn_protocol`: `h2`, `http/1.1` or empty.
    pub alpn: &'static str,
}

/// Main- and events-context settings.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// `worker_processes` (`auto` resolved to the number of cores).
    pub worker_processes: usize,
    /// `worker_connections`: cap on open connections.
    pub worker_connections: usize,
    /// `pid` file (absolute), `None` for `pid off`.
    pub pid: Option<PathBuf>,
    /// `error_log` files (absolute, or `stderr`) with their level (`error`, `warn`, `info`...).
    pub error_logs: Vec<(LogTarget, String)>,
    pub daemon: bool,
    /// Every level's logs, whose files nginx opens (creating them) as it loads the
    /// configuration, and again on SIGUSR1.
    pub logs: Vec<Arc<LogSpec>>,
    /// `worker_shutdown_timeout` (zero: none): how long a graceful shutdown lets the
    /// connections of this configuration run before it closes them.
    pub shutdown_timeout: std::time::Duration,
    /// The `client_body_temp_path` directories the configuration names, which nginx makes
    /// (one level, mode 0700) as it loads it, refusing it when one cannot be made. nginx's
    /// compiled-in default is not among them: ngxr makes no directory no directive named.
    pub temp_paths: Vec<PathBuf>,
}

/// One `listen` socket, after merging every `server` that listens on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    pub addr: ListenAddr,
    pub ssl: bool,
    /// Connections begin with a PROXY protocol header (nginx's per-address `proxy_protocol`:
    /// any `listen` of the address asking for it).
    pub proxy_protocol: bool,
    /// On a wildcard socket, the addresses of its port that other `listen`s name and whose
    /// `proxy_protocol` differs from the socket's own: nginx keeps a configuration per
    /// address and picks it by the connection's local address. Empty almost always, so the
    /// accept path looks at nothing more.
    pub proxy_protocol_flipped: Vec<IpAddr>,
    /// HTTP/2 (any `listen` of the address says `http2`, as nginx merges it): offered by
    /// ALPN with `ssl`, spoken from the first byte (h2c) without.
    pub http2: bool,
    /// The options of the one `listen` of the address that gave any, else the defaults.
    pub socket: SocketOptions,
}

impl ListenSpec {
    /// Whether a connection that arrived at `local` begins with a PROXY protocol header.
    pub fn proxy_protocol_at(&self, local: &ListenAddr) -> bool {
        if self.proxy_protocol_flipped.is_empty() {
            return self.proxy_protocol;
        }
        let flipped = local
            .inet()
            .is_some_and(|a| self.proxy_protocol_flipped.contains(&a.ip()));
        self.proxy_protocol != flipped
    }
}

/// What the runtime knows about a request when it asks where it goes.
#[derive(Debug)]
pub struct RequestInfo<'a> {
    /// The listen socket it arrived on (one of `Compiled::listens`).
    pub listen: ListenAddr,
    pub remote: Peer,
    /// The local address of the accepted connection (`$server_addr`): a unix-domain
    /// socket's is its listen address.
    pub local: ListenAddr,
    /// What the connection's PROXY protocol header said, if it had one with addresses.
    pub proxy_protocol: Option<&'a ProxyProtocol>,
    /// TLS SNI, when the connection is TLS.
    pub sni: Option<&'a str>,
    pub tls: bool,
    /// Plain HTTP arrived on an `ssl` listener: nginx finalizes the request with 497.
    pub plain_on_ssl: bool,
    /// The head's `Content-Length` or `Transfer-Encoding` was refused (the runtime reads
    /// the body's framing): the status nginx finalizes the request with and its reason.
    pub framing_refused: Option<(u16, &'a str)>,
    /// The handshake's outcome, when the connection is TLS.
    pub handshake: Option<TlsFacts>,
    /// The certificate the client sent, when the server chosen by SNI asked for one.
    pub client_cert: Option<&'a ClientCert>,
    pub method: &'a str,
    /// The request target exactly as the client sent it (`$request_uri`): any bytes but
    /// controls and spaces, as nginx takes them.
    pub target: &'a [u8],
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: &'a str,
    /// In arrival order, names as received.
    pub headers: &'a [(Bytes, Bytes)],
    /// Connection serial number (`$connection`) and requests on it (`$connection_requests`).
    pub connection: u64,
    pub connection_requests: u64,
    /// The request arrived in the same read as the one before it (`$pipe` is `p`).
    pub pipelined: bool,
    /// `$request_id`: 32 hex digits, drawn once per request so every reading agrees.
    pub request_id: [u8; 32],
    /// When the connection was accepted (`$connection_time`).
    pub opened: Instant,
    /// When the request began (`$request_time`, read when it is evaluated: by `add_header`
    /// as the head goes out, by the access log at the end).
    pub started: Instant,
    /// Set when nginx answers (or drops) the request before choosing a location, while it
    /// reads or checks the head; its log line then reads only what was parsed.
    pub refused: Option<Refused<'a>>,
    /// What the preaccess limits already decided for this request (nginx's
    /// `r->main->limit_req_status` and `limit_conn_status`): routing it again after a
    /// `limit_req` delay or for an error page, their handlers decline.
    pub limits: LimitStatus,
    /// The server's connection counters (`stub_status`, `$connections_*`).
    pub counts: &'a ConnectionCounts,
    /// What the `auth_request` subrequests answered so far (each `Route::Auth` served), in
    /// order: routed again, each access phase that asks one (an internal redirect asks
    /// again) decides by the next, and asks a new one when none is left.
    pub auth: &'a [Outcome],
    /// How many `mirror` subrequests the runtime already started for this request: routed
    /// again (after a proxy pass, or once its body is read), the request starts only those
    /// after them.
    pub mirrored: usize,
    /// The request was answered and is routed again for its location's `post_action`: where
    /// it was answered, it is redirected there instead.
    pub post_action: bool,
    /// The client's body as a proxy pass read it, when nginx would hold it in memory (see
    /// [`ProxyRequest::keep_body`]): what `$request_body` reads from the content phase on.
    pub request_body: Option<&'a [u8]>,
    /// The length of a chunked body read whole (nginx's `content_length_n` once its body
    /// filter has it): `$content_length` from the content phase on.
    pub body_length: Option<u64>,
    /// `$request_body_file`: the file a proxy pass wrote the body to (see
    /// [`KeepBody::file`]), from the content phase on.
    pub request_body_file: Option<&'a [u8]>,
    /// The request as the route being served left it (`None` until one is): the access
    /// log and the headers filter of a proxied answer read it, not routing.
    pub routed: Option<&'a Routed>,
}

/// nginx's `ngx_stat_*` counters, shared by every worker and kept across reloads. The runtime
/// moves a connection between the states as nginx does: `waiting` while it waits for a
/// request's first byte (a new connection, a kept-alive one), `reading` from that byte until
/// the head is read, `writing` from then until the request is over (a tunnel's whole life);
/// a TLS handshake under way is in none of them. Relaxed atomics: each is a statistic read on
/// its own, as nginx's are.
#[derive(Debug, Default)]
pub struct ConnectionCounts {
    pub accepted: Counter,
    pub handled: Counter,
    pub requests: Counter,
    /// Open client connections (tunnels included).
    pub active: Counter,
    pub reading: Counter,
    pub writing: Counter,
    pub waiting: Counter,
}

/// One counter on a cache line of its own (nginx gives each 128 bytes of its shared zone), so
/// workers bumping one do not slow readers of another.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Counter(pub std::sync::atomic::AtomicU64);

impl Counter {
    pub const fn new() -> Counter {
        Counter(std::sync::atomic::AtomicU64::new(0))
    }

    pub fn add(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn sub(&self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl ConnectionCounts {
    pub const fn new() -> ConnectionCounts {
        ConnectionCounts {
            accepted: Counter::new(),
            handled: Counter::new(),
            requests: Counter::new(),
            active: Counter::new(),
            reading: Counter::new(),
            writing: Counter::new(),
            waiting: Counter::new(),
        }
    }
}

/// Counters that count nothing, for requests not served by a running server (`explain`).
pub static UNCOUNTED: ConnectionCounts = ConnectionCounts::new();

/// How the answer is written (nginx's chunked and write filters), decided for the level the
/// request ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sending {
    /// `chunked_transfer_encoding`: an HTTP/1.1 body of unknown length goes out chunked;
    /// `off`, the connection closes after it instead.
    pub chunked: bool,
    /// The rate the body is sent at, bytes per second (0: unlimited): `limit_rate`
    /// evaluated, or `set $limit_rate`'s.
    pub limit_rate: u64,
    /// `limit_rate_after`: bytes sent at full speed first.
    pub limit_rate_after: u64,
    /// `proxy_limit_rate`: bytes per second read from the upstream (0: unlimited).
    pub proxy_limit_rate: u64,
    /// `keepalive_timeout`'s second value: a kept-alive answer says `Keep-Alive: timeout=N`
    /// (0: no such header).
    pub keepalive_header: u64,
    /// How a body no one read is discarded once the answer is out; `None` when nginx
    /// refused the head before it read `Content-Length` (nothing is discarded, the
    /// connection closes).
    pub lingering: Option<Lingering>,
    /// `msie_padding`: nginx's error pages are padded for MSIE and Chrome.
    pub msie_padding: bool,
}

/// `lingering_timeout` and `lingering_time`: each read of a discarded body waits at most
/// `timeout`, all of them at most `time` (`ngx_http_discarded_request_body_handler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lingering {
    pub timeout: Duration,
    pub time: Duration,
}

impl Default for Lingering {
    fn default() -> Lingering {
        Lingering {
            timeout: crate::defaults::http::LINGERING_TIMEOUT,
            time: crate::defaults::http::LINGERING_TIME,
        }
    }
}

impl Default for Sending {
    fn default() -> Sending {
        Sending {
            chunked: true,
            limit_rate: 0,
            limit_rate_after: 0,
            proxy_limit_rate: 0,
            keepalive_header: 0,
            lingering: Some(Lingering::default()),
            msie_padding: true,
        }
    }
}

/// What the log line of a request refused before routing may read of it: nginx logs it with
/// the server level's configuration (see [`Site::refused`]) and what it had parsed.
#[derive(Debug, Clone, Copy)]
pub struct Refused<'a> {
    /// `$request`: the request line as far as it was read.
    pub line: &'a [u8],
    /// The request line was complete and valid: `method`, `target` and `version` are its
    /// parts. Otherwise they are empty and `$request_method`, `$request_uri`, `$uri` and
    /// `$args` are not found.
    pub line_parsed: bool,
    /// The version had begun in a line that was not parsed: `$server_protocol` is then
    /// empty rather than not found (nginx had noted where it starts).
    pub protocol_begun: bool,
    /// The line was parsed but its target refused ([`target_refused`]): `$uri` is then
    /// empty, and `$request_uri` and `$args` not found.
    pub target_refused: bool,
}

/// `$limit_req_status` and `$limit_conn_status`: `None` until the module decided (nginx's
/// "not found").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitStatus {
    pub req: Option<ReqStatus>,
    pub conn: Option<ConnStatus>,
}

impl LimitStatus {
    /// This request's statuses with those decided later added.
    pub fn merge(&mut self, later: LimitStatus) {
        self.req = self.req.or(later.req);
        self.conn = self.conn.or(later.conn);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqStatus {
    Passed,
    Delayed,
    Rejected,
    DelayedDryRun,
    RejectedDryRun,
}

impl ReqStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReqStatus::Passed => "PASSED",
            ReqStatus::Delayed => "DELAYED",
            ReqStatus::Rejected => "REJECTED",
            ReqStatus::DelayedDryRun => "DELAYED_DRY_RUN",
            ReqStatus::RejectedDryRun => "REJECTED_DRY_RUN",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnStatus {
    Passed,
    Rejected,
    RejectedDryRun,
}

impl ConnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnStatus::Passed => "PASSED",
            ConnStatus::Rejected => "REJECTED",
            ConnStatus::RejectedDryRun => "REJECTED_DRY_RUN",
        }
    }
}

pub use super::limit::ConnHolds;

/// The range filter, for a proxied answer under `proxy_force_ranges`.
pub use super::browser::wants_padding;
pub use super::clock::parse_time as parse_http_time;
pub use super::conditional::{Asked, Ranges, ranges};

/// What the preaccess limits did to a request while it was routed.
#[derive(Debug, Clone, Default)]
pub struct Limited {
    /// `limit_req` delays the request: the route is no answer; wait this long (without
    /// blocking the thread), then route the request again with `status` in its
    /// [`RequestInfo::limits`]. Its `errors` are still to be logged.
    pub delay: Option<Duration>,
    /// `auth_delay`: the access phase refused with a 401; wait this long (without blocking
    /// the thread), then serve the route as it is. [`Route::take_limited`] leaves it to
    /// [`Route::take_auth_delay`], which the runtime calls as it serves the route (the first,
    /// or one routed again after an auth subrequest or a proxy pass).
    pub auth_delay: Option<Duration>,
    pub status: LimitStatus,
    /// The `limit_conn` counts the request holds: keep them until the request is over (a
    /// tunnel's whole life), then drop them.
    pub holds: Option<Arc<ConnHolds>>,
}

/// A fresh `$request_id`: 16 random bytes in hex, drawn by whoever builds a [`RequestInfo`].
/// Drawn for every request whether or not the configuration reads it, so the draw is cheap:
/// a per-thread wyrand generator, seeded once from the process's random keys (nginx uses
/// OpenSSL's `RAND_bytes`; either way the id is unpredictable enough to tell requests apart).
pub fn request_id() -> [u8; 32] {
    use std::cell::Cell;
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0);
            h.finish()
        });
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 32];
    for half in id.chunks_mut(16) {
        let state = STATE.with(|s| {
            let next = s.get().wrapping_add(0xa076_1d64_78bd_642f);
            s.set(next);
            next
        });
        let mixed = u128::from(state) * u128::from(state ^ 0xe703_7ed1_a0b4_28db);
        let word = ((mixed >> 64) as u64) ^ (mixed as u64);
        for (j, byte) in word.to_be_bytes().iter().enumerate() {
            half[2 * j] = HEX[usize::from(byte >> 4)];
            half[2 * j + 1] = HEX[usize::from(byte & 0xf)];
        }
    }
    id
}

/// nginx's answer to a request.
#[derive(Debug)]
// Returned once per request and moved once: boxing the answer would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum Route {
    /// Answer directly: `return`, the 301 to `/path/`, 404 when no location matches, 400 for a
    /// bad request.
    Respond(Response),
    /// A file from the static handler (after the not-modified and range filters).
    File(Box<FileResponse>),
    Proxy(Box<ProxyRequest>),
    /// `auth_request`: serve this subrequest (its answer discarded, nothing logged for it),
    /// then route the request again with its outcome in `RequestInfo::auth`.
    Auth(Box<Subrequest>),
}

/// `proxy_bind`'s address for one request: the upstream socket is bound to it before it
/// connects (`ngx_event_connect_peer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalBind {
    pub addr: std::net::SocketAddr,
    /// As written (or evaluated), for nginx's `bind(NAME) failed` line.
    pub name: String,
    /// `transparent`: `IP_TRANSPARENT` is set first.
    pub transparent: bool,
}

/// A background subrequest of the `mirror` module, routed with the main request: the runtime
/// serves it beside the main request, drops its answer, and holds the connection (and the
/// main request's log line) until it is over.
#[derive(Debug)]
pub struct Mirror {
    /// The URI it was started with (named in its error-log lines).
    pub uri: Bytes,
    pub route: Route,
    /// `mirror_request_body` of the location that started it: the main request's body is
    /// read whole before it starts (the main request waits for it), and it is sent too.
    pub request_body: bool,
    /// That location's `client_max_body_size` (0: no limit), for reading the body.
    pub client_max_body_size: u64,
    /// A `limit_req` delay of the subrequest's own location, waited out before it is served.
    pub delay: Option<Duration>,
    /// The `limit_conn` counts it holds until it is over.
    pub holds: Option<Arc<ConnHolds>>,
}

/// An `auth_request` subrequest and what the main request's first pass decided.
#[derive(Debug)]
pub struct Subrequest {
    pub route: Route,
    /// The main request's settings so far (keepalive, limits): as any route's.
    pub keepalive: KeepaliveLimits,
    pub limited: Limited,
    /// The main request's error-log lines of this pass, written again by the next.
    pub errors: Vec<ErrorLine>,
}

/// A line for the error log that routing decided on (nginx's handlers log as they decide);
/// the runtime adds the client, request and host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLine {
    pub level: Severity,
    pub message: String,
    /// The chosen server's name (`server: ...` in the line).
    pub server: Bytes,
    /// The client the realip module found, when it found one (nginx's `client: ...` is the
    /// connection's address text, which realip changes for the request).
    pub client: Option<Peer>,
    /// Logged on nginx's cycle log: the message alone, without the connection, client and
    /// request.
    pub cycle: bool,
}

impl ErrorLine {
    pub fn error(message: String) -> ErrorLine {
        ErrorLine::at(Severity::Error, message)
    }

    pub fn crit(message: String) -> ErrorLine {
        ErrorLine::at(Severity::Crit, message)
    }

    /// The auth_basic module's note that no credentials came.
    pub fn info(message: String) -> ErrorLine {
        ErrorLine::at(Severity::Info, message)
    }

    pub fn alert(message: String) -> ErrorLine {
        ErrorLine::at(Severity::Alert, message)
    }

    pub fn at(level: Severity, message: String) -> ErrorLine {
        ErrorLine {
            level,
            message,
            server: Bytes::new(),
            client: None,
            cycle: false,
        }
    }

    /// A line nginx writes on its cycle log (a shared zone out of memory).
    pub fn cycle(level: Severity, message: String) -> ErrorLine {
        ErrorLine {
            cycle: true,
            ..ErrorLine::at(level, message)
        }
    }
}

/// The levels routing logs at (nginx's handlers use these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Alert,
    Crit,
    Error,
    Warn,
    Notice,
    Info,
}

/// A file to send: the head decided, the body read from `file` part by part.
#[derive(Debug)]
pub struct FileResponse {
    /// 200, 206, 304, or the status an `error_page` gave.
    pub status: u16,
    /// `Content-Type`, `Last-Modified`, `ETag`, `add_header`s, `Accept-Ranges` or
    /// `Content-Range`, in nginx's order; Content-Length is the parts' total.
    pub headers: Vec<(Bytes, Bytes)>,
    pub file: std::fs::File,
    /// The body: the whole file, one range, or a multipart/byteranges body.
    pub parts: Vec<FilePart>,
    pub log: Arc<LogSpec>,
    /// The request as routing left it, for its access-log line (see [`Routed`]).
    pub routed: Option<Arc<Routed>>,
    pub errors: Vec<ErrorLine>,
    pub server_tokens: bool,
    /// The client connection's limits, from the location.
    pub keepalive: KeepaliveLimits,
    /// The location's gzip and gunzip filters; `None` with both off.
    pub gzip: Option<Arc<Gzip>>,
    /// `gzip_static on` found a `.gz` file and `gzip_vary` is on: the answer says
    /// `Vary: Accept-Encoding` (nginx's `r->gzip_vary`), whichever file it sends.
    pub vary: bool,
    /// The sub filter of the level that answers, its strings evaluated; `None` without
    /// `sub_filter` or when every search string came out empty.
    pub sub_filter: Option<Arc<SubFilter>>,
    /// The addition filter of the level that answers a main request.
    pub addition: Option<Arc<Addition>>,
    /// The SSI filter of the level that answers, under `ssi on`.
    pub ssi: Option<Arc<Ssi>>,
    pub limited: Limited,
    pub sending: Sending,
    /// `add_trailer` of the level that answers.
    pub trailers: Option<Arc<dyn AddedTrailers>>,
    /// The `mirror` subrequests the request started on its way here, in order.
    pub mirrors: Vec<Mirror>,
    /// The range filter refused to cut the body (nginx's "range in overlapped buffers"):
    /// the connection closes before the head is sent, the status logged.
    pub aborted: bool,
}

/// A piece of a file response's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilePart {
    Text(Bytes),
    Range { start: u64, len: u64 },
}

impl FilePart {
    /// Bytes it adds to the body.
    pub fn size(&self) -> u64 {
        match self {
            FilePart::Text(t) => t.len() as u64,
            FilePart::Range { len, .. } => *len,
        }
    }
}

impl Route {
    /// What the client connection is held to once this request ends: nginx applies the
    /// limits of the location (or server) the request ended in.
    pub fn keepalive(&self) -> &KeepaliveLimits {
        match self {
            Route::Respond(r) => &r.keepalive,
            Route::File(f) => &f.keepalive,
            Route::Proxy(p) => &p.keepalive,
            Route::Auth(a) => &a.keepalive,
        }
    }

    /// The same answer with the gzip filter of the level it ended in.
    pub fn with_gzip(mut self, gzip: Option<Arc<Gzip>>) -> Route {
        match &mut self {
            Route::Respond(r) => r.gzip = gzip,
            Route::File(f) => f.gzip = gzip,
            Route::Proxy(p) => p.gzip = gzip,
            Route::Auth(_) => {}
        }
        self
    }

    /// The same answer with the sub filter of the level it ended in.
    pub fn with_sub_filter(mut self, sub_filter: Option<Arc<SubFilter>>) -> Route {
        match &mut self {
            Route::Respond(r) => r.sub_filter = sub_filter,
            Route::File(f) => f.sub_filter = sub_filter,
            Route::Proxy(p) => p.sub_filter = sub_filter,
            Route::Auth(_) => {}
        }
        self
    }

    /// The same answer with the SSI filter of the level it ended in.
    pub fn with_ssi(mut self, ssi: Option<Arc<Ssi>>) -> Route {
        match &mut self {
            Route::Respond(r) => r.ssi = ssi,
            Route::File(f) => f.ssi = ssi,
            Route::Proxy(p) => p.ssi = ssi,
            Route::Auth(_) => {}
        }
        self
    }

    /// The same answer with the addition filter of the level it ended in.
    pub fn with_addition(mut self, addition: Option<Arc<Addition>>) -> Route {
        match &mut self {
            Route::Respond(r) => r.addition = addition,
            Route::File(f) => f.addition = addition,
            Route::Proxy(p) => p.addition = addition,
            Route::Auth(_) => {}
        }
        self
    }

    /// The request as this route left it (an `auth_request` subrequest's pass has none for
    /// the main request).
    pub fn routed(&self) -> Option<Arc<Routed>> {
        match self {
            Route::Respond(r) => r.routed.clone(),
            Route::File(f) => f.routed.clone(),
            Route::Proxy(p) => p.routed.clone(),
            Route::Auth(_) => None,
        }
    }

    /// Whether anything re-reads the request after routing (`route::prepare`): an access
    /// log, `add_trailer`, the addition filter's subrequests, or a proxied answer's headers filter or cookie rules with variables. Only then
    /// is the request's final state kept for it.
    pub fn rereads_request(&self) -> bool {
        let log = match self {
            Route::Respond(r) => &r.log,
            Route::File(f) => &f.log,
            Route::Proxy(p) => &p.log,
            Route::Auth(_) => return false,
        };
        let trailers = match self {
            Route::Respond(r) => &r.trailers,
            Route::File(f) => &f.trailers,
            Route::Proxy(p) => &p.trailers,
            Route::Auth(_) => return false,
        };
        // The SSI filter reads variables, and its subrequests start from the request.
        let (addition, ssi) = match self {
            Route::Respond(r) => (&r.addition, &r.ssi),
            Route::File(f) => (&f.addition, &f.ssi),
            Route::Proxy(p) => (&p.addition, &p.ssi),
            Route::Auth(_) => return false,
        };
        !log.files.is_empty()
            || trailers.is_some()
            || addition.is_some()
            || ssi.is_some()
            || matches!(self, Route::Proxy(p) if p.cookies.is_some() || p.add_headers.reads_request())
    }

    /// The same answer, with the request as routing left it.
    pub fn with_routed(mut self, routed: Routed) -> Route {
        let routed = Some(Arc::new(routed));
        match &mut self {
            Route::Respond(r) => r.routed = routed,
            Route::File(f) => f.routed = routed,
            Route::Proxy(p) => p.routed = routed,
            Route::Auth(_) => {}
        }
        self
    }

    /// What the preaccess limits did, taken out of the route.
    pub fn take_limited(&mut self) -> Limited {
        let limited = self.limited_mut();
        let auth_delay = limited.auth_delay.take();
        let taken = std::mem::take(limited);
        limited.auth_delay = auth_delay;
        taken
    }

    /// The `auth_delay` to wait out before the answer is served (see [`Limited`]).
    pub fn take_auth_delay(&mut self) -> Option<Duration> {
        self.limited_mut().auth_delay.take()
    }

    fn limited_mut(&mut self) -> &mut Limited {
        match self {
            Route::Respond(r) => &mut r.limited,
            Route::File(f) => &mut f.limited,
            Route::Proxy(p) => &mut p.limited,
            Route::Auth(a) => &mut a.limited,
        }
    }

    /// The `mirror` subrequests the request started, taken out of the route.
    pub fn take_mirrors(&mut self) -> Vec<Mirror> {
        match self {
            Route::Respond(r) => std::mem::take(&mut r.mirrors),
            Route::File(f) => std::mem::take(&mut f.mirrors),
            Route::Proxy(p) => std::mem::take(&mut p.mirrors),
            Route::Auth(_) => Vec::new(),
        }
    }

    /// The same answer with the `mirror` subrequests the request started (an
    /// `auth_request` subrequest's pass ends before the precontent phase: none).
    pub fn with_mirrors(mut self, mirrors: Vec<Mirror>) -> Route {
        match &mut self {
            Route::Respond(r) => r.mirrors = mirrors,
            Route::File(f) => f.mirrors = mirrors,
            Route::Proxy(p) => p.mirrors = mirrors,
            Route::Auth(_) => {}
        }
        self
    }

    /// The same answer with what the preaccess limits did.
    pub fn with_limited(mut self, limited: Limited) -> Route {
        match &mut self {
            Route::Respond(r) => r.limited = limited,
            Route::File(f) => f.limited = limited,
            Route::Proxy(p) => p.limited = limited,
            Route::Auth(a) => a.limited = limited,
        }
        self
    }

    /// The error-log lines that go with the answer.
    pub fn errors_mut(&mut self) -> &mut Vec<ErrorLine> {
        match self {
            Route::Respond(r) => &mut r.errors,
            Route::File(f) => &mut f.errors,
            Route::Proxy(p) => &mut p.errors,
            Route::Auth(a) => &mut a.errors,
        }
    }

    /// How the answer is to be written.
    pub fn sending(&self) -> Sending {
        match self {
            Route::Respond(r) => r.sending,
            Route::File(f) => f.sending,
            Route::Proxy(p) => p.sending,
            Route::Auth(_) => Sending::default(),
        }
    }

    /// The same answer written as `sending` says.
    pub fn with_sending(mut self, sending: Sending) -> Route {
        match &mut self {
            Route::Respond(r) => r.sending = sending,
            Route::File(f) => f.sending = sending,
            Route::Proxy(p) => p.sending = sending,
            Route::Auth(_) => {}
        }
        self
    }

    /// The same answer with the answering level's `add_trailer` lines.
    pub fn with_trailers(mut self, trailers: Option<Arc<dyn AddedTrailers>>) -> Route {
        match &mut self {
            Route::Respond(r) => r.trailers = trailers,
            Route::File(f) => f.trailers = trailers,
            Route::Proxy(p) => p.trailers = trailers,
            Route::Auth(_) => {}
        }
        self
    }

    /// The same answer under `limits`.
    pub fn with_keepalive(mut self, limits: KeepaliveLimits) -> Route {
        match &mut self {
            Route::Respond(r) => r.keepalive = limits,
            Route::File(f) => f.keepalive = limits,
            Route::Proxy(p) => p.keepalive = limits,
            Route::Auth(a) => a.keepalive = limits,
        }
        self
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub log: Arc<LogSpec>,
    /// The request as routing left it, for its access-log line (see [`Routed`]).
    pub routed: Option<Arc<Routed>>,
    /// Extra headers such as `Location`.
    pub headers: Vec<(Bytes, Bytes)>,
    /// `None`: nginx's default page for the status.
    pub body: Option<Bytes>,
    /// The handler sent its header before the body was made (autoindex): no
    /// `Content-Length`, so the body goes chunked, or the connection closes after it.
    pub length_unknown: bool,
    pub errors: Vec<ErrorLine>,
    /// What a `Location` starting with `/` gets in front (`absolute_redirect`), as for
    /// [`ProxyRequest::location_base`]; such a `Location` then moves to the header filter's
    /// own place. Any other `Location` stays where it is among the headers.
    pub location_base: Option<Bytes>,
    /// nginx refused the head at this header line (its index) as it processed it: the
    /// lines after it were never read, so `$request_length` ends with it and their
    /// `$http_*` are not found.
    pub head_cut: Option<usize>,
    /// `server_tokens`: `Server` and nginx's pages carry the version.
    pub server_tokens: bool,
    /// The client connection's limits, from the level that answered.
    pub keepalive: KeepaliveLimits,
    /// The gzip filter of the level that answered; `None` with `gzip off` and `gunzip off`.
    pub gzip: Option<Arc<Gzip>>,
    /// The sub filter of the level that answers, its strings evaluated; `None` without
    /// `sub_filter` or when every search string came out empty.
    pub sub_filter: Option<Arc<SubFilter>>,
    /// The addition filter of the level that answers a main request.
    pub addition: Option<Arc<Addition>>,
    /// The SSI filter of the level that answers, under `ssi on`.
    pub ssi: Option<Arc<Ssi>>,
    pub limited: Limited,
    pub sending: Sending,
    /// `add_trailer` of the level that answers.
    pub trailers: Option<Arc<dyn AddedTrailers>>,
    /// The `mirror` subrequests the request started on its way here, in order.
    pub mirrors: Vec<Mirror>,
}

/// What a `fastcgi_pass`, `scgi_pass` or `uwsgi_pass` sends instead of an HTTP head: the
/// params, `*_param`s then the client's headers as `HTTP_*`, in nginx's order, and what the
/// protocol adds to them.
#[derive(Debug, Clone)]
pub struct GatewayRequest {
    pub params: Vec<(Bytes, Bytes)>,
    /// Where the client's headers begin among `params`, after the `*_param`s.
    pub headers_at: usize,
    /// A `fastcgi_param` names `HTTP_IF_MODIFIED_SINCE` and `HTTP_IF_NONE_MATCH` (empty or
    /// not): `fastcgi_cache_revalidate` sends its own in their place only when none does.
    pub own_validators: [bool; 2],
    /// `*_request_buffering` (on by default): the body is read whole before it is sent (a
    /// FastCGI body's STDIN records are then cut as nginx cuts a body it holds, every 32 KiB).
    pub whole_body: bool,
    pub protocol: Gateway,
}

/// The protocol of a [`GatewayRequest`], with its own settings.
#[derive(Debug, Clone)]
pub enum Gateway {
    FastCgi {
        /// `fastcgi_keep_conn`: the application is asked to keep the connection.
        keep_conn: bool,
        /// `fastcgi_catch_stderr`: STDERR naming any of these before the head makes the
        /// answer an invalid one.
        catch_stderr: Arc<[Bytes]>,
    },
    Scgi,
    /// `uwsgi_modifier1` and `uwsgi_modifier2`, the packet header's first and last bytes.
    Uwsgi {
        modifier1: u8,
        modifier2: u8,
    },
}

impl GatewayRequest {
    /// nginx puts every FastCGI param in one PARAMS record, and uwsgi's in one packet whose
    /// size takes two bytes: no more than this many bytes.
    pub const MAX_PACKET: usize = 65535;

    /// The params' size where the protocol limits it (FastCGI's PARAMS record: each name
    /// and value with its length, one byte up to 127, four above; uwsgi's packet: two bytes
    /// before each), with the word nginx's alert names it by.
    pub fn limited_len(&self) -> Option<(usize, &'static str)> {
        let sum = |sized: fn(usize) -> usize| {
            self.params
                .iter()
                .map(|(n, v)| sized(n.len()) + sized(v.len()))
                .sum()
        };
        match self.protocol {
            Gateway::FastCgi { .. } => Some((
                sum(|n| n + if n > 127 { 4 } else { 1 }),
                "fastcgi request record",
            )),
            Gateway::Scgi => None,
            Gateway::Uwsgi { .. } => Some((sum(|n| n + 2), "uwsgi request")),
        }
    }

    /// The scheme nginx's error log writes before the upstream's address (uwsgi's over
    /// `tls` is `suwsgi`).
    pub fn scheme(&self, tls: bool) -> &'static str {
        match self.protocol {
            Gateway::FastCgi { .. } => "fastcgi",
            Gateway::Scgi => "scgi",
            Gateway::Uwsgi { .. } if tls => "suwsgi",
            Gateway::Uwsgi { .. } => "uwsgi",
        }
    }
}

impl ProxyRequest {
    /// A `fastcgi_pass`'s `fastcgi_keep_conn` and `fastcgi_catch_stderr`.
    pub fn fastcgi(&self) -> Option<(bool, &[Bytes])> {
        match self.gateway.as_deref().map(|g| &g.protocol) {
            Some(Gateway::FastCgi {
                keep_conn,
                catch_stderr,
            }) => Some((*keep_conn, catch_stderr)),
            _ => None,
        }
    }
}

/// Everything needed to send one request upstream and treat the answer as nginx would.
#[derive(Debug)]
pub struct ProxyRequest {
    /// The group to balance over; when `resolve` is set, an empty stand-in named after the
    /// host that the runtime replaces with the resolved addresses.
    pub upstream: Arc<UpstreamGroup>,
    /// A host name the runtime must resolve first (`proxy_pass` with variables naming no
    /// upstream block, under a `resolver`).
    pub resolve: Option<Resolve>,
    /// The method sent upstream: the request's, or `proxy_method`'s value.
    pub method: Bytes,
    /// The request's own method is not POST, LOCK or PATCH: once sent, it may go to another
    /// server (nginx decides by `r->method`, whatever `proxy_method` sends).
    pub idempotent: bool,
    /// `proxy_set_body`: the body sent upstream instead of the client's (which is read and
    /// dropped first), with its length as `Content-Length`.
    pub body: Option<Bytes>,
    /// `proxy_request_buffering off` on a body sent as read: the client's body goes upstream
    /// as it arrives, however short, right behind the head (`ngx_http_upstream_init` runs
    /// before the body is read, not after).
    pub stream_body: bool,
    /// `proxy_ignore_client_abort`: a client that closes while the upstream works does not
    /// end the exchange.
    pub ignore_client_abort: bool,
    /// `proxy_force_ranges`: the range filter serves a 200 of known length, one range at
    /// most, in place of the upstream's `Accept-Ranges` (which is not passed on).
    pub force_ranges: bool,
    /// `max_ranges` is not 0: the range filter runs at all.
    pub range_filter: bool,
    /// `proxy_ignore_headers`: the upstream's `X-Accel-*` headers not acted on.
    pub ignore_headers: IgnoreHeaders,
    /// Set when the configuration reads `$request_body` or `$request_body_file`, or has
    /// bodies written to files: the runtime keeps what nginx would hold of the client's body
    /// in memory, writes the file nginx would, and builds the request again with them.
    pub keep_body: Option<KeepBody>,
    /// `proxy_cookie_domain`, `proxy_cookie_path`, `proxy_cookie_flags`: `None` without any.
    pub cookies: Option<Arc<dyn CookieRewrite>>,
    /// Path and query as sent upstream, after `proxy_pass` URI rewriting.
    pub uri: Bytes,
    /// `proxy_http_version`: `HTTP/1.0` (nginx 1.22's default) or `HTTP/1.1`.
    pub version: &'static str,
    /// Upstream request headers in order, after `proxy_set_header`, hiding and passing rules.
    /// Host is among them. Content-Length/Transfer-Encoding are set by the runtime from the body.
    pub headers: Vec<(Bytes, Bytes)>,
    /// Where Content-Length / Transfer-Encoding go in `headers`: nginx sends them after the
    /// configured headers (`proxy_set_header` and its defaults) and before the client's.
    pub body_headers_at: usize,
    /// `proxy_set_header` gave `Content-Length` (see `CProxy::own_length`): nginx's
    /// computed one is not added.
    pub own_length: bool,
    /// `proxy_redirect`: `None` without any rule.
    pub redirects: Option<Arc<dyn RedirectRewrite>>,
    /// What a `Location` (or `Refresh` URL) starting with `/` in the upstream's answer, after
    /// `redirects`, gets in front (`absolute_redirect`): `http://host[:port]`; `None` with
    /// `absolute_redirect off`.
    pub location_base: Option<Bytes>,
    /// For `hash KEY`: the evaluated key.
    pub balance_key: Option<Bytes>,
    /// The client's address as nginx sees it (the realip module's, else the connection's):
    /// `ip_hash` and the error log's `client:` use it.
    pub client: Peer,
    /// The chosen server's first name: the `server:` of nginx's proxy error-log lines.
    pub server: Bytes,
    /// `proxy_pass_request_body`.
    pub pass_body: bool,
    /// The client sent `Upgrade` (only then may a 101 open a tunnel).
    pub client_upgrade: bool,
    pub timeouts: ProxyTimeouts,
    pub buffers: ProxyBuffers,
    pub next_upstream: NextUpstream,
    /// Response headers the client must not see (`proxy_hide_header` plus nginx's defaults).
    pub hide_headers: Vec<Bytes>,
    /// The location's `add_header` lines, evaluated once the answer is known.
    pub add_headers: Arc<dyn AddedHeaders>,
    /// `client_max_body_size` (0 = unlimited).
    pub client_max_body_size: u64,
    /// Which access logs to write when the request ends.
    pub log: Arc<LogSpec>,
    /// The request as routing left it, for its access-log line and the headers filter of
    /// the answer (see [`Routed`]).
    pub routed: Option<Arc<Routed>>,
    /// The statuses the location has an `error_page` for: a 502/504 with one is answered
    /// through [`Site::reroute`], and so is an upstream's status with one when
    /// `intercept_errors` (`proxy_intercept_errors`) is on.
    pub error_pages: Vec<u16>,
    pub intercept_errors: bool,
    /// The proxy passes this request went through before this one (see [`Site::reroute`]).
    pub passes: Vec<Pass>,
    /// Response headers the request already holds when this pass answers it (nginx's
    /// `headers_out` before the upstream's are copied in): those an `X-Accel-Redirect`
    /// answer kept, or a special response's that an `error_page` took over. They go out
    /// first, before the upstream's.
    pub carried: Vec<(Bytes, Bytes)>,
    /// What the userid filter adds, after `add_header`'s lines.
    pub userid: Vec<(Bytes, Bytes)>,
    /// The `Content-Type` an `X-Accel-Redirect` answer set: sent when the upstream sends
    /// none.
    pub content_type: Option<Bytes>,
    /// The status an `error_page` (without `=`, or with `=CODE`) imposes on the answer.
    pub status: Option<u16>,
    /// `server_tokens`, for `Server` and nginx's pages.
    pub server_tokens: bool,
    /// An `auth_request` subrequest's pass: its upstream's headers are kept for the main
    /// request (`auth_request_set`, the 401's `WWW-Authenticate`).
    pub subrequest: bool,
    /// Error-log lines from routing (files `try_files` or an error page's handler failed
    /// to open on the way here).
    pub errors: Vec<ErrorLine>,
    /// The client connection's limits, from the location.
    pub keepalive: KeepaliveLimits,
    /// The location's gzip and gunzip filters; `None` with both off.
    pub gzip: Option<Arc<Gzip>>,
    /// The sub filter of the level that answers, its strings evaluated; `None` without
    /// `sub_filter` or when every search string came out empty.
    pub sub_filter: Option<Arc<SubFilter>>,
    /// The addition filter of the level that answers a main request.
    pub addition: Option<Arc<Addition>>,
    /// The SSI filter of the level that answers, under `ssi on`.
    pub ssi: Option<Arc<Ssi>>,
    /// TLS to the upstream, for an `https://` `proxy_pass`.
    pub tls: Option<TlsTarget>,
    /// `proxy_bind`: the local address the connection is bound to.
    pub bind: Option<LocalBind>,
    pub limited: Limited,
    pub sending: Sending,
    /// `proxy_cache`: `None` without a cache, or for a method it does not cache.
    pub cache: Option<Box<CacheRequest>>,
    /// `add_trailer` of the level that answers.
    pub trailers: Option<Arc<dyn AddedTrailers>>,
    /// The `mirror` subrequests the request started on its way here, in order.
    pub mirrors: Vec<Mirror>,
    /// `fastcgi_pass`, `scgi_pass`, `uwsgi_pass`: the upstream speaks that protocol (the
    /// HTTP head's fields are unused).
    pub gateway: Option<Box<GatewayRequest>>,
}

pub use super::cache::{
    CacheRequest, CacheZone, Lock, Ranged, Touched, ranged, validators_of, validity,
};
pub use super::conditional::{Validators, Validity};

/// `proxy_no_cache`, evaluated on the upstream's answer (`$upstream_http_*` included).
pub trait NoCache: std::fmt::Debug + Send + Sync {
    /// Whether a value is neither empty nor `0`: the answer is not stored.
    fn holds(&self, request: &RequestInfo<'_>, outcome: &Outcome) -> bool;
}

/// `$upstream_cache_status`: what the cache did for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Miss,
    Bypass,
    Expired,
    Hit,
    Stale,
    Updating,
    Revalidated,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Miss => "MISS",
            CacheStatus::Bypass => "BYPASS",
            CacheStatus::Expired => "EXPIRED",
            CacheStatus::Hit => "HIT",
            CacheStatus::Stale => "STALE",
            CacheStatus::Updating => "UPDATING",
            CacheStatus::Revalidated => "REVALIDATED",
        }
    }
}

/// How nginx holds the body a proxy pass reads (`ngx_http_read_client_request_body`), as far
/// as `$request_body` and `$request_body_file` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepBody {
    /// `client_body_buffer_size`: what did not come with the head stays in memory when it is
    /// shorter than this and a quarter more (with `Content-Length`), or when its chunked
    /// bytes fit in it; a longer body goes to a temporary file, where the variable does not
    /// read it.
    pub buffer_size: u64,
    /// The body is read whole before the request goes upstream: `proxy_request_buffering`
    /// on, or a body nginx must buffer anyway (`proxy_set_body`, `proxy_pass_request_body
    /// off`, chunked to an HTTP/1.0 upstream). Otherwise the variable holds what had
    /// arrived when the pass began.
    pub buffered: bool,
    /// `client_body_in_file_only`: a body read whole goes to a file even when it fits the
    /// buffer (nginx writes no file for a body it streams).
    pub in_file_only: InFileOnly,
    /// `client_body_temp_path`: where the files go.
    pub temp_path: Arc<TempPath>,
}

/// What a proxy pass ended in, when it did not answer the request (see [`Site::reroute`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    /// It failed with this status (502, 504...), or its upstream answered it under
    /// `proxy_intercept_errors`: the location's `error_page` for it takes over.
    Status(u16),
    /// Its upstream answered with `X-Accel-Redirect`.
    Redirect(Arc<AccelRedirect>),
}

/// An upstream's `X-Accel-Redirect` answer as nginx's upstream module takes it
/// (`ngx_http_upstream_process_headers`): the body is not read, the request is redirected
/// internally to `to`, and the request keeps a few of the answer's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelRedirect {
    /// The header's value: a URI, with arguments after a `?`, or a named location (`@name`).
    pub to: Bytes,
    /// The answer's headers nginx copies into the request's response headers (those its
    /// upstream module marks `redirect`: `Set-Cookie`, rewritten by `proxy_cookie_*`,
    /// `Content-Disposition`, `Cache-Control`, `Expires`, `Accept-Ranges`), in order; they go
    /// out with whatever answers the redirected request, `proxy_hide_header` or not.
    pub headers: Vec<(Bytes, Bytes)>,
    /// The answer's (last) `Content-Type`: the handler answering the redirected request keeps
    /// it (`ngx_http_set_content_type` sets none over it).
    pub content_type: Option<Bytes>,
    /// Its `X-Accel-Limit-Rate`: the redirected request's answer is sent at that rate.
    pub limit_rate: Option<u64>,
}

/// TLS to an `https://` upstream: a location's `proxy_ssl_*` settings with nginx's defaults
/// applied. The runtime builds one client (and its session cache) per value and reuses it for
/// every request of the location, as nginx builds one `SSL_CTX` per location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// `proxy_ssl_protocols` as written; nginx 1.22's default is `TLSv1 TLSv1.1 TLSv1.2`
    /// (no TLS 1.3 to upstreams unless named).
    pub protocols: Vec<String>,
    /// `proxy_ssl_server_name`: send the name as SNI (off by default).
    pub server_name: bool,
    /// `proxy_ssl_verify on` (off by default: any certificate is accepted).
    pub verify: Option<VerifySpec>,
    /// `proxy_ssl_certificate`/`proxy_ssl_certificate_key`: a client certificate.
    pub certificate: Option<CertificatePair>,
    /// `proxy_ssl_session_reuse` (on by default).
    pub session_reuse: bool,
}

/// How `proxy_ssl_verify on` checks the upstream's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifySpec {
    /// `proxy_ssl_trusted_certificate`: PEM certificates to trust.
    pub trusted: PathBuf,
    /// `proxy_ssl_verify_depth` (default 1): how many intermediate certificates may stand
    /// between the upstream's certificate and a trusted one.
    pub depth: u32,
}

/// TLS for one upstream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTarget {
    pub settings: Arc<UpstreamTls>,
    /// `proxy_ssl_name` evaluated (default: the `proxy_pass` host), without its port: sent as
    /// SNI with `proxy_ssl_server_name on` and checked with `proxy_ssl_verify on`.
    pub name: String,
}

/// The methods nginx refuses with a 405 once the head is read, whatever the location
/// (`NGX_HTTP_CONNECT` and `NGX_HTTP_TRACE`): no module of nginx 1.22 serves them.
pub fn refused_method(method: &str) -> bool {
    matches!(method, "CONNECT" | "TRACE")
}

/// A request line's target nginx refuses once the line is read
/// (`ngx_http_process_request_uri`): an escape that is not one or decodes to NUL, or a `..`
/// above the root.
pub fn target_refused(target: &[u8], merge_slashes: bool) -> bool {
    super::uri::parse(target, merge_slashes).is_none()
}

pub use super::addr::{Peer, ProxyProtocol, ip_text, local_port, local_text};
pub use super::regex::{SsiMatch, ssi_match};
pub use super::request::Routed;
pub use super::uri::authority_ok;
pub use crate::config::body_file::{InFileOnly, TempPath};
pub use crate::config::gzip::{GzipTypes, Proxied};
pub use crate::config::listen::ListenAddr;
pub use crate::config::listen_options::{SoKeepalive, SocketOptions};
pub use crate::config::log::{LogBuffer, LogTarget};
pub use crate::config::syslog::{Syslog, SyslogServer};

/// nginx's gzip filter for one request: the settings of the level that answers, and what
/// `ngx_http_gzip_ok` decided from the request alone. The runtime adds what the response
/// decides (status, `Content-Encoding`, length, type, and for `Via` requests its caching
/// headers).
#[derive(Debug, Clone)]
pub struct Gzip {
    pub settings: Arc<GzipSettings>,
    pub client: GzipClient,
}

/// A level's settings of the gzip filter itself.
#[derive(Debug)]
pub struct GzipSettings {
    /// `gzip on`: the gzip filter itself runs (the settings may be here for `gunzip` alone).
    pub filter: bool,
    /// `gunzip on`: an answer in gzip is inflated for a client that may not have gzip.
    pub gunzip: bool,
    /// `gzip_comp_level`.
    pub level: u32,
    /// `gzip_min_length`: a response with a known shorter length is left alone.
    pub min_length: u64,
    pub types: GzipTypes,
    /// `gzip_vary`.
    pub vary: bool,
}

/// `ngx_http_gzip_ok` as far as the request decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GzipClient {
    /// No gzip for this client (`Accept-Encoding`, `gzip_http_version`, `gzip_disable`, or a
    /// `Via` request under `gzip_proxied off`).
    Declined,
    Accepted,
    /// The request came through a proxy (`Via`): these `gzip_proxied` flags decide from the
    /// response's `Expires`, `Cache-Control`, `Last-Modified` and `ETag`.
    ByResponse(Proxied),
}

/// nginx's sub filter (`ngx_http_sub_filter_module`) for one request, its strings evaluated
/// as the answer is about to be sent. The runtime decides from the answer's length and type
/// whether it applies.
#[derive(Debug)]
pub struct SubFilter {
    /// Search strings (lowercased, none empty) with their replacements, in the order nginx
    /// tries them at one place of the body (see `eval::sub_filter::ordered`).
    pub pairs: Vec<(Bytes, Bytes)>,
    /// `sub_filter_types`.
    pub types: GzipTypes,
    /// `sub_filter_once`: each string is replaced at its first match only.
    pub once: bool,
    /// `sub_filter_last_modified`: `Last-Modified` kept (and `ETag` made weak) rather than
    /// both removed.
    pub last_modified: bool,
}

/// nginx's SSI filter (`ngx_http_ssi_filter_module`) of the level that answers, under `ssi
/// on`: the runtime decides from the answer's length and type whether it applies.
#[derive(Debug)]
pub struct Ssi {
    /// `ssi_types`.
    pub types: GzipTypes,
    /// `ssi_silent_errors`: a command that fails writes nothing.
    pub silent_errors: bool,
    /// `ssi_last_modified`: `Last-Modified` kept (and `ETag` made weak) rather than both
    /// removed.
    pub last_modified: bool,
    /// `ssi_value_length`: the longest parameter value.
    pub value_length: usize,
}

/// nginx's addition filter (`ngx_http_addition_filter_module`) of the level that answers a
/// main request: the runtime decides from the answer's status and type whether it applies,
/// then writes the bodies of subrequests to these URIs (see [`Site::subrequest`]) before and
/// after the answer's own.
#[derive(Debug)]
pub struct Addition {
    /// `add_before_body`.
    pub before: Option<Bytes>,
    /// `add_after_body`.
    pub after: Option<Bytes>,
    /// `addition_types`.
    pub types: GzipTypes,
}

/// One `resolver` directive: the DNS servers asked and how answers are kept. Every location
/// that inherits it shares its `Arc`, and so one cache (nginx creates one `ngx_resolver_t` per
/// directive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverSpec {
    /// Asked in turn, one query at a time (nginx's `last_connection` rotation).
    pub servers: Vec<SocketAddr>,
    /// `valid=`: how long an answer is kept, instead of its TTL.
    pub valid: Option<Duration>,
    /// `ipv6=on` (the default in 1.22): AAAA is asked as well as A.
    pub ipv6: bool,
}

/// The name a request's `proxy_pass` evaluated to, to resolve before the first try.
#[derive(Debug, Clone)]
pub struct Resolve {
    pub host: String,
    pub port: u16,
    pub resolver: Arc<ResolverSpec>,
    /// `resolver_timeout`.
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyTimeouts {
    pub connect: Duration,
    pub read: Duration,
    pub send: Duration,
    /// `send_timeout` (towards the client).
    pub client_send: Duration,
    /// `client_body_timeout`: between two reads of the client's body.
    pub client_body: Duration,
}

/// What nginx's buffers decide of what is read from the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyBuffers {
    /// `proxy_buffer_size`: the response head (status line and headers) must end within
    /// this many bytes, else nginx answers `upstream sent too big header`.
    pub head: usize,
    /// `proxy_buffering`: nginx reads the body through its buffers, the head's first. A head
    /// that fills that buffer exactly leaves no room, and the zero-byte read that follows is
    /// taken for the upstream's close.
    pub buffering: bool,
}

/// `proxy_ignore_headers`: which of the upstream's `X-Accel-*` headers nginx does not act
/// on, and which of those that tell `proxy_cache` what to keep (`X-Accel-Expires`,
/// `Expires`, `Cache-Control`, `Set-Cookie`, `Vary`) it does not read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IgnoreHeaders {
    pub x_accel_redirect: bool,
    pub x_accel_limit_rate: bool,
    pub x_accel_buffering: bool,
    pub x_accel_charset: bool,
    /// The headers that tell the cache what to keep and for how long.
    pub x_accel_expires: bool,
    pub expires: bool,
    pub cache_control: bool,
    pub set_cookie: bool,
    pub vary: bool,
}

/// `proxy_next_upstream` and friends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NextUpstream {
    pub error: bool,
    pub timeout: bool,
    pub invalid_header: bool,
    pub http_500: bool,
    pub http_502: bool,
    pub http_503: bool,
    pub http_504: bool,
    pub http_403: bool,
    pub http_404: bool,
    pub http_429: bool,
    pub non_idempotent: bool,
    pub off: bool,
    /// `proxy_next_upstream_tries` (0 = no limit).
    pub tries: u32,
    /// `proxy_next_upstream_timeout` (zero = no limit).
    pub timeout_total: Duration,
}

/// An `upstream` block, or the implicit one-server group of `proxy_pass http://host:port`.
#[derive(Debug)]
pub struct UpstreamGroup {
    pub name: String,
    pub policy: Balance,
    pub servers: Vec<PeerSpec>,
    /// `keepalive N`: idle connections cached per worker; `None` = a new connection each time.
    pub keepalive: Option<usize>,
    /// `keepalive_timeout`, `keepalive_requests` and `keepalive_time` of the block.
    pub keepalive_limits: KeepaliveLimits,
}

/// `client_header_buffer_size` and `large_client_header_buffers` of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderBuffers {
    /// The buffer a connection's first bytes are read into.
    pub client: usize,
    /// How many large buffers one head may take.
    pub large_num: usize,
    /// Their size: no request line or header line may be longer.
    pub large_size: usize,
    /// Every server on the socket has these same buffers: no name needs looking up.
    pub uniform: bool,
    /// The server's `merge_slashes`: nginx reads the request line's target with it (and
    /// refuses one it cannot resolve) before any header is read.
    pub merge_slashes: bool,
}

/// When a kept-alive connection stops being reused, on either side: nginx applies the same
/// three rules to client connections (`http`/`server`/`location` level) and to cached upstream
/// connections (`upstream` level), only with different defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepaliveLimits {
    /// `keepalive_timeout`: how long an idle connection is kept (0: not kept at all).
    pub timeout: Duration,
    /// `keepalive_requests`: requests a connection may carry.
    pub requests: u64,
    /// `keepalive_time`: how long after it opened a connection may still take a request.
    pub time: Duration,
}

impl KeepaliveLimits {
    /// Whether a connection that has carried `requests` requests and has been open for `age`
    /// may be kept for another (nginx checks this when a request ends).
    pub fn allow_another(&self, requests: u64, age: Duration) -> bool {
        !self.timeout.is_zero() && requests < self.requests && age <= self.time
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    LeastConn,
    IpHash,
    /// `hash KEY [consistent]`: the key is evaluated per request into `ProxyRequest`'s
    /// `balance_key` by eval; the runtime only hashes it.
    Hash {
        consistent: bool,
    },
    Random {
        two: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    pub addr: PeerAddr,
    /// As nginx prints the address (`127.0.0.1:8010`), for `$upstream_addr` and logs;
    /// shared, as every request that tries this server records it.
    pub name: Arc<str>,
    pub weight: u32,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub backup: bool,
    pub down: bool,
    pub max_conns: u32,
}

/// Where an upstream server listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    Tcp(SocketAddr),
    /// `unix:/path`: a unix-domain stream socket.
    Unix(PathBuf),
}

/// As nginx names a peer in `$upstream_addr` and logs: `127.0.0.1:8080`, `unix:/path`.
impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAddr::Tcp(addr) => addr.fmt(f),
            PeerAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// One `access_log` line of a level.
#[derive(Debug, Clone)]
pub struct LogFile {
    pub target: LogTarget,
    pub format: Arc<dyn LogFormat>,
    /// `buffer=`, `flush=`, `gzip`: how the file's lines gather; else each is written at once.
    pub buffer: Option<LogBuffer>,
}

/// Where and how to log a finished request; `formats` are compiled `log_format`s.
#[derive(Debug, Default)]
pub struct LogSpec {
    pub files: Vec<LogFile>,
    /// The level's `error_log` targets and levels, for what goes wrong while serving the
    /// request (nginx's `clcf->error_log`); empty: the main level's error log.
    pub errors: Vec<(LogTarget, String)>,
    /// `log_subrequest on`: a subrequest answered here writes its line too.
    pub subrequests: bool,
    /// `post_action`: a request answered here is routed to it next (`RequestInfo::post_action`),
    /// and its line written after that.
    pub post_action: bool,
}

/// A location's headers filter (`expires`, `add_header`). nginx evaluates it as the response
/// head goes out, after the upstream answered: `$upstream_status`, `$upstream_header_time`,
/// `$status` and `$sent_http_*` read the answer being sent.
/// Gives the response headers set so far from those being sent (see `AddedHeaders`).
pub type HeadersSoFar<'f> = &'f dyn Fn(&[(Bytes, Bytes)]) -> Vec<(Bytes, Bytes)>;

pub trait AddedHeaders: std::fmt::Debug + Send + Sync {
    /// Whether evaluating reads the request (a line has variables).
    fn reads_request(&self) -> bool;

    /// The lines that apply to `outcome.status` (every line with `always`), evaluated; lines
    /// whose value comes out empty are left out, as nginx leaves them. `set` gives, from
    /// `headers`, the response headers already set, as `$sent_http_*` finds them then (no
    /// `Server`, `Date` or `Transfer-Encoding` yet: nginx's header filter writes those later);
    /// it is called only when a line has variables.
    /// Before the lines, `expires` sets `Expires` and `Cache-Control` in `headers` (the
    /// upstream's, as they will be sent); after them the charset filter names the charset in
    /// its `Content-Type`.
    fn evaluate(
        &self,
        request: &RequestInfo<'_>,
        outcome: &Outcome,
        set: HeadersSoFar<'_>,
        headers: &mut Vec<(Bytes, Bytes)>,
    ) -> Vec<(Bytes, Bytes)>;
}

/// A level's `add_trailer` lines (`ngx_http_trailers_filter`): the runtime asks, as the head
/// goes out, whether trailers are expected, and evaluates them when the body has ended.
pub trait AddedTrailers: std::fmt::Debug + Send + Sync {
    /// Whether a line applies to an answer with `status` (nginx's `r->expect_trailers`):
    /// the chunked filter then frames the body, whatever its length.
    fn expected(&self, status: u16) -> bool;

    /// The lines that apply to `outcome.status`, evaluated once the body is over
    /// (`$sent_http_*` reads `outcome.sent_headers`, `$sent_trailer_*` the lines before);
    /// those whose value comes out empty are left out.
    fn evaluate(&self, request: &RequestInfo<'_>, outcome: &Outcome) -> Vec<(Bytes, Bytes)>;
}

/// A location's `proxy_cookie_*` rules, applied to the upstream's answer as its headers are
/// copied (before `add_header`, which sees the rewritten lines in `$sent_http_set_cookie`).
pub trait CookieRewrite: std::fmt::Debug + Send + Sync {
    /// Rewrites each `Set-Cookie` line of `headers` (the upstream's, as they will be sent)
    /// that a rule applies to; `outcome` is what variables in the rules may read. Returns,
    /// for each `Set-Cookie` line in order, the upstream's own line as nginx leaves it in its
    /// buffer when a rule rewrote a value there in place (`$upstream_http_set_cookie` reads
    /// it so), `None` for a line left intact.
    fn rewrite(
        &self,
        request: &RequestInfo<'_>,
        outcome: &Outcome,
        headers: &mut [(Bytes, Bytes)],
    ) -> Vec<Option<Bytes>>;
}

/// A location's `proxy_redirect` rules, applied to the upstream's `Location` and the URL of its
/// `Refresh` as its headers are copied.
pub trait RedirectRewrite: std::fmt::Debug + Send + Sync {
    /// `value` with the first rule that matches what follows `at` applied (`outcome` is what
    /// variables in the rules may read); `None` when none matches.
    fn rewrite(
        &self,
        request: &RequestInfo<'_>,
        outcome: &Outcome,
        value: &[u8],
        at: usize,
    ) -> Option<Rewritten>;

    /// The rules as written, pattern and replacement (`explain` prints them).
    fn written(&self) -> &[(String, String)];
}

/// A header value a `proxy_redirect` rule rewrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub value: Vec<u8>,
    /// The upstream's value as nginx's in-place rewrite leaves it in its buffer, which
    /// `$upstream_http_location` then reads; `None` when the rewrite left it intact.
    pub mark: Option<Vec<u8>>,
}

/// What the runtime learned while serving, for `$status`, `$upstream_addr` and friends.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status: u16,
    pub body_bytes_sent: u64,
    pub bytes_sent: u64,
    /// The request line, headers and body as received.
    pub request_length: u64,
    /// Every server tried, in order (empty when the request was not proxied: the
    /// `$upstream_*` variables are then not found).
    pub upstreams: Vec<UpstreamTry>,
    /// Response headers sent to the client (`$sent_http_*`).
    pub sent_headers: Vec<(Bytes, Bytes)>,
    /// Upstream response headers (`$upstream_http_*`).
    pub upstream_headers: Vec<(Bytes, Bytes)>,
    /// Bytes into and out of deflate once a gzipped body is complete (`$gzip_ratio`).
    pub gzip_bytes: Option<(u64, u64)>,
    /// The whole answer was handed to the client (`$request_completion` is `OK`).
    pub completed: bool,
    /// nginx's `r->limit_rate` once the runtime set it (an upstream's `X-Accel-Limit-Rate`,
    /// or the rate the body was sent at): `$limit_rate` reads it over `set $limit_rate`'s.
    pub limit_rate: Option<u64>,
    /// `$upstream_cache_status`, once a proxy pass with a cache set it.
    pub cache_status: Option<CacheStatus>,
}

/// One server tried for a request (nginx's `ngx_http_upstream_state_t`). `None` is a value
/// not known (yet): nginx prints `-` for it in `$upstream_status` and the times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTry {
    /// The server's address as nginx prints it, or the group's name when no server was live.
    pub addr: Arc<str>,
    /// The server's status, or the one its failure stands for (502, 504).
    pub status: Option<u16>,
    pub connect_time: Option<Duration>,
    pub header_time: Option<Duration>,
    /// Set when the server is done with: the body was read, or the next server is tried.
    pub response_time: Option<Duration>,
    /// Body bytes received (`$upstream_response_length`).
    pub response_length: u64,
    /// Every byte received from and sent to the server.
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// The first server of a proxy pass after an internal redirect (`error_page`,
    /// `X-Accel-Redirect`): nginx separates the passes with ` : ` in the `$upstream_*`
    /// variables.
    pub redirected: bool,
}

/// A compiled `log_format`: renders one access-log line (with its newline).
pub trait LogFormat: std::fmt::Debug + Send + Sync {
    fn render(&self, request: &RequestInfo<'_>, outcome: &Outcome) -> Vec<u8> {
        self.render_sized(request, outcome).0
    }

    /// The line, and the room nginx asks of a `buffer=` for it (`ngx_http_log_handler`
    /// measures the log module's own variables, `$status` to `$time_local`, at their widest):
    /// a line goes after what is buffered only if that much is left.
    fn render_sized(&self, request: &RequestInfo<'_>, outcome: &Outcome) -> (Vec<u8>, usize) {
        let line = self.render(request, outcome);
        let room = line.len();
        (line, room)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_hex_and_differ() {
        let ids: Vec<[u8; 32]> = (0..1000).map(|_| super::request_id()).collect();
        assert!(ids.iter().flatten().all(u8::is_ascii_hexdigit));
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        // Both halves vary, not just one.
        let halves: std::collections::HashSet<_> = ids.iter().map(|id| &id[16..]).collect();
        assert_eq!(halves.len(), ids.len());
    }
}
