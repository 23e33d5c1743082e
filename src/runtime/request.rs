//! The request lifecycle, in nginx's order: count the request, copy what routing needs, ask the
//! site for a [`Route`], then either answer directly or proxy (which may end in a tunnel). The
//! access log is written by the response body when the request is over.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use super::body::{Finish, ProxyBody};
use super::context::{ConnCtx, OwnedRequest};
use super::log::Level;
use super::{forward, respond, spelling, static_file};
use crate::eval::plan::{ErrorLine, Outcome, Route, Severity};

/// nginx's `return 444`: close the connection without answering.
#[derive(Debug)]
pub struct CloseWithoutAnswer;

impl std::fmt::Display for CloseWithoutAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed without a response (444)")
    }
}

impl std::error::Error for CloseWithoutAnswer {}

/// hyper's service: one request on `conn`.
pub async fn handle(
    conn: Arc<ConnCtx>,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, CloseWithoutAnswer> {
    let started = Instant::now();
    let n = conn.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let on_upgrade = req
        .headers()
        .contains_key(http::header::UPGRADE)
        .then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let http10 = parts.version == http::Version::HTTP_10;
    let request = OwnedRequest::from_parts(conn.clone(), &parts, n);
    if !http10
        && request
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"))
    {
        conn.status_line.expect_continue();
    }
    let route = conn.state.site.route(&request.info());
    let keepalive =
        wants_keepalive(&request) && route.keepalive().allow_another(n, conn.opened.elapsed());
    let then = Then {
        keepalive,
        started,
        outcome: Outcome::default(),
    };
    let mut response = dispatch(request, route, Some(body), on_upgrade, then).await?;
    if http10 {
        // hyper answers a 1.0 client in 1.0 anyway; saying so keeps it from adding its own
        // `keep-alive` to our `Connection: close`. The client stream respells it as nginx.
        *response.version_mut() = http::Version::HTTP_10;
        conn.status_line.arm();
    }
    Ok(response)
}

/// How a request that is being answered began, and what is known of it so far.
#[derive(Debug)]
pub struct Then {
    pub keepalive: bool,
    pub started: Instant,
    /// Carried into the access log (an error page after a proxy pass keeps its upstreams).
    pub outcome: Outcome,
}

/// Serves what the site decided for `request`: answer, file or proxy pass.
pub async fn dispatch(
    request: OwnedRequest,
    route: Route,
    body: Option<Incoming>,
    on_upgrade: Option<OnUpgrade>,
    then: Then,
) -> Result<Response<ProxyBody>, CloseWithoutAnswer> {
    let Then {
        keepalive,
        started,
        outcome,
    } = then;
    match route {
        Route::Respond(r) => {
            log_errors(&request, &r.errors);
            let status = r.status;
            let finish = Finish {
                request,
                log: r.log,
                outcome,
                started,
                upstream_sent: None,
            };
            if status == 444 {
                let mut finish = finish;
                finish.outcome.status = 444;
                drop(finish);
                return Err(CloseWithoutAnswer);
            }
            // `add_header` names as written.
            let spelled = spelling::preserving(&r.headers, &[]).await;
            let dress = respond::Dress {
                location_base: r.location_base.as_ref(),
                hide_version: !r.server_tokens,
                gzip: r.gzip.as_deref(),
            };
            let mut response = respond::answer(finish, status, r.headers, r.body, keepalive, dress);
            response
                .extensions_mut()
                .extend(spelled.unwrap_or_default());
            Ok(response)
        }
        Route::File(f) => {
            log_errors(&request, &f.errors);
            let finish = Finish {
                request,
                log: f.log.clone(),
                outcome,
                started,
                upstream_sent: None,
            };
            Ok(static_file::serve(finish, *f, keepalive).await)
        }
        Route::Proxy(p) => {
            log_errors(&request, &p.errors);
            // If the client goes away first, hyper drops this future: nginx logs that as 499.
            let abandoned = (!p.log.files.is_empty()).then(|| Finish {
                request: request.clone(),
                log: p.log.clone(),
                outcome: Outcome {
                    status: 499,
                    ..Outcome::default()
                },
                started,
                upstream_sent: None,
            });
            let start = forward::Start {
                keepalive,
                started,
                abandoned,
            };
            forward::proxy(request, *p, body, on_upgrade, start).await
        }
    }
}

/// The error-log lines routing decided on, with nginx's context.
fn log_errors(request: &OwnedRequest, errors: &[ErrorLine]) {
    for e in errors {
        let host = request.header("host").map_or_else(String::new, |h| {
            format!(", host: \"{}\"", String::from_utf8_lossy(h))
        });
        let level = match e.level {
            Severity::Alert => Level::Alert,
            Severity::Crit => Level::Crit,
            Severity::Error => Level::Error,
        };
        super::log::write(
            level,
            format_args!(
                "*{} {}, client: {}, server: {}, request: \"{} {} {}\"{host}",
                request.conn.id,
                e.message,
                request.conn.remote.ip(),
                String::from_utf8_lossy(&e.server),
                request.method,
                request.target,
                request.version
            ),
        );
    }
}

/// nginx keeps HTTP/1.1 connections open unless the client says `close`, and HTTP/1.0 ones
/// only when the client asks for `keep-alive`. A TRACE is refused while its head is read,
/// before nginx decides on keep-alive: the connection closes after the 405.
fn wants_keepalive(request: &OwnedRequest) -> bool {
    if request.method == "TRACE" {
        false
    } else if request.version == "HTTP/1.1" {
        !request.has_token("connection", "close")
    } else {
        request.has_token("connection", "keep-alive")
    }
}
