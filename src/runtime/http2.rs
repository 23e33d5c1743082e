//! HTTP/2 over TLS (`listen ... ssl http2`, ALPN `h2`). The h2 crate speaks the protocol;
//! each stream's request is then served by the HTTP/1 request loop (`conn::requests`)
//! through an in-memory pipe, so routing, proxying, logs and every filter are the same code
//! for both protocols. The stream's head is written to the pipe as nginx builds an HTTP/2
//! request (`ngx_http_v2_run_request`): `:authority` as the first header, `host`, the other
//! headers with the names the client sent (lower case), the `cookie` headers joined with
//! `; ` at the end; the request's version is `HTTP/2.0` (`ConnCtx::http2`), so `$request`,
//! `$server_protocol` and `$http2` read as nginx's, no `100 Continue` is sent, and the loop
//! answers without chunks and closes after the answer. The answer's head read back from the
//! pipe becomes the stream's HEADERS (`:status`, names in lower case, without the
//! connection-level headers HTTP/2 forbids), its body the stream's DATA.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::server::{Connection, SendResponse};
use h2::{RecvStream, SendStream};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::task::JoinSet;

use super::client::Client;
use super::context::ConnCtx;
use super::counted::Counted;
use super::server::Phase;
use super::stream::Downstream;

/// nginx's `http2_max_concurrent_streams` default.
const MAX_STREAMS: u32 = 128;
/// nginx's `http2_body_preread_size` default, which it announces as each stream's window.
const PREREAD: u32 = 64 * 1024;
/// Room in a stream's pipe each way.
const PIPE: usize = 64 * 1024;
/// Headers of an answer that HTTP/2 carries in its framing or forbids.
const CONNECTION_HEADERS: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Serves the HTTP/2 connection `io` until the client leaves, it has been idle for
/// `keepalive_timeout`, or a shutdown asks it to finish (a GOAWAY, streams under way end).
pub async fn serve(ctx: Arc<ConnCtx>, io: Downstream, counted: Counted) {
    let _counted = counted;
    let header_timeout = ctx.state.site.client_header_timeout(&ctx.listen);
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(MAX_STREAMS)
        .initial_window_size(PREREAD)
        .handshake::<_, Bytes>(io);
    let mut conn: Connection<Downstream, Bytes> =
        match tokio::time::timeout(header_timeout, handshake).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) if e.reason() == Some(h2::Reason::PROTOCOL_ERROR) => {
                // Not HTTP/2's preface (an HTTP/1 client on a plain `listen ... http2`).
                let (id, remote, listen) = (ctx.id, &ctx.remote, &ctx.listen);
                return super::log::info(format_args!(
                    "*{id} invalid connection preface while processing HTTP/2 connection, \
                     client: {remote}, server: {listen}"
                ));
            }
            _ => return,
        };
    let mut phase = ctx.state.phase.subscribe();
    let mut streams = JoinSet::new();
    // The server SNI chose, else the default one (nginx's `ngx_http_v2_handle_connection`):
    // its settings hold for every stream of the connection.
    let sni = ctx.sni.as_deref().map(str::as_bytes);
    let site = &ctx.state.site;
    let idle = site.keepalive_timeout(&ctx.listen, &ctx.local, sni);
    let reading = Reading {
        first_read: site.header_buffers(&ctx.listen, &ctx.local, sni).client,
        timeout: header_timeout,
    };
    let mut closing = false;
    loop {
        let quiet = streams.is_empty() && !closing;
        tokio::select! {
            next = conn.accept() => match next {
                Some(Ok((request, respond))) => {
                    streams.spawn(stream(ctx.clone(), reading, request, respond));
                }
                Some(Err(_)) | None => break,
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
            () = tokio::time::sleep(idle), if quiet => {
                closing = true;
                conn.graceful_shutdown();
            }
            changed = phase.changed(), if !closing => {
                if changed.is_err() || *phase.borrow() != Phase::Running {
                    closing = true;
                    conn.graceful_shutdown();
                }
            }
        }
    }
    streams.shutdown().await;
}

