//! The FastCGI protocol of `fastcgi_pass` (`ngx_http_fastcgi_module`), as a layer over the
//! upstream connection: the request's records written the way nginx writes them, and the
//! answer's records taken apart as they are read, so that everything above the connection
//! (the head's reader, the body's reader, keepalive) sees the application's STDOUT as it
//! would see an HTTP upstream's bytes. The answer's head is a CGI head (no status line), read
//! by [`super::exchange::parse_head`].
//!
//! Every record carries request id 1, as nginx's do; nginx sends one request per connection
//! at a time.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, ReadBuf};

use super::socket::Socket;
use crate::eval::plan::GatewayRequest;

const VERSION: u8 = 1;
const BEGIN_REQUEST: u8 = 1;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const STDERR: u8 = 7;
/// The role nginx asks for.
const RESPONDER: u8 = 1;
/// `FCGI_KEEP_CONN`: the application keeps the connection open after the request.
const KEEP_CONN: u8 = 1;
/// nginx cuts a body into STDIN records of at most this many bytes.
const STDIN_PIECE: usize = 32 * 1024;
/// A record's header.
const HEADER: usize = 8;
/// The most bytes one read of the connection takes.
const READ: usize = 16 * 1024;

/// A record's header for `len` bytes of content and `padding` bytes after them.
fn header(out: &mut Vec<u8>, kind: u8, len: usize, padding: usize) {
    // Internal: callers never give more than 65535 bytes.
    let len = len as u16;
    out.extend_from_slice(&[VERSION, kind, 0, 1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[padding as u8, 0]);
}

/// Padding to the next multiple of 8, as nginx pads PARAMS and STDIN records.
fn padding(len: usize) -> usize {
    (8 - len % 8) % 8
}

/// A name's or a value's length: one byte up to 127, else four with the top bit set.
fn push_length(out: &mut Vec<u8>, len: usize) {
    if len > 127 {
        out.extend_from_slice(&((len as u32) | 0x8000_0000).to_be_bytes());
    } else {
        out.push(len as u8);
    }
}

/// The request's first records (`ngx_http_fastcgi_create_request`): BEGIN_REQUEST as a
/// responder (with `FCGI_KEEP_CONN` under `fastcgi_keep_conn`), every param in one padded
/// PARAMS record, then the empty PARAMS record that ends them. The routing refused params
/// that do not fit one record ([`GatewayRequest::limited_len`]).
pub fn request_head(request: &GatewayRequest, keep_conn: bool) -> Vec<u8> {
    let params = &request.params;
    let len = request.limited_len().map_or(0, |(len, _)| len);
    let pad = padding(len);
    let mut out = Vec::with_capacity(4 * HEADER + len + pad);
    header(&mut out, BEGIN_REQUEST, 8, 0);
    let flags = if keep_conn { KEEP_CONN } else { 0 };
    out.extend_from_slice(&[0, RESPONDER, flags, 0, 0, 0, 0, 0]);
    header(&mut out, PARAMS, len, pad);
    for (name, value) in params {
        push_length(&mut out, name.len());
        push_length(&mut out, value.len());
        out.extend_from_slice(name);
        out.extend_from_slice(value);
    }
    out.resize(out.len() + pad, 0);
    header(&mut out, PARAMS, 0, 0);
    out
}

/// `data` as STDIN records of at most 32 KiB each, padded, appended to `out`.
pub fn stdin(out: &mut Vec<u8>, data: &[u8]) {
    for piece in data.chunks(STDIN_PIECE) {
        let pad = padding(piece.len());
        header(out, STDIN, piece.len(), pad);
        out.extend_from_slice(piece);
        out.resize(out.len() + pad, 0);
    }
}

/// The empty STDIN record that ends the body.
pub fn end_stdin(out: &mut Vec<u8>) {
    header(out, STDIN, 0, 0);
}

/// What nginx refuses in an answer's records, with its error-log text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// Where the decoder stands in the record stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Reading a record's header.
    #[default]
    Header,
    /// `left` bytes of the current record's content, then `padding`.
    Content {
        kind: u8,
        left: usize,
        padding: usize,
    },
    /// `left` bytes of padding, after which the answer is over when `last`.
    Padding { left: usize, last: bool },
    /// END_REQUEST was read whole: the answer is over.
    Ended,
}

/// The answer's records taken apart as they arrive.
#[derive(Debug, Default)]
pub struct Decoder {
    at: At,
    /// An empty STDOUT record came: the application's output is over.
    closed: bool,
    /// Bytes of records taken apart, and of STDOUT content given out, so far.
    taken: u64,
    stdout: u64,
    /// Where each STDOUT record's content begins: in STDOUT, and in the records.
    starts: Vec<(u64, u64)>,
}

