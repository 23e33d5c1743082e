//! Every compiled-in default in one place. Paths are Debian's nginx 1.22 build, so a config
//! that relies on them means the same under ngxr; protocol defaults are nginx 1.22's (nginx
//! 1.29.7 changed some proxy defaults: a later switch selects them here, nowhere else).

/// `--prefix`: where relative log, pid and temp paths start when `-p` is not given.
pub const PREFIX: &str = "/usr/share/nginx/";
/// `--conf-path`: the configuration read when `-c` is not given.
pub const CONF_PATH: &str = "/etc/nginx/nginx.conf";
/// `--error-log-path`: the error log before (and unless) the configuration names one.
pub const ERROR_LOG_PATH: &str = "/var/log/nginx/error.log";
/// `--pid-path`.
pub const PID_PATH: &str = "/run/nginx.pid";
/// The version nginx-compatible output reports (`-v`, `Server:`), the one ngxr follows.
pub const NGINX_VERSION: &str = "1.22.1";

/// `worker_connections` when the events block does not set it.
pub const WORKER_CONNECTIONS: usize = 512;

/// Proxy defaults of nginx 1.22 (`ngx_http_proxy_merge_loc_conf`).
pub mod proxy {
    use std::time::Duration;

    /// `proxy_buffer_size`: one memory page (`ngx_pagesize`), 4k on the machines nginx 1.22
    /// is packaged for.
    pub const BUFFER_SIZE: usize = 4096;
    /// `proxy_http_version`.
    pub const HTTP_VERSION: &str = "HTTP/1.0";
    /// `proxy_cache_lock_timeout` and `proxy_cache_lock_age`.
    pub const CACHE_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
    pub const CACHE_LOCK_AGE: Duration = Duration::from_secs(5);
    /// The headers nginx sets unless `proxy_set_header` names them (`ngx_http_proxy_headers`),
    /// in nginx's order. An empty value means "never pass the client's". Content-Length and
    /// Transfer-Encoding, which nginx computes from the body, are the runtime's.
    pub const HEADERS: [(&str, &str); 6] = [
        ("Host", "$proxy_host"),
        ("Connection", "close"),
        ("TE", ""),
        ("Keep-Alive", ""),
        ("Expect", ""),
        ("Upgrade", ""),
    ];
    /// Names the default headers reserve besides [`HEADERS`].
    pub const BODY_HEADERS: [&str; 2] = ["Content-Length", "Transfer-Encoding"];
    /// Response headers never shown to the client (`ngx_http_proxy_hide_headers`).
    pub const HIDE_HEADERS: [&str; 8] = [
        "Date",
        "Server",
        "X-Pad",
        "X-Accel-Expires",
        "X-Accel-Redirect",
        "X-Accel-Limit-Rate",
        "X-Accel-Buffering",
        "X-Accel-Charset",
    ];
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
    pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
    pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);
}

/// FastCGI module defaults of nginx 1.22 (the rest are the proxy module's too).
pub mod gateway {
    /// Response headers never shown to the client by the FastCGI and SCGI modules
    /// (`ngx_http_fastcgi_hide_headers`, `ngx_http_scgi_hide_headers`).
    pub const HIDE_HEADERS: [&str; 6] = [
        "Status",
        "X-Accel-Expires",
        "X-Accel-Redirect",
        "X-Accel-Limit-Rate",
        "X-Accel-Buffering",
        "X-Accel-Charset",
    ];
    /// The uwsgi module's (`ngx_http_uwsgi_hide_headers`): `Status` is shown.
    pub const UWSGI_HIDE_HEADERS: [&str; 5] = [
        "X-Accel-Expires",
        "X-Accel-Redirect",
        "X-Accel-Limit-Rate",
        "X-Accel-Buffering",
        "X-Accel-Charset",
    ];
}

/// HTTP core defaults of nginx 1.22.
pub mod http {
    use std::time::Duration;

    use crate::eval::plan::{HeaderBuffers, KeepaliveLimits};

