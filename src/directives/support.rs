//! What ngxr does with each nginx directive. `Served`: implemented as nginx does it. `Inert`:
//! changes nothing a client or backend of a proxy can observe (buffer sizes, file caches,
//! kernel socket tweaks...), so ignoring it is safe. Everything else is `Unsupported`: `check`
//! warns at its span and the server refuses to start rather than silently ignore it.
//! README.md's table of inert directives is this list.

use crate::syntax::Directive;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Served,
    Inert,
    Unsupported,
}

impl Support {
    pub fn as_str(self) -> &'static str {
        match self {
            Support::Served => "served",
            Support::Inert => "inert",
            Support::Unsupported => "unsupported",
        }
    }
}

/// Implemented with nginx's behaviour.
const SERVED: &[&str] = &[
    "absolute_redirect",
    "access_log",
    "add_header",
    "add_trailer",
    "alias",
    "allow",
    "auth_basic",
    "auth_basic_user_file",
    "auth_delay",
    "auth_request",
    "auth_request_set",
    "autoindex",
    "autoindex_exact_size",
    "autoindex_localtime",
    "break",
    "charset",
    "charset_types",
    "chunked_transfer_encoding",
    "client_body_timeout",
    "client_header_buffer_size",
    "client_header_timeout",
    "client_max_body_size",
    "connection_pool_size",
    "daemon",
    "default_type",
    "deny",
    "error_log",
    "error_page",
    "etag",
    "events",
    "expires",
    "geo",
    "gzip",
    "gzip_comp_level",
    "gzip_disable",
    "gzip_http_version",
    "gzip_min_length",
    "gzip_proxied",
    "gzip_static",
    "gzip_types",
    "gzip_vary",
    "hash",
    "http",
    "if",
    "if_modified_since",
    "ignore_invalid_headers",
    "include",
    "index",
    "internal",
    "ip_hash",
    "keepalive",
    "keepalive_disable",
    "keepalive_requests",
    "keepalive_time",
    "keepalive_timeout",
    "large_client_header_buffers",
    "least_conn",
    "limit_conn",
    "limit_conn_dry_run",
    "limit_conn_log_level",
    "limit_conn_status",
    "limit_conn_zone",
    "limit_except",
    "limit_rate",
    "limit_rate_after",
    "limit_req",
    "limit_req_dry_run",
    "limit_req_log_level",
    "limit_req_status",
    "limit_req_zone",
    "lingering_time",
    "lingering_timeout",
    "listen",
    "location",
    "log_format",
    "log_not_found",
    "map",
    "max_ranges",
    "merge_slashes",
    "override_charset",
    "pid",
    "port_in_redirect",
    "proxy_buffer_size",
    "proxy_connect_timeout",
    "proxy_cookie_domain",
    "proxy_cookie_flags",
    "proxy_cookie_path",
    "proxy_force_ranges",
    "proxy_hide_header",
    "proxy_http_version",
    "proxy_ignore_client_abort",
    "proxy_ignore_headers",
    "proxy_intercept_errors",
    "proxy_limit_rate",
    "proxy_method",
    "proxy_next_upstream",
    "proxy_next_upstream_timeout",
    "proxy_next_upstream_tries",
    "proxy_pass",
    "proxy_pass_header",
    "proxy_pass_request_body",
    "proxy_pass_request_headers",
    "proxy_read_timeout",
    "proxy_redirect",
    "proxy_send_timeout",
    "proxy_set_body",
    "proxy_set_header",
    "proxy_ssl_certificate",
    "proxy_ssl_certificate_key",
    "proxy_ssl_name",
    "proxy_ssl_password_file",
    "proxy_ssl_protocols",
    "proxy_ssl_server_name",
    "proxy_ssl_session_reuse",
    "proxy_ssl_trusted_certificate",
    "proxy_ssl_verify",
    "proxy_ssl_verify_depth",
    "random",
    "real_ip_header",
    "real_ip_recursive",
    "recursive_error_pages",
    "request_pool_size",
    "resolver",
    "resolver_timeout",
    "return",
    "rewrite",
    "root",
    "satisfy",
    "send_timeout",
    "server",
    "server_name",
    "server_name_in_redirect",
    "server_tokens",
    "set",
    "set_real_ip_from",
    "source_charset",
    "split_clients",
    "ssl",
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_client_certificate",
    "ssl_crl",
    "ssl_password_file",
    "ssl_protocols",
    "ssl_reject_handshake",
    "ssl_session_cache",
    "ssl_session_ticket_key",
    "ssl_session_tickets",
    "ssl_session_timeout",
    "ssl_trusted_certificate",
    "ssl_verify_client",
    "ssl_verify_depth",
    "stub_status",
    "sub_filter",
    "sub_filter_last_modified",
    "sub_filter_once",
    "sub_filter_types",
    "try_files",
    "types",
    "underscores_in_headers",
    "upstream",
    "worker_connections",
    "worker_processes",
    "worker_shutdown_timeout",
    "zone",
];

