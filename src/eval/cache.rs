//! The file cache (`ngx_http_file_cache`, as the proxy and FastCGI modules use it): zones
//! built once at load from `proxy_cache_path` and `fastcgi_cache_path`, a location's
//! `proxy_cache*` or `fastcgi_cache*` settings compiled, the
//! request's key and predicates evaluated when routing ends ([`CacheRequest`]), and nginx's
//! rules on what an upstream answer lets the cache keep and for how long ([`validity`]),
//! which the runtime applies when the answer comes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use md5::{Digest as _, Md5};

use super::conditional::{Validators, Validity};
use super::plan::{IgnoreHeaders, NextUpstream, Outcome, RequestInfo};
use super::request::Req;
use super::site::Inner;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::cache::{Cache, CachePath, Module, Valid, ZoneName};
use crate::config::content::IfModifiedSince;

/// One `proxy_cache_path` zone, shared by every worker thread: where its entries live and,
/// in memory, how often and how lately each key was asked for (`proxy_cache_min_uses`,
/// `inactive=`). Entries themselves are files, read when asked for, so they outlive a
/// restart as nginx's do.
#[derive(Debug)]
pub struct CacheZone {
    /// The module whose `*_cache` may name it.
    module: Module,
    pub name: String,
    pub path: PathBuf,
    pub levels: Vec<usize>,
    pub inactive: Duration,
    nodes: Mutex<HashMap<[u8; 16], Node>>,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    uses: u64,
    last_use: Instant,
    /// An error status `proxy_intercept_errors` took from the upstream, kept in memory
    /// only (nginx's `fcn->error`) until this time: it answers the key meanwhile.
    error: Option<(u16, i64)>,
    /// A request that found the entry expired (or missing, under `proxy_cache_lock`) is
    /// asking the upstream for a new one.
    updating: bool,
    /// When the update is a `proxy_cache_lock` on a missing entry: until when the request
    /// holds it (`proxy_cache_lock_age`); another may take it after.
    lock_time: Option<Instant>,
}

/// What [`CacheZone::lock`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// The lock is the caller's.
    Taken,
    /// Another request holds it: a missing entry is waited for.
    Held,
    /// Another request is updating an expired entry (no lock): nothing to wait for.
    Updating,
}

/// What [`CacheZone::touch`] found of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touched {
    /// Asked for fewer than `proxy_cache_min_uses` times: not looked up, not stored
    /// (nginx's `NGX_HTTP_CACHE_SCARCE`).
    Scarce,
    /// Look the entry up.
    Used,
    /// Not used for `inactive`: nginx's manager would have removed it; it is stale.
    Inactive,
    /// A cached error status: the request is answered with it (a HIT).
    Error(u16),
}

impl CacheZone {
    fn new(path: &CachePath) -> CacheZone {
        CacheZone {
            module: path.module,
            name: path.name.clone(),
            path: path.path.clone(),
            levels: path.levels.clone(),
            inactive: path.inactive,
            nodes: Mutex::default(),
        }
    }

    /// The file of the entry whose key hashes to `hash`: the md5 in hex, under one
    /// directory per level named by digits taken from its end (`levels=1:2`:
    /// `c/29/b7f5…029c`), as `ngx_create_hashed_filename` names it.
    pub fn file(&self, hash: &[u8; 16]) -> PathBuf {
        let name = hex(hash);
        let mut path = self.path.clone();
        let mut end = name.len();
        for &n in &self.levels {
            path.push(&name[end - n..end]);
            end -= n;
        }
        path.push(name);
        path
    }

    /// Counts a request for the key hashing to `hash`.
    pub fn touch(&self, hash: &[u8; 16], min_uses: u64) -> Touched {
        let now = Instant::now();
        let Ok(mut nodes) = self.nodes.lock() else {
            return Touched::Used;
        };
        let node = nodes.entry(*hash).or_insert(Node {
            uses: 0,
            last_use: now,
            error: None,
            updating: false,
            lock_time: None,
        });
        let inactive = now.duration_since(node.last_use) > self.inactive;
        if inactive {
            node.uses = 0;
            node.error = None;
        }
        node.uses += 1;
        node.last_use = now;
        match node.error {
            Some((status, until)) if until >= super::clock::now_secs() => {
                return Touched::Error(status);
            }
            // `renew`: the key starts over.
            Some(_) => {
                *node = Node {
                    uses: 1,
                    last_use: now,
                    error: None,
                    updating: false,
                    lock_time: None,
                }
            }
            None => {}
        }
        if node.uses < min_uses {
            Touched::Scarce
        } else if inactive {
            Touched::Inactive
        } else {
            Touched::Used
        }
    }
}

impl CacheZone {
    /// Keeps `status` as the key's answer until `until` (an error `proxy_intercept_errors`
    /// took, `ngx_http_upstream_intercept_errors`), or forgets it (`None`: an answer was
    /// stored).
    /// Marks the key as being updated by the caller: `false` when another request already
    /// is (nginx's `node->updating`).
    pub fn begin_update(&self, hash: &[u8; 16]) -> bool {
        let Ok(mut nodes) = self.nodes.lock() else {
            return true;
        };
        match nodes.get_mut(hash) {
            Some(node) if node.updating => false,
            Some(node) => {
                node.updating = true;
                true
            }
            None => true,
        }
    }

