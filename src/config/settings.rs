//! Settings that every level (http, server, location) may set and that a level inherits from
//! the one around it when it does not set them: nginx's `merge_loc_conf` rules, applied once
//! at load. Arrays (`proxy_set_header`, `add_header`, `access_log`, `proxy_hide_header`...) are
//! inherited only by a level that sets none of them.

use std::sync::Arc;
use std::time::Duration;

use super::addition::Addition;
use super::body_file::{InFileOnly, TempPath};
use super::content::{self, ErrorPage, IfModifiedSince, Root, TryFiles};
use super::filters::{self, Charset, Expires};
use super::gzip::Gzip;
use super::log::{LogBuffer, LogTarget};
use super::proxy::{self, NextUpstream, Redirect};
use super::proxy_cookie::ProxyCookie;
use super::proxy_ssl::ProxySsl;
use super::realip::{self, RealIpHeader, Trusted};
use super::ssi::Ssi;
use super::ssl::Ssl;
use super::sub_filter::SubFilter;
use super::units::{parse_flag, parse_msec, parse_offset, parse_sec, parse_size};
use super::{Cx, Text};
use crate::eval::plan::{IgnoreHeaders, ResolverSpec};
use crate::source::Span;
use crate::syntax::Directive;

/// One level's settings; `None` means "not set here": take the enclosing level's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub proxy_http_version: Option<&'static str>,
    pub proxy_set_header: Option<Vec<(String, Text)>>,
    pub proxy_pass_request_headers: Option<bool>,
    pub proxy_pass_request_body: Option<bool>,
    pub proxy_hide_header: Option<Vec<String>>,
    pub proxy_pass_header: Option<Vec<String>>,
    pub proxy_connect_timeout: Option<Duration>,
    pub proxy_read_timeout: Option<Duration>,
    pub proxy_send_timeout: Option<Duration>,
    pub proxy_next_upstream: Option<NextUpstream>,
    pub proxy_next_upstream_tries: Option<u32>,
    pub proxy_next_upstream_timeout: Option<Duration>,
    /// Every `proxy_redirect` of the level, in order.
    pub proxy_redirect: Option<Vec<Redirect>>,
    pub proxy_buffering: Option<bool>,
    /// `proxy_buffer_size`: the most bytes of an upstream's response head read.
    pub proxy_buffer_size: Option<usize>,
    /// `proxy_method`: the upstream request's method instead of the client's.
    pub proxy_method: Option<Text>,
    /// `proxy_set_body`: the upstream request's body instead of the client's.
    pub proxy_set_body: Option<Text>,
    pub proxy_ignore_client_abort: Option<bool>,
    /// `proxy_force_ranges`: the range filter serves proxied answers whatever the upstream's
    /// `Accept-Ranges` says.
    pub proxy_force_ranges: Option<bool>,
    /// `proxy_ignore_headers`, every directive of the level together (nginx's bitmask: a
    /// level naming any header inherits none).
    pub proxy_ignore_headers: Option<IgnoreHeaders>,
    /// `proxy_cookie_domain`, `proxy_cookie_path` and `proxy_cookie_flags`.
    pub proxy_cookie: ProxyCookie,
    pub client_max_body_size: Option<u64>,
    /// `client_body_buffer_size`: how much of a request body nginx keeps in memory.
    pub client_body_buffer_size: Option<usize>,
    /// `client_body_in_file_only`.
    pub client_body_in_file_only: Option<InFileOnly>,
    /// `client_body_temp_path`.
    pub client_body_temp_path: Option<TempPath>,
    /// `proxy_request_buffering`.
    pub proxy_request_buffering: Option<bool>,
    pub keepalive_timeout: Option<Duration>,
    /// `keepalive_timeout`'s second value, in seconds: advertised as `Keep-Alive: timeout=N`.
    pub keepalive_header: Option<u64>,
    pub keepalive_requests: Option<u64>,
    pub keepalive_time: Option<Duration>,
    pub send_timeout: Option<Duration>,
    pub client_header_timeout: Option<Duration>,
    /// `client_body_timeout`.
    pub client_body_timeout: Option<Duration>,
    /// `lingering_timeout` and `lingering_time`: how a body no one read is discarded.
    pub lingering_timeout: Option<Duration>,
    pub lingering_time: Option<Duration>,
    /// `client_header_buffer_size`: the buffer a connection's heads are first read into.
    pub client_header_buffer_size: Option<usize>,
    /// `large_client_header_buffers`: how many buffers, of what size, a long head may take.
    pub large_client_header_buffers: Option<(usize, usize)>,
    /// `connection_pool_size`: no large header buffer may be smaller.
    pub connection_pool_size: Option<usize>,
    /// Shared by every level that inherits it: its cache is the directive's.
    pub resolver: Option<Arc<ResolverSpec>>,
    pub resolver_timeout: Option<Duration>,
    pub add_header: Option<Vec<AddHeader>>,
    /// `add_trailer`: lines sent after a chunked body; a level with any inherits none.
    pub add_trailer: Option<Vec<AddHeader>>,
    pub expires: Option<Expires>,
    pub charset: Charset,
    /// `allow` and `deny` in order; a level with any inherits none (`ngx_http_access_merge_loc_conf`).
    pub access: Option<Vec<super::access::Rule>>,
    /// `auth_basic`: the realm, `off` once evaluated turning the check off.
    pub auth_basic: Option<Text>,
    /// `auth_basic_user_file`, read per request as nginx does.
    pub auth_basic_user_file: Option<Text>,
    /// `satisfy any`: one access handler allowing is enough (`all` by default).
    pub satisfy_any: Option<bool>,
    /// `auth_delay`: how long a 401 from the access phase waits before it is answered.
    pub auth_delay: Option<Duration>,
    /// `auth_request`: the subrequest's URI, `None` inside for `off`.
    pub auth_request: Option<Option<Text>>,
    /// `auth_request_set` in order; a level with any inherits none.
    pub auth_request_set: Option<Vec<super::access::AuthSet>>,
    /// Every `set_real_ip_from` of the level, in order.
    pub set_real_ip_from: Option<Vec<Trusted>>,
    pub real_ip_header: Option<RealIpHeader>,
    pub real_ip_recursive: Option<bool>,
    pub server_tokens: Option<bool>,
    pub absolute_redirect: Option<bool>,
    pub port_in_redirect: Option<bool>,
    pub server_name_in_redirect: Option<bool>,
    pub access_log: Option<Vec<AccessLog>>,
    /// `error_log` in `http`, `server` or `location`: the files (and levels) of the requests
    /// served at this level. Unset everywhere, requests log to the main level's.
    pub error_log: Option<Vec<(LogTarget, String)>>,
    /// The `ssl_*` settings (server level in nginx; `http` passes them down).
    pub ssl: Ssl,
    /// The `proxy_ssl_*` settings (TLS to `https://` upstreams).
    pub proxy_ssl: ProxySsl,
    /// The `uwsgi_ssl_*` settings (TLS to `suwsgi://` upstreams).
    pub uwsgi_ssl: ProxySsl,
    /// The `gzip*` settings.
    pub gzip: Gzip,
    /// The `sub_filter*` settings.
    pub sub_filter: SubFilter,
    /// `add_before_body`, `add_after_body`, `addition_types`.
    pub addition: Addition,
    /// The `ssi*` settings.
    pub ssi: Ssi,
    pub ignore_invalid_headers: Option<bool>,
    pub underscores_in_headers: Option<bool>,
    pub merge_slashes: Option<bool>,
    /// `default_type`: the Content-Type of a response whose URI has no known extension.
    pub default_type: Option<String>,
    /// Every `types` entry of the level: (extension lowercased, content type), in order.
    pub types: Option<Vec<(String, String)>>,
    pub root: Option<Root>,
    /// Every `index` name of the level, in order.
    pub index: Option<Vec<Text>>,
    /// Every `error_page` entry of the level, one per code, in order.
    pub error_page: Option<Vec<ErrorPage>>,
    pub recursive_error_pages: Option<bool>,
    pub proxy_intercept_errors: Option<bool>,
    pub etag: Option<bool>,
    pub autoindex: Option<bool>,
    pub autoindex_exact_size: Option<bool>,
    pub autoindex_localtime: Option<bool>,
    /// `random_index`.
    pub random_index: Option<bool>,
    pub if_modified_since: Option<IfModifiedSince>,
    /// `max_ranges`: how many ranges a request may ask for (0: the range filter is off).
    pub max_ranges: Option<usize>,
    /// `mp4_buffer_size`: the first read of an mp4 file, and the read buffer after it.
    pub mp4_buffer_size: Option<usize>,
    /// `mp4_max_buffer_size`: the largest `moov` atom read.
    pub mp4_max_buffer_size: Option<usize>,
    /// `mp4_start_key_frame`: a cut starts at the key frame before `start`.
    pub mp4_start_key_frame: Option<bool>,
    pub log_not_found: Option<bool>,
    /// `try_files`: never inherited (nginx's module has no merge for it).
    pub try_files: Option<TryFiles>,
    /// The `limit_req*` and `limit_conn*` settings.
    pub limits: super::limit::Limits,
    /// `limit_rate` and `limit_rate_after`: sizes, or values with variables evaluated per
    /// request.
    pub limit_rate: Option<Text>,
    pub limit_rate_after: Option<Text>,
    /// `proxy_limit_rate`: bytes per second read from the upstream.
    pub proxy_limit_rate: Option<usize>,
    pub chunked_transfer_encoding: Option<bool>,
    /// `keepalive_disable`, every directive of the level together (nginx's bitmask).
    pub keepalive_disable: Option<KeepaliveDisable>,
    /// The `proxy_cache*` settings.
    pub cache: super::cache::Cache,
    /// `mirror`: the URIs of the level's mirror subrequests, in order; empty for `off`.
    pub mirror: Option<Vec<String>>,
    /// `mirror_request_body`: the request's body is read before its mirrors start, and
    /// they send it too.
    pub mirror_request_body: Option<bool>,
    /// `post_action`: the URI (or named location) the request is redirected to once answered.
    pub post_action: Option<String>,
    /// `log_subrequest`: the access log writes a subrequest's line.
    pub log_subrequest: Option<bool>,
    /// `proxy_bind`: `None` inside for `off`.
    pub proxy_bind: Option<Option<super::proxy_bind::Bind>>,
    /// `valid_referers`, for `$invalid_referer`.
    pub valid_referers: Option<super::referer::ValidReferers>,
    /// `secure_link`, `secure_link_md5` and `secure_link_secret`.
    pub secure_link: super::secure_link::SecureLink,
    /// `modern_browser`, `ancient_browser` and their values.
    pub browser: super::browser::Browser,
    /// The `userid*` settings.
    pub userid: super::userid::Userid,
    /// `msie_padding`: nginx's error pages padded for MSIE and Chrome (on by default).
    pub msie_padding: Option<bool>,
    /// `msie_refresh`: MSIE gets a refresh page instead of nginx's 301 and 302.
    pub msie_refresh: Option<bool>,
    /// The `fastcgi_*` settings.
    pub fastcgi: super::gateway::Gateway,
    /// The `scgi_*` settings.
    pub scgi: super::gateway::Gateway,
    /// The `uwsgi_*` settings.
    pub uwsgi: super::gateway::Gateway,
}

