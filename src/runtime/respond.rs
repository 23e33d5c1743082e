//! Answers nginx gives itself: `Route::Respond` (a `return`, a redirect, a 404), the error
//! pages after a failed proxy attempt (502, 504, 413...) and the refusal of a request head
//! nginx cannot read (400, 414, 494, 505), with nginx's page and headers.

use bytes::Bytes;

use super::addition;
use super::body::{Finish, ProxyBody};
use super::gzip;
use super::pages;
use super::response::{self, Answer, Front};
use super::ssi;
use super::sub_filter;
use super::throttle::Throttle;
use super::trailers;
use std::sync::Arc;

use crate::eval::plan::{AddedTrailers, Addition, Gzip, Sending, Ssi, SubFilter};

/// How the header filter dresses nginx's own answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dress<'a> {
    /// Makes a `Location` starting with `/` absolute (`Response::location_base`).
    pub location_base: Option<&'a Bytes>,
    /// `server_tokens off`.
    pub hide_version: bool,
    /// The gzip filter of the level that answers.
    pub gzip: Option<&'a Gzip>,
    /// The sub filter of that level, for this request.
    pub sub_filter: Option<&'a Arc<SubFilter>>,
    /// The addition filter of that level.
    pub addition: Option<&'a Arc<Addition>>,
    /// The SSI filter of that level.
    pub ssi: Option<&'a Arc<Ssi>>,
    /// The chunked and write filters' settings of that level.
    pub sending: Sending,
    /// `Response::length_unknown`.
    pub length_unknown: bool,
    /// `add_trailer` of that level.
    pub trailers: Option<&'a Arc<dyn AddedTrailers>>,
}

/// Sends `status` with `headers` and `body` (nginx's page when `None`); `finish` logs it.
pub fn answer(
    mut finish: Finish,
    status: u16,
    mut headers: Vec<(Bytes, Bytes)>,
    body: Option<Bytes>,
    keepalive: bool,
    dress: Dress<'_>,
) -> Answer {
    let request = &finish.request;
    let page = body.is_none();
    let padded = dress.sending.msie_padding
        && request
            .header("user-agent")
            .is_some_and(crate::eval::plan::wants_padding);
    let body = body.or_else(|| pages::page(status, padded, !dress.hide_version));
    let mut keepalive = keepalive && !(page && pages::closes_connection(status));
    // nginx's chunked filter: a body of unknown length is chunked for an HTTP/1.1 client,
    // else it ends with the connection; a HEAD answer has no body to frame.
    let chunked = dress.length_unknown && request.method != "HEAD" && {
        let chunks = request.version == "HTTP/1.1" && dress.sending.chunked;
        keepalive &= chunks;
        chunks
    };
    let mut front = Front::take_from(&mut headers, connection(keepalive), dress.location_base);
    front.hide_version = dress.hide_version;
    front.chunked_off = !dress.sending.chunked;
    front.keepalive_header = dress.sending.keepalive_header;
    if page && body.is_some() {
        front.content_type = Some(Bytes::from_static(b"text/html"));
    }
    front.chunked = chunked;
    let length = body.as_ref().map_or(0, |b| b.len() as u64);
    if status != 204 && status != 304 && !dress.length_unknown {
        front.content_length = Some(length);
    }
    let mut added = Vec::new();
    let joined = addition::header_filter(
        dress.addition,
        status,
        request,
        &mut front,
        &mut headers,
        false,
    );
    let substituted = sub_filter::header_filter(
        dress.sub_filter,
        status,
        request,
        &mut front,
        &mut headers,
        false,
    );
    let processed = ssi::header_filter(
        dress.ssi,
        status,
        request,
        &mut front,
        &mut headers,
        false,
        &finish.log.errors,
    );
    let gzipped = gzip::header_filter(
        dress.gzip,
        status,
        request,
        &mut front,
        &mut headers,
        &mut added,
        false,
    );
    let body = if request.method == "HEAD" { None } else { body };
    let status = pages::shown(status);
    let trailers = trailers::expect(dress.trailers, status, request, &dress.sending, &mut front);
    finish.outcome.status = status;
    let throttle = Throttle::start(&dress.sending, &mut finish);
    let mut answer = response::build(
        status,
        None,
        front,
        &headers,
        &added,
        ProxyBody::full(body, Some(finish))
            .sub_filter(substituted)
            .ssi(processed)
            .addition(joined)
            .gzip(gzipped)
            .trailers(trailers),
    );
    answer.throttle = throttle;
    answer
}

/// The answer to a head that breaks nginx's rules; the connection closes after it.
pub fn refuse(status: u16, mut finish: Finish) -> Answer {
    finish.outcome.status = pages::shown(status);
    let body = pages::page(status, false, true);
    let front = Front {
        content_type: Some(Bytes::from_static(b"text/html")),
        content_length: Some(body.as_ref().map_or(0, |b| b.len() as u64)),
        connection: connection(false),
        ..Front::default()
    };
    response::build(
        pages::shown(status),
        None,
        front,
        &[],
        &[],
        ProxyBody::full(body, Some(finish)),
    )
}

/// The `Connection` value for a response.
pub fn connection(keepalive: bool) -> &'static str {
    if keepalive { "keep-alive" } else { "close" }
}
