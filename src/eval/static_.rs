//! Serving files as nginx's content phase does: the index module for a URI ending in `/`
//! (`index.rs`), and the static module for the rest (405 for methods other than GET/HEAD,
//! 404/403 for what cannot be opened, 301 to add the slash to a directory, the file with its
//! type, date, ETag, and the not-modified, headers and range filters' say).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::autoindex::{self, Autoindex};
use super::conditional::{self, Ranges, Validators, Validity};
use super::files::{self, CRoot, Mapped};
use super::gzip::CGzipStatic;
use super::headers::header;
use super::index;
use super::mime::ContentTypes;
use super::plan::{ErrorLine, FilePart, FileResponse, Route};
use super::request::Req;
use super::route::Next;
use super::site::CLocation;
use super::try_files::CTryFiles;
use super::uri;
use super::value::Complex;
use crate::config::content::IfModifiedSince;

/// What a location serves besides proxying, compiled.
#[derive(Debug, Clone)]
pub struct Content {
    /// Shared with the requests in this level (`$document_root`, `$request_filename`).
    pub root: Arc<CRoot>,
    pub index: Vec<Complex>,
    pub try_files: Option<CTryFiles>,
    pub etag: bool,
    pub if_modified_since: IfModifiedSince,
    /// `max_ranges` (nginx's default: no limit); 0 keeps the range filter out.
    pub max_ranges: usize,
    pub log_not_found: bool,
    pub types: ContentTypes,
    /// `autoindex on`, with its settings.
    pub autoindex: Option<Autoindex>,
    /// `random_index on`.
    pub random_index: bool,
}

/// What a handler needs to know about the request's routing so far.
#[derive(Debug, Default)]
pub struct Served {
    /// The status an `error_page` imposes (`r->err_status`).
    pub err_status: Option<u16>,
    /// nginx's `r->error_page`: an error page was tried and `recursive_error_pages` is off.
    pub error_page: bool,
    /// A special response ended keep-alive (nginx's `r->keepalive = 0` for 400, 413, 414,
    /// 500, 501), whatever page answers it.
    pub close: bool,
    /// An `X-Accel-Redirect` is being followed: until the request is in its new location,
    /// nginx's error-log lines say it was reading the upstream's header.
    pub reading_upstream: bool,
    pub errors: Vec<ErrorLine>,
}

impl Served {
    /// The request's path under the location's `root` or `alias`; one that cannot be made
    /// (an `alias` after a rewrite in place) is nginx's 500, its line noted here.
    pub fn map_root(&mut self, loc: &CLocation, req: &mut Req<'_>) -> Result<Mapped, Next> {
        loc.content.root.map(req).map_err(|unmappable| {
            self.errors.push(unmappable.line(&loc.name));
            Next::Special(500, Vec::new())
        })
    }
}

/// The content phase of a location without `proxy_pass`.
pub fn content(loc: &CLocation, req: &mut Req<'_>, served: &mut Served) -> Next {
    // The index module passes on other methods, and the static module refuses them before
    // it looks at the URI: a directory's too.
    if !matches!(req.method, "GET" | "HEAD" | "POST") {
        return Next::Special(405, Vec::new());
    }
    let directory = req.target.uri.last() == Some(&b'/');
    if directory && let Some(next) = super::random_index::handler(loc, req, served) {
        return next;
    }
    if directory && let Some(next) = index::handler(loc, req, served) {
        return next;
    }
    if directory && let Some(next) = autoindex::handler(loc, req, served) {
        return next;
    }
    let mapped = match served.map_root(loc, req) {
        Ok(m) => m,
        Err(next) => return next,
    };
    if directory {
        // Neither the index module nor the static one took it (`ngx_http_core_content_phase`).
        served.errors.push(ErrorLine::error(format!(
            "directory index of \"{}\" is forbidden",
            String::from_utf8_lossy(&mapped.path)
        )));
        return Next::Special(403, Vec::new());
    }
    let mut vary = false;
    if let Some(gz) = &loc.gzip_static
        && req.method != "POST"
    {
        match gzip_static(loc, gz, req, served, &mapped) {
            Ok(next) => return next,
            Err(owed) => vary = owed,
        }
    }
    file(loc, req, served, &mapped, vary)
}

