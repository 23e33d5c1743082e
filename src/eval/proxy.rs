//! The upstream request nginx builds for `proxy_pass` (`ngx_http_proxy_create_request`): the
//! URI after replacing the location's prefix with the URI part, `proxy_set_header` values and
//! nginx's defaults in order (empty values dropped), then the client's headers except the
//! ones those names reserve.

use std::sync::Arc;

use bytes::Bytes;

use super::plan::{
    ErrorLine, Gateway, GatewayRequest, InFileOnly, LocalBind, PeerAddr, ProxyRequest, Resolve,
    Route,
};
use super::request::Req;
use super::site::{CBind, CProxy, Inner, NamedUpstream, PassTarget, RedirectRules};
use super::trace::{Trace, note};
use super::upstream;
use super::uri::{self, Rewritten};
use crate::config::proxy::{Target, Url};

/// Where `proxy_pass` sends this request, evaluating a URL with variables when needed.
#[derive(Debug)]
pub struct Resolved {
    pub upstream: NamedUpstream,
    /// The name the runtime resolves first, when the URL gave one no group has.
    pub resolve: Option<Resolve>,
    /// The request URI as sent upstream.
    pub uri: Vec<u8>,
    /// The URL is `https://`.
    pub https: bool,
}

/// Builds the upstream request, or the answer nginx gives when it cannot (502 for a URL with
/// variables naming a host with no `resolver` to ask).
pub fn build(
    site: &Inner,
    p: &CProxy,
    req: &mut Req<'_>,
    log: Arc<super::plan::LogSpec>,
    rules: RedirectRules,
    mut trace: Option<&mut Trace>,
) -> Route {
    let resolved = match resolve(site, p, req, &mut trace) {
        Ok(resolved) => resolved,
        Err(failure) => {
            let mut route = super::route::respond(502, log, Vec::new(), None);
            if let (Route::Respond(r), Unpassable::NoResolver(host)) = (&mut route, failure) {
                let message = format!("no resolver defined to resolve {host}");
                r.errors.push(ErrorLine::error(message));
            }
            return route;
        }
    };
    note(&mut trace, |t| {
        t.upstream = Some(resolved.upstream.group.clone())
    });
    // `$proxy_host` and `$proxy_port` are the proxy module's; its URI is not sent. The host
    // still names a `suwsgi://` peer for TLS.
    let gateway_host = match p.gateway {
        Some(_) => req.proxy.take().map(|(host, _)| host),
        None => None,
    };
    let cache = p.cache.as_ref().and_then(|c| {
        // nginx's default key: the URL's scheme and host, then the URI sent; the FastCGI
        // module has none (an empty key, which the load warned about).
        let default_key = || {
            if p.gateway.is_some() {
                return Vec::new();
            }
            let scheme: &[u8] = if resolved.https {
                b"https://"
            } else {
                b"http://"
            };
            let host = req.proxy.as_ref().map(|(host, _)| host.clone());
            [scheme, &host.unwrap_or_default(), &resolved.uri].concat()
        };
        let default_key = default_key();
        c.request(req, || default_key, p.ignore_headers).transpose()
    });
    let cache = match cache.transpose() {
        Ok(cache) => cache,
        Err(message) => {
            let mut route = super::route::respond(500, log, Vec::new(), None);
            if let Route::Respond(r) = &mut route {
                r.errors.push(ErrorLine::error(message));
            }
            return route;
        }
    };
    let mut headers: Vec<(Bytes, Bytes)> = Vec::with_capacity(p.headers.len() + req.headers.len());
    for (name, value) in &p.headers {
        let v = value.eval(req);
        if !v.is_empty() {
            headers.push((name.clone(), Bytes::from(v)));
        }
    }
    let body_headers_at = headers.len();
    if p.pass_request_headers {
        for (name, value) in req.headers.iter() {
            let reserved = p.reserved.iter().any(|r| name.eq_ignore_ascii_case(r));
            if !reserved {
                headers.push((name.clone(), value.clone()));
            }
        }
    }
    let balance_key = resolved
        .upstream
        .hash_key
        .as_ref()
        .map(|k| Bytes::from(k.eval(req)));
    // A FastCGI answer never becomes a tunnel (SCGI's and uwsgi's may).
    let fastcgi = |g: &GatewayRequest| matches!(g.protocol, Gateway::FastCgi { .. });
    let gateway = p.gateway.as_ref().map(|g| g.request(req));
    let client_upgrade = !gateway.as_ref().is_some_and(fastcgi)
        && req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(b"upgrade"));
    let location_base = super::route::location_base(req, rules).map(Bytes::from);
    let method = match &p.method {
        // `proxy_cache_convert_head`: the answer to cache is the whole one.
        _ if cache.is_some()
            && req.method == "HEAD"
            && p.cache.as_ref().is_some_and(|c| c.convert_head) =>
        {
            Bytes::from_static(b"GET")
        }
        Some(method) => Bytes::from(method.eval(req)),
        None => Bytes::copy_from_slice(req.method.as_bytes()),
    };
    let body = p.set_body.as_ref().map(|body| Bytes::from(body.eval(req)));
    if let Some((len, what)) = gateway.as_ref().and_then(GatewayRequest::limited_len)
        && len > GatewayRequest::MAX_PACKET
    {
        let mut route = super::route::respond(500, log, Vec::new(), None);
        if let Route::Respond(r) = &mut route {
            r.errors
                .push(ErrorLine::alert(format!("{what} is too big: {len}")));
        }
        return route;
    }
    let tls = match (&p.tls, resolved.https) {
        (Some(tls), true) => {
            let host = req.proxy.as_ref().map(|(host, _)| host.clone());
            Some(tls.target(req, &host.or(gateway_host).unwrap_or_default()))
        }
        _ => None,
    };
    Route::Proxy(Box::new(ProxyRequest {
        upstream: resolved.upstream.group,
        resolve: resolved.resolve,
        method,
        idempotent: !matches!(req.method, "POST" | "LOCK" | "PATCH"),
        body,
        stream_body: !p.keep_body.buffered,
        ignore_client_abort: p.ignore_client_abort,
        force_ranges: p.force_ranges,
        range_filter: p.range_filter,
        ignore_headers: p.ignore_headers,
        keep_body: ((site.reads_body && !req.body_missed)
            || site.reads_body_file
            || p.keep_body.in_file_only != InFileOnly::Off)
            .then(|| p.keep_body.clone()),
        cookies: p
            .cookies
            .clone()
            .map(|c| c as Arc<dyn super::plan::CookieRewrite>),
        uri: match gateway {
            Some(_) => Bytes::new(),
            None => Bytes::from(resolved.uri),
        },
        version: p.version,
        headers,
        body_headers_at,
        own_length: p.own_length,
        balance_key,
        client: req.client().clone(),
        server: Bytes::new(),
        pass_body: p.pass_body,
        client_upgrade,
        timeouts: p.timeouts,
        buffers: p.buffers,
        next_upstream: p.next_upstream,
        hide_headers: p.hide_headers.clone(),
        redirects: p
            .redirects
            .clone()
            .map(|r| r as Arc<dyn super::plan::RedirectRewrite>),
        location_base,
        add_headers: p.add_headers.clone(),
        client_max_body_size: p.client_max_body_size,
        log,
        // `route` sets it with the answer.
        routed: None,
        error_pages: Vec::new(),
        intercept_errors: false,
        passes: Vec::new(),
        carried: Vec::new(),
        userid: Vec::new(),
        content_type: None,
        status: None,
        server_tokens: true,
        subrequest: false,
        errors: Vec::new(),
        keepalive: req.keepalive,
        // `route` sets it with the answer.
        gzip: None,
        sub_filter: None,
        addition: None,
        ssi: None,
        tls,
        bind: p.bind.as_ref().and_then(|b| local_bind(b, req)),
        limited: Default::default(),
        // `route` sets it with the answer.
        sending: Default::default(),
        trailers: None,
        mirrors: Vec::new(),
        cache,
        gateway: gateway.map(Box::new),
    }))
}

