//! An upstream's `X-Accel-Redirect` answer (`ngx_http_upstream_process_headers`): nginx
//! reads no body of it and passes none of it on, but keeps the headers its upstream module
//! marks `redirect` and redirects the request internally. The site decides where the
//! request goes ([`Site::reroute`](crate::eval::plan::Site::reroute) with
//! [`Pass::Redirect`]); this builds what it needs from the answer.

use bytes::Bytes;

use super::context::OwnedRequest;
use super::deliver;
use super::exchange::{Framing, ResponseHead};
use super::peer::PeerConn;
use super::state::Hold;
use crate::eval::plan::{AccelRedirect, IgnoreHeaders, Outcome, ProxyRequest};

/// The upstream response headers nginx copies into a request it redirects, besides
/// `Content-Type` (`ngx_http_upstream_headers_in` entries with `redirect` set).
const KEPT: [&[u8]; 5] = [
    b"set-cookie",
    b"content-disposition",
    b"cache-control",
    b"expires",
    b"accept-ranges",
];

/// The (first) `X-Accel-Redirect` of `head`, unless `proxy_ignore_headers` names it.
pub fn target(head: &ResponseHead, ignore: IgnoreHeaders) -> Option<Bytes> {
    if ignore.x_accel_redirect {
        return None;
    }
    head.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"x-accel-redirect"))
        .map(|(_, v)| Bytes::copy_from_slice(v))
}

/// The redirect `head` asks for (to `to`): the kept headers (`Set-Cookie` through
/// `proxy_cookie_*`), the type, the rate. `outcome` gets the answer's headers, which the
/// redirected request reads as `$upstream_http_*`, and its `X-Accel-Limit-Rate`.
pub fn redirect(
    to: Bytes,
    head: &ResponseHead,
    p: &ProxyRequest,
    request: &OwnedRequest,
    outcome: &mut Outcome,
) -> AccelRedirect {
    // Copied: slices of the read buffer would keep all of it alive with the request.
    let copy = |(n, v): &(Bytes, Bytes)| (Bytes::copy_from_slice(n), Bytes::copy_from_slice(v));
    outcome.upstream_headers = head.headers.iter().map(copy).collect();
    let mut headers: Vec<(Bytes, Bytes)> = outcome
        .upstream_headers
        .iter()
        .filter(|(n, _)| KEPT.iter().any(|k| n.eq_ignore_ascii_case(k)))
        .cloned()
        .collect();
    deliver::rewrite_cookies(p, request, outcome, &mut headers);
    let content_type = outcome
        .upstream_headers
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"content-type"))
        .map(|(_, v)| v.clone());
    let limit_rate = deliver::accel_limit_rate(&head.headers, p.ignore_headers);
    if limit_rate.is_some() {
        outcome.limit_rate = limit_rate;
    }
    AccelRedirect {
        to,
        headers,
        content_type,
        limit_rate,
    }
}

/// Ends the exchange whose answer was a redirect: a connection whose answer has no body
/// (nginx's proxy module sets `u->keepalive` for those as it reads the head) goes back to
/// the keepalive cache, any other closes; the server is no longer busy.
pub fn release(conn: PeerConn, head: &ResponseHead, hold: Hold) {
    let bodiless = matches!(head.framing, Framing::None | Framing::Length(0));
    if bodiless
        && head.keepalive
        && let Some(pool) = &hold.upstream.pool
    {
        pool.put(conn);
    }
}
