//! The WebSocket (any `Upgrade`) tunnel after a 101: bytes copied both ways until one side
//! closes, with nginx's timers. Built for many idle tunnels: nothing is buffered per tunnel
//! while it is idle. Each direction reads into a per-thread scratch buffer and writes at once;
//! only bytes the receiver cannot take right now are copied into a per-tunnel `Vec`, freed as
//! soon as it drains.
//!
//! nginx's rules (`ngx_http_upstream_process_upgraded`): the tunnel ends when either side has
//! closed and what it sent has been delivered; every event re-arms `proxy_read_timeout`, so it
//! is the idle timeout in both directions; a write blocked towards the upstream is bounded by
//! `proxy_send_timeout`, towards the client by `send_timeout`. A tunnel that ends on a timer
//! or a failed call says so in the error log with the request's context, at the level
//! nginx gives the side that failed; either way `$request_completion` is `OK`.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Sleep;

use super::body::Finish;
use super::counted::Counted;
use super::drain::DrainRead;
use super::forward::UpstreamLog;
use super::log::Level;
use super::peer::PeerConn;
use super::state::Hold;
use super::stream::Downstream;
use crate::eval::plan::ProxyTimeouts;
use crate::syntax::include::os_error;

/// Per-thread scratch space for one read; large so 64 KiB messages move in one step.
const SCRATCH: usize = 64 * 1024;
/// Reads per direction before yielding to other tasks.
const BUDGET: usize = 16;

thread_local! {
    static SCRATCH_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH].into_boxed_slice());
}

/// A tunnel about to open: the upstream connection that answered 101, and what the request
/// keeps until the tunnel ends (the server counted busy, the access log line).
#[derive(Debug)]
pub struct Tunnel {
    pub upstream: PeerConn,
    pub finish: Finish,
    pub hold: Hold,
    pub timeouts: ProxyTimeouts,
    /// What the error log's lines about the tunnel name around the request.
    pub log: UpstreamLog,
}

impl Tunnel {
    /// Runs the tunnel once the 101 is sent. `to_upstream` holds what the client sent after
    /// its request head. The access log line is written when the tunnel ends, as nginx does.
    /// `counted` keeps the connection among the writing ones until the tunnel ends.
    pub async fn serve(self, client: Downstream, to_upstream: Vec<u8>, counted: Counted) {
        let _counted = counted;
        let Tunnel {
            upstream,
            mut finish,
            hold,
            timeouts,
            log,
        } = self;
        // What the upstream sent right after its 101 goes to the client first; the read
        // buffer itself is released (an idle tunnel holds no buffer).
        let PeerConn {
            stream: upstream,
            buf,
            ..
        } = upstream;
        let to_client = buf.to_vec();
        drop(buf);
        let report = run(client, upstream, to_upstream, to_client, timeouts).await;
        let (level, what) = match &report.end {
            Ok(End::Closed) => (None, String::new()),
            Ok(End::UpstreamTimedOut) => (
                Some(Level::Info),
                "upstream timed out (110: Connection timed out)".into(),
            ),
            Ok(End::ClientTimedOut) => (
                Some(Level::Info),
                "client timed out (110: Connection timed out)".into(),
            ),
            Err(f) => (
                Some(f.level()),
                format!("{} failed ({})", f.call.as_str(), os_error(&f.error)),
            ),
        };
        if let Some(level) = level {
            let message = format_args!("{what} while proxying upgraded connection");
            log.write(&finish.request, &finish.log.errors, level, &message);
        }
        // nginx finalizes a tunnel as a request whose answer went out (`$request_completion`
        // is `OK`) unless the client timed out or a send() failed: those terminate it.
        finish.outcome.completed = !matches!(
            &report.end,
            Ok(End::ClientTimedOut)
                | Err(Failure {
                    call: Call::Send,
                    ..
                })
        );
        finish.outcome.body_bytes_sent += report.to_client;
        finish.outcome.bytes_sent += report.to_client;
        if let Some(last) = finish.outcome.upstreams.last_mut() {
            last.bytes_received += report.from_upstream;
            last.bytes_sent += report.to_upstream;
        }
        drop(finish);
        drop(hold);
    }
}

