//! The compiled site: servers with their locations, each location's action, and everything a
//! request needs that was decided at load. Built by `compile`, read by `route` and `explain`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::added::{AddHeaders, Deferred};
use super::error_page::ErrorPages;
use super::gzip::{CGzip, CGzipStatic};
use super::headers::HeaderRules;
use super::mime::ContentTypes;
use super::output::COutput;
use super::plan::{
    IgnoreHeaders, KeepBody, KeepaliveLimits, ListenSpec, LogSpec, NextUpstream, ProcessSpec,
    ProxyBuffers, ProxyTimeouts, ResolverSpec, TlsSpec, UpstreamGroup,
};
use super::regex::Regex;
use super::request::Tables;
use super::script::CStep;
use super::static_::Content;
use super::sub_filter::CSubFilter;
use super::value::Complex;
use crate::config::Modifier;
use crate::config::http::ServerName;
use crate::config::listen::{Listen, ListenAddr};
use crate::source::Span;

#[derive(Debug)]
pub struct Inner {
    pub tables: Tables,
    pub servers: Vec<CServer>,
    pub listens: Vec<ListenSpec>,
    pub upstreams: Vec<Arc<UpstreamGroup>>,
    /// Explicit `upstream` blocks by name, for `proxy_pass` with variables.
    pub named_upstreams: Vec<NamedUpstream>,
    pub process: ProcessSpec,
    /// Some value reads `$request_body`: proxy passes keep a copy of the body for it.
    pub reads_body: bool,
    /// Some value reads `$request_body_file`: proxy passes name the body's file for it.
    pub reads_body_file: bool,
    /// The charsets the configuration names, which an upstream's `X-Accel-Charset` may
    /// name.
    pub charsets: Vec<Bytes>,
    /// The variables' names, for the SSI filter's, which a body names.
    pub vars: super::vars::Registry,
}

#[derive(Debug, Clone)]
pub struct NamedUpstream {
    pub group: Arc<UpstreamGroup>,
    /// `Some` for the implicit group of `proxy_pass http://host:port` (`Some(0)` for that of
    /// `http://unix:/path`, as nginx keys it).
    pub port: Option<u16>,
    pub hash_key: Option<Complex>,
}

#[derive(Debug)]
pub struct CServer {
    pub span: Span,
    pub listens: Vec<Listen>,
    pub names: Vec<ServerName>,
    /// `$server_name` (see `first_name`), kept for every request the server takes.
    pub server_name: Bytes,
    /// Compiled `~` server names, by index into `names`.
    pub name_regexes: Vec<(usize, Regex)>,
    /// The rewrite module's server-level steps.
    pub script: Vec<CStep>,
    pub header_rules: HeaderRules,
    pub merge_slashes: bool,
    /// `add_header` for the server-level steps' answers.
    pub add_headers: AddHeaders,
    pub locations: Vec<CLocation>,
    /// The server's own settings as a location (nginx's server-level `loc_conf`): what serves
    /// a request no location matches, and whose `error_page`s apply to the server's `return`s.
    pub default: CLocation,
    pub tls: Option<Arc<TlsSpec>>,
    /// The deprecated `ssl on`: the addresses this server is the default of speak TLS.
    pub ssl_on: bool,
    /// `ssl_verify_client`: what a request this server has needs of the client's certificate.
    pub verify_client: crate::config::ssl::VerifyClient,
    /// For answers given before a location is chosen.
    pub log: Arc<LogSpec>,
    pub redirects: RedirectRules,
    /// For answers given before a location is chosen.
    pub keepalive: KeepaliveLimits,
    /// `client_header_timeout`: bounds the handshake and the head on the sockets this server
    /// is the default of.
    pub header_timeout: Duration,
    /// `client_header_buffer_size` and `large_client_header_buffers` (`uniform` unset).
    pub header_buffers: super::plan::HeaderBuffers,
}

/// How a `Location` starting with `/` is made absolute (`absolute_redirect`,
/// `port_in_redirect`, `server_name_in_redirect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedirectRules {
    pub absolute: bool,
    pub port: bool,
    pub server_name: bool,
}

