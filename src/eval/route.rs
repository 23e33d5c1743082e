//! One request through nginx's phases as far as they decide where it goes: parse the target
//! and `Host`, choose the server, run its rewrite script, find the location (the 301 of
//! `auto_redirect`, `client_max_body_size`), run its rewrite script (searching again after
//! a rewritten URI), and finally the upstream request.

use std::sync::Arc;

use bytes::Bytes;

use super::added::{self, AddHeaders};
use super::location::{self, Found};
use super::plan::{LogSpec, RequestInfo, Response, Route};
use super::request::Req;
use super::script::{self, Flow};
use super::site::{Action, CLocation, CReturn, CServer, Inner, RedirectRules};
use super::trace::{Trace, note};
use super::{uri, vhost};

/// Routes `info`; when `trace` is given, records every decision in it.
pub fn route(site: &Inner, info: &RequestInfo<'_>, mut trace: Option<&mut Trace>) -> Route {
    let on = vhost::on_socket(&site.servers, info.listen, info.local);
    let fallback_log = || {
        vhost::default(&on, info.local)
            .map(|s| s.log.clone())
            .unwrap_or_default()
    };
    let Some(target) = uri::parse(info.target.as_bytes(), merge_slashes(&on, info)) else {
        note(&mut trace, |t| {
            t.notes.push("invalid request target: 400".into())
        });
        return respond(400, fallback_log(), Vec::new(), None);
    };
    let mut req = Req::new(info, &site.tables, target);
    req.traced = trace.is_some();
    let route = match pick_server(&on, &mut req, &mut trace) {
        Err(why) => {
            note(&mut trace, |t| t.notes.push(format!("{why}: 400")));
            respond(400, fallback_log(), Vec::new(), None)
        }
        Ok(None) => respond(404, fallback_log(), Vec::new(), None),
        // `ngx_http_process_request_header`: "client sent TRACE method".
        Ok(Some(server)) if info.method == "TRACE" => {
            note(&mut trace, |t| t.notes.push("TRACE: 405".into()));
            respond(405, server.log.clone(), Vec::new(), None)
        }
        Ok(Some(server)) => in_server(site, server, &mut req, &mut trace),
    };
    note(&mut trace, |t| {
        t.variables = std::mem::take(&mut req.seen);
        t.notes.append(&mut req.notes);
    });
    route.with_keepalive(req.keepalive)
}

/// The request line is read with the address's default server's `merge_slashes`.
fn merge_slashes(on: &[&CServer], info: &RequestInfo<'_>) -> bool {
    vhost::default(on, info.local).is_none_or(|s| s.merge_slashes)
}

/// The request's `Host` and server; `Err` is a 400 with nginx's reason.
fn pick_server<'s>(
    on: &[&'s CServer],
    req: &mut Req<'_>,
    trace: &mut Option<&mut Trace>,
) -> Result<Option<&'s CServer>, &'static str> {
    let info = req.info;
    let hosts: Vec<Vec<u8>> = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"host"))
        .map(|(_, v)| v.to_vec())
        .collect();
    if hosts.len() > 1 {
        return Err("client sent duplicate host header");
    }
    let header = hosts.into_iter().next();
    match req.target.host.clone().or(header) {
        Some(raw) => {
            req.host = Some(vhost::validate_host(&raw).ok_or("client sent invalid host header")?)
        }
        None if info.version == "HTTP/1.1" => {
            return Err("client sent HTTP/1.1 request without \"Host\" header");
        }
        None => {}
    }
    let name = req
        .host
        .clone()
        .or_else(|| info.sni.map(|s| s.as_bytes().to_ascii_lowercase()));
    let server = vhost::select(
        on,
        info.local,
        name.as_deref(),
        &mut req.captures,
        trace.as_deref_mut(),
    );
    if let Some(s) = server {
        req.server_name = s.first_name();
        req.keepalive = s.keepalive;
        req.headers.retain(|(name, _)| s.header_rules.keeps(name));
    }
    Ok(server)
}