/// The browsers `keepalive_disable` names (`none` names neither).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepaliveDisable {
    /// Old MSIE: no keep-alive after a POST.
    pub msie6: bool,
    /// Safari on macOS: no keep-alive at all.
    pub safari: bool,
}

/// `add_header` and `add_trailer`: `NAME VALUE [always]` appended to the level's list.
fn added_line(cx: &mut Cx<'_>, d: &Directive, list: &mut Option<Vec<AddHeader>>) {
    let (Some(name), Some(value)) = (d.arg(0), cx.text(d, 1)) else {
        return;
    };
    let always = match d.arg(2) {
        None => false,
        Some("always") => true,
        Some(p) => return cx.error(d, format!("invalid parameter \"{p}\"")),
    };
    list.get_or_insert_with(Vec::new).push(AddHeader {
        name: name.to_string(),
        value,
        always,
    });
}

/// `add_header NAME VALUE [always]` (or `add_trailer`'s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddHeader {
    pub name: String,
    pub value: Text,
    pub always: bool,
}

/// One `access_log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLog {
    Off,
    File {
        target: LogTarget,
        /// `combined` unless given.
        format: String,
        /// `if=`: the line is written unless this is empty or `0`.
        condition: Option<Text>,
        /// `buffer=`, `flush=`, `gzip`: how lines gather before they are written (else each
        /// is written as its request ends).
        buffer: Option<LogBuffer>,
        span: Span,
    },
}

