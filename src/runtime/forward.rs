//! Proxying one request (nginx's upstream module): read or stream the client body, pick a
//! server, exchange, and on failure apply `proxy_next_upstream` (which errors, which statuses,
//! how many tries, how long, never a non-idempotent request once sent unless allowed). The
//! answer is then streamed to the client, or becomes a tunnel after a 101.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::accel;
use super::balancer::Balancer;
use super::body::Finish;
use super::body_file::BodyFile;
use super::cache;
use super::client::Client;
use super::context::OwnedRequest;
use super::deliver::{self, Source};
use super::error::{ProxyError, Stage};
use super::exchange::{self, RequestBody, ResponseHead};
use super::kept_body::{Held, Wire};
use super::log::Level;
use super::peer::{self, PeerConn};
use super::request::{self, Then};
use super::request_body::ClientBody;
use super::respond;
use super::response::Answer;
use super::state::{Hold, State, Upstream, now_secs};
use super::upstream_body::UpstreamBody;
use crate::eval::plan::{
    CacheRequest, CacheStatus, InFileOnly, KeepBody, NextUpstream, Outcome, Pass, PeerAddr,
    ProxyRequest, Ranged, Route, UpstreamTry, Validity, ranged, validity,
};
use crate::syntax::include::os_error;

/// Bodies up to this size are read before sending, so another server can be tried.
const RESENDABLE: u64 = 64 * 1024;

/// How a proxied request began.
#[derive(Debug)]
pub struct Start {
    pub keepalive: bool,
    /// The servers earlier proxy passes of the request tried (before an `error_page` or an
    /// `X-Accel-Redirect` redirected it here): `$upstream_*` lists them first.
    pub tried: Vec<UpstreamTry>,
    /// The log line written if the request ends before an answer (499 when the client
    /// leaves first); kept up to date with the servers tried.
    pub abandoned: Option<Finish>,
}

/// The client that a request reads its body from and watches for going away.
#[derive(Debug)]
pub struct Downstream<'a> {
    pub client: &'a mut Client,
    pub body: &'a mut ClientBody,
}

/// Serves `request` by proxying it per `p`, reading its body from `down` (none after an
/// `error_page` redirect); `None` when the connection is to close without an answer: the
/// client went away before it (its 499 line is logged then), or an `error_page` said 444.
pub async fn proxy(
    request: OwnedRequest,
    p: Box<ProxyRequest>,
    down: Option<Downstream<'_>>,
    start: Start,
) -> Option<Answer> {
    let Start {
        keepalive,
        tried,
        mut abandoned,
    } = start;
    let answer = attempts(request, p, down, keepalive, tried, &mut abandoned).await;
    if let Some(finish) = &mut abandoned {
        match answer {
            Ok(_) => finish.log = Arc::default(),
            Err(ClientGone) => finish.outcome.status = 499,
        }
    }
    answer.unwrap_or(None)
}

/// The client closed its connection while the upstream was working (nginx's 499).
#[derive(Debug)]
pub struct ClientGone;