    /// `ngx_http_file_cache_lock`: takes the key's lock for `age` unless another request
    /// holds it and its age has not passed, or is updating the key's expired entry.
    pub fn lock(&self, hash: &[u8; 16], age: Duration) -> Lock {
        let now = Instant::now();
        let Ok(mut nodes) = self.nodes.lock() else {
            return Lock::Taken;
        };
        match nodes.get_mut(hash) {
            Some(node) if node.updating && node.lock_time.is_none() => Lock::Updating,
            Some(node) if node.updating && node.lock_time.is_some_and(|t| t > now) => Lock::Held,
            Some(node) => {
                node.updating = true;
                node.lock_time = Some(now + age);
                Lock::Taken
            }
            None => Lock::Taken,
        }
    }

    /// Whether another request holds the key's lock still (`ngx_http_file_cache_lock_wait`).
    pub fn locked(&self, hash: &[u8; 16]) -> bool {
        let Ok(nodes) = self.nodes.lock() else {
            return false;
        };
        nodes
            .get(hash)
            .is_some_and(|n| n.updating && n.lock_time.is_some_and(|t| t > Instant::now()))
    }

    /// The update [`begin_update`](Self::begin_update) began is over.
    pub fn end_update(&self, hash: &[u8; 16]) {
        if let Ok(mut nodes) = self.nodes.lock()
            && let Some(node) = nodes.get_mut(hash)
        {
            node.updating = false;
            node.lock_time = None;
        }
    }

    pub fn set_error(&self, hash: &[u8; 16], error: Option<(u16, i64)>) {
        if let Ok(mut nodes) = self.nodes.lock()
            && let Some(node) = nodes.get_mut(hash)
        {
            node.error = error;
        }
    }
}

/// The md5 of a key in lowercase hex, as nginx names cache files.
pub fn hex(hash: &[u8; 16]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// The zones of `proxy_cache_path` and `fastcgi_cache_path`, by name.
#[derive(Debug, Default, Clone)]
pub struct Zones(Arc<[Arc<CacheZone>]>);

impl Zones {
    pub fn compile(paths: &[CachePath]) -> Zones {
        Zones(paths.iter().map(|p| Arc::new(CacheZone::new(p))).collect())
    }

    /// The zone named `name`, whichever module declared it.
    fn named(&self, name: &[u8]) -> Option<&Arc<CacheZone>> {
        self.0.iter().find(|z| z.name.as_bytes() == name)
    }
}

/// Which zone `proxy_cache` names.
#[derive(Debug)]
enum ZoneRef {
    Fixed(Arc<CacheZone>),
    /// Named per request among the module's zones; an empty value or `off` caches nothing.
    Variable(Complex, Zones, Module),
}

/// A location's cache, compiled.
#[derive(Debug)]
pub struct CCache {
    zone: ZoneRef,
    key: Option<Complex>,
    valid: Arc<[Valid]>,
    post: bool,
    bypass: Vec<Complex>,
    no_cache: Option<Arc<NoCache>>,
    min_uses: u64,
    pub convert_head: bool,
    revalidate: bool,
    max_range_offset: Option<u64>,
    if_modified_since: IfModifiedSince,
    use_stale: NextUpstream,
    stale_updating: bool,
    background_update: bool,
    lock: Option<CacheLock>,
}

/// `proxy_cache_lock on` with its timeout and age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLock {
    /// `proxy_cache_lock_timeout`: how long a request waits for another's answer, after
    /// which it asks the upstream itself without keeping the answer.
    pub timeout: Duration,
    /// `proxy_cache_lock_age`: how long the request asking may take before the lock is
    /// another's to take.
    pub age: Duration,
}

/// `proxy_no_cache`, evaluated once the upstream's head is in (its values may read
/// `$upstream_http_*`).
#[derive(Debug)]
pub struct NoCache {
    values: Vec<Complex>,
    site: Weak<Inner>,
}

impl super::plan::NoCache for NoCache {
    fn holds(&self, request: &RequestInfo<'_>, outcome: &Outcome) -> bool {
        let Some(site) = self.site.upgrade() else {
            return false;
        };
        let mut req = super::route::prepare(&site, request);
        req.outcome = Some(outcome);
        predicates(&self.values, &mut req)
    }
}

/// `ngx_http_test_predicates`: any value neither empty nor `0`.
fn predicates(values: &[Complex], req: &mut Req<'_>) -> bool {
    values.iter().any(|v| {
        let v = v.eval(req);
        !v.is_empty() && v != b"0"
    })
}

/// Compiles a level's cache values only to report unknown variables, as nginx compiles
/// them at every level.
pub fn validate(cx: &mut Cx<'_>, reg: &Registry, cache: &Cache) {
    let zone = match &cache.zone {
        Some(Some(ZoneName::Variable(text))) => Some(text),
        _ => None,
    };
    let values = cache.key.iter().chain(zone);
    let values = values.chain(cache.bypass.iter().flatten());
    for text in values.chain(cache.no_cache.iter().flatten()) {
        Complex::compile(cx, reg, text);
    }
}

