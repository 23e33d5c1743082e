//! `add_trailer` (`ngx_http_trailers_filter`): a level's lines, compiled once, evaluated by
//! the runtime once an answer's body has ended, for the statuses the headers filter serves
//! (any with `always`). The chunked filter frames an answer that expects trailers, whatever
//! its length, and writes them after the last chunk.

use std::sync::{Arc, Weak};

use bytes::Bytes;

use super::added::applies;
use super::plan::{AddedTrailers, Outcome, RequestInfo};
use super::site::Inner;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::settings::Settings;

/// A level's `add_trailer` lines: name, value, `always`.
#[derive(Debug)]
pub struct CTrailers {
    lines: Vec<(Bytes, Complex, bool)>,
    /// The site, to re-read the request (server, location, `set` values) as routing left it.
    site: Weak<Inner>,
}

/// The level's trailers, `None` without `add_trailer` (or after an error, reported).
pub fn compile(
    cx: &mut Cx<'_>,
    reg: &Registry,
    st: &Settings,
    site: &Weak<Inner>,
) -> Option<Arc<dyn AddedTrailers>> {
    let mut lines = Vec::new();
    for t in st.add_trailer.as_deref()? {
        let value = Complex::compile(cx, reg, &t.value)?;
        lines.push((Bytes::from(t.name.clone()), value, t.always));
    }
    Some(Arc::new(CTrailers {
        lines,
        site: site.clone(),
    }))
}

impl AddedTrailers for CTrailers {
    fn expected(&self, status: u16) -> bool {
        self.lines
            .iter()
            .any(|(_, _, always)| applies(status, *always))
    }

    fn evaluate(&self, request: &RequestInfo<'_>, outcome: &Outcome) -> Vec<(Bytes, Bytes)> {
        let Some(site) = self.site.upgrade() else {
            return Vec::new();
        };
        let mut req = super::route::prepare(&site, request);
        req.outcome = Some(outcome);
        req.trailers = Some(Vec::new());
        for (name, value, always) in &self.lines {
            if !applies(outcome.status, *always) {
                continue;
            }
            let value = value.eval(&mut req);
            if !value.is_empty() {
                let set = req.trailers.get_or_insert_with(Vec::new);
                set.push((name.clone(), Bytes::from(value)));
            }
        }
        req.trailers.take().unwrap_or_default()
    }
}
