//! Streaming an upstream response body to the client as it arrives (no whole-body buffering):
//! de-framed by Content-Length, chunked or connection close, each read under
//! `proxy_read_timeout`. When the body ends cleanly the connection returns to the group's
//! keepalive cache.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::time::Sleep;

use super::chunked::{ChunkedDecoder, Decoded};
use super::error::{ProxyError, Stage};
use super::exchange::Framing;
use super::peer::PeerConn;
use super::state::Hold;

const READ_SIZE: usize = 16 * 1024;

#[derive(Debug)]
enum Frames {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
    Done,
}

#[derive(Debug)]
pub struct UpstreamBody {
    conn: Option<PeerConn>,
    frames: Frames,
    hold: Hold,
    reusable: bool,
    read_timeout: Duration,
    last_read: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    /// Bytes read from the server after the head's read, and those of the body that came
    /// with the head.
    received: u64,
    preread: u64,
    /// The server sent more than its `Content-Length` (nginx warns, and drops the rest).
    overran: bool,
    /// Reads see the end of the stream at once ([`super::exchange::ResponseHead::starved`]).
    starved: bool,
    /// Chunks' data decoded from what was read and not yet handed on.
    decoded: VecDeque<Bytes>,
    /// The body so far, when it goes out only once the server ends it (see `gathered`).
    gathered: Option<BytesMut>,
    /// `proxy_limit_rate`, when set.
    rate: Option<Box<ReadRate>>,
    /// A FastCGI connection's bytes read so far, records and all, as last counted.
    fastcgi_read: u64,
    /// What a FastCGI application wrote to STDERR during the body, not yet logged.
    stderr: Vec<Bytes>,
    /// The range filter's part of the body, when it serves one.
    slice: Option<Box<Slice>>,
}

/// Bytes `start..end` of the body go on (`proxy_force_ranges`); the rest is read and
/// dropped, so the connection stays fit for another request.
#[derive(Debug)]
struct Slice {
    start: u64,
    end: u64,
    /// Where in the body the next piece begins.
    at: u64,
}

impl Slice {
    /// The part of `data`, the next piece of the body, inside the range.
    fn cut(&mut self, data: Bytes) -> Option<Bytes> {
        let from = self.at;
        self.at += data.len() as u64;
        let lo = self.start.saturating_sub(from).min(data.len() as u64);
        let hi = self.end.saturating_sub(from).min(data.len() as u64);
        (lo < hi).then(|| data.slice(lo as usize..hi as usize))
    }
}

/// `proxy_limit_rate` as nginx's event pipe applies it: a read takes at most the rate times
/// the whole seconds since the body began, plus one, less what was read; after a read of `n`
/// bytes the next waits `n` / rate seconds.
#[derive(Debug)]
struct ReadRate {
    /// Bytes per second (never 0).
    rate: u64,
    /// nginx's `p->start_sec`: the wall-clock second the body began in.
    start_sec: u64,
    delay: Option<Pin<Box<Sleep>>>,
}

impl UpstreamBody {
    pub fn new(
        mut conn: PeerConn,
        framing: Framing,
        hold: Hold,
        reusable: bool,
        read_timeout: Duration,
        starved: bool,
    ) -> UpstreamBody {
        let frames = match framing {
            Framing::None => Frames::Length(0),
            Framing::Length(n) => Frames::Length(n),
            Framing::Chunked => Frames::Chunked(ChunkedDecoder::default()),
            Framing::UntilClose => Frames::UntilClose,
        };
        // A body nginx does not read (HEAD, 304...) is not counted either.
        let preread = match (framing, conn.stream.fastcgi()) {
            (Framing::None, _) => 0,
            // nginx counts a FastCGI answer's records as read, framing and all.
            (_, Some(f)) => f.read_past_head(),
            _ => conn.buf.len() as u64,
        };
        let fastcgi_read = conn.stream.fastcgi().map_or(0, |f| f.read());
        let mut body = UpstreamBody {
            fastcgi_read,
            stderr: Vec::new(),
            conn: Some(conn),
            frames,
            hold,
            reusable,
            read_timeout,
            last_read: Instant::now(),
            timer: None,
            received: 0,
            preread,
            overran: false,
            starved,
            decoded: VecDeque::new(),
            gathered: None,
            rate: None,
            slice: None,
        };
        if starved {
            body.reusable = false;
        }
        if matches!(body.frames, Frames::Length(0)) {
            body.finish();
        }
        body
    }

