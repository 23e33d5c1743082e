//! `proxy_cache` and `fastcgi_cache` at request time: an entry looked up before the upstream is asked (its file
//! read on the blocking pool), and an answer the cache may keep read whole and written to
//! its file before it is sent. The file holds the key, the times, the upstream's status line
//! and headers as received, and the body without its framing; its name is the key's md5,
//! under the zone's `levels`, as nginx names its files (the bytes are ngxr's own).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use md5::{Digest as _, Md5};

use super::context::OwnedRequest;
use super::exchange::{Framing, ResponseHead};
use crate::eval::clock::now_secs;
use crate::eval::plan::{CacheRequest, CacheStatus, GatewayRequest, Lock, Touched, Validators};

/// The first line of every entry file.
const MAGIC: &[u8] = b"NGXR-CACHE 1\n";

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Served until then (seconds since the epoch).
    pub valid_sec: i64,
    pub key: Bytes,
    /// The md5 of the request headers the answer's `Vary` names, as they were.
    pub variant: [u8; 16],
    pub status: u16,
    pub reason: Bytes,
    pub headers: Vec<(Bytes, Bytes)>,
    pub body: Bytes,
}

impl Entry {
    /// The answer as the upstream gave it: its framing to the client follows the stored
    /// headers (a chunked answer is sent chunked again, as nginx sends it).
    pub fn head(&self) -> ResponseHead {
        let has = |name: &str| {
            self.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        };
        let framing = if has("content-length") {
            Framing::Length(self.body.len() as u64)
        } else if has("transfer-encoding") {
            Framing::Chunked
        } else {
            Framing::UntilClose
        };
        ResponseHead {
            status: self.status,
            reason: self.reason.clone(),
            headers: self.headers.clone(),
            framing,
            keepalive: false,
            starved: false,
            http09: false,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(format!("{} {}\n", self.valid_sec, self.key.len()).as_bytes());
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.variant);
        out.extend_from_slice(format!("{}", self.status).as_bytes());
        out.extend_from_slice(&self.reason);
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    fn decode(data: Bytes) -> Option<Entry> {
        let rest = data.strip_prefix(MAGIC)?;
        let line_end = rest.iter().position(|&b| b == b'\n')?;
        let line = std::str::from_utf8(&rest[..line_end]).ok()?;
        let (valid_sec, key_len) = line.split_once(' ')?;
        let (valid_sec, key_len): (i64, usize) = (valid_sec.parse().ok()?, key_len.parse().ok()?);
        let mut at = MAGIC.len() + line_end + 1;
        let key = data.slice(at..at.checked_add(key_len)?.min(data.len()));
        at += key_len;
        let variant: [u8; 16] = data.get(at..at + 16)?.try_into().ok()?;
        at += 16;
        let head_end = at + memchr::memmem::find(data.get(at..)?, b"\r\n\r\n")?;
        let mut lines = data[at..head_end].split(|&b| b == b'\n');
        let status_line = lines.next()?.strip_suffix(b"\r")?;
        let status = std::str::from_utf8(status_line.get(..3)?)
            .ok()?
            .parse()
            .ok()?;
        let reason = Bytes::copy_from_slice(&status_line[3..]);
        let mut headers = Vec::new();
        for line in lines {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            let value = line[colon + 1..]
                .strip_prefix(b" ")
                .unwrap_or(&line[colon + 1..]);
            headers.push((
                Bytes::copy_from_slice(&line[..colon]),
                Bytes::copy_from_slice(value),
            ));
        }
        Some(Entry {
            valid_sec,
            key,
            variant,
            status,
            reason,
            headers,
            body: data.slice(head_end + 4..),
        })
    }
}

/// What the cache has for a request.
#[derive(Debug)]
pub enum Found {
    /// An entry that answers: valid (`HIT`), or expired while another request updates it
    /// under `proxy_cache_use_stale updating` (`UPDATING`).
    Hit(Box<Entry>, CacheStatus),
    /// An error status kept for the key: the request ends with it (its `error_page`).
    Error(u16),
    /// `proxy_cache_background_update`: the expired entry answers (`STALE`) while a
    /// background subrequest updates it, with the mark this request took.
    Refresh(Box<Entry>, Updating),
    /// Ask the upstream; `store` when its answer may be kept. An expired entry comes along
    /// (`stale`), for `proxy_cache_use_stale`, with the mark that this request updates it;
    /// a missing one under `proxy_cache_lock`, with the lock this request holds (`lock`),
    /// or after `proxy_cache_lock_timeout` passed waiting for another's (`waited_out`).
    Ask {
        status: CacheStatus,
        store: bool,
        stale: Option<(Box<Entry>, Option<Updating>)>,
        lock: Option<Updating>,
        waited_out: bool,
    },
}

/// This request is updating its key's expired entry (nginx's `c->updating`): other requests
/// may be answered with the stale entry meanwhile. Over when dropped.
#[derive(Debug)]
pub struct Updating {
    zone: std::sync::Arc<crate::eval::plan::CacheZone>,
    hash: [u8; 16],
}

impl Drop for Updating {
    fn drop(&mut self) {
        self.zone.end_update(&self.hash);
    }
}

/// `ngx_http_upstream_cache`: bypassed, too rarely asked for, or looked up; a missing entry
/// under `proxy_cache_lock` is asked for by the request that takes the lock, the others wait
/// for it (`ngx_http_file_cache_lock`). When the key's entry varies on request headers this
/// request's do not match, its own representation is looked up under the secondary key,
/// the md5 of the key's and those headers (`ngx_http_file_cache_reopen`): `c.hash` becomes
/// that key, where the answer is then kept (see [`store`]).
pub async fn find(request: &OwnedRequest, c: &mut CacheRequest) -> Found {
    let mut reopen = None;
    let found = find_key(request, c, &mut reopen).await;
    match reopen {
        Some(secondary) => {
            c.hash = secondary;
            find_key(request, c, &mut None).await
        }
        None => found,
    }
}

/// [`find`] under `c.hash`; `reopen` is set to the secondary key when the entry there is
/// another representation.
async fn find_key(
    request: &OwnedRequest,
    c: &CacheRequest,
    reopen: &mut Option<[u8; 16]>,
) -> Found {
    if c.bypass {
        return ask(CacheStatus::Bypass, true);
    }
    // Whether an answer looked up and not found may be kept.
    let keeps = c.range_keeps(request.header("range"));
    let mut touched = c.zone.touch(&c.hash, c.min_uses);
    match touched {
        Touched::Error(status) => return Found::Error(status),
        Touched::Scarce => return ask(CacheStatus::Miss, false),
        Touched::Used | Touched::Inactive => {}
    }
    let Some(lock) = c.lock else {
        let found = look_up(request, c, touched, keeps, None, reopen).await;
        return found.unwrap_or_else(|_| ask(CacheStatus::Miss, keeps));
    };
    // The lock is taken (or found taken) before the file is read, as nginx decides from its
    // shared memory: requests come by it in the order they came.
    let mut deadline = None;
    loop {
        let taken = c.zone.lock(&c.hash, lock.age);
        let held = (taken == Lock::Taken).then(|| Updating {
            zone: c.zone.clone(),
            hash: c.hash,
        });
        let held = match look_up(request, c, touched, keeps, held, reopen).await {
            Ok(found) => return found,
            Err(held) => held,
        };
        if taken == Lock::Updating {
            return ask(CacheStatus::Miss, keeps);
        }
        if let Some(held) = held {
            return Found::Ask {
                status: CacheStatus::Miss,
                store: keeps,
                stale: None,
                lock: Some(held),
                waited_out: false,
            };
        }
        let deadline = *deadline.get_or_insert_with(|| Instant::now() + lock.timeout);
        if !wait_for_lock(c, deadline).await {
            return Found::Ask {
                status: CacheStatus::Miss,
                store: false,
                stale: None,
                lock: None,
                waited_out: true,
            };
        }
        // The lock is free: the entry is looked up again (the file is there now, or the
        // lock is this request's to take).
        touched = Touched::Used;
    }
}

/// `ngx_http_file_cache_lock_wait`: checks every 500 ms whether the lock is free; `false`
/// once `deadline` (`proxy_cache_lock_timeout`) has passed.
async fn wait_for_lock(c: &CacheRequest, deadline: Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        tokio::time::sleep(left.min(LOCK_POLL)).await;
        if Instant::now() >= deadline {
            return false;
        }
        if !c.zone.locked(&c.hash) {
            return true;
        }
    }
}

