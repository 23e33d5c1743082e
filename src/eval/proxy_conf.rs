//! A location's proxy settings compiled into what the upstream request needs: the target
//! (an upstream group known at load, or a URL with variables), `proxy_set_header` merged with
//! nginx's default headers (`ngx_http_proxy_init_headers`), hidden and passed response
//! headers, timeouts and `proxy_next_upstream`.

use std::sync::{Arc, Weak};

use bytes::Bytes;

use super::added::Deferred;

use super::plan::{KeepBody, LocalBind, ProxyBuffers, ProxyTimeouts, TempPath};
use super::site::{CBind, CProxy, Inner, PassTarget};
use super::upstream::Groups;
use super::value::Complex;
use super::vars::Registry;
use crate::config::cache::Module;
use crate::config::filters::Expires;
use crate::config::gateway::Protocol;
use crate::config::location::Location;
use crate::config::proxy::{self, ProxyPass, StaticPass};
use crate::config::settings::Settings;
use crate::config::{Cx, Modifier, Text};
use crate::defaults;

/// Compiles a level's header values only to report unknown variables, as nginx compiles
/// them at every level whether or not a location there proxies.
pub fn validate(cx: &mut Cx<'_>, reg: &Registry, st: &Settings) {
    let set = st.proxy_set_header.iter().flatten().map(|(_, v)| v);
    let add = st.add_header.iter().flatten().map(|h| &h.value);
    let expires = st.expires.iter().filter_map(|e| match e {
        Expires::Variable { value, .. } => Some(value),
        Expires::Fixed(_) => None,
    });
    let bind = st.proxy_bind.iter().flatten().map(|b| &b.value);
    let bind = bind.chain(st.fastcgi.bind.iter().flatten().map(|b| &b.value));
    let proxy = st.proxy_method.iter().chain(&st.proxy_set_body).chain(bind);
    let gateways = [&st.fastcgi, &st.scgi, &st.uwsgi];
    let params = gateways
        .into_iter()
        .flat_map(|g| g.param.iter().flatten().map(|p| &p.value));
    for text in set.chain(add).chain(expires).chain(proxy).chain(params) {
        Complex::compile(cx, reg, text);
    }
    super::cache::validate(cx, reg, &st.cache);
    super::cache::validate(cx, reg, &st.fastcgi.cache);
    super::proxy_cookie::compile(cx, reg, &st.proxy_cookie, &Weak::new());
}

