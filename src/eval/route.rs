//! One request through nginx's phases as far as they decide where it goes: parse the target
//! and `Host`, choose the server, run its rewrite script, find the location (the 301 of
//! `auto_redirect`, `client_max_body_size`), run its rewrite script (searching again after
//! a rewritten URI), and finally the upstream request.

use std::sync::Arc;

use bytes::Bytes;

use super::access::Decision;
use super::added;
use super::error_page;
use super::location::{self, Found};
use super::plan::{
    ErrorLine, LogSpec, Mirror, Outcome, Pass, RequestInfo, Response, Route, Subrequest,
};
use super::request::{Answer, Req};
use super::script::{self, Flow};
use super::site::{Action, CLocation, CReturn, CServer, Inner, RedirectRules};
use super::static_::{self, Served};
use super::trace::{Trace, note};
use super::uri::Rewritten;
use super::{try_files, uri, vhost};
use crate::config::Modifier;

/// Routes `info`; when `trace` is given, records every decision in it.
pub fn route(site: &Inner, info: &RequestInfo<'_>, trace: Option<&mut Trace>) -> Route {
    route_after(site, info, &[], None, trace)
}

/// Routes `info` again after proxy passes that ended in `passes` (`Site::reroute`);
/// `outcome` is what the runtime learned from them.
pub fn route_after<'a>(
    site: &'a Inner,
    info: &'a RequestInfo<'a>,
    failed: &[Pass],
    outcome: Option<&'a Outcome>,
    mut trace: Option<&mut Trace>,
) -> Route {
    let on = vhost::on_socket(&site.servers, &info.listen, &info.local);
    let fallback_log = || {
        vhost::default(&on, &info.local)
            .map(|s| s.log.clone())
            .unwrap_or_default()
    };
    let Some(target) = uri::parse(info.target, merge_slashes(&on, info)) else {
        note(&mut trace, |t| {
            t.notes.push("invalid request target: 400".into())
        });
        return respond(400, fallback_log(), Vec::new(), None);
    };
    let mut req = Req::new(info, &site.tables, target);
    if failed.is_empty() {
        req.outcome = outcome;
    } else {
        req.passes_outcome = outcome;
    }
    req.traced = trace.is_some();
    // nginx refuses these while it reads the header lines, before it looks at
    // `Content-Length`: it discards no body then.
    let mut head_refused = false;
    let route = match pick_server(&on, &mut req, &mut trace) {
        Err((why, at)) => {
            head_refused = true;
            note(&mut trace, |t| t.notes.push(format!("{why}: 400")));
            let line = ErrorLine::info(format!("{why} while reading client request headers"));
            // Refused in the hands of the default server, or of the one a valid `Host` chose:
            // finalized there with 400, so its `error_page 400` and `add_header ... always`
            // apply. The lines after the refused one were never read.
            let mut refused = match refused_by(&on, &mut req) {
                Some(server) => {
                    if let Some(at) = at {
                        req.headers.to_mut().truncate(at + 1);
                    }
                    in_server(
                        site,
                        server,
                        &mut req,
                        failed,
                        Some((400, line)),
                        &mut trace,
                    )
                }
                None => {
                    req.errors.push(line);
                    respond(400, fallback_log(), Vec::new(), None)
                }
            };
            if let Route::Respond(r) = &mut refused {
                r.head_cut = at;
            }
            refused
        }
        Ok(None) => respond(404, fallback_log(), Vec::new(), None),
        Ok(Some(server)) if misdirected(&on, server, &req) => {
            // Refused in the negotiated server's hands, which had the request until then.
            let negotiated = info
                .sni
                .and_then(|s| vhost::validate_host(s.as_bytes()))
                .and_then(|h| vhost::named(&on, &h))
                .unwrap_or(server);
            enter_server(&mut req, negotiated);
            let line = ErrorLine::info(super::client_cert::MISDIRECTED.to_string());
            let first = Some((421, line));
            in_server(site, negotiated, &mut req, failed, first, &mut trace)
        }
        Ok(Some(server)) => {
            // Refusals once the server is known come before any phase; otherwise the
            // post-read phase runs, with the server's own settings.
            let first = early_refusal(server, info);
            match &first {
                Some((status, line)) => note(&mut trace, |t| {
                    t.notes.push(format!("{}: {status}", line.message))
                }),
                None => req.apply_realip(server.default.realip.as_ref()),
            }
            in_server(site, server, &mut req, failed, first, &mut trace)
        }
    };
    note(&mut trace, |t| {
        t.variables = std::mem::take(&mut req.seen);
        t.notes.append(&mut req.notes);
    });
    conclude(route, req, head_refused)
}

/// The end of routing, for the request or a subrequest whose answer the runtime writes: the
/// output filters and limits of the level the request ended in, with the request as it was
/// left when something reads it again.
fn conclude(mut route: Route, mut req: Req<'_>, head_refused: bool) -> Route {
    // `ngx_http_gzip_ok` declines a subrequest (the main request's filter has its body),
    // which the gunzip filter then inflates.
    let gzip = req.gzip.as_ref().map(|g| g.for_request(&req));
    let sub_filter = req.sub_filter.clone().and_then(|s| s.for_request(&mut req));
    // Only a main request's answer gets additions.
    let addition = req.addition.clone().filter(|_| !req.subrequest);
    let limited = super::limit::take(&mut req);
    let mirrors = std::mem::take(&mut req.mirrors);
    let output = req.output.clone();
    let mut errors = std::mem::take(&mut req.errors);
    let mut sending = output.sending(&mut req, &mut errors);
    if head_refused {
        sending.lingering = None;
    }
    if output.disables_keepalive(&req) {
        req.keepalive.requests = 0;
    }
    if !errors.is_empty() {
        for e in &mut errors {
            e.server = req.server_name.clone();
            e.client.clone_from(&req.realip);
        }
        route.errors_mut().append(&mut errors);
    }
    let route = route
        .with_keepalive(req.keepalive)
        .with_gzip(gzip)
        .with_sub_filter(sub_filter)
        .with_addition(addition)
        .with_ssi(req.ssi.clone())
        .with_limited(limited)
        .with_mirrors(mirrors)
        .with_sending(sending)
        .with_trailers(output.trailers.clone());
    if route.rereads_request() {
        route.with_routed(req.routed())
    } else {
        route
    }
}