/// How a file is sent: as its `.gz` neighbour (`Content-Encoding: gzip`), and whether the
/// answer owes `Vary: Accept-Encoding` (nginx's `r->gzip_vary` under `gzip_vary on`).
#[derive(Debug, Clone, Copy)]
struct Coding {
    gzip: bool,
    vary: bool,
    /// What the handler's error-log lines say it was doing (nginx's `log->action`), with
    /// its leading " while ".
    action: &'static str,
}

/// `ngx_http_gzip_static_handler` (before the static module): the `.gz` file next to the
/// one the URI maps to, sent with its own size, date and ETag, the URI's type and
/// `Content-Encoding: gzip`, to a client `gzip_static` lets have it. `Err` passes the
/// request on to the static module, saying whether the answer owes `Vary` all the same
/// (`on` found a `.gz` file the client may not have).
fn gzip_static(
    loc: &CLocation,
    gz: &CGzipStatic,
    req: &mut Req<'_>,
    served: &mut Served,
    mapped: &Mapped,
) -> Result<Next, bool> {
    let allowed = gz.allows(req);
    // Without `gzip_vary` a refused client has nothing to learn from the file.
    if !allowed && !gz.vary {
        return Err(false);
    }
    let mut path = mapped.path.clone();
    path.extend_from_slice(b".gz");
    let opened = match files::open(&path, false) {
        Ok(o) => o,
        Err(e) => {
            if !e.not_found() {
                served.errors.push(e.line(&path));
            }
            return Err(false);
        }
    };
    let vary = gz.vary && !gz.always;
    if !allowed || opened.is_dir {
        return Err(vary);
    }
    let Some(file) = opened.file.filter(|_| opened.is_file) else {
        served.errors.push(ErrorLine::crit(format!(
            "\"{}\" is not a regular file",
            String::from_utf8_lossy(&path)
        )));
        return Ok(Next::Special(404, vary_header(vary)));
    };
    let coding = Coding {
        gzip: true,
        vary,
        action: "",
    };
    let body = Body::whole(opened.size, opened.mtime);
    Ok(send(loc, req, served, file, body, coding))
}

/// `Vary: Accept-Encoding` for an answer that owes it ([`Coding`]), even an error page, as
/// nginx's header filter writes it for any answer once `r->gzip_vary` is set.
fn vary_header(vary: bool) -> Vec<(Bytes, Bytes)> {
    let line = (
        Bytes::from_static(b"Vary"),
        Bytes::from_static(b"Accept-Encoding"),
    );
    if vary { vec![line] } else { Vec::new() }
}

/// How the flv and mp4 handlers begin, alike in nginx: GET and HEAD only (405), then the
/// request's file mapped and opened with its path and what was opened; `Err` is where the
/// request goes instead (a directory's URI, or a path that is not a file, declines to the
/// index and static modules).
pub(super) fn open_for_handler(
    loc: &CLocation,
    req: &mut Req<'_>,
    served: &mut Served,
) -> Result<(Mapped, files::Opened, std::fs::File), Next> {
    if !matches!(req.method, "GET" | "HEAD") {
        return Err(Next::Special(405, Vec::new()));
    }
    if req.target.uri.last() == Some(&b'/') {
        return Err(content(loc, req, served));
    }
    let mapped = served.map_root(loc, req)?;
    let mut opened = open(loc, served, &mapped.path).map_err(|s| Next::Special(s, Vec::new()))?;
    match opened.file.take().filter(|_| opened.is_file) {
        Some(file) => Ok((mapped, opened, file)),
        None => Err(content(loc, req, served)),
    }
}

/// `ngx_open_cached_file` as the static, flv and mp4 handlers call it: the status of a
/// path that cannot be opened, its error-log line noted (a 404's only under
/// `log_not_found`).
pub(super) fn open(
    loc: &CLocation,
    served: &mut Served,
    path: &[u8],
) -> Result<files::Opened, u16> {
    files::open(path, false).map_err(|e| {
        let status = e.status();
        if status != 404 || loc.content.log_not_found {
            served.errors.push(e.line(path));
        }
        status
    })
}