impl RedirectRules {
    pub fn of(settings: &crate::config::settings::Settings) -> RedirectRules {
        RedirectRules {
            absolute: settings.absolute_redirect.unwrap_or(true),
            port: settings.port_in_redirect.unwrap_or(true),
            server_name: settings.server_name_in_redirect.unwrap_or(false),
        }
    }
}

impl CServer {
    /// `$server_name`: the first name as nginx keeps it (lowercased, `.name` without its dot;
    /// empty when there is none).
    pub fn first_name(names: &[ServerName]) -> Vec<u8> {
        match names.first() {
            Some(ServerName::Dot(n)) => n.as_bytes()[1..].to_vec(),
            Some(n) => n.display().into_bytes(),
            None => Vec::new(),
        }
    }
}

#[derive(Debug)]
pub struct CLocation {
    pub modifier: Modifier,
    pub name: String,
    pub span: Span,
    pub regex: Option<Regex>,
    pub children: Vec<CLocation>,
    /// The rewrite module's steps, run before the action.
    pub script: Vec<CStep>,
    /// `add_header` for the steps' answers.
    pub add_headers: AddHeaders,
    /// The realip module's settings here (the server's own at post-read, a location's at
    /// preaccess).
    pub realip: Option<super::realip::RealIp>,
    /// `allow`, `deny`, `auth_basic` and `satisfy`: the access phase.
    pub access: super::access::Access,
    /// `limit_req` and `limit_conn`, checked at the preaccess phase.
    pub limits: super::limit::CLimits,
    pub action: Action,
    /// Files, index, `try_files`.
    pub content: Content,
    pub error_pages: ErrorPages,
    /// `internal`: a request from a client gets 404 here.
    pub internal: bool,
    /// `server_tokens`.
    pub server_tokens: bool,
    /// `client_max_body_size` (0 = unlimited): checked for every location, as nginx's
    /// find-config phase does.
    pub client_max_body_size: u64,
    pub auto_redirect: bool,
    pub log: Arc<LogSpec>,
    /// `mirror` and `mirror_request_body`: the precontent phase's background subrequests.
    pub mirror: Option<Arc<super::mirror::CMirror>>,
    /// `post_action`: the URI, or `@name`, an answered request is redirected to.
    pub post_action: Option<Bytes>,
    pub redirects: RedirectRules,
    pub keepalive: KeepaliveLimits,
    pub gzip: Option<Arc<CGzip>>,
    /// `gzip_static on|always`: the content phase's `.gz` files.
    pub gzip_static: Option<Arc<CGzipStatic>>,
    pub sub_filter: Option<Arc<CSubFilter>>,
    /// `add_before_body`/`add_after_body`: `None` when neither names a URI.
    pub addition: Option<Arc<super::plan::Addition>>,
    /// `ssi on` and its settings.
    pub ssi: Option<Arc<super::plan::Ssi>>,
    /// `chunked_transfer_encoding`, `keepalive_disable` and the rate limits.
    pub output: COutput,
    /// `valid_referers`, for `$invalid_referer`.
    pub referers: Option<Arc<super::referer::Referers>>,
    /// The browser module's settings, for `$modern_browser` and `$ancient_browser`.
    pub browser: Arc<super::browser::CBrowser>,
    /// `msie_refresh`.
    pub msie_refresh: bool,
    /// The userid filter's settings.
    pub userid: Arc<super::userid::CUserid>,
    /// `secure_link*`, for `$secure_link`.
    pub secure_link: Option<Arc<super::secure_link::CSecureLink>>,
    /// `limit_except`: the configuration a request whose method it does not list takes.
    pub limit_except: Option<Box<CLimitExcept>>,
    /// `fastcgi_split_path_info` and `fastcgi_index`.
    pub script_name: Arc<super::fastcgi::ScriptName>,
}

/// A location's `limit_except`: the methods it lists (`GET` bringing `HEAD`) and the
/// configuration every other method, an unknown one included, takes once the location is
/// found (`ngx_http_update_location_config`).
#[derive(Debug)]
pub struct CLimitExcept {
    pub methods: Vec<&'static str>,
    pub config: CLocation,
}

impl CLocation {
    /// The configuration a request with `method` is served with here: the `limit_except`
    /// block's when the method is not listed, else this one.
    pub fn for_method(&self, method: &str) -> &CLocation {
        match &self.limit_except {
            Some(limit) if !limit.methods.contains(&method) => &limit.config,
            _ => self,
        }
    }
}

