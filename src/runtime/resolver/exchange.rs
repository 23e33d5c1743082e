//! One round of questions to one DNS server: over UDP, and again over TCP for an answer that
//! came truncated (`ngx_resolver_send_tcp_query`). What nginx ignores is ignored here too, so
//! the question waits for the next round: answers to no pending question, malformed ones, and
//! those with a format error or a code beyond "refused" (each logged as nginx logs it).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout_at;

use super::wire::{self, Answer};

/// The largest UDP answer nginx reads.
const MAX_UDP_ANSWER: usize = 4096;
/// Codes that do not settle a question (nginx's FORMERR and those past REFUSED).
const FORMERR: u8 = 1;
const REFUSED: u8 = 5;

/// A question still waiting for its answer.
#[derive(Debug)]
pub struct Question {
    pub id: u16,
    pub qtype: u16,
    pub query: Vec<u8>,
}

/// What failed, for nginx's `CALL failed (ERRNO: TEXT) while resolving` line.
pub type Failure = (&'static str, io::Error);

/// Sends the `pending` questions to `server` and reads answers until all are in or `until`;
/// each question answered moves from `pending` to `answers`, in the order answers came.
pub async fn round(
    server: SocketAddr,
    name: &str,
    pending: &mut Vec<Question>,
    answers: &mut Vec<Answer>,
    until: Instant,
) -> Result<(), Failure> {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(|e| ("bind()", e))?;
    socket.connect(server).await.map_err(|e| ("connect()", e))?;
    for q in pending.iter() {
        socket.send(&q.query).await.map_err(|e| ("send()", e))?;
    }
    let mut buf = vec![0u8; MAX_UDP_ANSWER];
    while !pending.is_empty() {
        let Ok(read) = timeout_at(until.into(), socket.recv(&mut buf)).await else {
            return Ok(());
        };
        let read = read.map_err(|e| ("recv()", e))?;
        let Some((at, answer)) = settles(&buf[..read], name, pending) else {
            continue;
        };
        let answer = if answer.truncated {
            match timeout_at(until.into(), tcp(server, &pending[at].query)).await {
                Ok(Ok(whole)) => match settles(&whole, name, pending) {
                    Some((_, answer)) if !answer.truncated => answer,
                    _ => continue,
                },
                Ok(Err(failure)) => return Err(failure),
                Err(_) => return Ok(()),
            }
        } else {
            answer
        };
        pending.remove(at);
        answers.push(answer);
    }
    Ok(())
}

/// The pending question `msg` answers and the answer, if it settles it.
fn settles(msg: &[u8], name: &str, pending: &[Question]) -> Option<(usize, Answer)> {
    let answer = match wire::parse(msg, name) {
        Ok(a) => a,
        Err(e) => {
            crate::runtime::log::error(format_args!("{e}"));
            return None;
        }
    };
    let at = pending
        .iter()
        .position(|q| q.id == answer.id && q.qtype == answer.qtype);
    if answer.rcode == FORMERR || answer.rcode > REFUSED {
        let code = answer.rcode;
        let text = super::strerror(code);
        let id = answer.id;
        match at {
            Some(_) => crate::runtime::log::error(format_args!(
                "DNS error ({code}: {text}), query id:{id}, name:\"{name}\""
            )),
            None => crate::runtime::log::error(format_args!(
                "DNS error ({code}: {text}), query id:{id}"
            )),
        }
        return None;
    }
    Some((at?, answer))
}

/// `query` over TCP: each message with its two-byte length in front.
async fn tcp(server: SocketAddr, query: &[u8]) -> Result<Vec<u8>, Failure> {
    let mut stream = TcpStream::connect(server)
        .await
        .map_err(|e| ("connect()", e))?;
    let len = u16::try_from(query.len()).map_err(|e| ("send()", io::Error::other(e)))?;
    let mut message = len.to_be_bytes().to_vec();
    message.extend_from_slice(query);
    stream
        .write_all(&message)
        .await
        .map_err(|e| ("send()", e))?;
    let answer_len = stream.read_u16().await.map_err(|e| ("recv()", e))?;
    let mut answer = vec![0u8; usize::from(answer_len)];
    stream
        .read_exact(&mut answer)
        .await
        .map_err(|e| ("recv()", e))?;
    Ok(answer)
}
