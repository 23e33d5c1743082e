//! nginx's gzip filter (`ngx_http_gzip_filter_module`) for every response ngxr sends with a
//! body: proxied answers, `return` texts, nginx's own pages.
//!
//! Two halves, each hooked in with a line or two where a response is produced:
//! [`header_filter`] decides from the status and head (the request's half was decided at
//! routing, [`GzipClient`]) and rewrites the head as nginx does; [`Gzipped`] then turns the
//! body, whatever produces it, into gzip chunk by chunk.
//!
//! Flushing: nginx's filter hands zlib's output on when one of its `gzip_buffers` fills or
//! when the body below flushes (which an unbuffered upstream does after every read). ngxr
//! streams upstream bodies as with `proxy_buffering off`, so it does the same: output goes
//! out when 4 KiB (nginx's buffer size) are ready, and everything read so far is
//! sync-flushed whenever the source has nothing more at hand, so a stream of events reaches
//! the client as it comes. Decompressed, the body is the same bytes.

use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};

use super::context::OwnedRequest;
use super::response::Front;
use crate::eval::plan::{Gzip, GzipClient, Proxied};

/// nginx's gzip header: deflate, no name, no time, Unix.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];

/// How much output is gathered before it is passed on (one of nginx's default buffers).
const CHUNK: usize = 4096;

/// `ngx_http_gzip_header_filter` on a response about to be sent (a HEAD one included: nginx
/// rewrites its head too). `front` holds the headers
/// nginx writes first; `headers` are the rest in order (an upstream's, or the answer's own)
/// and `added` the `add_header` lines after them. `upstream` says the `Content-Type` came from
/// an upstream, which nginx reads without its `; charset=`. Returns the body's encoder when
/// the response is to be compressed; the head is then already rewritten: `Content-Encoding:
/// gzip` last, no `Content-Length` (chunked for HTTP/1.1, otherwise the connection closes),
/// no `Accept-Ranges`, a weak `ETag`. `Vary: Accept-Encoding` (with `gzip_vary on`) comes right
/// after `Connection` whether or not this client gets gzip.
pub fn header_filter(
    gzip: Option<&Gzip>,
    status: u16,
    request: &OwnedRequest,
    front: &mut Front,
    headers: &mut Vec<(Bytes, Bytes)>,
    added: &mut Vec<(Bytes, Bytes)>,
    upstream: bool,
) -> Option<Gzipped> {
    let Gzip { settings, client } = gzip.filter(|g| g.settings.filter)?;
    let encoded = last(headers, "content-encoding").is_some_and(|v| !v.is_empty());
    if !matches!(status, 200 | 403 | 404)
        || encoded
        || front
            .content_length
            .is_some_and(|n| n < settings.min_length)
        || !settings
            .types
            .matches(front.content_type.as_deref(), upstream)
    {
        return None;
    }
    if settings.vary {
        add_vary(headers);
    }
    if !client_ok(*client, headers, front) {
        return None;
    }
    added.push(header("Content-Encoding", "gzip"));
    front.content_length = None;
    if let Some(i) = last_index(headers, "accept-ranges") {
        headers.remove(i);
    }
    weaken_etag(headers);
    // nginx marks a HEAD answer header-only after this filter ran: the head says gzip, but
    // there is no body to compress or to frame.
    if request.method == "HEAD" {
        return None;
    }
    unframe(request, front);
    Some(Gzipped::new(settings.level))
}

/// A body a filter changes loses its length: it goes chunked to an HTTP/1.1 client (unless
/// `chunked_transfer_encoding off`), otherwise the connection closes after it.
pub fn unframe(request: &OwnedRequest, front: &mut Front) {
    if request.version == "HTTP/1.1" && !front.chunked_off {
        front.chunked = true;
    } else {
        front.connection = "close";
    }
}

/// `ngx_http_gzip_ok`'s verdict for this response: the request's, or, for a request through
/// a proxy, `gzip_proxied`'s flags against the response's headers.
pub fn client_ok(client: GzipClient, headers: &[(Bytes, Bytes)], front: &Front) -> bool {
    match client {
        GzipClient::Declined => false,
        GzipClient::Accepted => true,
        GzipClient::ByResponse(flags) => proxied_allows(flags, headers, front),
    }
}

