//! One request/response exchange with an upstream server over a [`PeerConn`]: the request
//! head written exactly as the plan lists it (nginx's order and spelling), the body under
//! `proxy_send_timeout`, then the response head read under `proxy_read_timeout` and checked as
//! nginx's proxy module checks it; for `fastcgi_pass`, the records in place of the head and
//! body, and a CGI head as nginx's FastCGI module reads it.

use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::client::Client;
use super::error::{ProxyError, Stage};
use super::gateway;
use super::peer::PeerConn;
use super::request_body::ClientBody;
use super::upstream_head;
use crate::eval::plan::{Gateway, IgnoreHeaders, ProxyBuffers, ProxyRequest, UpstreamTry};

/// The most room made in the head's buffer before one read.
const MAX_RESERVE: usize = 16 * 1024;
/// The client's request body as it will be sent upstream.
#[derive(Debug)]
pub enum RequestBody {
    None,
    /// Read in full: can be sent again to another server.
    Full(Bytes),
    /// Streamed as it arrives: `length` bytes announced by the client.
    Stream {
        length: u64,
    },
    /// A chunked body streamed as it arrives (`proxy_request_buffering off`, an HTTP/1.1
    /// upstream): nginx sends what it decoded at once as one chunk of its own, starting with
    /// `read`, what was decoded before the pass began.
    Chunked {
        read: Bytes,
    },
    /// `proxy_pass_request_body off`: nginx read the client's body all the same and still
    /// announces its length upstream (`$proxy_internal_body_length`), sending no body.
    Withheld {
        length: Option<u64>,
    },
}

impl RequestBody {
    /// Whether the body can be sent to another server after a failure past connecting.
    pub fn resendable(&self) -> bool {
        !matches!(
            self,
            RequestBody::Stream { .. } | RequestBody::Chunked { .. }
        )
    }

    /// The client's body, read whole, for a later proxy pass of the request (after an
    /// `error_page` or an `X-Accel-Redirect`) to send again, as nginx does; a streamed one
    /// is gone.
    pub fn sent_again(self, p: &ProxyRequest) -> Option<Bytes> {
        match self {
            RequestBody::Full(bytes) if p.body.is_none() && p.pass_body => Some(bytes),
            _ => None,
        }
    }

    /// The body's length, as announced upstream.
    pub fn length(&self) -> Option<u64> {
        match self {
            RequestBody::None | RequestBody::Chunked { .. } => None,
            RequestBody::Full(b) => Some(b.len() as u64),
            RequestBody::Stream { length, .. } => Some(*length),
            RequestBody::Withheld { length } => *length,
        }
    }
}

/// How the upstream response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A parsed upstream response head.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: u16,
    /// The status line after its code as the server wrote it (`" OK"`, or `""` when it
    /// gave no reason phrase): nginx passes it on.
    pub reason: Bytes,
    pub headers: Vec<(Bytes, Bytes)>,
    pub framing: Framing,
    /// The server allows another request on this connection.
    pub keepalive: bool,
    /// The head filled `proxy_buffer_size` exactly under `proxy_buffering`: nginx's first
    /// read of the body gets no room, returns 0 and is taken for the upstream's close.
    pub starved: bool,
    /// No status line nginx can read: its proxy module takes the answer for HTTP/0.9's,
    /// every byte of it body read until the server closes, a 200 to `$upstream_status`.
    pub http09: bool,
}

impl ResponseHead {
    /// Whether a body is to be read after the head.
    fn reads_body(&self) -> bool {
        !matches!(self.framing, Framing::None | Framing::Length(0))
    }

    /// Whether nginx reads this answer through its buffers: `proxy_buffering` (`configured`)
    /// unless an `X-Accel-Buffering` line says `no` or `yes` (the last one decides), when
    /// `proxy_ignore_headers` does not name it (`ngx_http_upstream_process_buffering`).
    pub fn buffered(&self, configured: bool, ignore: IgnoreHeaders) -> bool {
        if ignore.x_accel_buffering {
            return configured;
        }
        let said = self.headers.iter().rev().find_map(|(n, v)| {
            let said = n.eq_ignore_ascii_case(b"x-accel-buffering");
            if said && v.eq_ignore_ascii_case(b"no") {
                Some(false)
            } else if said && v.eq_ignore_ascii_case(b"yes") {
                Some(true)
            } else {
                None
            }
        });
        said.unwrap_or(configured)
    }
}