macro_rules! inherit {
    ($self:ident, $parent:ident, $($field:ident),*) => {
        $(if $self.$field.is_none() { $self.$field = $parent.$field.clone(); })*
    };
}

impl Settings {
    /// Fills what this level did not set from `parent` (nginx's `ngx_conf_merge_*_value`).
    pub fn inherit(&mut self, parent: &Settings) {
        inherit!(
            self,
            parent,
            proxy_http_version,
            proxy_set_header,
            proxy_pass_request_headers,
            proxy_pass_request_body,
            proxy_hide_header,
            proxy_pass_header,
            proxy_connect_timeout,
            proxy_read_timeout,
            proxy_send_timeout,
            proxy_next_upstream,
            proxy_next_upstream_tries,
            proxy_next_upstream_timeout,
            proxy_redirect,
            proxy_buffering,
            proxy_buffer_size,
            proxy_method,
            proxy_set_body,
            proxy_ignore_client_abort,
            proxy_force_ranges,
            proxy_ignore_headers,
            client_max_body_size,
            client_body_buffer_size,
            client_body_in_file_only,
            client_body_temp_path,
            proxy_request_buffering,
            keepalive_timeout,
            keepalive_header,
            keepalive_requests,
            keepalive_time,
            send_timeout,
            client_header_timeout,
            client_body_timeout,
            lingering_timeout,
            lingering_time,
            client_header_buffer_size,
            large_client_header_buffers,
            connection_pool_size,
            resolver,
            resolver_timeout,
            add_header,
            add_trailer,
            expires,
            access,
            auth_basic,
            auth_basic_user_file,
            satisfy_any,
            auth_delay,
            auth_request,
            auth_request_set,
            set_real_ip_from,
            real_ip_header,
            real_ip_recursive,
            server_tokens,
            absolute_redirect,
            port_in_redirect,
            server_name_in_redirect,
            access_log,
            error_log,
            default_type,
            types,
            ignore_invalid_headers,
            underscores_in_headers,
            merge_slashes,
            root,
            index,
            error_page,
            recursive_error_pages,
            proxy_intercept_errors,
            etag,
            autoindex,
            autoindex_exact_size,
            autoindex_localtime,
            random_index,
            msie_padding,
            msie_refresh,
            if_modified_since,
            max_ranges,
            mp4_buffer_size,
            mp4_max_buffer_size,
            mp4_start_key_frame,
            log_not_found,
            limit_rate,
            limit_rate_after,
            proxy_limit_rate,
            chunked_transfer_encoding,
            keepalive_disable,
            mirror,
            mirror_request_body,
            post_action,
            log_subrequest,
            proxy_bind
        );
        self.ssl.inherit(&parent.ssl);
        self.proxy_ssl.inherit(&parent.proxy_ssl);
        self.uwsgi_ssl.inherit(&parent.uwsgi_ssl);
        self.proxy_cookie.inherit(&parent.proxy_cookie);
        self.charset.inherit(&parent.charset);
        self.gzip.inherit(&parent.gzip);
        self.sub_filter.inherit(&parent.sub_filter);
        self.addition.inherit(&parent.addition);
        self.ssi.inherit(&parent.ssi);
        self.cache.inherit(&parent.cache);
        self.fastcgi.inherit(&parent.fastcgi);
        self.scgi.inherit(&parent.scgi);
        self.uwsgi.inherit(&parent.uwsgi);
        self.limits.inherit(&parent.limits);
        self.secure_link.inherit(&parent.secure_link);
        self.browser.inherit(&parent.browser);
        self.userid.inherit(&parent.userid);
        super::referer::inherit(&mut self.valid_referers, &parent.valid_referers);
    }

