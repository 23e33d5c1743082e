//! The request lifecycle, in nginx's order: count the request, check how its body is framed,
//! ask the site for a [`Route`], then answer directly, send a file or proxy (which may end in
//! a tunnel, or in an `error_page` that routes the request again). The access log is written
//! by the response body when the request is over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::Either;
use tokio::task::JoinHandle;

use super::body::Finish;
use super::client::{Client, PartialHead, RequestHead};
use super::context::{ConnCtx, OwnedRequest};
use super::error::ProxyError;
use super::forward::{self, Downstream, UpstreamLog};
use super::log::Level;
use super::parse::ParseError;
use super::request_body::ClientBody;
use super::response::Answer;
use super::{respond, static_file};
use crate::eval::plan::{ErrorLine, LogTarget, Mirror, Outcome, Route, Severity};
use crate::syntax::include::os_error;

/// What became of a request.
#[derive(Debug)]
// Returned once per request and moved once: boxing the answer would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum Handled {
    /// Send this; `body` is what is left of the client's body; `idle` is how long a kept
    /// connection then waits for the next request (`keepalive_timeout` of the level the
    /// request ended in).
    Answer {
        answer: Answer,
        body: ClientBody,
        idle: Duration,
    },
    /// Close without answering: `return 444`, or the client went away.
    Close,
}

/// One request on `conn`, whose body (if any) follows `head` on `client`.
pub async fn handle(conn: &Arc<ConnCtx>, head: RequestHead, client: &mut Client) -> Handled {
    let started = Instant::now();
    let n = conn.next_request();
    let raw = head.raw.clone();
    let mut request = OwnedRequest::from_head(conn.clone(), head, n, started);
    // Checked after the head is read and framed, as ngx_http_process_request_header does;
    // a refusal is the route's to answer (the server's `error_page` applies), with no body
    // read and the connection closed after it.
    let framing = framing(&request);
    if let Err(refused) = &framing {
        request.framing_refused = Some(refused.clone());
    }
    let mut route = conn.state.site.route(&request.info());
    if let Route::Respond(r) = &route
        && let Some(at) = r.head_cut
    {
        request.cut_head(&raw, at);
    }
    drop(raw);
    if framing.is_ok() {
        route = preaccess_limits(&mut request, route).await;
    }
    let limits = route.keepalive();
    let idle = limits.timeout;
    // A graceful shutdown keeps no connection alive: nginx's header filter says `close`
    // (an upstream's answer that comes later is checked again when it comes).
    let keepalive = framing.is_ok()
        && !conn.draining()
        && wants_keepalive(&request)
        && limits.allow_another(n, conn.opened.elapsed());
    let mut body = match framing {
        Ok(mut body) => {
            body.set_lingering(route.sending().lingering);
            body
        }
        Err(_) => ClientBody::new(None, false, false),
    };
    let then = Then {
        keepalive,
        outcome: Outcome::default(),
        upstream: None,
    };
    let down = Downstream {
        client,
        body: &mut body,
    };
    // Awaited where it is built, not moved into the await (a copy of all of its state).
    let answer = std::pin::pin!(dispatch(request, route, Some(down), then)).await;
    match answer {
        Some(answer) => Handled::Answer { answer, body, idle },
        None => Handled::Close,
    }
}

/// What the preaccess limits did while `route` was decided: the `limit_conn` counts move to
/// the request (held until it is over), and a `limit_req` delay is waited out on the timer
/// (the thread serves other connections meanwhile) before the request is routed again.
async fn preaccess_limits(request: &mut OwnedRequest, mut route: Route) -> Route {
    loop {
        let limited = route.take_limited();
        request.limits.merge(limited.status);
        if limited.holds.is_some() {
            request.holds = limited.holds;
        }
        let Some(delay) = limited.delay else {
            return route;
        };
        if let Route::Respond(r) = &route {
            log_errors(request, &r.log.errors, &r.errors, None);
        }
        tokio::time::sleep(delay).await;
        route = request.conn.state.site.route(&request.info());
    }
}

/// How a request that is being answered began, and what is known of it so far.
#[derive(Debug)]
pub struct Then {
    pub keepalive: bool,
    /// Carried into the access log (an error page after a proxy pass keeps its upstreams).
    pub outcome: Outcome,
    /// The proxy pass the request was routed again after, if it reached a server: nginx's
    /// error-log lines go on naming it.
    pub upstream: Option<UpstreamLog>,
}

