//! Passing an upstream answer to the client: headers filtered as nginx's proxy module does
//! (hidden and hop-by-hop ones dropped, body re-framed), the body streamed, or, for a 101 to a
//! client that asked to upgrade, the 101 sent intact and a tunnel started.

use std::time::Instant;

use bytes::Bytes;

use super::addition;
use super::body::{Finish, ProxyBody};
use super::context::OwnedRequest;
use super::error::ProxyError;
use super::exchange::{Framing, ResponseHead};
use super::forced_ranges;
use super::forward::UpstreamLog;
use super::gunzip;
use super::gzip;
use super::peer::PeerConn;
use super::redirect;
use super::respond;
use super::response::{self, Answer, Front};
use super::ssi;
use super::state::Hold;
use super::sub_filter;
use super::throttle::Throttle;
use super::trailers;
use super::tunnel::Tunnel;
use super::upstream_body::UpstreamBody;
use super::write::POSTPONE_OUTPUT;
use crate::eval::plan::{IgnoreHeaders, Outcome, ProxyRequest, Ranged, Ranges, Sending, ranged};

/// Everything about the request that delivering the answer needs.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub request: OwnedRequest,
    pub p: &'a ProxyRequest,
    pub keepalive: bool,
    pub outcome: Outcome,
    /// When the answering upstream was sent the request (for an answer from the cache,
    /// which names no upstream, when it was found).
    pub sent_at: Instant,
    /// What the body's error-log lines name besides the request.
    pub upstream_log: UpstreamLog,
    /// The range filter may cut a body held whole (an answer of `proxy_cache` whose
    /// upstream sent `Accept-Ranges`): `Some(single)`, one range at most when `single`.
    pub ranges: Option<bool>,
}

/// Headers nginx never copies from the upstream response: it frames the body itself.
const HOP_BY_HOP: [&[u8]; 4] = [
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"content-length",
];

/// Where the answer's body comes from. Moved once, into [`deliver`]: boxing the connection
/// would cost every proxied answer an allocation.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Source {
    /// The upstream's connection, and the server, busy until the body or the tunnel ends.
    Upstream(PeerConn, Hold),
    /// The body read whole: an entry of `proxy_cache`, found or just stored, or what the
    /// upstream sent before the error that `cut` it.
    Stored {
        data: Bytes,
        cut: Option<ProxyError>,
    },
}

