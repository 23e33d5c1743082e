//! One client connection: the PROXY protocol header when the socket wants one, the TLS
//! handshake when it is `ssl`, then nginx's HTTP/1.x server loop (keep-alive, pipelining,
//! HTTP/1.0, upgrades): read a head, handle the request, send the answer, skip what is left
//! of the body, and again, until the client leaves, a request asks to close, or a graceful
//! shutdown asks the connection to finish. A malformed head gets nginx's error page and a
//! close; a 101 hands the socket to the tunnel.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::sync::OwnedSemaphorePermit;

use super::client::{Client, HeadError};
use super::context::ConnCtx;
use super::counted::{Counted, Stage};
use super::log::Level;
use super::parse::Vhost;
use super::proxy_protocol;
use super::request::{self, Handled, HeadEnd};
use super::request_body::CONTINUE;
use super::server::{Phase, Shared};
use super::socket::Socket;
use super::stream::Downstream;
use super::tls::Refused;
use super::tunnel::Tunnel;
use super::write::{self, Sent};
use crate::eval::plan::{ListenAddr, ListenSpec, Peer};
use crate::syntax::include::os_error;

/// Keeps a connection counted (and within `worker_connections`) while anything uses it,
/// including a tunnel that outlives the HTTP part of the connection.
#[derive(Debug)]
pub struct Live {
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.shared.counts.active.0.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.shared.drained.notify_waiters();
        }
    }
}