impl Decoder {
    /// Takes what `raw` holds: STDOUT content goes to `stdout`, each piece of STDERR content
    /// to `stderr`, with how much STDOUT came before it. Stops at the end of the END_REQUEST
    /// record (what follows stays in `raw`).
    pub fn feed(
        &mut self,
        raw: &mut BytesMut,
        stdout: &mut BytesMut,
        stderr: &mut Vec<(u64, Bytes)>,
    ) -> Result<(), Refused> {
        loop {
            match self.at {
                At::Ended => return Ok(()),
                At::Header => {
                    if raw.len() < HEADER {
                        return Ok(());
                    }
                    let h = raw.split_to(HEADER);
                    self.taken += HEADER as u64;
                    if h[0] != VERSION {
                        let message = format!(
                            "upstream sent unsupported FastCGI protocol version: {}",
                            h[0]
                        );
                        return Err(Refused(message));
                    }
                    let id = u16::from_be_bytes([h[2], h[3]]);
                    if id != 1 {
                        let message = format!("upstream sent invalid FastCGI request id: {id}");
                        return Err(Refused(message));
                    }
                    let kind = h[1];
                    let left = usize::from(u16::from_be_bytes([h[4], h[5]]));
                    let padding = usize::from(h[6]);
                    match kind {
                        STDOUT | STDERR | END_REQUEST => {}
                        _ => {
                            let message =
                                format!("upstream sent unexpected FastCGI record: {kind}");
                            return Err(Refused(message));
                        }
                    }
                    self.closed |= kind == STDOUT && left == 0;
                    if kind == STDOUT {
                        self.starts.push((self.stdout, self.taken));
                    }
                    self.at = At::Content {
                        kind,
                        left,
                        padding,
                    };
                }
                At::Content {
                    kind,
                    left,
                    padding,
                } => {
                    let n = left.min(raw.len());
                    if n == 0 && left > 0 {
                        return Ok(());
                    }
                    let piece = raw.split_to(n);
                    self.taken += n as u64;
                    match kind {
                        STDOUT => {
                            self.stdout += n as u64;
                            stdout.extend_from_slice(&piece);
                        }
                        STDERR if n > 0 => stderr.push((self.stdout, piece.freeze())),
                        _ => {}
                    }
                    if left > n {
                        self.at = At::Content {
                            kind,
                            left: left - n,
                            padding,
                        };
                        return Ok(());
                    }
                    self.at = At::Padding {
                        left: padding,
                        last: kind == END_REQUEST,
                    };
                }
                At::Padding { left, last } => {
                    let n = left.min(raw.len());
                    raw.advance(n);
                    self.taken += n as u64;
                    if n < left {
                        self.at = At::Padding {
                            left: left - n,
                            last,
                        };
                        return Ok(());
                    }
                    self.at = if last { At::Ended } else { At::Header };
                }
            }
        }
    }

    /// END_REQUEST has been read whole.
    pub fn ended(&self) -> bool {
        self.at == At::Ended
    }

    /// Where byte `at` of STDOUT stands among the records: a position inside a record's
    /// content, never in the padding or header that follows it.
    fn record_offset(&self, at: u64) -> u64 {
        let start = self.starts.iter().rev().find(|(s, _)| *s < at);
        match start.or(self.starts.first()) {
            Some((stdout, taken)) => taken + (at - stdout.min(&at)),
            None => at,
        }
    }
}

/// nginx's text of one piece of STDERR: its trailing CRs, LFs, dots and spaces dropped.
pub fn stderr_text(piece: &[u8]) -> &[u8] {
    let end = piece
        .iter()
        .rposition(|c| !matches!(c, b'\r' | b'\n' | b'.' | b' '))
        .map_or(0, |i| i + 1);
    // nginx keeps the first byte whatever it is.
    &piece[..end.max(piece.len().min(1))]
}

/// A connection to a FastCGI application: reads give the STDOUT of the current request and
/// end with its END_REQUEST record.
#[derive(Debug)]
pub struct FastCgiPeer {
    pub socket: Socket,
    raw: BytesMut,
    decoder: Decoder,
    stdout: BytesMut,
    stderr: Vec<(u64, Bytes)>,
    refused: Option<Refused>,
    /// The application closed the connection.
    eof: bool,
    /// Bytes read for the current request, records and all.
    read: u64,
    /// Where in STDOUT its head ended, once it did.
    head_end: Option<u64>,
}

impl FastCgiPeer {
    pub fn new(socket: Socket) -> FastCgiPeer {
        FastCgiPeer {
            socket,
            raw: BytesMut::new(),
            decoder: Decoder::default(),
            stdout: BytesMut::new(),
            stderr: Vec::new(),
            refused: None,
            eof: false,
            read: 0,
            head_end: None,
        }
    }

