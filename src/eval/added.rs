//! `add_header` (`ngx_http_headers_filter`): the values compiled once per level, added to the
//! statuses nginx's headers filter adds them to (any status with `always`). nginx evaluates
//! them as the response head goes out; for the answers nginx writes itself (`return`, a
//! rewrite's redirect) that is when routing ends, for proxied ones once the upstream answered
//! ([`Deferred`], which the runtime calls then).

use std::sync::{Arc, Weak};

use bytes::Bytes;

use super::plan::{AddedHeaders, Outcome, RequestInfo};
use super::request::Req;
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

/// Appends to `headers` the lines that apply to `status` (`ngx_http_headers_filter`).
pub fn apply(add: &AddHeaders, status: u16, req: &mut Req<'_>, headers: &mut Vec<(Bytes, Bytes)>) {
    add_lines(add, status, |v| v.eval(req), headers);
}

/// The lines that apply to `status`, each value given by `value`; empty ones left out.
fn add_lines(
    add: &AddHeaders,
    status: u16,
    mut value: impl FnMut(&Complex) -> Vec<u8>,
    headers: &mut Vec<(Bytes, Bytes)>,
) {
    for (name, v, always) in add {
        if applies(status, *always) {
            let v = value(v);
            if !v.is_empty() {
                headers.push((name.clone(), Bytes::from(v)));
            }
        }
    }
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
    fn evaluate(&self, request: &RequestInfo<'_>, outcome: &Outcome) -> Vec<(Bytes, Bytes)> {
        let mut out = Vec::new();
        if self.literal {
            let literal = |v: &Complex| v.as_literal().unwrap_or_default().to_vec();
            add_lines(&self.lines, outcome.status, literal, &mut out);
            return out;
        }
        let Some(site) = self.site.upgrade() else {
            return out;
        };
        let mut req = super::route::prepare(&site, request);
        req.outcome = Some(outcome);
        apply(&self.lines, outcome.status, &mut req, &mut out);
        out
    }
}