/// Compiles a proxying location's cache, `module`'s: `None` without one (`proxy_cache off`,
/// nginx's default).
pub fn compile(
    cx: &mut Cx<'_>,
    reg: &Registry,
    zones: &Zones,
    (cache, module): (&Cache, Module),
    if_modified_since: IfModifiedSince,
    site: &Weak<Inner>,
) -> Option<Option<Box<CCache>>> {
    let zone = match &cache.zone {
        Some(Some(ZoneName::Fixed(name, span))) => match zones.named(name.as_bytes()) {
            // Lowering refused a name another module's zone has (`check_uses`).
            Some(zone) => ZoneRef::Fixed(zone.clone()),
            None => {
                let message = format!("\"{}cache\" zone \"{name}\" is unknown", module.prefix());
                cx.late_error_at("config::invalid", message, *span);
                return None;
            }
        },
        Some(Some(ZoneName::Variable(text))) => {
            ZoneRef::Variable(Complex::compile(cx, reg, text)?, zones.clone(), module)
        }
        Some(None) | None => return Some(None),
    };
    let compile_all = |cx: &mut Cx<'_>, list: &Option<Vec<crate::config::Text>>| {
        let list = list.iter().flatten();
        list.map(|t| Complex::compile(cx, reg, t))
            .collect::<Option<Vec<_>>>()
    };
    let key = match &cache.key {
        Some(text) => Some(Complex::compile(cx, reg, text)?),
        None => None,
    };
    let bypass = compile_all(cx, &cache.bypass)?;
    let no_cache = compile_all(cx, &cache.no_cache)?;
    let no_cache = (!no_cache.is_empty()).then(|| {
        Arc::new(NoCache {
            values: no_cache,
            site: site.clone(),
        })
    });
    Some(Some(Box::new(CCache {
        zone,
        key,
        valid: cache.valid.clone().unwrap_or_default().into(),
        post: cache.methods_post.unwrap_or(false),
        bypass,
        no_cache,
        min_uses: cache.min_uses.unwrap_or(1),
        // The FastCGI module has no `fastcgi_cache_convert_head`: a HEAD goes as it is.
        convert_head: cache.convert_head.unwrap_or(module == Module::Proxy),
        revalidate: cache.revalidate.unwrap_or(false),
        max_range_offset: cache.max_range_offset,
        if_modified_since,
        // `off` (nginx's default) turns every other value off.
        use_stale: match cache.use_stale {
            Some((rules, _)) if !rules.off => rules,
            _ => NextUpstream {
                off: true,
                ..NextUpstream::default()
            },
        },
        stale_updating: cache.use_stale.is_some_and(|(rules, up)| up && !rules.off),
        background_update: cache.background_update.unwrap_or(false),
        lock: cache.lock.unwrap_or(false).then(|| CacheLock {
            timeout: cache
                .lock_timeout
                .unwrap_or(crate::defaults::proxy::CACHE_LOCK_TIMEOUT),
            age: cache
                .lock_age
                .unwrap_or(crate::defaults::proxy::CACHE_LOCK_AGE),
        }),
    })))
}

impl CCache {
    /// The request's cache (`ngx_http_upstream_cache`), or `None` when its method is not
    /// cached or `proxy_cache`'s value names no zone. `default_key` is nginx's when
    /// `proxy_cache_key` is not set: the upstream URL's scheme and host, then the URI sent.
    /// The error is nginx's line for a value naming an unknown zone (a 500).
    pub fn request(
        &self,
        req: &mut Req<'_>,
        default_key: impl FnOnce() -> Vec<u8>,
        ignore: IgnoreHeaders,
    ) -> Result<Option<Box<CacheRequest>>, String> {
        let cached = matches!(req.method, "GET" | "HEAD") || (self.post && req.method == "POST");
        if !cached {
            return Ok(None);
        }
        let zone = match &self.zone {
            ZoneRef::Fixed(zone) => zone.clone(),
            ZoneRef::Variable(value, zones, module) => {
                let name = value.eval(req);
                if name.is_empty() || name == b"off" {
                    return Ok(None);
                }
                let found = zones.named(&name).filter(|z| z.module == *module);
                match found {
                    Some(zone) => zone.clone(),
                    None => {
                        let name = String::from_utf8_lossy(&name);
                        return Err(format!("cache \"{name}\" not found"));
                    }
                }
            }
        };
        let key = match &self.key {
            Some(key) => key.eval(req),
            None => default_key(),
        };
        let hash: [u8; 16] = Md5::digest(&key).into();
        Ok(Some(Box::new(CacheRequest {
            zone,
            hash,
            key: Bytes::from(key),
            bypass: predicates(&self.bypass, req),
            no_cache: self
                .no_cache
                .clone()
                .map(|n| n as Arc<dyn super::plan::NoCache>),
            valid: self.valid.clone(),
            min_uses: self.min_uses,
            ignore,
            revalidate: self.revalidate,
            max_range_offset: self.max_range_offset,
            if_modified_since: self.if_modified_since,
            use_stale: self.use_stale,
            stale_updating: self.stale_updating,
            background_update: self.background_update,
            lock: self.lock,
        })))
    }
}