/// Runs `fut` under `timeout`, mapping expiry to nginx's "upstream timed out". Most writes
/// (and reads of what is there) finish at once: the timer, and the clock read that sets it,
/// are only for one that has to wait, as nginx arms its timers only on `EAGAIN`.
pub async fn timed<T>(
    timeout: Duration,
    stage: Stage,
    fut: impl Future<Output = std::io::Result<T>>,
) -> Result<T, ProxyError> {
    let mut fut = std::pin::pin!(fut);
    let at_once = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
    let done = match at_once {
        Poll::Ready(done) => Ok(done),
        Poll::Pending => tokio::time::timeout(timeout, fut).await,
    };
    match done {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ProxyError::Io(stage, e)),
        Err(_) => Err(ProxyError::TimedOut(stage)),
    }
}

/// The request line and headers. `Content-Length` goes where nginx puts its own body headers
/// (`ProxyRequest::body_headers_at`): after the configured headers, before the client's.
pub fn request_head(p: &ProxyRequest, body: &RequestBody) -> Vec<u8> {
    let size: usize = p.headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    let mut head = Vec::with_capacity(p.method.len() + p.uri.len() + size + 64);
    head.extend_from_slice(&p.method);
    head.push(b' ');
    head.extend_from_slice(&p.uri);
    head.push(b' ');
    head.extend_from_slice(p.version.as_bytes());
    head.extend_from_slice(b"\r\n");
    let body_at = p.body_headers_at;
    let body = (!p.own_length).then_some(body);
    for (i, (name, value)) in p.headers.iter().enumerate() {
        if i == body_at {
            push_framing(&mut head, body);
        }
        head.extend_from_slice(name);
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    if body_at >= p.headers.len() {
        push_framing(&mut head, body);
    }
    head.extend_from_slice(b"\r\n");
    head
}

fn push_framing(head: &mut Vec<u8>, body: Option<&RequestBody>) {
    if let Some(RequestBody::Chunked { .. }) = body {
        head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if let Some(n) = body.and_then(RequestBody::length) {
        head.extend_from_slice(b"Content-Length: ");
        head.extend_from_slice(super::response::decimal(n, &mut [0; 20]));
        head.extend_from_slice(b"\r\n");
    }
}

/// Sends the head and the body (a streamed one read `from` the client), adding what was
/// written to `state.bytes_sent` (`$upstream_bytes_sent`). The first write may be what
/// learns that the connect begun at `started` is done: `state.connect_time` is set then
/// (nginx's is the time until the request starts to go out).
pub async fn send(
    conn: &mut PeerConn,
    p: &ProxyRequest,
    body: &RequestBody,
    from: Option<(&mut Client, &mut ClientBody)>,
    state: &mut UpstreamTry,
    started: Instant,
) -> Result<(), ProxyError> {
    let timeout = p.timeouts.send;
    let gateway = p.gateway.as_deref();
    let mut head = match gateway {
        Some(request) => {
            if let Some(f) = conn.stream.fastcgi() {
                f.begin();
            }
            gateway::request_head(request, body.length().unwrap_or(0))
        }
        None => request_head(p, body),
    };
    conn.requests += 1;
    // A body still coming from the client follows the head as it arrives.
    let mut streamed = match (body, from) {
        (RequestBody::Full(bytes), _) => {
            match gateway {
                Some(request) => gateway::body(&mut head, request, bytes),
                None => head.extend_from_slice(bytes),
            }
            None
        }
        (RequestBody::Stream { .. }, Some((client, body))) => {
            conn.stream.set_nodelay();
            // What of the body has come already goes out with the head, as nginx sends
            // the bytes it preread.
            if gateway.is_none()
                && client.has_buffered()
                && let Some(data) = body.next(client).await?
            {
                head.extend_from_slice(&data);
            }
            Some((client, body))
        }
        (RequestBody::Chunked { read }, Some((client, body))) => {
            conn.stream.set_nodelay();
            let data = match ready_chunks(client, body).await? {
                Some(more) => [read.clone(), more].concat(),
                None => read.to_vec(),
            };
            push_chunk(&mut head, &data);
            if body.is_done() {
                head.extend_from_slice(LAST_CHUNK);
            }
            Some((client, body))
        }
        _ => None,
    };
    if let Some(request) = gateway
        && streamed.is_none()
    {
        gateway::end_body(&mut head, request);
    }
    let early = start(conn, &head, p, state, started).await?;
    timed(
        timeout,
        Stage::Sending,
        conn.stream.write_all(&head[early..]),
    )
    .await?;
    state.bytes_sent += head.len() as u64;
    let chunking = matches!(body, RequestBody::Chunked { .. });
    if let (true, Some((client, body))) = (chunking, &mut streamed) {
        while !body.is_done() {
            let first = body.next(client).await?.unwrap_or_default();
            let data = match ready_chunks(client, body).await? {
                Some(more) => [first, more].concat(),
                None => first.to_vec(),
            };
            let mut chunk = Vec::with_capacity(data.len() + 16);
            push_chunk(&mut chunk, &data);
            if body.is_done() {
                chunk.extend_from_slice(LAST_CHUNK);
            }
            timed(timeout, Stage::Sending, conn.stream.write_all(&chunk)).await?;
            state.bytes_sent += chunk.len() as u64;
        }
    } else if let Some((client, body)) = streamed {
        while let Some(data) = body.next(client).await? {
            let data = match gateway {
                Some(request) => gateway::framed(request, data),
                None => data,
            };
            timed(timeout, Stage::Sending, conn.stream.write_all(&data)).await?;
            state.bytes_sent += data.len() as u64;
        }
        if let Some(request) = gateway {
            let mut end = Vec::new();
            gateway::end_body(&mut end, request);
            if !end.is_empty() {
                timed(timeout, Stage::Sending, conn.stream.write_all(&end)).await?;
                state.bytes_sent += end.len() as u64;
            }
        }
    }
    // A no-op on a plain socket; TLS may hold the last record until flushed.
    timed(timeout, Stage::Sending, conn.stream.flush()).await
}

/// The data of the chunks the client's buffer holds whole, decoded without waiting: nginx
/// sends what one read brought as one chunk. `None` when there is none.
pub(super) async fn ready_chunks(
    client: &mut Client,
    body: &mut ClientBody,
) -> Result<Option<Bytes>, ProxyError> {
    use futures_util::FutureExt;
    let mut data = BytesMut::new();
    while client.has_buffered() && !body.is_done() {
        match body.next(client).now_or_never() {
            Some(Ok(Some(piece))) => data.extend_from_slice(&piece),
            Some(Ok(None)) | None => break,
            Some(Err(e)) => return Err(e),
        }
    }
    Ok((!data.is_empty()).then(|| data.freeze()))
}

/// The end of a chunked body.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// `data` as one chunk of a chunked body; nothing when it is empty (which would end it).
fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Sends what of `head` goes at once with the connect's confirmation (see
/// [`PeerConn::confirm`]), then notes `$upstream_connect_time`: nginx's ends as the request
/// starts to go out (a cached connection's is the moment it took to take it).
async fn start(
    conn: &mut PeerConn,
    head: &[u8],
    p: &ProxyRequest,
    state: &mut UpstreamTry,
    started: Instant,
) -> Result<usize, ProxyError> {
    let early = conn.confirm(head, p.timeouts.connect).await?;
    state.connect_time = Some(conn.connected_at.saturating_duration_since(started));
    Ok(early)
}

/// Reads and parses the response head; what follows it stays in `conn.buf`. Bytes read are
/// added to `received` (`$upstream_bytes_received`). As nginx reads it into one buffer of
/// `proxy_buffer_size` (`buffers.head`), no read goes past that size, and a head not complete
/// once that many bytes are in is `upstream sent too big header`.
pub async fn read_head(
    conn: &mut PeerConn,
    gateway: Option<&Gateway>,
    read_timeout: Duration,
    head_request: bool,
    buffers: ProxyBuffers,
    ignore: IgnoreHeaders,
    received: &mut u64,
) -> Result<ResponseHead, ProxyError> {
    let size = buffers.head;
    let parse = |buf: &mut BytesMut| match gateway {
        Some(protocol) => parse_gateway_head(buf, protocol, head_request),
        None => parse_head(buf, head_request),
    };
    let mut fastcgi_read = conn.stream.fastcgi().map_or(0, |f| f.read());
    if !conn.buf.is_empty()
        && let Some(head) = parse(&mut conn.buf)?
    {
        return Ok(head);
    }
    loop {
        // Internal: a full buffer reads 0 bytes, which nginx too takes for a close
        // (`proxy_buffer_size 0`).
        let room = size.saturating_sub(conn.buf.len());
        conn.buf.reserve(room.min(MAX_RESERVE));
        let n = timed(
            read_timeout,
            Stage::ReadingHeader,
            conn.stream.read_buf(&mut (&mut conn.buf).limit(room)),
        )
        .await?;
        *received += match conn.stream.fastcgi() {
            // What was read, records and all.
            Some(f) => f.read() - std::mem::replace(&mut fastcgi_read, f.read()),
            None => n as u64,
        };
        if n == 0 {
            if let Some(message) = conn.stream.fastcgi().and_then(|f| f.unfinished_head()) {
                return Err(ProxyError::InvalidHeader(message));
            }
            return Err(ProxyError::PrematureClose(Stage::ReadingHeader));
        }
        let read = conn.buf.len();
        match parse(&mut conn.buf)? {
            Some(mut head) => {
                if let Some(f) = conn.stream.fastcgi() {
                    f.head_read(read - conn.buf.len());
                }
                let filled = read - conn.buf.len() == size;
                head.starved =
                    filled && head.reads_body() && head.buffered(buffers.buffering, ignore);
                return Ok(head);
            }
            None if conn.buf.len() >= size => return Err(ProxyError::TooBigHeader),
            None => {}
        }
    }
}

pub(super) fn parse_head(
    buf: &mut BytesMut,
    head_request: bool,
) -> Result<Option<ResponseHead>, ProxyError> {
    let parsed = match upstream_head::parse(buf) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return Ok(None),
        Err(upstream_head::Refused::StatusLine) => {
            // Nothing of the buffer is a head: all of it is the body.
            return Ok(Some(ResponseHead {
                status: 200,
                reason: Bytes::new(),
                headers: Vec::new(),
                framing: Framing::UntilClose,
                keepalive: false,
                starved: false,
                http09: true,
            }));
        }
        Err(upstream_head::Refused::Header(line)) => {
            return Err(ProxyError::InvalidHeader(line));
        }
    };
    let status = parsed.status;
    let http11 = parsed.http11;
    let head = buf.split_to(parsed.len).freeze();
    let headers: Vec<(Bytes, Bytes)> = parsed
        .headers
        .iter()
        .map(|(n, v)| (head.slice(n.clone()), head.slice(v.clone())))
        .collect();
    let reason = head.slice(parsed.tail);
    // As the upstream module's handlers read them: any `Transfer-Encoding` naming "chunked"
    // makes the body chunked and the length unknown; the last `Content-Length` counts, one
    // that is not a number leaves the length unknown.
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case(b"transfer-encoding") && contains_ignoring_case(v, b"chunked")
    });
    let length = headers
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))
        .map(|(_, v)| v.clone());
    // As nginx's proxy module reads it (`ngx_http_proxy_input_filter_init`): a 1xx has a
    // body like any other answer, since nginx never asks for one (a 101 becomes a tunnel
    // only when the client asked to upgrade).
    let framing = if head_request || status == 204 || status == 304 {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length.as_deref().and_then(super::response::content_length) {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    // nginx's proxy module treats every HTTP/1.0 answer as `Connection: close`, whatever
    // `keep-alive` it announces, and any `Connection` value containing "close" as a close.
    let close = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case(b"connection") && contains_ignoring_case(v, b"close"));
    let keepalive = framing != Framing::UntilClose && http11 && !close;
    Ok(Some(ResponseHead {
        status,
        reason,
        headers,
        framing,
        keepalive,
        starved: false,
        http09: false,
    }))
}

