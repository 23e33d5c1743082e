//! Passing an upstream answer to the client: headers filtered as nginx's proxy module does
//! (hidden and hop-by-hop ones dropped, body re-framed), the body streamed, or, for a 101 to a
//! client that asked to upgrade, the 101 sent intact and a tunnel started.

use std::time::Instant;

use bytes::Bytes;
use http::Response;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::body::{Finish, ProxyBody};
use super::context::OwnedRequest;
use super::exchange::{Framing, ResponseHead};
use super::gzip;
use super::peer::PeerConn;
use super::redirect;
use super::respond;
use super::response::{self, Front};
use super::spelling;
use super::state::Hold;
use super::stream::Downstream;
use super::tunnel;
use super::upstream_body::UpstreamBody;
use crate::eval::plan::{Outcome, ProxyRequest};

/// Everything about the request that delivering the answer needs.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub request: OwnedRequest,
    pub p: &'a ProxyRequest,
    /// The server, busy until the body or the tunnel ends.
    pub hold: Hold,
    pub on_upgrade: Option<OnUpgrade>,
    pub keepalive: bool,
    pub outcome: Outcome,
    pub started: Instant,
    /// When the answering upstream was sent the request.
    pub sent_at: Instant,
}

/// Headers nginx never copies from the upstream response: it frames the body itself.
const HOP_BY_HOP: [&[u8]; 4] = [
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"content-length",
];

pub async fn deliver(d: Delivery<'_>, conn: PeerConn, head: ResponseHead) -> Response<ProxyBody> {
    let p = d.p;
    let mut headers: Vec<(Bytes, Bytes)> = head
        .headers
        .iter()
        .filter(|(name, _)| {
            !HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
                && !p.hide_headers.iter().any(|h| name.eq_ignore_ascii_case(h))
        })
        .cloned()
        .collect();
    let mut outcome = d.outcome;
    // An `error_page` that sent the request here may impose its status (nginx's err_status).
    outcome.status = p.status.unwrap_or(head.status);
    outcome.upstream_headers = head.headers.clone();
    let mut added = p.add_headers.evaluate(&d.request.info(), &outcome);
    outcome.upstream_headers = if p.log.files.is_empty() {
        Vec::new()
    } else {
        // Copied: slices of the read buffer would keep all of it alive with the request.
        head.headers
            .iter()
            .map(|(n, v)| (Bytes::copy_from_slice(n), Bytes::copy_from_slice(v)))
            .collect()
    };
    let finish = Finish {
        request: d.request,
        log: p.log.clone(),
        outcome,
        started: d.started,
        upstream_sent: Some(d.sent_at),
    };
    if head.status == 101 {
        return match (p.client_upgrade, d.on_upgrade) {
            (true, Some(on_upgrade)) => {
                let spelled = spelling::preserving(&headers, &added).await;
                let mut response = upgrade(finish, p, conn, &headers, &added, on_upgrade, d.hold);
                response
                    .extensions_mut()
                    .extend(spelled.unwrap_or_default());
                response
            }
            // hyper cannot send a 101 that opens nothing; nginx would pass it on.
            _ => {
                let dress = respond::Dress {
                    location_base: None,
                    hide_version: !p.server_tokens,
                    gzip: p.gzip.as_deref(),
                };
                respond::answer(finish, 502, Vec::new(), None, d.keepalive, dress)
            }
        };
    }
    let http11 = finish.request.version == "HTTP/1.1";
    // An HTTP/1.0 client cannot be told where a body of unknown length ends but by a close.
    let unframed = matches!(head.framing, Framing::Chunked | Framing::UntilClose);
    let keepalive = d.keepalive && (http11 || !unframed);
    let location = redirect::apply(&mut headers, p);
    let mut front = Front::take_upstream(&mut headers, respond::connection(keepalive));
    front.location = location;
    front.hide_version = !p.server_tokens;
    match head.framing {
        Framing::Length(n) => front.content_length = Some(n),
        Framing::None if finish.request.method == "HEAD" => {
            front.content_length = upstream_length(&head);
        }
        Framing::None => {}
        Framing::Chunked | Framing::UntilClose => front.chunked = http11,
    }
    let (request, gzip) = (&finish.request, p.gzip.as_deref());
    let gzipped = gzip::header_filter(
        gzip,
        head.status,
        request,
        &mut front,
        &mut headers,
        &mut added,
        true,
    );
    let spelled = spelling::preserving(&headers, &added).await;
    let body = UpstreamBody::new(conn, head.framing, d.hold, head.keepalive, p.timeouts.read);
    let body = ProxyBody::upstream(body, finish).gzip(gzipped);
    let (status, reason) = match p.status {
        Some(status) => (status, None),
        None => (head.status, Some(&head.reason[..])),
    };
    let mut response = response::build(status, reason, front, &headers, &added, body);
    response
        .extensions_mut()
        .extend(spelled.unwrap_or_default());
    response
}