/// A proxied request's cache, as routing left it.
#[derive(Debug)]
pub struct CacheRequest {
    pub zone: Arc<CacheZone>,
    pub key: Bytes,
    /// The key's md5: the entry's name.
    pub hash: [u8; 16],
    /// `proxy_cache_bypass` holds: the answer is not taken from the cache (but may be
    /// stored).
    pub bypass: bool,
    /// `proxy_no_cache`, if any: evaluated on the upstream's answer.
    pub no_cache: Option<Arc<dyn super::plan::NoCache>>,
    pub valid: Arc<[Valid]>,
    pub min_uses: u64,
    pub ignore: IgnoreHeaders,
    /// `proxy_cache_revalidate`: an expired entry's validators go with the request for it,
    /// and a 304 makes it valid again.
    pub revalidate: bool,
    /// `proxy_cache_max_range_offset` (`None`: not set, no limit).
    pub max_range_offset: Option<u64>,
    /// The location's `if_modified_since`, for [`CacheRequest::not_modified`].
    pub if_modified_since: IfModifiedSince,
    /// `proxy_cache_use_stale`: the failures (as `proxy_next_upstream` names them) an
    /// expired entry answers instead (`off`: none).
    pub use_stale: NextUpstream,
    /// `proxy_cache_use_stale updating`: an expired entry answers while another request
    /// updates it.
    pub stale_updating: bool,
    /// `proxy_cache_background_update`: under `stale_updating`, the request that would
    /// update an expired entry is answered with it, a background subrequest updating it.
    pub background_update: bool,
    /// `proxy_cache_lock`: a missing entry is asked for by one request at a time.
    pub lock: Option<CacheLock>,
}

impl CacheRequest {
    /// Whether an entry that expired at `valid_sec` may answer while it is updated:
    /// under `proxy_cache_use_stale updating`, or while its answer's `Cache-Control:
    /// stale-while-revalidate=` lasts (nginx's `c->stale_updating`).
    pub fn serves_stale_updating(&self, valid_sec: i64, headers: &[(Bytes, Bytes)]) -> bool {
        let now = super::clock::now_secs();
        self.stale_updating || valid_sec + handlers(headers, self.ignore, now).updating_sec >= now
    }

    /// Until when an error status the upstream gave (and `proxy_intercept_errors` took) is
    /// the key's answer: when its headers let the cache keep it and they or
    /// `proxy_cache_valid` give it a time.
    pub fn error_validity(&self, status: u16, headers: &[(Bytes, Bytes)]) -> Option<i64> {
        let now = super::clock::now_secs();
        validity(status, headers, self.ignore, &self.valid, now)
    }

    /// Whether an answer the cache looked up and did not have may be kept, given the
    /// request's `range` ([`range_keeps`]).
    pub fn range_keeps(&self, range: Option<&[u8]>) -> bool {
        range_keeps(range, self.max_range_offset)
    }

    /// Until when a 304 that revalidated an entry with `status` and `headers` makes it
    /// valid ([`revalidated_until`]); `None`: it stays expired.
    pub fn revalidated(
        &self,
        not_modified: &[(Bytes, Bytes)],
        status: u16,
        headers: &[(Bytes, Bytes)],
    ) -> Option<i64> {
        let now = super::clock::now_secs();
        let (ignore, valid) = (self.ignore, &self.valid[..]);
        revalidated_until(not_modified, status, headers, ignore, valid, now)
    }

    /// nginx's not-modified filter, which a proxied answer goes through only when the cache
    /// may keep it as its headers stand (`r->disable_not_modified = !u->cacheable`), or comes
    /// from the cache: the request's validators against the answer's `Last-Modified` and
    /// `ETag`. Only a 200 is checked.
    pub fn not_modified(
        &self,
        v: &Validators<'_>,
        status: u16,
        headers: &[(Bytes, Bytes)],
        from_cache: bool,
    ) -> Validity {
        let cacheable =
            from_cache || read_headers(headers, self.ignore, super::clock::now_secs()).is_some();
        if status != 200 || !cacheable {
            return Validity::Send;
        }
        let header = |name: &[u8]| {
            let found = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
            found.map(|(_, v)| &v[..])
        };
        let mtime = header(b"last-modified").and_then(super::clock::parse_time);
        let etag = header(b"etag");
        super::conditional::not_modified_unknown_time(v, mtime, etag, self.if_modified_since)
    }
}

/// What the range filter makes of an answer the cache keeps or gives, whose upstream sent
/// `Accept-Ranges` (`ngx_http_upstream_copy_allow_ranges`: a cached one may have several
/// ranges, one just kept only one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranged {
    /// The whole body, with `Accept-Ranges: bytes` last among the headers.
    Whole,
    /// 206: the body, its `Content-Range` (one range) or multipart type (several).
    Partial {
        body: Bytes,
        content_range: Option<Bytes>,
        content_type: Option<Bytes>,
    },
    /// 416, with this `Content-Range`.
    NotSatisfiable(Bytes),
}

