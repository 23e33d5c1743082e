//! One client connection: TLS handshake when the socket is `ssl`, then hyper's HTTP/1.1 server
//! (keep-alive, pipelining, HTTP/1.0, upgrades) with nginx-looking output, until the client
//! leaves or a graceful shutdown asks it to finish its current request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use super::capture::HeadCapture;
use super::context::ConnCtx;
use super::request;
use super::server::{Phase, Shared};
use super::status_line::StatusLine;
use super::stream::Downstream;
use crate::eval::plan::ListenSpec;

/// nginx's `client_header_timeout` (also bounds the TLS handshake and idle keep-alive).
const HEADER_TIMEOUT: Duration = Duration::from_secs(60);

/// Keeps a connection counted (and within `worker_connections`) while anything uses it,
/// including a tunnel that outlives hyper's part of the connection.
#[derive(Debug)]
pub struct Live {
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.shared.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.drained.notify_waiters();
        }
    }
}

pub async fn serve(
    shared: Arc<Shared>,
    spec: ListenSpec,
    tcp: TcpStream,
    remote: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let opened = Instant::now();
    // Numbered on accept, as nginx does, so a failed TLS handshake uses a number too.
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.live.fetch_add(1, Ordering::AcqRel);
    let live = Live {
        shared: shared.clone(),
        _permit: permit,
    };
    let _ = tcp.set_nodelay(true);
    let local = tcp.local_addr().unwrap_or(spec.addr);
    let state = shared.state.load_full();
    let capture = Arc::new(HeadCapture::default());
    let status_line = Arc::new(StatusLine::default());
    let (stream, sni, handshake) = if spec.ssl {
        let acceptor = state.acceptor(spec.addr);
        match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => {
                let sni = tls.get_ref().1.server_name().map(Arc::from);
                let handshake = super::tls::facts(tls.get_ref().1);
                (
                    Downstream::tls(tls, capture.clone(), status_line.clone()),
                    sni,
                    Some(handshake),
                )
            }
            Ok(Err(e)) => {
                super::log::info(format_args!(
                    "SSL_do_handshake() failed ({e}) while SSL handshaking, client: {}",
                    remote.ip()
                ));
                return;
            }
            Err(_) => return,
        }
    } else {
        (
            Downstream::plain(tcp, capture.clone(), status_line.clone()),
            None,
            None,
        )
    };
    let ctx = Arc::new(ConnCtx {
        state,
        listen: spec.addr,
        remote,
        local,
        tls: spec.ssl,
        sni,
        handshake,
        id,
        requests: AtomicU64::new(0),
        opened,
        _live: live,
        heads: capture,
        status_line,
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .title_case_headers(true)
        .auto_date_header(false)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let service = service_fn(move |req| request::handle(ctx.clone(), req));
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut phase = shared.phase.subscribe();
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = phase.wait_for(|p| *p != Phase::Running) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}