/// An application server's head: a FastCGI application's is a CGI head
/// (`ngx_http_fastcgi_process_header`), an SCGI or uwsgi one's may begin with an HTTP status
/// line, which gives the status (`ngx_http_scgi_process_status_line`). Without one the status
/// is `Status`'s first three digits (its whole value the status line), else 302 with a
/// `Location`, else 200. A FastCGI body runs to the END_REQUEST record, whatever its
/// `Content-Length` says (which still goes to the client), and the connection is kept only
/// under `fastcgi_keep_conn`, which `keepalive` says here until the exchange sets it; an SCGI
/// or uwsgi body runs for its `Content-Length` or to the close, and the connection is never
/// kept.
pub(super) fn parse_gateway_head(
    buf: &mut BytesMut,
    protocol: &Gateway,
    head_request: bool,
) -> Result<Option<ResponseHead>, ProxyError> {
    let fastcgi = matches!(protocol, Gateway::FastCgi { .. });
    let parsed = match upstream_head::parse_cgi(buf, !fastcgi) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return Ok(None),
        Err(line) => return Err(ProxyError::InvalidHeader(line)),
    };
    let head = buf.split_to(parsed.len).freeze();
    let headers: Vec<(Bytes, Bytes)> = parsed
        .headers
        .into_iter()
        .map(|(n, v)| (head.slice(n), head.slice(v)))
        .collect();
    let named = |name: &[u8]| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (status, reason) = if let Some((code, tail)) = parsed.status {
        (code, head.slice(tail))
    } else if let Some(value) = named(b"status") {
        let code = value
            .get(..3)
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .map(|d| d.iter().fold(0u16, |n, c| n * 10 + u16::from(c - b'0')));
        let Some(code) = code else {
            let shown = String::from_utf8_lossy(&value);
            let message = format!("upstream sent invalid status \"{shown}\"");
            return Err(ProxyError::InvalidHeader(message));
        };
        (code, value.slice(3..))
    } else if named(b"location").is_some() {
        (302, Bytes::from_static(b" Moved Temporarily"))
    } else {
        (200, Bytes::from_static(b" OK"))
    };
    let length = named(b"content-length").and_then(|v| super::response::content_length(&v));
    let framing = match length {
        _ if head_request || status == 204 || status == 304 => Framing::None,
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    };
    Ok(Some(ResponseHead {
        status,
        reason,
        headers,
        framing,
        keepalive: fastcgi,
        starved: false,
        http09: false,
    }))
}