/// `ngx_http_range_header_filter` on a `body` held whole; `headers` are the answer's
/// (`Last-Modified` and `ETag` for `If-Range`), `content_type` the one it is sent with.
pub fn ranged(
    range: Option<&[u8]>,
    if_range: Option<&[u8]>,
    headers: &[(Bytes, Bytes)],
    content_type: Option<&[u8]>,
    body: &Bytes,
    single: bool,
) -> Ranged {
    let header = |name: &[u8]| {
        let found = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| &v[..])
    };
    let mtime = header(b"last-modified").and_then(super::clock::parse_time);
    let size = body.len() as u64;
    let asked = super::conditional::Asked {
        range,
        if_range,
        max: if single { 1 } else { usize::MAX },
    };
    let list = match super::conditional::ranges(asked, size, mtime, header(b"etag")) {
        super::conditional::Ranges::Whole => return Ranged::Whole,
        super::conditional::Ranges::NotSatisfiable => {
            return Ranged::NotSatisfiable(Bytes::from(format!("bytes */{size}")));
        }
        super::conditional::Ranges::Partial(list) => list,
    };
    let slice = |start: u64, end: u64| body.slice(start as usize..end as usize);
    match list.as_slice() {
        [(start, end)] => Ranged::Partial {
            body: slice(*start, *end),
            content_range: Some(Bytes::from(format!("bytes {start}-{}/{size}", end - 1))),
            content_type: None,
        },
        _ => {
            use std::sync::atomic::Ordering;
            let boundary = super::static_::BOUNDARY.fetch_add(1, Ordering::Relaxed) + 1;
            let part_type = content_type
                .map(|t| format!("Content-Type: {}\r\n", String::from_utf8_lossy(t)))
                .unwrap_or_default();
            let mut out = Vec::new();
            for (start, end) in &list {
                let head = format!(
                    "\r\n--{boundary:020}\r\n{part_type}Content-Range: bytes {start}-{}/{size}\r\n\r\n",
                    end - 1
                );
                out.extend_from_slice(head.as_bytes());
                out.extend_from_slice(&slice(*start, *end));
            }
            out.extend_from_slice(format!("\r\n--{boundary:020}--\r\n").as_bytes());
            Ranged::Partial {
                body: Bytes::from(out),
                content_range: None,
                content_type: Some(Bytes::from(format!(
                    "multipart/byteranges; boundary={boundary:020}"
                ))),
            }
        }
    }
}

/// The validators nginx keeps of an answer it stores, as `$upstream_cache_last_modified`
/// and `$upstream_cache_etag` send them when it is revalidated: the time of the last
/// `Last-Modified` in nginx's form, and the first `ETag` (when no longer than the file's
/// header holds); a 200's or 206's only.
pub fn validators_of(status: u16, headers: &[(Bytes, Bytes)]) -> Vec<(&'static [u8], Bytes)> {
    if !matches!(status, 200 | 206) {
        return Vec::new();
    }
    let named = |name: &'static [u8]| {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
    };
    let last_modified = named(b"last-modified")
        .last()
        .and_then(|(_, v)| super::clock::parse_time(v))
        .map(|t| Bytes::from(super::clock::http_date(t)));
    let etag = named(b"etag")
        .next()
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty() && v.len() <= 128);
    let found = [
        (&b"If-Modified-Since"[..], last_modified),
        (&b"If-None-Match"[..], etag),
    ];
    found
        .into_iter()
        .filter_map(|(n, v)| Some((n, v?)))
        .collect()
}

/// Whether an answer the cache looked up and did not have may be kept, given the
/// request's `range` (`ngx_http_upstream_cache_check_range`): not when
/// `proxy_cache_max_range_offset` is 0, or the first range starts from the end or at
/// the limit or beyond; the client's `Range` then goes to the upstream.
fn range_keeps(range: Option<&[u8]>, limit: Option<u64>) -> bool {
    let (Some(range), Some(limit)) = (range, limit) else {
        return true;
    };
    if limit == 0 {
        return false;
    }
    let Some(spec) = range
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case(b"bytes="))
        .and(range.get(6..))
        .filter(|s| !s.is_empty())
    else {
        return true;
    };
    let spec = &spec[spec.iter().take_while(|&&b| b == b' ').count()..];
    if spec.first() == Some(&b'-') {
        return false;
    }
    let digits = &spec[..spec.iter().take_while(|b| b.is_ascii_digit()).count()];
    // `ngx_atoof`: no digits, or too many, is no offset.
    let offset = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<i64>().ok());
    offset.is_none_or(|o| (o as u64) < limit)
}

/// `ngx_http_upstream_test_next` on a 304 to a revalidation: the time the 304's headers
/// set, else the one the entry's own headers set when read again (nginx sends the entry by
/// parsing them anew), else `proxy_cache_valid` for the entry's status.
fn revalidated_until(
    not_modified: &[(Bytes, Bytes)],
    status: u16,
    headers: &[(Bytes, Bytes)],
    ignore: IgnoreHeaders,
    valid: &[Valid],
    now: i64,
) -> Option<i64> {
    let time = |headers| Some(handlers(headers, ignore, now).valid_sec).filter(|&t| t != 0);
    time(not_modified)
        .or_else(|| time(headers))
        .or_else(|| Some(now + valid_for(valid, status)?.as_secs() as i64))
}

/// `ngx_http_file_cache_valid`: the first `proxy_cache_valid` naming `status` (or `any`).
pub fn valid_for(rules: &[Valid], status: u16) -> Option<Duration> {
    let rule = rules.iter().find(|v| v.any || v.codes.contains(&status))?;
    Some(rule.time).filter(|t| !t.is_zero())
}

/// Until when (seconds since the epoch) an answer with `status` and `headers` may be served
/// from the cache, `None` when it is not to be stored: nginx 1.22's header handlers, in the
/// order the headers came (`X-Accel-Expires`, `Cache-Control`, `Expires`, `Set-Cookie`,
/// `Vary`), then `proxy_cache_valid` when they set no time (`ngx_http_upstream_send_response`).
pub fn validity(
    status: u16,
    headers: &[(Bytes, Bytes)],
    ignore: IgnoreHeaders,
    valid: &[Valid],
    now: i64,
) -> Option<i64> {
    let valid_sec = read_headers(headers, ignore, now)?;
    if valid_sec != 0 {
        return Some(valid_sec);
    }
    let time = valid_for(valid, status)?;
    Some(now + time.as_secs() as i64)
}