    /// Readies the connection for its next request's answer.
    pub fn begin(&mut self) {
        self.decoder = Decoder::default();
        self.stdout.clear();
        self.stderr.clear();
        self.refused = None;
        self.read = 0;
        self.head_end = None;
    }

    /// Bytes read for the current request, records and all (`$upstream_bytes_received`).
    pub fn read(&self) -> u64 {
        self.read
    }

    /// The answer's head took its STDOUT's first `len` bytes.
    pub fn head_read(&mut self, len: usize) {
        self.head_end = Some(len as u64);
    }

    /// Bytes read past the head, records and all: nginx counts these in
    /// `$upstream_response_length`.
    pub fn read_past_head(&self) -> u64 {
        let head = self.decoder.record_offset(self.head_end.unwrap_or(0));
        self.read.saturating_sub(head)
    }

    /// The STDERR pieces read so far, taken: those before the head's end once it is read
    /// (nginx logs the others as read with the body).
    pub fn take_stderr(&mut self) -> Vec<Bytes> {
        let end = self.head_end.unwrap_or(u64::MAX);
        let body = self.stderr.iter().position(|(at, _)| *at >= end);
        let rest = body.map_or_else(Vec::new, |i| self.stderr.split_off(i));
        let head = std::mem::replace(&mut self.stderr, rest);
        head.into_iter().map(|(_, piece)| piece).collect()
    }

    /// The STDERR pieces read with the body so far, taken.
    pub fn take_body_stderr(&mut self) -> Vec<Bytes> {
        let all = std::mem::take(&mut self.stderr);
        all.into_iter().map(|(_, piece)| piece).collect()
    }

    /// Why nginx refuses an answer whose records ended before its head did
    /// (`ngx_http_fastcgi_process_header` takes only STDOUT and STDERR records, and no empty
    /// STDOUT, until the head is whole); `None` when the connection closed first.
    pub fn unfinished_head(&self) -> Option<String> {
        if let Some(refused) = &self.refused {
            return Some(refused.0.clone());
        }
        if self.decoder.closed {
            return Some("upstream prematurely closed FastCGI stdout".to_string());
        }
        self.decoder
            .ended()
            .then(|| format!("upstream sent unexpected FastCGI record: {END_REQUEST}"))
    }

