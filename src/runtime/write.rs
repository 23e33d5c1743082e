//! Sending an answer to the client (nginx's chunked and write filters): the head and as much of
//! the body as is already at hand go out in one write; the rest of the body follows as it
//! arrives, in chunked framing when the answer says so.

use std::io;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;

use super::client::Client;
use super::response::Answer;

/// Pending output is written once it reaches this size, even if more is at hand.
const FLUSH_AT: usize = 64 * 1024;

/// How sending went.
#[derive(Debug)]
pub enum Sent {
    /// The whole answer went out.
    Complete,
    /// The body broke off (an upstream error) or the client could not take it: the
    /// connection must close.
    Broken,
}

/// Writes `answer`'s head and body to `client`.
pub async fn send(client: &mut Client, answer: &mut Answer) -> Sent {
    let mut out = std::mem::take(&mut answer.head);
    loop {
        // What the body can give without waiting joins the pending output.
        let next = match answer.body.next().now_or_never() {
            Some(next) => next,
            None => {
                if flush(client, &mut out).await.is_err() {
                    answer.body.abandon();
                    return Sent::Broken;
                }
                answer.body.next().await
            }
        };
        match next {
            Ok(Some(data)) => {
                frame(&mut out, data, answer.chunked);
                if out.len() >= FLUSH_AT && flush(client, &mut out).await.is_err() {
                    answer.body.abandon();
                    return Sent::Broken;
                }
            }
            Ok(None) => {
                if answer.chunked {
                    out.extend_from_slice(b"0\r\n\r\n");
                }
                return match flush(client, &mut out).await {
                    Ok(()) => {
                        answer.body.complete();
                        Sent::Complete
                    }
                    Err(_) => {
                        answer.body.abandon();
                        Sent::Broken
                    }
                };
            }
            Err(_) => {
                // nginx sends what it has and closes, without the last chunk.
                let _ = flush(client, &mut out).await;
                return Sent::Broken;
            }
        }
    }
}

/// Appends `data` to `out`, as a chunk when `chunked`.
fn frame(out: &mut BytesMut, data: Bytes, chunked: bool) {
    if !chunked {
        out.extend_from_slice(&data);
        return;
    }
    let mut hex = [0u8; 16];
    let mut at = hex.len();
    let mut n = data.len();
    loop {
        at -= 1;
        hex[at] = b"0123456789abcdef"[n % 16];
        n /= 16;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&hex[at..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\r\n");
}

async fn flush(client: &mut Client, out: &mut BytesMut) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    client.write(out).await?;
    out.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_carry_their_size_in_hex() {
        let mut out = BytesMut::new();
        frame(&mut out, Bytes::from(vec![b'x'; 26]), true);
        frame(&mut out, Bytes::from_static(b"ab"), false);
        assert_eq!(&out[..4], b"1a\r\n");
        assert!(out.ends_with(b"x\r\nab"));
    }
}