/// Serves what the site decided for `request`: answer, file or proxy pass, with the
/// `mirror` subrequests routing started on the way. `down` is the client, for the body and
/// to notice it leaving (none when an `error_page` routed the request again). `None`: close
/// without an answer.
pub fn dispatch(
    mut request: OwnedRequest,
    mut route: Route,
    down: Option<Downstream<'_>>,
    then: Then,
) -> impl Future<Output = Option<Answer>> {
    let mirrors = route.take_mirrors();
    // Without mirrors (nearly always) the request's own future is all there is: one layer
    // fewer to move the request and its route through.
    if mirrors.is_empty() {
        return Either::Left(serve(request, route, down, then));
    }
    Either::Right(async move {
        let mut down = down;
        let background = match start_mirrors(&mut request, mirrors, down.as_mut()).await {
            Ok(started) => started,
            // The body could not be read for them: the client went away, or broke it.
            Err(_) => return None,
        };
        let mut answer = serve(request, route, down, then).await?;
        answer.background.extend(background);
        Some(answer)
    })
}

/// `ngx_http_mirror_handler`: the request's body is read whole first when a mirror sends
/// it (`mirror_request_body`); then [`spawn_mirrors`] starts them.
async fn start_mirrors(
    request: &mut OwnedRequest,
    mirrors: Vec<Mirror>,
    down: Option<&mut Downstream<'_>>,
) -> Result<Vec<JoinHandle<()>>, ProxyError> {
    request.mirrored += mirrors.len();
    if let Some(m) = mirrors.iter().find(|m| m.request_body)
        && let Some(Downstream { client, body }) = down
        && !body.is_done()
    {
        let data = body.read_all(client, m.client_max_body_size).await?;
        request.request_body = Some(data.clone());
        request.sent_body = Some(data);
    }
    Ok(spawn_mirrors(request, mirrors))
}

/// Each mirror subrequest runs beside the request, as a task of its own (with the body the
/// request read, when it sends it).
fn spawn_mirrors(request: &OwnedRequest, mirrors: Vec<Mirror>) -> Vec<JoinHandle<()>> {
    let started = mirrors.into_iter().map(|m| {
        let mut sub = request.clone();
        if !m.request_body {
            sub.sent_body = None;
        }
        sub.subrequest = Some(m.uri.clone());
        tokio::spawn(background(sub, m.route, m.delay, m.holds))
    });
    started.collect()
}

/// `ngx_http_upstream_cache_background_update`: a background subrequest, the request's
/// clone to its own URI, asks the upstream for the expired entry the request is answered
/// with, holding the request's mark (`updating`) until it is over.
pub fn refresh<H: Send + 'static>(request: &OwnedRequest, updating: H) -> JoinHandle<()> {
    let mut sub = request.clone();
    let path = request
        .target
        .split(|&c| c == b'?')
        .next()
        .unwrap_or_default();
    sub.subrequest = Some(Bytes::copy_from_slice(path));
    let route = request.conn.state.site.route(&sub.info());
    tokio::spawn(background(sub, route, None, updating))
}

/// Serves a background subrequest of `request` (after its location's `limit_req` delay),
/// keeping `_held` until it is over: its answer is dropped, and its log line written only
/// under `log_subrequest on`.
async fn background<H>(request: OwnedRequest, route: Route, delay: Option<Duration>, _held: H) {
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let then = Then {
        keepalive: false,
        outcome: Outcome::default(),
        upstream: None,
    };
    if let Some(mut answer) = Box::pin(dispatch(request, route, None, then)).await
        && let Some(mut finish) = answer.body.take_finish()
        && !finish.log.subrequests
    {
        finish.log = Arc::default();
    }
}