/// `Site::subrequest`: the request is put back in its server as routing left it, and the
/// subrequest routed from there as the mirror module's are.
pub fn output_subrequest(site: &Inner, info: &RequestInfo<'_>, uri: &[u8], args: &[u8]) -> Route {
    let on = vhost::on_socket(&site.servers, &info.listen, &info.local);
    let target = uri::parse(info.target, merge_slashes(&on, info))
        .unwrap_or_else(|| uri::Target::raw(info.target));
    let mut main = Req::new(info, &site.tables, target);
    // A request refused before a server had it has no answer to add to.
    let Ok(Some(server)) = pick_server(&on, &mut main, &mut None) else {
        return respond(500, Arc::default(), Vec::new(), None);
    };
    main.apply_realip(server.default.realip.as_ref());
    if let Some(routed) = info.routed {
        main.restore(routed);
    }
    let mut sub = sub_request(server, uri, "GET", args.to_vec(), &main);
    let route = in_server(site, server, &mut sub, &[], None, &mut None);
    conclude(route, sub, false)
}

/// `Site::variable`: `name` read from the request as routing left it.
pub fn variable(site: &Inner, info: &RequestInfo<'_>, name: &str) -> Option<Vec<u8>> {
    let var = site.vars.resolve(name)?;
    if matches!(var, super::vars::Var::Unsupported(_)) {
        return None;
    }
    prepare(site, info).var(name, &var)
}

/// The request line is read with the address's default server's `merge_slashes`.
fn merge_slashes(on: &[&CServer], info: &RequestInfo<'_>) -> bool {
    vhost::default(on, &info.local).is_none_or(|s| s.merge_slashes)
}

/// Request headers nginx takes once (`ngx_http_process_unique_header_line`): a second one
/// is a 400.
const UNIQUE: &[&[u8]] = &[
    b"if-modified-since",
    b"if-unmodified-since",
    b"if-match",
    b"if-none-match",
    b"content-length",
    b"content-range",
    b"if-range",
    b"transfer-encoding",
    b"expect",
    b"authorization",
];

/// The request's headers as nginx processes them while it reads the head, in order: the
/// first `Host` is validated, a second one or a second of a [`UNIQUE`] header refused, then
/// `Host` is required of HTTP/1.1. `Err` is a 400 with nginx's `[info]` message.
fn check_headers(req: &mut Req<'_>) -> Result<(), HeadRefused> {
    let info = req.info;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut host: Option<(&[u8], &[u8])> = None;
    // nginx chose the server the request line's host names before it read any header.
    req.host = req.target.host.as_deref().and_then(vhost::validate_host);
    for (i, (name, value)) in req.headers.iter().enumerate() {
        let earlier = || {
            req.headers[..i]
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        if name.eq_ignore_ascii_case(b"host") {
            if let Some((n, v)) = host {
                let why = format!(
                    "client sent duplicate host header: \"{}: {}\", previous value: \"{}: {}\"",
                    text(name),
                    text(value),
                    text(n),
                    text(v)
                );
                return Err((why, Some(i)));
            }
            host = Some((name, value));
            let valid = vhost::validate_host(value)
                .ok_or_else(|| ("client sent invalid host header".to_string(), Some(i)))?;
            if req.target.host.is_none() {
                req.host = Some(valid);
            }
        } else if UNIQUE.iter().any(|u| name.eq_ignore_ascii_case(u))
            && let Some((n, v)) = earlier()
        {
            let why = format!(
                "client sent duplicate header line: \"{}: {}\", previous value: \"{}: {}\"",
                text(name),
                text(value),
                text(n),
                text(v)
            );
            return Err((why, Some(i)));
        }
    }
    // nginx asks a request above HTTP/1.0 for the header even when its absolute-form target
    // names the host (ngx_http_process_request_header tests `headers_in.host` alone).
    if host.is_none() && info.version != "HTTP/1.0" {
        let why = "client sent HTTP/1.1 request without \"Host\" header";
        return Err((why.into(), None));
    }
    if let Some(raw) = &req.target.host {
        let valid = vhost::validate_host(raw);
        req.host = Some(valid.ok_or(("client sent invalid host header".into(), None))?);
    }
    Ok(())
}

/// Why nginx refused a head while it processed its header lines, and the line it stopped
/// at (`None`: all were read).
type HeadRefused = (String, Option<usize>);

/// The request's `Host` and server; `Err` is a 400 with nginx's reason.
fn pick_server<'s>(
    on: &[&'s CServer],
    req: &mut Req<'_>,
    trace: &mut Option<&mut Trace>,
) -> Result<Option<&'s CServer>, HeadRefused> {
    let info = req.info;
    check_headers(req)?;
    let name = req
        .host
        .clone()
        .or_else(|| info.sni.map(|s| s.as_bytes().to_ascii_lowercase()));
    let server = vhost::select(
        on,
        &info.local,
        name.as_deref(),
        &mut req.captures,
        trace.as_deref_mut(),
    );
    if let Some(s) = server {
        enter_server(req, s);
    }
    Ok(server)
}

