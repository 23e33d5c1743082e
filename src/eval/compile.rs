//! Typed configuration → compiled site: regexes compiled, variables resolved, `map`s and log
//! formats built, upstream groups shared, each location's proxy settings merged into what the
//! upstream request needs. Runs once per load.

use std::sync::{Arc, Weak};

use bytes::Bytes;

use super::log::{self, CompiledLogFormat};
use super::map::MapTable;
use super::plan::{CertificateSpec, ListenSpec, ProcessSpec, ProxyTimeouts};
use super::regex::Regex;
use super::request::Tables;
use super::site::{Action, CLocation, CProxy, CReturn, CServer, Inner, PassTarget};
use super::upstream::Groups;
use super::value::Complex;
use super::vars::Registry;
use crate::config::http::{Http, Server, ServerName};
use crate::config::location::{Location, Return};
use crate::config::proxy::{self, ProxyPass};
use crate::config::settings::Settings;
use crate::config::{Config, Cx, Modifier};
use crate::defaults;

/// What every level's compilation shares.
struct Shared {
    reg: Registry,
    groups: Groups,
    formats: Vec<Arc<CompiledLogFormat>>,
    combined: Arc<CompiledLogFormat>,
}

pub fn build(cx: &mut Cx<'_>, config: &Config, site: &Weak<Inner>) -> Inner {
    let p = &config.process;
    let process = ProcessSpec {
        worker_processes: p.worker_processes,
        worker_connections: p.worker_connections,
        pid: p.pid.clone(),
        error_logs: p.error_logs.clone(),
        daemon: p.daemon,
    };
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned().into_bytes())
        .unwrap_or_default();
    let Some(http) = &config.http else {
        return Inner {
            tables: Tables {
                maps: Vec::new(),
                hostname,
            },
            servers: Vec::new(),
            listens: Vec::new(),
            upstreams: Vec::new(),
            named_upstreams: Vec::new(),
            process,
        };
    };
    let reg = Registry {
        maps: http.maps.iter().map(|m| m.variable.clone()).collect(),
        captures: capture_names(http),
    };
    let maps = http
        .maps
        .iter()
        .filter_map(|m| MapTable::compile(cx, &reg, m))
        .collect();
    let formats = http
        .log_formats
        .iter()
        .filter_map(|f| CompiledLogFormat::compile(cx, &reg, f, site))
        .collect();
    validate(cx, &reg, &http.settings);
    let groups = Groups::explicit(cx, &reg, &http.upstreams);
    let mut shared = Shared {
        reg,
        groups,
        formats,
        combined: CompiledLogFormat::combined(site),
    };
    let servers: Vec<CServer> = http
        .servers
        .iter()
        .map(|s| server(cx, &mut shared, s))
        .collect();
    let listens = listens(&servers);
    Inner {
        tables: Tables { maps, hostname },
        listens,
        upstreams: shared.groups.all.iter().map(|g| g.group.clone()).collect(),
        named_upstreams: shared.groups.all,
        servers,
        process,
    }
}

/// Named captures of every regex in the configuration: they are variables everywhere.
fn capture_names(http: &Http) -> Vec<String> {
    fn walk(locs: &[Location], out: &mut Vec<String>) {
        for l in locs {
            if l.modifier.is_regex()
                && let Ok(re) = Regex::new(&l.name, l.modifier == Modifier::RegexCaseless)
            {
                out.extend(re.names().map(str::to_string));
            }
            walk(&l.children, out);
        }
    }
    let mut out = Vec::new();
    for s in &http.servers {
        walk(&s.locations, &mut out);
        for n in &s.names {
            if let ServerName::Regex(p, _) = n
                && let Ok(re) = Regex::new(p, false)
            {
                out.extend(re.names().map(str::to_string));
            }
        }
    }
    for m in &http.maps {
        for e in m.entries.iter().filter(|e| e.key.starts_with('~')) {
            let p = e.key.trim_start_matches('~').trim_start_matches('*');
            if let Ok(re) = Regex::new(p, false) {
                out.extend(re.names().map(str::to_string));
            }
        }
    }
    out
}