/// A location's `proxy_bind`: its address, or the value that gives it per request.
#[derive(Debug)]
pub enum CBind {
    Fixed(super::plan::LocalBind),
    Variable { value: Complex, transparent: bool },
}

#[derive(Debug)]
pub enum Action {
    Proxy(Box<CProxy>),
    /// No `proxy_pass`: files from `root` or `alias` (the static and index modules).
    Static,
    /// `stub_status`: the server's connection counters as text.
    StubStatus,
    /// `empty_gif`: nginx's 1×1 transparent GIF.
    EmptyGif,
    /// `flv`: files, cut at `?start=` behind an FLV header.
    Flv,
    /// `mp4`: files, cut at `?start=`/`?end=` seconds.
    Mp4(Box<super::mp4::Conf>),
}

#[derive(Debug, Clone)]
pub struct CReturn {
    pub code: u16,
    pub text: Option<Complex>,
    pub content_types: ContentTypes,
}

/// A location's `proxy_pass` with every proxy setting merged into it.
#[derive(Debug)]
pub struct CProxy {
    pub target: PassTarget,
    /// `proxy_set_header` then nginx's defaults not overridden, in nginx's order.
    pub headers: Vec<(Bytes, Complex)>,
    /// `proxy_set_header Content-Length ...` replaces nginx's own (an empty value: none is
    /// sent, as auth_request setups ask with `proxy_pass_request_body off`).
    pub own_length: bool,
    /// Lowercased names the client may not pass on by itself (every name above, with the
    /// body headers).
    pub reserved: Vec<Vec<u8>>,
    pub version: &'static str,
    /// `proxy_method`.
    pub method: Option<Complex>,
    /// `proxy_set_body`.
    pub set_body: Option<Complex>,
    pub ignore_client_abort: bool,
    /// `proxy_force_ranges`.
    pub force_ranges: bool,
    /// `max_ranges` is not 0.
    pub range_filter: bool,
    /// `proxy_ignore_headers`.
    pub ignore_headers: IgnoreHeaders,
    /// How nginx would hold the body, should the configuration read `$request_body`.
    pub keep_body: KeepBody,
    pub cookies: Option<Arc<super::proxy_cookie::CookieRules>>,
    pub pass_request_headers: bool,
    pub pass_body: bool,
    pub timeouts: ProxyTimeouts,
    pub buffers: ProxyBuffers,
    pub next_upstream: NextUpstream,
    pub hide_headers: Vec<Bytes>,
    /// `proxy_redirect`: `None` without any rule.
    pub redirects: Option<Arc<super::proxy_redirect::ProxyRedirects>>,
    pub add_headers: Arc<Deferred>,
    pub client_max_body_size: u64,
    /// `proxy_ssl_*`, for an https URL or one with variables.
    pub tls: Option<super::upstream_tls::CTls>,
    /// `proxy_bind`; `None` without one, or with `off`.
    pub bind: Option<CBind>,
    /// `resolver` and `resolver_timeout`, for host names a URL with variables gives.
    pub resolver: Option<(Arc<ResolverSpec>, Duration)>,
    /// `proxy_cache` with its settings; `None` with `proxy_cache off`.
    pub cache: Option<Box<super::cache::CCache>>,
    /// `fastcgi_pass`, `scgi_pass`, `uwsgi_pass`: the params to send instead of an HTTP head.
    pub gateway: Option<Box<super::gateway::CGateway>>,
}

#[derive(Debug)]
pub enum PassTarget {
    Static {
        upstream: NamedUpstream,
        /// The URI part of `proxy_pass`, if any.
        uri: Option<Vec<u8>>,
        /// `$proxy_host` and `$proxy_port`, shared by every request through here.
        host_header: Bytes,
        port: Bytes,
        /// The location's name length: the part of `$uri` the URI part replaces.
        location_len: usize,
    },
    Dynamic(Complex),
}

/// The listen socket `local` belongs to, for matching `listen` entries.
pub fn listens_on(l: &Listen, listen: &ListenAddr, local: &ListenAddr) -> bool {
    l.addr == *local || l.addr == *listen
}