async fn attempts(
    mut request: OwnedRequest,
    mut p: Box<ProxyRequest>,
    down: Option<Downstream<'_>>,
    keepalive: bool,
    tried: Vec<UpstreamTry>,
    abandoned: &mut Option<Finish>,
) -> Result<Option<Answer>, ClientGone> {
    let mut outcome = Outcome {
        upstreams: tried,
        ..Outcome::default()
    };
    // Whether the next server tried starts this pass after earlier ones.
    let pass_start = outcome.upstreams.len();
    let first_of_pass = |o: &Outcome| pass_start > 0 && o.upstreams.len() == pass_start;
    let mut down = down;
    let body = match client_body(&request, &p, down.as_mut()).await {
        Ok((mut body, read, Kept { body: kept, file })) => {
            // A chunked body counts with its framing: nginx adds to `$request_length` the
            // bytes it read for the body.
            outcome.request_length = match down.as_ref() {
                Some(d) if request.has_token("transfer-encoding", "chunked") => d.body.raw(),
                _ => read,
            };
            // A 499 after this counts the body read too.
            if let Some(finish) = abandoned.as_mut() {
                finish.outcome.request_length = outcome.request_length;
            }
            // A FastCGI request's params are evaluated once its body is read, when
            // `$content_length` gives a chunked body's length.
            let chunked = request.has_token("transfer-encoding", "chunked");
            if chunked && p.gateway.is_some() && matches!(body, RequestBody::Full(_)) {
                request.body_length = body.length();
            }
            if kept.is_some() || file.is_some() || request.body_length.is_some() {
                request.request_body = kept;
                request.request_body_file = file.map(Arc::new);
                if let Some(finish) = abandoned {
                    let finished = &mut finish.request;
                    finished.request_body.clone_from(&request.request_body);
                    finished
                        .request_body_file
                        .clone_from(&request.request_body_file);
                }
                // nginx builds the upstream request once the body is read: what reads
                // `$request_body` there sees it.
                match request.conn.state.site.route(&request.info()) {
                    Route::Proxy(mut again) => {
                        again.errors = Vec::new();
                        p = again;
                        if let Some(replacement) = &p.body {
                            body = RequestBody::Full(replacement.clone());
                        }
                    }
                    // A gateway's params that the body made too big for their record or
                    // packet: nginx's alert, and a 500.
                    Route::Respond(r) if p.gateway.is_some() && r.status == 500 => {
                        super::request::log_errors(&request, &p.log.errors, &r.errors, None);
                        return Ok(fail(request, &p, 500, outcome, keepalive, None).await);
                    }
                    _ => {}
                }
            }
            body
        }
        Err(e @ (ProxyError::ClientBodyTimedOut | ProxyError::ClientClosed(_))) => {
            if let ProxyError::ClientClosed(_) = e {
                log_error(&request, &p, Level::Info, &e, None);
            }
            outcome.request_length = down.as_ref().map_or(0, |d| d.body.raw());
            return Ok(terminate(request, &p, e.status(), outcome));
        }
        Err(e) => {
            let level = match e {
                ProxyError::BodyFile(_) => Level::Crit,
                _ => Level::Error,
            };
            log_error(&request, &p, level, &e, None);
            let keepalive = keepalive && e.status() != 413;
            return Ok(fail(request, &p, e.status(), outcome, keepalive, None).await);
        }
    };
    // `proxy_cache`: the answer may come from the cache, or be kept once the upstream gives it.
    let mut store = false;
    // An expired entry, for `proxy_cache_use_stale`, and the mark that this request is
    // updating it (kept until the pass is over).
    let mut stale = None;
    let mut _updating = None;
    // `proxy_cache_revalidate`: the expired entry a 304 makes valid again.
    let mut revalidating = None;
    let found = match p.cache.as_deref_mut() {
        Some(c) => Some(cache::find(&request, c).await),
        None => None,
    };
    if let (Some(found), Some(c)) = (found, p.cache.as_deref()) {
        match found {
            cache::Found::Hit(entry, status) => {
                return Ok(from_cache(request, &p, c, *entry, outcome, keepalive, status).await);
            }
            cache::Found::Refresh(entry, updating) => {
                let task = super::request::refresh(&request, updating);
                let status = CacheStatus::Stale;
                let answer = from_cache(request, &p, c, *entry, outcome, keepalive, status).await;
                return Ok(answer.map(|mut a| {
                    a.background.push(task);
                    a
                }));
            }
            cache::Found::Error(status) => {
                outcome.cache_status = Some(CacheStatus::Hit);
                return Ok(fail(request, &p, status, outcome, keepalive, None).await);
            }
            cache::Found::Ask {
                status,
                store: may,
                stale: expired,
                lock,
                waited_out,
            } => {
                if waited_out {
                    log_error(&request, &p, Level::Info, &"cache lock timeout", None);
                }
                _updating = lock;
                outcome.cache_status = Some(status);
                store = may;
                if store {
                    let gateway = p.gateway.as_deref_mut();
                    cache::whole_answer(&mut p.headers, p.body_headers_at, gateway);
                }
                if let Some((entry, updating)) = expired {
                    if c.revalidate {
                        if store {
                            let (headers, at) = (&mut p.headers, p.body_headers_at);
                            let gateway = p.gateway.as_deref_mut();
                            cache::validate_with(headers, at, gateway, &entry);
                        }
                        revalidating = Some(entry.clone());
                    }
                    stale = Some(entry).filter(|_| !c.use_stale.off);
                    _updating = updating;
                }
            }
        }
        if let Some(finish) = abandoned.as_mut() {
            finish.outcome.cache_status = outcome.cache_status;
        }
    }
    if let Some(name) = p.resolve.take() {
        // Boxed: a rare path, whose state the request's future should not carry.
        match Box::pin(request.conn.state.resolvers.group(&name)).await {
            Ok(group) => p.upstream = group,
            Err(e) => {
                let e = ProxyError::Unresolved(name.host, e);
                log_error(&request, &p, Level::Error, &e, None);
                return Ok(fail(request, &p, 502, outcome, keepalive, None).await);
            }
        }
    }
    let upstream = request.conn.state.upstream(&p.upstream);
    let mut attempt = upstream
        .balancer
        .begin(p.client.ip(), p.balance_key.clone());
    let first = Instant::now();
    let mut tries = 0;
    loop {
        let Some(index) = upstream.balancer.get(&mut attempt, now_secs()) else {
            // nginx names the group instead of a server, in the log (`upstream:
            // "http://backend/..."`) and in `$upstream_addr`, with a 502 that took no time.
            let group = Some(p.upstream.name.as_str());
            let e = ProxyError::NoLiveUpstreams;
            log_error(&request, &p, Level::Error, &e, group);
            outcome.upstreams.push(UpstreamTry {
                addr: p.upstream.name.as_str().into(),
                status: Some(502),
                response_time: Some(std::time::Duration::ZERO),
                redirected: first_of_pass(&outcome),
                ..UpstreamTry::default()
            });
            let group = Some(Arc::from(p.upstream.name.as_str()));
            request.sent_body = body.sent_again(&p);
            if let Some(c) = p.cache.as_deref().filter(|c| c.use_stale.error)
                && let Some(entry) = stale.take()
            {
                let status = CacheStatus::Stale;
                return Ok(from_cache(request, &p, c, *entry, outcome, keepalive, status).await);
            }
            return Ok(fail(request, &p, 502, outcome, keepalive, group).await);
        };
        let peer = &p.upstream.servers[index];
        tries += 1;
        // This server's line of the `$upstream_*` variables, filled in as far as it gets.
        let mut state = UpstreamTry {
            addr: peer.name.clone(),
            redirected: first_of_pass(&outcome),
            ..UpstreamTry::default()
        };
        let sent_at = Instant::now();
        if let Some(finish) = abandoned {
            finish.outcome.upstreams = outcome.upstreams.clone();
            finish.outcome.upstreams.push(state.clone());
            finish.upstream_sent = Some(sent_at);
        }
        // nginx's proxy module expects no body after the head when it sent HEAD.
        let head_request = p.method.eq_ignore_ascii_case(b"HEAD");
        let streaming = !body.resendable();
        let mut exchange = Exchange {
            upstream: &upstream,
            run: &request.conn.state,
            addr: &peer.addr,
            p: &p,
            body: &body,
            head_request,
            state: &mut state,
            stderr: Vec::new(),
        };
        let result = match down.as_mut() {
            // The body is still coming from the client: its reads notice a close.
            Some(d) if streaming => exchange.run(Some((&mut *d.client, &mut *d.body))).await,
            // `proxy_ignore_client_abort on`: nginx stops watching the client.
            Some(d) if !p.ignore_client_abort => tokio::select! {
                result = exchange.run(None) => result,
                error = d.client.io.closed() => {
                    let os = error.map_or_else(String::new, |e| format!(" ({})", os_error(&e)));
                    // nginx's action is where the exchange stood.
                    let action = if state.connect_time.is_none() {
                        "connecting to upstream"
                    } else if state.bytes_received == 0 {
                        "sending request to upstream"
                    } else {
                        "reading response header from upstream"
                    };
                    let message = format!(
                        "epoll_wait() reported that client prematurely closed connection, \
                         so upstream connection is closed too{os} while {action}"
                    );
                    let addr = logged_peer(&peer.addr);
                    log_error(&request, &p, Level::Info, &message, Some(&addr));
                    // The 499's line counts what went to and came from the server so far.
                    let last = abandoned.as_mut().and_then(|f| f.outcome.upstreams.last_mut());
                    if let Some(last) = last {
                        last.bytes_sent = state.bytes_sent;
                        last.bytes_received = state.bytes_received;
                    }
                    return Err(ClientGone);
                }
            },
            _ => exchange.run(None).await,
        };
        fastcgi_stderr(
            &request,
            &p,
            &peer.addr,
            std::mem::take(&mut exchange.stderr),
        );
        let may_retry = |sent: bool, attempt_tries: u32| {
            attempt_tries > 0
                && (p.next_upstream.tries == 0 || tries < p.next_upstream.tries)
                && (p.next_upstream.timeout_total.is_zero()
                    || first.elapsed() < p.next_upstream.timeout_total)
                && (!sent || body.resendable())
                && (!sent || p.idempotent || p.next_upstream.non_idempotent)
        };
        match result {
            Ok((conn, head)) => {
                if head.http09 {
                    let message = "upstream sent no valid HTTP/1.0 header \
                                   while reading response header from upstream";
                    let addr = logged_peer(&peer.addr);
                    log_error(&request, &p, Level::Error, &message, Some(&addr));
                }
                state.status = Some(head.status);
                state.header_time = Some(sent_at.elapsed());
                // nginx's test_next: another server only while one is left to try (tries > 1
                // before freeing this one); otherwise the answer goes to the client as is.
                if let Some(failed) = retry_on_status(&p.next_upstream, head.status)
                    && may_retry(true, attempt.tries.saturating_sub(1))
                {
                    state.response_time = Some(sent_at.elapsed());
                    outcome.upstreams.push(state);
                    if upstream.balancer.free(&mut attempt, failed, now_secs()) {
                        let disabled = format!(
                            "upstream server temporarily disabled while {}",
                            Stage::ReadingHeader
                        );
                        let addr = logged_peer(&peer.addr);
                        log_error(&request, &p, Level::Warn, &disabled, Some(&addr));
                    }
                    continue;
                }
                Balancer::settle(&mut attempt);
                if let Some(c) = p.cache.as_deref()
                    && head.status == 304
                    && let Some(entry) = revalidating.take()
                {
                    // The entry is still good: it answers, valid again.
                    state.response_time = Some(sent_at.elapsed());
                    outcome.upstreams.push(state);
                    drop((conn, Hold { upstream, attempt }));
                    let entry = cache::revalidated(c, *entry, &head).await;
                    let status = CacheStatus::Revalidated;
                    return Ok(from_cache(request, &p, c, entry, outcome, keepalive, status).await);
                }
                if let Some(c) = p.cache.as_deref()
                    && retry_on_status(&c.use_stale, head.status).is_some()
                    && let Some(entry) = stale.take()
                {
                    // `proxy_cache_use_stale http_*`: the expired entry answers instead.
                    outcome.upstreams.push(state);
                    drop((conn, Hold { upstream, attempt }));
                    let status = CacheStatus::Stale;
                    return Ok(
                        from_cache(request, &p, c, *entry, outcome, keepalive, status).await,
                    );
                }
                if p.intercept_errors && head.status >= 300 && p.error_pages.contains(&head.status)
                {
                    // `proxy_intercept_errors`: the upstream's answer gives way to the page
                    // (which may take its `WWW-Authenticate`); the cache may keep its status.
                    if let Some(c) = p.cache.as_deref().filter(|_| store)
                        && let Some(until) = c.error_validity(head.status, &head.headers)
                    {
                        c.zone.set_error(&c.hash, Some((head.status, until)));
                    }
                    outcome.upstreams.push(state);
                    drop((conn, Hold { upstream, attempt }));
                    outcome.upstream_headers = head.headers.clone();
                    let pass = Pass::Status(head.status);
                    let peer = Some(peer_named(peer));
                    request.sent_body = body.sent_again(&p);
                    return Ok(reroute(request, &p, pass, outcome, keepalive, peer).await);
                }
                if let Some(to) = accel::target(&head, p.ignore_headers) {
                    // The answer ends here: nginx reads none of its body.
                    state.response_time = Some(sent_at.elapsed());
                    outcome.upstreams.push(state);
                    accel::release(conn, &head, Hold { upstream, attempt });
                    let redirect = accel::redirect(to, &head, &p, &request, &mut outcome);
                    let pass = Pass::Redirect(Arc::new(redirect));
                    let peer = Some(peer_named(peer));
                    request.sent_body = body.sent_again(&p);
                    return Ok(reroute(request, &p, pass, outcome, keepalive, peer).await);
                }
                // Its response time runs until the body is over (see `Finish`).
                outcome.upstreams.push(state);
                let hold = Hold { upstream, attempt };
                let verdict = match p.cache.as_deref() {
                    Some(c) if store => {
                        let validators = cache::validators(&request);
                        c.not_modified(&validators, head.status, &head.headers, false)
                    }
                    _ => Validity::Send,
                };
                if verdict == Validity::PreconditionFailed {
                    drop((conn, hold));
                    return Ok(fail(request, &p, 412, outcome, keepalive, None).await);
                }
                let not_modified = verdict == Validity::NotModified;
                let kept = match p.cache.as_deref() {
                    Some(c) if store => keeps(&request, c, &head, &mut outcome),
                    _ => None,
                };
                let ranges = kept.is_some() && cache::accepts_ranges(&head.headers);
                let ctx = deliver::Delivery {
                    request,
                    p: &p,
                    keepalive,
                    outcome,
                    sent_at,
                    upstream_log: UpstreamLog::of(&p, Some(peer_named(peer))),
                    // An answer just kept takes one range at most.
                    ranges: ranges.then_some(true),
                };
                let Some((c, valid_sec)) = kept else {
                    if not_modified {
                        // The head alone: the upstream's body is not read.
                        drop((conn, hold));
                        let source = Source::Stored {
                            data: Bytes::new(),
                            cut: None,
                        };
                        let head = cache::not_modified(&head);
                        return Ok(Some(deliver::deliver(ctx, source, head)));
                    }
                    let source = Source::Upstream(conn, hold);
                    return Ok(Some(deliver::deliver(ctx, source, head)));
                };
                let upstream = (conn, hold);
                // Boxed: a rare path, whose state the request's future should not carry.
                let filled = Box::pin(fill(ctx, c, valid_sec, upstream, head, not_modified));
                return Ok(filled.await);
            }
            Err((e @ (ProxyError::ClientBodyTimedOut | ProxyError::ClientClosed(_)), _)) => {
                if let ProxyError::ClientClosed(_) = e {
                    let addr = logged_peer(&peer.addr);
                    log_error(&request, &p, Level::Info, &e, Some(&addr));
                }
                state.response_time = Some(sent_at.elapsed());
                outcome.upstreams.push(state);
                upstream.balancer.free(&mut attempt, false, now_secs());
                outcome.request_length = down.as_ref().map_or(0, |d| d.body.raw());
                return Ok(terminate(request, &p, e.status(), outcome));
            }
            Err((e, cached)) => {
                let status = e.status();
                state.status = Some(status);
                if let ProxyError::Bind(..) = e {
                    // The socket never connected: nginx's `$upstream_*` name no server and
                    // no status for it.
                    state.status = None;
                    state.addr = Arc::from("");
                }
                state.response_time = Some(sent_at.elapsed());
                outcome.upstreams.push(state);
                let addr = logged_peer(&peer.addr);
                // nginx logs a failed call where it fails, before freeing the server; a
                // timeout only in `ngx_http_upstream_next`, after the server is freed.
                let timed_out = matches!(e, ProxyError::TimedOut(_));
                // A caught STDERR line was logged as such, and is all nginx says.
                if !timed_out && !matches!(e, ProxyError::CaughtStderr) {
                    log_error(&request, &p, e.level(), &e, Some(&addr));
                }
                let failed = e.counts_as_failure();
                if upstream.balancer.free(&mut attempt, failed, now_secs()) {
                    let disabled =
                        format!("upstream server temporarily disabled while {}", e.stage());
                    log_error(&request, &p, Level::Warn, &disabled, Some(&addr));
                }
                if timed_out {
                    log_error(&request, &p, Level::Error, &e, Some(&addr));
                }
                let sent = !e.before_sending();
                if cached && matches!(e, ProxyError::Io(..) | ProxyError::PrematureClose(_)) {
                    // A cached connection the server had closed: not the server's failure.
                    attempt.tries += 1;
                }
                if e.retryable(&p.next_upstream) && may_retry(sent, attempt.tries) {
                    continue;
                }
                let peer = Some(Arc::from(addr));
                request.sent_body = body.sent_again(&p);
                if let Some(c) = p.cache.as_deref().filter(|c| e.retryable(&c.use_stale))
                    && let Some(entry) = stale.take()
                {
                    let status = CacheStatus::Stale;
                    return Ok(
                        from_cache(request, &p, c, *entry, outcome, keepalive, status).await,
                    );
                }
                return Ok(fail(request, &p, status, outcome, keepalive, peer).await);
            }
        }
    }
}

