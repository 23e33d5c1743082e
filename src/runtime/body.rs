//! The body of every response ngxr sends: a fixed page or a streamed upstream body. It also
//! carries the request's [`Finish`], which writes the access log line once the body has reached
//! the client (or is dropped because the client went away), as nginx logs at the end of a
//! request.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;

use super::addition::Added;
use super::context::OwnedRequest;
use super::error::ProxyError;
use super::forward::UpstreamLog;
use super::gunzip::Gunzipped;
use super::gzip::Gzipped;
use super::log::Level;
use super::ssi::Processed;
use super::static_file::FileBody;
use super::sub_filter::Substituted;
use super::upstream_body::UpstreamBody;
use crate::eval::plan::{AddedTrailers, LogSpec, Outcome};
use crate::syntax::include::os_error;

/// Writes the access log when dropped. Boxed: it travels with the answer through the
/// request's layers (and the body's filters), where moving a pointer beats copying the
/// request it holds.
#[derive(Debug)]
pub struct Finish(Box<Ending>);

/// What a request's log line is written from.
#[derive(Debug)]
pub struct Ending {
    pub request: OwnedRequest,
    pub log: Arc<LogSpec>,
    pub outcome: Outcome,
    /// When the answering upstream was sent the request: its `$upstream_response_time`
    /// runs until the response body (or the tunnel) is over, as nginx's does.
    pub upstream_sent: Option<Instant>,
}

impl Finish {
    pub fn new(
        request: OwnedRequest,
        log: Arc<LogSpec>,
        outcome: Outcome,
        upstream_sent: Option<Instant>,
    ) -> Finish {
        Finish(Box::new(Ending {
            request,
            log,
            outcome,
            upstream_sent,
        }))
    }
}

impl std::ops::Deref for Finish {
    type Target = Ending;
    fn deref(&self) -> &Ending {
        &self.0
    }
}

impl std::ops::DerefMut for Finish {
    fn deref_mut(&mut self) -> &mut Ending {
        &mut self.0
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        if self.log.files.is_empty() {
            return;
        }
        self.outcome.request_length += self.request.head_length;
        if let Some(sent) = self.upstream_sent
            && let Some(last) = self.outcome.upstreams.last_mut()
            && last.response_time.is_none()
        {
            // The server answering (or still answering when the client left) is done with.
            last.response_time = Some(sent.elapsed());
        }
        let logs = &self.request.conn.state.logs;
        logs.write(&self.log, &self.request.info(), &self.outcome);
    }
}

#[derive(Debug)]
enum Inner {
    Full(Option<Bytes>),
    Upstream(Box<UpstreamBody>),
    File(Box<FileBody>),
    /// What an upstream sent of a body it then cut short, and the error that cut it (an
    /// answer `proxy_cache` read whole before sending).
    Cut(Box<(Option<Bytes>, Option<ProxyError>)>),
}

/// The body filters of a response, in nginx's order (boxed together: most responses have
/// none).
#[derive(Debug, Default)]
struct Filters {
    /// The gunzip filter, when the response is inflated.
    gunzip: Option<Gunzipped>,
    /// The sub filter, when the body is rewritten.
    sub: Option<Substituted>,
    /// The SSI filter, when the body's commands are carried out.
    ssi: Option<Processed>,
    /// The addition filter, when subrequests' bodies go around this one.
    added: Option<Added>,
    /// The gzip filter, when the response is compressed.
    gzip: Option<Gzipped>,
}

#[derive(Debug)]
pub struct ProxyBody {
    inner: Inner,
    /// The filters the body goes through, if any.
    filters: Option<Box<Filters>>,
    finish: Option<Finish>,
    /// How an upstream body's error-log lines name the proxy pass.
    upstream_log: Option<Box<UpstreamLog>>,
    /// `add_trailer`'s lines, evaluated when the body has ended.
    trailers: Option<Arc<dyn AddedTrailers>>,
    /// `Some` once [`hold_log`](Self::hold_log) asked: the request's log line, kept here
    /// when the body ends and written when the body is dropped.
    held: Option<Option<Finish>>,
}

impl ProxyBody {
    /// A body from `inner`, no filter on it yet.
    fn new(inner: Inner, finish: Option<Finish>, log: Option<UpstreamLog>) -> ProxyBody {
        ProxyBody {
            inner,
            filters: None,
            finish,
            upstream_log: log.map(Box::new),
            trailers: None,
            held: None,
        }
    }