/// How a stream's head is read by the HTTP/1 loop: the connection's server's first buffer
/// and `client_header_timeout`.
#[derive(Debug, Clone, Copy)]
struct Reading {
    first_read: usize,
    timeout: Duration,
}

/// One stream: its request written to the pipe, served by the HTTP/1 loop, its answer read
/// back and sent.
async fn stream(
    ctx: Arc<ConnCtx>,
    reading: Reading,
    request: Request<RecvStream>,
    respond: SendResponse<Bytes>,
) {
    let (parts, body) = request.into_parts();
    let head_only = parts.method == http::Method::HEAD;
    let (head, chunked) = request_head(&parts, body.is_end_stream());
    let (ours, theirs) = tokio::io::duplex(PIPE);
    let counted = Counted::stream(ctx.state.counts.clone());
    let client = Client::new(
        Downstream::pipe(theirs),
        counted,
        BytesMut::new(),
        0,
        reading.first_read,
    );
    let Reading { timeout, .. } = reading;
    let served = super::conn::requests(ctx.clone(), client, timeout, timeout);
    let (from_loop, to_loop) = tokio::io::split(ours);
    let (done, answer_done) = tokio::sync::oneshot::channel();
    let sent = send_request(to_loop, head, body, chunked, answer_done);
    let answered = async {
        answer(from_loop, respond, head_only).await;
        let _ = done.send(());
    };
    tokio::join!(served, sent, answered);
}

/// The HTTP/1 head standing for the stream's request, and whether its body goes chunked
/// (a body without `content-length`, which nginx reads as chunked too).
fn request_head(parts: &http::request::Parts, ended: bool) -> (Vec<u8>, bool) {
    let mut head = Vec::with_capacity(512);
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    head.extend_from_slice(parts.method.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    let mut line = |name: &[u8], value: &[u8]| {
        head.extend_from_slice(name);
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    };
    if let Some(authority) = parts.uri.authority() {
        line(b"host", authority.as_str().as_bytes());
    }
    let mut cookies: Vec<&[u8]> = Vec::new();
    for (name, value) in &parts.headers {
        match name.as_str() {
            "cookie" => cookies.push(value.as_bytes()),
            name => line(name.as_bytes(), value.as_bytes()),
        }
    }
    if !cookies.is_empty() {
        line(b"cookie", &cookies.join(&b"; "[..]));
    }
    let chunked = !ended && !parts.headers.contains_key(http::header::CONTENT_LENGTH);
    if chunked {
        line(b"transfer-encoding", b"chunked");
    }
    head.extend_from_slice(b"\r\n");
    (head, chunked)
}

/// Writes the head and then the stream's body (chunked when `chunked`) to the loop, giving
/// the client back its flow-control window as the loop takes the bytes. A body the loop no
/// longer reads (it answered early) is read and dropped until the answer has been sent:
/// giving up the stream's receiving half sooner would let the h2 crate cancel the stream,
/// answer unsent.
async fn send_request(
    mut to_loop: WriteHalf<tokio::io::DuplexStream>,
    head: Vec<u8>,
    mut body: RecvStream,
    chunked: bool,
    mut answered: tokio::sync::oneshot::Receiver<()>,
) {
    let mut taken = to_loop.write_all(&head).await.is_ok();
    loop {
        let data = tokio::select! {
            data = body.data() => data,
            _ = &mut answered, if !taken => return,
        };
        let Some(Ok(data)) = data else { break };
        let n = data.len();
        if taken {
            let written = match chunked {
                true if n == 0 => Ok(()),
                true => {
                    let size = format!("{n:x}\r\n");
                    let mut chunk = Vec::with_capacity(size.len() + n + 2);
                    chunk.extend_from_slice(size.as_bytes());
                    chunk.extend_from_slice(&data);
                    chunk.extend_from_slice(b"\r\n");
                    to_loop.write_all(&chunk).await
                }
                false => to_loop.write_all(&data).await,
            };
            taken = written.is_ok();
        }
        let _ = body.flow_control().release_capacity(n);
    }
    if chunked && taken {
        let _ = to_loop.write_all(b"0\r\n\r\n").await;
    }
    // Held until the answer is out, for the same reason.
    let _ = answered.await;
}

/// Reads the loop's answer and sends it on the stream.
async fn answer(
    mut from_loop: ReadHalf<tokio::io::DuplexStream>,
    mut respond: SendResponse<Bytes>,
    head_only: bool,
) {
    let mut buf = BytesMut::with_capacity(4096);
    let end = loop {
        if let Some(end) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break end;
        }
        match from_loop.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                respond.send_reset(h2::Reason::INTERNAL_ERROR);
                return;
            }
            Ok(_) => {}
        }
    };
    let head = buf.split_to(end + 4);
    let Some(response) = response_head(&head) else {
        respond.send_reset(h2::Reason::INTERNAL_ERROR);
        return;
    };
    let status = response.status();
    let empty = head_only
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0");
    let Ok(mut send) = respond.send_response(response, empty) else {
        return;
    };
    if empty {
        return;
    }
    let mut pending = buf.freeze();
    loop {
        if !pending.is_empty() && send_data(&mut send, pending).await.is_err() {
            return;
        }
        let mut next = BytesMut::with_capacity(PIPE);
        match from_loop.read_buf(&mut next).await {
            Ok(0) => break,
            Ok(_) => pending = next.freeze(),
            Err(_) => {
                send.send_reset(h2::Reason::INTERNAL_ERROR);
                return;
            }
        }
    }
    let _ = send.send_data(Bytes::new(), true);
}

