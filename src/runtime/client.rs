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
use super::parse::{self, HeadAt, ParseError};
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
}

/// Why no request head came. A head begun (any byte read, even an empty line) is a request
/// to nginx, logged with what was parsed of it ([`PartialHead`]); `None` is a connection
/// that sent nothing more, which nginx closes without a log line.
#[derive(Debug)]
pub enum HeadError {
    /// The client closed (or reset) the connection.
    Closed(Option<PartialHead>),
    /// `client_header_timeout`.
    TimedOut(Option<PartialHead>),
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
}

impl Client {
    /// A client whose first bytes, `ahead`, were read already (after a PROXY header).
    pub fn new(io: Downstream, counted: Counted, ahead: BytesMut) -> Client {
        Client {
            io,
            counted,
            carried: !ahead.is_empty(),
            buf: ahead,
            at: HeadAt::default(),
        }
    }

    /// Reads more; `Ok(0)` at end of stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < READ_STEP / 4 {
            self.buf.reserve(READ_STEP);
        }
        self.io.read_buf(&mut self.buf).await
    }

    /// Whether a pipelined request (or part of one) is already read.
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Reads the next request head within `timeout`.
    pub async fn read_head(&mut self, timeout: Duration) -> Result<RequestHead, HeadError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let buffered = self.has_buffered();
        let pipelined = buffered && !std::mem::take(&mut self.carried);
        let mut began = buffered.then(Instant::now);
        self.counted.to(if buffered {
            Stage::Reading
        } else {
            Stage::Waiting
        });
        // The head is parsed again from its start only when a line has ended since the last
        // try, or the line being read is past nginx's limit: a client sending a byte at a
        // time costs no more than one sending it all at once.
        let mut scanned = 0;
        let mut line_start = 0;
        loop {
            let ended = match self.buf[scanned..].iter().rposition(|&c| c == b'\n') {
                Some(at) => {
                    line_start = scanned + at + 1;
                    true
                }
                None => false,
            };
            scanned = self.buf.len();
            let too_long = self.buf.len() - line_start >= parse::LINE_LIMIT;
            if ended || too_long {
                match parse::parse_head(&self.buf, &mut self.at) {
                    Ok(true) => {
                        self.counted.to(Stage::Writing);
                        return Ok(self.take_head(pipelined));
                    }
                    Ok(false) => {}
                    Err(e) => {
                        let partial = self.partial(pipelined, began, e);
                        return Err(HeadError::Invalid(e, partial));
                    }
                }
            }
            match tokio::time::timeout_at(deadline, self.fill()).await {
                Ok(Ok(n)) if n > 0 => {
                    if began.is_none() {
                        began = Some(Instant::now());
                        self.counted.to(Stage::Reading);
                    }
                }
                read => {
                    let partial = began.map(|began| {
                        // What arrived since the last parse counts too.
                        let _ = parse::parse_head(&self.buf, &mut self.at);
                        self.partial(pipelined, Some(began), None)
                    });
                    return Err(match read {
                        Err(_) => HeadError::TimedOut(partial),
                        Ok(_) => HeadError::Closed(partial),
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
        let line_len = match refused.into() {
            Some(ParseError::UriTooLarge) => rest.len().min(parse::LINE_LIMIT),
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

    fn take_head(&mut self, pipelined: bool) -> RequestHead {
        let at = &self.at;
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
            length: at.len,
            pipelined,
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