/// How often a request waiting for a cache lock looks at it again (nginx's timer).
const LOCK_POLL: Duration = Duration::from_millis(500);

/// The upstream is asked, without an entry.
fn ask(status: CacheStatus, store: bool) -> Found {
    Found::Ask {
        status,
        store,
        stale: None,
        lock: None,
        waited_out: false,
    }
}

/// The key's entry as its file has it; `Err` when there is none to answer with (missing,
/// or unused for `inactive`), with `held`, the cache lock this request took, given back.
/// Another representation than the request's is a miss, with `reopen` set to the key of
/// the request's (unless this is that key already).
/// The lock marks the request as updating an expired entry, and is let go for any other
/// answer.
async fn look_up(
    request: &OwnedRequest,
    c: &CacheRequest,
    touched: Touched,
    keeps: bool,
    held: Option<Updating>,
    reopen: &mut Option<[u8; 16]>,
) -> Result<Found, Option<Updating>> {
    let path = c.zone.file(&c.hash);
    if touched == Touched::Inactive {
        // What nginx's cache manager would have removed by now.
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
        return Err(held);
    }
    let read = tokio::task::spawn_blocking(move || std::fs::read(path)).await;
    let entry = read
        .ok()
        .and_then(Result::ok)
        .and_then(|d| Entry::decode(d.into()));
    let Some(entry) = entry else {
        return Err(held);
    };
    let vary = vary_of(&entry.headers, c);
    if entry.key != c.key {
        return Ok(ask(CacheStatus::Miss, keeps));
    }
    let wanted = variant(request, c, vary);
    if wanted != entry.variant {
        *reopen = (wanted != c.hash).then_some(wanted);
        return Ok(ask(CacheStatus::Miss, keeps));
    }
    if entry.valid_sec < now_secs() {
        let updating = held.or_else(|| {
            c.zone.begin_update(&c.hash).then(|| Updating {
                zone: c.zone.clone(),
                hash: c.hash,
            })
        });
        // A background subrequest (a mirror's, or the one updating the entry) is no request
        // to answer with the stale entry.
        let background = request.subrequest.is_some();
        let stale_updating = c.serves_stale_updating(entry.valid_sec, &entry.headers);
        match updating {
            None if stale_updating && !background => {
                return Ok(Found::Hit(Box::new(entry), CacheStatus::Updating));
            }
            Some(updating) if stale_updating && c.background_update && !background => {
                return Ok(Found::Refresh(Box::new(entry), updating));
            }
            _ => {}
        }
        return Ok(Found::Ask {
            status: CacheStatus::Expired,
            store: keeps,
            stale: Some((Box::new(entry), updating)),
            lock: None,
            waited_out: false,
        });
    }
    Ok(Found::Hit(Box::new(entry), CacheStatus::Hit))
}