    /// What a FastCGI application wrote to STDERR since the last call.
    pub fn take_stderr(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.stderr)
    }

    /// Bytes read from the server so far (`$upstream_bytes_received` past the head's read),
    /// and every byte read after the head (`$upstream_response_length`: nginx counts what it
    /// reads, chunked framing and bytes past `Content-Length` included).
    pub fn counts(&self) -> (u64, u64) {
        (self.received, self.preread + self.received)
    }

    /// Whether the server sent more than its `Content-Length`.
    pub fn overran(&self) -> bool {
        self.overran
    }

    /// The server sent bytes after a head that announced no body (built with
    /// `reusable: false`): nginx warns as for a body past its `Content-Length`.
    pub fn overrun(mut self) -> UpstreamBody {
        self.overran = true;
        self
    }

    /// Holds the whole body until the server ends it, and drops it if the server fails
    /// first. nginx's buffering holds what fills no buffer until the upstream is done; for
    /// the body of a 101 nobody asked for (the upgrade daemon's greeting) that means the
    /// client sees none of it when the upstream only times out.
    pub fn gathered(mut self) -> UpstreamBody {
        self.gathered = Some(BytesMut::new());
        self
    }

    /// Passes on bytes `start..end` of the body alone (the range filter's single range).
    pub fn sliced(mut self, start: u64, end: u64) -> UpstreamBody {
        self.slice = Some(Box::new(Slice { start, end, at: 0 }));
        self
    }

    /// Reads the body at `rate` bytes per second (`proxy_limit_rate`; 0: unlimited).
    pub fn limited(mut self, rate: u64) -> UpstreamBody {
        if rate > 0 {
            let start_sec = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            self.rate = Some(Box::new(ReadRate {
                rate,
                start_sec,
                delay: None,
            }));
        }
        self
    }

    /// The next piece of the body; `None` at its end.
    pub fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, ProxyError>>> {
        if self.slice.is_some() {
            // Never gathered too: only a 101's body is.
            loop {
                match ready!(self.poll_piece(cx)) {
                    Some(Ok(data)) => {
                        if let Some(cut) = self.slice.as_mut().and_then(|s| s.cut(data)) {
                            return Poll::Ready(Some(Ok(cut)));
                        }
                    }
                    other => return Poll::Ready(other),
                }
            }
        }
        if self.gathered.is_none() {
            return self.poll_piece(cx);
        }
        loop {
            let piece = ready!(self.poll_piece(cx));
            let gathered = self.gathered.take().unwrap_or_default();
            match piece {
                Some(Ok(data)) => {
                    let mut gathered = gathered;
                    gathered.extend_from_slice(&data);
                    self.gathered = Some(gathered);
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    let all = gathered.freeze();
                    return Poll::Ready((!all.is_empty()).then_some(Ok(all)));
                }
            }
        }
    }

    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, ProxyError>>> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match &mut self.frames {
                Frames::Done => return Poll::Ready(None),
                Frames::Length(0) => return Poll::Ready(self.finish()),
                Frames::Length(left) if !conn.buf.is_empty() => {
                    let n = (conn.buf.len() as u64).min(*left);
                    if (conn.buf.len() as u64) > *left {
                        self.overran = true;
                        self.reusable = false;
                    }
                    *left -= n;
                    let data = conn.buf.split_to(n as usize).freeze();
                    if *left == 0 {
                        // Back to the keepalive cache before the client is told it is all.
                        self.finish();
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                Frames::UntilClose if !conn.buf.is_empty() => {
                    return Poll::Ready(Some(Ok(conn.buf.split().freeze())));
                }
                Frames::Chunked(decoder) => {
                    // nginx's chunked filter goes through all it read before any of it goes
                    // on: a broken chunk there keeps the data of those before it from the
                    // client too.
                    let mut done = false;
                    while self.decoded.is_empty() || !conn.buf.is_empty() {
                        match decoder.decode(&mut conn.buf) {
                            Ok(Decoded::Data(data)) => self.decoded.push_back(data),
                            Ok(Decoded::Done) => {
                                done = true;
                                break;
                            }
                            Ok(Decoded::NeedMore) => break,
                            Err(_) => {
                                self.decoded.clear();
                                return Poll::Ready(Some(Err(ProxyError::InvalidChunked)));
                            }
                        }
                    }
                    if let Some(data) = self.decoded.pop_front() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                    if done {
                        return Poll::Ready(self.finish());
                    }
                }
                _ => {}
            }
            match ready!(self.poll_read(cx)) {
                Ok(0) if matches!(self.frames, Frames::UntilClose) => {
                    // A FastCGI answer ends with its END_REQUEST record, on a connection
                    // that may stay open; any other ends with the close.
                    let conn = self.conn.as_mut().and_then(|c| c.stream.fastcgi());
                    self.reusable &= conn.is_some_and(|f| f.answered());
                    return Poll::Ready(self.finish());
                }
                Ok(0) => {
                    return Poll::Ready(Some(Err(ProxyError::PrematureClose(Stage::ReadingBody))));
                }
                Ok(_) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }

    fn finish(&mut self) -> Option<Result<Bytes, ProxyError>> {
        self.rate = None;
        self.frames = Frames::Done;
        if let Some(conn) = self.conn.take()
            && self.reusable
            && let Some(pool) = &self.hold.upstream.pool
        {
            pool.put(conn);
        }
        None
    }

    /// Reads more into the connection's buffer; `Ok(0)` at end of stream.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, ProxyError>> {
        let Some(conn) = self.conn.as_mut().filter(|_| !self.starved) else {
            return Poll::Ready(Ok(0));
        };
        let mut most = READ_SIZE;
        if let Some(rate) = &mut self.rate {
            let (allowed, waited) = ready!(rate.allowed(cx, self.received));
            most = most.min(allowed);
            if waited {
                // The wait was not the server's silence.
                self.last_read = Instant::now();
            }
        }
        loop {
            conn.buf.reserve(most);
            match conn.stream.try_read_buf(&mut (&mut conn.buf).limit(most)) {
                Ok(n) => {
                    self.last_read = Instant::now();
                    self.received += match conn.stream.fastcgi() {
                        Some(f) => {
                            self.stderr.extend(f.take_body_stderr());
                            f.read() - std::mem::replace(&mut self.fastcgi_read, f.read())
                        }
                        None => n as u64,
                    };
                    if let Some(rate) = &mut self.rate {
                        rate.read(n);
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(ProxyError::Io(Stage::ReadingBody, e))),
            }
            match conn.stream.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => {
                    return Poll::Ready(Err(ProxyError::Io(Stage::ReadingBody, e)));
                }
                Poll::Pending => {}
            }
            // nginx's proxy_read_timeout: between two successive reads.
            let deadline = self.last_read + self.read_timeout;
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
            if timer.deadline() != deadline.into() {
                timer.as_mut().reset(deadline.into());
            }
            ready!(timer.as_mut().poll(cx));
            return Poll::Ready(Err(ProxyError::TimedOut(Stage::ReadingBody)));
        }
    }
}

