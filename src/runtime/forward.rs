//! Proxying one request (nginx's upstream module): read or stream the client body, pick a
//! server, exchange, and on failure apply `proxy_next_upstream` (which errors, which statuses,
//! how many tries, how long, never a non-idempotent request once sent unless allowed). The
//! answer is then streamed to the client, or becomes a tunnel after a 101.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use super::balancer::Balancer;
use super::body::{Finish, ProxyBody};
use super::context::OwnedRequest;
use super::deliver;
use super::error::ProxyError;
use super::exchange::{self, RequestBody, ResponseHead};
use super::peer::{self, PeerConn};
use super::request::{self, CloseWithoutAnswer, Then};
use super::respond;
use super::spelling;
use super::state::{Hold, State, Upstream, now_secs};
use crate::eval::plan::{NextUpstream, Outcome, PeerAddr, ProxyRequest, UpstreamTry};

/// Bodies up to this size are read before sending, so another server can be tried.
const RESENDABLE: u64 = 64 * 1024;

/// How a proxied request began.
#[derive(Debug)]
pub struct Start {
    pub keepalive: bool,
    pub started: Instant,
    /// The 499 log line written if the client leaves (this future is dropped) first; kept
    /// up to date with the servers tried.
    pub abandoned: Option<Finish>,
}

/// Serves `request` by proxying it per `p`.
pub async fn proxy(
    request: OwnedRequest,
    p: ProxyRequest,
    body: Option<Incoming>,
    on_upgrade: Option<OnUpgrade>,
    start: Start,
) -> Result<Response<ProxyBody>, CloseWithoutAnswer> {
    let Start {
        keepalive,
        started,
        mut abandoned,
    } = start;
    let response = attempts(
        request,
        p,
        body,
        on_upgrade,
        keepalive,
        started,
        &mut abandoned,
    );
    let response = response.await;
    if let Some(finish) = &mut abandoned {
        finish.log = Arc::default();
    }
    response
}

async fn attempts(
    request: OwnedRequest,
    mut p: ProxyRequest,
    body: Option<Incoming>,
    on_upgrade: Option<OnUpgrade>,
    keepalive: bool,
    started: Instant,
    abandoned: &mut Option<Finish>,
) -> Result<Response<ProxyBody>, CloseWithoutAnswer> {
    let mut outcome = Outcome::default();
    let mut body = match client_body(&request, &p, body).await {
        Ok(body) => {
            outcome.request_length = body.length().unwrap_or(0);
            body
        }
        Err(e) => {
            log_error(&request, p.client, &e, None);
            let keepalive = keepalive && e.status() != 413;
            return fail(request, &p, e.status(), outcome, keepalive, started).await;
        }
    };
    if let Some(name) = p.resolve.take() {
        match request.conn.state.resolvers.group(&name).await {
            Ok(group) => p.upstream = group,
            Err(e) => {
                log_error(
                    &request,
                    p.client,
                    &ProxyError::Unresolved(name.host, e),
                    None,
                );
                return fail(request, &p, 502, outcome, keepalive, started).await;
            }
        }
    }
    let upstream = request.conn.state.upstream(&p.upstream);
    let mut attempt = upstream.balancer.begin(p.client, p.balance_key.clone());
    let first = Instant::now();
    let mut tries = 0;
    loop {
        let Some(index) = upstream.balancer.get(&mut attempt, now_secs()) else {
            // nginx names the group instead of a server, in the log (`upstream:
            // "http://backend/..."`) and in `$upstream_addr`, with a 502 that took no time.
            let group = Some((&p, p.upstream.name.as_str()));
            log_error(&request, p.client, &ProxyError::NoLiveUpstreams, group);
            outcome.upstreams.push(UpstreamTry {
                addr: p.upstream.name.clone(),
                status: Some(502),
                response_time: Some(std::time::Duration::ZERO),
                ..UpstreamTry::default()
            });
            return fail(request, &p, 502, outcome, keepalive, started).await;
        };
        let peer = &p.upstream.servers[index];
        tries += 1;
        // This server's line of the `$upstream_*` variables, filled in as far as it gets.
        let mut state = UpstreamTry {
            addr: peer.addr.to_string(),
            ..UpstreamTry::default()
        };
        let sent_at = Instant::now();
        if let Some(finish) = abandoned {
            finish.outcome.upstreams = outcome.upstreams.clone();
            finish.outcome.upstreams.push(state.clone());
            finish.upstream_sent = Some(sent_at);
        }
        let head_request = request.method == "HEAD";
        let result = exchange_once(
            &upstream,
            &request.conn.state,
            &peer.addr,
            &p,
            &mut body,
            head_request,
            &mut state,
        )
        .await;
        let may_retry = |sent: bool, attempt_tries: u32| {
            attempt_tries > 0
                && (p.next_upstream.tries == 0 || tries < p.next_upstream.tries)
                && (p.next_upstream.timeout_total.is_zero()
                    || first.elapsed() < p.next_upstream.timeout_total)
                && (!sent || body.resendable())
                && (!sent || idempotent(&p.method) || p.next_upstream.non_idempotent)
        };
        match result {
            Ok((conn, head)) => {
                state.status = Some(head.status);
                state.header_time = Some(sent_at.elapsed());
                // nginx's test_next: another server only while one is left to try (tries > 1
                // before freeing this one); otherwise the answer goes to the client as is.
                if let Some(failed) = retry_on_status(&p.next_upstream, head.status)
                    && may_retry(true, attempt.tries.saturating_sub(1))
                {
                    state.response_time = Some(sent_at.elapsed());
                    outcome.upstreams.push(state);
                    upstream.balancer.free(&mut attempt, failed, now_secs());
                    continue;
                }
                // Its response time runs until the body is over (see `Finish`).
                outcome.upstreams.push(state);
                Balancer::settle(&mut attempt);
                if p.intercept_errors && head.status >= 300 && p.error_pages.contains(&head.status)
                {
                    // `proxy_intercept_errors`: the upstream's answer gives way to the page
                    // (which may take its `WWW-Authenticate`).
                    drop((conn, attempt));
                    outcome.upstream_headers = head.headers.clone();
                    return error_page(request, &p, head.status, outcome, keepalive, started).await;
                }
                let ctx = deliver::Delivery {
                    request,
                    p: &p,
                    hold: Hold { upstream, attempt },
                    on_upgrade,
                    keepalive,
                    outcome,
                    started,
                    sent_at,
                };
                return Ok(deliver::deliver(ctx, conn, head).await);
            }
            Err((e, cached)) => {
                let status = e.status();
                state.status = Some(status);
                state.response_time = Some(sent_at.elapsed());
                outcome.upstreams.push(state);
                log_error(&request, p.client, &e, Some((&p, &logged_peer(&peer.addr))));
                upstream
                    .balancer
                    .free(&mut attempt, e.counts_as_failure(), now_secs());
                let sent = !e.before_sending();
                if cached && matches!(e, ProxyError::Io(..) | ProxyError::PrematureClose(_)) {
                    // A cached connection the server had closed: not the server's failure.
                    attempt.tries += 1;
                }
                if e.retryable(&p.next_upstream) && may_retry(sent, attempt.tries) {
                    continue;
                }
                return fail(request, &p, status, outcome, keepalive, started).await;
            }
        }
    }
}