pub fn deliver(d: Delivery<'_>, source: Source, mut head: ResponseHead) -> Answer {
    let p = d.p;
    let client_head = d.request.method == "HEAD";
    let source = match source {
        Source::Upstream(conn, hold) if head.http09 => return http09(d, conn, hold, client_head),
        source => source,
    };
    if client_head && head.framing != Framing::None {
        // `proxy_method` sent something else for a HEAD request: nginx sends the head
        // alone and closes the upstream connection without reading the body.
        head.framing = Framing::None;
        head.keepalive = false;
    }
    let mut headers: Vec<(Bytes, Bytes)> = head
        .headers
        .iter()
        .filter(|(name, _)| {
            // `ngx_http_upstream_copy_allow_ranges` leaves it to the range filter.
            let forced = p.force_ranges && name.eq_ignore_ascii_case(b"accept-ranges");
            !(forced
                || HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
                || p.hide_headers.iter().any(|h| name.eq_ignore_ascii_case(h)))
        })
        .cloned()
        .collect();
    let mut sending = p.sending;
    // An HTTP/1.0 client (or any, under `chunked_transfer_encoding off`) cannot be told where
    // a body of unknown length ends but by a close; nginx's chunked filter, which decides it,
    // leaves 1xx answers alone (and unframed).
    let chunks = d.request.version == "HTTP/1.1" && sending.chunked;
    let unframed =
        matches!(head.framing, Framing::Chunked | Framing::UntilClose) && head.status >= 200;
    // A graceful shutdown that began while the upstream worked keeps no connection alive.
    let keepalive = d.keepalive && (chunks || !unframed) && !d.request.conn.draining();
    let connection = match head.status {
        101 => "upgrade",
        _ => respond::connection(keepalive),
    };
    let length = match head.framing {
        Framing::Length(n) => Some(n),
        // A 304 keeps the upstream's length, as nginx's header filter writes it; so does a
        // 204 sent with the upstream's status line (the filter drops a 204's length only
        // when it writes the status line itself, after an `error_page` set the status).
        Framing::None
            if client_head
                || head.status == 304
                || (head.status == 204 && p.status.is_none())
                || p.method.eq_ignore_ascii_case(b"HEAD") =>
        {
            upstream_length(&head)
        }
        _ => None,
    };
    let mut outcome = d.outcome;
    // An `error_page` that sent the request here may impose its status (nginx's err_status).
    outcome.status = p.status.unwrap_or(head.status);
    if let Some(rate) = accel_limit_rate(&head.headers, p.ignore_headers) {
        sending.limit_rate = rate;
        outcome.limit_rate = Some(rate);
    }
    // Unbuffered, nginx's upstream module sets the rate to 0 once the head is sent.
    if !head.buffered(p.buffers.buffering, p.ignore_headers) {
        sending.limit_rate = 0;
        sending.proxy_limit_rate = 0;
    }
    // Lent to `add_header`'s evaluation (`$upstream_http_*`), then taken back.
    outcome.upstream_headers = std::mem::take(&mut head.headers);
    let location = redirect::apply(&mut headers, p, &d.request.info(), &mut outcome);
    rewrite_cookies(p, &d.request, &mut outcome, &mut headers);
    if !p.carried.is_empty() {
        // What the request held before this upstream answered goes out first.
        headers.splice(0..0, p.carried.iter().cloned());
    }
    let set =
        |headers: &[(Bytes, Bytes)]| set_so_far(headers, location.as_ref(), length, connection);
    let mut added = p
        .add_headers
        .evaluate(&d.request.info(), &outcome, &set, &mut headers);
    added.extend(p.userid.iter().cloned());
    head.headers = std::mem::take(&mut outcome.upstream_headers);
    outcome.upstream_headers = if p.log.files.is_empty() && !p.subrequest {
        Vec::new()
    } else {
        // Copied: slices of the read buffer would keep all of it alive with the request.
        head.headers
            .iter()
            .map(|(n, v)| (Bytes::copy_from_slice(n), Bytes::copy_from_slice(v)))
            .collect()
    };
    let mut finish = Finish::new(d.request, p.log.clone(), outcome, Some(d.sent_at));
    // A tunnel is not throttled (`ngx_http_upstream_process_upgraded` writes past the
    // write filter), but its head notes the rate as any answer's does.
    let throttle = Throttle::start(&sending, &mut finish);
    // The FastCGI, SCGI and uwsgi modules add no empty `Server` and `Date` for the
    // upstream's missing ones (the proxy module does): nginx's own are written then.
    let upstream_has = |name: &[u8]| {
        passes(p, name)
            && (p.gateway.is_none() || headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)))
    };
    let (upstream_server, upstream_date) = (upstream_has(b"server"), upstream_has(b"date"));
    if head.status == 101
        && let Source::Upstream(conn, hold) = source
    {
        // nginx's header filter writes the upstream's `Content-Length` on a 101 too.
        let length = upstream_length(&head);
        let front = Front {
            connection,
            location,
            hide_version: !p.server_tokens,
            content_length: length,
            upstream_server,
            ..Front::default()
        };
        let reason = Some(&head.reason[..]);
        if p.client_upgrade {
            // Built with the log line, which notes the head (`$bytes_sent`,
            // `$sent_http_*`), then handed to the tunnel.
            let body = ProxyBody::full(None, Some(finish));
            let answer = response::build(101, reason, front, &headers, &added, body);
            return upgrade(answer, p, conn, hold, d.upstream_log);
        }
        // Nothing asked to upgrade: nginx passes the 101 on as an ordinary answer, its body
        // the upstream's `Content-Length` or all it sends until it closes. The chunked
        // filter leaves 1xx answers alone, so the body goes unframed and the client
        // connection stays open for another request as it would have. The body goes out
        // when the upstream ends it, as nginx's buffers let it out, and a head shorter than
        // `postpone_output` with it.
        let body = UpstreamBody::new(
            conn,
            head.framing,
            hold,
            false,
            p.timeouts.read,
            head.starved,
        )
        .gathered();
        let mut answer = response::build(
            101,
            reason,
            front,
            &headers,
            &added,
            ProxyBody::upstream(body, finish, d.upstream_log),
        );
        answer.keepalive = d.keepalive;
        answer.throttle = throttle;
        answer.hold_head = answer.head.len() < POSTPONE_OUTPUT;
        answer.watch_client = !p.ignore_client_abort;
        return answer;
    }
    let mut front = Front::take_upstream(&mut headers, connection);
    if front.content_type.is_none() {
        front.content_type.clone_from(&p.content_type);
    }
    front.location = location;
    front.hide_version = !p.server_tokens;
    front.upstream_server = upstream_server;
    if upstream_date {
        // The last `Date` line is the one nginx's `headers_out.date` keeps.
        let mut date = None;
        headers.retain(|(n, v)| {
            let is_date = n.eq_ignore_ascii_case(b"date");
            if is_date {
                date = Some(v.clone());
            }
            !is_date
        });
        front.upstream_date = Some(date);
    }
    front.content_length = length;
    front.chunked = unframed && chunks;
    front.chunked_off = !sending.chunked;
    front.keepalive_header = sending.keepalive_header;
    let gunzipped =
        gunzip::header_filter(p.gzip.as_deref(), &finish.request, &mut front, &mut headers);
    let joined = addition::header_filter(
        p.addition.as_ref(),
        p.status.unwrap_or(head.status),
        &finish.request,
        &mut front,
        &mut headers,
        true,
    );
    let substituted = sub_filter::header_filter(
        p.sub_filter.as_ref(),
        head.status,
        &finish.request,
        &mut front,
        &mut headers,
        true,
    );
    let processed = ssi::header_filter(
        p.ssi.as_ref(),
        p.status.unwrap_or(head.status),
        &finish.request,
        &mut front,
        &mut headers,
        true,
        &finish.log.errors,
    );
    let gzipped = gzip::header_filter(
        p.gzip.as_deref(),
        head.status,
        &finish.request,
        &mut front,
        &mut headers,
        &mut added,
        true,
    );
    let (mut status, mut reason) = match p.status {
        Some(status) => (status, None),
        None => (head.status, Some(&head.reason[..])),
    };
    let mut slice = None;
    // A cached answer goes through the cache's range filter below, several ranges allowed.
    let cached = d.ranges == Some(false);
    if p.force_ranges
        && p.range_filter
        && !p.subrequest
        && !cached
        && joined.is_none()
        && processed.is_none()
    {
        let length = front.content_length;
        match forced_ranges::decide(&finish.request, status, length, &headers, &added) {
            None => {}
            Some(Ranges::Whole) => added.push((
                Bytes::from_static(b"Accept-Ranges"),
                Bytes::from_static(b"bytes"),
            )),
            Some(Ranges::Partial(list)) => {
                let (start, end) = list.first().copied().unwrap_or_default();
                (status, reason) = (206, None);
                finish.outcome.status = 206;
                front.content_length = Some(end - start);
                let size = length.unwrap_or_default();
                let value = format!("bytes {start}-{}/{size}", end.saturating_sub(1));
                added.push((Bytes::from_static(b"Content-Range"), Bytes::from(value)));
                slice = Some((start, end));
            }
            Some(Ranges::NotSatisfiable) => {
                // The upstream is closed with the unread body.
                let size = length.unwrap_or_default();
                return not_satisfiable(finish, p, sending, keepalive, headers, added, size);
            }
        }
    }
    // The range filter on a body the cache keeps or gives, whose upstream allowed ranges:
    // the upstream's `Accept-Ranges` gives way to nginx's own (1.22 keeps an upstream's
    // `Content-Range` beside the filter's).
    let source = match source {
        Source::Stored { data, cut: None }
            if d.ranges.is_some()
                && p.range_filter
                && slice.is_none()
                && (cached || !p.force_ranges)
                && status == 200
                && p.status.is_none()
                && substituted.is_none()
                && joined.is_none()
                && processed.is_none()
                && gzipped.is_none()
                && gunzipped.is_none()
                && front.content_length.is_some() =>
        {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(b"accept-ranges"));
            let request = &finish.request;
            let ranged = ranged(
                request.header("range"),
                request.header("if-range"),
                &head.headers,
                front.content_type.as_deref(),
                &data,
                d.ranges == Some(true),
            );
            let data = match ranged {
                Ranged::Whole => {
                    added.push((
                        Bytes::from_static(b"Accept-Ranges"),
                        Bytes::from_static(b"bytes"),
                    ));
                    data
                }
                Ranged::Partial {
                    body,
                    content_range,
                    content_type,
                } => {
                    if let Some(t) = content_type {
                        front.content_type = Some(t);
                    }
                    if let Some(range) = content_range {
                        added.push((Bytes::from_static(b"Content-Range"), range));
                    }
                    front.content_length = Some(body.len() as u64);
                    (status, reason) = (206, None);
                    finish.outcome.status = 206;
                    body
                }
                Ranged::NotSatisfiable(_) => {
                    let size = data.len() as u64;
                    return not_satisfiable(finish, p, sending, keepalive, headers, added, size);
                }
            };
            Source::Stored { data, cut: None }
        }
        source => source,
    };
    let trailers = trailers::expect(
        p.trailers.as_ref(),
        status,
        &finish.request,
        &sending,
        &mut front,
    );
    // Bytes after a head that announced no body (a 204, a 304, the answer to `proxy_method
    // HEAD`, `Content-Length: 0`) reach nginx's copy filter as a body of length 0 unless the
    // client asked for the head alone (HEAD), which ends the request first: it counts them
    // (`$upstream_response_length`), warns, drops them and does not keep the connection.
    let chunked_body = head.framing == Framing::Chunked;
    let body = match source {
        Source::Upstream(conn, hold) => {
            let surplus = matches!(head.framing, Framing::None | Framing::Length(0))
                && !conn.buf.is_empty()
                && !client_head;
            let body = UpstreamBody::new(
                conn,
                if surplus {
                    Framing::Length(0)
                } else {
                    head.framing
                },
                hold,
                head.keepalive && !surplus,
                p.timeouts.read,
                head.starved,
            )
            .limited(sending.proxy_limit_rate);
            let body = if surplus { body.overrun() } else { body };
            let body = match slice {
                Some((start, end)) => body.sliced(start, end),
                None => body,
            };
            ProxyBody::upstream(body, finish, d.upstream_log)
        }
        // A HEAD request gets the head alone.
        Source::Stored { data, cut: None } => {
            let data = match slice {
                Some((start, end)) => data.slice(start as usize..(end as usize).min(data.len())),
                None => data,
            };
            ProxyBody::full((!client_head).then_some(data), Some(finish))
        }
        Source::Stored {
            data,
            cut: Some(error),
        } => ProxyBody::cut(data, error, finish, d.upstream_log),
    };
    let inflating = gunzipped.is_some();
    let body = body
        .gunzip(gunzipped)
        .sub_filter(substituted)
        .ssi(processed)
        .addition(joined)
        .gzip(gzipped)
        .trailers(trailers);
    let mut answer = response::build(status, reason, front, &headers, &added, body);
    answer.throttle = throttle;
    // Through nginx's buffers a head shorter than `postpone_output` goes out with the
    // body's first data: a chunked body broken before any (the only body whose reading
    // fails the request) leaves the client nothing. Other bodies' heads go at once.
    // So does an inflated body's: one that zlib refuses before any of it is out leaves the
    // client nothing too.
    answer.hold_head = (inflating
        || chunked_body && head.buffered(p.buffers.buffering, p.ignore_headers))
        && answer.head.len() < POSTPONE_OUTPUT;
    answer.watch_client = !p.ignore_client_abort;
    answer
}