/// Compiles location `l`'s `proxy_pass` with its merged settings.
pub fn compile(
    cx: &mut Cx<'_>,
    reg: &Registry,
    groups: &mut Groups,
    caches: &super::cache::Zones,
    l: &Location,
    pass: &ProxyPass,
    site: &Weak<Inner>,
) -> Option<CProxy> {
    let target = match pass {
        ProxyPass::Static(sp) => PassTarget::Static {
            upstream: groups.for_pass(cx, sp, l.gateway.is_some())?,
            uri: sp.url.uri.as_ref().map(|u| u.as_bytes().to_vec()),
            host_header: sp.url.host_header().into_bytes().into(),
            port: sp.url.proxy_port().into_bytes().into(),
            location_len: match l.modifier {
                Modifier::Exact | Modifier::Prefix | Modifier::NoRegex => l.name.len(),
                _ => 0,
            },
        },
        ProxyPass::Variables(text) => PassTarget::Dynamic(Complex::compile(cx, reg, text)?),
    };
    let st = &l.settings;
    let ims = st
        .if_modified_since
        .unwrap_or(crate::config::content::IfModifiedSince::Exact);
    if let Some(protocol) = l.gateway {
        // `fastcgi_cache`: the file cache serves FastCGI too (SCGI's and uwsgi's are refused).
        let cache = match protocol {
            Protocol::FastCgi => {
                let cache = (&st.fastcgi.cache, Module::FastCgi);
                super::cache::compile(cx, reg, caches, cache, ims, site)?
            }
            _ => None,
        };
        return gateway(cx, reg, l, (protocol, pass), target, cache, site);
    }
    // nginx builds the TLS context for an https URL, and for any URL with variables (it may
    // turn out to be https).
    let tls = match pass {
        ProxyPass::Static(sp) if !sp.url.https => None,
        ProxyPass::Static(StaticPass { text, .. }) | ProxyPass::Variables(text) => Some(
            super::upstream_tls::compile(cx, reg, &st.proxy_ssl, text.span, "proxy_")?,
        ),
    };
    let redirects = super::proxy_redirect::compile(cx, reg, l, pass, site)?;
    let (headers, reserved) = headers(cx, reg, st.proxy_set_header.as_deref().unwrap_or_default())?;
    let value = |cx: &mut Cx<'_>, text: &Option<Text>| match text {
        Some(text) => Complex::compile(cx, reg, text).map(Some),
        None => Some(None),
    };
    let method = value(cx, &st.proxy_method)?;
    let cache = (&st.cache, Module::Proxy);
    let cache = super::cache::compile(cx, reg, caches, cache, ims, site)?;
    let set_body = value(cx, &st.proxy_set_body)?;
    let own_length = st
        .proxy_set_header
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-length"));
    let knobs = Knobs {
        pass_request_headers: st.proxy_pass_request_headers,
        pass_request_body: st.proxy_pass_request_body,
        request_buffering: st.proxy_request_buffering,
        buffering: st.proxy_buffering,
        buffer_size: st.proxy_buffer_size,
        hide_header: st.proxy_hide_header.as_deref(),
        pass_header: st.proxy_pass_header.as_deref(),
        default_hidden: &defaults::proxy::HIDE_HEADERS,
        connect_timeout: st.proxy_connect_timeout,
        read_timeout: st.proxy_read_timeout,
        send_timeout: st.proxy_send_timeout,
        next_upstream: st.proxy_next_upstream,
        next_upstream_tries: st.proxy_next_upstream_tries,
        next_upstream_timeout: st.proxy_next_upstream_timeout,
        ignore_client_abort: st.proxy_ignore_client_abort,
        ignore_headers: st.proxy_ignore_headers,
        sets_body: st.proxy_set_body.is_some(),
        force_ranges: st.proxy_force_ranges,
    };
    Some(CProxy {
        headers,
        own_length,
        reserved,
        version: st
            .proxy_http_version
            .unwrap_or(defaults::proxy::HTTP_VERSION),
        method,
        set_body,
        cookies: super::proxy_cookie::compile(cx, reg, &st.proxy_cookie, site)?,
        redirects,
        tls,
        bind: bind(cx, reg, &st.proxy_bind)?,
        cache,
        gateway: None,
        ..knobs.compile(cx, reg, st, target, site)?
    })
}

/// `proxy_bind` or `fastcgi_bind` compiled: `Some(None)` without one (or `off`), `None` after
/// an error.
fn bind(
    cx: &mut Cx<'_>,
    reg: &Registry,
    slot: &Option<Option<crate::config::proxy_bind::Bind>>,
) -> Option<Option<CBind>> {
    let Some(b) = slot.as_ref().and_then(Option::as_ref) else {
        return Some(None);
    };
    Some(Some(match b.fixed {
        Some(addr) => CBind::Fixed(LocalBind {
            addr,
            name: b.value.value.clone(),
            transparent: b.transparent,
        }),
        None => CBind::Variable {
            value: Complex::compile(cx, reg, &b.value)?,
            transparent: b.transparent,
        },
    }))
}