pub async fn serve(
    shared: Arc<Shared>,
    spec: Arc<ListenSpec>,
    mut socket: Socket,
    remote: Peer,
    permit: OwnedSemaphorePermit,
) {
    let opened = Instant::now();
    // Numbered on accept, as nginx does, so a failed TLS handshake uses a number too.
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.counts.active.add();
    let mut counted = Counted::accepted(shared.counts.clone());
    let live = Live {
        shared: shared.clone(),
        _permit: permit,
    };
    socket.set_nodelay();
    let local = match (&socket, &spec.addr) {
        // Bound to one address, the listen socket's connections have it as theirs: as nginx,
        // the kernel is asked (`getsockname`) only behind a wildcard address.
        (Socket::Tcp(tcp), ListenAddr::Inet(a)) if a.ip().is_unspecified() => {
            tcp.local_addr().map_or(spec.addr.clone(), ListenAddr::Inet)
        }
        // A unix-domain socket's local address is the listen socket's.
        _ => spec.addr.clone(),
    };
    let state = shared.state.load_full();
    // It also bounds the TLS handshake.
    let header_timeout = state.site.client_header_timeout(&spec.addr);
    let mut idle_timeout = header_timeout;
    let mut ahead = BytesMut::new();
    // The first read, a PROXY header's too, is of the default server's buffer size.
    let first_buffers = state.site.header_buffers(&spec.addr, &local, None);
    let mut header_len = 0;
    let proxy_protocol = if spec.proxy_protocol_at(&local) {
        // One `client_header_timeout` covers the PROXY header and the first request's head.
        let deadline = tokio::time::Instant::now() + header_timeout;
        let read = async {
            match spec.ssl {
                true => proxy_protocol::read_before_tls(&mut socket).await,
                false => {
                    let first_read = first_buffers.client;
                    let read = proxy_protocol::read_plain(&mut socket, &mut ahead, first_read);
                    read.await.map(|(pp, len)| {
                        header_len = len;
                        pp
                    })
                }
            }
        };
        match tokio::time::timeout_at(deadline, read).await {
            Ok(Ok(pp)) => {
                idle_timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
                pp
            }
            Ok(Err(proxy_protocol::Failed::Refused(proxy_protocol::Refused(Some(message))))) => {
                let mut line = format!("*{id} ").into_bytes();
                line.extend_from_slice(&message);
                let context = format!(
                    " while reading PROXY protocol, client: {remote}, server: {}",
                    spec.addr
                );
                line.extend_from_slice(context.as_bytes());
                super::log::write_bytes(Level::Error, &line);
                return;
            }
            _ => return,
        }
    } else {
        None
    };
    // nginx peeks at the first byte: a TLS (or SSLv2) record starts a handshake, anything
    // else is read as plain HTTP and refused once its head is in (ngx_http_ssl_handshake).
    let plain_on_ssl = spec.ssl && {
        let mut first = [0u8; 1];
        let end = match tokio::time::timeout(header_timeout, socket.peek(&mut first)).await {
            Ok(Ok(1)) => None,
            Ok(Ok(_)) => Some(Idle::Closed(None)),
            Ok(Err(e)) => Some(Idle::Closed(Some(e))),
            Err(_) => Some(Idle::TimedOut),
        };
        if let Some(end) = end {
            return waiting_end(id, &remote, &spec.addr, HANDSHAKING, end);
        }
        first[0] & 0x80 == 0 && first[0] != 0x16
    };
    if spec.ssl && !plain_on_ssl {
        counted.to(Stage::Handshake);
    }
    let (stream, sni, handshake, client_cert) = if spec.ssl && !plain_on_ssl {
        let acceptor = state.acceptor(&spec);
        match tokio::time::timeout(header_timeout, acceptor.accept(socket)).await {
            Ok(Ok((tls, client_cert))) => {
                let sni = tls.get_ref().1.server_name().map(Arc::from);
                let handshake = super::tls::facts(tls.get_ref().1);
                (Downstream::tls(tls), sni, Some(handshake), client_cert)
            }
            Ok(Err(Refused::Rejected)) => {
                super::log::info(format_args!(
                    "*{id} handshake rejected while SSL handshaking, client: {remote}, server: {local}"
                ));
                return;
            }
            Ok(Err(Refused::Failed(e))) => {
                super::log::info(format_args!(
                    "*{id} SSL_do_handshake() failed ({e}) while SSL handshaking, client: {remote}, server: {local}"
                ));
                return;
            }
            Err(_) => return,
        }
    } else {
        (Downstream::plain(socket), None, None, None)
    };
    counted.to(Stage::Waiting);
    // nginx 1.22 speaks HTTP/2 where ALPN chose it, and on every connection to a plain
    // `listen ... http2` (h2c with prior knowledge: an HTTP/1 client is refused there).
    let http2 = match &handshake {
        Some(h) => h.alpn == "h2",
        None => spec.http2 && !plain_on_ssl,
    };
    let ctx = Arc::new(ConnCtx {
        state,
        listen: spec.addr.clone(),
        remote,
        local,
        proxy_protocol,
        tls: spec.ssl && !plain_on_ssl,
        plain_on_ssl,
        sni,
        http2,
        handshake,
        client_cert,
        id,
        requests: AtomicU64::new(0),
        opened,
        _live: live,
    });
    if http2 {
        return super::http2::serve(ctx, stream, counted).await;
    }
    let client = Client::new(stream, counted, ahead, header_len, first_buffers.client);
    requests(ctx, client, header_timeout, idle_timeout).await;
}

