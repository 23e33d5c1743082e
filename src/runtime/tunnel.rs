//! The WebSocket (any `Upgrade`) tunnel after a 101: bytes copied both ways until one side
//! closes, with nginx's timers. Built for many idle tunnels: nothing is buffered per tunnel
//! while it is idle. Each direction reads into a per-thread scratch buffer and writes at once;
//! only bytes the receiver cannot take right now are copied into a per-tunnel `Vec`, freed as
//! soon as it drains.
//!
//! nginx's rules (`ngx_http_upstream_process_upgraded`): the tunnel ends when either side has
//! closed and what it sent has been delivered; every event re-arms `proxy_read_timeout`, so it
//! is the idle timeout in both directions (a timer moved by less than 300 ms stays where it
//! was, as nginx's lazy timers do); a write blocked towards the upstream is bounded by
//! `proxy_send_timeout`, towards the client by `send_timeout`. A tunnel that ends on a timer
//! or a failed call says so in the error log with the request's context, at the level
//! nginx gives the side that failed; either way `$request_completion` is `OK`.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::AsyncWrite;
use tokio::sync::watch;
use tokio::time::Sleep;

use super::body::Finish;
use super::counted::Counted;
use super::drain::DrainRead;
use super::forward::UpstreamLog;
use super::log::Level;
use super::peer::PeerConn;
use super::peer_stream::PeerStream;
use super::server::Phase;
use super::state::Hold;
use super::stream::Downstream;
use crate::eval::plan::ProxyTimeouts;
use crate::syntax::include::os_error;

/// Per-thread scratch space for one read: well past a 64 KiB message with its frame header,
/// so one read takes it whole (at 64 KiB it took two reads and two writes each way, and 12%
/// more proxy CPU per message).
const SCRATCH: usize = 256 * 1024;
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
    /// The tunnel's task, to run once the 101 is sent. `to_upstream` holds what the client
    /// sent after its request head. The access log line is written when the tunnel ends, as
    /// nginx does. `counted` keeps the connection among the writing ones until the tunnel ends.
    pub fn serve(self, client: Downstream, to_upstream: Vec<u8>, counted: Counted) -> Running {
        let Tunnel {
            upstream,
            finish,
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
        let mut finish = finish;
        if finish.log.files.is_empty() {
            // Only an access log line reads the request as routed again: without one, an
            // idle tunnel does not keep it (about 0.6 KB).
            finish.request.routed = None;
        }
        Running {
            client,
            upstream,
            up: Flow::with(to_upstream),
            down: Flow::with(buf.to_vec()),
            last: Instant::now(),
            due: None,
            timer: None,
            timeouts,
            end: None,
            finish,
            _hold: hold,
            log,
            _counted: counted,
        }
    }
}

/// A tunnel's task. Written out by hand rather than as an `async fn`: the compiler's state
/// machine kept the arguments and the locals they moved into side by side, about 2.4 KiB per
/// idle tunnel; here each piece is held once.
#[derive(Debug)]
pub struct Running {
    client: Downstream,
    upstream: PeerStream,
    /// Client to upstream.
    up: Flow,
    /// Upstream to client.
    down: Flow,
    /// When bytes last moved either way.
    last: Instant,
    /// When nginx's timer would fire, as [`lazy`] moves it.
    due: Option<Instant>,
    /// nginx's one timer: idle or blocked-write while copying, then the bound on closing.
    timer: Option<Pin<Box<Sleep>>>,
    timeouts: ProxyTimeouts,
    /// Set once copying is over: the sockets are closing.
    end: Option<Result<End, Failure>>,
    // Dropped in this order when the task ends: the access log line, then the server's place.
    finish: Finish,
    /// Counts the server busy (`least_conn`, `max_conns`) while the tunnel lives.
    _hold: Hold,
    log: UpstreamLog,
    /// Counts the connection as writing (stub_status) while the tunnel lives.
    _counted: Counted,
}

impl Future for Running {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.end.is_none() {
            let end = ready!(this.copy(cx));
            // Plain sockets just close, as nginx closes them; TLS says close_notify first,
            // for a second at most.
            let deadline = tokio::time::Instant::now() + CLOSING;
            match &mut this.timer {
                Some(timer) => timer.as_mut().reset(deadline),
                None => this.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            this.end = Some(end);
        }
        let closed = this.close(cx);
        let timer = this.timer.as_mut().map(|t| t.as_mut().poll(cx));
        if closed.is_pending() && matches!(timer, Some(Poll::Pending)) {
            return Poll::Pending;
        }
        this.report();
        Poll::Ready(())
    }
}

/// How long closing may wait for a TLS peer to take close_notify.
const CLOSING: Duration = Duration::from_secs(1);