/// What nginx holds of a body a proxy pass read: in memory (`$request_body`), or in a file
/// (`$request_body_file`).
#[derive(Debug, Default)]
struct Kept {
    body: Option<Bytes>,
    file: Option<BodyFile>,
}

/// The body to send, how many bytes of the client's were read for it (`$request_length`),
/// and what nginx would hold of it when the configuration reads `$request_body`:
/// the client's, checked against `client_max_body_size` and read in full when small or
/// chunked (nginx buffers request bodies; chunked ones go upstream with a Content-Length),
/// or `proxy_set_body`'s once the client's is read and dropped.
async fn client_body(
    request: &OwnedRequest,
    p: &ProxyRequest,
    mut down: Option<&mut Downstream<'_>>,
) -> Result<(RequestBody, u64, Kept), ProxyError> {
    let length = request
        .header("content-length")
        .and_then(super::response::content_length);
    let chunked = request.has_token("transfer-encoding", "chunked");
    let max = p.client_max_body_size;
    if let Some(n) = length
        && max > 0
        && n > max
    {
        return Err(ProxyError::BodyTooLarge(n));
    }
    if let Some(down) = down.as_deref_mut() {
        down.body.set_timeout(p.timeouts.client_body);
        // The mirror module read the body before the content phase: sent as read.
        if let Some(data) = request.sent_body.clone() {
            let read = data.len() as u64;
            let kept = Kept {
                body: p.keep_body.is_some().then(|| data.clone()),
                file: None,
            };
            let send = match &p.body {
                Some(replacement) => RequestBody::Full(replacement.clone()),
                None if p.pass_body => RequestBody::Full(data),
                None => RequestBody::Withheld { length: Some(read) },
            };
            return Ok((send, read, kept));
        }
    }
    if let (Some(keep), Some(down)) = (&p.keep_body, down.as_deref_mut())
        && (length.is_some() || chunked)
    {
        return kept_body(request, p, keep, down, length, chunked).await;
    }
    if let Some(replacement) = &p.body {
        let read = match down {
            Some(Downstream { client, body }) => body.read_and_drop(client, max).await?,
            None => 0,
        };
        return Ok((
            RequestBody::Full(replacement.clone()),
            read,
            Kept::default(),
        ));
    }
    let Some(Downstream { client, body }) = down else {
        // After an `error_page` or an `X-Accel-Redirect`, nginx sends the body it read
        // again.
        let again = request.sent_body.clone().filter(|_| p.pass_body);
        let again = again.map_or(RequestBody::None, RequestBody::Full);
        return Ok((again, 0, Kept::default()));
    };
    if !p.pass_body {
        if length.is_none() && !chunked {
            return Ok((RequestBody::None, 0, Kept::default()));
        }
        let read = body.read_and_drop(client, max).await?;
        let withheld = RequestBody::Withheld { length: Some(read) };
        return Ok((withheld, read, Kept::default()));
    }
    let body = match length {
        Some(n) if streams(p, n) && !chunked => RequestBody::Stream { length: n },
        _ if chunked && streams_chunked(p) => RequestBody::Chunked { read: Bytes::new() },
        None if !chunked => RequestBody::None,
        _ => RequestBody::Full(body.read_all(client, max).await?),
    };
    let read = body.length().unwrap_or(0);
    Ok((body, read, Kept::default()))
}

