//! `expires` and `add_header` (`ngx_http_headers_filter`): compiled once per level, applied to
//! the statuses nginx's headers filter applies them to (`add_header ... always` to any status).
//! `Expires` and `Cache-Control` come first and replace the ones already in the answer (an
//! upstream's): nginx sets its `headers_out` slots for them, then adds the lines. The charset
//! filter runs after it. nginx evaluates
//! them as the response head goes out; for the answers nginx writes itself (`return`, a
//! rewrite's redirect) that is when routing ends, for proxied ones once the upstream answered
//! ([`Deferred`], which the runtime calls then).

use std::sync::{Arc, Weak};

use bytes::Bytes;

use super::charset::Charset;
use super::plan::{AddedHeaders, Outcome, RequestInfo};
use super::request::{Answer, Req};
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
    /// `source_charset`, which an upstream's `X-Accel-Charset` must match when the answer
    /// names no charset of its own.
    pub source_charset: Option<Bytes>,
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
    let mut out =
        AddHeaders {
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
            source_charset: st.charset.source.as_ref().and_then(|(name, _)| {
                (name != "off").then(|| Bytes::from(name.to_ascii_lowercase()))
            }),
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

/// nginx's headers filter on an answer with `status` whose `Last-Modified` is `last_modified`
/// (seconds): sets `Expires` and `Cache-Control` in `headers`, then appends the lines that
/// apply, the headers already in `headers` being those set before the filter runs.
pub fn apply(
    add: &AddHeaders,
    status: u16,
    last_modified: Option<i64>,
    req: &mut Req<'_>,
    headers: &mut Vec<(Bytes, Bytes)>,
) {
    apply_kept(add, status, last_modified, req, &mut Vec::new(), headers);
}

/// [`apply`] to an answer whose list of headers begins with `kept` (set before its handler
/// answered, see `Req::carried`): `expires` sets the `Expires` and `Cache-Control` among
/// them where they are, and adds to `headers` those they lack.
pub fn apply_kept(
    add: &AddHeaders,
    status: u16,
    last_modified: Option<i64>,
    req: &mut Req<'_>,
    kept: &mut Vec<(Bytes, Bytes)>,
    headers: &mut Vec<(Bytes, Bytes)>,
) {
    let mut answer = Answer {
        status,
        headers: kept.iter().chain(headers.iter()).cloned().collect(),
    };
    let values = expiry(add, status, last_modified, |v| v.eval(req));
    if let Some((expires, cache_control)) = values {
        set_expires(&mut answer.headers, expires.clone(), cache_control.clone());
        set_expires_in(kept, headers, expires, cache_control);
    }
    apply_to(add, answer, req, headers);
}

/// `expires` on `answer`: `Expires` and `Cache-Control` set in `head` and in the answer's
/// headers (where `add_header`'s `$sent_http_*` find them).
pub fn expires(
    add: &AddHeaders,
    answer: &mut Answer,
    last_modified: Option<i64>,
    req: &mut Req<'_>,
    head: &mut Vec<(Bytes, Bytes)>,
) {
    let values = expiry(add, answer.status, last_modified, |v| v.eval(req));
    if let Some((expires, cache_control)) = values {
        set_expires(&mut answer.headers, expires.clone(), cache_control.clone());
        set_expires(head, expires, cache_control);
    }
}

/// The `Expires` and `Cache-Control` values `expires` gives an answer with `status`, `value`
/// evaluating its variable form (whose text nginx parses per request, ignoring it when it
/// is not a valid time).
fn expiry(
    add: &AddHeaders,
    status: u16,
    last_modified: Option<i64>,
    value: impl FnOnce(&Complex) -> Vec<u8>,
) -> Option<(String, String)> {
    let e = add.expires.as_ref().filter(|_| applies(status, false))?;
    let e = match e {
        CExpires::Fixed(e) => *e,
        CExpires::Variable { modified, value: v } => {
            let text = value(v);
            filters::parse_expiry(std::str::from_utf8(&text).ok()?, *modified).ok()?
        }
    };
    dates(e, super::clock::now_secs(), last_modified)
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

/// Appends to `headers` the lines that apply to `answer.status`. Each is evaluated as nginx's
/// headers filter does it: `$status` is the answer's, and `$sent_http_*` finds the headers
/// already set (`answer.headers`) and the lines added before it.
pub fn apply_to(
    add: &AddHeaders,
    answer: Answer,
    req: &mut Req<'_>,
    headers: &mut Vec<(Bytes, Bytes)>,
) {
    apply_with_slots(add, answer, req, None, headers);
}

/// [`apply_to`] on an answer whose `ETag` and `Last-Modified` may be among `slots` (an
/// upstream's lines) rather than in `headers`.
fn apply_with_slots(
    add: &AddHeaders,
    answer: Answer,
    req: &mut Req<'_>,
    mut slots: Option<&mut Vec<(Bytes, Bytes)>>,
    headers: &mut Vec<(Bytes, Bytes)>,
) {
    let status = answer.status;
    req.answer = Some(answer);
    for (name, v, _) in lines_for(add, status) {
        let line = (name.clone(), Bytes::from(v.eval(req)));
        if let Some(answer) = &mut req.answer {
            add_line(&line, None, &mut answer.headers);
        }
        add_line(&line, slots.as_deref_mut(), headers);
    }
    req.answer = None;
}

/// One `add_header` line added as nginx's headers filter adds it. `ETag` and
/// `Last-Modified` (in any case) name one slot each (`ngx_http_set_response_header`): the
/// line takes the place of the answer's (found among `slots` first, else in `headers`), with
/// the name as written, and an empty value clears it. Any other line is appended unless its
/// value is empty.
fn add_line(
    (name, value): &(Bytes, Bytes),
    slots: Option<&mut Vec<(Bytes, Bytes)>>,
    headers: &mut Vec<(Bytes, Bytes)>,
) {
    let slot = [&b"etag"[..], b"last-modified"]
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s));
    if slot {
        let same = |(n, _): &(Bytes, Bytes)| n.eq_ignore_ascii_case(name);
        // The slot points at the last such line nginx copied.
        let list = match slots {
            Some(list) if list.iter().any(same) => list,
            _ => headers,
        };
        match (list.iter().rposition(same), value.is_empty()) {
            (Some(at), true) => {
                list.remove(at);
            }
            (Some(at), false) => list[at] = (name.clone(), value.clone()),
            (None, true) => {}
            (None, false) => list.push((name.clone(), value.clone())),
        }
    } else if !value.is_empty() {
        headers.push((name.clone(), value.clone()));
    }
}