/// `fastcgi_pass`, `scgi_pass`, `uwsgi_pass`: the upstream machinery under the module's own
/// settings, with params in place of headers (and `fastcgi_cache`'s `cache`, `fastcgi_bind`);
/// no HTTP version, method, body of its own, cookie or redirect rewriting, and TLS only
/// for uwsgi (`suwsgi://`, and a pass with variables, which may turn out to be one, as
/// nginx builds its context for both).
fn gateway(
    cx: &mut Cx<'_>,
    reg: &Registry,
    l: &Location,
    (protocol, pass): (Protocol, &ProxyPass),
    target: PassTarget,
    cache: Option<Box<super::cache::CCache>>,
    site: &Weak<Inner>,
) -> Option<CProxy> {
    let st = &l.settings;
    let f = st.gateway(protocol);
    let tls = match pass {
        _ if protocol != Protocol::Uwsgi => None,
        ProxyPass::Static(sp) if !sp.url.https => None,
        ProxyPass::Static(StaticPass { text, .. }) | ProxyPass::Variables(text) => Some(
            super::upstream_tls::compile(cx, reg, &st.uwsgi_ssl, text.span, "uwsgi_")?,
        ),
    };
    let knobs = Knobs {
        pass_request_headers: f.pass_request_headers,
        pass_request_body: f.pass_request_body,
        request_buffering: f.request_buffering,
        buffering: f.buffering,
        buffer_size: f.buffer_size,
        hide_header: f.hide_header.as_deref(),
        pass_header: f.pass_header.as_deref(),
        default_hidden: match protocol {
            Protocol::Uwsgi => &defaults::gateway::UWSGI_HIDE_HEADERS,
            _ => &defaults::gateway::HIDE_HEADERS,
        },
        connect_timeout: f.connect_timeout,
        read_timeout: f.read_timeout,
        send_timeout: f.send_timeout,
        next_upstream: f.next_upstream,
        next_upstream_tries: f.next_upstream_tries,
        next_upstream_timeout: f.next_upstream_timeout,
        ignore_client_abort: f.ignore_client_abort,
        ignore_headers: f.ignore_headers,
        sets_body: false,
        force_ranges: f.force_ranges,
    };
    let params = super::gateway::CGateway::compile(cx, reg, protocol, f)?;
    Some(CProxy {
        gateway: Some(Box::new(params)),
        tls,
        cache,
        bind: bind(cx, reg, &f.bind)?,
        ..knobs.compile(cx, reg, st, target, site)?
    })
}

/// The settings `proxy_*`, `fastcgi_*`, `scgi_*` and `uwsgi_*` each have their own of, as the
/// upstream module reads them from each module's `ngx_http_upstream_conf_t`.
struct Knobs<'a> {
    pass_request_headers: Option<bool>,
    pass_request_body: Option<bool>,
    request_buffering: Option<bool>,
    buffering: Option<bool>,
    buffer_size: Option<usize>,
    hide_header: Option<&'a [String]>,
    pass_header: Option<&'a [String]>,
    /// The module's own list of headers hidden by default.
    default_hidden: &'a [&'a str],
    connect_timeout: Option<std::time::Duration>,
    read_timeout: Option<std::time::Duration>,
    send_timeout: Option<std::time::Duration>,
    next_upstream: Option<proxy::NextUpstream>,
    next_upstream_tries: Option<u32>,
    next_upstream_timeout: Option<std::time::Duration>,
    ignore_client_abort: Option<bool>,
    ignore_headers: Option<crate::eval::plan::IgnoreHeaders>,
    /// `proxy_set_body` replaces the client's body.
    sets_body: bool,
    force_ranges: Option<bool>,
}