/// Whether a body of `n` bytes announced by `Content-Length` goes upstream as it arrives:
/// under `proxy_request_buffering off`, or when too long to keep for another server.
fn streams(p: &ProxyRequest, n: u64) -> bool {
    (p.stream_body || n > RESENDABLE) && !whole_body(p)
}

/// Whether a chunked body goes upstream as it arrives, in chunks of nginx's own: under
/// `proxy_request_buffering off`, to an HTTP/1.1 upstream (`ngx_http_proxy_handler`).
fn streams_chunked(p: &ProxyRequest) -> bool {
    p.stream_body && p.gateway.is_none() && p.version == "HTTP/1.1"
}

/// A gateway's request whose body goes out only once read whole (`fastcgi_request_buffering`
/// and its siblings): FastCGI's records are then cut as nginx's. An HTTP upstream sees the
/// same bytes either way, and gets a long body as it arrives.
fn whole_body(p: &ProxyRequest) -> bool {
    p.gateway.as_ref().is_some_and(|g| g.whole_body)
}

/// [`client_body`] for a configuration that reads `$request_body` or `$request_body_file`,
/// or writes bodies to files: the body is read as nginx reads it (whole, when nginx would;
/// the client's even when `proxy_set_body` or `proxy_pass_request_body off` sends none of
/// it), the copy `keep` asks for is taken on the way, and the file nginx would write is
/// written (`client_body_in_file_only`) or named (a body that outgrew its buffer).
async fn kept_body(
    request: &OwnedRequest,
    p: &ProxyRequest,
    keep: &KeepBody,
    down: &mut Downstream<'_>,
    length: Option<u64>,
    chunked: bool,
) -> Result<(RequestBody, u64, Kept), ProxyError> {
    let Downstream { client, body } = down;
    let max = p.client_max_body_size;
    // nginx streams a chunked body only to an HTTP/1.1 upstream.
    let buffered = keep.buffered || (chunked && p.version != "HTTP/1.1");
    // A streamed body goes to no file (`ngx_http_request_body_save_filter`).
    let to_file = buffered && keep.in_file_only != InFileOnly::Off;
    // A body nginx wrote to a file because it outgrew its buffer, said at `warn`.
    let spilled = |held: Held| {
        let file = (buffered && held == Held::Nothing).then(|| BodyFile::spilled(&keep.temp_path));
        if let Some(file) = &file {
            buffered_to_file(request, p, Level::Warn, file);
        }
        file
    };
    // The most of a body nginx holds in memory: what came with the head, and a buffer.
    let cap = keep.buffer_size + keep.buffer_size / 4 + request.head_room;
    let enough = length.map_or(cap, |n| n.min(cap));
    let raw_at_hand = body.settle(client, usize::try_from(enough).unwrap_or(usize::MAX)) as u64;
    let wire = |raw, raw_at_hand| Wire {
        chunked,
        raw,
        raw_at_hand,
        room: request.head_room,
    };
    let sending = p.pass_body && p.body.is_none();
    if let Some(n) = length.filter(|&n| sending && streams(p, n) && !to_file) {
        // Streamed, unless nginx would hold all of it.
        let stream = RequestBody::Stream { length: n };
        let held = wire(n, raw_at_hand.min(n)).held(keep.buffer_size, buffered);
        let file = spilled(held);
        return Ok(match held {
            Held::Whole => {
                let data = body.read_all(client, max).await?;
                let kept = Kept {
                    body: Some(data.clone()),
                    file,
                };
                (RequestBody::Full(data), n, kept)
            }
            Held::Start(k) => {
                let start = client.buf.get(..k as usize).map(Bytes::copy_from_slice);
                (stream, n, Kept { body: start, file })
            }
            Held::Nothing => (stream, n, Kept { body: None, file }),
        });
    }
    if chunked && sending && !to_file && streams_chunked(p) {
        // What came with the head goes with the request's; the variable holds the body
        // when all of it was there.
        let read = super::exchange::ready_chunks(client, body).await?;
        let read = read.unwrap_or_default();
        let kept = body.is_done().then(|| read.clone());
        let length = read.len() as u64;
        let kept = Kept {
            body: kept,
            file: None,
        };
        return Ok((RequestBody::Chunked { read }, length, kept));
    }
    let whole = body
        .read_whole(
            client,
            max,
            if sending || to_file { u64::MAX } else { cap },
            raw_at_hand,
        )
        .await?;
    let data = whole.data.unwrap_or_default();
    let held = match to_file {
        true => Held::Nothing,
        false => wire(whole.raw, whole.raw_at_hand).held(keep.buffer_size, buffered),
    };
    let file = match to_file {
        true => {
            let temp = keep.temp_path.clone();
            let file = BodyFile::write(temp, keep.in_file_only, data.clone()).await;
            let file = file.map_err(ProxyError::BodyFile)?;
            // `request_body_file_log_level` under `client_body_in_file_only`.
            buffered_to_file(request, p, Level::Notice, &file);
            Some(file)
        }
        false => spilled(held),
    };
    let kept = match held {
        Held::Whole => Some(data.clone()),
        // Chunked, the data bytes that came in what was at hand.
        Held::Start(k) => {
            let k = if chunked { whole.at_hand } else { k };
            Some(data.slice(..(k as usize).min(data.len())))
        }
        Held::Nothing => None,
    };
    let kept = Kept { body: kept, file };
    let send = match &p.body {
        Some(replacement) => RequestBody::Full(replacement.clone()),
        None if p.pass_body => RequestBody::Full(data),
        None => RequestBody::Withheld {
            length: Some(whole.length),
        },
    };
    Ok((send, whole.length, kept))
}