/// nginx's `r->gzip_vary` under `gzip_vary on`: one `Vary: Accept-Encoding`, right after
/// `Connection`, however many modules asked for it (the filter, `gzip_static`).
pub fn add_vary(headers: &mut Vec<(Bytes, Bytes)>) {
    let vary = header("Vary", "Accept-Encoding");
    if headers.first() != Some(&vary) {
        headers.insert(0, vary);
    }
}

fn header(name: &'static str, value: &'static str) -> (Bytes, Bytes) {
    (
        Bytes::from_static(name.as_bytes()),
        Bytes::from_static(value.as_bytes()),
    )
}

/// The line nginx's `headers_out` points at for `name`: the last one copied.
fn last_index(headers: &[(Bytes, Bytes)], name: &str) -> Option<usize> {
    headers
        .iter()
        .rposition(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
}

fn last<'h>(headers: &'h [(Bytes, Bytes)], name: &str) -> Option<&'h Bytes> {
    last_index(headers, name).map(|i| &headers[i].1)
}

/// `gzip_proxied`'s response flags, in `ngx_http_gzip_ok`'s order: an `Expires` decides
/// alone (with `expired`, compressed only when already past), then `Cache-Control` (one of
/// the listed directives must be there), then `Last-Modified` and `ETag` may forbid it.
pub fn proxied_allows(flags: Proxied, headers: &[(Bytes, Bytes)], front: &Front) -> bool {
    if let Some(expires) = last(headers, "expires") {
        if !flags.has(Proxied::EXPIRED) {
            return false;
        }
        let Some(expires) = http_time(expires) else {
            return false;
        };
        let date = match last(headers, "date") {
            Some(d) => match http_time(d) {
                Some(d) => d,
                None => return false,
            },
            None => crate::eval::clock::now_secs(),
        };
        return expires < date;
    }
    let cache_control: Vec<&Bytes> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"cache-control"))
        .map(|(_, v)| v)
        .collect();
    if !cache_control.is_empty() {
        let listed = |flag, token: &str| {
            flags.has(flag) && cache_control.iter().any(|v| lists(v, token.as_bytes()))
        };
        return listed(Proxied::NO_CACHE, "no-cache")
            || listed(Proxied::NO_STORE, "no-store")
            || listed(Proxied::PRIVATE, "private");
    }
    let last_modified = front.last_modified.is_some() || last(headers, "last-modified").is_some();
    !((flags.has(Proxied::NO_LAST_MODIFIED) && last_modified)
        || (flags.has(Proxied::NO_ETAG) && last(headers, "etag").is_some()))
}

/// nginx's `ngx_parse_http_time` (`NGX_ERROR`, -1, is no time).
fn http_time(value: &[u8]) -> Option<i64> {
    crate::eval::plan::parse_http_time(value).filter(|&t| t != -1)
}

/// `ngx_http_parse_multi_header_lines` without a value: `token` starts an item of the
/// `,`/`;`-separated list, followed only by spaces before the next `,` or the end.
fn lists(value: &[u8], token: &[u8]) -> bool {
    let mut rest = value;
    while !rest.is_empty() {
        if rest.len() >= token.len() && rest[..token.len()].eq_ignore_ascii_case(token) {
            let after = &rest[token.len()..];
            let after = &after[after.iter().take_while(|c| **c == b' ').count()..];
            if after.first().is_none_or(|c| *c == b',') {
                return true;
            }
        }
        let next = rest
            .iter()
            .position(|c| matches!(c, b',' | b';'))
            .map_or(rest.len(), |i| i + 1);
        rest = &rest[next..];
        rest = &rest[rest.iter().take_while(|c| **c == b' ').count()..];
    }
    false
}

/// `ngx_http_weak_etag` on the `ETag` nginx points at: `"x"` becomes `W/"x"`, a weak one
/// stays, anything else is dropped.
pub fn weaken_etag(headers: &mut Vec<(Bytes, Bytes)>) {
    let Some(i) = last_index(headers, "etag") else {
        return;
    };
    let value = &headers[i].1;
    if value.len() > 2 && value.starts_with(b"W/") {
        return;
    }
    if !value.starts_with(b"\"") {
        headers.remove(i);
        return;
    }
    let mut weak = b"W/".to_vec();
    weak.extend_from_slice(value);
    headers[i].1 = Bytes::from(weak);
}

/// A body being gzipped: raw deflate between nginx's header and the CRC-32/length trailer.
#[derive(Debug)]
pub struct Gzipped {
    deflate: Compress,
    crc: Crc,
    out: Vec<u8>,
    /// Input went in since the last flush.
    unflushed: bool,
    /// The trailer is written.
    finished: bool,
}

