//! Response heads as nginx's header filter writes them: status line with nginx's (or the
//! upstream's) reason phrase, then `Server`, `Date`, `Content-Type`, `Content-Length`,
//! `Last-Modified`, `Location`, `Transfer-Encoding`, `Connection`, then the remaining headers
//! in order, then `add_header`s.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response};

use super::body::ProxyBody;
use super::pages;
use crate::defaults::NGINX_VERSION;

/// The headers nginx writes first, taken out of the header list.
#[derive(Debug, Default)]
pub struct Front {
    pub content_type: Option<Bytes>,
    pub content_length: Option<u64>,
    pub last_modified: Option<Bytes>,
    pub location: Option<Bytes>,
    pub chunked: bool,
    /// `keep-alive`, `close` or `upgrade`.
    pub connection: &'static str,
    /// `server_tokens off`: `Server: nginx`, no version.
    pub hide_version: bool,
}

impl Front {
    /// Moves the headers nginx places itself out of `headers`. A `Location` moves only when
    /// the header filter makes it absolute (see `location_base`).
    pub fn take_from(
        headers: &mut Vec<(Bytes, Bytes)>,
        connection: &'static str,
        location_base: Option<&Bytes>,
    ) -> Front {
        let mut front = Front::take(headers, connection, true);
        if let Some(base) = location_base
            && let Some(at) = headers
                .iter()
                .position(|(n, v)| n.eq_ignore_ascii_case(b"location") && v.first() == Some(&b'/'))
        {
            let (_, value) = headers.remove(at);
            front.location = Some(Bytes::from([&base[..], &value].concat()));
        }
        front
    }

    /// For an upstream's answer: only `Content-Type` moves; nginx keeps the upstream's
    /// `Last-Modified` and `Location` where they were (see `redirect::apply` for the exception).
    pub fn take_upstream(headers: &mut Vec<(Bytes, Bytes)>, connection: &'static str) -> Front {
        Front::take(headers, connection, false)
    }

    fn take(headers: &mut Vec<(Bytes, Bytes)>, connection: &'static str, all: bool) -> Front {
        let mut front = Front {
            connection,
            ..Front::default()
        };
        headers.retain(|(name, value)| {
            let slot = match name.to_ascii_lowercase().as_slice() {
                b"content-type" => &mut front.content_type,
                b"last-modified" if all => &mut front.last_modified,
                _ => return true,
            };
            *slot = Some(value.clone());
            false
        });
        front
    }
}

/// Builds the response. `reason` overrides nginx's phrase (an upstream's own); `add` are the
/// `add_header` lines that apply, evaluated.
pub fn build(
    status: u16,
    reason: Option<&[u8]>,
    front: Front,
    rest: &[(Bytes, Bytes)],
    add: &[(Bytes, Bytes)],
    body: ProxyBody,
) -> Response<ProxyBody> {
    let mut response = Response::new(body);
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    let reason = reason.or_else(|| pages::reason(status).map(str::as_bytes));
    if let Some(reason) = reason
        && Some(reason) != response.status().canonical_reason().map(str::as_bytes)
        && let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reason.to_vec())
    {
        response.extensions_mut().insert(phrase);
    }
    let h = response.headers_mut();
    let mut put = |name: &[u8], value: &[u8]| {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            h.append(n, v);
        }
    };
    if front.hide_version {
        put(b"server", b"nginx");
    } else {
        put(b"server", format!("nginx/{NGINX_VERSION}").as_bytes());
    }
    put(b"date", &http_date());
    if let Some(v) = &front.content_type {
        put(b"content-type", v);
    }
    if let Some(n) = front.content_length {
        put(b"content-length", n.to_string().as_bytes());
    }
    if let Some(v) = &front.last_modified {
        put(b"last-modified", v);
    }
    if let Some(v) = &front.location {
        put(b"location", v);
    }
    if front.chunked {
        put(b"transfer-encoding", b"chunked");
    }
    put(b"connection", front.connection.as_bytes());
    for (name, value) in rest.iter().chain(add) {
        put(name, value);
    }
    let size = head_size(&response);
    let (parts, mut body) = response.into_parts();
    body.record_head(size, &parts.headers);
    Response::from_parts(parts, body)
}

/// The bytes of a response head as written: `HTTP/1.1 101 Switching Protocols` (or the
/// upstream's own reason phrase), each `Name: value` line, the blank line.
pub fn head_size<B>(response: &Response<B>) -> u64 {
    let reason = match response.extensions().get::<hyper::ext::ReasonPhrase>() {
        Some(phrase) => phrase.as_bytes().len(),
        None => response.status().canonical_reason().map_or(0, str::len),
    };
    let line = "HTTP/1.1 ".len() + 3 + 1 + reason + 2;
    let fields: usize = response
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.len() + 2)
        .sum();
    (line + fields + 2) as u64
}

/// The `Date` value, formatted once per second per thread.
fn http_date() -> Bytes {
    thread_local! {
        static CACHE: RefCell<(u64, Bytes)> = const { RefCell::new((0, Bytes::new())) };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs || cache.1.is_empty() {
            *cache = (secs, Bytes::from(httpdate::fmt_http_date(now)));
        }
        cache.1.clone()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn head_size_counts_the_head_as_written() {
        let mut response = http::Response::new(());
        *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert("upgrade", http::HeaderValue::from_static("foo"));
        h.insert("connection", http::HeaderValue::from_static("upgrade"));
        let written =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\n";
        assert_eq!(super::head_size(&response), written.len() as u64);
        // An upstream's own reason phrase is what goes out.
        let phrase = hyper::ext::ReasonPhrase::from_static(b"Switching");
        response.extensions_mut().insert(phrase);
        let written = written.replace(" Protocols", "");
        assert_eq!(super::head_size(&response), written.len() as u64);
    }
}