    /// The settings of the module whose pass speaks `protocol`.
    pub fn gateway(&self, protocol: super::gateway::Protocol) -> &super::gateway::Gateway {
        match protocol {
            super::gateway::Protocol::FastCgi => &self.fastcgi,
            super::gateway::Protocol::Scgi => &self.scgi,
            super::gateway::Protocol::Uwsgi => &self.uwsgi,
        }
    }

    /// `client_max_body_size`, nginx's default when no level set it.
    pub fn max_body_size(&self) -> u64 {
        self.client_max_body_size
            .unwrap_or(crate::defaults::http::CLIENT_MAX_BODY_SIZE)
    }

    /// Reads `d` into this level if it is one of the inherited settings; `false` otherwise.
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive) -> bool {
        if self.ssl.apply(cx, d)
            || self.proxy_ssl.apply(cx, d, "proxy_")
            || self.uwsgi_ssl.apply(cx, d, "uwsgi_")
            || self.gzip.apply(cx, d)
            || self.sub_filter.apply(cx, d)
            || self.addition.apply(cx, d)
            || self.ssi.apply(cx, d)
            || self.charset.apply(cx, d)
            || self.proxy_cookie.apply(cx, d)
            || self.cache.apply(cx, d, super::cache::Module::Proxy)
            || self.secure_link.apply(cx, d)
            || self.browser.apply(cx, d)
            || self.userid.apply(cx, d)
            || self.fastcgi.apply(cx, d, "fastcgi_")
            || self.scgi.apply(cx, d, "scgi_")
            || self.uwsgi.apply(cx, d, "uwsgi_")
        {
            return true;
        }
        if d.name().starts_with("limit_") {
            let mut zones = std::mem::take(&mut cx.limit_zones);
            let known = self.limits.apply(cx, d, &mut zones);
            cx.limit_zones = zones;
            if known {
                return true;
            }
        }
        match d.name() {
            "proxy_connect_timeout" => set(cx, d, &mut self.proxy_connect_timeout, parse_msec),
            "proxy_read_timeout" => set(cx, d, &mut self.proxy_read_timeout, parse_msec),
            "proxy_send_timeout" => set(cx, d, &mut self.proxy_send_timeout, parse_msec),
            "proxy_next_upstream_timeout" => {
                set(cx, d, &mut self.proxy_next_upstream_timeout, parse_msec)
            }
            "send_timeout" => set(cx, d, &mut self.send_timeout, parse_msec),
            "client_header_timeout" => set(cx, d, &mut self.client_header_timeout, parse_msec),
            "client_body_timeout" => set(cx, d, &mut self.client_body_timeout, parse_msec),
            "client_header_buffer_size" => {
                set(cx, d, &mut self.client_header_buffer_size, parse_size)
            }
            "connection_pool_size" | "request_pool_size" => {
                let mut size = None;
                set(cx, d, &mut size, parse_size);
                match size {
                    // `ngx_http_core_pool_size`: room for nginx's pool header and two large
                    // allocations, in steps of the pool alignment.
                    Some(n) if n < 112 => cx.error(d, "the pool size must be no less than 112"),
                    Some(n) if n % 16 != 0 => cx.error(d, "the pool size must be a multiple of 16"),
                    Some(n) if d.name() == "connection_pool_size" => {
                        self.connection_pool_size = Some(n)
                    }
                    // `request_pool_size` changes nothing else a client can see.
                    _ => {}
                }
            }
            "large_client_header_buffers" => {
                // The values were checked by the walk (`ngx_conf_set_bufs_slot`).
                let num = d.arg(0).and_then(|n| n.parse().ok());
                let size = d.arg(1).and_then(parse_size);
                if self.large_client_header_buffers.is_some() {
                    cx.duplicate(d);
                } else if let (Some(num), Some(size)) = (num, size) {
                    self.large_client_header_buffers = Some((num, size));
                }
            }
            // `ngx_http_core_lowat_check` on Linux, which has no `SO_SNDLOWAT` nginx can set.
            "send_lowat" | "proxy_send_lowat" => {
                cx.warn(d, format!("\"{}\" is not supported, ignored", d.name()));
            }
            "resolver_timeout" => set(cx, d, &mut self.resolver_timeout, parse_msec),
            "resolver" => {
                if self.resolver.is_some() {
                    cx.duplicate(d);
                } else {
                    self.resolver = super::resolver::lower(cx, d).map(Arc::new);
                }
            }
            "keepalive_timeout" => {
                let duplicate = self.keepalive_timeout.is_some();
                set(cx, d, &mut self.keepalive_timeout, parse_msec);
                if let Some(header) = d.arg(1).filter(|_| !duplicate) {
                    match parse_sec(header) {
                        Some(t) => self.keepalive_header = Some(t.as_secs()),
                        None => cx.invalid_value(d),
                    }
                }
            }
            "keepalive_time" => set(cx, d, &mut self.keepalive_time, parse_msec),
            "lingering_timeout" => set(cx, d, &mut self.lingering_timeout, parse_msec),
            "lingering_time" => set(cx, d, &mut self.lingering_time, parse_msec),
            "keepalive_requests" => set(cx, d, &mut self.keepalive_requests, |s| s.parse().ok()),
            "client_max_body_size" => set(cx, d, &mut self.client_max_body_size, parse_offset),
            "proxy_buffer_size" => set(cx, d, &mut self.proxy_buffer_size, parse_size),
            "client_body_buffer_size" => set(cx, d, &mut self.client_body_buffer_size, parse_size),
            // A value outside the enum was refused by the directive walk.
            "client_body_in_file_only" if d.arg(0).and_then(InFileOnly::parse).is_some() => {
                set(cx, d, &mut self.client_body_in_file_only, InFileOnly::parse)
            }
            "client_body_temp_path" => match &self.client_body_temp_path {
                Some(_) => cx.duplicate(d),
                None => self.client_body_temp_path = TempPath::lower(cx, d),
            },
            "proxy_request_buffering" => flag(cx, d, &mut self.proxy_request_buffering),
            "proxy_next_upstream_tries" => set(cx, d, &mut self.proxy_next_upstream_tries, |s| {
                s.parse().ok()
            }),
            "proxy_pass_request_headers" => flag(cx, d, &mut self.proxy_pass_request_headers),
            "proxy_pass_request_body" => flag(cx, d, &mut self.proxy_pass_request_body),
            "proxy_buffering" => flag(cx, d, &mut self.proxy_buffering),
            "proxy_ignore_client_abort" => flag(cx, d, &mut self.proxy_ignore_client_abort),
            "proxy_force_ranges" => flag(cx, d, &mut self.proxy_force_ranges),
            "proxy_method" | "proxy_set_body" => {
                let slot = if d.name() == "proxy_method" {
                    &mut self.proxy_method
                } else {
                    &mut self.proxy_set_body
                };
                if slot.is_some() {
                    cx.duplicate(d);
                } else {
                    *slot = cx.text(d, 0);
                }
            }
            "chunked_transfer_encoding" => flag(cx, d, &mut self.chunked_transfer_encoding),
            "proxy_limit_rate" => set(cx, d, &mut self.proxy_limit_rate, parse_size),
            "limit_rate" => size_value(cx, d, &mut self.limit_rate),
            "limit_rate_after" => size_value(cx, d, &mut self.limit_rate_after),
            "proxy_ignore_headers" => ignore_headers(d, &mut self.proxy_ignore_headers),
            "keepalive_disable" => {
                let disable = self.keepalive_disable.get_or_insert_with(Default::default);
                for w in &d.args {
                    // Any case, as `ngx_conf_set_bitmask_slot` compares; `none` sets nothing
                    // tested, and the directive table refused any other value.
                    if w.value.eq_ignore_ascii_case("msie6") {
                        disable.msie6 = true;
                    } else if w.value.eq_ignore_ascii_case("safari") {
                        disable.safari = true;
                    }
                }
            }
            "absolute_redirect" => flag(cx, d, &mut self.absolute_redirect),
            "port_in_redirect" => flag(cx, d, &mut self.port_in_redirect),
            "server_name_in_redirect" => flag(cx, d, &mut self.server_name_in_redirect),
            "server_tokens" => match d.arg(0) {
                Some("build") => self.server_tokens = Some(true),
                _ => flag(cx, d, &mut self.server_tokens),
            },
            "proxy_http_version" => match d.arg(0) {
                Some("1.0") => self.proxy_http_version = Some("HTTP/1.0"),
                Some("1.1") => self.proxy_http_version = Some("HTTP/1.1"),
                Some(v) => cx.error(d, format!("invalid value \"{v}\"")),
                None => cx.arity(d),
            },
            "proxy_set_header" => {
                let (Some(name), Some(value)) = (d.arg(0), cx.text(d, 1)) else {
                    return true;
                };
                let list = self.proxy_set_header.get_or_insert_with(Vec::new);
                list.push((name.to_string(), value));
            }
            "proxy_hide_header" | "proxy_pass_header" => {
                let list = if d.name() == "proxy_hide_header" {
                    &mut self.proxy_hide_header
                } else {
                    &mut self.proxy_pass_header
                };
                match d.arg(0) {
                    Some(name) => list.get_or_insert_with(Vec::new).push(name.to_string()),
                    None => cx.arity(d),
                }
            }
            "proxy_next_upstream" => self.proxy_next_upstream = proxy::next_upstream(cx, d),
            "proxy_redirect" => {
                if let Some(r) = proxy::redirect(cx, d) {
                    self.proxy_redirect.get_or_insert_with(Vec::new).push(r);
                }
            }
            "valid_referers" => super::referer::valid_referers(cx, d, &mut self.valid_referers),
            "add_header" => added_line(cx, d, &mut self.add_header),
            "add_trailer" => added_line(cx, d, &mut self.add_trailer),
            "expires" => filters::expires(cx, d, &mut self.expires),
            "allow" | "deny" => super::access::rule(cx, d, &mut self.access),
            "auth_basic" => super::access::text(cx, d, &mut self.auth_basic),
            "auth_basic_user_file" => super::access::text(cx, d, &mut self.auth_basic_user_file),
            "auth_request" => super::access::auth_request(cx, d, &mut self.auth_request),
            "auth_request_set" => {
                super::access::auth_request_set(cx, d, &mut self.auth_request_set)
            }
            "auth_delay" => set(cx, d, &mut self.auth_delay, parse_msec),
            "satisfy" => set(cx, d, &mut self.satisfy_any, |v| match v {
                "all" => Some(false),
                "any" => Some(true),
                _ => None,
            }),
            "set_real_ip_from" => realip::set_real_ip_from(cx, d, &mut self.set_real_ip_from),
            "real_ip_header" => realip::real_ip_header(cx, d, &mut self.real_ip_header),
            "real_ip_recursive" => flag(cx, d, &mut self.real_ip_recursive),
            "error_log" => {
                super::process::error_log(cx, d, self.error_log.get_or_insert_with(Vec::new))
            }
            "access_log" => {
                let entry = match d.arg(0) {
                    Some("off") => AccessLog::Off,
                    Some(path) => {
                        // nginx's order: the target, then the parameters.
                        let target = match LogTarget::parse(cx, path) {
                            Ok(target) => target,
                            Err(message) => {
                                cx.error(d, message);
                                return true;
                            }
                        };
                        if path.contains('$') && matches!(target, LogTarget::File(_)) {
                            let what = "\"access_log\" with variables";
                            cx.unsupported(d, d.args[0].span, what);
                            return true;
                        }
                        let Some((condition, buffer)) = access_log_options(cx, d) else {
                            return true;
                        };
                        if buffer.is_some() && matches!(target, LogTarget::Syslog(_)) {
                            cx.error(d, "logs to syslog cannot be buffered");
                            return true;
                        }
                        if let Some(buffer) = buffer {
                            match cx.log_buffers.iter().find(|(t, _)| *t == target) {
                                Some((_, first)) if *first != buffer => {
                                    let message = format!(
                                        "access_log \"{path}\" already defined with conflicting parameters"
                                    );
                                    cx.error(d, message);
                                    return true;
                                }
                                Some(_) => {}
                                None => cx.log_buffers.push((target.clone(), buffer)),
                            }
                        }
                        AccessLog::File {
                            target,
                            format: d.arg(1).unwrap_or("combined").to_string(),
                            condition,
                            buffer,
                            span: d.span(),
                        }
                    }
                    None => {
                        cx.arity(d);
                        return true;
                    }
                };
                self.access_log.get_or_insert_with(Vec::new).push(entry);
            }
            "ignore_invalid_headers" => flag(cx, d, &mut self.ignore_invalid_headers),
            "underscores_in_headers" => flag(cx, d, &mut self.underscores_in_headers),
            "merge_slashes" => flag(cx, d, &mut self.merge_slashes),
            "default_type" => set(cx, d, &mut self.default_type, |s| Some(s.to_string())),
            "post_action" => set(cx, d, &mut self.post_action, |s| Some(s.to_string())),
            // `ngx_http_core_type`: a level's `types` blocks fill one table; an extension
            // named again takes the new type, with a warning.
            "types" => {
                let mut list = self.types.take().unwrap_or_default();
                for c in cx.tree.expand(d.children()) {
                    let ty = c.name();
                    for e in &c.args {
                        let ext = e.value.to_ascii_lowercase();
                        if let Some((_, old)) = list.iter().rev().find(|(x, _)| *x == ext) {
                            let message = format!(
                                "duplicate extension \"{ext}\", content type: \"{ty}\", previous content type: \"{old}\""
                            );
                            cx.warn(c, message);
                        }
                        list.push((ext, ty.into()));
                    }
                }
                self.types = Some(list);
            }
            "root" => content::root(cx, d, &mut self.root, None),
            "index" => content::index(cx, d, &mut self.index),
            "error_page" => content::error_page(cx, d, &mut self.error_page),
            "try_files" => content::try_files(cx, d, &mut self.try_files),
            "recursive_error_pages" => flag(cx, d, &mut self.recursive_error_pages),
            "proxy_intercept_errors" => flag(cx, d, &mut self.proxy_intercept_errors),
            "etag" => flag(cx, d, &mut self.etag),
            "mirror" => mirror(cx, d, &mut self.mirror),
            "mirror_request_body" => flag(cx, d, &mut self.mirror_request_body),
            "log_subrequest" => flag(cx, d, &mut self.log_subrequest),
            "proxy_bind" => super::proxy_bind::lower(cx, d, &mut self.proxy_bind),
            "max_ranges" => set(cx, d, &mut self.max_ranges, |s| s.parse().ok()),
            "mp4_buffer_size" => set(cx, d, &mut self.mp4_buffer_size, parse_size),
            "mp4_max_buffer_size" => set(cx, d, &mut self.mp4_max_buffer_size, parse_size),
            "mp4_start_key_frame" => flag(cx, d, &mut self.mp4_start_key_frame),
            "autoindex" => flag(cx, d, &mut self.autoindex),
            "autoindex_exact_size" => flag(cx, d, &mut self.autoindex_exact_size),
            "autoindex_localtime" => flag(cx, d, &mut self.autoindex_localtime),
            "random_index" => flag(cx, d, &mut self.random_index),
            "msie_padding" => flag(cx, d, &mut self.msie_padding),
            "msie_refresh" => flag(cx, d, &mut self.msie_refresh),
            "log_not_found" => flag(cx, d, &mut self.log_not_found),
            "if_modified_since" => set(
                cx,
                d,
                &mut self.if_modified_since,
                content::if_modified_since,
            ),
            _ => return false,
        }
        true
    }
}