/// `ngx_http_set_virtual_server` on a TLS connection whose SNI named a server: a `Host` that
/// names another, landing on a server that checks client certificates, is refused (421).
fn misdirected(on: &[&CServer], server: &CServer, req: &Req<'_>) -> bool {
    use crate::config::ssl::VerifyClient;
    let (Some(host), Some(sni)) = (req.host.as_deref(), req.info.sni) else {
        return false;
    };
    if !req.info.tls || server.verify_client == VerifyClient::Off {
        return false;
    }
    let Some(negotiated) = vhost::validate_host(sni.as_bytes()) else {
        return false;
    };
    negotiated != host && vhost::named(on, &negotiated).is_some()
}

/// The server a request refused while its headers were checked was in the hands of: the one
/// a valid `Host` read before the refusal named (`ngx_http_set_virtual_server` ran as that
/// line was read), else the default; the request enters it.
fn refused_by<'s>(on: &[&'s CServer], req: &mut Req<'_>) -> Option<&'s CServer> {
    let named = req.host.as_deref().and_then(|h| vhost::named(on, h));
    let server = named.or_else(|| vhost::default(on, &req.info.local))?;
    enter_server(req, server);
    Some(server)
}

/// The request is in `server`'s hands, at its server level.
fn enter_server(req: &mut Req<'_>, s: &CServer) {
    req.server_name = s.server_name.clone();
    req.keepalive = s.keepalive;
    req.gzip = s.default.gzip.clone();
    req.sub_filter = s.default.sub_filter.clone();
    req.addition = s.default.addition.clone();
    req.ssi = s.default.ssi.clone();
    req.output.clone_from(&s.default.output);
    req.root = Some(s.default.content.root.clone());
    req.referers.clone_from(&s.default.referers);
    req.secure_link.clone_from(&s.default.secure_link);
    req.browser = Some(s.default.browser.clone());
    req.userid = Some(s.default.userid.clone());
    if !req
        .headers
        .iter()
        .all(|(name, _)| s.header_rules.keeps(name))
    {
        let rules = &s.header_rules;
        req.headers.to_mut().retain(|(name, _)| rules.keeps(name));
    }
}

/// The server of a request answered before a location was chosen: the one its `Host`
/// chose, else (no `Host` read, or one nginx refused) the socket's default server, which
/// had the request until then.
fn server_before_routing<'s>(on: &[&'s CServer], req: &mut Req<'_>) -> Option<&'s CServer> {
    match pick_server(on, req, &mut None) {
        Ok(server) => server,
        Err(_) => refused_by(on, req),
    }
}

/// What nginx finalizes a request with once its server is known and before any phase runs,
/// in nginx's order: `ngx_http_process_request_header`'s body framing (the runtime's
/// verdict) and CONNECT/TRACE, then `ngx_http_process_request`'s plain HTTP on an `ssl`
/// listener (497) and client certificate. The server's `error_page` applies to the status
/// (as in the common `error_page 497 https://...`).
fn early_refusal(server: &CServer, info: &RequestInfo<'_>) -> Option<(u16, ErrorLine)> {
    const AT: &str = "while reading client request headers";
    if let Some((status, why)) = info.framing_refused {
        return Some((status, ErrorLine::info(format!("{why} {AT}"))));
    }
    if super::plan::refused_method(info.method) {
        let line = format!("client sent {} method {AT}", info.method);
        return Some((405, ErrorLine::info(line)));
    }
    if info.plain_on_ssl {
        let line = format!("client sent plain HTTP request to HTTPS port {AT}");
        return Some((497, ErrorLine::info(line)));
    }
    super::client_cert::refusal(server, info)
}

/// `Site::refused`.
pub fn refused_log(site: &Inner, info: &RequestInfo<'_>) -> (Arc<LogSpec>, Bytes) {
    let on = vhost::on_socket(&site.servers, &info.listen, &info.local);
    let target = uri::Target::raw(info.target);
    let mut req = Req::new(info, &site.tables, target);
    server_before_routing(&on, &mut req)
        .map_or_else(Default::default, |s| (s.log.clone(), s.server_name.clone()))
}

/// Where the request goes next, as nginx's handlers and phases decide it.
#[derive(Debug)]
pub enum Next {
    /// The answer (boxed: a `Route` is large, the other steps small).
    Answer(Box<Route>),
    /// `ngx_http_finalize_request(r, status)`: a special response, which an `error_page` may
    /// take over; the headers go with it (a redirect's `Location`).
    Special(u16, Vec<(Bytes, Bytes)>),
    /// `ngx_http_internal_redirect` to a URI and arguments.
    Redirect(Vec<u8>, Vec<u8>),
    /// `ngx_http_named_location` (the name with its `@`).
    Named(Vec<u8>),
}

impl Next {
    pub fn answer(route: Route) -> Next {
        Next::Answer(Box::new(route))
    }

    /// A URI written in the configuration (`try_files`' last argument, an `error_page`): a
    /// named location, or an internal redirect with the arguments after `?`.
    pub fn to(uri: Vec<u8>) -> Next {
        if uri.first() == Some(&b'@') {
            return Next::Named(uri);
        }
        match uri.iter().position(|&c| c == b'?') {
            Some(q) => Next::Redirect(uri[..q].to_vec(), uri[q + 1..].to_vec()),
            None => Next::Redirect(uri, Vec::new()),
        }
    }
}

/// The request's passes through proxy locations that already ended (`Site::reroute`).
struct Failed<'f> {
    statuses: std::slice::Iter<'f, Pass>,
    passed: Vec<Pass>,
}