/// nginx's `ngx_strlcasestrn`: `needle` anywhere in `value`, case aside.
fn contains_ignoring_case(value: &[u8], needle: &[u8]) -> bool {
    value
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_chunked_response_and_keeps_the_rest() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 200 Fine\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5\r\nhello"[..],
        );
        let head = parse_head(&mut buf, false)
            .expect("valid")
            .expect("complete");
        assert_eq!(head.status, 200);
        assert_eq!(&head.reason[..], b" Fine");
        assert_eq!(head.framing, Framing::Chunked);
        assert!(head.keepalive);
        assert_eq!(&head.headers[1].0[..], b"X-A");
        assert_eq!(&buf[..], b"5\r\nhello");
    }

    #[test]
    fn an_answer_without_a_status_line_is_all_body() {
        for text in [&b"hello\r\n"[..], b"HTTP/1.1 2000 OK\r\n\r\nok"] {
            let mut buf = BytesMut::from(text);
            let head = parse_head(&mut buf, false)
                .expect("read")
                .expect("complete");
            assert!(head.http09);
            assert_eq!(head.status, 200);
            assert_eq!(head.framing, Framing::UntilClose);
            assert!(!head.keepalive);
            assert_eq!(&buf[..], text);
        }
    }

    #[test]
    fn only_an_http11_answer_without_close_keeps_the_connection() {
        let keeps = |head: &[u8]| {
            let mut buf = BytesMut::from(head);
            parse_head(&mut buf, false)
                .expect("valid")
                .expect("complete")
                .keepalive
        };
        assert!(keeps(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(!keeps(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!keeps(
            b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!keeps(b"HTTP/1.1 200 OK\r\n\r\n"));
    }

    #[test]
    fn chunked_wins_over_a_length_and_a_bad_length_is_unknown() {
        let framing = |head: &[u8]| {
            let mut buf = BytesMut::from(head);
            parse_head(&mut buf, false)
                .expect("valid")
                .expect("complete")
                .framing
        };
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Framing::Chunked
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: x2\r\n\r\n"),
            Framing::UntilClose
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"),
            Framing::Length(3)
        );
    }
}