/// An answer nginx takes for HTTP/0.9's ([`ResponseHead::http09`]): its header filter writes
/// nothing, so the client gets the server's bytes as they come, with no head, until the
/// server closes, and the connection stays as the request left it; `$status` is 009 (no
/// status was set). A HEAD request gets none of the bytes: nginx reads them as a body of
/// length 0 (the request is not marked header-only when no head is written), counting and
/// warning of them.
fn http09(d: Delivery<'_>, conn: PeerConn, hold: Hold, client_head: bool) -> Answer {
    let p = d.p;
    let mut outcome = d.outcome;
    outcome.status = p.status.unwrap_or(9);
    let mut finish = Finish::new(d.request, p.log.clone(), outcome, Some(d.sent_at));
    let throttle = Throttle::start(&p.sending, &mut finish);
    let framing = match client_head {
        true => Framing::Length(0),
        false => Framing::UntilClose,
    };
    let timeout = p.timeouts.read;
    let body = UpstreamBody::new(conn, framing, hold, false, timeout, false)
        .limited(p.sending.proxy_limit_rate);
    let body = if client_head { body.overrun() } else { body };
    Answer {
        head: bytes::BytesMut::new(),
        body: ProxyBody::upstream(body, finish, d.upstream_log),
        chunked: false,
        keepalive: d.keepalive,
        tunnel: None,
        throttle,
        hold_head: false,
        watch_client: !p.ignore_client_abort,
        background: Vec::new(),
    }
}

