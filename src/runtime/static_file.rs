//! Sending a file the site decided on ([`FileResponse`]): the head as nginx's header filter
//! writes it, then the body part by part (the whole file, one range, or the pieces of a
//! multipart/byteranges body), each read on tokio's blocking pool in bounded chunks so a
//! large file is never held in memory and a slow disk never stalls the worker.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::addition;
use super::body::{Finish, ProxyBody};
use super::error::ProxyError;
use super::gunzip;
use super::gzip;
use super::respond;
use super::response::{self, Answer, Front};
use super::ssi;
use super::sub_filter;
use super::throttle::Throttle;
use super::trailers;
use super::write::POSTPONE_OUTPUT;
use crate::eval::plan::{FilePart, FileResponse};

/// How much of a file one read brings in.
const CHUNK: u64 = 64 * 1024;

/// Sends `f`; `finish` logs the request when the body is over.
pub fn serve(mut finish: Finish, f: FileResponse, keepalive: bool) -> Answer {
    let FileResponse {
        status,
        mut headers,
        file,
        parts,
        server_tokens,
        gzip,
        vary,
        sub_filter,
        addition,
        ssi,
        sending,
        trailers,
        ..
    } = f;
    let length: u64 = parts.iter().map(FilePart::size).sum();
    let mut front = Front::take_from(&mut headers, respond::connection(keepalive), None);
    if status != 304 {
        front.content_length = Some(length);
    }
    front.hide_version = !server_tokens;
    front.chunked_off = !sending.chunked;
    front.keepalive_header = sending.keepalive_header;
    let mut added = Vec::new();
    let request = &finish.request;
    // A `gzip_static` file (`always`) for a client without gzip.
    let gunzipped = gunzip::header_filter(gzip.as_deref(), request, &mut front, &mut headers);
    let joined = addition::header_filter(
        addition.as_ref(),
        status,
        request,
        &mut front,
        &mut headers,
        false,
    );
    let substituted = sub_filter::header_filter(
        sub_filter.as_ref(),
        status,
        request,
        &mut front,
        &mut headers,
        false,
    );
    let processed = ssi::header_filter(
        ssi.as_ref(),
        status,
        request,
        &mut front,
        &mut headers,
        false,
        &finish.log.errors,
    );
    let gzipped = gzip::header_filter(
        gzip.as_deref(),
        status,
        request,
        &mut front,
        &mut headers,
        &mut added,
        false,
    );
    if vary {
        gzip::add_vary(&mut headers);
    }
    let trailers = trailers::expect(trailers.as_ref(), status, request, &sending, &mut front);
    finish.outcome.status = status;
    let throttle = Throttle::start(&sending, &mut finish);
    let body = if finish.request.method == "HEAD" || length == 0 {
        ProxyBody::full(None, Some(finish))
    } else {
        ProxyBody::file(FileBody::new(file, parts), finish)
    };
    let mut answer = response::build(
        status,
        None,
        front,
        &headers,
        &added,
        body.gunzip(gunzipped)
            .sub_filter(substituted)
            .ssi(processed)
            .addition(joined)
            .gzip(gzipped)
            .trailers(trailers),
    );
    answer.throttle = throttle;
    // nginx's static handler sends the head and then the file, and the write filter holds a
    // head shorter than `postpone_output` for the file's first bytes: a rated answer's first
    // allowance counts both at once.
    answer.hold_head = answer.head.len() < POSTPONE_OUTPUT;
    answer
}

/// A file response's body being read.
#[derive(Debug)]
pub struct FileBody {
    file: Arc<File>,
    parts: VecDeque<FilePart>,
    reading: Option<JoinHandle<io::Result<Bytes>>>,
}

impl FileBody {
    pub fn new(file: File, parts: Vec<FilePart>) -> FileBody {
        FileBody {
            file: Arc::new(file),
            parts: parts.into(),
            reading: None,
        }
    }

    /// The next piece of the body; `None` at its end.
    pub fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, ProxyError>>> {
        loop {
            if let Some(reading) = &mut self.reading {
                let read = ready!(Pin::new(reading).poll(cx));
                self.reading = None;
                let read = read.unwrap_or_else(|e| Err(io::Error::other(e)));
                return Poll::Ready(Some(read.map_err(ProxyError::FileRead)));
            }
            let Some(part) = self.parts.front_mut() else {
                return Poll::Ready(None);
            };
            match part {
                FilePart::Text(text) => {
                    let text = text.clone();
                    self.parts.pop_front();
                    return Poll::Ready(Some(Ok(text)));
                }
                FilePart::Range { len: 0, .. } => {
                    self.parts.pop_front();
                }
                FilePart::Range { start, len } => {
                    let n = (*len).min(CHUNK);
                    let at = *start;
                    *start += n;
                    *len -= n;
                    let file = self.file.clone();
                    self.reading = Some(tokio::task::spawn_blocking(move || read_at(&file, at, n)));
                }
            }
        }
    }
}

/// `n` bytes at `at`; a file that shrank since it was opened is an error, as in nginx.
fn read_at(file: &File, at: u64, n: u64) -> io::Result<Bytes> {
    let mut buf = vec![0; usize::try_from(n).unwrap_or(usize::MAX)];
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], at + filled as u64) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file was truncated",
                ));
            }
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Bytes::from(buf))
}