/// The client's body, checked against `client_max_body_size` and read in full when small or
/// chunked (nginx buffers request bodies; chunked ones go upstream with a Content-Length).
async fn client_body(
    request: &OwnedRequest,
    p: &ProxyRequest,
    body: Option<Incoming>,
) -> Result<RequestBody, ProxyError> {
    let length = request
        .header("content-length")
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
    let chunked = request.has_token("transfer-encoding", "chunked");
    let max = p.client_max_body_size;
    if let Some(n) = length
        && max > 0
        && n > max
    {
        return Err(ProxyError::BodyTooLarge(n));
    }
    let Some(body) = body.filter(|_| p.pass_body) else {
        return Ok(RequestBody::None);
    };
    match length {
        Some(n) if n > RESENDABLE && !chunked => Ok(RequestBody::Stream { body, length: n }),
        None if !chunked => Ok(RequestBody::None),
        _ => {
            let limit = if max == 0 { usize::MAX } else { max as usize };
            match Limited::new(body, limit).collect().await {
                Ok(all) => Ok(RequestBody::Full(all.to_bytes())),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    Err(ProxyError::BodyTooLarge(max + 1))
                }
                Err(e) => Err(ProxyError::ClientBody(e.to_string())),
            }
        }
    }
}

/// Connect (or reuse), send, read the head, noting in `state` the connect time and the bytes
/// sent and received. The error says whether the connection was cached.
async fn exchange_once(
    upstream: &Upstream,
    run: &State,
    addr: &PeerAddr,
    p: &ProxyRequest,
    body: &mut RequestBody,
    head_request: bool,
    state: &mut UpstreamTry,
) -> Result<(PeerConn, ResponseHead), (ProxyError, bool)> {
    let started = Instant::now();
    let cached = upstream
        .pool
        .as_ref()
        .and_then(|pool| pool.take(addr, p.tls.is_some()));
    let mut conn = match cached {
        Some(conn) => conn,
        None => {
            let connector = match &p.tls {
                Some(tls) => Some((run.connector(&tls.settings).map_err(|e| (e, false))?, tls)),
                None => None,
            };
            let tls = connector.as_ref().map(|(c, tls)| (&**c, tls.name.as_str()));
            peer::connect(addr, p.timeouts.connect, &run.connections, tls)
                .await
                .map_err(|e| (e, false))?
        }
    };
    // `$upstream_connect_time` (a cached connection takes no time to get; over TLS it
    // includes the handshake, as nginx's does).
    state.connect_time = Some(started.elapsed());
    let cached = conn.cached;
    exchange::send(&mut conn, p, body, &mut state.bytes_sent)
        .await
        .map_err(|e| (e, cached))?;
    let head = exchange::read_head(
        &mut conn,
        p.timeouts.read,
        head_request,
        &mut state.bytes_received,
    )
    .await
    .map_err(|e| (e, cached))?;
    Ok((conn, head))
}

