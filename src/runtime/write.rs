//! Sending an answer to the client (nginx's chunked and write filters): the head and as much of
//! the body as is already at hand go out in one write; the rest of the body follows as it
//! arrives, in chunked framing when the answer says so.

use std::io;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;

use super::client::Client;
use super::error::ProxyError;
use super::response::Answer;
use super::throttle::Throttle;

/// nginx's `postpone_output` default: output shorter than this waits for more.
pub const POSTPONE_OUTPUT: usize = 1460;

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

/// Writes `answer`'s head and body to `client`. The body's pieces at hand together make one
/// chunk, as nginx's chunked filter frames all the buffers it is passed at once (a chunked
/// upstream's chunks read together reach the client as one).
pub async fn send(client: &mut Client, answer: &mut Answer) -> Sent {
    let mut out = std::mem::take(&mut answer.head);
    let head = out.len();
    // No data of the body came yet: nginx's write filter still holds the head back.
    let mut held = true;
    let mut at_hand = BytesMut::new();
    loop {
        // What the body can give without waiting joins the pending output.
        let next = match answer.body.next().now_or_never() {
            Some(next) => next,
            None => {
                put(&mut out, &mut at_hand, answer);
                let hold = held && answer.hold_head;
                if !hold && flush(client, &mut out, &mut answer.throttle).await.is_err() {
                    answer.body.abandon();
                    return Sent::Broken;
                }
                if !answer.watch_client {
                    answer.body.next().await
                } else {
                    tokio::select! {
                        next = answer.body.next() => next,
                        gone = client.io.closed() => {
                            // Nothing reached the client if its head was still held.
                            answer.body.client_gone(gone, hold.then_some(head));
                            return Sent::Broken;
                        }
                    }
                }
            }
        };
        match next {
            Ok(Some(data)) => {
                held = false;
                at_hand.extend_from_slice(&data);
                if out.len() + at_hand.len() >= FLUSH_AT {
                    put(&mut out, &mut at_hand, answer);
                    if flush(client, &mut out, &mut answer.throttle).await.is_err() {
                        answer.body.abandon();
                        return Sent::Broken;
                    }
                }
            }
            Ok(None) => {
                put(&mut out, &mut at_hand, answer);
                if answer.chunked {
                    out.extend_from_slice(&answer.body.last_chunk());
                }
                return match flush(client, &mut out, &mut answer.throttle).await {
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
            Err(ProxyError::InvalidChunked | ProxyError::Inflate(_))
                if held && out.len() == head =>
            {
                // nginx's chunked (or gunzip) filter fails the request (`NGX_ERROR`): the head
                // it held back with no data to send yet goes nowhere.
                answer.body.withdraw_head(head);
                answer.body.abandon();
                return Sent::Broken;
            }
            Err(_) => {
                // nginx sends what it has and closes, without the last chunk; what reached
                // the client still makes the request complete to it (`$request_completion`
                // is `OK` after an upstream that timed out or closed early).
                put(&mut out, &mut at_hand, answer);
                if flush(client, &mut out, &mut answer.throttle).await.is_ok() {
                    answer.body.complete();
                } else {
                    answer.body.abandon();
                }
                return Sent::Broken;
            }
        }
    }
}

/// Moves the body's data at hand to `out`, framed as the answer says.
fn put(out: &mut BytesMut, at_hand: &mut BytesMut, answer: &mut Answer) {
    if at_hand.is_empty() {
        return;
    }
    let framing = frame(out, at_hand.split().freeze(), answer.chunked);
    answer.body.record_framing(framing);
}

/// Appends `data` to `out`, as a chunk when `chunked`; returns the bytes of framing added
/// (nginx's `$body_bytes_sent` counts them: they are sent after the head).
fn frame(out: &mut BytesMut, data: Bytes, chunked: bool) -> usize {
    if !chunked {
        out.extend_from_slice(&data);
        return 0;
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
    hex.len() - at + 4
}

async fn flush(
    client: &mut Client,
    out: &mut BytesMut,
    throttle: &mut Option<Box<Throttle>>,
) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    match throttle {
        None => client.write(out).await?,
        Some(t) => t.write(client, out).await?,
    }
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