/// nginx's line for a body written to a temporary file.
fn buffered_to_file(request: &OwnedRequest, p: &ProxyRequest, level: Level, file: &BodyFile) {
    let name = String::from_utf8_lossy(file.name());
    let message = format!("a client request body is buffered to a temporary file {name}");
    log_error(request, p, level, &message, None);
}

/// Answers `request` with `entry` from the cache (`status`: `HIT`, `UPDATING`, `STALE`),
/// through the not-modified filter (`ngx_http_upstream_cache_send`).
fn from_cache<'a>(
    request: OwnedRequest,
    p: &'a ProxyRequest,
    c: &'a CacheRequest,
    entry: cache::Entry,
    mut outcome: Outcome,
    keepalive: bool,
    status: CacheStatus,
) -> Pin<Box<dyn Future<Output = Option<Answer>> + Send + 'a>> {
    // Boxed: a rare path, whose state the request's future should not carry.
    Box::pin(async move {
        outcome.cache_status = Some(status);
        let mut head = entry.head();
        let mut data = entry.body;
        let validators = cache::validators(&request);
        match c.not_modified(&validators, head.status, &head.headers, true) {
            Validity::Send => {}
            Validity::NotModified => {
                head = cache::not_modified(&head);
                data = Bytes::new();
            }
            Validity::PreconditionFailed => {
                return fail(request, p, 412, outcome, keepalive, None).await;
            }
        }
        // `proxy_force_ranges` lets the range filter at any answer.
        let ranges = p.force_ranges || cache::accepts_ranges(&head.headers);
        let ctx = deliver::Delivery {
            request,
            p,
            keepalive,
            outcome,
            sent_at: Instant::now(),
            upstream_log: UpstreamLog::of(p, None),
            ranges: ranges.then_some(false),
        };
        Some(deliver::deliver(
            ctx,
            Source::Stored { data, cut: None },
            head,
        ))
    })
}