/// The client's headers a request the cache may keep the answer of does not pass on
/// (`ngx_http_proxy_cache_headers` sets them empty, `ngx_http_fastcgi_cache_headers` their
/// `HTTP_*` params), unless `proxy_set_header` (or a `fastcgi_param`) sets them: it asks
/// for the whole answer. Only the client's, after the configured ones, are dropped.
/// `headers` are the upstream request's, the client's from `from` on.
pub fn whole_answer(
    headers: &mut Vec<(Bytes, Bytes)>,
    from: usize,
    gateway: Option<&mut GatewayRequest>,
) {
    const UNSENT: [&[u8]; 6] = [
        b"if-modified-since",
        b"if-unmodified-since",
        b"if-none-match",
        b"if-match",
        b"range",
        b"if-range",
    ];
    /// Whether a param or header name is a header's.
    type Names = fn(&[u8], &[u8]) -> bool;
    let (list, from, is): (_, _, Names) = match gateway {
        Some(f) => (&mut f.params, f.headers_at, names_header),
        None => (headers, from, <[u8]>::eq_ignore_ascii_case),
    };
    let mut i = 0;
    list.retain(|(name, _)| {
        i += 1;
        i <= from || !UNSENT.iter().any(|u| is(name, u))
    });
}

/// Whether a gateway's param `param` is header `header`'s (`HTTP_IF_NONE_MATCH`, `if-none-match`).
fn names_header(param: &[u8], header: &[u8]) -> bool {
    let Some(name) = param.strip_prefix(b"HTTP_") else {
        return false;
    };
    name.len() == header.len()
        && name.iter().zip(header).all(|(&n, &h)| match h {
            b'-' => n == b'_',
            h => n.eq_ignore_ascii_case(&h),
        })
}