/// The header handlers' verdict: `None` when a header refuses the answer, else the time a
/// header set (0: none did).
fn read_headers(headers: &[(Bytes, Bytes)], ignore: IgnoreHeaders, now: i64) -> Option<i64> {
    let handled = handlers(headers, ignore, now);
    handled.cacheable.then_some(handled.valid_sec)
}

/// What the header handlers leave.
struct Handled {
    /// No header refused the answer.
    cacheable: bool,
    /// The time a header set (0: none did).
    valid_sec: i64,
    /// `Cache-Control: stale-while-revalidate=`: how long past `valid_sec` the answer may
    /// stand in while it is updated (nginx's `updating_sec`).
    updating_sec: i64,
}

/// The header handlers in the order the headers came.
fn handlers(headers: &[(Bytes, Bytes)], ignore: IgnoreHeaders, now: i64) -> Handled {
    let mut valid_sec: i64 = 0;
    let mut updating_sec: i64 = 0;
    let mut cacheable = true;
    let mut accel_expires = false;
    for (name, value) in headers {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("x-accel-expires") {
            accel_expires = true;
            if ignore.x_accel_expires {
                continue;
            }
            match value.strip_prefix(b"@") {
                None => match atoi(value) {
                    Some(0) => cacheable = false,
                    Some(n) => valid_sec = now + n,
                    None => {}
                },
                Some(at) => {
                    if let Some(n) = atoi(at) {
                        valid_sec = n;
                    }
                }
            }
        } else if is("cache-control") {
            if ignore.cache_control || (valid_sec != 0 && accel_expires) {
                continue;
            }
            match cache_control(value) {
                Some((age, stale)) => {
                    if let Some(n) = age {
                        valid_sec = now + n;
                    }
                    if let Some(n) = stale {
                        updating_sec = n;
                    }
                }
                None => cacheable = false,
            }
        } else if is("expires") {
            if ignore.expires || valid_sec != 0 {
                continue;
            }
            match super::clock::parse_time(value) {
                Some(t) if t >= now => valid_sec = t,
                _ => cacheable = false,
            }
        } else if is("set-cookie") {
            cacheable &= ignore.set_cookie;
        } else if is("vary") && !ignore.vary && (value.len() > 128 || &value[..] == b"*") {
            cacheable = false;
        }
    }
    Handled {
        cacheable,
        valid_sec,
        updating_sec,
    }
}

/// One `Cache-Control` line as nginx 1.22 reads it: `None` when it forbids storing
/// (`no-cache`, `no-store`, `private` anywhere in it, a `max-age` of 0 or not a number),
/// else the `s-maxage` or `max-age` it gives, if any, and its `stale-while-revalidate`.
fn cache_control(value: &[u8]) -> Option<(Option<i64>, Option<i64>)> {
    let lower = value.to_ascii_lowercase();
    let find = |what: &[u8]| lower.windows(what.len()).position(|w| w == what);
    if find(b"no-cache").is_some() || find(b"no-store").is_some() || find(b"private").is_some() {
        return None;
    }
    // A number ends at `,`, `;`, a space or the line's end; anything else refuses.
    let number = |what: &[u8]| -> Option<Option<i64>> {
        let Some(at) = find(what) else {
            return Some(None);
        };
        let mut n: i64 = 0;
        for &c in &lower[at + what.len()..] {
            match c {
                b',' | b';' | b' ' => break,
                b'0'..=b'9' => n = n.saturating_mul(10).saturating_add(i64::from(c - b'0')),
                _ => return None,
            }
        }
        Some(Some(n))
    };
    let age = match find(b"s-maxage=") {
        Some(_) => number(b"s-maxage=")?,
        None => number(b"max-age=")?,
    };
    if age == Some(0) {
        return None;
    }
    // `stale-if-error=` is not acted on, but a bad number there still refuses the answer.
    let stale = number(b"stale-while-revalidate=")?;
    number(b"stale-if-error=")?;
    Some((age, stale))
}

