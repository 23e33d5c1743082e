//! `expires` and `add_header` (`ngx_http_headers_filter`): compiled once per level, applied to
//! the statuses nginx's headers filter applies them to (`add_header ... always` to any status).
//! `Expires` and `Cache-Control` come first and replace the ones already in the answer (an
//! upstream's): nginx sets its `headers_out` slots for them, then adds the lines. nginx evaluates
//! them as the response head goes out; for the answers nginx writes itself (`return`, a
//! rewrite's redirect) that is when routing ends, for proxied ones once the upstream answered
//! ([`Deferred`], which the runtime calls then).

use std::sync::{Arc, Weak};

use bytes::Bytes;

use super::charset::Charset;
use super::plan::{AddedHeaders, Outcome, RequestInfo};
use super::request::Req;
use super::site::Inner;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::filters::{self, Expires, Expiry};
use crate::config::settings::Settings;

/// A level's filters of the response head: the headers filter (`expires`, the `add_header`
/// lines) and the charset filter that runs after it.
#[derive(Debug, Default)]
pub struct AddHeaders {
    pub expires: Option<CExpires>,
    /// Name, value, `always`.
    pub lines: Vec<(Bytes, Complex, bool)>,
    pub charset: Option<Charset>,
}

/// `expires`, its value known or compiled.
#[derive(Debug)]
pub enum CExpires {
    Fixed(Expiry),
    Variable { modified: bool, value: Complex },
}

/// Compiles the `expires` and `add_header`s in effect at a level; `None` after an error
/// (reported).
pub fn compile(cx: &mut Cx<'_>, reg: &Registry, st: &Settings) -> Option<AddHeaders> {
    let mut out = AddHeaders {
        expires: match &st.expires {
            None | Some(Expires::Fixed(Expiry::Off)) => None,
            Some(Expires::Fixed(e)) => Some(CExpires::Fixed(*e)),
            Some(Expires::Variable { modified, value }) => Some(CExpires::Variable {
                modified: *modified,
                value: Complex::compile(cx, reg, value)?,
            }),
        },
        lines: Vec::new(),
        charset: Charset::compile(cx, st),
    };
    for h in st.add_header.as_deref().unwrap_or_default() {
        let value = Complex::compile(cx, reg, &h.value)?;
        out.lines
            .push((Bytes::from(h.name.clone()), value, h.always));
    }
    Some(out)
}

/// Whether nginx's headers filter adds a line (with `always` or not) to an answer with
/// `status`.
pub fn applies(status: u16, always: bool) -> bool {
    always
        || matches!(
            status,
            200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
        )
}

/// The charset filter on an answer with `status`: the first `Content-Type` in `headers`
/// names the level's charset if it applies.
pub fn charset(add: &AddHeaders, status: u16, headers: &mut [(Bytes, Bytes)]) {
    if let Some(c) = &add.charset
        && let Some((_, ct)) = headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"content-type"))
    {
        c.apply(status, ct);
    }
}

/// nginx's headers filter on an answer with `status` whose `Last-Modified` is `last_modified`
/// (seconds): sets `Expires` and `Cache-Control` in `headers`, then appends the lines that
/// apply.
pub fn apply(
    add: &AddHeaders,
    status: u16,
    last_modified: Option<i64>,
    req: &mut Req<'_>,
    headers: &mut Vec<(Bytes, Bytes)>,
) {
    let mut lines = Vec::new();
    filter(
        add,
        status,
        last_modified,
        |v| v.eval(req),
        headers,
        &mut lines,
    );
    headers.append(&mut lines);
}

/// The headers filter with values given by `value`: `Expires` and `Cache-Control` set in
/// `head`, the `add_header` lines that apply appended to `lines`.
fn filter(
    add: &AddHeaders,
    status: u16,
    last_modified: Option<i64>,
    mut value: impl FnMut(&Complex) -> Vec<u8>,
    head: &mut Vec<(Bytes, Bytes)>,
    lines: &mut Vec<(Bytes, Bytes)>,
) {
    if let Some(e) = &add.expires
        && applies(status, false)
    {
        let expiry = match e {
            CExpires::Fixed(e) => Some(*e),
            CExpires::Variable { modified, value: v } => std::str::from_utf8(&value(v))
                .ok()
                .and_then(|v| filters::parse_expiry(v, *modified).ok()),
        };
        let now = super::clock::now_secs();
        if let Some((expires, cache_control)) = expiry.and_then(|e| dates(e, now, last_modified)) {
            set_expires(head, expires, cache_control);
        }
    }
    add_lines(&add.lines, status, value, lines);
}