fn in_server(
    site: &Inner,
    server: &CServer,
    req: &mut Req<'_>,
    trace: &mut Option<&mut Trace>,
) -> Route {
    match choose(server, req, trace) {
        Ok(loc) => in_location(site, loc, req, trace),
        Err(route) => route,
    }
}

/// nginx's phases from the server's rewrite to the location's (find config, 413, rewrite,
/// post-rewrite): the location that handles the request, or the answer given on the way.
fn choose<'s>(
    server: &'s CServer,
    req: &mut Req<'_>,
    trace: &mut Option<&mut Trace>,
) -> Result<&'s CLocation, Route> {
    // The server rewrite phase runs once; a rewritten URI is then searched below.
    let flow = script::run(&server.script, req);
    if let Some(route) = answer(
        flow,
        req,
        &server.log,
        server.redirects,
        &server.add_headers,
        trace,
    ) {
        return Err(route);
    }
    let mut changes = 0;
    loop {
        let uri = req.target.uri.clone();
        let loc = match location::find(
            &server.locations,
            &uri,
            &mut req.captures,
            trace.as_deref_mut(),
        ) {
            Found::None => {
                note(trace, |t| t.notes.push("no location matches: 404".into()));
                return Err(respond(404, server.log.clone(), Vec::new(), None));
            }
            Found::Redirect(loc) => {
                req.keepalive = loc.keepalive;
                let mut to = uri::escape(loc.name.as_bytes());
                if !req.target.args.is_empty() {
                    to.push(b'?');
                    to.extend_from_slice(&req.target.args);
                }
                let location = absolute(req, loc.redirects, to);
                let headers = vec![(Bytes::from_static(b"Location"), location)];
                return Err(respond(301, loc.log.clone(), headers, None));
            }
            Found::Location(loc) => {
                req.keepalive = loc.keepalive;
                loc
            }
        };
        if let Action::Proxy(p) = &loc.action
            && too_large(req, p.client_max_body_size)
        {
            note(trace, |t| {
                t.notes
                    .push("Content-Length above client_max_body_size: 413".into())
            });
            return Err(respond(413, loc.log.clone(), Vec::new(), None));
        }
        let flow = script::run(&loc.script, req);
        if matches!(flow, Flow::Again) {
            changes += 1;
            let now = String::from_utf8_lossy(&req.target.uri).into_owned();
            if changes > MAX_URI_CHANGES {
                note(trace, |t| {
                    t.notes.push(format!(
                        "rewrite or internal redirection cycle at {now}: 500"
                    ))
                });
                return Err(respond(500, loc.log.clone(), Vec::new(), None));
            }
            note(trace, |t| {
                t.notes
                    .push(format!("rewritten to {now}: locations searched again"))
            });
            continue;
        }
        return match answer(flow, req, &loc.log, loc.redirects, &loc.add_headers, trace) {
            Some(route) => Err(route),
            None => Ok(loc),
        };
    }
}

/// nginx's limit on URI changes per request (`NGX_HTTP_MAX_URI_CHANGES`).
const MAX_URI_CHANGES: usize = 10;

/// The answer a script gave, if it gave one, with the level's `add_header`s.
fn answer(
    flow: Flow<'_>,
    req: &mut Req<'_>,
    log: &Arc<LogSpec>,
    rules: RedirectRules,
    add: &AddHeaders,
    trace: &mut Option<&mut Trace>,
) -> Option<Route> {
    let mut route = match flow {
        Flow::Return(r) => {
            note(trace, |t| t.notes.push(format!("return {}", r.code)));
            give(r, req, log.clone(), rules)
        }
        Flow::Redirect(status, to) => {
            note(trace, |t| {
                t.notes.push(format!("rewrite redirects: {status}"))
            });
            let location = absolute(req, rules, to);
            let headers = vec![(Bytes::from_static(b"Location"), location)];
            respond(status, log.clone(), headers, None)
        }
        Flow::Stay | Flow::Again => return None,
    };
    if let Route::Respond(r) = &mut route {
        added::apply(add, r.status, req, &mut r.headers);
    }
    Some(route)
}