/// Until when the cache may keep `head`'s answer (`ngx_http_upstream_send_response`):
/// `proxy_no_cache` (which may read the answer's headers) does not hold, and the headers or
/// `proxy_cache_valid` give it a time; `None` when it is not kept.
fn keeps<'c>(
    request: &OwnedRequest,
    c: &'c CacheRequest,
    head: &ResponseHead,
    outcome: &mut Outcome,
) -> Option<(&'c CacheRequest, i64)> {
    if head.status < 200 || head.http09 {
        return None;
    }
    if let Some(no_cache) = &c.no_cache {
        outcome.upstream_headers.clone_from(&head.headers);
        let holds = no_cache.holds(&request.info(), outcome);
        outcome.upstream_headers = Vec::new();
        if holds {
            return None;
        }
    }
    let now = crate::eval::clock::now_secs();
    let valid_sec = validity(head.status, &head.headers, c.ignore, &c.valid, now)?;
    Some((c, valid_sec))
}

/// Reads the answer whole, stores it in the cache and sends it from there. A body the
/// upstream cuts short is not stored: the client gets what came, then the connection
/// closes, as when the body is streamed. A client the not-modified filter answered gets the
/// 304 head alone.
async fn fill(
    mut d: deliver::Delivery<'_>,
    c: &CacheRequest,
    valid_sec: i64,
    (conn, hold): (PeerConn, Hold),
    head: ResponseHead,
    not_modified: bool,
) -> Option<Answer> {
    let mut body = UpstreamBody::new(
        conn,
        head.framing,
        hold,
        head.keepalive,
        d.p.timeouts.read,
        head.starved,
    );
    let read = cache::read_all(&mut body).await;
    let (received, length) = body.counts();
    // The server is free again once its answer is read.
    drop(body);
    if let Some(last) = d.outcome.upstreams.last_mut() {
        last.bytes_received += received;
        last.response_length += length;
        last.response_time = Some(d.sent_at.elapsed());
    }
    // A range nothing satisfies ends the request in nginx's header filter, before the
    // answer is kept.
    let unsatisfiable = |data: &Bytes| {
        let r = &d.request;
        let (range, if_range) = (r.header("range"), r.header("if-range"));
        d.ranges.is_some()
            && head.status == 200
            && matches!(
                ranged(range, if_range, &head.headers, None, data, true),
                Ranged::NotSatisfiable(_)
            )
    };
    let (data, cut) = match read {
        Ok(data) if unsatisfiable(&data) => (data, None),
        Ok(data) => {
            let entry = cache::entry(&d.request, c, &head, data.clone(), valid_sec);
            cache::store(c, entry).await;
            (data, None)
        }
        Err((data, e)) => (data, Some(e)),
    };
    if not_modified {
        let source = Source::Stored {
            data: Bytes::new(),
            cut,
        };
        return Some(deliver::deliver(d, source, cache::not_modified(&head)));
    }
    Some(deliver::deliver(d, Source::Stored { data, cut }, head))
}