/// The `Expires` and `Cache-Control` values `ngx_http_set_expires` writes at `now`; `None` for
/// `off`.
fn dates(e: Expiry, now: i64, last_modified: Option<i64>) -> Option<(String, String)> {
    let (at, max_age, time) = match e {
        Expiry::Off => return None,
        Expiry::Epoch => {
            return Some((super::clock::http_date(1), "no-cache".into()));
        }
        // nginx's fixed date, and ten years.
        Expiry::Max => {
            let cc = "max-age=315360000".into();
            return Some(("Thu, 31 Dec 2037 23:55:55 GMT".into(), cc));
        }
        Expiry::Access(0) | Expiry::Modified(0) => {
            return Some((super::clock::http_date(now), "max-age=0".into()));
        }
        Expiry::Daily(t) => {
            // The next time this second of the day comes (in UTC: ngxr's clock zone).
            let mut at = now - now.rem_euclid(86_400) + t;
            if at <= now {
                at += 86_400;
            }
            (at, at - now, t)
        }
        Expiry::Modified(t) => match last_modified {
            Some(lm) => (lm + t, lm + t - now, t),
            None => (now + t, t, t),
        },
        Expiry::Access(t) => (now + t, t, t),
    };
    let cache_control = if time < 0 || max_age < 0 {
        "no-cache".to_string()
    } else {
        format!("max-age={max_age}")
    };
    Some((super::clock::http_date(at), cache_control))
}

/// Puts the values in the answer's `Expires` (the last one, nginx's slot) and first
/// `Cache-Control` (dropping the others), adding each that is missing at the end.
fn set_expires(headers: &mut Vec<(Bytes, Bytes)>, expires: String, cache_control: String) {
    let named = |name: &'static [u8]| move |(n, _): &(Bytes, Bytes)| n.eq_ignore_ascii_case(name);
    match headers.iter().rposition(named(b"expires")) {
        Some(at) => headers[at].1 = Bytes::from(expires),
        None => headers.push((Bytes::from_static(b"Expires"), Bytes::from(expires))),
    }
    match headers.iter().position(named(b"cache-control")) {
        Some(at) => {
            headers[at].1 = Bytes::from(cache_control);
            let mut i = 0;
            headers.retain(|h| {
                i += 1;
                i - 1 <= at || !named(b"cache-control")(h)
            });
        }
        None => headers.push((
            Bytes::from_static(b"Cache-Control"),
            Bytes::from(cache_control),
        )),
    }
}

/// The lines that apply to `status`, each value given by `value`; empty ones left out.
fn add_lines(
    lines: &[(Bytes, Complex, bool)],
    status: u16,
    mut value: impl FnMut(&Complex) -> Vec<u8>,
    headers: &mut Vec<(Bytes, Bytes)>,
) {
    for (name, v, always) in lines {
        if applies(status, *always) {
            let v = value(v);
            if !v.is_empty() {
                headers.push((name.clone(), Bytes::from(v)));
            }
        }
    }
}

/// A proxying location's headers filter, applied when the runtime has the answer.
#[derive(Debug)]
pub struct Deferred {
    lines: AddHeaders,
    /// Every value is a literal: nothing to evaluate, no request to re-read.
    literal: bool,
    /// The site, to re-read the request (server, location, `set` values) as routing left it.
    site: Weak<Inner>,
}

impl Deferred {
    pub fn new(lines: AddHeaders, site: &Weak<Inner>) -> Arc<Deferred> {
        let literal = lines.lines.iter().all(|(_, v, _)| v.as_literal().is_some())
            && !matches!(lines.expires, Some(CExpires::Variable { .. }));
        Arc::new(Deferred {
            lines,
            literal,
            site: site.clone(),
        })
    }
}

