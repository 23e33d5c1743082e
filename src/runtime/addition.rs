//! nginx's addition filter (`ngx_http_addition_filter_module`): the bodies of subrequests to
//! `add_before_body` and `add_after_body` written before and after the body of a main
//! request's 200 of `addition_types`.
//!
//! [`header_filter`] decides and rewrites the head; [`Added`] then streams the three bodies
//! in turn, each subrequest started when its turn comes (nginx issues it from the body
//! filter).

use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;

use super::context::OwnedRequest;
use super::error::ProxyError;
use super::gzip::weaken_etag;
use super::response::Front;
use super::ssi::SharedSsi;
use super::sub_filter;
use super::subrequest::Subrequest;
use crate::eval::plan::Addition;

/// `ngx_http_addition_header_filter` on a response about to be sent (`upstream` as for
/// `gzip::header_filter`): a 200 of the filter's types loses its `Content-Length` and
/// `Accept-Ranges`, and its `ETag` is made weak. Returns the body's filter unless the
/// answer has no body (a HEAD request's: nginx issues the subrequests from the body filter).
pub fn header_filter(
    addition: Option<&Arc<Addition>>,
    status: u16,
    request: &OwnedRequest,
    front: &mut Front,
    headers: &mut Vec<(Bytes, Bytes)>,
    upstream: bool,
) -> Option<Box<Added>> {
    let addition = addition?;
    if status != 200
        || !addition
            .types
            .matches(front.content_type.as_deref(), upstream)
    {
        return None;
    }
    front.content_length = None;
    sub_filter::remove_last(headers, "accept-ranges");
    weaken_etag(headers);
    if !sub_filter::length_unknown(status, request, front) {
        return None;
    }
    Some(Box::new(Added {
        request: request.clone(),
        addition: addition.clone(),
        stage: Stage::Before,
        current: None,
    }))
}

/// Where the joined body stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Before,
    Main,
    After,
    Done,
}

/// A main request's body with the subrequests' around it.
#[derive(Debug)]
pub struct Added {
    /// The main request as routing left it, whose subrequests these are.
    request: OwnedRequest,
    addition: Arc<Addition>,
    stage: Stage,
    /// The subrequest of the stage, once started.
    current: Option<Subrequest>,
}

impl Added {
    /// What the main request's SSI filter keeps, for the SSI filters of the subrequests.
    pub fn share(&mut self, ssi: SharedSsi) {
        self.request.ssi = Some(ssi);
    }

    /// The next piece of the joined body, pulling the request's own from `main` (its
    /// filtered poll): Pending only when a subrequest or `main` is.
    pub fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        mut main: impl FnMut(&mut Context<'_>) -> Poll<Option<Result<Bytes, ProxyError>>>,
    ) -> Poll<Option<Result<Bytes, ProxyError>>> {
        loop {
            let (uri, next) = match self.stage {
                Stage::Before => (&self.addition.before, Stage::Main),
                Stage::Main => match main(cx) {
                    Poll::Ready(None) => {
                        self.stage = Stage::After;
                        continue;
                    }
                    other => return other,
                },
                Stage::After => (&self.addition.after, Stage::Done),
                Stage::Done => return Poll::Ready(None),
            };
            let Some(uri) = uri else {
                self.stage = next;
                continue;
            };
            let request = &self.request;
            let sub =
                (self.current).get_or_insert_with(|| Subrequest::start(request, uri, b"", None));
            match ready!(sub.poll_next(cx)) {
                Some(piece) => return Poll::Ready(Some(piece)),
                None => {
                    self.current = None;
                    self.stage = next;
                }
            }
        }
    }
}