    pub fn full(bytes: Option<Bytes>, finish: Option<Finish>) -> ProxyBody {
        ProxyBody::new(Inner::Full(bytes.filter(|b| !b.is_empty())), finish, None)
    }

    pub fn upstream(body: UpstreamBody, finish: Finish, log: UpstreamLog) -> ProxyBody {
        ProxyBody::new(Inner::Upstream(Box::new(body)), Some(finish), Some(log))
    }

    /// `data`, then `error`: the client gets what the upstream sent before it failed.
    pub fn cut(data: Bytes, error: ProxyError, finish: Finish, log: UpstreamLog) -> ProxyBody {
        let data = Some(data).filter(|d| !d.is_empty());
        ProxyBody::new(
            Inner::Cut(Box::new((data, Some(error)))),
            Some(finish),
            Some(log),
        )
    }

    /// The same body, ended by `add_trailer`'s lines (see `trailers::expect`).
    pub fn trailers(mut self, trailers: Option<Arc<dyn AddedTrailers>>) -> ProxyBody {
        self.trailers = trailers;
        self
    }

    /// The chunked body's end: the last chunk, with the trailers evaluated now (what was
    /// read from the upstream counted for `$upstream_response_length`), noted for
    /// `$body_bytes_sent`.
    pub fn last_chunk(&mut self) -> Bytes {
        let lines = match (&self.trailers, &self.finish) {
            (Some(trailers), Some(finish)) => {
                let mut outcome = finish.outcome.clone();
                if let Inner::Upstream(body) = &self.inner
                    && let Some(last) = outcome.upstreams.last_mut()
                {
                    let (received, length) = body.counts();
                    last.bytes_received += received;
                    last.response_length += length;
                }
                trailers.evaluate(&finish.request.info(), &outcome)
            }
            _ => Vec::new(),
        };
        let last = super::trailers::last_chunk(&lines);
        self.record_framing(last.len());
        last
    }

    /// The same body, compressed when `gzip` is given (see `gzip::header_filter`).
    pub fn gzip(mut self, gzip: Option<Gzipped>) -> ProxyBody {
        if let Some(gzip) = gzip {
            self.filters.get_or_insert_default().gzip = Some(gzip);
        }
        self
    }

    /// The same body, inflated when `gunzip` is given (see `gunzip::header_filter`).
    pub fn gunzip(mut self, gunzip: Option<Gunzipped>) -> ProxyBody {
        if let Some(gunzip) = gunzip {
            self.filters.get_or_insert_default().gunzip = Some(gunzip);
        }
        self
    }

    /// The same body, rewritten when `sub` is given (see `sub_filter::header_filter`).
    pub fn sub_filter(mut self, sub: Option<Substituted>) -> ProxyBody {
        if let Some(sub) = sub {
            self.filters.get_or_insert_default().sub = Some(sub);
        }
        self
    }

    /// The same body with subrequests' around it when `added` is given (see
    /// `addition::header_filter`).
    /// The SSI filter's variables and blocks are the main request's: the subrequests share
    /// them with its body's filter (given first, by [`ssi`](Self::ssi)).
    pub fn addition(mut self, added: Option<Box<Added>>) -> ProxyBody {
        if let Some(mut added) = added {
            let filters = self.filters.get_or_insert_default();
            if let Some(ssi) = &filters.ssi {
                added.share(ssi.shared());
            }
            filters.added = Some(*added);
        }
        self
    }

    /// The same body with its SSI commands carried out when `ssi` is given (see
    /// `ssi::header_filter`).
    pub fn ssi(mut self, ssi: Option<Box<Processed>>) -> ProxyBody {
        if let Some(ssi) = ssi {
            self.filters.get_or_insert_default().ssi = Some(*ssi);
        }
        self
    }

    /// This is a subrequest's body, written into its main request's: its log line is
    /// written only under `log_subrequest on`.
    pub fn as_subrequest(&mut self) {
        if let Some(f) = &mut self.finish
            && !f.log.subrequests
        {
            f.log = Arc::default();
        }
    }

    /// The answer's status as its log line has it (`None` for a body that logs nothing).
    pub fn status(&self) -> Option<u16> {
        self.finish.as_ref().map(|f| f.outcome.status)
    }

    pub fn file(body: FileBody, finish: Finish) -> ProxyBody {
        ProxyBody::new(Inner::File(Box::new(body)), Some(finish), None)
    }