impl Gzipped {
    fn new(level: u32) -> Gzipped {
        Gzipped {
            deflate: Compress::new(Compression::new(level), false),
            crc: Crc::new(),
            out: HEADER.to_vec(),
            unflushed: false,
            finished: false,
        }
    }

    /// The next chunk of gzip, pulling the uncompressed body from `source` (a body's own
    /// poll): Pending only when the source is and nothing is waiting to go out.
    pub fn poll_next<E>(
        &mut self,
        cx: &mut Context<'_>,
        mut source: impl FnMut(&mut Context<'_>) -> Poll<Option<Result<Bytes, E>>>,
    ) -> Poll<Option<Result<Bytes, E>>> {
        while !self.finished && self.out.len() < CHUNK {
            match source(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    self.crc.update(&data);
                    self.deflate(&data, FlushCompress::None);
                    self.unflushed = true;
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => self.finish(),
                Poll::Pending => {
                    if self.unflushed {
                        self.deflate(&[], FlushCompress::Sync);
                        self.unflushed = false;
                    }
                    if self.out.is_empty() {
                        return Poll::Pending;
                    }
                    break;
                }
            }
        }
        if self.out.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(Ok(Bytes::from(std::mem::take(&mut self.out)))))
        }
    }

    /// `data` as one whole gzip member (nginx's header, deflate, trailer), as nginx's
    /// `ngx_http_log_gzip` writes each buffer of an `access_log ... gzip`.
    pub fn member(level: u32, data: &[u8]) -> Vec<u8> {
        let mut gzipped = Gzipped::new(level);
        gzipped.crc.update(data);
        gzipped.deflate(data, FlushCompress::None);
        gzipped.finish();
        gzipped.out
    }

    fn finish(&mut self) {
        self.deflate(&[], FlushCompress::Finish);
        self.out.extend_from_slice(&self.crc.sum().to_le_bytes());
        self.out.extend_from_slice(&self.crc.amount().to_le_bytes());
        self.finished = true;
    }

    /// Runs deflate over all of `input` and, for a flush, until zlib has nothing more to give.
    fn deflate(&mut self, mut input: &[u8], flush: FlushCompress) {
        loop {
            if self.out.capacity() - self.out.len() < 64 {
                self.out.reserve(CHUNK);
            }
            let before = self.deflate.total_in();
            let status = self.deflate.compress_vec(input, &mut self.out, flush);
            let consumed = usize::try_from(self.deflate.total_in() - before).unwrap_or(0);
            input = input.get(consumed..).unwrap_or_default();
            let room_left = self.out.len() < self.out.capacity();
            match status {
                Ok(Status::Ok) if !input.is_empty() || !room_left => {}
                Ok(Status::Ok) if flush == FlushCompress::Finish => {}
                // Done: all input taken and output not cut short; or the stream ended; or
                // zlib can make no progress (nothing to flush).
                _ => return,
            }
        }
    }

    /// Bytes into and out of deflate, once the body is complete (`$gzip_ratio`).
    pub fn counts(&self) -> Option<(u64, u64)> {
        self.finished
            .then(|| (self.deflate.total_in(), self.deflate.total_out()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn etags_weaken_as_ngx_http_weak_etag() {
        let weak = |v: &'static str| {
            let mut h = vec![(
                Bytes::from_static(b"ETag"),
                Bytes::from_static(v.as_bytes()),
            )];
            weaken_etag(&mut h);
            h.first()
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(weak("\"v1\"").as_deref(), Some("W/\"v1\""));
        assert_eq!(weak("W/\"v1\"").as_deref(), Some("W/\"v1\""));
        assert_eq!(weak("v1"), None);
        assert_eq!(weak("W/"), None);
    }

    fn h(pairs: &[(&'static str, &'static str)]) -> Vec<(Bytes, Bytes)> {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    Bytes::from_static(n.as_bytes()),
                    Bytes::from_static(v.as_bytes()),
                )
            })
            .collect()
    }

    #[test]
    fn proxied_flags_read_the_response() {
        let f = Front::default();
        let named = |n| Proxied::named(n).expect("flag");
        let expired = named("expired");
        let past = h(&[("Expires", "Thu, 01 Jan 1970 00:00:01 GMT")]);
        let future = h(&[("Expires", "Fri, 01 Jan 2100 00:00:00 GMT")]);
        assert!(proxied_allows(expired, &past, &f));
        assert!(!proxied_allows(expired, &future, &f));
        assert!(
            !proxied_allows(named("any"), &past, &f),
            "any is decided earlier"
        );
        assert!(!proxied_allows(expired, &h(&[("Expires", "0")]), &f));
        // No Expires, no Cache-Control: only the Last-Modified/ETag flags can refuse.
        assert!(proxied_allows(expired, &[], &f));
        let cc = h(&[("Cache-Control", "max-age=0, no-cache")]);
        assert!(proxied_allows(named("no-cache"), &cc, &f));
        assert!(!proxied_allows(named("no-store"), &cc, &f));
        assert!(!proxied_allows(
            named("no-cache"),
            &h(&[("Cache-Control", "no-cache=x")]),
            &f
        ));
        assert!(proxied_allows(
            named("private"),
            &h(&[("Cache-Control", "public"), ("cache-control", "private")]),
            &f
        ));
        let lm = h(&[("Last-Modified", "Thu, 01 Jan 1970 00:00:01 GMT")]);
        assert!(!proxied_allows(named("no_last_modified"), &lm, &f));
        assert!(proxied_allows(named("no_etag"), &lm, &f));
        assert!(!proxied_allows(
            named("no_etag"),
            &h(&[("ETag", "\"a\"")]),
            &f
        ));
    }

    /// Drains `chunks` through the encoder, with a Pending between chunks.
    fn gzip(chunks: &[&'static [u8]], level: u32) -> (Vec<Vec<u8>>, Gzipped) {
        let mut g = Gzipped::new(level);
        let mut queue: Vec<Poll<Option<Result<Bytes, ()>>>> = Vec::new();
        for c in chunks {
            queue.push(Poll::Ready(Some(Ok(Bytes::from_static(c)))));
            queue.push(Poll::Pending);
        }
        queue.push(Poll::Ready(None));
        queue.reverse();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut out = Vec::new();
        loop {
            match g.poll_next(&mut cx, |_| queue.pop().unwrap_or(Poll::Ready(None))) {
                Poll::Ready(Some(Ok(b))) => out.push(b.to_vec()),
                Poll::Ready(Some(Err(()))) => panic!("source error"),
                Poll::Ready(None) => break,
                Poll::Pending => {}
            }
        }
        (out, g)
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut plain)
            .expect("valid gzip");
        plain
    }

    #[test]
    fn each_chunk_is_flushed_when_the_source_waits() {
        let (out, g) = gzip(&[b"data: one\n\n", b"data: two\n\n"], 1);
        // Each event can be decompressed as soon as it arrives.
        assert_eq!(gunzip_prefix(&out[0]), b"data: one\n\n");
        assert_eq!(gunzip(&out.concat()), b"data: one\n\ndata: two\n\n");
        assert_eq!(g.counts().map(|c| c.0), Some(22));
    }

    fn gunzip_prefix(data: &[u8]) -> Vec<u8> {
        let mut plain = vec![0; 1024];
        let mut d = flate2::read::GzDecoder::new(data);
        let n = d.read(&mut plain).expect("valid prefix");
        plain.truncate(n);
        plain
    }

    #[test]
    fn members_follow_each_other_as_zcat_reads_them() {
        let mut file = Gzipped::member(1, b"one\n");
        file.extend(Gzipped::member(9, b""));
        file.extend(Gzipped::member(9, &b"two\n".repeat(5000)));
        assert_eq!(&file[..10], &HEADER);
        let mut lines = Vec::new();
        flate2::read::MultiGzDecoder::new(&file[..])
            .read_to_end(&mut lines)
            .unwrap();
        assert_eq!(lines, [&b"one\n"[..], &b"two\n".repeat(5000)].concat());
    }

    #[test]
    fn empty_and_large_bodies_round_trip() {
        let (out, _) = gzip(&[], 9);
        assert_eq!(gunzip(&out.concat()), b"");
        let big: &'static [u8] = Box::leak(
            (0..200_000u32)
                .flat_map(|i| (i % 251).to_le_bytes())
                .collect::<Vec<u8>>()
                .into_boxed_slice(),
        );
        let (out, g) = gzip(&[big, b"tail"], 6);
        let mut whole = big.to_vec();
        whole.extend_from_slice(b"tail");
        assert_eq!(gunzip(&out.concat()), whole);
        let (zin, zout) = g.counts().expect("finished");
        assert_eq!(zin, whole.len() as u64);
        assert_eq!(zout as usize + 18, out.concat().len());
    }
}