/// One try with one server.
struct Exchange<'a> {
    upstream: &'a Upstream,
    /// The worker's state: its connection counter (`$connection`), which a connect takes a
    /// number from, and its TLS clients for https upstreams.
    run: &'a State,
    addr: &'a PeerAddr,
    p: &'a ProxyRequest,
    body: &'a RequestBody,
    head_request: bool,
    /// This server's line of the `$upstream_*` variables.
    state: &'a mut UpstreamTry,
    /// What a FastCGI application wrote to STDERR before its head (or the failure to read
    /// one), for the error log.
    stderr: Vec<Bytes>,
}

impl Exchange<'_> {
    /// Connect (or reuse), send (a streamed body comes `from` the client), read the head,
    /// noting the connect time and the bytes sent and received. The error says whether the
    /// connection was cached.
    async fn run(
        &mut self,
        from: Option<(&mut Client, &mut ClientBody)>,
    ) -> Result<(PeerConn, ResponseHead), (ProxyError, bool)> {
        let started = Instant::now();
        let fastcgi = self.p.fastcgi();
        // An SCGI or uwsgi connection is never kept, nor is one kept for HTTP taken for it.
        let pooled = match &self.p.gateway {
            Some(_) if fastcgi.is_none() => None,
            _ => self
                .upstream
                .pool
                .as_ref()
                .and_then(|pool| pool.take(self.addr, self.p.tls.is_some(), fastcgi.is_some())),
        };
        let mut conn = match pooled {
            Some(conn) => conn,
            None => {
                let connector = match &self.p.tls {
                    Some(tls) => Some((
                        self.run.connector(&tls.settings).map_err(|e| (e, false))?,
                        tls,
                    )),
                    None => None,
                };
                let tls = connector.as_ref().map(|(c, tls)| (&**c, tls.name.as_str()));
                peer::connect(
                    self.addr,
                    self.p.timeouts.connect,
                    &self.run.connections,
                    tls,
                    self.p.bind.as_ref(),
                )
                .await
                .map_err(|e| (e, false))?
            }
        };
        if fastcgi.is_some() && !conn.stream.is_fastcgi() {
            conn.stream = conn.stream.into_fastcgi();
        }
        let cached = conn.cached;
        exchange::send(&mut conn, self.p, self.body, from, self.state, started)
            .await
            .map_err(|e| (e, cached))?;
        let head = exchange::read_head(
            &mut conn,
            self.p.gateway.as_ref().map(|g| &g.protocol),
            self.p.timeouts.read,
            self.head_request,
            self.p.buffers,
            self.p.ignore_headers,
            &mut self.state.bytes_received,
        )
        .await;
        if let Some(f) = conn.stream.fastcgi() {
            self.stderr = f.take_stderr();
        }
        let mut head = head.map_err(|e| (e, cached))?;
        if let Some((keep_conn, catch_stderr)) = fastcgi {
            head.keepalive = keep_conn;
            // `fastcgi_catch_stderr`: the answer is taken for an invalid one.
            let caught = |piece: &Bytes| {
                let text = super::fastcgi::stderr_text(piece);
                catch_stderr
                    .iter()
                    .any(|p| memchr::memmem::find(text, p).is_some())
            };
            if self.stderr.iter().any(caught) {
                return Err((ProxyError::CaughtStderr, cached));
            }
        }
        Ok((conn, head))
    }
}