/// `ngx_http_post_action`: once the request is answered (`main`, its log line not yet
/// written), it is routed again to its location's `post_action` and served there, its answer
/// dropped (nginx's `header_only`: a proxy pass ends once the upstream's head is in). One
/// log line is written after it, the post action's (its location's logs, its `$uri`, the
/// upstreams of both, its status unless the request's was an error) with what was sent to
/// the client.
pub async fn post_action(mut main: Finish) {
    let mut request = main.request.clone();
    request.post_action = true;
    let route = request.conn.state.site.route(&request.info());
    let then = Then {
        keepalive: false,
        outcome: main.outcome.clone(),
        upstream: None,
    };
    let answer = Box::pin(dispatch(request, route, None, then)).await;
    let Some(mut post) = answer.and_then(|mut a| a.body.take_finish()) else {
        return;
    };
    let mut outcome = std::mem::take(&mut main.outcome);
    outcome.upstreams = std::mem::take(&mut post.outcome.upstreams);
    if outcome.status < 400 {
        outcome.status = post.outcome.status;
    }
    post.outcome = outcome;
    // The line is the post action's.
    main.log = Arc::default();
}

/// [`dispatch`] once the mirrors are started.
async fn serve(
    request: OwnedRequest,
    route: Route,
    down: Option<Downstream<'_>>,
    then: Then,
) -> Option<Answer> {
    let Then {
        keepalive,
        outcome,
        upstream,
    } = then;
    let upstream = upstream.as_ref();
    let mut request = request;
    let mut route = route;
    if let Some(wait) = route.take_auth_delay() {
        // Boxed: the timer is rare, and a connection's future should not carry its room.
        Box::pin(tokio::time::sleep(wait)).await;
    }
    if let Some(routed) = route.routed() {
        request.routed = Some(routed);
    }
    match route {
        Route::Respond(r) => {
            log_errors(&request, &r.log.errors, &r.errors, upstream);
            let status = r.status;
            let mut finish = Finish::new(request, r.log, outcome, None);
            if status == 444 {
                finish.outcome.status = 444;
                return None;
            }
            let dress = respond::Dress {
                location_base: r.location_base.as_ref(),
                hide_version: !r.server_tokens,
                gzip: r.gzip.as_deref(),
                sub_filter: r.sub_filter.as_ref(),
                addition: r.addition.as_ref(),
                ssi: r.ssi.as_ref(),
                sending: r.sending,
                length_unknown: r.length_unknown,
                trailers: r.trailers.as_ref(),
            };
            Some(respond::answer(
                finish, status, r.headers, r.body, keepalive, dress,
            ))
        }
        Route::File(f) => {
            log_errors(&request, &f.log.errors, &f.errors, upstream);
            let mut finish = Finish::new(request, f.log.clone(), outcome, None);
            if f.aborted {
                finish.outcome.status = f.status;
                return None;
            }
            Some(static_file::serve(finish, *f, keepalive))
        }
        Route::Proxy(p) => {
            log_errors(&request, &p.log.errors, &p.errors, upstream);
            // Logged if the request ends before its answer: a client that goes away (499),
            // or `worker_shutdown_timeout` (nginx's terminated request, status 000).
            let abandoned = (!p.log.files.is_empty())
                .then(|| Finish::new(request.clone(), p.log.clone(), Outcome::default(), None));
            let start = forward::Start {
                keepalive,
                tried: outcome.upstreams,
                abandoned,
            };
            // Pinned where it is built: boxing it would copy all of its state.
            std::pin::pin!(forward::proxy(request, p, down, start)).await
        }
        Route::Auth(a) => {
            // The first pass's error lines are written again by the next.
            let answered = subrequest(&request, a.route).await;
            request.auth.push(answered);
            let route = request.conn.state.site.route(&request.info());
            let then = Then {
                keepalive,
                outcome,
                upstream: upstream.cloned(),
            };
            Box::pin(dispatch(request, route, down, then)).await
        }
    }
}

/// Serves an `auth_request` subrequest of `request` (no body read, none sent back): what
/// its answer's log line says, the line itself written only under `log_subrequest on`. A
/// subrequest that closed without an answer (`return 444`) stands for a 444.
async fn subrequest(request: &OwnedRequest, route: Route) -> Outcome {
    let then = Then {
        keepalive: false,
        outcome: Outcome::default(),
        upstream: None,
    };
    let answer = Box::pin(dispatch(request.clone(), route, None, then)).await;
    let finish = answer.and_then(|mut a| a.body.take_finish());
    match finish {
        Some(mut finish) => {
            if !finish.log.subrequests {
                finish.log = Arc::default();
            }
            finish.outcome.clone()
        }
        None => Outcome {
            status: 444,
            ..Outcome::default()
        },
    }
}