/// Compiles a level's header values only to report unknown variables, as nginx compiles
/// them at every level whether or not a location there proxies.
fn validate(cx: &mut Cx<'_>, reg: &Registry, st: &Settings) {
    let set = st.proxy_set_header.iter().flatten().map(|(_, v)| v);
    let add = st.add_header.iter().flatten().map(|h| &h.value);
    for text in set.chain(add) {
        Complex::compile(cx, reg, text);
    }
}

fn server(cx: &mut Cx<'_>, sh: &mut Shared, s: &Server) -> CServer {
    validate(cx, &sh.reg, &s.settings);
    let mut name_regexes = Vec::new();
    for (i, n) in s.names.iter().enumerate() {
        if let ServerName::Regex(p, span) = n {
            match Regex::new(p, false) {
                Ok(re) => name_regexes.push((i, re)),
                Err(message) => cx.late_error_at("server_name::regex", message, *span),
            }
        }
    }
    let st = &s.settings;
    let certificate = match (&st.ssl_certificate, &st.ssl_certificate_key) {
        (Some(c), Some(k)) => Some(Arc::new(CertificateSpec {
            certificate: c.clone(),
            key: k.clone(),
            protocols: st.ssl_protocols.clone().unwrap_or_else(|| {
                defaults::SSL_PROTOCOLS
                    .iter()
                    .map(|p| p.to_string())
                    .collect()
            }),
        })),
        _ => None,
    };
    if let Some(l) = s.listens.iter().find(|l| l.ssl) {
        let missing = match (&st.ssl_certificate, &st.ssl_certificate_key) {
            (None, _) => {
                Some("no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive")
            }
            (Some(_), None) => Some("no \"ssl_certificate_key\" is defined for certificate"),
            _ => None,
        };
        if let Some(m) = missing {
            let pos = cx.tree.sources.nginx_pos(l.span);
            cx.late_error("ssl::no_certificate", format!("{m} in {pos}"), l.span);
        }
    }
    CServer {
        span: s.span,
        listens: s.listens.clone(),
        names: s.names.clone(),
        name_regexes,
        ret: s.ret.as_ref().and_then(|r| give(cx, sh, r)),
        locations: s
            .locations
            .iter()
            .filter_map(|l| location(cx, sh, l))
            .collect(),
        certificate,
        log: log::spec(cx, st.access_log.as_deref(), &sh.formats, &sh.combined),
    }
}

fn give(cx: &mut Cx<'_>, sh: &Shared, r: &Return) -> Option<CReturn> {
    let text = match &r.text {
        Some(t) => Some(Complex::compile(cx, &sh.reg, t)?),
        None => None,
    };
    Some(CReturn { code: r.code, text })
}

fn location(cx: &mut Cx<'_>, sh: &mut Shared, l: &Location) -> Option<CLocation> {
    validate(cx, &sh.reg, &l.settings);
    let regex = if l.modifier.is_regex() {
        match Regex::new(&l.name, l.modifier == Modifier::RegexCaseless) {
            Ok(re) => Some(re),
            Err(message) => {
                cx.late_error_at("location::regex", message, l.span);
                return None;
            }
        }
    } else {
        None
    };
    let action = match (&l.ret, &l.proxy_pass) {
        (Some(r), _) => Action::Return(give(cx, sh, r)?),
        (None, Some(pass)) => Action::Proxy(Box::new(proxy(cx, sh, l, pass)?)),
        (None, None) => Action::Static,
    };
    Some(CLocation {
        modifier: l.modifier,
        name: l.name.clone(),
        span: l.span,
        regex,
        children: l
            .children
            .iter()
            .filter_map(|c| location(cx, sh, c))
            .collect(),
        action,
        auto_redirect: l.auto_redirect(),
        log: log::spec(
            cx,
            l.settings.access_log.as_deref(),
            &sh.formats,
            &sh.combined,
        ),
    })
}

