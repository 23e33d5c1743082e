//! The variables ngxr knows, resolved from their names once at load: an unknown `$name` is a
//! load error (`unknown "name" variable`), never a per-request surprise.

use std::sync::atomic::{AtomicBool, Ordering};

/// A variable a compiled value reads. Header-derived names are stored lowercased with `-`
/// for `_`, ready to compare with header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Host,
    /// `$http_NAME`: the first such request header (X-Forwarded-For and Cookie: all, joined).
    Http(String),
    /// `$arg_NAME`, as sent (not decoded).
    Arg(String),
    Cookie(String),
    SentHttp(String),
    /// `$sent_trailer_NAME`: the trailers `add_trailer` set so far.
    SentTrailer(String),
    UpstreamHttp(String),
    /// `$upstream_cookie_NAME`: from the upstream's `Set-Cookie` lines.
    UpstreamCookie(String),
    /// The client's address: the realip module's, else the connection's.
    RemoteAddr,
    /// `$binary_remote_addr`: the address's 4 or 16 bytes.
    BinaryRemoteAddr,
    /// `$limit_req_status`, `$limit_conn_status`: what the preaccess limits decided.
    LimitReqStatus,
    LimitConnStatus,
    /// `$limit_rate`: the request's rate in bytes per second (0 until something set it).
    LimitRate,
    /// `$connections_*` (the stub_status module): the server's counters now.
    Connections(Counted),
    RemotePort,
    /// `$realip_remote_addr`: the connection's own address, whatever realip found.
    RealipRemoteAddr,
    RealipRemotePort,
    /// `$proxy_protocol_addr`, `$proxy_protocol_port`, `$proxy_protocol_server_addr`,
    /// `$proxy_protocol_server_port`: what the connection's PROXY header said (not found
    /// without one).
    ProxyProtocolAddr,
    ProxyProtocolPort,
    ProxyProtocolServerAddr,
    ProxyProtocolServerPort,
    RemoteUser,
    Request,
    RequestUri,
    Uri,
    Args,
    IsArgs,
    Scheme,
    Https,
    ServerName,
    ServerAddr,
    ServerPort,
    ServerProtocol,
    RequestMethod,
    ProxyHost,
    ProxyPort,
    ProxyAddXForwardedFor,
    Status,
    BodyBytesSent,
    BytesSent,
    /// `$gzip_ratio`: found once a gzipped body is complete.
    GzipRatio,
    RequestTime,
    RequestLength,
    UpstreamAddr,
    UpstreamStatus,
    UpstreamResponseTime,
    UpstreamConnectTime,
    UpstreamHeaderTime,
    UpstreamResponseLength,
    UpstreamBytesReceived,
    UpstreamBytesSent,
    TimeLocal,
    TimeIso8601,
    Msec,
    Hostname,
    Pid,
    Connection,
    ConnectionRequests,
    ContentLength,
    ContentType,
    SslServerName,
    /// A `$ssl_*` variable the handshake answers; "not found" on a plain connection.
    Tls(TlsVar),
    /// A `$ssl_client_*` variable; "not found" on a plain connection.
    ClientCert(super::client_cert::ClientVar),
    NginxVersion,
    /// `$request_id`: 16 random bytes in hex, one value per request.
    RequestId,
    /// `$pipe`: `p` for a request that arrived pipelined, else `.`.
    Pipe,
    /// `$request_completion`: `OK` once the whole answer went out, else empty.
    RequestCompletion,
    /// `$connection_time`: seconds (with milliseconds) since the connection was accepted.
    ConnectionTime,
    /// `$request_body`: the client's body once a proxy pass read it, when nginx would hold it
    /// in memory (not found before, for a body it would write to a file, or without a body).
    RequestBody,
    /// `$request_body_file`: the file the body went to once a proxy pass read it.
    RequestBodyFile,
    /// A variable nginx has but ngxr does not compute (TCP_INFO, trailers, some TLS
    /// details): a
    /// use is reported as unsupported where it is written and the server refuses to start,
    /// as reading it "not found" would change what the configuration does.
    Unsupported(String),
    /// `$invalid_referer`: `1` when the level's `valid_referers` refuse the `Referer`.
    InvalidReferer,
    /// `$secure_link` and `$secure_link_expires`: the level's secure_link settings judging
    /// the request's link.
    SecureLink,
    SecureLinkExpires,
    /// `$modern_browser`, `$ancient_browser` (the level's browser settings) and `$msie`.
    ModernBrowser,
    AncientBrowser,
    Msie,
    /// `$uid_got`, `$uid_set` and `$uid_reset` (the userid filter).
    UidGot,
    UidSet,
    UidReset,
    /// `$upstream_cache_status`: what `proxy_cache` did; not found without a cache.
    UpstreamCacheStatus,
    /// `$http2`: `h2` on an HTTP/2 connection, else empty.
    Http2,
    /// `$document_root`: the level's root or alias, variables evaluated.
    DocumentRoot,
    /// `$realpath_root`: `realpath()` of `$document_root`; not found when that fails.
    RealpathRoot,
    /// `$request_filename`: the current `$uri` mapped under the root or alias.
    RequestFilename,
    /// `$fastcgi_script_name` and `$fastcgi_path_info`: the current `$uri` split by the
    /// level's `fastcgi_split_path_info` (see `eval::fastcgi::ScriptName`).
    FastcgiScriptName,
    FastcgiPathInfo,
    /// `$date_local` and `$date_gmt` (ssi module), in its default `timefmt`.
    DateLocal,
    DateGmt,
    /// `$1`..`$9`.
    Capture(usize),
    /// `(?<name>...)` in a regex anywhere in the configuration.
    NamedCapture(String),
    /// A `map`'s variable, by its index in the compiled maps.
    Map(usize),
    /// A `geo` block's variable, by its index in the compiled geo tables.
    Geo(usize),
    /// A `split_clients` variable, by its index in the compiled tables.
    Split(usize),
    /// A variable the rewrite module's `set` defines: not found until set.
    Set(String),
}