/// `proxy_cookie_*` on the `Set-Cookie` lines of `headers` (copied from the upstream's, in
/// `outcome.upstream_headers`), whose lines then keep the marks nginx's in-place rewrite
/// leaves in its buffer.
pub(super) fn rewrite_cookies(
    p: &ProxyRequest,
    request: &OwnedRequest,
    outcome: &mut Outcome,
    headers: &mut [(Bytes, Bytes)],
) {
    let Some(cookies) = &p.cookies else {
        return;
    };
    let marks = cookies.rewrite(&request.info(), outcome, headers);
    let upstream = outcome.upstream_headers.iter_mut();
    let cookies = upstream.filter(|(n, _)| n.eq_ignore_ascii_case(b"set-cookie"));
    for ((_, line), mark) in cookies.zip(marks) {
        if let Some(mark) = mark {
            *line = mark;
        }
    }
}

/// `X-Accel-Limit-Rate` (`ngx_http_upstream_process_limit_rate`): digits only, else ignored;
/// not read when `proxy_ignore_headers` names it.
pub(super) fn accel_limit_rate(headers: &[(Bytes, Bytes)], ignore: IgnoreHeaders) -> Option<u64> {
    if ignore.x_accel_limit_rate {
        return None;
    }
    let (_, v) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"x-accel-limit-rate"))?;
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// The response headers set when nginx's headers filter runs, as `$sent_http_*` in an
/// `add_header` finds them: the upstream's that pass, the rewritten `Location`, the length
/// and the `Connection` value (`Transfer-Encoding` comes later, with the chunked filter).
/// The range filter's 416 in place of the answer: nginx finalizes the request with it (its
/// page; an `error_page` for it is not looked at here). `size` is the body's the ranges
/// were asked of.
fn not_satisfiable(
    finish: Finish,
    p: &ProxyRequest,
    sending: Sending,
    keepalive: bool,
    headers: Vec<(Bytes, Bytes)>,
    added: Vec<(Bytes, Bytes)>,
    size: u64,
) -> Answer {
    let lines = forced_ranges::not_satisfiable(headers, added, size);
    let dress = respond::Dress {
        hide_version: !p.server_tokens,
        sending,
        trailers: p.trailers.as_ref(),
        ..respond::Dress::default()
    };
    respond::answer(finish, 416, lines, None, keepalive, dress)
}