impl AddedHeaders for Deferred {
    fn evaluate(
        &self,
        request: &RequestInfo<'_>,
        outcome: &Outcome,
        headers: &mut Vec<(Bytes, Bytes)>,
    ) -> Vec<(Bytes, Bytes)> {
        let mut out = Vec::new();
        // The upstream's `Last-Modified`, which nginx copies into its `headers_out` slot.
        let last_modified = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"last-modified"))
            .and_then(|(_, v)| super::conditional::parse_time(v));
        let (status, lines) = (outcome.status, &self.lines);
        charset(lines, status, headers);
        if self.literal {
            let literal = |v: &Complex| v.as_literal().unwrap_or_default().to_vec();
            filter(lines, status, last_modified, literal, headers, &mut out);
            return out;
        }
        let Some(site) = self.site.upgrade() else {
            return out;
        };
        let mut req = super::route::prepare(&site, request);
        req.outcome = Some(outcome);
        filter(
            lines,
            status,
            last_modified,
            |v| v.eval(&mut req),
            headers,
            &mut out,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_ngx_http_set_expires_writes_them() {
        let now = 1_700_000_000; // Tue, 14 Nov 2023 22:13:20 GMT
        let p = |a: &str, c: &str| Some((a.to_string(), c.to_string()));
        assert_eq!(dates(Expiry::Off, now, None), None);
        assert_eq!(
            dates(Expiry::Access(3600), now, None),
            p("Tue, 14 Nov 2023 23:13:20 GMT", "max-age=3600")
        );
        assert_eq!(
            dates(Expiry::Access(-1), now, None),
            p("Tue, 14 Nov 2023 22:13:19 GMT", "no-cache")
        );
        assert_eq!(
            dates(Expiry::Access(0), now, None),
            p("Tue, 14 Nov 2023 22:13:20 GMT", "max-age=0")
        );
        // After Last-Modified; a date already past is `no-cache`.
        assert_eq!(
            dates(Expiry::Modified(86_400), now, Some(now - 3600)),
            p("Wed, 15 Nov 2023 21:13:20 GMT", "max-age=82800")
        );
        assert_eq!(
            dates(Expiry::Modified(60), now, Some(now - 3600)),
            p("Tue, 14 Nov 2023 21:14:20 GMT", "no-cache")
        );
        assert_eq!(
            dates(Expiry::Modified(60), now, None),
            p("Tue, 14 Nov 2023 22:14:20 GMT", "max-age=60")
        );
        // `@time`: later today, else tomorrow.
        assert_eq!(
            dates(Expiry::Daily(23 * 3600), now, None),
            p("Tue, 14 Nov 2023 23:00:00 GMT", "max-age=2800")
        );
        assert_eq!(
            dates(Expiry::Daily(3600), now, None),
            p("Wed, 15 Nov 2023 01:00:00 GMT", "max-age=10000")
        );
        assert_eq!(
            dates(Expiry::Max, now, None),
            p("Thu, 31 Dec 2037 23:55:55 GMT", "max-age=315360000")
        );
        assert_eq!(
            dates(Expiry::Epoch, now, None),
            p("Thu, 01 Jan 1970 00:00:01 GMT", "no-cache")
        );
    }

    #[test]
    fn an_answers_own_lines_give_way() {
        let h = |n: &'static str, v: &'static str| (Bytes::from(n), Bytes::from(v));
        let mut headers = vec![
            h("cache-control", "private"),
            h("Expires", "0"),
            h("X-A", "1"),
            h("Cache-Control", "no-store"),
        ];
        set_expires(&mut headers, "E".into(), "C".into());
        assert_eq!(
            headers,
            [h("cache-control", "C"), h("Expires", "E"), h("X-A", "1")]
        );
        let mut headers = vec![h("X-A", "1")];
        set_expires(&mut headers, "E".into(), "C".into());
        assert_eq!(
            headers,
            [h("X-A", "1"), h("Expires", "E"), h("Cache-Control", "C")]
        );
    }
}