    /// Whether the sent headers are read later: by an access log line, or by trailers.
    pub fn logs(&self) -> bool {
        self.trailers.is_some()
            || self
                .finish
                .as_ref()
                .is_some_and(|f| !f.log.files.is_empty())
    }

    /// Notes the response head for `$bytes_sent` and `$sent_http_*` (`sent` is `Some` only
    /// when [`logs`](Self::logs)).
    pub fn record_head(&mut self, size: usize, sent: Option<Vec<(Bytes, Bytes)>>) {
        if let (Some(f), Some(sent)) = (&mut self.finish, sent) {
            f.outcome.sent_headers = sent;
            f.outcome.bytes_sent += size as u64;
        }
    }

    /// The head noted by [`record_head`](Self::record_head), `size` bytes, never went out.
    pub fn withdraw_head(&mut self, size: usize) {
        if let Some(f) = &mut self.finish {
            f.outcome.bytes_sent = f.outcome.bytes_sent.saturating_sub(size as u64);
        }
    }

    /// The location that answered has a `post_action` to go to next.
    pub fn post_action(&self) -> bool {
        self.finish.as_ref().is_some_and(|f| f.log.post_action)
    }

    /// The request's log line held (see [`hold_log`](Self::hold_log)), the body ended if it
    /// had not, for its `post_action` to write after it is over.
    pub fn take_line(&mut self) -> Option<Finish> {
        self.end();
        self.held.as_mut().and_then(Option::take)
    }

    /// Hands the request's log line over to a tunnel, which writes it when it ends (or to
    /// the main request of an `auth_request` subrequest, which reads its outcome).
    pub fn take_finish(&mut self) -> Option<Finish> {
        self.finish.take()
    }

    /// Counts the chunked framing written around the body's data, which nginx's
    /// `$body_bytes_sent` and `$bytes_sent` include.
    pub fn record_framing(&mut self, size: usize) {
        if let Some(f) = &mut self.finish {
            f.outcome.body_bytes_sent += size as u64;
            f.outcome.bytes_sent += size as u64;
        }
    }

    /// Counts an interim answer (`100 Continue`) sent before this one's head, as nginx's
    /// `$body_bytes_sent` and `$bytes_sent` do.
    pub fn record_interim(&mut self, size: usize) {
        if let Some(f) = &mut self.finish {
            f.outcome.body_bytes_sent += size as u64;
            f.outcome.bytes_sent += size as u64;
        }
    }

    /// The request is over: what was read from the upstream goes into its `$upstream_*`
    /// line, and the log line is written.
    fn end(&mut self) {
        let Some(mut finish) = self.finish.take() else {
            return;
        };
        if let Inner::Upstream(body) = &self.inner
            && let Some(last) = finish.outcome.upstreams.last_mut()
        {
            let (received, length) = body.counts();
            last.bytes_received += received;
            last.response_length += length;
            if body.overran()
                && let Some(log) = &self.upstream_log
            {
                let message = "upstream sent more data than specified in \"Content-Length\" header while reading upstream";
                log.write(&finish.request, &finish.log.errors, Level::Warn, &message);
            }
        }
        let gzip = self.filters.as_ref().and_then(|f| f.gzip.as_ref());
        finish.outcome.gzip_bytes = gzip.and_then(Gzipped::counts);
        match &mut self.held {
            Some(held) => *held = Some(finish),
            None => drop(finish),
        }
    }

    /// The log line waits until the body is dropped, even once it has ended: the request's
    /// `mirror` subrequests are to end first.
    pub fn hold_log(&mut self) {
        self.held.get_or_insert(None);
    }