/// `proxy_ignore_headers` or `fastcgi_ignore_headers`: every directive of the level adds to
/// one set (nginx's bitmask).
pub(super) fn ignore_headers(d: &Directive, slot: &mut Option<IgnoreHeaders>) {
    let ignore = slot.get_or_insert_with(Default::default);
    for w in &d.args {
        // The directive table refused names nginx does not know.
        let flag = match w.value.to_ascii_lowercase().as_str() {
            "x-accel-redirect" => &mut ignore.x_accel_redirect,
            "x-accel-limit-rate" => &mut ignore.x_accel_limit_rate,
            "x-accel-buffering" => &mut ignore.x_accel_buffering,
            "x-accel-charset" => &mut ignore.x_accel_charset,
            "x-accel-expires" => &mut ignore.x_accel_expires,
            "expires" => &mut ignore.expires,
            "cache-control" => &mut ignore.cache_control,
            "set-cookie" => &mut ignore.set_cookie,
            "vary" => &mut ignore.vary,
            _ => continue,
        };
        *flag = true;
    }
}

/// A single-value setting: `is duplicate` when set twice at one level, `invalid value` when
/// `parse` refuses it.
pub(super) fn set<T>(
    cx: &mut Cx<'_>,
    d: &Directive,
    slot: &mut Option<T>,
    parse: impl Fn(&str) -> Option<T>,
) {
    if slot.is_some() {
        return cx.duplicate(d);
    }
    match d.arg(0).map(parse) {
        Some(Some(v)) => *slot = Some(v),
        Some(None) => cx.invalid_value(d),
        None => cx.arity(d),
    }
}

