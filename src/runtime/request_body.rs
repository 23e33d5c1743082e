//! The client's request body (nginx's `ngx_http_request_body.c`): delimited by
//! `Content-Length` or chunked, cut from the connection's read buffer as it arrives, each read
//! bounded by `client_body_timeout`. `Expect: 100-continue` is answered when reading starts, as
//! nginx's `ngx_http_test_expect` does. A body nobody wants is discarded, so the next request
//! on the connection starts where it should.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::chunked::{ChunkedDecoder, Decoded};
use super::client::Client;
use super::error::ProxyError;
use crate::eval::plan::Lingering;

/// nginx's interim answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[derive(Debug)]
enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder),
    Done,
}

#[derive(Debug)]
pub struct ClientBody {
    framing: Framing,
    /// `100 Continue` still to be sent before the first read.
    expect_continue: bool,
    /// `100 Continue` went out while the body was read: nginx counts its bytes in
    /// `$body_bytes_sent` and `$bytes_sent` (they are in `c->sent`, not in the header size).
    continued: bool,
    /// Bytes of the connection read as the body so far, chunked framing included.
    raw: u64,
    /// How long a read may wait: the location's `client_body_timeout` once one is chosen.
    timeout: Duration,
    /// Reading began (nginx's `request_body`): a body left unfinished then is not discarded
    /// after the answer, the connection closes.
    started: bool,
    /// How the body is discarded if no one reads it (see [`ClientBody::discard`]).
    lingering: Option<Lingering>,
}

/// What reading a whole body saw: enough to tell where nginx would have kept it
/// (`kept_body`).
#[derive(Debug)]
pub struct WholeBody {
    /// The body, unless it ran past the bytes it was read to keep.
    pub data: Option<Bytes>,
    /// Its length.
    pub length: u64,
    /// Its bytes on the connection, chunked framing included.
    pub raw: u64,
    /// Of those, the ones already read (with the head, or waiting) when reading began.
    pub raw_at_hand: u64,
    /// The body's bytes that came in those.
    pub at_hand: u64,
}

impl ClientBody {
    /// The body a head announces (none without `Content-Length` or chunked).
    pub fn new(length: Option<u64>, chunked: bool, expect_continue: bool) -> ClientBody {
        let framing = match (chunked, length) {
            (true, _) => Framing::Chunked(ChunkedDecoder::default()),
            (false, Some(n)) if n > 0 => Framing::Length(n),
            _ => Framing::Done,
        };
        ClientBody {
            expect_continue,
            framing,
            continued: false,
            raw: 0,
            timeout: crate::defaults::http::CLIENT_BODY_TIMEOUT,
            started: false,
            lingering: Some(Lingering::default()),
        }
    }

    /// How the body is discarded if no one reads it: the answering level's
    /// `lingering_timeout` and `lingering_time` (`Sending::lingering`).
    pub fn set_lingering(&mut self, lingering: Option<Lingering>) {
        self.lingering = lingering;
    }

    /// The location's `client_body_timeout`: how long each read may wait for the next bytes.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Whether `100 Continue` is still owed: nginx sends it whenever it reads or discards
    /// the body, empty bodies included, so it goes out before the answer if no read sent it.
    pub fn owes_continue(&mut self) -> bool {
        std::mem::take(&mut self.expect_continue)
    }

    /// Bytes of the connection read as the body so far, chunked framing included (what
    /// `$request_length` counts of a body cut short).
    pub fn raw(&self) -> u64 {
        self.raw
    }

    /// Whether a read sent `100 Continue` already.
    pub fn continued(&self) -> bool {
        self.continued
    }

    pub fn is_done(&self) -> bool {
        matches!(self.framing, Framing::Done)
    }