/// Safe to ignore for a proxy: tuning that changes no bytes on the wire, or settings whose
/// module ngxr does not run and that have no effect without another (unsupported) directive.
const INERT: &[&str] = &[
    "accept_mutex",
    "accept_mutex_delay",
    "aio",
    "client_body_buffer_size",
    "client_body_in_single_buffer",
    "client_body_temp_path",
    "directio",
    "env",
    "fastcgi_buffer_size",
    "fastcgi_buffers",
    "fastcgi_busy_buffers_size",
    "fastcgi_connect_timeout",
    "fastcgi_read_timeout",
    "fastcgi_send_timeout",
    "fastcgi_temp_file_write_size",
    "fastcgi_temp_path",
    "gzip_buffers",
    "gzip_hash",
    "gzip_no_buffer",
    "gzip_window",
    "lingering_close",
    "load_module",
    "map_hash_bucket_size",
    "map_hash_max_size",
    "master_process",
    "multi_accept",
    "open_file_cache",
    "open_file_cache_errors",
    "open_file_cache_min_uses",
    "open_file_cache_valid",
    "open_log_file_cache",
    "output_buffers",
    "pcre_jit",
    "postpone_gzipping",
    "postpone_output",
    "proxy_buffering",
    "proxy_buffers",
    "proxy_busy_buffers_size",
    "proxy_cache_background_update",
    "proxy_cache_bypass",
    "proxy_cache_convert_head",
    "proxy_cache_key",
    "proxy_cache_lock",
    "proxy_cache_lock_age",
    "proxy_cache_lock_timeout",
    "proxy_cache_max_range_offset",
    "proxy_cache_methods",
    "proxy_cache_min_uses",
    "proxy_cache_path",
    "proxy_cache_revalidate",
    "proxy_cache_use_stale",
    "proxy_cache_valid",
    "proxy_headers_hash_bucket_size",
    "proxy_headers_hash_max_size",
    "proxy_max_temp_file_size",
    "proxy_no_cache",
    "proxy_request_buffering",
    "proxy_socket_keepalive",
    "proxy_ssl_ciphers",
    "proxy_temp_file_write_size",
    "proxy_temp_path",
    "reset_timedout_connection",
    "rewrite_log",
    "scgi_temp_path",
    "sendfile",
    "sendfile_max_chunk",
    "server_names_hash_bucket_size",
    "server_names_hash_max_size",
    "ssl_buffer_size",
    "ssl_ciphers",
    "ssl_dhparam",
    "ssl_early_data",
    "ssl_ecdh_curve",
    "ssl_prefer_server_ciphers",
    "ssl_stapling",
    "ssl_stapling_file",
    "ssl_stapling_responder",
    "ssl_stapling_verify",
    "tcp_nodelay",
    "tcp_nopush",
    "thread_pool",
    "timer_resolution",
    "types_hash_bucket_size",
    "types_hash_max_size",
    "uninitialized_variable_warn",
    "use",
    "user",
    "uwsgi_temp_path",
    "variables_hash_bucket_size",
    "variables_hash_max_size",
    "worker_cpu_affinity",
    "worker_priority",
    "worker_rlimit_core",
    "worker_rlimit_nofile",
    "working_directory",
];

/// ngxr's support for a directive as written (a few depend on their arguments).
pub fn support(d: &Directive) -> Support {
    let name = d.name();
    // The charset filter is served without recoding: no charset from a variable (it could
    // name one to recode to), no overriding of an upstream's charset.
    let unserved_charset = match name {
        "charset" | "source_charset" => d.args.iter().any(|a| a.value.contains('$')),
        "override_charset" => d.args.iter().any(|a| !a.value.eq_ignore_ascii_case("off")),
        _ => false,
    };
    if unserved_charset {
        return Support::Unsupported;
    }
    // `proxy_cache off` is nginx's default, no cache: what ngxr does. A zone is refused.
    if name == "proxy_cache" && d.arg(0) == Some("off") {
        return Support::Served;
    }
    by_name(name)
}

/// Support by name alone, for the table in `grammar/directives.md`.
pub fn by_name(name: &str) -> Support {
    if SERVED.binary_search(&name).is_ok() {
        Support::Served
    } else if INERT.binary_search(&name).is_ok() {
        Support::Inert
    } else {
        Support::Unsupported
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_and_name_real_directives() {
        for list in [SERVED, INERT] {
            assert!(list.windows(2).all(|w| w[0] < w[1]));
            for name in list {
                assert!(!super::super::lookup(name).is_empty(), "{name}");
            }
        }
    }
}