/// A size that may be written with variables (`ngx_http_set_complex_value_size_slot`): one
/// without is parsed now, and refused with `invalid value`.
fn size_value(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<Text>) {
    if slot.is_some() {
        return cx.duplicate(d);
    }
    let Some(text) = cx.text(d, 0) else {
        return;
    };
    if !text.value.contains('$') && parse_size(&text.value).is_none() {
        return cx.invalid_value(d);
    }
    *slot = Some(text);
}

/// Takes `parent`'s value when this level left `slot` unset (`ngx_conf_merge_ptr_value`).
pub(super) fn inherit_opt<T: Clone>(slot: &mut Option<T>, parent: &Option<T>) {
    if slot.is_none() {
        slot.clone_from(parent);
    }
}

/// `mirror URI | off` (`ngx_http_mirror`): each URI adds a subrequest to the level's list;
/// `off` (an empty list) stands alone, and either after the other is a duplicate.
fn mirror(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<Vec<String>>) {
    let Some(uri) = d.arg(0) else {
        return cx.arity(d);
    };
    match (uri, slot.as_mut()) {
        ("off", None) => *slot = Some(Vec::new()),
        ("off", Some(_)) => cx.duplicate(d),
        (_, Some(list)) if list.is_empty() => cx.duplicate(d),
        (_, Some(list)) => list.push(uri.to_string()),
        (_, None) => *slot = Some(vec![uri.to_string()]),
    }
}

