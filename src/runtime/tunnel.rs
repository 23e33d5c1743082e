//! The WebSocket (any `Upgrade`) tunnel after a 101: bytes copied both ways until one side
//! closes, with nginx's timers. Built for many idle tunnels: nothing is buffered per tunnel
//! while it is idle. Each direction reads into a per-thread scratch buffer and writes at once;
//! only bytes the receiver cannot take right now are copied into a per-tunnel `Vec`, freed as
//! soon as it drains.
//!
//! nginx's rules (`ngx_http_upstream_process_upgraded`): the tunnel ends when either side has
//! closed and what it sent has been delivered; every event re-arms `proxy_read_timeout`, so it
//! is the idle timeout in both directions; a write blocked towards the upstream is bounded by
//! `proxy_send_timeout`, towards the client by `send_timeout`.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Sleep;

use super::body::Finish;
use super::drain::DrainRead;
use super::peer::PeerConn;
use super::state::Hold;
use super::stream::Downstream;
use crate::eval::plan::ProxyTimeouts;

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
    /// The 101's head, which `$bytes_sent` counts.
    pub head: u64,
}

impl Tunnel {
    /// Runs the tunnel once the 101 is sent. `to_upstream` holds what the client sent after
    /// its request head. The access log line is written when the tunnel ends, as nginx does.
    pub async fn serve(self, client: Downstream, to_upstream: Vec<u8>) {
        let Tunnel {
            upstream,
            mut finish,
            hold,
            timeouts,
            head,
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
        match &report.end {
            Ok(End::Closed) => {}
            Ok(end) => {
                let who = if *end == End::ClientTimedOut {
                    "client"
                } else {
                    "upstream"
                };
                super::log::info(format_args!(
                    "*{} {who} timed out (110: Connection timed out) while proxying upgraded connection, client: {}",
                    finish.request.conn.id,
                    finish.request.conn.remote.ip()
                ));
            }
            Err(e) => super::log::info(format_args!(
                "*{} recv() failed ({}) while proxying upgraded connection",
                finish.request.conn.id,
                crate::syntax::include::os_error(e)
            )),
        }
        finish.outcome.body_bytes_sent = report.to_client;
        finish.outcome.bytes_sent = head + report.to_client;
        drop(finish);
        drop(hold);
    }
}

/// How a tunnel went. The bytes count even when it ended on an error, as nginx logs what it
/// sent before a client vanished.
#[derive(Debug)]
pub struct Report {
    pub end: io::Result<End>,
    pub to_client: u64,
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

/// One direction: bytes waiting for the receiver, and whether the sender closed.
#[derive(Debug, Default)]
struct Flow {
    /// Bytes delivered so far.
    moved: u64,
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
    fn pump<R, W>(&mut self, src: &mut R, dst: &mut W, cx: &mut Context<'_>) -> io::Result<bool>
    where
        R: DrainRead,
        W: AsyncWrite + Unpin,
    {
        let mut progress = false;
        for _ in 0..BUDGET {
            if self.at < self.pending.len() {
                match Pin::new(&mut *dst).poll_write(cx, &self.pending[self.at..]) {
                    Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
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
                    Poll::Ready(Err(e)) => return Err(e),
                    Poll::Pending => return Ok(progress),
                }
            }
            if self.unflushed {
                match Pin::new(&mut *dst).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.unflushed = false,
                    Poll::Ready(Err(e)) => return Err(e),
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
                    Poll::Ready(Err(e)) => Err(e),
                    Poll::Ready(Ok(0)) => {
                        self.eof = true;
                        Ok(true)
                    }
                    Poll::Ready(Ok(n)) => {
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
                            Poll::Ready(Err(e)) => return Err(e),
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
    let end = poll_fn(|cx| -> Poll<io::Result<End>> {
        loop {
            let moved_up = up.pump(&mut client, &mut upstream, cx)?;
            let moved_down = down.pump(&mut upstream, &mut client, cx)?;
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