    /// The next piece of the body; `None` at its end.
    pub async fn next(&mut self, client: &mut Client) -> Result<Option<Bytes>, ProxyError> {
        self.started = true;
        if self.owes_continue() {
            // Sent even when the body is already here, as nginx does.
            client
                .write(CONTINUE)
                .await
                .map_err(|e| ProxyError::ClientClosed(Some(e)))?;
            self.continued = true;
        }
        loop {
            match &mut self.framing {
                Framing::Done => return Ok(None),
                Framing::Length(left) if client.has_buffered() => {
                    let n = (client.buf.len() as u64).min(*left);
                    *left -= n;
                    self.raw += n;
                    if *left == 0 {
                        self.framing = Framing::Done;
                    }
                    return Ok(Some(client.buf.split_to(n as usize).freeze()));
                }
                Framing::Length(_) => {}
                Framing::Chunked(decoder) => {
                    let before = client.buf.len();
                    let decoded = decoder.decode(&mut client.buf);
                    self.raw += (before - client.buf.len()) as u64;
                    match decoded {
                        Ok(Decoded::Data(data)) => return Ok(Some(data)),
                        Ok(Decoded::Done) => {
                            self.framing = Framing::Done;
                            return Ok(None);
                        }
                        Ok(Decoded::NeedMore) => {}
                        Err(_) => {
                            self.framing = Framing::Done;
                            return Err(ProxyError::ClientBody(
                                "client sent invalid chunked body".into(),
                            ));
                        }
                    }
                }
            }
            match tokio::time::timeout(self.timeout, client.fill()).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(Ok(_)) => return Err(ProxyError::ClientClosed(None)),
                Ok(Err(e)) => return Err(ProxyError::ClientClosed(Some(e))),
                Err(_) => return Err(ProxyError::ClientBodyTimedOut),
            }
        }
    }

    /// The whole body, refused past `limit` bytes (0: no limit).
    pub async fn read_all(&mut self, client: &mut Client, limit: u64) -> Result<Bytes, ProxyError> {
        let mut all = BytesMut::new();
        while let Some(piece) = self.next(client).await? {
            self.within(limit, (all.len() + piece.len()) as u64)?;
            if all.is_empty() && self.is_done() {
                return Ok(piece);
            }
            all.extend_from_slice(&piece);
        }
        Ok(all.freeze())
    }

    /// Reads what the client has sent already, without waiting, up to `enough` bytes in the
    /// buffer: nginx reads all that is ready when it starts on a body. The bytes then at
    /// hand (the body's, and maybe a pipelined request's).
    pub fn settle(&self, client: &mut Client, enough: usize) -> usize {
        use futures_util::FutureExt;
        while client.buf.len() < enough
            && !self.is_done()
            && matches!(client.fill().now_or_never(), Some(Ok(n)) if n > 0)
        {}
        client.buf.len()
    }

    /// Reads the whole body as [`ClientBody::read_all`] does, keeping at most `cap` bytes of
    /// it; `raw_at_hand` bytes were at hand when reading began ([`ClientBody::settle`]).
    pub async fn read_whole(
        &mut self,
        client: &mut Client,
        limit: u64,
        cap: u64,
        raw_at_hand: u64,
    ) -> Result<WholeBody, ProxyError> {
        let mut all = BytesMut::new();
        let (mut total, mut at_hand, mut kept) = (0, 0, true);
        while let Some(piece) = self.next(client).await? {
            total += piece.len() as u64;
            self.within(limit, total)?;
            if self.raw <= raw_at_hand {
                at_hand += piece.len() as u64;
            }
            kept &= total <= cap;
            if kept {
                all.extend_from_slice(&piece);
            }
        }
        Ok(WholeBody {
            data: kept.then(|| all.freeze()),
            length: total,
            raw: self.raw,
            raw_at_hand: raw_at_hand.min(self.raw),
            at_hand,
        })
    }

    /// Reads the whole body as [`ClientBody::read_all`] does, and drops it: nginx reads a
    /// body it sends no part of (`proxy_set_body`, `proxy_pass_request_body off`) before it
    /// goes upstream. Its length.
    pub async fn read_and_drop(
        &mut self,
        client: &mut Client,
        limit: u64,
    ) -> Result<u64, ProxyError> {
        let mut total = 0;
        while let Some(piece) = self.next(client).await? {
            total += piece.len() as u64;
            self.within(limit, total)?;
        }
        Ok(total)
    }

    /// `client_max_body_size` (`limit`, 0: none) against the `total` read so far.
    fn within(&self, limit: u64, total: u64) -> Result<(), ProxyError> {
        if limit == 0 || total <= limit {
            return Ok(());
        }
        Err(match &self.framing {
            Framing::Chunked(decoder) => {
                let (before, size) = decoder.chunk();
                ProxyError::ChunkedTooLarge(before, size)
            }
            _ => ProxyError::BodyTooLarge(limit + 1),
        })
    }

    /// Once the answer is out, what nginx does with a body no one read
    /// (`ngx_http_discard_request_body`, which its own pages and every handler that does not
    /// read the body start): reads and drops it, each read waiting at most
    /// `lingering_timeout`, all of them at most `lingering_time`. `Err` when the connection
    /// must close instead: either passed, the body was broken, its reading had begun and
    /// was left unfinished (nginx's `reading_body`: no keep-alive then), or the head was
    /// refused before its length was read.
    pub async fn discard(&mut self, client: &mut Client) -> Result<(), ProxyError> {
        if self.is_done() {
            return Ok(());
        }
        let Some(lingering) = self.lingering.filter(|_| !self.started) else {
            return Err(ProxyError::ClientClosed(None));
        };
        self.timeout = lingering.timeout;
        let drop_all = async {
            while self.next(client).await?.is_some() {}
            Ok(())
        };
        tokio::time::timeout(lingering.time, drop_all)
            .await
            .unwrap_or(Err(ProxyError::ClientBodyTimedOut))
    }
}