/// The request in `server`'s hands from its rewrite phase on, or finalized at once with
/// `first` (a status and its `[info]` line) before the phases, as nginx refuses a client's
/// certificate or a misdirected request.
fn in_server(
    site: &Inner,
    server: &CServer,
    req: &mut Req<'_>,
    failed: &[Pass],
    first: Option<(u16, ErrorLine)>,
    trace: &mut Option<&mut Trace>,
) -> Route {
    let mut served = Served::default();
    let mut failed = Failed {
        statuses: failed.iter(),
        passed: Vec::new(),
    };
    let (mut loc, mut next) = match first {
        Some((status, line)) => {
            note(trace, |t| t.notes.push(line.message.clone()));
            served.errors.push(line);
            (&server.default, Next::Special(status, Vec::new()))
        }
        None => enter(site, server, None, req, &mut served, &mut failed, trace),
    };
    let mut post_action = req.info.post_action;
    loop {
        next = match next {
            // `ngx_http_post_action`: the request, answered where it stands now and routed
            // again for this, goes on to the location's `post_action` (the lines said on the
            // way were written when it was answered). ngxr follows one post action only.
            Next::Answer(_) if post_action && loc.post_action.is_some() => {
                post_action = false;
                served.errors.clear();
                let to = loc.post_action.as_deref().unwrap_or_default();
                note(trace, |t| {
                    let shown = String::from_utf8_lossy(to);
                    t.notes.push(format!("post action: {shown}"))
                });
                match to.first() {
                    Some(b'/') => Next::Redirect(to.to_vec(), Vec::new()),
                    _ => Next::Named(to.to_vec()),
                }
            }
            Next::Answer(route) => {
                if served.close {
                    req.keepalive.requests = 0;
                }
                return finish(*route, served, server, loc, req);
            }
            Next::Special(status, headers) => {
                note(trace, |t| t.notes.push(format!("finalized with {status}")));
                error_page::special(loc, status, headers, req, &mut served)
            }
            Next::Redirect(uri, args) => {
                let reading = std::mem::take(&mut served.reading_upstream);
                if let Some(mut cycle) = uri_change(req, "internally redirecting to", &uri) {
                    if reading {
                        cycle.message.push_str(super::accel::READING);
                    }
                    served.errors.push(cycle);
                    Next::Special(500, Vec::new())
                } else {
                    note(trace, |t| {
                        let shown = String::from_utf8_lossy(&uri).into_owned();
                        t.notes.push(format!("internal redirect to {shown}"))
                    });
                    req.target.uri = uri;
                    req.target.args = args;
                    req.target.rewritten = Rewritten::Located;
                    req.internal = true;
                    req.add_uri_to_alias = false;
                    // nginx clears the modules' contexts: `$proxy_host` is not found again
                    // until a proxy pass sets it.
                    req.proxy = None;
                    (loc, next) = enter(site, server, None, req, &mut served, &mut failed, trace);
                    continue;
                }
            }
            Next::Named(name) => {
                let reading = std::mem::take(&mut served.reading_upstream);
                let during = if reading { super::accel::READING } else { "" };
                let found = server
                    .locations
                    .iter()
                    .find(|l| l.modifier == Modifier::Named && l.name.as_bytes() == name);
                let shown = String::from_utf8_lossy(&name).into_owned();
                match found {
                    None => {
                        served.errors.push(ErrorLine::error(format!(
                            "could not find named location \"{shown}\"{during}"
                        )));
                        Next::Special(500, Vec::new())
                    }
                    Some(_) if req.uri_changes <= 1 => {
                        req.uri_changes = 0;
                        served.errors.push(ErrorLine::error(format!(
                            "rewrite or internal redirection cycle while redirect to named location \"{shown}\"{during}"
                        )));
                        Next::Special(500, Vec::new())
                    }
                    Some(named) => {
                        req.uri_changes -= 1;
                        req.proxy = None;
                        note(trace, |t| {
                            t.notes.push(format!("to named location {shown}"))
                        });
                        (loc, next) = enter(
                            site,
                            server,
                            Some(named),
                            req,
                            &mut served,
                            &mut failed,
                            trace,
                        );
                        continue;
                    }
                }
            }
        };
    }
}

/// nginx's `uri_changes` countdown: the error line when this change is one too many.
fn uri_change(req: &mut Req<'_>, doing: &str, uri: &[u8]) -> Option<ErrorLine> {
    req.uri_changes = req.uri_changes.saturating_sub(1);
    (req.uri_changes == 0).then(|| {
        ErrorLine::error(format!(
            "rewrite or internal redirection cycle while {doing} \"{}\"",
            String::from_utf8_lossy(uri)
        ))
    })
}