/// Why a URL with variables leads nowhere (nginx answers 502 either way).
#[derive(Debug)]
pub enum Unpassable {
    /// It is not a URL `proxy_pass` takes.
    BadUrl,
    /// It names this host, no group has it and no `resolver` is set.
    NoResolver(String),
}

/// Sets `$proxy_host`/`$proxy_port` and works out the group and URI.
pub fn resolve(
    site: &Inner,
    p: &CProxy,
    req: &mut Req<'_>,
    trace: &mut Option<&mut Trace>,
) -> Result<Resolved, Unpassable> {
    match &p.target {
        PassTarget::Static {
            upstream,
            uri: part,
            host_header,
            port,
            location_len,
        } => {
            req.proxy = Some((host_header.clone(), port.clone()));
            let uri = match (part, req.target.rewritten) {
                (None, Rewritten::No) => req.target.unparsed.clone(),
                (None, _) | (Some(_), Rewritten::InPlace) => current_uri(req, &[], 0),
                (Some(part), _) => current_uri(req, part, *location_len),
            };
            Ok(Resolved {
                upstream: upstream.clone(),
                resolve: None,
                uri,
                https: p.tls.is_some(),
            })
        }
        PassTarget::Dynamic(url) => {
            let text = String::from_utf8_lossy(&url.eval(req)).into_owned();
            note(trace, |t| {
                t.notes.push(format!("proxy_pass evaluates to \"{text}\""))
            });
            // `fastcgi_pass` takes an address without a scheme, and no URI (`uwsgi_pass`
            // may write `uwsgi://`).
            let url = match &p.gateway {
                Some(g) => crate::config::proxy::parse_url(&g.url(&text))
                    .map(|url| Url { uri: None, ..url }),
                None => crate::config::proxy::parse_url(&text),
            };
            let url = url.map_err(|_| Unpassable::BadUrl)?;
            req.proxy = Some((
                url.host_header().into_bytes().into(),
                url.proxy_port().into_bytes().into(),
            ));
            let uri = match &url.uri {
                Some(u) if u.starts_with('?') => format!("/{u}").into_bytes(),
                Some(u) => u.clone().into_bytes(),
                None if req.target.rewritten == Rewritten::No => req.target.unparsed.clone(),
                None => current_uri(req, &[], 0),
            };
            let (upstream, resolve) = dynamic_group(site, p, &url, trace)?;
            Ok(Resolved {
                upstream,
                resolve,
                uri,
                https: url.https,
            })
        }
    }
}