/// `data` on the stream as the client's window lets it through.
async fn send_data(send: &mut SendStream<Bytes>, mut data: Bytes) -> Result<(), h2::Error> {
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let granted = poll_fn(|cx| send.poll_capacity(cx)).await;
        let room = match granted {
            Some(room) => room?,
            None => return Err(h2::Error::from(h2::Reason::STREAM_CLOSED)),
        };
        if room > 0 {
            send.send_data(data.split_to(room.min(data.len())), false)?;
        }
    }
    Ok(())
}

/// The loop's `HTTP/1.1 NNN ...` head as an HTTP/2 answer.
fn response_head(head: &[u8]) -> Option<Response<()>> {
    let text = head.strip_suffix(b"\r\n\r\n")?;
    let mut lines = text
        .split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next()?;
    let code = status_line.get(9..12)?;
    let status = StatusCode::from_bytes(code).ok()?;
    let mut response = Response::builder().status(status);
    for line in lines {
        let colon = line.iter().position(|&c| c == b':')?;
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        let Ok(name) = HeaderName::from_bytes(name) else {
            continue;
        };
        if CONNECTION_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if let Ok(value) = HeaderValue::from_bytes(value) {
            response = response.header(name, value);
        }
    }
    response.body(()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_head_is_nginx_s() {
        let request = Request::builder()
            .method("POST")
            .uri("https://example.test:8443/a/b?x=1")
            .header("user-agent", "curl/7.88.1")
            .header("cookie", "a=1")
            .header("accept", "*/*")
            .header("cookie", "b=2")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let (head, chunked) = request_head(&parts, false);
        assert!(chunked);
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "POST /a/b?x=1 HTTP/1.1\r\nhost: example.test:8443\r\nuser-agent: curl/7.88.1\r\n\
             accept: */*\r\ncookie: a=1; b=2\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        let (_, chunked) = request_head(&parts, true);
        assert!(!chunked);
    }

    #[test]
    fn the_answer_loses_its_connection_headers() {
        let head = b"HTTP/1.1 404 Not Found\r\nServer: nginx/1.22.1\r\nContent-Length: 3\r\n\
                     Connection: close\r\nX-A: b\r\n\r\n";
        let response = response_head(head).unwrap();
        assert_eq!(response.status(), 404);
        let names: Vec<&str> = response.headers().keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["server", "content-length", "x-a"]);
        assert!(response_head(b"HTTP/1.1 2\r\n\r\n").is_none());
    }
}
