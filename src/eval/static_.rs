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
    pub log_not_found: bool,
    pub types: ContentTypes,
    /// `autoindex on`, with its settings.
    pub autoindex: Option<Autoindex>,
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

/// The content phase of a location without `proxy_pass`.
pub fn content(loc: &CLocation, req: &mut Req<'_>, served: &mut Served) -> Next {
    let get_head_post = matches!(req.method, "GET" | "HEAD" | "POST");
    let directory = req.target.uri.last() == Some(&b'/');
    if directory
        && get_head_post
        && let Some(next) = index::handler(loc, req, served)
    {
        return next;
    }
    if directory && let Some(next) = autoindex::handler(loc, req, served) {
        return next;
    }
    let mapped = match loc.content.root.map(req) {
        Ok(m) => m,
        Err(unmappable) => {
            served.errors.push(unmappable.line(&loc.name));
            return Next::Special(500, Vec::new());
        }
    };
    if directory {
        // Neither the index module nor the static one took it (`ngx_http_core_content_phase`).
        served.errors.push(ErrorLine::error(format!(
            "directory index of \"{}\" is forbidden",
            String::from_utf8_lossy(&mapped.path)
        )));
        return Next::Special(403, Vec::new());
    }
    if !get_head_post {
        return Next::Special(405, Vec::new());
    }
    file(loc, req, served, &mapped)
}

/// `ngx_http_static_handler` for a URI not ending in `/`.
fn file(loc: &CLocation, req: &mut Req<'_>, served: &mut Served, mapped: &Mapped) -> Next {
    let path = &mapped.path;
    let opened = match files::open(path, false) {
        Ok(o) => o,
        Err(e) => {
            let status = e.status();
            if status != 404 || loc.content.log_not_found {
                served.errors.push(e.line(path));
            }
            return Next::Special(status, Vec::new());
        }
    };
    if opened.is_dir {
        let mut to = uri::escape(&req.target.uri);
        to.push(b'/');
        if !req.target.args.is_empty() {
            to.push(b'?');
            to.extend_from_slice(&req.target.args);
        }
        return Next::Special(
            301,
            vec![(Bytes::from_static(b"Location"), Bytes::from(to))],
        );
    }
    let Some(file) = opened.file.filter(|_| opened.is_file) else {
        served.errors.push(ErrorLine::crit(format!(
            "\"{}\" is not a regular file",
            String::from_utf8_lossy(path)
        )));
        return Next::Special(404, Vec::new());
    };
    if req.method == "POST" {
        return Next::Special(405, Vec::new());
    }
    let content = &loc.content;
    let size = opened.size;
    let mtime = opened.mtime;
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
        added: Vec::new(),
        tail: Vec::new(),
        parts: vec![FilePart::Range {
            start: 0,
            len: size,
        }],
    };
    if status == 200 {
        let h = |name| header(&req.headers, name);
        let (ius, im, ims, inm) = (
            h("if-unmodified-since"),
            h("if-match"),
            h("if-modified-since"),
            h("if-none-match"),
        );
        let validators = Validators {
            if_unmodified_since: ius.as_deref(),
            if_match: im.as_deref(),
            if_modified_since: ims.as_deref(),
            if_none_match: inm.as_deref(),
        };
        match conditional::not_modified(
            &validators,
            mtime,
            etag.as_deref(),
            content.if_modified_since,
        ) {
            Validity::PreconditionFailed => return Next::Special(412, Vec::new()),
            Validity::NotModified => {
                answer.status = 304;
                answer.content_type = None;
                answer.parts.clear();
            }
            Validity::Send => {}
        }
    }
    let range_mtime = headers_filter(loc, req, &mut answer, mtime);
    if let (Some(c), Some(ct)) = (&loc.add_headers.charset, &mut answer.content_type) {
        c.apply(answer.status, ct);
    }
    if answer.status == 200 && status == 200 {
        let h = |name| header(&req.headers, name);
        let (range, if_range) = (h("range"), h("if-range"));
        let ranges = conditional::ranges(
            range.as_deref(),
            if_range.as_deref(),
            size,
            range_mtime,
            answer.etag.as_deref(),
        );
        match ranges {
            Ranges::Whole => answer.tail.push((
                Bytes::from_static(b"Accept-Ranges"),
                Bytes::from_static(b"bytes"),
            )),
            Ranges::NotSatisfiable => {
                // The headers filter ran for the 200 before the range filter turned it into
                // a 416: its lines stay, before `Content-Range`.
                let mut headers = std::mem::take(&mut answer.added);
                req.carried.append(&mut answer.carried);
                let value = Bytes::from(format!("bytes */{size}"));
                headers.push((Bytes::from_static(b"Content-Range"), value));
                return Next::Special(416, headers);
            }
            Ranges::Partial(list) => partial(&mut answer, &list, size),
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
            range_mtime = conditional::parse_time(&value);
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
            limited: Default::default(),
            sending: Default::default(),
        }
    }
}

/// nginx's boundaries count up from 1 for the life of the server (`ngx_next_temp_number`).
static BOUNDARY: AtomicU64 = AtomicU64::new(0);

/// The range filter's 206: one `Content-Range`, or a multipart/byteranges body.
fn partial(answer: &mut FileAnswer, list: &[(u64, u64)], size: u64) {
    answer.status = 206;
    if let [(start, end)] = list {
        answer.tail.push((
            Bytes::from_static(b"Content-Range"),
            Bytes::from(format!("bytes {start}-{}/{size}", end - 1)),
        ));
        answer.parts = vec![FilePart::Range {
            start: *start,
            len: end - start,
        }];
        return;
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
    answer.parts.clear();
    for (start, end) in list {
        let head = format!(
            "\r\n--{boundary:020}\r\n{part_type}Content-Range: bytes {start}-{}/{size}\r\n\r\n",
            end - 1
        );
        answer.parts.push(FilePart::Text(Bytes::from(head)));
        answer.parts.push(FilePart::Range {
            start: *start,
            len: end - start,
        });
    }
    answer.parts.push(FilePart::Text(Bytes::from(format!(
        "\r\n--{boundary:020}--\r\n"
    ))));
}

fn http_date(mtime: i64) -> Bytes {
    let secs = u64::try_from(mtime).unwrap_or(0);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    Bytes::from(httpdate::fmt_http_date(t))
}