/// `ngx_http_static_handler` for a URI not ending in `/`; `vary` as [`Coding`] says.
fn file(
    loc: &CLocation,
    req: &mut Req<'_>,
    served: &mut Served,
    mapped: &Mapped,
    vary: bool,
) -> Next {
    let path = &mapped.path;
    let opened = match open(loc, served, path) {
        Ok(o) => o,
        Err(status) => return Next::Special(status, vary_header(vary)),
    };
    if opened.is_dir {
        let mut to = uri::escape(&req.target.uri);
        to.push(b'/');
        if !req.target.args.is_empty() {
            to.push(b'?');
            to.extend_from_slice(&req.target.args);
        }
        let mut headers = vary_header(vary);
        headers.push((Bytes::from_static(b"Location"), Bytes::from(to)));
        return Next::Special(301, headers);
    }
    let Some(file) = opened.file.filter(|_| opened.is_file) else {
        served.errors.push(ErrorLine::crit(format!(
            "\"{}\" is not a regular file",
            String::from_utf8_lossy(path)
        )));
        return Next::Special(404, vary_header(vary));
    };
    if req.method == "POST" {
        return Next::Special(405, Vec::new());
    }
    let coding = Coding {
        gzip: false,
        vary,
        action: "",
    };
    let body = Body::whole(opened.size, opened.mtime);
    send(loc, req, served, file, body, coding)
}

/// What a file answer sends: the file's parts, with what a handler puts before or between
/// them (the flv module's header, the mp4 module's rewritten `moov`), and the file's
/// modification time.
#[derive(Debug)]
pub(super) struct Body {
    pub parts: Vec<FilePart>,
    pub mtime: i64,
    /// The range filter takes one range at most (nginx's `r->single_range`, the mp4
    /// module's for a cut).
    pub single_range: bool,
}

impl Body {
    /// The whole file of `size` bytes.
    pub fn whole(size: u64, mtime: i64) -> Body {
        let parts = vec![FilePart::Range {
            start: 0,
            len: size,
        }];
        Body {
            parts,
            mtime,
            single_range: false,
        }
    }
}

