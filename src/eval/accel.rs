//! The request's side of `X-Accel-Redirect` (`ngx_http_upstream_process_headers`): when the
//! runtime routes the request again after an upstream answered with one, the proxy pass
//! stands for an internal redirect. The answer's kept headers join the request's response
//! headers, its `Content-Type` waits for the handler that answers, its `X-Accel-Limit-Rate`
//! becomes the request's rate; then the request goes to the named location, or to the URI
//! as GET (HEAD stays), or, for a URI nginx finds unsafe, ends with 404.

use super::plan::{AccelRedirect, ErrorLine};
use super::request::Req;
use super::route::Next;
use super::static_::Served;
use super::uri;

/// What nginx's error-log lines add while it handles an upstream's answer.
pub const READING: &str = " while reading response header from upstream";

/// Where the request goes after the upstream answered with `accel`.
pub fn redirect(accel: &AccelRedirect, req: &mut Req<'_>, served: &mut Served) -> Next {
    req.carried.extend(accel.headers.iter().cloned());
    if accel.content_type.is_some() {
        req.content_type.clone_from(&accel.content_type);
    }
    if accel.limit_rate.is_some() {
        req.limit_rate = accel.limit_rate;
    }
    served.reading_upstream = true;
    if accel.to.first() == Some(&b'@') {
        return Next::Named(accel.to.to_vec());
    }
    match uri::parse_unsafe(&accel.to) {
        Ok((uri, args)) => {
            if req.method != "HEAD" {
                req.method = "GET";
            }
            Next::Redirect(uri, args)
        }
        Err(shown) => {
            let shown = String::from_utf8_lossy(&shown);
            served.errors.push(ErrorLine::error(format!(
                "unsafe URI \"{shown}\" was detected{READING}"
            )));
            Next::Special(404, Vec::new())
        }
    }
}