impl Knobs<'_> {
    /// A pass with these settings and nothing of the protocol's own (no headers, method,
    /// body, rewriting, TLS, cache or params), which the caller adds.
    fn compile(
        self,
        cx: &mut Cx<'_>,
        reg: &Registry,
        st: &Settings,
        target: PassTarget,
        site: &Weak<Inner>,
    ) -> Option<CProxy> {
        let passed = self.pass_header.unwrap_or_default();
        let hide_headers = self
            .default_hidden
            .iter()
            .map(|h| h.to_string())
            .chain(self.hide_header.unwrap_or_default().iter().cloned())
            .filter(|h| !passed.iter().any(|p| p.eq_ignore_ascii_case(h)))
            .map(Bytes::from)
            .collect();
        let ignore_headers = self.ignore_headers.unwrap_or_default();
        let accel_charset = !ignore_headers.x_accel_charset;
        let add_headers = Deferred::new(super::added::compile(cx, reg, st)?, accel_charset, site);
        let mut next_upstream = self
            .next_upstream
            .unwrap_or_else(proxy::default_next_upstream);
        next_upstream.tries = self
            .next_upstream_tries
            .unwrap_or(defaults::http::NEXT_UPSTREAM_TRIES);
        next_upstream.timeout_total = self.next_upstream_timeout.unwrap_or_default();
        let pass_body = self.pass_request_body.unwrap_or(true);
        Some(CProxy {
            target,
            headers: Vec::new(),
            own_length: false,
            reserved: Vec::new(),
            version: defaults::proxy::HTTP_VERSION,
            method: None,
            set_body: None,
            ignore_client_abort: self.ignore_client_abort.unwrap_or(false),
            force_ranges: self.force_ranges.unwrap_or(false),
            range_filter: st.max_ranges != Some(0),
            ignore_headers,
            keep_body: KeepBody {
                buffer_size: st
                    .client_body_buffer_size
                    .map_or(defaults::http::CLIENT_BODY_BUFFER_SIZE, |n| n as u64),
                // `ngx_http_proxy_handler` streams only what it can: a body it sends as
                // read, chunked only to an HTTP/1.1 upstream.
                buffered: self.request_buffering.unwrap_or(true) || self.sets_body || !pass_body,
                in_file_only: st.client_body_in_file_only.unwrap_or_default(),
                temp_path: Arc::new(
                    st.client_body_temp_path
                        .clone()
                        .unwrap_or_else(|| TempPath {
                            dir: defaults::http::CLIENT_BODY_TEMP_PATH.into(),
                            levels: Vec::new(),
                        }),
                ),
            },
            cookies: None,
            pass_request_headers: self.pass_request_headers.unwrap_or(true),
            pass_body,
            timeouts: ProxyTimeouts {
                connect: self
                    .connect_timeout
                    .unwrap_or(defaults::proxy::CONNECT_TIMEOUT),
                read: self.read_timeout.unwrap_or(defaults::proxy::READ_TIMEOUT),
                send: self.send_timeout.unwrap_or(defaults::proxy::SEND_TIMEOUT),
                client_send: st.send_timeout.unwrap_or(defaults::http::SEND_TIMEOUT),
                client_body: st
                    .client_body_timeout
                    .unwrap_or(defaults::http::CLIENT_BODY_TIMEOUT),
            },
            buffers: ProxyBuffers {
                head: self.buffer_size.unwrap_or(defaults::proxy::BUFFER_SIZE),
                buffering: self.buffering.unwrap_or(true),
            },
            next_upstream,
            hide_headers,
            redirects: None,
            add_headers,
            client_max_body_size: st.max_body_size(),
            tls: None,
            bind: None,
            resolver: st.resolver.clone().map(|r| {
                let timeout = st
                    .resolver_timeout
                    .unwrap_or(defaults::http::RESOLVER_TIMEOUT);
                (r, timeout)
            }),
            cache: None,
            gateway: None,
        })
    }
}

type Headers = (Vec<(Bytes, Complex)>, Vec<Vec<u8>>);

/// `ngx_http_proxy_init_headers`: the level's `proxy_set_header`s, then each default header
/// whose name they do not set. Every name is reserved; headers with an empty value are
/// never sent.
fn headers(cx: &mut Cx<'_>, reg: &Registry, set: &[(String, Text)]) -> Option<Headers> {
    let mut out = Vec::new();
    let mut reserved: Vec<Vec<u8>> = Vec::new();
    for (name, value) in set {
        reserved.push(name.to_ascii_lowercase().into_bytes());
        let value = Complex::compile(cx, reg, value)?;
        if value.as_literal() != Some(b"") {
            out.push((Bytes::from(name.clone()), value));
        }
    }
    for (name, value) in defaults::proxy::HEADERS {
        let lower = name.to_ascii_lowercase().into_bytes();
        if reserved.contains(&lower) {
            continue;
        }
        reserved.push(lower);
        if !value.is_empty() {
            let parts = super::value::split_known(value, reg);
            out.push((Bytes::from_static(name.as_bytes()), Complex { parts }));
        }
    }
    for name in defaults::proxy::BODY_HEADERS {
        let lower = name.to_ascii_lowercase().into_bytes();
        if !reserved.contains(&lower) {
            reserved.push(lower);
        }
    }
    Some((out, reserved))
}