/// From the server's rewrite phase (or a named location's rewrite phase) to the content
/// phase: the location that has the request and what it decided.
fn enter<'s>(
    site: &Inner,
    server: &'s CServer,
    named: Option<&'s CLocation>,
    req: &mut Req<'_>,
    served: &mut Served,
    failed: &mut Failed<'_>,
    trace: &mut Option<&mut Trace>,
) -> (&'s CLocation, Next) {
    let (loc, early) = choose(server, named, req, served, trace);
    if let Some(next) = early {
        return (loc, next);
    }
    // The preaccess phase, with the location's settings: realip, limit_req, limit_conn.
    req.apply_realip(loc.realip.as_ref());
    if let Some(next) = super::limit::preaccess(&loc.limits, req, served) {
        return (loc, next);
    }
    // The access phase (internal redirects pass it again; only subrequests skip it).
    if !req.subrequest {
        match super::access::check(&loc.access, req, served) {
            None => {}
            Some(Decision::Refused(status, headers)) => {
                // `ngx_http_core_auth_delay`: only a 401 waits, then is finalized as usual.
                if status == 401 && !loc.access.delay.is_zero() {
                    let line = "delaying unauthorized request".to_string();
                    served.errors.push(ErrorLine::info(line));
                    req.limited.auth_delay = Some(loc.access.delay);
                }
                return (loc, Next::Special(status, headers));
            }
            Some(Decision::Ask(auth)) => {
                note(trace, |t| {
                    let shown = String::from_utf8_lossy(&auth.uri);
                    t.notes.push(format!("auth_request subrequest to {shown}"))
                });
                let route = subrequest(site, server, &auth.uri, req, trace);
                return (loc, Next::answer(route));
            }
        }
    }
    // The precontent phase: `try_files`, then the mirror module.
    if let Some(next) = try_files::handler(loc, req, served) {
        return (loc, next);
    }
    mirror(site, server, loc, req, trace);
    (loc, content(site, loc, req, served, failed, trace))
}

/// `ngx_http_mirror_handler`: the main request (never a subrequest) starts a background
/// subrequest to each of the location's mirror URIs, with its own method and arguments.
fn mirror(
    site: &Inner,
    server: &CServer,
    loc: &CLocation,
    req: &mut Req<'_>,
    trace: &mut Option<&mut Trace>,
) {
    let Some(m) = loc.mirror.as_deref().filter(|_| !req.subrequest) else {
        return;
    };
    for uri in &m.uris {
        req.mirrors_met += 1;
        if req.mirrors_met <= req.info.mirrored {
            continue;
        }
        note(trace, |t| {
            let shown = String::from_utf8_lossy(uri);
            t.notes.push(format!("mirror subrequest to {shown}"))
        });
        let method = req.method;
        let args = req.target.args.clone();
        // A `limit_req` delay in the subrequest's location is waited out by the runtime;
        // routed again after it, the limit declines (its status is set).
        let mut status = Default::default();
        let mut delay = None;
        let mut errors = Vec::new();
        let (mut route, limited) = loop {
            let mut sub = sub_request(server, uri, method, args.clone(), req);
            sub.limited.status = status;
            let mut route = in_server(site, server, &mut sub, &[], None, trace);
            let limited = super::limit::take(&mut sub);
            if let (None, Some(d)) = (delay, limited.delay) {
                delay = Some(d);
                status = limited.status;
                errors.append(route.errors_mut());
                continue;
            }
            break (route.with_routed(sub.routed()), limited);
        };
        errors.append(route.errors_mut());
        *route.errors_mut() = errors;
        req.mirrors.push(Mirror {
            uri: uri.clone(),
            route,
            request_body: m.request_body,
            client_max_body_size: loc.client_max_body_size,
            delay,
            holds: limited.holds,
        });
    }
}

/// A subrequest of `req` to `uri` (`ngx_http_subrequest`): internal, in the same server,
/// with the request's headers, host, client address and `set` values; it skips the access
/// phase.
fn sub_request<'a>(
    server: &CServer,
    uri: &[u8],
    method: &'a str,
    args: Vec<u8>,
    req: &Req<'a>,
) -> Req<'a> {
    let mut sub = Req::new(req.info, req.tables, req.target.clone());
    sub.host.clone_from(&req.host);
    enter_server(&mut sub, server);
    sub.realip = req.realip.clone();
    sub.sets.clone_from(&req.sets);
    sub.target.uri = uri.to_vec();
    sub.target.args = args;
    sub.target.rewritten = Rewritten::Located;
    sub.method = method;
    sub.internal = true;
    sub.subrequest = true;
    sub
}

/// The `auth_request` subrequest to `uri` (`ngx_http_subrequest`): an internal GET in the
/// same server with the request's headers and no body, which skips the access phase. The
/// request's own pass ends here; the runtime routes it again with the subrequest's outcome.
fn subrequest(
    site: &Inner,
    server: &CServer,
    uri: &[u8],
    req: &mut Req<'_>,
    trace: &mut Option<&mut Trace>,
) -> Route {
    let mut sub = sub_request(server, uri, "GET", Vec::new(), req);
    let mut route = in_server(site, server, &mut sub, &[], None, trace).with_routed(sub.routed());
    if let Route::Proxy(p) = &mut route {
        p.subrequest = true;
    }
    // The request's keepalive, limits and error lines are set by `route_after`.
    Route::Auth(Box::new(Subrequest {
        route,
        keepalive: req.keepalive,
        limited: Default::default(),
        errors: Vec::new(),
    }))
}