impl Running {
    /// Copies both ways until one side has closed and what it sent is delivered, or a timer
    /// or a call ends the tunnel.
    fn copy(&mut self, cx: &mut Context<'_>) -> Poll<Result<End, Failure>> {
        loop {
            let moved_up = self
                .up
                .pump(&mut self.client, &mut self.upstream, cx)
                .map_err(|b| b.failure(false))?;
            let moved_down = self
                .down
                .pump(&mut self.upstream, &mut self.client, cx)
                .map_err(|b| b.failure(true))?;
            if moved_up || moved_down {
                self.last = Instant::now();
            }
            if (self.down.eof && !self.down.blocked()) || (self.up.eof && !self.up.blocked()) {
                return Poll::Ready(Ok(End::Closed));
            }
            let (limit, end) = limit(&self.timeouts, &self.up, &self.down);
            let due = lazy(self.due, self.last + limit);
            self.due = Some(due);
            let deadline = due.into();
            let (sleep, mut moved) = match &mut self.timer {
                Some(sleep) => (sleep, false),
                None => (
                    self.timer
                        .insert(Box::pin(tokio::time::sleep_until(deadline))),
                    true,
                ),
            };
            // Re-armed lazily: only when it fired early or must fire sooner.
            if deadline < sleep.deadline() || sleep.is_elapsed() {
                sleep.as_mut().reset(deadline);
                moved = true;
            }
            // A timer left where it was still holds this task's waker from its last poll: it
            // needs polling again only once it has fired.
            if !moved && !sleep.is_elapsed() {
                return Poll::Pending;
            }
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) if Instant::now() >= due => {
                    return Poll::Ready(Ok(end));
                }
                Poll::Ready(()) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Runs the tunnel until it ends, or until its configuration's `worker_shutdown_timeout`
    /// is up: nginx's shutdown timer closes both sockets then, and the request is logged
    /// as terminated, with what went through. The tunnel comes boxed: an async fn keeps its
    /// argument beside its running state, and an idle tunnel should hold one copy.
    ///
    /// The future that waits for the phase is polled only when the phase has moved (and
    /// once first, to be woken when it does): polled at every wakeup, it cost a tenth of the
    /// proxy's own instructions per WebSocket message.
    pub async fn until_closing(mut self: Box<Self>, mut phase: watch::Receiver<Phase>) {
        let closing = phase.wait_for(|p| *p == Phase::Closing);
        let mut closing = std::pin::pin!(closing);
        let mut seen = None;
        std::future::poll_fn(|cx| {
            let now = *self.finish.request.conn.state.phase.borrow();
            if seen != Some(now) {
                seen = Some(now);
                if closing.as_mut().poll(cx).is_ready() {
                    self.end = Some(Ok(End::Terminated));
                    self.report();
                    return Poll::Ready(());
                }
            }
            Pin::new(&mut *self).poll(cx)
        })
        .await
    }

    /// Says goodbye on the sides that need one (TLS); ready when both are done.
    /// nginx sends none to a peer that closed (`no_send_shutdown`, set when its read
    /// ended), whose connection failed, or a client that timed out (`ngx_ssl_shutdown`).
    fn close(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (client_broke, upstream_broke) = match &self.end {
            Some(Err(f)) => (!f.upstream, f.upstream),
            Some(Ok(End::ClientTimedOut)) => (true, false),
            _ => (false, false),
        };
        let client = if self.client.closes_with_shutdown() && !self.up.eof && !client_broke {
            Pin::new(&mut self.client).poll_shutdown(cx).map(drop)
        } else {
            Poll::Ready(())
        };
        let upstream = if self.upstream.closes_with_shutdown() && !self.down.eof && !upstream_broke
        {
            Pin::new(&mut self.upstream).poll_shutdown(cx).map(drop)
        } else {
            Poll::Ready(())
        };
        if client.is_ready() && upstream.is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// The error-log line for a tunnel that did not end by a close, and what the access log
    /// line counts.
    fn report(&mut self) {
        let Some(end) = self.end.take() else { return };
        let (level, what) = match &end {
            Ok(End::Closed | End::Terminated) => (None, String::new()),
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
        let finish = &mut self.finish;
        if let Some(level) = level {
            let message = format_args!("{what} while proxying upgraded connection");
            self.log
                .write(&finish.request, &finish.log.errors, level, &message);
        }
        // nginx finalizes a tunnel as a request whose answer went out (`$request_completion`
        // is `OK`) unless the client timed out or a send() failed: those terminate it.
        finish.outcome.completed = !matches!(
            &end,
            Ok(End::ClientTimedOut | End::Terminated)
                | Err(Failure {
                    call: Call::Send,
                    ..
                })
        );
        // The bytes count even when the tunnel ended on an error, as nginx logs what it sent
        // before a client vanished.
        finish.outcome.body_bytes_sent += self.down.moved;
        finish.outcome.bytes_sent += self.down.moved;
        if let Some(last) = finish.outcome.upstreams.last_mut() {
            // `$upstream_bytes_received` counts what was read, delivered or not.
            last.bytes_received += self.down.read;
            last.bytes_sent += self.up.moved;
        }
    }
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
    /// `worker_shutdown_timeout` closed it.
    Terminated,
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
                    // tells nginx (`SSL_OP_IGNORE_UNEXPECTED_EOF`); so has one whose
                    // socket failed (a reset): nginx's `ngx_ssl_recv` takes a failed call
                    // OpenSSL queued no error for as the peer's clean shutdown.
                    Poll::Ready(Err(e))
                        if e.kind() == io::ErrorKind::UnexpectedEof
                            || (src.closes_with_shutdown() && e.raw_os_error().is_some()) =>
                    {
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

/// nginx's `NGX_TIMER_LAZY_DELAY`: a timer that would move by less than this stays.
const LAZY_DELAY: Duration = Duration::from_millis(300);

/// Where nginx's timer stands once re-armed for `wanted`, having stood at `armed`:
/// `ngx_add_timer` leaves a timer alone when the new time is within [`LAZY_DELAY`] of the
/// old, so a tunnel with steady traffic closes up to that much before its idle time is up.
fn lazy(armed: Option<Instant>, wanted: Instant) -> Instant {
    match armed {
        Some(at) if wanted.max(at) - wanted.min(at) < LAZY_DELAY => at,
        _ => wanted,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_moved_by_less_than_300_ms_stays() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(lazy(None, t0), t0);
        assert_eq!(lazy(Some(t0), t0 + ms(299)), t0);
        assert_eq!(lazy(Some(t0), t0 + ms(300)), t0 + ms(300));
        // Sooner by as much moves it too (a blocked write's shorter timeout).
        assert_eq!(lazy(Some(t0 + ms(500)), t0), t0);
        assert_eq!(lazy(Some(t0 + ms(200)), t0), t0 + ms(200));
    }
}
