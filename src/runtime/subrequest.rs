//! A subrequest whose body goes into its main request's (`ngx_http_subrequest` without
//! `NGX_HTTP_SUBREQUEST_BACKGROUND`): what the addition filter and the SSI filter's
//! `include` use. Routed by `Site::subrequest` when it starts, served by
//! `request::dispatch` as the request is, its head dropped (nginx's header filter sends
//! none for a subrequest) and its body passed on as it comes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;

use super::body::ProxyBody;
use super::context::OwnedRequest;
use super::error::ProxyError;
use super::request::{self, Then};
use super::response::Answer;
use super::ssi::Processed;
use crate::eval::plan::{Outcome, Route};

/// nginx's `NGX_HTTP_MAX_SUBREQUESTS`: a request this deep starts no subrequest (an SSI
/// page that includes itself ends there).
pub const MAX_DEPTH: u8 = 51;

/// The answer of a subrequest being served.
type Serving = Pin<Box<dyn Future<Output = Option<Answer>> + Send>>;

/// A subrequest whose body goes into its main request's.
pub struct Subrequest {
    state: SubState,
    /// Its answer's status, once it has one.
    status: Option<u16>,
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
    /// polled. Its error-log lines name it after the request's line. With a `stub` (the SSI
    /// filter's `include ... stub=`), an answer nginx would make a page of (an error, a
    /// redirect) is the stub's text instead, as `ngx_http_ssi_stub_output` writes it
    /// before the page is made.
    pub fn start(main: &OwnedRequest, uri: &Bytes, args: &[u8], stub: Option<Bytes>) -> Subrequest {
        let route = main.conn.state.site.subrequest(&main.info(), uri, args);
        let mut sub = main.clone();
        sub.subrequest = Some(uri.clone());
        sub.depth = main.depth.saturating_add(1);
        if let (Some(stub), Route::Respond(r)) = (stub, &route)
            && r.body.is_none()
            && (r.status >= 300 || matches!(r.status, 201 | 204))
        {
            // The stub goes out as the subrequest's body: its SSI filter carries out the
            // commands written back into it.
            let ssi = r
                .ssi
                .as_ref()
                .map(|conf| Processed::new(conf, &sub, &r.log.errors));
            let body = ProxyBody::full(Some(stub), None).ssi(ssi);
            return Subrequest {
                state: SubState::Writing(Box::new(body)),
                status: None,
            };
        }
        let then = Then {
            keepalive: false,
            outcome: Outcome::default(),
            upstream: None,
        };
        let serving: Serving = Box::pin(request::dispatch(sub, route, None, then));
        Subrequest {
            state: SubState::Serving(serving),
            status: None,
        }
    }

    /// The status of its answer, once it has one (the SSI filter's `include ... set=`
    /// keeps only a body below 300).
    pub fn status(&self) -> Option<u16> {
        self.status
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
                        self.status = body.status();
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