/// nginx's phases from the server's rewrite to the location's (find config, 413, rewrite,
/// post-rewrite): the location that has the request, and the answer given on the way if any.
/// A request no location matches stays with the server's own settings.
fn choose<'s>(
    server: &'s CServer,
    named: Option<&'s CLocation>,
    req: &mut Req<'_>,
    served: &mut Served,
    trace: &mut Option<&mut Trace>,
) -> (&'s CLocation, Option<Next>) {
    if named.is_none() {
        // A rewritten URI is searched below; the server's rewrite phase does not run again.
        let flow = script::run(&server.script, req).flow;
        if let Some(next) = answer(flow, req, &server.default, served, trace) {
            return (&server.default, Some(next));
        }
    }
    let mut entered = named;
    loop {
        let loc = match entered.take() {
            Some(l) => l,
            None => {
                let uri = req.target.uri.clone();
                match location::find(
                    &server.locations,
                    &uri,
                    &mut req.captures,
                    trace.as_deref_mut(),
                ) {
                    Found::None => {
                        note(trace, |t| {
                            t.notes
                                .push("no location matches: the server's settings".into())
                        });
                        &server.default
                    }
                    Found::Redirect(loc) => {
                        let mut to = uri::escape(loc.name.as_bytes());
                        if !req.target.args.is_empty() {
                            to.push(b'?');
                            to.extend_from_slice(&req.target.args);
                        }
                        let headers = vec![(Bytes::from_static(b"Location"), Bytes::from(to))];
                        return (loc, Some(Next::Special(301, headers)));
                    }
                    Found::Location(loc) => loc,
                }
            }
        };
        req.enter(loc);
        if loc.internal && !req.internal {
            note(trace, |t| t.notes.push("internal location: 404".into()));
            return (loc, Some(Next::Special(404, Vec::new())));
        }
        // `limit_except`: a method it does not list goes on with the block's configuration.
        let loc = match loc.for_method(req.method) {
            limited if !std::ptr::eq(limited, loc) => {
                note(trace, |t| {
                    t.notes
                        .push(format!("{} not in limit_except: its block", req.method))
                });
                req.enter(limited);
                limited
            }
            _ => loc,
        };
        if let Some(n) = too_large(req, loc.client_max_body_size) {
            note(trace, |t| {
                t.notes
                    .push("Content-Length above client_max_body_size: 413".into())
            });
            served.errors.push(ErrorLine::error(format!(
                "client intended to send too large body: {n} bytes"
            )));
            return (loc, Some(Next::Special(413, Vec::new())));
        }
        let ran = script::run(&loc.script, req);
        if matches!(ran.flow, Flow::Again) {
            let now = req.target.uri.clone();
            if let Some(cycle) = uri_change(req, "processing", &now) {
                note(trace, |t| t.notes.push(cycle.message.clone()));
                served.errors.push(cycle);
                return (loc, Some(Next::Special(500, Vec::new())));
            }
            note(trace, |t| {
                let shown = String::from_utf8_lossy(&now);
                t.notes
                    .push(format!("rewritten to {shown}: locations searched again"))
            });
            continue;
        }
        note(trace, |t| t.if_block = ran.config.map(|c| c.span));
        let loc = match ran.config {
            Some(block) => {
                req.enter(block);
                block
            }
            None => loc,
        };
        let lost_upstream = ran.proxy_handler && matches!(loc.action, Action::Static);
        let next = answer(ran.flow, req, loc, served, trace);
        if next.is_none() && lost_upstream {
            // An earlier `if` set the proxy as the handler; the block the request kept has
            // no `proxy_pass` for it to read.
            served
                .errors
                .push(ErrorLine::alert("no upstream configuration".into()));
            return (loc, Some(Next::Special(500, Vec::new())));
        }
        return (loc, next);
    }
}

/// The answer a script gave, if it gave one.
fn answer(
    flow: Flow<'_>,
    req: &mut Req<'_>,
    loc: &CLocation,
    served: &Served,
    trace: &mut Option<&mut Trace>,
) -> Option<Next> {
    match flow {
        Flow::Return(r) => {
            note(trace, |t| t.notes.push(format!("return {}", r.code)));
            Some(give(r, req, loc, served.err_status))
        }
        Flow::Redirect(status, to) => {
            note(trace, |t| {
                t.notes.push(format!("rewrite redirects: {status}"))
            });
            let headers = vec![(Bytes::from_static(b"Location"), Bytes::from(to))];
            Some(Next::Special(status, headers))
        }
        Flow::Stay | Flow::Again => None,
    }
}

/// The content phase: proxy, or serve files. A proxy pass that already ended (the runtime
/// routes the request again) stands for what it ended in: its status, or the internal
/// redirect an `X-Accel-Redirect` answer asked for.
fn content(
    site: &Inner,
    loc: &CLocation,
    req: &mut Req<'_>,
    served: &mut Served,
    failed: &mut Failed<'_>,
    trace: &mut Option<&mut Trace>,
) -> Next {
    let p = match &loc.action {
        Action::Proxy(p) => p,
        Action::Static => return static_::content(loc, req, served),
        Action::StubStatus => return stub_status(loc, req),
        Action::EmptyGif => return super::empty_gif::handler(loc, req, served),
        Action::Flv => return super::flv::handler(loc, req, served),
        Action::Mp4(conf) => return super::mp4::handler(loc, conf, req, served),
    };
    // The proxy module reads the body before it builds the upstream request.
    req.body_read = true;
    if let Some(pass) = failed.statuses.next() {
        failed.passed.push(pass.clone());
        if failed.statuses.len() == 0 {
            req.outcome = req.passes_outcome.take();
        }
        let status = match pass {
            Pass::Status(status) => *status,
            Pass::Redirect(accel) => return super::accel::redirect(accel, req, served),
        };
        // `ngx_http_upstream_intercept_errors`: a 401 keeps the upstream's (first)
        // `WWW-Authenticate`.
        let challenge = req
            .outcome
            .filter(|_| status == 401 && failed.statuses.len() == 0)
            .and_then(|o| {
                o.upstream_headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(b"www-authenticate"))
            })
            .cloned();
        return Next::Special(status, challenge.into_iter().collect());
    }
    let route = super::proxy::build(
        site,
        p,
        req,
        loc.log.clone(),
        loc.redirects,
        trace.as_deref_mut(),
    );
    match route {
        Route::Proxy(mut pr) => {
            pr.error_pages = loc.error_pages.codes();
            pr.intercept_errors = loc.error_pages.intercept;
            pr.passes = failed.passed.clone();
            pr.status = served.err_status;
            pr.server_tokens = loc.server_tokens;
            Next::answer(Route::Proxy(pr))
        }
        Route::Respond(r) => {
            // Why no request went out (`no resolver defined to resolve ...`).
            served.errors.extend(r.errors);
            Next::Special(r.status, r.headers)
        }
        other => Next::answer(other),
    }
}