/// Which of the stub_status module's counters a `$connections_*` variable reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Active,
    Reading,
    Writing,
    Waiting,
}

/// Names defined by the configuration itself, looked up before the built-in ones (as nginx's
/// variables hash is searched before its prefix variables).
#[derive(Debug, Default)]
pub struct Registry {
    /// The variables of the `map`, `geo` and `split_clients` blocks, in the order nginx reads
    /// the blocks, each with its table (`Var::Map`, `Var::Geo`, `Var::Split`): nginx lets any
    /// of them define a variable another already defines, and the later block's handler
    /// replaces the earlier one's.
    pub blocks: Vec<(String, Var)>,
    /// Named captures of every regex in the configuration.
    pub captures: Vec<String>,
    /// Variables defined by `set` (and other modules' directives) anywhere.
    pub sets: Vec<String>,
    /// Set once a value reading `$request_body` is compiled: proxy passes then keep a copy
    /// of the body for it.
    pub reads_body: AtomicBool,
    /// Set once a value reading `$request_body_file` is compiled: proxy passes then name
    /// the file a body was written to.
    pub reads_body_file: AtomicBool,
}

impl Registry {
    /// The variable `name` (without `$`), or `None` when nginx would not know it.
    pub fn resolve(&self, name: &str) -> Option<Var> {
        // A later block defining the same variable takes it over, as in nginx.
        if let Some((_, var)) = self
            .blocks
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            return Some(var.clone());
        }
        if self.captures.iter().any(|c| c == name) {
            return Some(Var::NamedCapture(name.to_string()));
        }
        // `set` gives these a value their handlers compute until then.
        let changeable = [
            "invalid_referer",
            "modern_browser",
            "ancient_browser",
            "msie",
            "uid_reset",
        ];
        if changeable.iter().any(|c| name.eq_ignore_ascii_case(c)) {
            return builtin(&name.to_ascii_lowercase());
        }
        if let Some(s) = self.sets.iter().find(|s| s.eq_ignore_ascii_case(name)) {
            return Some(Var::Set(s.to_ascii_lowercase()));
        }
        let var = builtin(&name.to_ascii_lowercase());
        match var {
            Some(Var::RequestBody) => self.reads_body.store(true, Ordering::Relaxed),
            Some(Var::RequestBodyFile) => self.reads_body_file.store(true, Ordering::Relaxed),
            _ => {}
        }
        var
    }
}

/// The `$ssl_*` variables ngxr computes from a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVar {
    Protocol,
    Cipher,
    Curve,
    /// `r` when the session was resumed, else `.`.
    SessionReused,
    /// Empty: ngxr accepts no early data (`ssl_early_data` is unsupported).
    EarlyData,
    AlpnProtocol,
}

impl TlsVar {
    /// The value on a TLS connection whose handshake settled `facts`.
    pub fn of(self, facts: &super::plan::TlsFacts) -> &'static str {
        match self {
            TlsVar::Protocol => facts.protocol,
            TlsVar::Cipher => facts.cipher,
            TlsVar::Curve => facts.curve,
            TlsVar::SessionReused if facts.reused => "r",
            TlsVar::SessionReused => ".",
            TlsVar::EarlyData => "",
            TlsVar::AlpnProtocol => facts.alpn,
        }
    }
}

/// Whether `map` or `set` may define `name`: nginx refuses a built-in variable that is not
/// "changeable" (`the duplicate "scheme" variable`); prefixed ones (`$http_x`) are not in its
/// variables hash.
pub fn definable(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let changeable = name == "args"
        || name == "limit_rate"
        || name == "invalid_referer"
        || name == "modern_browser"
        || name == "ancient_browser"
        || name == "msie"
        || name.starts_with("ssl_")
        || name.starts_with("uid_");
    changeable || fixed(&name).is_none()
}

