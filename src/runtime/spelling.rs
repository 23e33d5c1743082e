//! Header names as the upstream spelled them. nginx passes an upstream header's name byte for
//! byte (`ETag`, `Sec-WebSocket-Accept`, `x-custom`); hyper writes names in Title-Case unless
//! the response carries its (private) case map, which only hyper's own parser can build. So
//! when a response has a name that Title-Case would respell, the same names are run once
//! through hyper's client parser in memory and the resulting map is cached by the exact name
//! sequence: backends send the same header set again and again.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use http::{Extensions, Request};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Distinct name sequences remembered.
const CACHE_SIZE: usize = 512;

static CACHE: OnceLock<Mutex<HashMap<Vec<u8>, Extensions>>> = OnceLock::new();

/// Extensions that make hyper write the upstream's header names (`rest`) and the configured
/// `add_header` names exactly as given; `None` when Title-Case already spells them all so (the
/// common case, at no cost). Attach with `extensions_mut().extend(..)`.
pub async fn preserving(rest: &[(Bytes, Bytes)], add: &[(Bytes, Bytes)]) -> Option<Extensions> {
    let names: Vec<&[u8]> = rest.iter().chain(add).map(|(n, _)| &n[..]).collect();
    cached(&names).await
}

async fn cached(names: &[&[u8]]) -> Option<Extensions> {
    if names.iter().all(|n| is_title_case(n)) {
        return None;
    }
    let key = names.join(&b'\n');
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(found) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Some(found.clone());
    }
    let parsed = parse(names).await?;
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() < CACHE_SIZE {
        map.insert(key, parsed.clone());
    }
    Some(parsed)
}

/// Whether hyper's Title-Case writer would reproduce `name` unchanged.
fn is_title_case(name: &[u8]) -> bool {
    let mut upper = true;
    name.iter().all(|&c| {
        let ok = if upper {
            !c.is_ascii_lowercase()
        } else {
            !c.is_ascii_uppercase()
        };
        upper = c == b'-';
        ok
    })
}

/// Runs a response naming `names` through hyper's client with `preserve_header_case` over an
/// in-memory pipe and keeps the extensions it produced.
async fn parse(names: &[&[u8]]) -> Option<Extensions> {
    let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
    for name in names {
        head.extend_from_slice(name);
        head.extend_from_slice(b": x\r\n");
    }
    head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let (ours, mut theirs) = tokio::io::duplex(head.len() + 1024);
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .preserve_header_case(true)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(ours))
        .await
        .ok()?;
    // hyper's client refuses an answer that comes before its request: read the request first,
    // then answer and end the stream so the connection finishes.
    let answer = async move {
        let mut seen = Vec::new();
        let mut chunk = [0u8; 256];
        while !seen.ends_with(b"\r\n\r\n") {
            match theirs.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = theirs.write_all(&head).await;
        let _ = theirs.shutdown().await;
    };
    let request = Request::get("/").body(Empty::new()).ok()?;
    let (response, _, _) = tokio::join!(sender.send_request(request), conn, answer);
    let response = response.ok()?;
    let mut extensions = response.into_parts().0.extensions;
    extensions.remove::<hyper::ext::ReasonPhrase>();
    Some(extensions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_case_is_recognised() {
        assert!(is_title_case(b"Content-Type"));
        assert!(is_title_case(b"X-Real-Ip"));
        assert!(!is_title_case(b"ETag"));
        assert!(!is_title_case(b"sec-websocket-accept"));
        assert!(!is_title_case(b"Sec-WebSocket-Accept"));
    }
}

#[cfg(test)]
mod parse_tests {
    #[tokio::test]
    async fn hyper_builds_a_case_map_for_odd_spellings() {
        let ext = super::cached(&[b"ETag", b"x-lower"]).await;
        assert!(ext.is_some_and(|e| e.len() == 1));
    }
}
