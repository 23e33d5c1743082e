//! nginx's special responses (`ngx_http_special_response_handler`): a status of 300 or more
//! that a handler finalized the request with goes to the location's `error_page` for it — an
//! internal redirect (as GET), a named location, or a redirect to a URL — once per request
//! unless `recursive_error_pages`; otherwise it is sent with nginx's page.

use bytes::Bytes;

use super::added;
use super::request::Req;
use super::route::{Next, respond};
use super::site::CLocation;
use super::static_::Served;
use super::value::Complex;
use crate::config::content::Overwrite;

/// One `error_page` entry, compiled.
#[derive(Debug, Clone)]
pub struct CErrorPage {
    pub code: u16,
    pub overwrite: Overwrite,
    pub uri: Complex,
}

/// A level's error pages.
#[derive(Debug, Clone, Default)]
pub struct ErrorPages {
    pub pages: Vec<CErrorPage>,
    pub recursive: bool,
    /// `proxy_intercept_errors`.
    pub intercept: bool,
}

impl ErrorPages {
    /// The statuses with a page.
    pub fn codes(&self) -> Vec<u16> {
        self.pages.iter().map(|p| p.code).collect()
    }
}

/// `msie_refresh on` here, and the client is MSIE.
fn refreshes(loc: &CLocation, req: &Req<'_>) -> bool {
    loc.msie_refresh
        && super::headers::first(&req.headers, "user-agent")
            .is_some_and(|ua| super::browser::msie(&ua))
}

/// `ngx_http_send_refresh` (`msie_refresh on`, an MSIE client): a 200 page whose `Refresh`
/// goes to `to`, the redirect's `Location` (as written, escaped for the attribute), without
/// the `Location`, `Accept-Ranges`, `Last-Modified` and `ETag` the answer had.
fn refresh(loc: &CLocation, to: &[u8], req: &mut Req<'_>, served: &mut Served) -> Next {
    served.err_status = Some(200);
    req.carried.retain(|(n, _)| {
        let dropped = [
            &b"location"[..],
            b"accept-ranges",
            b"last-modified",
            b"etag",
        ];
        !dropped.iter().any(|d| n.eq_ignore_ascii_case(d))
    });
    let mut page = b"<html><head><meta http-equiv=\"Refresh\" content=\"0; URL=".to_vec();
    page.extend_from_slice(&super::uri::escape_refresh(to));
    page.extend_from_slice(b"\"></head><body></body></html>\r\n");
    let html = Some(Bytes::from_static(b"text/html"));
    super::route::made_answer(200, (html, None), Some(page.len()), req, loc, |_| page)
}

/// The request finalized with `status` (and `headers`, such as a redirect's `Location`) in
/// `loc`: the error page for it, or the answer with nginx's page.
pub fn special(
    loc: &CLocation,
    status: u16,
    mut headers: Vec<(Bytes, Bytes)>,
    req: &mut Req<'_>,
    served: &mut Served,
) -> Next {
    served.err_status = Some(status);
    served.close |= matches!(status, 400 | 413 | 414 | 495..=497 | 500 | 501);
    req.content_type = None;
    let pages = &loc.error_pages;
    if !served.error_page && !pages.pages.is_empty() && req.uri_changes != 0 {
        served.error_page = !pages.recursive;
        if let Some(page) = pages.pages.iter().find(|p| p.code == status) {
            req.carried.extend(headers);
            return send(loc, page, req, served);
        }
    }
    if matches!(status, 301 | 302) && refreshes(loc, req) {
        let location = headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(b"location"));
        if let Some(at) = location {
            let (_, to) = headers.remove(at);
            return refresh(loc, &to, req, served);
        }
    }
    // nginx's page goes out without the `Accept-Ranges` an `X-Accel-Redirect` answer left
    // (`ngx_http_clear_accept_ranges`: the last one copied).
    let ranges = req
        .carried
        .iter()
        .rposition(|(n, _)| n.eq_ignore_ascii_case(b"accept-ranges"));
    if let Some(at) = ranges {
        req.carried.remove(at);
    }
    added::apply(&loc.add_headers, status, None, req, &mut headers);
    Next::answer(respond(status, loc.log.clone(), headers, None))
}

/// `ngx_http_send_error_page`.
fn send(loc: &CLocation, page: &CErrorPage, req: &mut Req<'_>, served: &mut Served) -> Next {
    match page.overwrite {
        Overwrite::Keep => {}
        Overwrite::Response => served.err_status = None,
        Overwrite::Code(code) => served.err_status = Some(code),
    }
    let uri = page.uri.eval(req);
    match uri.first() {
        Some(b'/') => {
            if req.method != "HEAD" {
                req.method = "GET";
            }
            Next::to(uri)
        }
        Some(b'@') => Next::Named(uri),
        _ => {
            let status = match page.overwrite {
                Overwrite::Code(c @ (301 | 302 | 303 | 307 | 308)) => c,
                _ => 302,
            };
            if refreshes(loc, req) {
                return refresh(loc, &uri, req, served);
            }
            served.err_status = Some(status);
            let mut headers = vec![(Bytes::from_static(b"Location"), Bytes::from(uri))];
            added::apply(&loc.add_headers, status, None, req, &mut headers);
            Next::answer(respond(status, loc.log.clone(), headers, None))
        }
    }
}
