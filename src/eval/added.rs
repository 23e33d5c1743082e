//! `add_header` (`ngx_http_headers_filter`): the values compiled once per level, added to the
//! statuses nginx's headers filter adds them to (any status with `always`). nginx evaluates
//! them as the response head goes out; for the answers nginx writes itself (`return`, a
//! rewrite's redirect) that is when routing ends, for proxied ones once the upstream answered
//! ([`Deferred`], which the runtime calls then).

use std::sync::{Arc, Weak};

use bytes::Bytes;

use super::plan::{AddedHeaders, Outcome, RequestInfo};
use super::request::{Answer, Req};
use super::site::Inner;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::settings::Settings;

/// A level's `add_header` lines: name, value, `always`.
pub type AddHeaders = Vec<(Bytes, Complex, bool)>;

/// Compiles the `add_header`s in effect at a level; `None` after an error (reported).
pub fn compile(cx: &mut Cx<'_>, reg: &Registry, st: &Settings) -> Option<AddHeaders> {
    let mut out = Vec::new();
    for h in st.add_header.as_deref().unwrap_or_default() {
        let value = Complex::compile(cx, reg, &h.value)?;
        out.push((Bytes::from(h.name.clone()), value, h.always));
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

/// Appends to `headers` the lines that apply to `status` (`ngx_http_headers_filter`), the
/// headers already in `headers` being those set before the filter runs.
pub fn apply(add: &AddHeaders, status: u16, req: &mut Req<'_>, headers: &mut Vec<(Bytes, Bytes)>) {
    let answer = Answer {
        status,
        headers: headers.clone(),
    };
    apply_to(add, answer, req, headers);
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
    let status = answer.status;
    req.answer = Some(answer);
    for (name, v, _) in lines_for(add, status) {
        let v = v.eval(req);
        if v.is_empty() {
            continue;
        }
        let line = (name.clone(), Bytes::from(v));
        if let Some(answer) = &mut req.answer {
            answer.headers.push(line.clone());
        }
        headers.push(line);
    }
    req.answer = None;
}

/// The lines that apply to `status`.
fn lines_for(add: &AddHeaders, status: u16) -> impl Iterator<Item = &(Bytes, Complex, bool)> {
    add.iter()
        .filter(move |(_, _, always)| applies(status, *always))
}

/// A proxying location's `add_header`s, evaluated when the runtime has the answer.
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
        let literal = lines.iter().all(|(_, v, _)| v.as_literal().is_some());
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
        set: &[(Bytes, Bytes)],
    ) -> Vec<(Bytes, Bytes)> {
        let mut out = Vec::new();
        if self.literal {
            let literal = |(name, v, _): &(Bytes, Complex, bool)| {
                let v = v.as_literal().filter(|v| !v.is_empty())?;
                Some((name.clone(), Bytes::copy_from_slice(v)))
            };
            out.extend(lines_for(&self.lines, outcome.status).filter_map(literal));
            return out;
        }
        let Some(site) = self.site.upgrade() else {
            return out;
        };
        let mut req = super::route::prepare(&site, request);
        req.outcome = Some(outcome);
        let answer = Answer {
            status: outcome.status,
            headers: set.to_vec(),
        };
        apply_to(&self.lines, answer, &mut req, &mut out);
        out
    }
}
