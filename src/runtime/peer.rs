//! Connections to upstream servers: connecting under `proxy_connect_timeout`, and the
//! `keepalive N` cache of idle connections per group (nginx's keepalive module: at most N idle
//! connections, most recent first, each dropped after `keepalive_timeout` idle, or as soon as
//! the server closes it; one that has carried `keepalive_requests` requests or is older than
//! `keepalive_time` is closed when its request ends instead of being cached).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use nix::sys::socket::MsgFlags;
use socket2::{Domain, Socket as Socket2, Type};
use tokio::net::TcpStream;

use super::error::{ProxyError, Stage};
use super::peer_stream::PeerStream;
use super::socket::Socket;
use super::upstream_tls::Connector;
use crate::eval::plan::{KeepaliveLimits, PeerAddr, UpstreamGroup};

/// An open connection to one upstream server, with what was read past the last response.
#[derive(Debug)]
pub struct PeerConn {
    pub stream: PeerStream,
    pub addr: PeerAddr,
    /// Bytes read but not yet consumed.
    pub buf: BytesMut,
    /// Requests sent on it so far.
    pub requests: u64,
    /// When it was opened (`keepalive_time` counts from here).
    pub opened: Instant,
    /// Whether it came from the keepalive cache.
    pub cached: bool,
    /// A connect was started and not yet confirmed (see [`PeerConn::confirm`]).
    connecting: bool,
    /// When the connect (and TLS handshake) was known to be done: `$upstream_connect_time`
    /// runs until then.
    pub connected_at: Instant,
}

/// Connects to `addr` within `timeout`, then with `tls` (the client and the name) runs the
/// TLS handshake within `timeout` again (nginx arms `proxy_connect_timeout` anew for it).
/// The attempt takes a number from `connections`, as nginx's `ngx_event_connect_peer` does
/// before it connects, so `$connection` of the next client jumps past it even when this
/// connect fails.
pub async fn connect(
    addr: &PeerAddr,
    timeout: Duration,
    connections: &AtomicU64,
    tls: Option<(&Connector, &str)>,
) -> Result<PeerConn, ProxyError> {
    connections.fetch_add(1, Ordering::Relaxed);
    if let (PeerAddr::Tcp(a), None) = (addr, tls) {
        let socket = start_connect(*a).map_err(|e| ProxyError::Io(Stage::Connecting, e))?;
        return Ok(PeerConn {
            connecting: true,
            ..PeerConn::new(PeerStream::Plain(Socket::Tcp(socket)), addr)
        });
    }
    let socket = match tokio::time::timeout(timeout, PeerStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(ProxyError::Io(Stage::Connecting, e)),
        Err(_) => return Err(ProxyError::TimedOut(Stage::Connecting)),
    };
    let stream = match tls {
        Some((connector, name)) => {
            let handshake = connector.handshake(socket, name, addr);
            match tokio::time::timeout(timeout, handshake).await {
                Ok(Ok(s)) => PeerStream::tls(s),
                Ok(Err(e)) => return Err(ProxyError::Handshake(e)),
                Err(_) => return Err(ProxyError::TimedOut(Stage::Handshaking)),
            }
        }
        None => PeerStream::Plain(socket),
    };
    Ok(PeerConn::new(stream, addr))
}

/// A non-blocking `connect()` to `addr`, as nginx's `ngx_event_connect_peer` starts one: the
/// socket is returned while the handshake may still be under way (on loopback it is usually
/// over by the time `connect()` returns); [`PeerConn::confirm`] learns how it ended.
fn start_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket2::new(Domain::for_address(addr), Type::STREAM.nonblocking(), None)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    TcpStream::from_std(std::net::TcpStream::from(socket))
}

impl PeerConn {
    fn new(stream: PeerStream, addr: &PeerAddr) -> PeerConn {
        // Like nginx, no TCP_NODELAY here: a request goes out in one write. Streamed bodies
        // and tunnels set it when they start.
        let now = Instant::now();
        PeerConn {
            stream,
            addr: addr.clone(),
            buf: BytesMut::new(),
            requests: 0,
            opened: now,
            cached: false,
            connecting: false,
            connected_at: now,
        }
    }

