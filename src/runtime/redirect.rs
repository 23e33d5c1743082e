//! `proxy_redirect` on an upstream's answer, as nginx's proxy module does it: the first rule
//! whose prefix starts a `Location` value (or the URL after `url=` in a `Refresh` value) has
//! that prefix replaced. A `Location` a rule rewrote to start with `/` is then made absolute by
//! the header filter and moves to the filter's own place among the first headers; every other
//! header stays where the upstream put it.

use bytes::Bytes;

use crate::eval::plan::ProxyRequest;

/// Rewrites `headers` in place; returns the absolute `Location` taken out of them, if any.
pub fn apply(headers: &mut Vec<(Bytes, Bytes)>, p: &ProxyRequest) -> Option<Bytes> {
    if p.redirects.is_empty() {
        return None;
    }
    let mut front = None;
    headers.retain_mut(|(name, value)| {
        if name.eq_ignore_ascii_case(b"location") {
            let Some(rewritten) = rewrite(value, 0, &p.redirects) else {
                return true;
            };
            match &p.location_base {
                Some(base) if rewritten.first() == Some(&b'/') => {
                    front = Some(Bytes::from([&base[..], &rewritten].concat()));
                    return false;
                }
                _ => *value = rewritten,
            }
        } else if name.eq_ignore_ascii_case(b"refresh")
            && let Some(at) = url_start(value)
            && let Some(rewritten) = rewrite(value, at, &p.redirects)
        {
            *value = rewritten;
        }
        true
    });
    front
}

/// `value` with the first matching rule applied to what follows `at`; `None` if none matches.
fn rewrite(value: &[u8], at: usize, rules: &[(Bytes, Bytes)]) -> Option<Bytes> {
    let url = value.get(at..)?;
    let (prefix, replacement) = rules.iter().find(|(prefix, _)| url.starts_with(prefix))?;
    Some(Bytes::from(
        [&value[..at], replacement, &url[prefix.len()..]].concat(),
    ))
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

    fn rules() -> Vec<(Bytes, Bytes)> {
        vec![(
            Bytes::from_static(b"http://127.0.0.1:8081/"),
            Bytes::from_static(b"/app/"),
        )]
    }

    #[test]
    fn replaces_the_first_matching_prefix() {
        let got = rewrite(b"http://127.0.0.1:8081/x?y", 0, &rules());
        assert_eq!(got.as_deref(), Some(&b"/app/x?y"[..]));
        assert_eq!(rewrite(b"http://other/x", 0, &rules()), None);
    }

    #[test]
    fn rewrites_the_url_of_a_refresh() {
        let value = b"5; URL=http://127.0.0.1:8081/x";
        let at = url_start(value).expect("url=");
        let got = rewrite(value, at, &rules());
        assert_eq!(got.as_deref(), Some(&b"5; URL=/app/x"[..]));
    }
}
