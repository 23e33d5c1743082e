//! The request lifecycle, in nginx's order: count the request, check how its body is framed,
//! ask the site for a [`Route`], then either answer directly or proxy (which may end in a
//! tunnel). The access log is written by the response body when the request is over.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::body::Finish;
use super::client::{Client, RequestHead};
use super::context::{ConnCtx, OwnedRequest};
use super::forward::{self, Downstream};
use super::request_body::ClientBody;
use super::respond;
use super::response::Answer;
use crate::eval::plan::{Outcome, Route};

/// What became of a request.
#[derive(Debug)]
// Returned once per request and moved once: boxing the answer would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum Handled {
    /// Send this; `body` is what is left of the client's body.
    Answer { answer: Answer, body: ClientBody },
    /// Close without answering: `return 444`, or the client went away.
    Close,
}

/// One request on `conn`, whose body (if any) follows `head` on `client`.
pub async fn handle(conn: &Arc<ConnCtx>, head: RequestHead, client: &mut Client) -> Handled {
    let started = Instant::now();
    let n = conn.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let Some(request) = OwnedRequest::from_head(conn.clone(), head, n) else {
        return refused(400);
    };
    let framing = framing(&request);
    let route = conn.state.site.route(&request.info());
    let keepalive = framing.is_ok()
        && wants_keepalive(&request)
        && route.keepalive().allow_another(n, conn.opened.elapsed());
    let log = match &route {
        Route::Respond(r) => r.log.clone(),
        Route::Proxy(p) => p.log.clone(),
    };
    let finish = |request, status| Finish {
        request,
        log,
        outcome: Outcome {
            status,
            ..Outcome::default()
        },
        started,
        upstream_sent: None,
    };
    let mut body = match framing {
        Ok(body) => body,
        Err(status) => {
            let answer = respond::answer(finish(request, status), status, Vec::new(), None, false);
            return Handled::Answer {
                answer,
                body: ClientBody::new(None, false, false),
            };
        }
    };
    let answer = match route {
        Route::Respond(r) if r.status == 444 => {
            drop(finish(request, 444));
            return Handled::Close;
        }
        Route::Respond(r) => {
            let finish = finish(request, 0);
            respond::answer(finish, r.status, r.headers, r.body, keepalive)
        }
        Route::Proxy(p) => {
            // Logged if the client goes away before the answer: nginx's 499.
            let abandoned = (!p.log.files.is_empty()).then(|| finish(request.clone(), 499));
            let start = forward::Start {
                keepalive,
                started,
                abandoned,
            };
            let down = Downstream {
                client,
                body: &mut body,
            };
            match forward::proxy(request, *p, down, start).await {
                Some(answer) => answer,
                None => return Handled::Close,
            }
        }
    };
    Handled::Answer { answer, body }
}

/// The answer to a request nginx could not read; the connection closes after it.
pub fn refused(status: u16) -> Handled {
    Handled::Answer {
        answer: respond::refuse(status),
        body: ClientBody::new(None, false, false),
    }
}

/// The client's body as its headers announce it (`ngx_http_process_request_header`'s
/// checks): `Err` is the status nginx refuses the request with.
fn framing(request: &OwnedRequest) -> Result<ClientBody, u16> {
    let length = match request.header("content-length") {
        Some(v) => Some(parse_length(v).ok_or(400u16)?),
        None => None,
    };
    let chunked = match request.header("transfer-encoding") {
        None => false,
        Some(_) if request.version == "HTTP/1.0" => return Err(400),
        Some(v) if v.eq_ignore_ascii_case(b"chunked") && length.is_none() => true,
        Some(v) if v.eq_ignore_ascii_case(b"chunked") => return Err(400),
        Some(_) => return Err(501),
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