/// The final answer, with the status an error page imposed, the error-log lines, and how the
/// final location makes a `Location` absolute.
fn finish(
    mut route: Route,
    served: Served,
    server: &CServer,
    loc: &CLocation,
    req: &mut Req<'_>,
) -> Route {
    // The userid filter runs after the headers filter: its lines follow `add_header`'s.
    let userid = if req.subrequest {
        Vec::new()
    } else {
        req.userid_lines(&loc.userid)
    };
    let name = server.server_name.clone();
    let mut errors = served.errors;
    for e in &mut errors {
        e.server = name.clone();
        e.client.clone_from(&req.realip);
    }
    let mut carried = std::mem::take(&mut req.carried);
    match &mut route {
        Route::Respond(r) => {
            // A new `Location` clears the old one (`ngx_http_clear_location`).
            let is_location = |n: &Bytes| n.eq_ignore_ascii_case(b"location");
            if r.headers.iter().any(|(n, _)| is_location(n)) {
                carried.retain(|(n, _)| !is_location(n));
            }
            r.headers.splice(0..0, carried);
            r.headers.extend(userid);
            if let Some(status) = served.err_status {
                r.status = status;
            }
            r.errors = errors;
            r.location_base = location_base(req, loc.redirects).map(Bytes::from);
            r.server_tokens = loc.server_tokens;
        }
        Route::File(f) => {
            f.headers.splice(0..0, carried);
            // Before what the range filter adds, which runs after the userid filter.
            let ranged = |(n, _): &(Bytes, Bytes)| {
                n.eq_ignore_ascii_case(b"accept-ranges") || n.eq_ignore_ascii_case(b"content-range")
            };
            let at = f
                .headers
                .iter()
                .rposition(|h| !ranged(h))
                .map_or(0, |i| i + 1);
            f.headers.splice(at..at, userid);
            f.errors = errors;
        }
        Route::Proxy(p) => {
            p.errors = errors;
            p.server = name;
            p.carried = carried;
            p.userid = userid;
            p.content_type = req.content_type.clone();
        }
        Route::Auth(a) => a.errors = errors,
    }
    route
}

/// The declared body length when it is above `max` (0: no limit).
fn too_large(req: &Req<'_>, max: u64) -> Option<u64> {
    let length = super::headers::header(&req.headers, "content-length")
        .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse::<u64>().ok());
    length.filter(|&n| max != 0 && n > max)
}

/// `return CODE [TEXT]` (`ngx_http_script_return_code`): 400 and above without a text, and
/// the redirects, finalize the request with the code (an `error_page` may take it over; a
/// redirect's text is its `Location`); any other code is answered with the text as body.
fn give(r: &CReturn, req: &mut Req<'_>, loc: &CLocation, err_status: Option<u16>) -> Next {
    // `ngx_http_send_response` sets the status before it evaluates the text: `$status` in
    // it is the code being returned, unless an `error_page` brought the request here
    // (`r->err_status`, which `$status` reads first).
    let text = r.text.as_ref().map(|t| {
        let before = req.answer.replace(Answer {
            status: err_status.unwrap_or(r.code),
            headers: Vec::new(),
        });
        let text = t.eval(req);
        req.answer = before;
        text
    });
    if r.code >= 400 && text.is_none() {
        return Next::Special(r.code, Vec::new());
    }
    let text = text.unwrap_or_default();
    match r.code {
        301 | 302 | 303 | 307 | 308 => Next::Special(
            r.code,
            vec![(Bytes::from_static(b"Location"), Bytes::from(text))],
        ),
        code => {
            // A type already set (an `X-Accel-Redirect` answer's) stays; nginx's header
            // filter drops the type of a 204.
            let content_type = req
                .content_type
                .clone()
                .or_else(|| r.content_types.for_uri(&req.target.uri))
                .filter(|_| code != 204);
            text_answer(code, content_type, text, req, loc)
        }
    }
}

/// A handler's answer with `text` as its body, through the headers filter of `loc`.
fn text_answer(
    code: u16,
    content_type: Option<Bytes>,
    text: Vec<u8>,
    req: &mut Req<'_>,
    loc: &CLocation,
) -> Next {
    let length = text.len();
    made_answer(code, (content_type, None), Some(length), req, loc, |_| text)
}

/// An answer a handler makes itself, its header through the headers filter first, with its
/// type and modification time (`Last-Modified`, which `expires modified` counts from);
/// `length` `None` when the header goes before the body is made (autoindex), and `body` is
/// told whether the charset filter made the type UTF-8.
pub fn made_answer(
    code: u16,
    (content_type, mtime): (Option<Bytes>, Option<i64>),
    length: Option<usize>,
    req: &mut Req<'_>,
    loc: &CLocation,
    body: impl FnOnce(bool) -> Vec<u8>,
) -> Next {
    let mut headers: Vec<(Bytes, Bytes)> = content_type
        .map(|t| (Bytes::from_static(b"Content-Type"), t))
        .into_iter()
        .collect();
    if let Some(mtime) = mtime {
        let date = Bytes::from(super::clock::http_date(mtime));
        headers.push((Bytes::from_static(b"Last-Modified"), date));
    }
    // What the request holds already comes before the headers filter's lines.
    headers.append(&mut req.carried);
    // The text's length is set before the headers filter runs; nginx's own pages
    // (chosen by the runtime) and the `Connection` value are not known here.
    let mut set = headers.clone();
    if let Some(length) = length.filter(|_| !matches!(code, 204 | 304)) {
        set.push((
            Bytes::from_static(b"Content-Length"),
            Bytes::from(length.to_string()),
        ));
    }
    let mut answer = Answer {
        status: code,
        headers: set,
    };
    added::expires(&loc.add_headers, &mut answer, mtime, req, &mut headers);
    added::apply_to(&loc.add_headers, answer, req, &mut headers);
    added::charset(&loc.add_headers, code, &mut headers);
    let utf8 = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case(b"content-type")
            && v.to_ascii_lowercase().ends_with(b"charset=utf-8")
    });
    let text = body(utf8);
    let mut route = respond(code, loc.log.clone(), headers, Some(Bytes::from(text)));
    if let Route::Respond(r) = &mut route {
        r.length_unknown = length.is_none();
    }
    Next::answer(route)
}

