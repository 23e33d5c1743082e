//! The client connection as the HTTP/1.x server sees it: the socket and one read buffer that
//! request heads and bodies are cut from. A head is parsed where it was read ([`parse`]) and
//! frozen into one shared buffer; its headers are slices of it, so nothing is copied per
//! header. Bytes read past a head (a body, a pipelined request) stay in the buffer.
//!
//! [`parse`]: super::parse

use std::io;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::counted::{Counted, Stage};
use super::parse::{self, HeadAt, ParseError, Room, Vhost};
use super::stream::Downstream;

/// Room made in the buffer before each read (nginx's `client_header_buffer_size` is 1k; a
/// larger step reads most pipelined bursts and small bodies at once).
const READ_STEP: usize = 4096;

/// A parsed request head; every part borrows the frozen head bytes.
#[derive(Debug)]
pub struct RequestHead {
    pub method: Bytes,
    pub target: Bytes,
    pub http10: bool,
    /// Names and values as sent, in order.
    pub headers: Vec<(Bytes, Bytes)>,
    /// The head's length as received (`$request_length` without the body).
    pub length: usize,
    /// It was already read when the request before it ended (`$pipe`), as nginx finds a
    /// pipelined request in its buffer.
    pub pipelined: bool,
    /// Room left after the head in nginx's buffer: the body's bytes read with the head go
    /// there.
    pub room: usize,
    /// The head's bytes from the request line on (the slices above point into them).
    pub raw: Bytes,
}

/// Why no request head came. A head begun (any byte read, even an empty line) is a request
/// to nginx, logged with what was parsed of it ([`PartialHead`]); `None` is a connection
/// that sent nothing more, which nginx closes without a log line.
#[derive(Debug)]
pub enum HeadError {
    /// The client closed (or reset: the error) the connection.
    Closed(Option<PartialHead>, Option<io::Error>),
    /// `client_header_timeout`.
    TimedOut(Option<PartialHead>),
    /// The connection was told to close (a graceful shutdown) before a byte of a head came.
    Stopped,
    /// The head breaks nginx's rules: answer with this status and close.
    Invalid(ParseError, PartialHead),
}

/// What was read of a head nginx refused or the client left unfinished, for its access-log
/// line.
#[derive(Debug)]
pub struct PartialHead {
    /// `$request`: the request line as far as it was read, up to its line end (nginx's
    /// `request_start` onwards; a line too long for nginx's buffer is cut at its size).
    pub line: Bytes,
    /// Method, target and version, when the request line was complete and valid.
    pub parsed: Option<(Bytes, Bytes, bool)>,
    /// The version had begun when the line was refused (see `HeadAt::protocol`).
    pub protocol_begun: bool,
    /// The line was read whole but its target refused (`ParseError::InvalidTarget`).
    pub target_refused: bool,
    /// The header lines read whole, as sent.
    pub headers: Vec<(Bytes, Bytes)>,
    /// The request line and the complete header lines (`$request_length`).
    pub length: usize,
    pub pipelined: bool,
    /// When its first byte was at hand (`$request_time` counts from there).
    pub began: Instant,
}

#[derive(Debug)]
pub struct Client {
    pub io: Downstream,
    /// Where the connection stands in the stub_status counters.
    pub counted: Counted,
    /// Read but not yet consumed.
    pub buf: BytesMut,
    /// The buffer holds what came with a PROXY protocol header: the first request, not a
    /// pipelined one.
    carried: bool,
    at: HeadAt,
    /// Bytes ever read: with what `buf` holds, where on the connection its first byte is.
    read: u64,
    /// Where nginx's header buffer ended after the last head (a count of bytes read), its
    /// size, and whether it is one of the large ones: a pipelined request already in it
    /// begins there.
    carry: Option<(u64, usize, bool)>,
}

impl Client {
    /// A client whose first bytes, `ahead`, were read already, after a PROXY header of
    /// `header_len` bytes in nginx's first buffer (`first_read` bytes long).
    pub fn new(
        io: Downstream,
        counted: Counted,
        ahead: BytesMut,
        header_len: usize,
        first_read: usize,
    ) -> Client {
        // The request begins after the header in that buffer.
        let carry = (!ahead.is_empty()).then(|| {
            let end = first_read.saturating_sub(header_len) as u64;
            (end, first_read, false)
        });
        Client {
            io,
            counted,
            carried: !ahead.is_empty(),
            read: ahead.len() as u64,
            buf: ahead,
            at: HeadAt::default(),
            carry,
        }
    }

