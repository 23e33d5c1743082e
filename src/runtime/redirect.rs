//! `proxy_redirect` on an upstream's answer, as nginx's proxy module does it: the first rule
//! whose prefix starts a `Location` value (or the URL after `url=` in a `Refresh` value) has
//! that prefix replaced. A `Location` a rule rewrote to start with `/` is then made absolute by
//! the header filter and moves to the filter's own place among the first headers; every other
//! header stays where the upstream put it.

use bytes::Bytes;

use crate::eval::plan::{Outcome, ProxyRequest, RequestInfo};

/// Rewrites `headers` in place; returns the absolute `Location` taken out of them, if any.
/// `outcome` is what the rules' variables may read; its `upstream_headers` (the upstream's
/// own lines) get the marks nginx's in-place rewrites leave in its buffer.
pub fn apply(
    headers: &mut Vec<(Bytes, Bytes)>,
    p: &ProxyRequest,
    request: &RequestInfo<'_>,
    outcome: &mut Outcome,
) -> Option<Bytes> {
    let rules = p.redirects.as_deref()?;
    let mut front = None;
    // (header name, which line of that name, the upstream's line as nginx leaves it)
    let mut marks = Vec::new();
    let (mut locations, mut refreshes) = (0, 0);
    let mut i = 0;
    while i < headers.len() {
        let (name, value) = &mut headers[i];
        i += 1;
        let (at, seen) = if name.eq_ignore_ascii_case(b"location") {
            (Some(0), &mut locations)
        } else if name.eq_ignore_ascii_case(b"refresh") {
            (url_start(value), &mut refreshes)
        } else {
            continue;
        };
        *seen += 1;
        let Some(rewritten) = at.and_then(|at| rules.rewrite(request, outcome, value, at)) else {
            continue;
        };
        if let Some(mark) = rewritten.mark {
            marks.push((name.clone(), *seen, Bytes::from(mark)));
        }
        match &p.location_base {
            Some(base) if at == Some(0) && rewritten.value.first() == Some(&b'/') => {
                front = Some(Bytes::from([&base[..], &rewritten.value].concat()));
                i -= 1;
                headers.remove(i);
            }
            _ => *value = Bytes::from(rewritten.value),
        }
    }
    for (name, nth, mark) in marks {
        let lines = outcome.upstream_headers.iter_mut();
        if let Some((_, line)) = lines
            .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
            .nth(nth - 1)
        {
            *line = mark;
        }
    }
    front
}

/// Where the URL starts in a `Refresh` value: after the first `url=`, in any case.
fn url_start(value: &[u8]) -> Option<usize> {
    value
        .windows(4)
        .position(|w| w.eq_ignore_ascii_case(b"url="))
        .map(|i| i + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_url_of_a_refresh_in_any_case() {
        assert_eq!(url_start(b"5; URL=http://127.0.0.1:8081/x"), Some(7));
        assert_eq!(url_start(b"5; url=/x"), Some(7));
        assert_eq!(url_start(b"5"), None);
    }
}