pub(super) fn flag(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<bool>) {
    if slot.is_some() {
        return cx.duplicate(d);
    }
    match d.arg(0).and_then(parse_flag) {
        Some(on) => *slot = Some(on),
        None => super::process::flag_error(cx, d),
    }
}

/// `access_log`'s parameters after the format (`ngx_http_log_set_log`): the `if=` condition,
/// the `buffer=` size, the `flush=` time and `gzip[=level]` (which buffers 64k unless
/// `buffer=` says otherwise); `None` after an error, in nginx's words.
fn access_log_options(cx: &mut Cx<'_>, d: &Directive) -> Option<AccessLogOptions> {
    let mut condition = None;
    let mut size = None;
    let mut flush = None;
    let mut gzip = None;
    for (i, w) in d.args.iter().enumerate().skip(2) {
        if let Some(value) = w.value.strip_prefix("buffer=") {
            match parse_size(value).filter(|n| *n > 0) {
                Some(n) => size = Some(n),
                None => {
                    cx.error(d, format!("invalid buffer size \"{value}\""));
                    return None;
                }
            }
        } else if let Some(time) = w.value.strip_prefix("flush=") {
            match parse_msec(time).filter(|t| !t.is_zero()) {
                Some(t) => flush = Some(t),
                None => {
                    cx.error(d, format!("invalid flush time \"{time}\""));
                    return None;
                }
            }
        } else if w.value == "gzip" || w.value.starts_with("gzip=") {
            size.get_or_insert(64 * 1024);
            gzip = match w.value.strip_prefix("gzip=") {
                // zlib's Z_BEST_SPEED.
                None => Some(1),
                Some(level) => match crate::units::atoi(level).filter(|l| (1..=9).contains(l)) {
                    Some(l) => u32::try_from(l).ok(),
                    None => {
                        cx.error(d, format!("invalid compression level \"{level}\""));
                        return None;
                    }
                },
            };
        } else if let Some(value) = w.value.strip_prefix("if=") {
            condition = cx.text(d, i).map(|t| Text {
                value: value.to_string(),
                ..t
            });
        } else {
            cx.error(d, format!("invalid parameter \"{}\"", w.value));
            return None;
        }
    }
    let Some(size) = size else {
        if flush.is_some() {
            let path = d.arg(0).unwrap_or_default();
            cx.error(d, format!("no buffer is defined for access_log \"{path}\""));
            return None;
        }
        return Some((condition, None));
    };
    Some((condition, Some(LogBuffer { size, flush, gzip })))
}

/// `if=` and the buffering of one `access_log`.
type AccessLogOptions = (Option<Text>, Option<LogBuffer>);