/// A file handler's answer (the flv or mp4 module's, `ngx_http_send_header` then the
/// output filters): `body` as the static module sends a file; `action` as [`Coding`] has it.
pub(super) fn send_file(
    loc: &CLocation,
    req: &mut Req<'_>,
    served: &mut Served,
    file: std::fs::File,
    (body, action): (Body, &'static str),
) -> Next {
    let coding = Coding {
        gzip: false,
        vary: false,
        action,
    };
    send(loc, req, served, file, body, coding)
}

/// The answer with `file`, whose `body` it sends, through the not-modified, headers and
/// range filters; the ETag and the ranges are the body's length (nginx's
/// `content_length_n`).
fn send(
    loc: &CLocation,
    req: &mut Req<'_>,
    served: &mut Served,
    file: std::fs::File,
    Body {
        parts,
        mtime,
        single_range,
    }: Body,
    coding: Coding,
) -> Next {
    let size: u64 = parts.iter().map(FilePart::size).sum();
    let content = &loc.content;
    let etag = content
        .etag
        .then(|| Bytes::from(format!("\"{mtime:x}-{size:x}\"")));
    // A type already set (an `X-Accel-Redirect` answer's) stays (`ngx_http_set_content_type`).
    let content_type = req
        .content_type
        .clone()
        .or_else(|| content.types.for_uri(&req.target.uri));
    let status = served.err_status.unwrap_or(200);
    let mut answer = FileAnswer {
        status,
        carried: Vec::new(),
        content_type: content_type.clone(),
        last_modified: Some(http_date(mtime)),
        etag: etag.clone(),
        gzip: coding.gzip,
        vary: coding.vary,
        added: Vec::new(),
        tail: Vec::new(),
        parts,
    };
    // The not-modified and range filters leave a subrequest's answer alone.
    if status == 200 && !req.subrequest {
        let validators = Validators::of(&req.headers);
        match conditional::not_modified(
            &validators,
            mtime,
            etag.as_deref(),
            content.if_modified_since,
        ) {
            Validity::PreconditionFailed => return Next::Special(412, vary_header(coding.vary)),
            Validity::NotModified => {
                answer.status = 304;
                answer.content_type = None;
                // The not-modified filter drops `Content-Encoding` too.
                answer.gzip = false;
                answer.parts.clear();
            }
            Validity::Send => {}
        }
    }
    let range_mtime = headers_filter(loc, req, &mut answer, mtime);
    // The sub filter, before the range filter, leaves a body of unknown length: no ranges.
    let rewritten = size != 0
        && req.sub_filter.clone().is_some_and(|sub| {
            sub.for_request(req)
                .is_some_and(|sub| sub.types.matches(answer.content_type.as_deref(), false))
        });
    if let (Some(c), Some(ct)) = (&loc.add_headers.charset, &mut answer.content_type) {
        c.apply(answer.status, ct);
    }
    // So do the addition filter (a main request's 200 of its types) and the SSI filter (a
    // main request's body of its types), which offer none.
    let of_types =
        |types: &crate::eval::plan::GzipTypes| types.matches(answer.content_type.as_deref(), false);
    let added = !req.subrequest
        && (req.addition.as_ref().is_some_and(|a| of_types(&a.types))
            || (size != 0 && req.ssi.as_ref().is_some_and(|s| of_types(&s.types))));
    // Only the static module lets the range filter at its answer (`r->allow_ranges`).
    let max = match content.max_ranges {
        0 => 0,
        _ if single_range => 1,
        max => max,
    };
    let ranged = !coding.gzip && !rewritten && !added && !req.subrequest;
    if answer.status == 200 && status == 200 && ranged && max > 0 {
        let h = |name| header(&req.headers, name);
        let (range, if_range) = (h("range"), h("if-range"));
        let asked = conditional::Asked {
            range: range.as_deref(),
            if_range: if_range.as_deref(),
            max,
        };
        let ranges = conditional::ranges(asked, size, range_mtime, answer.etag.as_deref());
        match ranges {
            Ranges::Whole => answer.tail.push((
                Bytes::from_static(b"Accept-Ranges"),
                Bytes::from_static(b"bytes"),
            )),
            Ranges::NotSatisfiable => {
                // The headers filter ran for the 200 before the range filter turned it into
                // a 416: its lines stay, before `Content-Range`.
                let mut headers = vary_header(coding.vary);
                headers.append(&mut answer.added);
                req.carried.append(&mut answer.carried);
                let value = Bytes::from(format!("bytes */{size}"));
                headers.push((Bytes::from_static(b"Content-Range"), value));
                return Next::Special(416, headers);
            }
            Ranges::Partial(list) => {
                if partial(&mut answer, &list, size).is_err() {
                    let line = format!("range in overlapped buffers{}", coding.action);
                    served.errors.push(ErrorLine::alert(line));
                    let mut response = answer.into_response(loc, file);
                    response.aborted = true;
                    return Next::answer(Route::File(Box::new(response)));
                }
            }
        }
    }
    Next::answer(Route::File(Box::new(answer.into_response(loc, file))))
}

/// nginx's headers filter (after the not-modified filter, before the range filter):
/// `add_header` lines, of which `Last-Modified` and `ETag` replace the file's own
/// (`ngx_http_set_last_modified`, `ngx_http_set_response_header`). Returns the modification
/// time the range filter then compares `If-Range` with.
fn headers_filter(
    loc: &CLocation,
    req: &mut Req<'_>,
    answer: &mut FileAnswer,
    mtime: i64,
) -> Option<i64> {
    let mut range_mtime = Some(mtime);
    for (name, value, always) in &loc.add_headers.lines {
        if !super::added::applies(answer.status, *always) {
            continue;
        }
        if name.eq_ignore_ascii_case(b"last-modified") {
            let value = value.eval(req);
            range_mtime = super::clock::parse_time(&value);
            answer.last_modified = None;
        } else if name.eq_ignore_ascii_case(b"etag") {
            let value = value.eval(req);
            answer.etag = (!value.is_empty()).then(|| Bytes::from(value));
        }
    }
    let status = answer.status;
    answer.carried = std::mem::take(&mut req.carried);
    super::added::apply_kept(
        &loc.add_headers,
        status,
        Some(mtime),
        req,
        &mut answer.carried,
        &mut answer.added,
    );
    answer
        .added
        .retain(|(name, _)| !name.eq_ignore_ascii_case(b"etag"));
    range_mtime
}

/// A file answer before `add_header` and the runtime's framing.
#[derive(Debug)]
struct FileAnswer {
    status: u16,
    /// The headers the request held before the file answered (`Req::carried`).
    carried: Vec<(Bytes, Bytes)>,
    content_type: Option<Bytes>,
    last_modified: Option<Bytes>,
    etag: Option<Bytes>,
    /// `Content-Encoding: gzip` (a `.gz` file `gzip_static` sends).
    gzip: bool,
    /// Owes `Vary: Accept-Encoding` ([`Coding`]).
    vary: bool,
    /// The headers filter's `add_header` lines.
    added: Vec<(Bytes, Bytes)>,
    /// What the range filter adds (after the headers filter's `add_header`s).
    tail: Vec<(Bytes, Bytes)>,
    parts: Vec<FilePart>,
}

impl FileAnswer {
    fn into_response(self, loc: &CLocation, file: std::fs::File) -> FileResponse {
        let mut headers = Vec::new();
        // nginx's header filter keeps `Last-Modified` only on these.
        let last_modified = self
            .last_modified
            .filter(|_| matches!(self.status, 200 | 206 | 304));
        let named = |n: &'static [u8], v: Option<Bytes>| v.map(|v| (Bytes::from_static(n), v));
        headers.extend(named(b"Content-Type", self.content_type));
        headers.extend(named(b"Last-Modified", last_modified));
        headers.extend(self.carried);
        headers.extend(named(b"ETag", self.etag));
        if self.gzip {
            headers.push((
                Bytes::from_static(b"Content-Encoding"),
                Bytes::from_static(b"gzip"),
            ));
        }
        headers.extend(self.added);
        headers.extend(self.tail);
        FileResponse {
            status: self.status,
            headers,
            file,
            parts: self.parts,
            log: loc.log.clone(),
            // `route` sets it with the answer.
            routed: None,
            errors: Vec::new(),
            server_tokens: loc.server_tokens,
            keepalive: loc.keepalive,
            // `route` sets it with the answer.
            gzip: None,
            vary: self.vary,
            sub_filter: None,
            addition: None,
            ssi: None,
            limited: Default::default(),
            sending: Default::default(),
            trailers: None,
            mirrors: Vec::new(),
            aborted: false,
        }
    }
}

/// nginx's boundaries count up from 1 for the life of the server (`ngx_next_temp_number`).
pub(super) static BOUNDARY: AtomicU64 = AtomicU64::new(0);

/// The range filter's 206: one `Content-Range`, or a multipart/byteranges body. nginx
/// cuts several ranges only out of a body in one buffer
/// (`ngx_http_range_test_overlapped`): `Err` for any other.
fn partial(answer: &mut FileAnswer, list: &[(u64, u64)], size: u64) -> Result<(), Overlapped> {
    answer.status = 206;
    if let [(start, end)] = list {
        answer.tail.push((
            Bytes::from_static(b"Content-Range"),
            Bytes::from(format!("bytes {start}-{}/{size}", end - 1)),
        ));
        answer.parts = cut(&answer.parts, *start, *end);
        return Ok(());
    }
    let first = answer.parts.first().map_or(0, FilePart::size);
    if answer.parts.len() > 1 && list.iter().any(|(_, end)| *end > first) {
        return Err(Overlapped);
    }
    let boundary = BOUNDARY.fetch_add(1, Ordering::Relaxed) + 1;
    let part_type = answer
        .content_type
        .as_ref()
        .map(|t| format!("Content-Type: {}\r\n", String::from_utf8_lossy(t)))
        .unwrap_or_default();
    answer.content_type = Some(Bytes::from(format!(
        "multipart/byteranges; boundary={boundary:020}"
    )));
    let whole = std::mem::take(&mut answer.parts);
    for (start, end) in list {
        let head = format!(
            "\r\n--{boundary:020}\r\n{part_type}Content-Range: bytes {start}-{}/{size}\r\n\r\n",
            end - 1
        );
        answer.parts.push(FilePart::Text(Bytes::from(head)));
        answer.parts.extend(cut(&whole, *start, *end));
    }
    answer.parts.push(FilePart::Text(Bytes::from(format!(
        "\r\n--{boundary:020}--\r\n"
    ))));
    Ok(())
}

/// Several ranges asked of a body in more than one buffer.
#[derive(Debug)]
struct Overlapped;

/// The bytes `start..end` of the body `parts` make.
fn cut(parts: &[FilePart], start: u64, end: u64) -> Vec<FilePart> {
    let mut out = Vec::new();
    let mut at = 0;
    for part in parts {
        let size = part.size();
        let (from, to) = (start.max(at), end.min(at + size));
        if from < to {
            let (skip, len) = (from - at, to - from);
            out.push(match part {
                FilePart::Text(text) => {
                    let skip = usize::try_from(skip).unwrap_or(usize::MAX);
                    let len = usize::try_from(len).unwrap_or(usize::MAX);
                    FilePart::Text(text.slice(skip..skip + len))
                }
                FilePart::Range { start, .. } => FilePart::Range {
                    start: start + skip,
                    len,
                },
            });
        }
        at += size;
    }
    out
}

fn http_date(mtime: i64) -> Bytes {
    let secs = u64::try_from(mtime).unwrap_or(0);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    Bytes::from(httpdate::fmt_http_date(t))
}