/// nginx's HTTP/1.x server loop on `client`: heads read with `header_timeout`, the first
/// one waited for `idle_timeout`.
pub async fn requests(
    ctx: Arc<ConnCtx>,
    mut client: Client,
    header_timeout: Duration,
    mut idle_timeout: Duration,
) {
    // nginx reads heads with the header buffers of the server SNI chose, else of the
    // socket's default server, until a host name chooses another.
    let site = &ctx.state.site;
    let buffers = site.header_buffers(
        &ctx.listen,
        &ctx.local,
        ctx.sni.as_deref().map(str::as_bytes),
    );
    let by_name = |name: &[u8]| site.header_buffers(&ctx.listen, &ctx.local, Some(name));
    let vhost = Vhost {
        buffers,
        by_name: &by_name,
    };
    let mut phase = ctx.state.phase.subscribe();
    // Before the first request, `client_header_timeout` (what is left of it after a PROXY
    // header); between requests, the last one's `keepalive_timeout` while nothing has
    // arrived.
    let mut kept_alive = false;
    loop {
        let idle = !client.has_buffered();
        let timeout = if idle { idle_timeout } else { header_timeout };
        // nginx's QUIT closes a kept-alive connection waiting for its next request (it is
        // `idle` to nginx); one waiting for its first request is closed only by
        // `worker_shutdown_timeout`, as the rest.
        let stop = async {
            let stops = |p: &Phase| *p == Phase::Closing || (kept_alive && *p != Phase::Running);
            let _ = phase.wait_for(stops).await;
        };
        let handled = match client.read_head(timeout, &vhost, stop).await {
            Ok(head) => Ok(head),
            Err(HeadError::Invalid(e, head)) => Err((e, head)),
            Err(HeadError::Closed(None, error)) => return idle_end(&ctx, Idle::Closed(error)),
            Err(HeadError::TimedOut(None)) => return idle_end(&ctx, Idle::TimedOut),
            Err(HeadError::Closed(Some(head), error)) => {
                return request::cut_short(&ctx, head, HeadEnd::Closed(error));
            }
            Err(HeadError::TimedOut(Some(head))) => {
                return request::cut_short(&ctx, head, HeadEnd::TimedOut);
            }
            // The shutdown timer closes at once (nginx sets `c->error`: no TLS
            // close_notify); QUIT says goodbye to a kept-alive connection.
            Err(HeadError::Stopped) if *ctx.state.phase.borrow() == Phase::Closing => return,
            Err(HeadError::Stopped) => return client.close().await,
        };
        kept_alive = true;
        let next = {
            // Pinned where it is built: the request's future is most of the connection's,
            // and moving it (into `select!`) would copy all of it for every request.
            let served = std::pin::pin!(async {
                let handled = match handled {
                    Ok(head) => request::handle(&ctx, head, &mut client).await,
                    Err((e, head)) => request::refused(&ctx, e, head, ctx.next_request()),
                };
                serve_answer(&ctx, handled, &mut client, &mut idle_timeout).await
            });
            // `worker_shutdown_timeout` ends the request wherever it stands (nginx
            // terminates it): its log line is written as far as it got, and the connection
            // closes.
            let closing = async {
                let _ = phase.wait_for(|p| *p == Phase::Closing).await;
            };
            tokio::select! {
                next = served => next,
                () = closing => return,
            }
        };
        match next {
            Next::Request => {}
            Next::Close => return,
            Next::CloseGracefully => return client.close().await,
            Next::Tunnel(tunnel) => {
                // The tunnel gets the socket and what the client sent past its head; this
                // task (and its buffers) ends here.
                let to_upstream = client.buf.to_vec();
                let tunnel = tunnel.serve(client.io, to_upstream, client.counted);
                // Outside tokio's cooperative budget, which every socket poll would
                // otherwise charge: the tunnel yields by its own (`tunnel::BUDGET`).
                let tunnel = Box::new(tunnel).until_closing(ctx.state.phase.subscribe());
                tokio::spawn(tokio::task::unconstrained(tunnel));
                return;
            }
        }
    }
}

/// What a connection does after a request.
enum Next {
    /// Reads the next request.
    Request,
    /// Closes at once (the client went away, `return 444`).
    Close,
    /// Says goodbye and closes.
    CloseGracefully,
    /// Hands the socket to this tunnel.
    Tunnel(Box<Tunnel>),
}

