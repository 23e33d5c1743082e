//! What routing decided and why, recorded only when asked (by `ngxr explain`), so explain
//! shows the very decisions the proxy makes instead of re-deriving them.

use std::sync::Arc;

use super::plan::UpstreamGroup;
use crate::source::Span;

#[derive(Debug, Default)]
pub struct Trace {
    pub server: Option<ServerChoice>,
    /// Every location looked at, in the order nginx looks.
    pub candidates: Vec<Candidate>,
    pub location: Option<Candidate>,
    /// The `if` block whose configuration the request went on with, if any.
    pub if_block: Option<Span>,
    /// Variables read, in order of first use, with their values.
    pub variables: Vec<(String, String)>,
    /// Other decisions (map lookups, redirects, answers).
    pub notes: Vec<String>,
    pub upstream: Option<Arc<UpstreamGroup>>,
}

#[derive(Debug, Clone)]
pub struct ServerChoice {
    pub span: Span,
    pub names: Vec<String>,
    pub why: String,
}

#[derive(Debug, Clone)]
pub struct Candidate {
    pub span: Span,
    /// `=`, `^~`, `~`, `~*`, `` (prefix), `@`.
    pub modifier: &'static str,
    pub name: String,
    pub verdict: String,
}

/// Records into an optional trace without the caller checking each time.
pub fn note(trace: &mut Option<&mut Trace>, f: impl FnOnce(&mut Trace)) {
    if let Some(t) = trace.as_deref_mut() {
        f(t);
    }
}
