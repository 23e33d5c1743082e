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

/// nginx's interim answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// nginx's `client_body_timeout` default.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);

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
        }
    }

    /// Whether `100 Continue` is still owed: nginx sends it whenever it reads or discards
    /// the body, empty bodies included, so it goes out before the answer if no read sent it.
    pub fn owes_continue(&mut self) -> bool {
        std::mem::take(&mut self.expect_continue)
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
        if self.owes_continue() {
            // Sent even when the body is already here, as nginx does.
            client
                .write(CONTINUE)
                .await
                .map_err(|e| ProxyError::ClientBody(e.to_string()))?;
            self.continued = true;
        }
        loop {
            match &mut self.framing {
                Framing::Done => return Ok(None),
                Framing::Length(left) if client.has_buffered() => {
                    let n = (client.buf.len() as u64).min(*left);
                    *left -= n;
                    if *left == 0 {
                        self.framing = Framing::Done;
                    }
                    return Ok(Some(client.buf.split_to(n as usize).freeze()));
                }
                Framing::Length(_) => {}
                Framing::Chunked(decoder) => match decoder.decode(&mut client.buf) {
                    Ok(Decoded::Data(data)) => return Ok(Some(data)),
                    Ok(Decoded::Done) => {
                        self.framing = Framing::Done;
                        return Ok(None);
                    }
                    Ok(Decoded::NeedMore) => {}
                    Err(_) => {
                        self.framing = Framing::Done;
                        return Err(ProxyError::ClientBody("invalid chunked body".into()));
                    }
                },
            }
            match tokio::time::timeout(BODY_TIMEOUT, client.fill()).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(Ok(_)) => {
                    return Err(ProxyError::ClientBody(
                        "client prematurely closed connection".into(),
                    ));
                }
                Ok(Err(e)) => return Err(ProxyError::ClientBody(e.to_string())),
                Err(_) => return Err(ProxyError::ClientBody("client timed out".into())),
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

    /// Reads what is left of the body and drops it.
    pub async fn discard(&mut self, client: &mut Client) -> Result<(), ProxyError> {
        while self.next(client).await?.is_some() {}
        Ok(())
    }
}
