//! Listening sockets as nginx opens them (socket2: `reuseport`, `backlog`, `ipv6only`, and
//! SO_REUSEADDR as nginx sets it), and the accept loop that hands each connection to
//! [`conn::serve`](super::conn::serve) under the `worker_connections` cap.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

use super::conn;
use super::server::{Phase, Shared};
use crate::eval::plan::ListenSpec;

/// nginx's default backlog on Linux (`NGX_LISTEN_BACKLOG`).
const DEFAULT_BACKLOG: i32 = 511;

/// Binds `spec`. No runtime is needed yet, so a daemon can fork after binding, as nginx does.
pub fn bind(spec: &ListenSpec) -> io::Result<std::net::TcpListener> {
    let domain = Domain::for_address(spec.addr);
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if spec.reuseport {
        socket.set_reuse_port(true)?;
    }
    if spec.addr.is_ipv6() {
        socket.set_only_v6(spec.ipv6only)?;
    }
    socket.set_nonblocking(true)?;
    socket
        .bind(&spec.addr.into())
        .map_err(|e| with_context(spec, "bind", e))?;
    socket
        .listen(spec.backlog.unwrap_or(DEFAULT_BACKLOG))
        .map_err(|e| with_context(spec, "listen", e))?;
    Ok(socket.into())
}

/// nginx's `bind() to 127.0.0.1:80 failed (98: Address already in use)`.
fn with_context(spec: &ListenSpec, call: &str, e: io::Error) -> io::Error {
    let os = crate::syntax::include::os_error(&e);
    io::Error::new(e.kind(), format!("{call}() to {} failed ({os})", spec.addr))
}

/// Accepts until the server stops; each connection gets the configuration current at accept.
pub async fn accept_loop(shared: Arc<Shared>, spec: ListenSpec, listener: std::net::TcpListener) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            super::log::error(format_args!("cannot watch {}: {e}", spec.addr));
            return;
        }
    };
    let mut phase = shared.phase.subscribe();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = phase.wait_for(|p| *p != Phase::Running) => return,
        };
        let (tcp, remote) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                super::log::error(format_args!(
                    "accept() failed ({})",
                    crate::syntax::include::os_error(&e)
                ));
                // EMFILE and friends: give the process a moment, as nginx disables accept.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        shared.counts.accepted.add();
        let Ok(permit) = shared.limit.clone().try_acquire_owned() else {
            super::log::warn(format_args!(
                "{} worker_connections are not enough",
                shared.worker_connections
            ));
            continue;
        };
        tokio::spawn(conn::serve(
            shared.clone(),
            spec.clone(),
            tcp,
            remote,
            permit,
        ));
    }
}

/// The address the OS actually bound (differs from the spec for port 0).
pub fn bound_addr(listener: &std::net::TcpListener, spec: &ListenSpec) -> SocketAddr {
    listener.local_addr().unwrap_or(spec.addr)
}