/// How a tunnel went. The bytes count even when it ended on an error, as nginx logs what it
/// sent before a client vanished.
#[derive(Debug)]
pub struct Report {
    pub end: Result<End, Failure>,
    pub to_client: u64,
    /// Bytes written to the upstream (`$upstream_bytes_sent`).
    pub to_upstream: u64,
    /// Bytes read from the upstream, delivered or not (`$upstream_bytes_received`).
    pub from_upstream: u64,
}

/// Why a tunnel ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// One side closed and everything it sent was delivered.
    Closed,
    /// No traffic for `proxy_read_timeout` (nginx: "upstream timed out").
    UpstreamTimedOut,
    /// The client did not take data for `send_timeout` (nginx: "client timed out").
    ClientTimedOut,
}

/// A system call that failed in the tunnel, on which side.
#[derive(Debug)]
pub struct Failure {
    /// The upstream's socket failed (else the client's).
    pub upstream: bool,
    pub call: Call,
    pub error: io::Error,
}

/// The calls a tunnel makes, as nginx names them in its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Recv,
    Send,
}

impl Call {
    fn as_str(self) -> &'static str {
        match self {
            Call::Recv => "recv()",
            Call::Send => "send()",
        }
    }
}

impl Failure {
    /// The level nginx's `ngx_connection_error` gives it: the usual network errors are
    /// `info` on a client connection and `error` on an upstream one; others are `alert`.
    pub fn level(&self) -> Level {
        use nix::errno::Errno::*;
        // Errors that are not the system's (TLS records) are taken as network ones.
        let network = self.error.raw_os_error().is_none_or(|code| {
            [
                ECONNRESET,
                EPIPE,
                ENOTCONN,
                ETIMEDOUT,
                ECONNREFUSED,
                ENETDOWN,
                ENETUNREACH,
                EHOSTDOWN,
                EHOSTUNREACH,
            ]
            .iter()
            .any(|e| *e as i32 == code)
        });
        match (network, self.upstream) {
            (true, true) => Level::Error,
            (true, false) => Level::Info,
            (false, _) => Level::Alert,
        }
    }
}

/// Which end of one direction failed.
#[derive(Debug)]
enum Broke {
    Read(io::Error),
    Write(io::Error),
}

impl Broke {
    /// The failure, for a direction whose source is the upstream (`from_upstream`) or the
    /// client.
    fn failure(self, from_upstream: bool) -> Failure {
        let (upstream, call, error) = match self {
            Broke::Read(e) => (from_upstream, Call::Recv, e),
            Broke::Write(e) => (!from_upstream, Call::Send, e),
        };
        Failure {
            upstream,
            call,
            error,
        }
    }
}

/// One direction: bytes waiting for the receiver, and whether the sender closed.
#[derive(Debug, Default)]
struct Flow {
    /// Bytes delivered so far.
    moved: u64,
    /// Bytes read from the sender so far.
    read: u64,
    pending: Vec<u8>,
    at: usize,
    eof: bool,
    unflushed: bool,
}

impl Flow {
    fn with(pre: Vec<u8>) -> Flow {
        Flow {
            pending: pre,
            ..Flow::default()
        }
    }

    fn blocked(&self) -> bool {
        self.at < self.pending.len() || self.unflushed
    }

