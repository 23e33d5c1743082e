//! The request lifecycle, in nginx's order: count the request, copy what routing needs, ask the
//! site for a [`Route`], then either answer directly or proxy (which may end in a tunnel). The
//! access log is written by the response body when the request is over.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;

use super::body::{Finish, ProxyBody};
use super::context::{ConnCtx, OwnedRequest};
use super::{forward, respond};
use crate::eval::plan::{Outcome, Route};

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
    let mut response = match route {
        Route::Respond(r) if r.status == 444 => {
            let outcome = Outcome {
                status: 444,
                ..Outcome::default()
            };
            drop(Finish {
                request,
                log: r.log,
                outcome,
                started,
                upstream_sent: None,
            });
            return Err(CloseWithoutAnswer);
        }
        Route::Respond(r) => {
            let finish = Finish {
                request,
                log: r.log,
                outcome: Outcome::default(),
                started,
                upstream_sent: None,
            };
            let gzip = r.gzip.as_deref();
            respond::answer(finish, r.status, r.headers, r.body, keepalive, gzip)
        }
        Route::Proxy(p) => {
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
    };
    if http10 {
        // hyper answers a 1.0 client in 1.0 anyway; saying so keeps it from adding its own
        // `keep-alive` to our `Connection: close`. The client stream respells it as nginx.
        *response.version_mut() = http::Version::HTTP_10;
        conn.status_line.arm();
    }
    Ok(response)
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