    /// `root`, under the prefix.
    pub const ROOT: &str = "html";
    /// `index`.
    pub const INDEX: &str = "index.html";
    /// `max_ranges`: nginx's `NGX_MAX_INT32_VALUE`, no limit in practice.
    pub const MAX_RANGES: usize = i32::MAX as usize;
    /// `ssi_value_length`.
    pub const SSI_VALUE_LENGTH: usize = 256;
    /// `client_max_body_size`.
    pub const CLIENT_MAX_BODY_SIZE: u64 = 1024 * 1024;
    /// `client_body_buffer_size`: two memory pages (4 KiB each on x86-64 Linux).
    pub const CLIENT_BODY_BUFFER_SIZE: u64 = 2 * 4096;
    /// `--http-client-body-temp-path` (Debian's build): `client_body_temp_path`'s default.
    pub const CLIENT_BODY_TEMP_PATH: &str = "/var/lib/nginx/body";
    /// `keepalive_timeout`, `keepalive_requests`, `keepalive_time` (client connections).
    pub const KEEPALIVE: KeepaliveLimits = KeepaliveLimits {
        timeout: Duration::from_secs(75),
        requests: 1000,
        time: Duration::from_secs(3600),
    };
    /// `client_header_timeout` (also bounds the TLS handshake).
    pub const CLIENT_HEADER_TIMEOUT: Duration = Duration::from_secs(60);
    /// `connection_pool_size` (64 pointers), the least a large header buffer may be.
    pub const CONNECTION_POOL_SIZE: usize = 64 * 8;
    /// `client_header_buffer_size` and `large_client_header_buffers 4 8k`.
    pub const HEADER_BUFFERS: HeaderBuffers = HeaderBuffers {
        client: 1024,
        large_num: 4,
        large_size: 8 * 1024,
        uniform: true,
        merge_slashes: true,
    };
    /// `client_body_timeout`.
    pub const CLIENT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
    /// `lingering_timeout`: how long each read of a body discarded after the answer waits.
    pub const LINGERING_TIMEOUT: Duration = Duration::from_secs(5);
    /// `lingering_time`: how long all of them may take.
    pub const LINGERING_TIME: Duration = Duration::from_secs(30);
    /// `send_timeout`.
    pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);
    /// `resolver_timeout`.
    pub const RESOLVER_TIMEOUT: Duration = Duration::from_secs(30);
    /// `access_log` when none is configured (Debian's `--http-log-path`).
    pub const ACCESS_LOG: &str = "/var/log/nginx/access.log";
    /// `listen` when a server has none (as root; nginx uses 8000 otherwise).
    pub const LISTEN_PORT: u16 = 80;
    /// Upstream `server` defaults: `weight=1 max_fails=1 fail_timeout=10`.
    pub const FAIL_TIMEOUT: Duration = Duration::from_secs(10);
    /// `keepalive_timeout`, `keepalive_requests`, `keepalive_time` inside `upstream`.
    pub const UPSTREAM_KEEPALIVE: KeepaliveLimits = KeepaliveLimits {
        timeout: Duration::from_secs(60),
        requests: 1000,
        time: Duration::from_secs(3600),
    };
    /// `proxy_next_upstream_tries` / `_timeout`: no limit.
    pub const NEXT_UPSTREAM_TRIES: u32 = 0;
    /// `default_type`.
    pub const DEFAULT_TYPE: &str = "text/plain";
    /// The types of an `http` block without `types` (`ngx_http_core_default_types`).
    pub const TYPES: [(&str, &str); 3] = [
        ("text/html", "html"),
        ("image/gif", "gif"),
        ("image/jpeg", "jpg"),
    ];
}

/// The default of `ssl_protocols` and `proxy_ssl_protocols` in nginx 1.22: no TLS 1.3 unless
/// named (1.23.4 added it).
pub const SSL_PROTOCOLS: [&str; 3] = ["TLSv1", "TLSv1.1", "TLSv1.2"];