    /// Moves bytes from `src` to `dst` until neither can go on; `Ok(true)` on any progress.
    fn pump<R, W>(&mut self, src: &mut R, dst: &mut W, cx: &mut Context<'_>) -> Result<bool, Broke>
    where
        R: DrainRead,
        W: AsyncWrite + Unpin,
    {
        let mut progress = false;
        for _ in 0..BUDGET {
            if self.at < self.pending.len() {
                match Pin::new(&mut *dst).poll_write(cx, &self.pending[self.at..]) {
                    Poll::Ready(Ok(0)) => {
                        return Err(Broke::Write(io::ErrorKind::WriteZero.into()));
                    }
                    Poll::Ready(Ok(n)) => {
                        progress = true;
                        self.unflushed = true;
                        self.moved += n as u64;
                        self.at += n;
                        if self.at == self.pending.len() {
                            self.pending = Vec::new();
                            self.at = 0;
                        }
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Err(Broke::Write(e)),
                    Poll::Pending => return Ok(progress),
                }
            }
            if self.unflushed {
                match Pin::new(&mut *dst).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.unflushed = false,
                    Poll::Ready(Err(e)) => return Err(Broke::Write(e)),
                    Poll::Pending => return Ok(progress),
                }
            }
            if self.eof {
                return Ok(progress);
            }
            let read = SCRATCH_BUF.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                match src.poll_read_drain(cx, &mut scratch[..]) {
                    Poll::Pending => Ok(false),
                    // A TLS peer gone without close_notify has closed, as OpenSSL
                    // tells nginx (`SSL_OP_IGNORE_UNEXPECTED_EOF`).
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        self.eof = true;
                        Ok(true)
                    }
                    Poll::Ready(Err(e)) => Err(Broke::Read(e)),
                    Poll::Ready(Ok(0)) => {
                        self.eof = true;
                        Ok(true)
                    }
                    Poll::Ready(Ok(n)) => {
                        self.read += n as u64;
                        let data = &scratch[..n];
                        match Pin::new(&mut *dst).poll_write(cx, data) {
                            Poll::Ready(Ok(n)) => {
                                self.unflushed = true;
                                self.moved += n as u64;
                                if n < data.len() {
                                    self.pending = data[n..].to_vec();
                                }
                            }
                            Poll::Pending => self.pending = data.to_vec(),
                            Poll::Ready(Err(e)) => return Err(Broke::Write(e)),
                        }
                        Ok(true)
                    }
                }
            })?;
            if !read {
                return Ok(progress);
            }
            progress = true;
        }
        cx.waker().wake_by_ref();
        Ok(progress)
    }
}

/// Copies between `client` and `upstream` until the tunnel ends. `to_upstream` and
/// `to_client` are bytes already read from one side for the other (read past the heads).
pub async fn run<C, U>(
    mut client: C,
    mut upstream: U,
    to_upstream: Vec<u8>,
    to_client: Vec<u8>,
    timeouts: ProxyTimeouts,
) -> Report
where
    C: DrainRead,
    U: DrainRead,
{
    let mut up = Flow::with(to_upstream);
    let mut down = Flow::with(to_client);
    let mut last = Instant::now();
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    let end = poll_fn(|cx| -> Poll<Result<End, Failure>> {
        loop {
            let moved_up = up
                .pump(&mut client, &mut upstream, cx)
                .map_err(|b| b.failure(false))?;
            let moved_down = down
                .pump(&mut upstream, &mut client, cx)
                .map_err(|b| b.failure(true))?;
            if moved_up || moved_down {
                last = Instant::now();
            }
            if (down.eof && !down.blocked()) || (up.eof && !up.blocked()) {
                return Poll::Ready(Ok(End::Closed));
            }
            let (limit, end) = limit(&timeouts, &up, &down);
            let deadline = (last + limit).into();
            let sleep = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            // Re-armed lazily: only when it fired early or must fire sooner.
            if deadline < sleep.deadline() || sleep.is_elapsed() {
                sleep.as_mut().reset(deadline);
            }
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) if Instant::now() >= last + limit => return Poll::Ready(Ok(end)),
                Poll::Ready(()) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await;
    // Plain sockets just close, as nginx closes them; TLS says close_notify first.
    if client.closes_with_shutdown() {
        let _ = tokio::time::timeout(Duration::from_secs(1), client.shutdown()).await;
    }
    if upstream.closes_with_shutdown() {
        let _ = tokio::time::timeout(Duration::from_secs(1), upstream.shutdown()).await;
    }
    Report {
        end,
        to_client: down.moved,
        to_upstream: up.moved,
        from_upstream: down.read,
    }
}

/// The timer nginx would have armed: `proxy_read_timeout` always, a send timeout when a write
/// is blocked (whichever expires first wins).
fn limit(t: &ProxyTimeouts, up: &Flow, down: &Flow) -> (Duration, End) {
    let mut limit = (t.read, End::UpstreamTimedOut);
    if up.blocked() && t.send < limit.0 {
        limit = (t.send, End::UpstreamTimedOut);
    }
    if down.blocked() && t.client_send < limit.0 {
        limit = (t.client_send, End::ClientTimedOut);
    }
    limit
}