    /// The next piece of the body (inflated by the gunzip filter, rewritten by the sub one,
    /// its SSI commands carried out, with the addition filter's subrequests around it,
    /// compressed by the gzip one): `Ok(None)` at its
    /// end. An error is logged as nginx logs a failed upstream read.
    pub fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, ProxyError>> {
        let inner = &mut self.inner;
        let mut source = |cx: &mut Context<'_>| match inner {
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(Ok)),
            Inner::Upstream(body) => body.poll_data(cx),
            Inner::File(body) => body.poll_data(cx),
            Inner::Cut(cut) => {
                let (data, error) = &mut **cut;
                Poll::Ready(data.take().map(Ok).or_else(|| error.take().map(Err)))
            }
        };
        let (mut gunzip, mut sub, mut ssi, mut added, gzip) = match self.filters.as_deref_mut() {
            Some(f) => (
                f.gunzip.as_mut(),
                f.sub.as_mut(),
                f.ssi.as_mut(),
                f.added.as_mut(),
                f.gzip.as_mut(),
            ),
            None => (None, None, None, None, None),
        };
        let mut inflated = |cx: &mut Context<'_>| match &mut gunzip {
            Some(gunzip) => gunzip.poll_next(cx, &mut source),
            None => source(cx),
        };
        let mut filtered = |cx: &mut Context<'_>| match &mut sub {
            Some(sub) => sub.poll_next(cx, &mut inflated),
            None => inflated(cx),
        };
        let mut processed = |cx: &mut Context<'_>| match &mut ssi {
            Some(ssi) => ssi.poll_next(cx, &mut filtered),
            None => filtered(cx),
        };
        let mut joined = |cx: &mut Context<'_>| match &mut added {
            Some(added) => added.poll_next(cx, &mut processed),
            None => processed(cx),
        };
        let next = match gzip {
            Some(gzip) => gzip.poll_next(cx, joined),
            None => joined(cx),
        };
        if let (Inner::Upstream(body), Some(f), Some(log)) =
            (&mut self.inner, &self.finish, &self.upstream_log)
        {
            for piece in body.take_stderr() {
                let text = String::from_utf8_lossy(super::fastcgi::stderr_text(&piece));
                let message = format!("FastCGI sent in stderr: \"{text}\" while reading upstream");
                log.write(&f.request, &f.log.errors, Level::Error, &message);
            }
        }
        match next {
            Poll::Ready(Some(Ok(data))) => {
                if let Some(f) = &mut self.finish {
                    f.outcome.body_bytes_sent += data.len() as u64;
                    f.outcome.bytes_sent += data.len() as u64;
                }
                Poll::Ready(Ok(Some(data)))
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(f) = &self.finish {
                    match &self.upstream_log {
                        Some(log) => log.write(&f.request, &f.log.errors, Level::Error, &e),
                        None => crate::runtime::log::write_in(
                            &f.log.errors,
                            Level::Error,
                            format_args!(
                                "{e}, client: {}, request: \"{} {} {}\"",
                                f.request.conn.remote,
                                f.request.method,
                                String::from_utf8_lossy(&f.request.target),
                                f.request.version
                            ),
                        ),
                    }
                }
                // The log line waits for what was read to reach the client (`complete`).
                Poll::Ready(Err(e))
            }
            // The line waits for the last bytes to reach the client (`complete`).
            Poll::Ready(None) => Poll::Ready(Ok(None)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The next piece of the body: `Ok(None)` at its end.
    pub async fn next(&mut self) -> Result<Option<Bytes>, ProxyError> {
        std::future::poll_fn(|cx| self.poll_data(cx)).await
    }

    /// The client left while the body was awaited (nginx's
    /// `ngx_http_upstream_check_broken_connection`): the `[info]` line nginx writes, and the
    /// log line now, a 499 when nothing reached the client (`unsent_head`: the head of that
    /// many bytes was still held back).
    pub fn client_gone(&mut self, error: Option<std::io::Error>, unsent_head: Option<usize>) {
        if let (Some(f), Some(log)) = (&mut self.finish, &self.upstream_log) {
            let os = error.map_or_else(String::new, |e| format!(" ({})", os_error(&e)));
            let message = format!(
                "epoll_wait() reported that client prematurely closed connection, \
                 so upstream connection is closed too{os} while reading upstream"
            );
            log.write(&f.request, &f.log.errors, Level::Info, &message);
            // nginx terminates the request, which leaves `r->keepalive` as the client asked:
            // `$sent_http_connection` says so, whatever the head said.
            let sent = &mut f.outcome.sent_headers;
            sent.retain(|(name, _)| !name.eq_ignore_ascii_case(b"connection"));
            if let Some(size) = unsent_head {
                f.outcome.bytes_sent = f.outcome.bytes_sent.saturating_sub(size as u64);
                f.outcome.status = 499;
            }
        }
        self.end();
    }

    /// Ends the body early (the client went away): the log line is written now.
    pub fn abandon(&mut self) {
        self.end();
    }

    /// The whole answer reached the client (nginx's `request_complete`): the log line is
    /// written now, with `$request_completion` `OK`.
    pub fn complete(&mut self) {
        if let Some(f) = &mut self.finish {
            f.outcome.completed = true;
        }
        self.end();
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        self.end();
    }
}