fn in_location(
    site: &Inner,
    loc: &CLocation,
    req: &mut Req<'_>,
    trace: &mut Option<&mut Trace>,
) -> Route {
    match &loc.action {
        Action::Proxy(p) => super::proxy::build(
            site,
            p,
            req,
            loc.log.clone(),
            loc.redirects,
            trace.as_deref_mut(),
        ),
        Action::Static => {
            note(trace, |t| {
                t.notes
                    .push("no proxy_pass or return here: ngxr serves no files, 404".into())
            });
            respond(404, loc.log.clone(), Vec::new(), None)
        }
    }
}

fn too_large(req: &Req<'_>, max: u64) -> bool {
    let length = super::headers::header(&req.headers, "content-length")
        .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse::<u64>().ok());
    max != 0 && length.is_some_and(|n| n > max)
}

/// `return CODE [TEXT]` (`ngx_http_script_return_code`): below 400, or with a text, the
/// answer is built from the text — a redirect's `Location` (empty without one, the body then
/// being nginx's page), any other status's body (empty without one); 400 and above without a
/// text get nginx's page.
fn give(r: &CReturn, req: &mut Req<'_>, log: Arc<LogSpec>, rules: RedirectRules) -> Route {
    let text = r.text.as_ref().map(|t| t.eval(req));
    if r.code >= 400 && text.is_none() {
        return respond(r.code, log, Vec::new(), None);
    }
    let text = text.unwrap_or_default();
    match r.code {
        301 | 302 | 303 | 307 | 308 => {
            let location = absolute(req, rules, text);
            respond(
                r.code,
                log,
                vec![(Bytes::from_static(b"Location"), location)],
                None,
            )
        }
        code => {
            // nginx's header filter drops the type of a 204.
            let headers = r
                .content_types
                .for_uri(&req.target.uri)
                .filter(|_| code != 204)
                .map(|t| (Bytes::from_static(b"Content-Type"), t))
                .into_iter()
                .collect();
            respond(code, log, headers, Some(Bytes::from(text)))
        }
    }
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
    let host = match &req.host {
        _ if rules.server_name => String::from_utf8_lossy(&req.server_name).into_owned(),
        Some(h) => String::from_utf8_lossy(h).into_owned(),
        None => info.local.ip().to_string(),
    };
    let port = info.local.port();
    let default = if info.tls { 443 } else { 80 };
    let scheme = if info.tls { "https" } else { "http" };
    Some(if port == default || !rules.port {
        format!("{scheme}://{host}").into_bytes()
    } else {
        format!("{scheme}://{host}:{port}").into_bytes()
    })
}

fn absolute(req: &Req<'_>, rules: RedirectRules, to: Vec<u8>) -> Bytes {
    match location_base(req, rules) {
        Some(mut base) if to.first() == Some(&b'/') => {
            base.extend_from_slice(&to);
            Bytes::from(base)
        }
        _ => Bytes::from(to),
    }
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
        // `route` sets the level's limits once the answer is known.
        keepalive: crate::defaults::http::KEEPALIVE,
    })
}

/// A request re-read for its access-log line: server and location chosen again, so
/// `$server_name`, `$proxy_host` and map values are what they were when it was routed.
pub fn prepare<'a>(site: &'a Inner, info: &'a RequestInfo<'a>) -> Req<'a> {
    let on = vhost::on_socket(&site.servers, info.listen, info.local);
    let target = uri::parse(info.target.as_bytes(), merge_slashes(&on, info))
        .unwrap_or_else(|| uri::Target::raw(info.target.as_bytes()));
    let mut req = Req::new(info, &site.tables, target);
    let Ok(Some(server)) = pick_server(&on, &mut req, &mut None) else {
        return req;
    };
    if let Ok(loc) = choose(server, &mut req, &mut None)
        && let Action::Proxy(p) = &loc.action
    {
        super::proxy::resolve(site, p, &mut req, &mut None);
    }
    req
}