/// What a FastCGI application wrote to its STDERR before its head, logged as nginx logs
/// it, one line per piece read.
fn fastcgi_stderr(request: &OwnedRequest, p: &ProxyRequest, peer: &PeerAddr, stderr: Vec<Bytes>) {
    if stderr.is_empty() {
        return;
    }
    let addr = logged_peer(peer);
    for piece in stderr {
        let text = String::from_utf8_lossy(super::fastcgi::stderr_text(&piece));
        let message = format!(
            "FastCGI sent in stderr: \"{text}\" while {}",
            Stage::ReadingHeader
        );
        log_error(request, p, Level::Error, &message, Some(&addr));
    }
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

/// The answer after a failed proxy pass: the location's `error_page` for `status` if it has
/// one, else nginx's page. `upstream` is the server (or group) it failed at, if it got that
/// far.
/// `ngx_http_terminate_request`: the request ends with `status` logged and the connection
/// closes without an answer (a client too slow with its body: no `error_page` either).
fn terminate(
    request: OwnedRequest,
    p: &ProxyRequest,
    status: u16,
    mut outcome: Outcome,
) -> Option<Answer> {
    outcome.status = status;
    // Dropped here: the line is written.
    let _ = Finish::new(request, p.log.clone(), outcome, None);
    None
}

async fn fail(
    request: OwnedRequest,
    p: &ProxyRequest,
    status: u16,
    mut outcome: Outcome,
    keepalive: bool,
    upstream: Option<Arc<str>>,
) -> Option<Answer> {
    if p.error_pages.contains(&status) {
        let pass = Pass::Status(status);
        return reroute(request, p, pass, outcome, keepalive, upstream).await;
    }
    outcome.status = status;
    // nginx's page and its headers are chosen after this, by `respond::answer` (no
    // `expires` for an error's status, no type for the charset filter).
    let mut headers =
        p.add_headers
            .evaluate(&request.info(), &outcome, &|_| Vec::new(), &mut Vec::new());
    headers.extend(p.userid.iter().cloned());
    let finish = Finish::new(request, p.log.clone(), outcome, None);
    let dress = respond::Dress {
        location_base: None,
        hide_version: !p.server_tokens,
        gzip: p.gzip.as_deref(),
        sub_filter: p.sub_filter.as_ref(),
        addition: p.addition.as_ref(),
        ssi: p.ssi.as_ref(),
        sending: p.sending,
        length_unknown: false,
        trailers: p.trailers.as_ref(),
    };
    Some(respond::answer(
        finish, status, headers, None, keepalive, dress,
    ))
}

/// Routes the request again after this pass ended in `pass` (nginx's `error_page` for a
/// status, or the internal redirect of an `X-Accel-Redirect`), and serves what that decides
/// (which may be another proxy pass). The error-log lines that follow name the pass's
/// `upstream`, as nginx's still do.
fn reroute(
    request: OwnedRequest,
    p: &ProxyRequest,
    pass: Pass,
    outcome: Outcome,
    keepalive: bool,
    upstream: Option<Arc<str>>,
) -> Pin<Box<dyn Future<Output = Option<Answer>> + Send>> {
    let mut passes = p.passes.clone();
    passes.push(pass);
    let route = request
        .conn
        .state
        .site
        .reroute(&request.info(), &passes, &outcome);
    let then = Then {
        keepalive,
        outcome,
        upstream: upstream.map(|addr| UpstreamLog::of(p, Some(addr))),
    };
    Box::pin(request::dispatch(request, route, None, then))
}

/// `logged_peer` of a configured server, shared (a TCP server's name is already that).
fn peer_named(peer: &crate::eval::plan::PeerSpec) -> Arc<str> {
    match peer.addr {
        PeerAddr::Tcp(_) => peer.name.clone(),
        PeerAddr::Unix(_) => logged_peer(&peer.addr).into(),
    }
}

/// The peer as the error log names it before the URI: nginx puts a `:` after a unix
/// socket's path (`http://unix:/run/app.sock:/uri`), as `proxy_pass` spells it.
pub(super) fn logged_peer(addr: &PeerAddr) -> String {
    match addr {
        PeerAddr::Tcp(_) => addr.to_string(),
        PeerAddr::Unix(_) => format!("{addr}:"),
    }
}

/// An error.log line in nginx's shape: `MESSAGE, client: IP, server: NAME, request: "...",
/// upstream: "http://ADDR/URI", host: "HOST"` (`https://` for a TLS upstream), in the
/// location's error log.
fn log_error(
    request: &OwnedRequest,
    p: &ProxyRequest,
    level: Level,
    message: &dyn std::fmt::Display,
    upstream: Option<&str>,
) {
    UpstreamLog::of(p, upstream.map(Arc::from)).write(request, &p.log.errors, level, message);
}

/// The scheme the error log puts before the upstream's address (nginx's `u->schema`).
fn scheme(p: &ProxyRequest) -> &'static str {
    match (&p.gateway, &p.tls) {
        (Some(g), tls) => g.scheme(tls.is_some()),
        (None, Some(_)) => "https",
        (None, None) => "http",
    }
}

/// What a proxied request's error-log lines name around the request: the client (as realip
/// left it), the server and the upstream's URL. Kept by the response body, whose read errors
/// are logged after the proxy pass is over, and by tunnels: every part is shared, not
/// formatted, as most are never written.
#[derive(Debug, Clone)]
pub struct UpstreamLog {
    client: crate::eval::plan::Peer,
    server: Bytes,
    /// The server (or group) tried as the line names it, the URL's scheme, and the URI.
    upstream: Option<(Arc<str>, &'static str, Bytes)>,
    /// The request's `Host` and `Referer`, kept here when the request's headers are not (a
    /// tunnel's).
    kept: Option<Box<[Option<Bytes>; 2]>>,
}

impl UpstreamLog {
    /// `addr`: the server (or group) tried, if the line names one.
    pub fn of(p: &ProxyRequest, addr: Option<Arc<str>>) -> UpstreamLog {
        UpstreamLog {
            client: p.client.clone(),
            server: p.server.clone(),
            upstream: addr.map(|addr| (addr, scheme(p), p.uri.clone())),
            kept: None,
        }
    }

    /// Keeps a copy of `request`'s `Host` and `Referer` (not slices, which would keep the
    /// read buffer alive), for lines written after its headers are gone.
    pub fn keep_headers(&mut self, request: &OwnedRequest) {
        let copy = |name| request.header(name).map(Bytes::copy_from_slice);
        self.kept = Some(Box::new([copy("host"), copy("referer")]));
    }

    /// Writes `message` about `request` at `level` to `logs` (the location's error logs).
    pub fn write(
        &self,
        request: &OwnedRequest,
        logs: &[(crate::eval::plan::LogTarget, String)],
        level: Level,
        message: &dyn std::fmt::Display,
    ) {
        let kept = |i: usize| self.kept.as_ref().and_then(|k| k[i].as_deref());
        let host = request.header("host").or(kept(0));
        let referer = request.header("referer").or(kept(1));
        let host = request::host_and_referrer(host, referer);
        let upstream = self
            .upstream
            .as_ref()
            .map_or_else(String::new, |(addr, scheme, uri)| {
                let uri = String::from_utf8_lossy(uri);
                format!(", upstream: \"{scheme}://{addr}{uri}\"")
            });
        super::log::write_in(
            logs,
            level,
            format_args!(
                "*{} {message}, client: {}, server: {}, request: \"{} {} {}\"{}{}{host}",
                request.conn.id,
                self.client,
                String::from_utf8_lossy(&self.server),
                request.method,
                String::from_utf8_lossy(&request.target),
                request.version,
                request.subrequest_context(),
                upstream
            ),
        );
    }
}