/// The answer to a head nginx refused (`why`) while reading it, logged with what was parsed
/// of it; the connection closes after it. It is the `n`th request on `conn`.
pub fn refused(conn: &Arc<ConnCtx>, why: ParseError, head: PartialHead, n: u64) -> Handled {
    let request = OwnedRequest::from_partial(conn.clone(), head, n);
    let finish = refused_finish(request, Some(&HeadEnd::Refused(why)));
    Handled::Answer {
        answer: respond::refuse(why.status(), finish),
        body: ClientBody::new(None, false, false),
        idle: Duration::ZERO,
    }
}

/// A head the client left unfinished (nginx's 400) or did not finish within
/// `client_header_timeout` (408): nginx answers nothing but logs it.
pub fn cut_short(conn: &Arc<ConnCtx>, head: PartialHead, end: HeadEnd) {
    let status = match end {
        HeadEnd::TimedOut => 408,
        _ => 400,
    };
    let request = OwnedRequest::from_partial(conn.clone(), head, conn.next_request());
    let mut finish = refused_finish(request, Some(&end));
    // Dropped here: the line is written.
    finish.outcome.status = status;
}

/// Why nginx stopped reading a head.
#[derive(Debug)]
pub enum HeadEnd {
    /// It broke nginx's rules.
    Refused(ParseError),
    /// The client closed, or its connection failed (the error).
    Closed(Option<std::io::Error>),
    /// `client_header_timeout`.
    TimedOut,
}

/// The log line of a request answered before a location was chosen, and the `[info]` line
/// nginx writes when it stopped reading the head (`end`).
fn refused_finish(request: OwnedRequest, end: Option<&HeadEnd>) -> Finish {
    let (log, server) = request.conn.state.site.refused(&request.info());
    if let Some(end) = end {
        log_head_end(&request, &log.errors, &server, end);
    }
    Finish::new(request, log, Outcome::default(), None)
}

/// The error-log lines routing decided on, with nginx's context (which names the proxy pass
/// the request was routed again after, if any).
pub(super) fn log_errors(
    request: &OwnedRequest,
    logs: &[(LogTarget, String)],
    errors: &[ErrorLine],
    upstream: Option<&UpstreamLog>,
) {
    for e in errors {
        let level = match e.level {
            Severity::Alert => Level::Alert,
            Severity::Crit => Level::Crit,
            Severity::Error => Level::Error,
            Severity::Warn => Level::Warn,
            Severity::Notice => Level::Notice,
            Severity::Info => Level::Info,
        };
        if e.cycle {
            super::log::write(level, format_args!("{}", e.message));
            continue;
        }
        if let Some(upstream) = upstream {
            upstream.write(request, logs, level, &e.message);
            continue;
        }
        let host = host_and_referrer(request.header("host"), request.header("referer"));
        super::log::write_in(
            logs,
            level,
            format_args!(
                "*{} {}, client: {}, server: {}, request: \"{} {} {}\"{}{host}",
                request.conn.id,
                e.message,
                e.client.as_ref().unwrap_or(&request.conn.remote),
                String::from_utf8_lossy(&e.server),
                request.method,
                String::from_utf8_lossy(&request.target),
                request.version,
                request.subrequest_context()
            ),
        );
    }
}

/// The client's body as its headers announce it (`ngx_http_process_request_header`'s
/// checks): `Err` is the status nginx refuses the request with.
fn framing(request: &OwnedRequest) -> Result<ClientBody, (u16, String)> {
    let refuse = |status, message: &str| Err((status, format!("client sent {message}")));
    let length = match request.header("content-length") {
        Some(v) => match parse_length(v) {
            Some(n) => Some(n),
            None => return refuse(400, "invalid \"Content-Length\" header"),
        },
        None => None,
    };
    let chunked = match request.header("transfer-encoding") {
        None => false,
        Some(_) if request.version == "HTTP/1.0" => {
            return refuse(400, "HTTP/1.0 request with \"Transfer-Encoding\" header");
        }
        Some(v) if v.eq_ignore_ascii_case(b"chunked") && length.is_none() => true,
        Some(v) if v.eq_ignore_ascii_case(b"chunked") => {
            let both = "\"Content-Length\" and \"Transfer-Encoding\" headers at the same time";
            return refuse(400, both);
        }
        Some(v) => {
            let te = String::from_utf8_lossy(v);
            return refuse(501, &format!("unknown \"Transfer-Encoding\": \"{te}\""));
        }
    };
    let expect = request.version == "HTTP/1.1"
        && request
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
    Ok(ClientBody::new(length, chunked, expect))
}