impl ReadRate {
    /// How many bytes the next read may take, once the last read's wait is over, and whether
    /// there was a wait; `read` is what was read so far (nginx's `p->read_length`).
    fn allowed(&mut self, cx: &mut Context<'_>, read: u64) -> Poll<(usize, bool)> {
        let mut waited = false;
        loop {
            if let Some(delay) = &mut self.delay {
                ready!(delay.as_mut().poll(cx));
                self.delay = None;
                waited = true;
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let seconds = now.saturating_sub(self.start_sec) + 1;
            let limit = i128::from(self.rate) * i128::from(seconds) - i128::from(read);
            if limit > 0 {
                return Poll::Ready((usize::try_from(limit).unwrap_or(usize::MAX), waited));
            }
            let ms = (-limit) as u64 * 1000 / self.rate + 1;
            self.wait(ms);
        }
    }

    /// A read of `n` bytes: the next waits as long as they take at the rate.
    fn read(&mut self, n: usize) {
        let ms = n as u64 * 1000 / self.rate;
        if ms > 0 {
            self.wait(ms);
        }
    }

    fn wait(&mut self, ms: u64) {
        self.delay = Some(Box::pin(tokio::time::sleep(Duration::from_millis(ms))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_is_cut_across_pieces() {
        let mut slice = Slice {
            start: 2,
            end: 6,
            at: 0,
        };
        let mut out = Vec::new();
        for piece in ["SE", "E-T", "HIS", ""] {
            out.push(slice.cut(Bytes::from(piece)));
        }
        assert_eq!(
            out,
            [None, Some(Bytes::from("E-T")), Some(Bytes::from("H")), None]
        );
    }
}
