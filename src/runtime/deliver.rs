//! Passing an upstream answer to the client: headers filtered as nginx's proxy module does
//! (hidden and hop-by-hop ones dropped, body re-framed), the body streamed, or, for a 101 to a
//! client that asked to upgrade, the 101 sent intact and a tunnel started.

use std::time::Instant;

use bytes::Bytes;

use super::body::{Finish, ProxyBody};
use super::context::OwnedRequest;
use super::exchange::{Framing, ResponseHead};
use super::peer::PeerConn;
use super::redirect;
use super::respond;
use super::response::{self, Answer, Front};
use super::state::Hold;
use super::tunnel::Tunnel;
use super::upstream_body::UpstreamBody;
use crate::eval::plan::{Outcome, ProxyRequest};

/// Everything about the request that delivering the answer needs.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub request: OwnedRequest,
    pub p: &'a ProxyRequest,
    /// The server, busy until the body or the tunnel ends.
    pub hold: Hold,
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

pub fn deliver(d: Delivery<'_>, conn: PeerConn, mut head: ResponseHead) -> Answer {
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
    // Lent to `add_header`'s evaluation (`$upstream_http_*`), then taken back.
    outcome.upstream_headers = std::mem::take(&mut head.headers);
    let added = p.add_headers.evaluate(&d.request.info(), &outcome);
    head.headers = std::mem::take(&mut outcome.upstream_headers);
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
        return if p.client_upgrade {
            upgrade(finish, p, conn, &headers, &added, d.hold)
        } else {
            // A 101 that opens nothing (nginx would pass it on and then be stuck).
            let dress = respond::Dress {
                location_base: None,
                hide_version: !p.server_tokens,
            };
            respond::answer(finish, 502, Vec::new(), None, d.keepalive, dress)
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
    let body = UpstreamBody::new(conn, head.framing, d.hold, head.keepalive, p.timeouts.read);
    let body = ProxyBody::upstream(body, finish);
    let (status, reason) = match p.status {
        Some(status) => (status, None),
        None => (head.status, Some(&head.reason[..])),
    };
    response::build(status, reason, front, &headers, &added, body)
}

fn upstream_length(head: &ResponseHead) -> Option<u64> {
    let (_, v) = head
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))?;
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

/// The 101 to send, with the tunnel to run after it.
fn upgrade(
    mut finish: Finish,
    p: &ProxyRequest,
    conn: PeerConn,
    headers: &[(Bytes, Bytes)],
    added: &[(Bytes, Bytes)],
    hold: Hold,
) -> Answer {
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
    let mut answer = response::build(
        101,
        None,
        front,
        headers,
        added,
        ProxyBody::full(None, None),
    );
    answer.tunnel = Some(Box::new(Tunnel {
        upstream: conn,
        finish,
        hold,
        timeouts: p.timeouts,
        // `$bytes_sent` counts the 101's head, which no body records here.
        head: answer.head.len() as u64,
    }));
    answer
}