/// `stub_status` (`ngx_http_stub_status_handler`): GET and HEAD get the counters as text,
/// read now; any other method 405.
fn stub_status(loc: &CLocation, req: &mut Req<'_>) -> Next {
    if !matches!(req.method, "GET" | "HEAD") {
        return Next::Special(405, Vec::new());
    }
    let c = req.info.counts;
    // Read in nginx's order.
    let (accepted, handled, active, requests) = (
        c.accepted.get(),
        c.handled.get(),
        c.active.get(),
        c.requests.get(),
    );
    let (reading, writing, waiting) = (c.reading.get(), c.writing.get(), c.waiting.get());
    let text = format!(
        "Active connections: {active} \nserver accepts handled requests\n {accepted} {handled} {requests} \nReading: {reading} Writing: {writing} Waiting: {waiting} \n"
    );
    let plain = Some(Bytes::from_static(b"text/plain"));
    text_answer(200, plain, text.into_bytes(), req, loc)
}

/// nginx's header filter makes a `Location` starting with `/` absolute (`absolute_redirect
/// on`): this is what it puts before it — the scheme, the server name (`server_name_in_redirect
/// on`) or the `Host` or the local address, and the port unless it is the scheme's or
/// `port_in_redirect` is off.
pub fn location_base(req: &Req<'_>, rules: RedirectRules) -> Option<Vec<u8>> {
    if !rules.absolute {
        return None;
    }
    let info = req.info;
    let scheme: &[u8] = if info.tls { b"https://" } else { b"http://" };
    let mut base = Vec::with_capacity(64);
    base.extend_from_slice(scheme);
    match &req.host {
        _ if rules.server_name => base.extend_from_slice(&req.server_name),
        Some(h) => base.extend_from_slice(h),
        None => base.extend_from_slice(&super::addr::local_text(&info.local)),
    }
    let port = super::addr::local_port(&info.local);
    let default = if info.tls { 443 } else { 80 };
    if port != 0 && port != default && rules.port {
        use std::io::Write;
        let _ = write!(base, ":{port}");
    }
    Some(base)
}

pub fn respond(
    status: u16,
    log: Arc<LogSpec>,
    headers: Vec<(Bytes, Bytes)>,
    body: Option<Bytes>,
) -> Route {
    Route::Respond(Response {
        status,
        log,
        headers,
        body,
        length_unknown: false,
        routed: None,
        errors: Vec::new(),
        location_base: None,
        head_cut: None,
        server_tokens: true,
        // `route` sets the level's limits once the answer is known.
        keepalive: crate::defaults::http::KEEPALIVE,
        gzip: None,
        sub_filter: None,
        addition: None,
        ssi: None,
        limited: Default::default(),
        sending: Default::default(),
        trailers: None,
        mirrors: Vec::new(),
    })
}

/// A request re-read for its access-log line (or a proxied answer's headers filter): the
/// server chosen again, then the request as routing left it (`RequestInfo::routed`); without
/// that, its first location chosen again, so `$server_name`, `$proxy_host` and map values
/// are what they were when it was routed.
pub fn prepare<'a>(site: &'a Inner, info: &'a RequestInfo<'a>) -> Req<'a> {
    let on = vhost::on_socket(&site.servers, &info.listen, &info.local);
    let target = uri::parse(info.target, merge_slashes(&on, info))
        .unwrap_or_else(|| uri::Target::raw(info.target));
    let mut req = Req::new(info, &site.tables, target);
    if info.refused.is_some() {
        // No phase ran: the server level is all there is.
        server_before_routing(&on, &mut req);
        return req;
    }
    let server = match pick_server(&on, &mut req, &mut None) {
        Ok(Some(server)) => server,
        Ok(None) => return req,
        Err(_) => {
            refused_by(&on, &mut req);
            return req;
        }
    };
    let refused = early_refusal(server, info).is_some();
    if !refused {
        req.apply_realip(server.default.realip.as_ref());
    }
    if let Some(routed) = info.routed {
        req.restore(routed);
        req.body_read = true;
        return req;
    }
    if refused {
        // Finalized at the server level, before any phase.
        return req;
    }
    let (loc, early) = choose(server, None, &mut req, &mut Served::default(), &mut None);
    if early.is_none() {
        req.apply_realip(loc.realip.as_ref());
        if let (Some(auth), Some(outcome)) = (&loc.access.auth, info.auth.last()) {
            super::access::auth_sets(auth, outcome, &mut req);
        }
    }
    // The request is over: a body a proxy pass kept is there for the log.
    req.body_read = true;
    if let Action::Proxy(p) = &loc.action {
        // Only `$proxy_host`/`$proxy_port` matter here; a URL that leads nowhere sets none.
        let _ = super::proxy::resolve(site, p, &mut req, &mut None);
    }
    req
}
