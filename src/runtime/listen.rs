//! Listening sockets as nginx opens them (socket2: `reuseport`, `backlog`, `ipv6only`, and
//! SO_REUSEADDR as nginx sets it; a unix-domain socket's file made writable by all, and
//! deleted when the socket is closed for good; then the options of
//! [`listen_options`](super::listen_options)), and the accept loop that hands each
//! connection to [`conn::serve`](super::conn::serve) under the `worker_connections` cap.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Type};
use tokio::net::{TcpListener, UnixListener};

use super::conn;
use super::listen_options;
use super::server::{Phase, Shared};
use super::socket::Socket;
use crate::eval::plan::{ListenAddr, ListenSpec, Peer, SocketOptions};

/// A bound, listening socket. The copy [`bind`] returns owns a unix-domain socket's file;
/// the copies each worker accepts on do not.
#[derive(Debug)]
pub struct Listener {
    kind: Kind,
    /// Held for its `Drop`.
    _file: Option<SocketFile>,
}

#[derive(Debug)]
enum Kind {
    Tcp(std::net::TcpListener),
    Unix(StdUnixListener),
}

/// A unix-domain socket's file, deleted when the socket closes for good (nginx's
/// `ngx_close_listening_sockets`, and a reload that drops the socket).
#[derive(Debug)]
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            super::log::write(
                super::log::Level::Emerg,
                format_args!(
                    "unlink() {} failed ({})",
                    self.0.display(),
                    crate::syntax::include::os_error(&e)
                ),
            );
        }
    }
}

impl Listener {
    /// Another descriptor of the same socket, for one more worker to accept on.
    pub fn try_clone(&self) -> io::Result<Listener> {
        let kind = match &self.kind {
            Kind::Tcp(l) => Kind::Tcp(l.try_clone()?),
            Kind::Unix(l) => Kind::Unix(l.try_clone()?),
        };
        Ok(Listener { kind, _file: None })
    }

    /// The address the OS actually bound (differs from the spec for port 0).
    pub fn bound_addr(&self, spec: &ListenSpec) -> ListenAddr {
        match &self.kind {
            Kind::Tcp(l) => l.local_addr().map_or(spec.addr.clone(), ListenAddr::Inet),
            Kind::Unix(_) => spec.addr.clone(),
        }
    }

    /// Sets `spec`'s options on a socket kept across a reload that was configured with
    /// `before`, as nginx's new cycle configures the sockets it inherits.
    pub fn reconfigure(&self, spec: &ListenSpec, before: &SocketOptions) {
        listen_options::configure(self, &spec.addr, &spec.socket, Some(before));
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.kind {
            Kind::Tcp(l) => l.as_fd(),
            Kind::Unix(l) => l.as_fd(),
        }
    }
}

/// Binds `spec`. No runtime is needed yet, so a daemon can fork after binding, as nginx does.
pub fn bind(spec: &ListenSpec) -> io::Result<Listener> {
    let (domain, protocol, addr) = match &spec.addr {
        ListenAddr::Inet(a) => (
            Domain::for_address(*a),
            Some(Protocol::TCP),
            SockAddr::from(*a),
        ),
        ListenAddr::Unix(path) => (Domain::UNIX, None, SockAddr::unix(&**path)?),
    };
    let socket = socket2::Socket::new(domain, Type::STREAM, protocol)?;
    socket.set_reuse_address(true)?;
    if spec.socket.reuseport {
        socket.set_reuse_port(true)?;
    }
    if spec.addr.inet().is_some_and(|a| a.is_ipv6()) {
        socket.set_only_v6(spec.socket.ipv6only)?;
    }
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr)
        .map_err(|e| with_context(spec, "bind", e))?;
    let file = match &spec.addr {
        ListenAddr::Inet(_) => None,
        ListenAddr::Unix(path) => {
            let path = Path::new(&**path);
            // Every local user may connect, as nginx's `chmod()` allows.
            let all = std::fs::Permissions::from_mode(0o666);
            if let Err(e) = std::fs::set_permissions(path, all) {
                super::log::write(
                    super::log::Level::Emerg,
                    format_args!(
                        "chmod() \"{}\" failed ({})",
                        path.display(),
                        crate::syntax::include::os_error(&e)
                    ),
                );
            }
            Some(SocketFile(path.to_path_buf()))
        }
    };
    socket
        .listen(listen_options::backlog(&spec.socket))
        .map_err(|e| with_context(spec, "listen", e))?;
    listen_options::configure(&socket, &spec.addr, &spec.socket, None);
    let kind = match spec.addr {
        ListenAddr::Inet(_) => Kind::Tcp(socket.into()),
        ListenAddr::Unix(_) => Kind::Unix(socket.into()),
    };
    Ok(Listener { kind, _file: file })
}

/// nginx's `bind() to 127.0.0.1:80 failed (98: Address already in use)`.
fn with_context(spec: &ListenSpec, call: &str, e: io::Error) -> io::Error {
    let os = crate::syntax::include::os_error(&e);
    io::Error::new(e.kind(), format!("{call}() to {} failed ({os})", spec.addr))
}

/// A worker's copy of a listening socket, registered with its runtime.
enum Accepting {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Accepting {
    async fn accept(&self) -> io::Result<(Socket, Peer)> {
        match self {
            Accepting::Tcp(l) => {
                let (tcp, remote) = l.accept().await?;
                Ok((Socket::Tcp(tcp), Peer::Inet(remote)))
            }
            Accepting::Unix(l) => {
                let (unix, remote) = l.accept().await?;
                let path = remote.as_pathname().map(Arc::from);
                Ok((Socket::Unix(unix), Peer::Unix(path)))
            }
        }
    }
}

/// Accepts until the server stops; each connection gets the configuration current at accept.
pub async fn accept_loop(shared: Arc<Shared>, spec: Arc<ListenSpec>, listener: Listener) {
    let accepting = match listener.kind {
        Kind::Tcp(l) => TcpListener::from_std(l).map(Accepting::Tcp),
        Kind::Unix(l) => UnixListener::from_std(l).map(Accepting::Unix),
    };
    let accepting = match accepting {
        Ok(a) => a,
        Err(e) => {
            super::log::error(format_args!("cannot watch {}: {e}", spec.addr));
            return;
        }
    };
    let mut phase = shared.phase.subscribe();
    loop {
        let accepted = tokio::select! {
            accepted = accepting.accept() => accepted,
            _ = phase.wait_for(|p| *p != Phase::Running) => return,
        };
        let (socket, remote) = match accepted {
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
        // Boxed: the connection's future is several KiB, and tokio would otherwise move it
        // whole through each layer of `spawn` and again as the task starts and ends.
        tokio::spawn(Box::pin(conn::serve(
            shared.clone(),
            spec.clone(),
            socket,
            remote,
            permit,
        )));
    }
}
