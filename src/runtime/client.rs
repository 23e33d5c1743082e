//! The client connection as the HTTP/1.x server sees it: the socket and one read buffer that
//! request heads and bodies are cut from. A head is parsed where it was read ([`parse`]) and
//! frozen into one shared buffer; its headers are slices of it, so nothing is copied per
//! header. Bytes read past a head (a body, a pipelined request) stay in the buffer.
//!
//! [`parse`]: super::parse

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Why no request head came.
#[derive(Debug)]
pub enum HeadError {
    /// The client closed (or reset) the connection between requests.
    Closed,
    /// `client_header_timeout`.
    TimedOut,
    /// The head breaks nginx's rules: answer with this status and close.
    Invalid(ParseError),
}

#[derive(Debug)]
pub struct Client {
    pub io: Downstream,
    /// Read but not yet consumed.
    pub buf: BytesMut,
    at: HeadAt,
}

impl Client {
    pub fn new(io: Downstream) -> Client {
        Client {
            io,
            buf: BytesMut::new(),
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
        let pipelined = self.has_buffered();
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
            if (ended || too_long)
                && parse::parse_head(&self.buf, &mut self.at).map_err(HeadError::Invalid)?
            {
                return Ok(self.take_head(pipelined));
            }
            match tokio::time::timeout_at(deadline, self.fill()).await {
                Err(_) => return Err(HeadError::TimedOut),
                Ok(Ok(0)) | Ok(Err(_)) => return Err(HeadError::Closed),
                Ok(Ok(_)) => {}
            }
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