/// `Some(failed)` when `proxy_next_upstream` names this status (403 and 404 are not
/// failures of the server).
fn retry_on_status(rules: &NextUpstream, status: u16) -> Option<bool> {
    if rules.off {
        return None;
    }
    let listed = match status {
        500 => rules.http_500,
        502 => rules.http_502,
        503 => rules.http_503,
        504 => rules.http_504,
        403 => rules.http_403,
        404 => rules.http_404,
        429 => rules.http_429,
        _ => false,
    };
    listed.then_some(!matches!(status, 403 | 404))
}

/// nginx never retries POST, LOCK and PATCH once sent, unless `non_idempotent`.
fn idempotent(method: &Bytes) -> bool {
    !matches!(&method[..], b"POST" | b"LOCK" | b"PATCH")
}

/// The answer after a failed proxy pass: the location's `error_page` for `status` if it has
/// one, else nginx's page.
async fn fail(
    request: OwnedRequest,
    p: &ProxyRequest,
    status: u16,
    mut outcome: Outcome,
    keepalive: bool,
    started: Instant,
) -> Result<Response<ProxyBody>, CloseWithoutAnswer> {
    if p.error_pages.contains(&status) {
        return error_page(request, p, status, outcome, keepalive, started).await;
    }
    outcome.status = status;
    // nginx's page and its headers are chosen after this, by `respond::answer` (no
    // `expires` for an error's status, no type for the charset filter).
    let headers = p
        .add_headers
        .evaluate(&request.info(), &outcome, &[], &mut Vec::new());
    let finish = Finish {
        request,
        log: p.log.clone(),
        outcome,
        started,
        upstream_sent: None,
    };
    let dress = respond::Dress {
        location_base: None,
        hide_version: !p.server_tokens,
        gzip: p.gzip.as_deref(),
    };
    // `add_header` names as written.
    let spelled = spelling::preserving(&headers, &[]).await;
    let mut response = respond::answer(finish, status, headers, None, keepalive, dress);
    response
        .extensions_mut()
        .extend(spelled.unwrap_or_default());
    Ok(response)
}

/// Routes the request again as nginx's `error_page` does after this pass ended in `status`,
/// and serves what that decides (which may be another proxy pass).
fn error_page(
    request: OwnedRequest,
    p: &ProxyRequest,
    status: u16,
    outcome: Outcome,
    keepalive: bool,
    started: Instant,
) -> Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, CloseWithoutAnswer>> + Send>> {
    let mut failed = p.failed.clone();
    failed.push(status);
    let route = request
        .conn
        .state
        .site
        .error_page(&request.info(), &failed, &outcome);
    let then = Then {
        keepalive,
        started,
        outcome,
    };
    Box::pin(request::dispatch(request, route, None, None, then))
}

/// The peer as the error log names it before the URI: nginx puts a `:` after a unix
/// socket's path (`http://unix:/run/app.sock:/uri`), as `proxy_pass` spells it.
fn logged_peer(addr: &PeerAddr) -> String {
    match addr {
        PeerAddr::Tcp(_) => addr.to_string(),
        PeerAddr::Unix(_) => format!("{addr}:"),
    }
}

/// An error.log line in nginx's shape: `MESSAGE, client: IP, server: , request: "...",
/// upstream: "http://ADDR/URI", host: "HOST"` (`https://` for a TLS upstream).
fn log_error(
    request: &OwnedRequest,
    client: std::net::IpAddr,
    e: &ProxyError,
    upstream: Option<(&ProxyRequest, &str)>,
) {
    let upstream = upstream.map_or_else(String::new, |(p, addr)| {
        let scheme = if p.tls.is_some() { "https" } else { "http" };
        format!(
            ", upstream: \"{scheme}://{addr}{}\"",
            String::from_utf8_lossy(&p.uri)
        )
    });
    let host = request.header("host").map_or_else(String::new, |h| {
        format!(", host: \"{}\"", String::from_utf8_lossy(h))
    });
    super::log::error(format_args!(
        "*{} {e}, client: {}, server: , request: \"{} {} {}\"{upstream}{host}",
        request.conn.id, client, request.method, request.target, request.version
    ));
}