fn set_so_far(
    headers: &[(Bytes, Bytes)],
    location: Option<&Bytes>,
    length: Option<u64>,
    connection: &'static str,
) -> Vec<(Bytes, Bytes)> {
    let mut set = headers.to_vec();
    if let Some(location) = location {
        set.push((Bytes::from_static(b"Location"), location.clone()));
    }
    if let Some(n) = length {
        set.push((
            Bytes::from_static(b"Content-Length"),
            Bytes::from(n.to_string()),
        ));
    }
    set.push((
        Bytes::from_static(b"Connection"),
        Bytes::from_static(connection.as_bytes()),
    ));
    set
}

/// Whether the upstream's header `name` is not hidden.
fn passes(p: &ProxyRequest, name: &[u8]) -> bool {
    !p.hide_headers.iter().any(|h| h.eq_ignore_ascii_case(name))
}

fn upstream_length(head: &ResponseHead) -> Option<u64> {
    let (_, v) = head
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))?;
    super::response::content_length(v)
}

/// The 101 `answer` to send, with the tunnel to run after it, which takes over the log
/// line: it is written when the tunnel ends, as nginx does. `log` names the request in the
/// tunnel's error-log lines.
fn upgrade(
    mut answer: Answer,
    p: &ProxyRequest,
    conn: PeerConn,
    hold: Hold,
    mut log: UpstreamLog,
) -> Answer {
    let Some(mut finish) = answer.body.take_finish() else {
        return answer;
    };
    if finish.log.files.is_empty() {
        // Nothing will be logged: keep only what holds the connection's place, and the
        // `Host` and `Referer` the error log names.
        log.keep_headers(&finish.request);
        finish.request.headers = Vec::new();
        finish.outcome = Outcome::default();
    }
    answer.tunnel = Some(Box::new(Tunnel {
        upstream: conn,
        finish,
        hold,
        timeouts: p.timeouts,
        log,
    }));
    answer
}