/// The upstream URI built from `$uri` (`ngx_http_proxy_create_request`): `part` in place of
/// the location's first `location_len` bytes, the rest escaped when the request's was or the
/// rewrite module changed it (nginx: `quoted_uri` or `internal`), then `?args`.
fn current_uri(req: &Req<'_>, part: &[u8], location_len: usize) -> Vec<u8> {
    let rest = req.target.uri.get(location_len..).unwrap_or_default();
    let mut out = part.to_vec();
    let internal = matches!(
        req.target.rewritten,
        Rewritten::Located | Rewritten::InPlace
    );
    if req.target.quoted || internal {
        out.extend(uri::escape(rest));
    } else {
        out.extend_from_slice(rest);
    }
    if !req.target.args.is_empty() {
        out.push(b'?');
        out.extend_from_slice(&req.target.args);
    }
    out
}

/// A URL with variables names an `upstream`, an implicit group, an address or a unix socket;
/// any other host name is resolved by the runtime through `resolver` (with none, nginx
/// answers 502). A name to resolve comes with an empty stand-in group named after it.
fn dynamic_group(
    site: &Inner,
    p: &CProxy,
    url: &Url,
    trace: &mut Option<&mut Trace>,
) -> Result<(NamedUpstream, Option<Resolve>), Unpassable> {
    let groups = &site.named_upstreams;
    let (host, port) = match &url.target {
        Target::Unix(path) => {
            let known = upstream::find_unix(groups, path);
            let group = known.cloned().unwrap_or_else(|| upstream::unix_group(path));
            return Ok((group, None));
        }
        Target::Host { name, port } => (name, *port),
    };
    let want_port = port.unwrap_or(url.default_port());
    let named = groups
        .iter()
        .find(|g| g.port.is_none() && port.is_none() && g.group.name.eq_ignore_ascii_case(host));
    if let Some(g) = named.or_else(|| upstream::find_implicit(groups, host, want_port)) {
        return Ok((g.clone(), None));
    }
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>();
    if let Ok(ip) = ip {
        let group = upstream::implicit(
            upstream::implicit_name(host, want_port),
            want_port,
            &[PeerAddr::Tcp(std::net::SocketAddr::new(ip, want_port))],
        );
        return Ok((group, None));
    }
    let Some((resolver, timeout)) = &p.resolver else {
        note(trace, |t| {
            t.notes
                .push(format!("no resolver defined to resolve {host}: 502"))
        });
        return Err(Unpassable::NoResolver(host.clone()));
    };
    note(trace, |t| {
        t.notes.push(format!("{host} is resolved at request time"))
    });
    let stand_in = upstream::implicit(host.clone(), want_port, &[]);
    let resolve = Resolve {
        host: host.clone(),
        port: want_port,
        resolver: resolver.clone(),
        timeout: *timeout,
    };
    Ok((stand_in, Some(resolve)))
}

/// `ngx_http_upstream_set_local`: `proxy_bind`'s address for this request. A value that comes
/// out empty binds nothing; one that is not an address binds nothing either, with nginx's
/// error line.
fn local_bind(bind: &CBind, req: &mut Req<'_>) -> Option<LocalBind> {
    let (value, transparent) = match bind {
        CBind::Fixed(local) => return Some(local.clone()),
        CBind::Variable { value, transparent } => (value.eval(req), *transparent),
    };
    if value.is_empty() {
        return None;
    }
    let name = String::from_utf8_lossy(&value).into_owned();
    match crate::config::proxy_bind::parse_addr_port(&value) {
        Some(addr) => Some(LocalBind {
            addr,
            name,
            transparent,
        }),
        None => {
            let line = format!("invalid local address \"{name}\"");
            req.errors.push(ErrorLine::error(line));
            None
        }
    }
}