/// Sends the answer the request was `handled` with, then skips what is left of its body.
async fn serve_answer(
    ctx: &ConnCtx,
    handled: Handled,
    client: &mut Client,
    idle_timeout: &mut std::time::Duration,
) -> Next {
    let (mut answer, mut body) = match handled {
        Handled::Answer { answer, body, idle } => {
            *idle_timeout = idle;
            (answer, body)
        }
        Handled::Close => return Next::Close,
    };
    if body.owes_continue() {
        let head = std::mem::take(&mut answer.head);
        answer.head.extend_from_slice(CONTINUE);
        answer.head.extend_from_slice(&head);
        answer.record_interim(CONTINUE.len());
    } else if body.continued() {
        answer.record_interim(CONTINUE.len());
    }
    let tunnel = answer.tunnel.take();
    // A tunnel does not wait for them: they run on beside it.
    let background = match tunnel {
        None => std::mem::take(&mut answer.background),
        Some(_) => Vec::new(),
    };
    let post_action = tunnel.is_none() && answer.body.post_action();
    if !background.is_empty() || post_action {
        answer.body.hold_log();
    }
    let sent = write::send(client, &mut answer).await;
    // The request is over once its background subrequests are (mirrors, a cache update):
    // its log line comes after theirs, and the connection's next request waits for them.
    for task in background {
        let _ = task.await;
    }
    // Then its `post_action`, which the next request waits for too.
    if post_action && let Some(line) = answer.body.take_line() {
        request::post_action(line).await;
    }
    drop(answer.body);
    if let Sent::Broken = sent {
        return Next::Close;
    }
    if let Some(tunnel) = tunnel {
        return Next::Tunnel(tunnel);
    }
    // A graceful shutdown keeps no connection alive (nginx's `ngx_exiting`). Else a body no
    // one read is discarded first, kept connection or not: a client still sending it would
    // otherwise see its connection reset, maybe before the answer.
    if ctx.draining() || body.discard(client).await.is_err() || !answer.keepalive {
        return Next::CloseGracefully;
    }
    Next::Request
}

/// How a connection waiting for a request's first byte ended.
#[derive(Debug)]
enum Idle {
    /// The client closed, or reset (the error).
    Closed(Option<std::io::Error>),
    TimedOut,
}

/// nginx's `[info]` line for a connection that ended while no head had begun: before its
/// first request (`ngx_http_wait_request_handler`, in the connection's context; a TLS
/// client's reset reads as its close there, as `ngx_ssl_recv` takes it), or between
/// requests (`ngx_http_keepalive_handler`, which names only the client and the reset it
/// let pass as a close, and says nothing when `keepalive_timeout` ends it).
fn idle_end(ctx: &ConnCtx, end: Idle) {
    if ctx.requests.load(Ordering::Relaxed) == 0 {
        // A TLS client's failure reads as its close.
        let end = match end {
            Idle::Closed(Some(_)) if ctx.tls => Idle::Closed(None),
            end => end,
        };
        return waiting_end(ctx.id, &ctx.remote, &ctx.listen, WAITING, end);
    }
    if let Idle::Closed(error) = end {
        let os = error.map_or_else(String::new, |e| format!(" ({})", os_error(&e)));
        let remote = &ctx.remote;
        super::log::info(format_args!(
            "*{} client {remote} closed keepalive connection{os}",
            ctx.id
        ));
    }
}

/// nginx's action before a first request.
const WAITING: &str = "waiting for request";
/// Its action while it peeks at an `ssl` socket's first byte (`ngx_http_ssl_handshake`).
const HANDSHAKING: &str = "SSL handshaking";

/// [`idle_end`] before a first request (connection `id` from `remote` on `listen`), while
/// nginx was at `action`.
fn waiting_end(id: u64, remote: &Peer, listen: &ListenAddr, action: &str, end: Idle) {
    let context = format_args!("while {action}, client: {remote}, server: {listen}");
    match end {
        Idle::TimedOut => super::log::info(format_args!(
            "*{id} client timed out (110: Connection timed out) {context}"
        )),
        Idle::Closed(Some(e)) => {
            super::log::info(format_args!(
                "*{id} recv() failed ({}) {context}",
                os_error(&e)
            ));
        }
        Idle::Closed(None) => {
            super::log::info(format_args!("*{id} client closed connection {context}"));
        }
    }
}