/// nginx's `ngx_atoof`: digits only, no sign, no overflow.
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// nginx keeps HTTP/1.1 connections open unless the client says `close`, and HTTP/1.0 ones
/// only when the client asks for `keep-alive`. Each `Connection` line decides anew, as
/// `ngx_http_process_connection` reads it: "close" anywhere in it, else "keep-alive"
/// anywhere in it; the last line that names one counts. A CONNECT or TRACE is refused while
/// its head is read, before nginx decides on keep-alive: the connection closes after the 405.
fn wants_keepalive(request: &OwnedRequest) -> bool {
    let contains =
        |v: &[u8], word: &[u8]| v.windows(word.len()).any(|w| w.eq_ignore_ascii_case(word));
    let said = request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"connection"))
        .filter_map(|(_, v)| {
            if contains(v, b"close") {
                Some(false)
            } else if contains(v, b"keep-alive") {
                Some(true)
            } else {
                None
            }
        })
        .last();
    !crate::eval::plan::refused_method(&request.method)
        && said.unwrap_or(request.version == "HTTP/1.1")
}

/// The end of an error-log line about a request, as nginx's `ngx_http_log_error_handler`
/// writes it: `, host: "..."` and `, referrer: "..."` for the headers the client sent.
pub(super) fn host_and_referrer(host: Option<&[u8]>, referer: Option<&[u8]>) -> String {
    let mut end = String::new();
    for (name, value) in [("host", host), ("referrer", referer)] {
        if let Some(value) = value {
            end.push_str(&format!(", {name}: \"{}\"", String::from_utf8_lossy(value)));
        }
    }
    end
}

/// nginx's `[info]` line about a head it stopped reading (`ngx_http_process_request_line`,
/// `ngx_http_read_request_header`), in the context its log handler gives a request whose
/// line may be unfinished: the line as read, and the `Host` and `Referer` read whole. The
/// refusals of a header line (which nginx quotes) are not written.
fn log_head_end(
    request: &OwnedRequest,
    logs: &[(LogTarget, String)],
    server: &[u8],
    end: &HeadEnd,
) {
    let Some(refused) = &request.refused else {
        return;
    };
    // A target nginx cannot resolve is refused while the line is still being processed.
    let target = matches!(end, HeadEnd::Refused(ParseError::InvalidTarget));
    let action = match (refused.line_parsed && !target, request.pipelined) {
        (true, _) => "reading client request headers",
        (false, true) => "reading client pipelined request line",
        (false, false) => "reading client request line",
    };
    let message = match end {
        HeadEnd::Refused(ParseError::InvalidMethod) => "client sent invalid method".into(),
        HeadEnd::Refused(ParseError::InvalidRequest | ParseError::InvalidTarget) => {
            "client sent invalid request".into()
        }
        HeadEnd::Refused(ParseError::InvalidVersion) => "client sent invalid version".into(),
        HeadEnd::Refused(ParseError::UriTooLarge) => "client sent too long URI".into(),
        HeadEnd::Refused(ParseError::InvalidHeader | ParseError::HeaderTooLarge) => return,
        HeadEnd::Closed(None) => "client prematurely closed connection".into(),
        HeadEnd::Closed(Some(e)) => format!("recv() failed ({})", os_error(e)),
        HeadEnd::TimedOut => "client timed out (110: Connection timed out)".into(),
    };
    let line = match refused.line.is_empty() {
        true => String::new(),
        false => format!(", request: \"{}\"", String::from_utf8_lossy(&refused.line)),
    };
    let host = host_and_referrer(request.header("host"), request.header("referer"));
    super::log::write_in(
        logs,
        Level::Info,
        format_args!(
            "*{} {message} while {action}, client: {}, server: {}{line}{host}",
            request.conn.id,
            request.conn.remote,
            String::from_utf8_lossy(server),
        ),
    );
}