/// `ngx_atoi`: digits only, at least one.
fn atoi(text: &[u8]) -> Option<i64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(list: &[(&'static str, &'static str)]) -> Vec<(Bytes, Bytes)> {
        list.iter()
            .map(|(n, v)| {
                (
                    Bytes::from_static(n.as_bytes()),
                    Bytes::from_static(v.as_bytes()),
                )
            })
            .collect()
    }

    /// nginx 1.22 reads `Cache-Control` only while no `X-Accel-Expires` set a time
    /// before it: its `stale-while-revalidate` counts then alone
    /// (nginx-tests' proxy_cache_control.t, "extensions").
    #[test]
    fn stale_while_revalidate_counts_where_cache_control_is_read() {
        fn updating(list: &[(&'static str, &'static str)]) -> i64 {
            handlers(&h(list), IgnoreHeaders::default(), NOW).updating_sec
        }
        let swr = ("Cache-Control", "stale-while-revalidate=5");
        assert_eq!(updating(&[swr, ("X-Accel-Expires", "@1")]), 5);
        assert_eq!(updating(&[("X-Accel-Expires", "@1"), swr]), 0);
        assert_eq!(
            updating(&[("Cache-Control", "max-age=1, stale-while-revalidate=7")]),
            7
        );
        let bad = handlers(
            &h(&[("Cache-Control", "stale-while-revalidate=x")]),
            IgnoreHeaders::default(),
            NOW,
        );
        assert!(!bad.cacheable);
    }

    fn rules() -> Vec<Valid> {
        vec![Valid {
            codes: vec![200, 301, 302],
            any: false,
            time: Duration::from_secs(60),
        }]
    }

    const NOW: i64 = 1_000_000;

    fn valid(status: u16, headers: &[(&'static str, &'static str)]) -> Option<i64> {
        validity(status, &h(headers), IgnoreHeaders::default(), &rules(), NOW)
    }

    #[test]
    fn proxy_cache_valid_by_status() {
        assert_eq!(valid(200, &[]), Some(NOW + 60));
        assert_eq!(valid(404, &[]), None);
        let any = [Valid {
            codes: Vec::new(),
            any: true,
            time: Duration::from_secs(5),
        }];
        let v = validity(404, &[], IgnoreHeaders::default(), &any, NOW);
        assert_eq!(v, Some(NOW + 5));
    }

    #[test]
    fn headers_set_the_time_or_refuse() {
        assert_eq!(valid(404, &[("X-Accel-Expires", "10")]), Some(NOW + 10));
        assert_eq!(valid(200, &[("X-Accel-Expires", "0")]), None);
        assert_eq!(valid(200, &[("X-Accel-Expires", "@5")]), Some(5));
        assert_eq!(valid(200, &[("X-Accel-Expires", "x")]), Some(NOW + 60));
        assert_eq!(
            valid(200, &[("Cache-Control", "max-age=30")]),
            Some(NOW + 30)
        );
        let both = [("Cache-Control", "max-age=30, s-maxage=40")];
        assert_eq!(valid(200, &both), Some(NOW + 40));
        assert_eq!(valid(200, &[("Cache-Control", "public, no-cache")]), None);
        assert_eq!(valid(200, &[("Cache-Control", "Private")]), None);
        assert_eq!(valid(200, &[("Cache-Control", "max-age=0")]), None);
        assert_eq!(valid(200, &[("Cache-Control", "max-age=1x")]), None);
        assert_eq!(valid(200, &[("Set-Cookie", "a=b")]), None);
        assert_eq!(valid(200, &[("Vary", "*")]), None);
        assert_eq!(valid(200, &[("Vary", "Accept")]), Some(NOW + 60));
        let expires = [("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")];
        assert_eq!(valid(200, &expires), None);
    }

    #[test]
    fn nginx_1_22_reads_them_in_order() {
        // X-Accel-Expires first: a later Cache-Control is not read.
        let first = [("X-Accel-Expires", "10"), ("Cache-Control", "no-cache")];
        assert_eq!(valid(200, &first), Some(NOW + 10));
        // Cache-Control first: it refuses, whatever follows.
        let second = [("Cache-Control", "no-cache"), ("X-Accel-Expires", "10")];
        assert_eq!(valid(200, &second), None);
        // Expires after a time was set is not read.
        let late = [("Cache-Control", "max-age=5"), ("Expires", "bad")];
        assert_eq!(valid(200, &late), Some(NOW + 5));
    }

    #[test]
    fn a_304_revalidates_for_the_time_it_or_the_entry_gives() {
        let until = |not_modified, status, headers| {
            let ignore = IgnoreHeaders::default();
            revalidated_until(&h(not_modified), status, &h(headers), ignore, &rules(), NOW)
        };
        // The 304's time first, even one that refuses storing elsewhere.
        let entry = [("Cache-Control", "max-age=5")];
        assert_eq!(
            until(&[("X-Accel-Expires", "30")], 200, &entry),
            Some(NOW + 30)
        );
        assert_eq!(
            until(&[("Cache-Control", "no-cache")], 200, &entry),
            Some(NOW + 5)
        );
        assert_eq!(until(&[], 200, &[]), Some(NOW + 60));
        assert_eq!(until(&[], 404, &[]), None);
    }

    #[test]
    fn ranges_past_the_offset_are_not_kept() {
        let keeps = |range: &str, limit| range_keeps(Some(range.as_bytes()), limit);
        assert!(range_keeps(None, Some(0)));
        assert!(keeps("bytes=5-", None));
        assert!(!keeps("bytes=0-0", Some(0)));
        assert!(keeps("bytes=1-", Some(2)));
        assert!(keeps("bytes= 1-", Some(2)));
        assert!(!keeps("bytes=2-", Some(2)));
        assert!(!keeps("BYTES=-1", Some(2)));
        assert!(keeps("bytes=x", Some(2)));
        assert!(keeps("bytes=", Some(2)));
        assert!(keeps("bytes=99999999999999999999-", Some(2)));
        assert!(keeps("items=5-", Some(2)));
    }

    #[test]
    fn validators_are_a_200s_or_206s() {
        let headers = h(&[
            ("Last-Modified", "Sunday, 06-Nov-94 08:49:37 GMT"),
            ("ETag", "\"a\""),
            ("Last-Modified", "Mon, 02 Jan 2023 00:00:00 GMT"),
            ("ETag", "\"b\""),
        ]);
        let sent = validators_of(200, &headers);
        let want: Vec<(&[u8], Bytes)> = vec![
            (
                b"If-Modified-Since",
                Bytes::from_static(b"Mon, 02 Jan 2023 00:00:00 GMT"),
            ),
            (b"If-None-Match", Bytes::from_static(b"\"a\"")),
        ];
        assert_eq!(sent, want);
        assert!(validators_of(201, &headers).is_empty());
        let long = [("ETag", "x".repeat(129))];
        let long: Vec<_> = long
            .iter()
            .map(|(n, v)| (Bytes::from_static(n.as_bytes()), Bytes::from(v.clone())))
            .collect();
        assert!(validators_of(206, &long).is_empty());
    }

    #[test]
    fn ignored_headers_are_not_read() {
        let ignore = IgnoreHeaders {
            cache_control: true,
            set_cookie: true,
            ..IgnoreHeaders::default()
        };
        let headers = h(&[("Cache-Control", "no-store"), ("Set-Cookie", "a=b")]);
        assert_eq!(
            validity(200, &headers, ignore, &rules(), NOW),
            Some(NOW + 60)
        );
    }

    #[test]
    fn files_are_named_as_nginx_names_them() {
        let zone = CacheZone {
            module: Module::Proxy,
            name: "z".into(),
            path: "/c".into(),
            levels: vec![1, 2],
            inactive: Duration::from_secs(600),
            nodes: Mutex::default(),
        };
        let hash: [u8; 16] = Md5::digest(b"http://127.0.0.1:8081/t.html").into();
        let name = hex(&hash);
        let last = &name[31..];
        let next = &name[29..31];
        assert_eq!(
            zone.file(&hash),
            PathBuf::from(format!("/c/{last}/{next}/{name}"))
        );
        // md5("") as a fixed point.
        let empty: [u8; 16] = Md5::digest(b"").into();
        assert_eq!(hex(&empty), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            zone.file(&empty),
            PathBuf::from("/c/e/27/d41d8cd98f00b204e9800998ecf8427e")
        );
    }

    #[test]
    fn ranges_of_a_body_held_whole() {
        let body = Bytes::from_static(b"SEE-THIS");
        let r = |range: &'static str, single| {
            ranged(Some(range.as_bytes()), None, &[], None, &body, single)
        };
        let one = r("bytes=4-", false);
        let want = Ranged::Partial {
            body: Bytes::from_static(b"THIS"),
            content_range: Some(Bytes::from_static(b"bytes 4-7/8")),
            content_type: None,
        };
        assert_eq!(one, want);
        // An answer just kept takes one range at most: several give the whole.
        assert_eq!(r("bytes=0-2,4-", true), Ranged::Whole);
        let Ranged::Partial {
            body: parts,
            content_type,
            ..
        } = r("bytes=0-2,4-", false)
        else {
            panic!("multipart expected");
        };
        assert!(content_type.is_some_and(|t| t.starts_with(b"multipart/byteranges; boundary=")));
        let text = String::from_utf8_lossy(&parts);
        assert!(
            text.contains("Content-Range: bytes 0-2/8\r\n\r\nSEE"),
            "{text}"
        );
        assert!(
            text.contains("Content-Range: bytes 4-7/8\r\n\r\nTHIS"),
            "{text}"
        );
        assert_eq!(
            r("bytes=100-", false),
            Ranged::NotSatisfiable(Bytes::from_static(b"bytes */8"))
        );
        assert_eq!(ranged(None, None, &[], None, &body, false), Ranged::Whole);
    }

    /// A zone of nothing but its states.
    fn bare_zone() -> CacheZone {
        CacheZone {
            module: Module::Proxy,
            name: "z".into(),
            path: "/c".into(),
            levels: Vec::new(),
            inactive: Duration::from_secs(600),
            nodes: Mutex::default(),
        }
    }

    #[test]
    fn min_uses_counts_requests() {
        let zone = bare_zone();
        let key = [1; 16];
        assert_eq!(zone.touch(&key, 2), Touched::Scarce);
        assert_eq!(zone.touch(&key, 2), Touched::Used);
        assert_eq!(zone.touch(&[2; 16], 1), Touched::Used);
        // One request updates an expired entry at a time.
        assert!(zone.begin_update(&key));
        assert!(!zone.begin_update(&key));
        zone.end_update(&key);
        assert!(zone.begin_update(&key));
        // A kept error answers until its time, then the key starts over.
        zone.set_error(&key, Some((404, super::super::clock::now_secs() + 60)));
        assert_eq!(zone.touch(&key, 1), Touched::Error(404));
        zone.set_error(&key, Some((404, 0)));
        assert_eq!(zone.touch(&key, 2), Touched::Scarce);
    }

    #[test]
    fn the_cache_lock_is_one_request_s_until_its_age() {
        let zone = bare_zone();
        let key = [1; 16];
        zone.touch(&key, 1);
        let age = Duration::from_secs(5);
        assert_eq!(zone.lock(&key, age), Lock::Taken);
        assert_eq!(zone.lock(&key, age), Lock::Held);
        assert!(zone.locked(&key));
        // Given back: the next takes it.
        zone.end_update(&key);
        assert!(!zone.locked(&key));
        assert_eq!(zone.lock(&key, Duration::ZERO), Lock::Taken);
        // Past its age, it is another's to take.
        assert!(!zone.locked(&key));
        assert_eq!(zone.lock(&key, age), Lock::Taken);
        zone.end_update(&key);
        // An expired entry being updated is no lock to wait for, nor to take.
        assert!(zone.begin_update(&key));
        assert_eq!(zone.lock(&key, age), Lock::Updating);
        assert!(!zone.locked(&key));
    }
}