/// `*_cache_revalidate`: the request for an expired `entry` carries its validators
/// ([`validators_of`](crate::eval::plan::validators_of)) where nginx's module puts them,
/// after the configured headers or params, unless those name them; to a FastCGI
/// application as `HTTP_*` params.
pub fn validate_with(
    headers: &mut Vec<(Bytes, Bytes)>,
    from: usize,
    gateway: Option<&mut GatewayRequest>,
    entry: &Entry,
) {
    let validators = crate::eval::plan::validators_of(entry.status, &entry.headers);
    if let Some(f) = gateway {
        let mut at = f.headers_at;
        for (name, value) in validators {
            let (param, own): (&'static [u8], _) = match name {
                b"If-Modified-Since" => (b"HTTP_IF_MODIFIED_SINCE", f.own_validators[0]),
                _ => (b"HTTP_IF_NONE_MATCH", f.own_validators[1]),
            };
            if !own {
                f.params.insert(at, (Bytes::from_static(param), value));
                at += 1;
            }
        }
        f.headers_at = at;
        return;
    }
    let mut at = from;
    for (name, value) in validators {
        let set = headers[..from]
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name));
        if !set {
            headers.insert(at, (Bytes::from_static(name), value));
            at += 1;
        }
    }
}

/// A 304 answered the request that revalidated `entry`: it is kept until the time the
/// cache's rules give (rewritten in place, as nginx rewrites its file's header), or left
/// expired when they give none. Either way it answers the request.
pub async fn revalidated(c: &CacheRequest, mut entry: Entry, not_modified: &ResponseHead) -> Entry {
    if let Some(valid_sec) = c.revalidated(&not_modified.headers, entry.status, &entry.headers) {
        entry.valid_sec = valid_sec;
        store(c, entry.clone()).await;
    }
    entry
}

/// Whether the upstream sent `Accept-Ranges`: the range filter may then cut an answer the
/// cache keeps or gives (`ngx_http_upstream_copy_allow_ranges`, whatever its value).
pub fn accepts_ranges(headers: &[(Bytes, Bytes)]) -> bool {
    headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(b"accept-ranges"))
}

/// The request's validators, for the not-modified filter.
pub fn validators(request: &OwnedRequest) -> Validators<'_> {
    Validators {
        if_unmodified_since: request.header("if-unmodified-since"),
        if_match: request.header("if-match"),
        if_modified_since: request.header("if-modified-since"),
        if_none_match: request.header("if-none-match"),
    }
}

/// The 304 nginx's not-modified filter makes of `head`: no type, length, ranges or encoding,
/// and no body.
pub fn not_modified(head: &ResponseHead) -> ResponseHead {
    const CLEARED: [&[u8]; 4] = [
        b"content-type",
        b"content-length",
        b"accept-ranges",
        b"content-encoding",
    ];
    let headers = head
        .headers
        .iter()
        .filter(|(n, _)| !CLEARED.iter().any(|c| n.eq_ignore_ascii_case(c)));
    ResponseHead {
        status: 304,
        reason: Bytes::from_static(b" Not Modified"),
        headers: headers.cloned().collect(),
        framing: Framing::None,
        keepalive: false,
        starved: false,
        http09: false,
    }
}

/// The answer's `Vary`, unless `proxy_ignore_headers` names it: the last of them, as nginx
/// 1.22 keeps each one it reads in turn (`ngx_http_upstream_process_vary`).
fn vary_of<'h>(headers: &'h [(Bytes, Bytes)], c: &CacheRequest) -> Option<&'h [u8]> {
    if c.ignore.vary {
        return None;
    }
    let (_, v) = headers
        .iter()
        .rfind(|(n, _)| n.eq_ignore_ascii_case(b"vary"))?;
    Some(v)
}

