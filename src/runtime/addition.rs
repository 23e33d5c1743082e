//! nginx's addition filter (`ngx_http_addition_filter_module`): the bodies of subrequests to
//! `add_before_body` and `add_after_body` written before and after the body of a main
//! request's 200 of `addition_types`.
//!
//! [`header_filter`] decides and rewrites the head; [`Added`] then streams the three bodies
//! in turn. A [`Subrequest`] is what any filter that writes a subrequest's body into the
//! request's own uses: routed by `Site::subrequest` when its turn comes (nginx issues it
//! from the body filter), served by `request::dispatch` as the request is, its head dropped
//! (nginx's header filter sends none for a subrequest) and its body passed on as it comes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;

use super::body::ProxyBody;
use super::context::OwnedRequest;
use super::error::ProxyError;
use super::gzip::weaken_etag;
use super::request::{self, Then};
use super::response::{Answer, Front};
use super::sub_filter;
use crate::eval::plan::{Addition, Outcome};

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
            let sub = (self.current).get_or_insert_with(|| Subrequest::start(request, uri, b""));
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

/// The answer of a subrequest being served.
type Serving = Pin<Box<dyn Future<Output = Option<Answer>> + Send>>;

/// A subrequest whose body goes into its main request's.
pub struct Subrequest {
    state: SubState,
}

enum SubState {
    Serving(Serving),
    Writing(Box<ProxyBody>),
    Over,
}

impl std::fmt::Debug for Subrequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            SubState::Serving(_) => "serving",
            SubState::Writing(_) => "writing",
            SubState::Over => "over",
        };
        f.debug_struct("Subrequest").field("state", &state).finish()
    }
}

impl Subrequest {
    /// `ngx_http_subrequest` of `main` to `uri` with `args`: routed now, served as it is
    /// polled. Its error-log lines name it after the request's line.
    pub fn start(main: &OwnedRequest, uri: &Bytes, args: &[u8]) -> Subrequest {
        let route = main.conn.state.site.subrequest(&main.info(), uri, args);
        let mut sub = main.clone();
        sub.subrequest = Some(uri.clone());
        let then = Then {
            keepalive: false,
            outcome: Outcome::default(),
            upstream: None,
        };
        let serving: Serving = Box::pin(request::dispatch(sub, route, None, then));
        Subrequest {
            state: SubState::Serving(serving),
        }
    }

    /// The next piece of the subrequest's body, `None` at its end (or when it closed
    /// without an answer, `return 444`: nothing). Its log line is written at the end, only
    /// under `log_subrequest on`.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, ProxyError>>> {
        loop {
            match &mut self.state {
                SubState::Serving(serving) => match ready!(serving.as_mut().poll(cx)) {
                    Some(answer) => {
                        let mut body = answer.body;
                        body.as_subrequest();
                        self.state = SubState::Writing(Box::new(body));
                    }
                    None => self.state = SubState::Over,
                },
                SubState::Writing(body) => match ready!(body.poll_data(cx)) {
                    Ok(Some(data)) => return Poll::Ready(Some(Ok(data))),
                    Ok(None) => {
                        body.complete();
                        self.state = SubState::Over;
                    }
                    Err(e) => {
                        self.state = SubState::Over;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
                SubState::Over => return Poll::Ready(None),
            }
        }
    }
}