    /// Finishes a connect that [`connect`] started, with the request's first bytes: they are
    /// sent at once, which succeeds when the handshake is over and so saves waiting a turn of
    /// the event loop for the socket to become writable and asking it how the connect ended
    /// (`SO_ERROR`). Still under way, the connect gets `timeout` (`proxy_connect_timeout`) to
    /// finish. Returns how many of `first` went out; errors are the connect's, as nginx logs
    /// them (`connect() failed ... while connecting to upstream`).
    pub async fn confirm(&mut self, first: &[u8], timeout: Duration) -> Result<usize, ProxyError> {
        if !std::mem::take(&mut self.connecting) {
            return Ok(0);
        }
        let Some(socket) = self.stream.plain_tcp() else {
            return Ok(0);
        };
        let failed = |e| ProxyError::Io(Stage::Connecting, e);
        let sent = nix::sys::socket::send(socket.as_raw_fd(), first, MsgFlags::MSG_NOSIGNAL);
        match sent {
            Ok(n) => {
                self.connected_at = Instant::now();
                return Ok(n);
            }
            Err(nix::errno::Errno::EAGAIN) => {}
            Err(e) => return Err(failed(e.into())),
        }
        match tokio::time::timeout(timeout, socket.writable()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(failed(e)),
            Err(_) => return Err(ProxyError::TimedOut(Stage::Connecting)),
        }
        match socket.take_error() {
            Ok(None) => {
                self.connected_at = Instant::now();
                Ok(0)
            }
            Ok(Some(e)) | Err(e) => Err(failed(e)),
        }
    }
}

/// The idle connections of one group (`keepalive N`).
#[derive(Debug)]
pub struct Pool {
    capacity: usize,
    limits: KeepaliveLimits,
    idle: Mutex<VecDeque<(PeerConn, Instant)>>,
}

impl Pool {
    /// `None` when the group has no `keepalive`.
    pub fn for_group(group: &UpstreamGroup) -> Option<Pool> {
        let capacity = group.keepalive.filter(|&n| n > 0)?;
        Some(Pool {
            capacity,
            limits: group.keepalive_limits,
            idle: Mutex::new(VecDeque::with_capacity(capacity)),
        })
    }

    /// An idle connection to `addr` that is still open, if any; `tls` and `fastcgi` say
    /// which kind (nginx matches the address alone, but a plain and a TLS `proxy_pass`, or a
    /// `proxy_pass` and a `fastcgi_pass`, to one group would then talk past each other).
    pub fn take(&self, addr: &PeerAddr, tls: bool, fastcgi: bool) -> Option<PeerConn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        idle.retain(|(_, since)| now.duration_since(*since) < self.limits.timeout);
        let wanted = |c: &PeerConn| {
            c.addr == *addr && c.stream.is_tls() == tls && c.stream.is_fastcgi() == fastcgi
        };
        while let Some(pos) = idle.iter().position(|(c, _)| wanted(c)) {
            let (mut conn, _) = idle.remove(pos)?;
            if conn.stream.idle_and_open() {
                conn.cached = true;
                return Some(conn);
            }
        }
        None
    }

    /// Caches a connection whose last response was read completely, unless it has reached
    /// `keepalive_requests` or `keepalive_time` (nginx checks both when the request ends, so a
    /// connection taken from the cache just before its time is up still serves that request).
    pub fn put(&self, mut conn: PeerConn) {
        let allowed = self
            .limits
            .allow_another(conn.requests, conn.opened.elapsed());
        if !allowed || !conn.buf.is_empty() {
            return;
        }
        conn.buf = BytesMut::new();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= self.capacity {
            idle.pop_back();
        }
        idle.push_front((conn, Instant::now()));
    }
}