    /// Reads more; `Ok(0)` at end of stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < READ_STEP / 4 {
            self.buf.reserve(READ_STEP);
        }
        let n = self.io.read_buf(&mut self.buf).await?;
        self.read += n as u64;
        Ok(n)
    }

    /// Whether a pipelined request (or part of one) is already read.
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Where on the connection the first byte `buf` holds is.
    fn base(&self) -> u64 {
        self.read - self.buf.len() as u64
    }

    /// Reads the next request head within `timeout`, in the header buffers of `vhost`.
    /// `stop` ends the wait while no byte of the head has come: once one has, the head is
    /// read to its end, as nginx's handlers reading a head do not look at a shutdown.
    pub async fn read_head(
        &mut self,
        timeout: Duration,
        vhost: &Vhost<'_>,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<RequestHead, HeadError> {
        let mut stop = std::pin::pin!(stop);
        let deadline = tokio::time::Instant::now() + timeout;
        let buffered = self.has_buffered();
        let pipelined = buffered && !std::mem::take(&mut self.carried);
        let mut began = buffered.then(Instant::now);
        self.counted.to(if buffered {
            Stage::Reading
        } else {
            Stage::Waiting
        });
        // A pipelined request begins where the last head (and its body) ended in nginx's
        // buffer, when it is there.
        let base = self.base();
        let room = match self.carry.take() {
            Some((end, size, large)) if buffered && base < end => Room {
                end: usize::try_from(end - base).unwrap_or(usize::MAX),
                size,
                busy: usize::from(large),
            },
            _ => Room::fresh(&vhost.buffers),
        };
        if room.end == 0 {
            // `client_header_buffer_size 0`: nginx's read of no bytes reads as the client
            // closing, and the connection closes without an answer.
            return Err(HeadError::Closed(None, None));
        }
        self.at.chosen = None;
        self.at.need = 0;
        // The head is parsed again from its start only when a line has ended since the last
        // try, or nginx's buffer is full: a client sending a byte at a time costs no more
        // than one sending it all at once. A request line not yet complete is also parsed
        // again each time the bytes read have doubled, so one nginx refuses at its first bad
        // byte (a WebSocket frame sent after an answer that opened no tunnel) is refused as
        // soon as it comes, not once its line ends.
        let mut scanned = 0;
        let mut tried = 0;
        loop {
            let ended = self.buf[scanned..].contains(&b'\n');
            scanned = self.buf.len();
            let grown = !self.at.line_done && self.buf.len() >= (2 * tried).max(1);
            if ended || grown || self.buf.len() >= self.at.need {
                tried = self.buf.len();
                match parse::parse_head(&self.buf, &mut self.at, room, vhost) {
                    Ok(true) => {
                        self.counted.to(Stage::Writing);
                        return Ok(self.take_head(pipelined, base));
                    }
                    Ok(false) => {}
                    Err(e) => {
                        let partial = self.partial(pipelined, began, e);
                        return Err(HeadError::Invalid(e, partial));
                    }
                }
            }
            let fill = tokio::time::timeout_at(deadline, self.fill());
            let read = match began {
                Some(_) => fill.await,
                None => tokio::select! {
                    read = fill => read,
                    () = &mut stop => return Err(HeadError::Stopped),
                },
            };
            match read {
                Ok(Ok(n)) if n > 0 => {
                    if began.is_none() {
                        began = Some(Instant::now());
                        self.counted.to(Stage::Reading);
                    }
                }
                read => {
                    let partial = began.map(|began| {
                        // What arrived since the last parse counts too.
                        let _ = parse::parse_head(&self.buf, &mut self.at, room, vhost);
                        self.partial(pipelined, Some(began), None)
                    });
                    return Err(match read {
                        Err(_) => HeadError::TimedOut(partial),
                        Ok(Ok(_)) => HeadError::Closed(partial, None),
                        Ok(Err(e)) => HeadError::Closed(partial, Some(e)),
                    });
                }
            }
        }
    }

    /// What the buffer holds of a head that will not be completed, as the last parse of it
    /// found; `refused` is why, when the parser said no.
    fn partial(
        &mut self,
        pipelined: bool,
        began: Option<Instant>,
        refused: impl Into<Option<ParseError>>,
    ) -> PartialHead {
        let head = self.buf.split().freeze();
        let at = &self.at;
        let start = at.start.min(head.len());
        let rest = &head[start..];
        let refused = refused.into();
        let line_len = match refused {
            Some(ParseError::UriTooLarge) => rest.len().min(at.cut.saturating_sub(start)),
            _ => rest
                .iter()
                .position(|&c| c == b'\r' || c == b'\n')
                .unwrap_or(rest.len()),
        };
        let parsed = at.line_done.then(|| {
            (
                head.slice(at.method.clone()),
                head.slice(at.target.clone()),
                at.http10,
            )
        });
        PartialHead {
            line: head.slice(start..start + line_len),
            parsed,
            // nginx saw the version begin only if it was within the line it kept.
            protocol_begun: at.protocol.is_some_and(|p| p < start + line_len),
            target_refused: refused == Some(ParseError::InvalidTarget),
            headers: at
                .headers
                .iter()
                .map(|(n, v)| (head.slice(n.clone()), head.slice(v.clone())))
                .collect(),
            length: if at.line_done {
                at.parsed.saturating_sub(start)
            } else {
                0
            },
            pipelined,
            began: began.unwrap_or_else(Instant::now),
        }
    }

    fn take_head(&mut self, pipelined: bool, base: u64) -> RequestHead {
        let at = &self.at;
        self.carry = Some((base + at.room.end as u64, at.room.size, at.room.busy > 0));
        let head = self.buf.split_to(at.len).freeze();
        RequestHead {
            method: head.slice(at.method.clone()),
            target: head.slice(at.target.clone()),
            http10: at.http10,
            headers: at
                .headers
                .iter()
                .map(|(n, v)| (head.slice(n.clone()), head.slice(v.clone())))
                .collect(),
            // Empty lines before the request line are not counted (`request_start` on).
            length: at.len - at.start,
            pipelined,
            room: at.room.end.saturating_sub(at.len),
            raw: head.slice(at.start..),
        }
    }

    /// Writes all of `bytes`.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await
    }

    /// Ends the connection as nginx does: plain sockets just close; TLS says close_notify.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.io.shutdown()).await;
    }
}