fn proxy(cx: &mut Cx<'_>, sh: &mut Shared, l: &Location, pass: &ProxyPass) -> Option<CProxy> {
    let target = match pass {
        ProxyPass::Static(sp) => PassTarget::Static {
            upstream: sh.groups.for_pass(cx, sp)?,
            uri: sp.uri.as_ref().map(|u| u.as_bytes().to_vec()),
            host_header: sp.host_header().into_bytes(),
            port: sp.port_or_default().to_string().into_bytes(),
            location_len: match l.modifier {
                Modifier::Exact | Modifier::Prefix | Modifier::NoRegex => l.name.len(),
                _ => 0,
            },
        },
        ProxyPass::Variables(text) => PassTarget::Dynamic(Complex::compile(cx, &sh.reg, text)?),
    };
    let st = &l.settings;
    let (headers, reserved) = headers(
        cx,
        &sh.reg,
        st.proxy_set_header.as_deref().unwrap_or_default(),
    )?;
    let passed = st.proxy_pass_header.clone().unwrap_or_default();
    let hide_headers = defaults::proxy::HIDE_HEADERS
        .iter()
        .map(|h| h.to_string())
        .chain(st.proxy_hide_header.clone().unwrap_or_default())
        .filter(|h| !passed.iter().any(|p| p.eq_ignore_ascii_case(h)))
        .map(Bytes::from)
        .collect();
    let mut add_headers = Vec::new();
    for h in st.add_header.as_deref().unwrap_or_default() {
        add_headers.push((
            Bytes::from(h.name.clone()),
            Complex::compile(cx, &sh.reg, &h.value)?,
            h.always,
        ));
    }
    let mut next_upstream = st
        .proxy_next_upstream
        .unwrap_or_else(proxy::default_next_upstream);
    next_upstream.tries = st
        .proxy_next_upstream_tries
        .unwrap_or(defaults::http::NEXT_UPSTREAM_TRIES);
    next_upstream.timeout_total = st.proxy_next_upstream_timeout.unwrap_or_default();
    Some(CProxy {
        target,
        headers,
        reserved,
        version: st
            .proxy_http_version
            .unwrap_or(defaults::proxy::HTTP_VERSION),
        pass_request_headers: st.proxy_pass_request_headers.unwrap_or(true),
        pass_body: st.proxy_pass_request_body.unwrap_or(true),
        timeouts: ProxyTimeouts {
            connect: st
                .proxy_connect_timeout
                .unwrap_or(defaults::proxy::CONNECT_TIMEOUT),
            read: st
                .proxy_read_timeout
                .unwrap_or(defaults::proxy::READ_TIMEOUT),
            send: st
                .proxy_send_timeout
                .unwrap_or(defaults::proxy::SEND_TIMEOUT),
            client_send: st.send_timeout.unwrap_or(defaults::http::SEND_TIMEOUT),
        },
        next_upstream,
        hide_headers,
        add_headers,
        client_max_body_size: st
            .client_max_body_size
            .unwrap_or(defaults::http::CLIENT_MAX_BODY_SIZE),
    })
}

type Headers = (Vec<(Bytes, Complex)>, Vec<Vec<u8>>);

/// `ngx_http_proxy_init_headers`: the level's `proxy_set_header`s, then each default header
/// whose name they do not set. Every name is reserved; headers with an empty value are
/// never sent.
fn headers(
    cx: &mut Cx<'_>,
    reg: &Registry,
    set: &[(String, crate::config::Text)],
) -> Option<Headers> {
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

/// The sockets to open: one per address, options merged; a specific address on a port that
/// also has a wildcard is served through the wildcard socket (nginx binds only that).
fn listens(servers: &[CServer]) -> Vec<ListenSpec> {
    let mut out: Vec<ListenSpec> = Vec::new();
    for l in servers.iter().flat_map(|s| &s.listens) {
        match out.iter_mut().find(|o| o.addr == l.addr) {
            Some(o) => {
                o.ssl |= l.ssl;
                o.reuseport |= l.reuseport;
                o.backlog = o.backlog.or(l.backlog);
            }
            None => out.push(ListenSpec {
                addr: l.addr,
                ssl: l.ssl,
                reuseport: l.reuseport,
                backlog: l.backlog,
                ipv6only: l.ipv6only,
            }),
        }
    }
    let wildcards: Vec<_> = out
        .iter()
        .filter(|l| l.addr.ip().is_unspecified())
        .map(|l| l.addr)
        .collect();
    out.retain(|l| {
        l.addr.ip().is_unspecified()
            || !wildcards
                .iter()
                .any(|w| w.port() == l.addr.port() && w.is_ipv4() == l.addr.is_ipv4())
    });
    out
}
