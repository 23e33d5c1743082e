//! The body of every response ngxr sends: a fixed page or a streamed upstream body. It also
//! carries the request's [`Finish`], which writes the access log line when the body is done
//! (or dropped because the client went away), as nginx logs at the end of a request.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::context::OwnedRequest;
use super::error::ProxyError;
use super::gzip::Gzipped;
use super::static_file::FileBody;
use super::upstream_body::UpstreamBody;
use crate::eval::plan::{LogSpec, Outcome};

/// Writes the access log when dropped.
#[derive(Debug)]
pub struct Finish {
    pub request: OwnedRequest,
    pub log: Arc<LogSpec>,
    pub outcome: Outcome,
    pub started: Instant,
    /// When the answering upstream was sent the request: its `$upstream_response_time`
    /// runs until the response body (or the tunnel) is over, as nginx's does.
    pub upstream_sent: Option<Instant>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if self.log.files.is_empty() {
            return;
        }
        self.outcome.request_time = self.started.elapsed();
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
}

#[derive(Debug)]
pub struct ProxyBody {
    inner: Inner,
    /// The gzip filter, when the response is compressed.
    gzip: Option<Box<Gzipped>>,
    finish: Option<Finish>,
}

impl ProxyBody {
    pub fn full(bytes: Option<Bytes>, finish: Option<Finish>) -> ProxyBody {
        ProxyBody {
            inner: Inner::Full(bytes.filter(|b| !b.is_empty())),
            gzip: None,
            finish,
        }
    }

    pub fn upstream(body: UpstreamBody, finish: Finish) -> ProxyBody {
        ProxyBody {
            inner: Inner::Upstream(Box::new(body)),
            gzip: None,
            finish: Some(finish),
        }
    }

    /// The same body, compressed when `gzip` is given (see `gzip::header_filter`).
    pub fn gzip(mut self, gzip: Option<Gzipped>) -> ProxyBody {
        self.gzip = gzip.map(Box::new);
        self
    }

    pub fn file(body: FileBody, finish: Finish) -> ProxyBody {
        ProxyBody {
            inner: Inner::File(Box::new(body)),
            gzip: None,
            finish: Some(finish),
        }
    }

    /// Notes the response head for `$sent_http_*` and `$bytes_sent` (only when logged).
    pub fn record_head(&mut self, size: u64, head: &http::HeaderMap) {
        let Some(f) = &mut self.finish else {
            return;
        };
        if f.log.files.is_empty() {
            return;
        }
        for (name, value) in head {
            let name = Bytes::copy_from_slice(name.as_str().as_bytes());
            let value = Bytes::copy_from_slice(value.as_bytes());
            f.outcome.sent_headers.push((name, value));
        }
        f.outcome.bytes_sent += size;
    }

    fn count(&mut self, n: usize) {
        if let Some(f) = &mut self.finish {
            f.outcome.body_bytes_sent += n as u64;
            f.outcome.bytes_sent += n as u64;
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
            let (received, passed) = body.counts();
            last.bytes_received += received;
            last.response_length += passed;
        }
        finish.outcome.gzip_bytes = self.gzip.as_ref().and_then(|g| g.counts());
        drop(finish);
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        self.end();
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = ProxyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ProxyError>>> {
        let this = &mut *self;
        let inner = &mut this.inner;
        let mut source = |cx: &mut Context<'_>| match inner {
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(Ok)),
            Inner::Upstream(body) => body.poll_data(cx),
            Inner::File(body) => body.poll_data(cx),
        };
        let next = match &mut this.gzip {
            Some(gzip) => gzip.poll_next(cx, source),
            None => source(cx),
        };
        match next {
            Poll::Ready(Some(Ok(data))) => {
                this.count(data.len());
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(f) = &mut this.finish {
                    crate::runtime::log::error(format_args!(
                        "{e}, client: {}, request: \"{} {} {}\"",
                        f.request.conn.remote.ip(),
                        f.request.method,
                        f.request.target,
                        f.request.version
                    ));
                }
                this.end();
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.end();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        if let Some(gzip) = &self.gzip {
            return gzip.is_done();
        }
        match &self.inner {
            Inner::Full(b) => b.is_none(),
            Inner::Upstream(body) => body.is_done(),
            Inner::File(body) => body.is_done(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.gzip.is_some() {
            return SizeHint::default();
        }
        match &self.inner {
            Inner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Upstream(body) => match body.exact_length() {
                Some(n) => SizeHint::with_exact(n),
                None => SizeHint::default(),
            },
            Inner::File(body) => SizeHint::with_exact(body.remaining()),
        }
    }
}