/// Whether `set $name` calls a handler of nginx's rather than storing a value: `$limit_rate`
/// sets the request's rate (and reads back as the parsed rate), `$args` the request's
/// arguments; neither is a `set` variable.
pub fn has_set_handler(name: &str) -> bool {
    name.eq_ignore_ascii_case("limit_rate") || name.eq_ignore_ascii_case("args")
}

/// Builds a prefixed variable from the rest of its name.
type MakeVar = fn(String) -> Var;

fn header_name(suffix: &str) -> String {
    suffix.replace('_', "-")
}

fn builtin(name: &str) -> Option<Var> {
    fixed(name).or_else(|| {
        let prefixed: [(&str, MakeVar); 8] = [
            ("http_", |n| Var::Http(header_name(&n))),
            ("arg_", Var::Arg),
            ("cookie_", Var::Cookie),
            ("sent_http_", |n| Var::SentHttp(header_name(&n))),
            ("upstream_http_", |n| Var::UpstreamHttp(header_name(&n))),
            ("upstream_cookie_", Var::UpstreamCookie),
            ("upstream_trailer_", |n| {
                Var::Unsupported(format!("upstream_trailer_{n}"))
            }),
            ("sent_trailer_", |n| Var::SentTrailer(header_name(&n))),
        ];
        prefixed
            .iter()
            .find_map(|(p, make)| name.strip_prefix(p).map(|rest| make(rest.to_string())))
    })
}