    /// Reads (at most `most` bytes at a time, as nginx reads into a buffer of that room) and
    /// decodes until some STDOUT, the answer's end, or the connection's, is known.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>, most: usize) -> Poll<io::Result<()>> {
        loop {
            if !self.stdout.is_empty() || self.done() {
                return Poll::Ready(Ok(()));
            }
            let mut scratch = [0u8; READ];
            let mut read = ReadBuf::new(&mut scratch[..most.clamp(1, READ)]);
            ready!(Pin::new(&mut self.socket).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                self.eof = true;
                continue;
            }
            self.raw.extend_from_slice(read.filled());
            self.read += read.filled().len() as u64;
            self.decode();
        }
    }

    fn decode(&mut self) {
        if self.refused.is_none()
            && let Err(refused) =
                self.decoder
                    .feed(&mut self.raw, &mut self.stdout, &mut self.stderr)
        {
            self.refused = Some(refused);
        }
    }

    /// Nothing more will come for this request.
    fn done(&self) -> bool {
        self.eof || self.decoder.ended() || self.refused.is_some()
    }

    /// Moves up to `max` bytes of STDOUT out; `None` when there are none.
    pub fn take_stdout(&mut self, max: usize) -> Option<BytesMut> {
        if self.stdout.is_empty() {
            return None;
        }
        let n = max.min(self.stdout.len());
        Some(self.stdout.split_to(n))
    }

    /// The answer ended with its END_REQUEST record and the connection is still open.
    pub fn answered(&self) -> bool {
        self.decoder.ended() && !self.eof && self.refused.is_none()
    }

    /// Whether the read side has ended (answer over, refused or connection closed).
    pub fn ended(&self) -> bool {
        self.done()
    }

    /// Whether an idle connection can carry another request: its last answer's records were
    /// all read (the END_REQUEST that followed a body of known length may still be waiting,
    /// and is read now), nothing else came and the application has not closed it.
    pub fn idle_and_open(&mut self) -> bool {
        loop {
            let mut chunk = [0u8; 512];
            let got = match &self.socket {
                Socket::Tcp(s) => s.try_read(&mut chunk),
                Socket::Unix(s) => s.try_read(&mut chunk),
            };
            match got {
                Ok(0) => return false,
                Ok(n) => {
                    self.raw.extend_from_slice(&chunk[..n]);
                    self.read += n as u64;
                    self.decode();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return false,
            }
        }
        self.decoder.ended() && self.stdout.is_empty() && self.raw.is_empty() && !self.eof
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use std::sync::Arc;

    fn request(list: &[(&str, &str)], keep_conn: bool) -> Vec<u8> {
        let params = list
            .iter()
            .map(|(n, v)| (Bytes::from(n.to_string()), Bytes::from(v.to_string())))
            .collect();
        let request = GatewayRequest {
            params,
            headers_at: list.len(),
            own_validators: [false; 2],
            whole_body: true,
            protocol: crate::eval::plan::Gateway::FastCgi {
                keep_conn,
                catch_stderr: Arc::from([]),
            },
        };
        request_head(&request, keep_conn)
    }

    #[test]
    fn the_request_head_is_begin_request_then_padded_params() {
        let head = request(&[("A", "bc")], false);
        let mut want = vec![1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        // 1 + 1 + 1 + 2 = 5 bytes of params, 3 of padding.
        want.extend_from_slice(&[1, 4, 0, 1, 0, 5, 3, 0, 1, 2, b'A', b'b', b'c', 0, 0, 0]);
        want.extend_from_slice(&[1, 4, 0, 1, 0, 0, 0, 0]);
        assert_eq!(head, want);
        let kept = request(&[], true);
        assert_eq!(kept[10], KEEP_CONN);
    }

    #[test]
    fn long_values_take_four_length_bytes() {
        let value = "x".repeat(200);
        let head = request(&[("N", &value)], false);
        let params = &head[24..];
        assert_eq!(&params[..5], &[1, 0x80, 0, 0, 200]);
        assert_eq!(u16::from_be_bytes([head[20], head[21]]), 1 + 4 + 1 + 200);
    }

    #[test]
    fn bodies_go_in_padded_pieces_of_32k() {
        let mut out = Vec::new();
        stdin(&mut out, &vec![7u8; 32 * 1024 + 3]);
        end_stdin(&mut out);
        assert_eq!(&out[..8], &[1, 5, 0, 1, 0x80, 0, 0, 0]);
        let second = 8 + 32 * 1024;
        assert_eq!(&out[second..second + 8], &[1, 5, 0, 1, 0, 3, 5, 0]);
        assert_eq!(out.len(), second + 8 + 3 + 5 + 8);
    }

    fn record(kind: u8, content: &[u8], pad: u8) -> Vec<u8> {
        let mut out = vec![1, kind, 0, 1];
        out.extend_from_slice(&(content.len() as u16).to_be_bytes());
        out.extend_from_slice(&[pad, 0]);
        out.extend_from_slice(content);
        out.extend(std::iter::repeat_n(0, pad as usize));
        out
    }

    #[test]
    fn answers_are_decoded_a_byte_at_a_time() {
        let mut wire = record(STDERR, b"oops\n", 3);
        wire.extend(record(STDOUT, b"Status: 404\r\n\r\nbody", 0));
        wire.extend(record(STDOUT, b"", 0));
        wire.extend(record(END_REQUEST, &[0; 8], 2));
        wire.extend(b"next");
        let mut decoder = Decoder::default();
        let (mut raw, mut out, mut err) = (BytesMut::new(), BytesMut::new(), Vec::new());
        for b in &wire[..wire.len() - 4] {
            raw.put_u8(*b);
            decoder.feed(&mut raw, &mut out, &mut err).unwrap();
        }
        assert!(decoder.ended());
        assert_eq!(&out[..], b"Status: 404\r\n\r\nbody");
        // One piece per read, as nginx logs them, all before any STDOUT.
        assert!(err.iter().all(|(at, _)| *at == 0));
        let text: Vec<u8> = err.iter().flat_map(|(_, piece)| piece.to_vec()).collect();
        assert_eq!(text, b"oops\n");
        raw.extend_from_slice(b"next");
        decoder.feed(&mut raw, &mut out, &mut err).unwrap();
        assert_eq!(&raw[..], b"next");
    }

    #[test]
    fn refused_records_say_what_nginx_logs() {
        let refused = |wire: Vec<u8>| {
            let mut raw = BytesMut::from(&wire[..]);
            Decoder::default()
                .feed(&mut raw, &mut BytesMut::new(), &mut Vec::new())
                .unwrap_err()
                .0
        };
        assert_eq!(
            refused(record(PARAMS, b"", 0)),
            "upstream sent unexpected FastCGI record: 4"
        );
        let mut v2 = record(STDOUT, b"x", 0);
        v2[0] = 2;
        assert_eq!(
            refused(v2),
            "upstream sent unsupported FastCGI protocol version: 2"
        );
    }

    #[test]
    fn stderr_loses_its_trailing_dots_and_newlines() {
        assert_eq!(stderr_text(b"PHP Warning: x.\r\n"), b"PHP Warning: x");
        assert_eq!(stderr_text(b"\n"), b"\n");
    }
}