/// The lines that apply to `status`.
fn lines_for(add: &AddHeaders, status: u16) -> impl Iterator<Item = &(Bytes, Complex, bool)> {
    add.lines
        .iter()
        .filter(move |(_, _, always)| applies(status, *always))
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
    set_expires_in(&mut Vec::new(), headers, expires, cache_control);
}

/// [`set_expires`] on an answer whose headers are `kept` then `headers`; those missing are
/// added to `headers`.
fn set_expires_in(
    kept: &mut Vec<(Bytes, Bytes)>,
    headers: &mut Vec<(Bytes, Bytes)>,
    expires: String,
    cache_control: String,
) {
    let named = |name: &'static [u8]| move |(n, _): &(Bytes, Bytes)| n.eq_ignore_ascii_case(name);
    let expires = Bytes::from(expires);
    if let Some(at) = headers.iter().rposition(named(b"expires")) {
        headers[at].1 = expires;
    } else if let Some(at) = kept.iter().rposition(named(b"expires")) {
        kept[at].1 = expires;
    } else {
        headers.push((Bytes::from_static(b"Expires"), expires));
    }
    let cache_control = Bytes::from(cache_control);
    let is_cc = named(b"cache-control");
    if let Some(at) = kept.iter().position(is_cc) {
        kept[at].1 = cache_control;
        keep_only(kept, at, is_cc);
        headers.retain(|h| !is_cc(h));
    } else if let Some(at) = headers.iter().position(is_cc) {
        headers[at].1 = cache_control;
        keep_only(headers, at, is_cc);
    } else {
        headers.push((Bytes::from_static(b"Cache-Control"), cache_control));
    }
}