/// The built-in variables with fixed names.
fn fixed(name: &str) -> Option<Var> {
    let var = match name {
        "host" => Var::Host,
        "remote_addr" => Var::RemoteAddr,
        "realip_remote_addr" => Var::RealipRemoteAddr,
        "binary_remote_addr" => Var::BinaryRemoteAddr,
        "nginx_version" => Var::NginxVersion,
        "request_id" => Var::RequestId,
        "pipe" => Var::Pipe,
        "request_completion" => Var::RequestCompletion,
        "connection_time" => Var::ConnectionTime,
        "request_body" => Var::RequestBody,
        "request_body_file" => Var::RequestBodyFile,
        "http2" => Var::Http2,
        "document_root" => Var::DocumentRoot,
        "realpath_root" => Var::RealpathRoot,
        "request_filename" => Var::RequestFilename,
        "date_local" => Var::DateLocal,
        "date_gmt" => Var::DateGmt,
        "upstream_cache_status" => Var::UpstreamCacheStatus,
        "invalid_referer" => Var::InvalidReferer,
        "modern_browser" => Var::ModernBrowser,
        "ancient_browser" => Var::AncientBrowser,
        "msie" => Var::Msie,
        "uid_got" => Var::UidGot,
        "uid_set" => Var::UidSet,
        "uid_reset" => Var::UidReset,
        "fastcgi_script_name" => Var::FastcgiScriptName,
        "fastcgi_path_info" => Var::FastcgiPathInfo,
        "ssl_ciphers"
        | "ssl_curves"
        | "ssl_session_id"
        | "tcpinfo_rtt"
        | "tcpinfo_rttvar"
        | "tcpinfo_snd_cwnd"
        | "tcpinfo_rcv_space"
        | "upstream_queue_time" => Var::Unsupported(name.to_string()),
        "secure_link" => Var::SecureLink,
        "secure_link_expires" => Var::SecureLinkExpires,
        "limit_req_status" => Var::LimitReqStatus,
        "limit_rate" => Var::LimitRate,
        "connections_active" => Var::Connections(Counted::Active),
        "connections_reading" => Var::Connections(Counted::Reading),
        "connections_writing" => Var::Connections(Counted::Writing),
        "connections_waiting" => Var::Connections(Counted::Waiting),
        "limit_conn_status" => Var::LimitConnStatus,
        "remote_port" => Var::RemotePort,
        "realip_remote_port" => Var::RealipRemotePort,
        "proxy_protocol_addr" => Var::ProxyProtocolAddr,
        "proxy_protocol_port" => Var::ProxyProtocolPort,
        "proxy_protocol_server_addr" => Var::ProxyProtocolServerAddr,
        "proxy_protocol_server_port" => Var::ProxyProtocolServerPort,
        "remote_user" => Var::RemoteUser,
        "request" => Var::Request,
        "request_uri" => Var::RequestUri,
        "uri" | "document_uri" => Var::Uri,
        "args" | "query_string" => Var::Args,
        "is_args" => Var::IsArgs,
        "scheme" => Var::Scheme,
        "https" => Var::Https,
        "server_name" => Var::ServerName,
        "server_addr" => Var::ServerAddr,
        "server_port" => Var::ServerPort,
        "server_protocol" => Var::ServerProtocol,
        "request_method" => Var::RequestMethod,
        "proxy_host" => Var::ProxyHost,
        "proxy_port" => Var::ProxyPort,
        "proxy_add_x_forwarded_for" => Var::ProxyAddXForwardedFor,
        "status" => Var::Status,
        "body_bytes_sent" => Var::BodyBytesSent,
        "bytes_sent" => Var::BytesSent,
        "gzip_ratio" => Var::GzipRatio,
        "request_time" => Var::RequestTime,
        "request_length" => Var::RequestLength,
        "upstream_addr" => Var::UpstreamAddr,
        "upstream_status" => Var::UpstreamStatus,
        "upstream_response_time" => Var::UpstreamResponseTime,
        "upstream_connect_time" => Var::UpstreamConnectTime,
        "upstream_header_time" => Var::UpstreamHeaderTime,
        "upstream_response_length" => Var::UpstreamResponseLength,
        "upstream_bytes_received" => Var::UpstreamBytesReceived,
        "upstream_bytes_sent" => Var::UpstreamBytesSent,
        "time_local" => Var::TimeLocal,
        "time_iso8601" => Var::TimeIso8601,
        "msec" => Var::Msec,
        "hostname" => Var::Hostname,
        "pid" => Var::Pid,
        "connection" => Var::Connection,
        "connection_requests" => Var::ConnectionRequests,
        "content_length" => Var::ContentLength,
        "content_type" => Var::ContentType,
        "ssl_server_name" => Var::SslServerName,
        "ssl_protocol" => Var::Tls(TlsVar::Protocol),
        "ssl_cipher" => Var::Tls(TlsVar::Cipher),
        "ssl_curve" => Var::Tls(TlsVar::Curve),
        "ssl_session_reused" => Var::Tls(TlsVar::SessionReused),
        "ssl_early_data" => Var::Tls(TlsVar::EarlyData),
        "ssl_alpn_protocol" => Var::Tls(TlsVar::AlpnProtocol),
        client if client.starts_with("ssl_client_") => {
            Var::ClientCert(super::client_cert::ClientVar::named(client)?)
        }
        _ => return None,
    };
    Some(var)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_variables_read_the_handshake_in_openssl_words() {
        let r = Registry::default();
        let facts = crate::eval::plan::TlsFacts {
            protocol: "TLSv1.3",
            cipher: "TLS_AES_256_GCM_SHA384",
            curve: "X25519",
            reused: false,
            alpn: "http/1.1",
        };
        let value = |name: &str, facts| match r.resolve(name) {
            Some(Var::Tls(v)) => v.of(facts),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(value("ssl_protocol", &facts), "TLSv1.3");
        assert_eq!(value("ssl_curve", &facts), "X25519");
        assert_eq!(value("ssl_session_reused", &facts), ".");
        let resumed = crate::eval::plan::TlsFacts {
            reused: true,
            ..facts
        };
        assert_eq!(value("ssl_session_reused", &resumed), "r");
        assert!(matches!(
            r.resolve("ssl_client_s_dn"),
            Some(Var::ClientCert(_))
        ));
        assert_eq!(
            r.resolve("ssl_session_id"),
            Some(Var::Unsupported("ssl_session_id".into()))
        );
    }

    #[test]
    fn resolves_builtin_and_prefixed_names() {
        let r = Registry {
            blocks: vec![
                ("connection_upgrade".into(), Var::Map(0)),
                ("variant".into(), Var::Split(0)),
                ("limit".into(), Var::Geo(0)),
                ("Variant".into(), Var::Split(1)),
                ("limit".into(), Var::Map(1)),
            ],
            captures: vec!["sub".into()],
            sets: vec!["target".into()],
            reads_body: Default::default(),
            reads_body_file: Default::default(),
        };
        assert_eq!(r.resolve("host"), Some(Var::Host));
        assert_eq!(
            r.resolve("http_x_real_ip"),
            Some(Var::Http("x-real-ip".into()))
        );
        assert_eq!(r.resolve("arg_id"), Some(Var::Arg("id".into())));
        assert_eq!(r.resolve("connection_upgrade"), Some(Var::Map(0)));
        assert_eq!(
            r.resolve("Limit"),
            Some(Var::Map(1)),
            "a map after a geo takes its variable over"
        );
        assert_eq!(
            r.resolve("variant"),
            Some(Var::Split(1)),
            "the last block's"
        );
        assert_eq!(r.resolve("sub"), Some(Var::NamedCapture("sub".into())));
        assert_eq!(r.resolve("Target"), Some(Var::Set("target".into())));
        assert_eq!(r.resolve("nope"), None);
        assert!(!definable("scheme") && !definable("request_id"));
        assert!(definable("args") && definable("http_x") && definable("mine"));
    }
}