fn upstream_length(head: &ResponseHead) -> Option<u64> {
    let (_, v) = head
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))?;
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

/// Sends the 101 and, once hyper hands the client connection back, runs the tunnel. The
/// access log line is written when the tunnel ends, as nginx does.
fn upgrade(
    mut finish: Finish,
    p: &ProxyRequest,
    conn: PeerConn,
    headers: &[(Bytes, Bytes)],
    added: &[(Bytes, Bytes)],
    on_upgrade: OnUpgrade,
    hold: Hold,
) -> Response<ProxyBody> {
    let timeouts = p.timeouts;
    if finish.log.files.is_empty() {
        // Nothing will be logged: keep only what holds the connection's place.
        finish.request.headers = Vec::new();
        finish.outcome = Outcome::default();
    }
    let front = Front {
        connection: "upgrade",
        hide_version: !p.server_tokens,
        ..Front::default()
    };
    let response = response::build(
        101,
        None,
        front,
        headers,
        added,
        ProxyBody::full(None, None),
    );
    // `$bytes_sent` counts the 101's head, which no body records here.
    let head = response::head_size(response.status(), response.headers());
    tokio::spawn(async move {
        let client = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                super::log::info(format_args!("client upgrade failed: {e}"));
                return;
            }
        };
        // What the upstream sent right after its 101 goes to the client first; the read
        // buffer itself is released (an idle tunnel holds no buffer).
        let PeerConn {
            stream: upstream,
            buf,
            ..
        } = conn;
        let to_client = buf.to_vec();
        drop(buf);
        let report = match client.downcast::<TokioIo<Downstream>>() {
            Ok(parts) => {
                let to_upstream = parts.read_buf.to_vec();
                drop(parts.read_buf);
                tunnel::run(
                    parts.io.into_inner(),
                    upstream,
                    to_upstream,
                    to_client,
                    timeouts,
                )
                .await
            }
            Err(other) => {
                tunnel::run(
                    TokioIo::new(other),
                    upstream,
                    Vec::new(),
                    to_client,
                    timeouts,
                )
                .await
            }
        };
        match &report.end {
            Ok(tunnel::End::Closed) => {}
            Ok(end) => {
                let who = if *end == tunnel::End::ClientTimedOut {
                    "client"
                } else {
                    "upstream"
                };
                super::log::info(format_args!(
                    "*{} {who} timed out (110: Connection timed out) while proxying upgraded connection, client: {}",
                    finish.request.conn.id,
                    finish.request.conn.remote.ip()
                ));
            }
            Err(e) => super::log::info(format_args!(
                "*{} recv() failed ({}) while proxying upgraded connection",
                finish.request.conn.id,
                crate::syntax::include::os_error(e)
            )),
        }
        finish.outcome.body_bytes_sent = report.to_client;
        finish.outcome.bytes_sent = head + report.to_client;
        drop(finish);
        drop(hold);
    });
    response
}