/// Drops from `list` the lines after `at` that `is` names.
fn keep_only(list: &mut Vec<(Bytes, Bytes)>, at: usize, is: impl Fn(&(Bytes, Bytes)) -> bool) {
    let mut i = 0;
    list.retain(|h| {
        i += 1;
        i - 1 <= at || !is(h)
    });
}

/// A proxying location's headers and charset filters, applied when the runtime has the
/// answer.
#[derive(Debug)]
pub struct Deferred {
    lines: AddHeaders,
    /// An upstream's `X-Accel-Charset` is honoured (not in `proxy_ignore_headers`).
    accel_charset: bool,
    /// Every value is a literal: nothing to evaluate, no request to re-read.
    literal: bool,
    /// The site, to re-read the request (server, location, `set` values) as routing left it.
    site: Weak<Inner>,
}

impl Deferred {
    pub fn new(lines: AddHeaders, accel_charset: bool, site: &Weak<Inner>) -> Arc<Deferred> {
        let literal = lines.lines.iter().all(|(_, v, _)| v.as_literal().is_some())
            && !matches!(lines.expires, Some(CExpires::Variable { .. }));
        Arc::new(Deferred {
            lines,
            accel_charset,
            literal,
            site: site.clone(),
        })
    }
}

impl AddedHeaders for Deferred {
    fn reads_request(&self) -> bool {
        !self.literal
    }

    fn evaluate(
        &self,
        request: &RequestInfo<'_>,
        outcome: &Outcome,
        set: super::plan::HeadersSoFar<'_>,
        headers: &mut Vec<(Bytes, Bytes)>,
    ) -> Vec<(Bytes, Bytes)> {
        let mut out = Vec::new();
        // The upstream's `Last-Modified`, which nginx copies into its `headers_out` slot.
        let last_modified = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"last-modified"))
            .and_then(|(_, v)| super::clock::parse_time(v));
        let status = outcome.status;
        if self.literal {
            // No variable form: nothing to evaluate.
            let values = expiry(&self.lines, status, last_modified, |_| Vec::new());
            if let Some((expires, cache_control)) = values {
                set_expires(headers, expires, cache_control);
            }
            for (name, v, _) in lines_for(&self.lines, status) {
                let value = Bytes::copy_from_slice(v.as_literal().unwrap_or_default());
                add_line(&(name.clone(), value), Some(headers), &mut out);
            }
            self.charset(status, outcome, headers);
            return out;
        }
        let Some(site) = self.site.upgrade() else {
            return out;
        };
        let mut req = super::route::prepare(&site, request);
        req.outcome = Some(outcome);
        let mut answer = Answer {
            status,
            headers: set(headers),
        };
        expires(&self.lines, &mut answer, last_modified, &mut req, headers);
        apply_with_slots(&self.lines, answer, &mut req, Some(headers), &mut out);
        self.charset(status, outcome, headers);
        out
    }
}

impl Deferred {
    /// The charset filter on a proxied answer: the upstream's `X-Accel-Charset` (the last
    /// one) when honoured, else the level's `charset`.
    fn charset(&self, status: u16, outcome: &Outcome, headers: &mut [(Bytes, Bytes)]) {
        let accel = outcome
            .upstream_headers
            .iter()
            .rev()
            .find(|(n, v)| n.eq_ignore_ascii_case(b"x-accel-charset") && !v.is_empty())
            .filter(|_| self.accel_charset);
        let Some((_, name)) = accel else {
            return charset(&self.lines, status, headers);
        };
        let Some(site) = self.site.upgrade() else {
            return;
        };
        let source = self.lines.source_charset.as_deref();
        // The upstream's last `Content-Type` is the one sent.
        if let Some((_, ct)) = headers
            .iter_mut()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"content-type"))
        {
            super::charset::overridden(name, &site.charsets, source, status, ct);
        }
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