/// The md5 of the key's md5 and the request headers `vary` names
/// (`ngx_http_file_cache_vary`): an entry's representation, and its secondary key.
fn variant(request: &OwnedRequest, c: &CacheRequest, vary: Option<&[u8]>) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(main_key(c));
    for name in words(vary.unwrap_or_default()) {
        md5.update(name.to_ascii_lowercase());
        md5.update(b":");
        // Spaces and empty values do not count in the headers whose values are lists of
        // tokens (`ngx_http_file_cache_vary_header`).
        let normalize = [
            &b"accept-charset"[..],
            b"accept-encoding",
            b"accept-language",
        ]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n));
        let values = request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut multiple = false;
        for (_, v) in values {
            let parts: Vec<&[u8]> = match normalize {
                true => words(v).collect(),
                false => vec![&v[..]],
            };
            for part in parts {
                if multiple {
                    md5.update(b",");
                }
                md5.update(part);
                multiple = true;
            }
        }
        md5.update(b"\r\n");
    }
    md5.finalize().into()
}

/// The words of a list, as nginx's cache reads `Vary` and the headers it names: separated
/// by spaces and commas.
fn words(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| b == b' ' || b == b',')
        .filter(|w| !w.is_empty())
}

/// The md5 of the key: its entry's name unless a secondary key took over.
fn main_key(c: &CacheRequest) -> [u8; 16] {
    Md5::digest(&c.key).into()
}

/// The entry to store for `head` and its `body`, if the cache may keep it until
/// `valid_sec`.
pub fn entry(
    request: &OwnedRequest,
    c: &CacheRequest,
    head: &ResponseHead,
    body: Bytes,
    valid_sec: i64,
) -> Entry {
    Entry {
        valid_sec,
        key: c.key.clone(),
        variant: variant(request, c, vary_of(&head.headers, c)),
        status: head.status,
        reason: head.reason.clone(),
        headers: head
            .headers
            .iter()
            .map(|(n, v)| (Bytes::copy_from_slice(n), Bytes::copy_from_slice(v)))
            .collect(),
        body,
    }
}

/// Writes `entry` to its file (through a temporary file in the zone's directory, renamed
/// into place), on the blocking pool; an entry that cannot be written is not kept. The
/// answer goes out once it is in place, so the next request finds it, as with nginx.
pub async fn store(c: &CacheRequest, entry: Entry) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // Under a secondary key only the representation it names; any other goes to the main
    // key (`ngx_http_file_cache_update_variant`).
    let hash = match entry.variant == c.hash {
        true => c.hash,
        false => main_key(c),
    };
    let path = c.zone.file(&hash);
    let temp = c.zone.path.join(format!(
        ".ngxr-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    c.zone.set_error(&hash, None);
    let written = tokio::task::spawn_blocking(move || {
        if write(&temp, &path, &entry.encode()).is_err() {
            let _ = std::fs::remove_file(&temp);
        }
    });
    let _ = written.await;
}

fn write(temp: &PathBuf, path: &PathBuf, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = temp.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::File::create(temp)?;
    file.write_all(data)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::rename(temp, path)
}

/// Reads `body` whole (the answer the cache keeps): the bytes, or those that came before
/// the error that cut it.
pub async fn read_all(
    body: &mut super::upstream_body::UpstreamBody,
) -> Result<Bytes, (Bytes, super::error::ProxyError)> {
    let mut data = BytesMut::new();
    while let Some(piece) = std::future::poll_fn(|cx| body.poll_data(cx)).await {
        match piece {
            Ok(piece) => data.extend_from_slice(&piece),
            Err(e) => return Err((data.freeze(), e)),
        }
    }
    Ok(data.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_as_written() {
        let entry = Entry {
            valid_sec: 1_700_000_000,
            key: Bytes::from_static(b"http://127.0.0.1:8081/t"),
            variant: [7; 16],
            status: 200,
            reason: Bytes::from_static(b" OK"),
            headers: vec![
                (
                    Bytes::from_static(b"Content-Length"),
                    Bytes::from_static(b"5"),
                ),
                (Bytes::from_static(b"X-Empty"), Bytes::new()),
            ],
            body: Bytes::from_static(b"he\r\n\r\nllo"),
        };
        let back = Entry::decode(entry.encode().into());
        assert_eq!(back.as_ref(), Some(&entry));
        let head = back.map(|e| e.head());
        assert_eq!(head.map(|h| h.framing), Some(Framing::Length(9)));
        assert_eq!(Entry::decode(Bytes::from_static(b"NGXR-CACHE 1\nx")), None);
        assert_eq!(Entry::decode(Bytes::from_static(b"other")), None);
    }
}
