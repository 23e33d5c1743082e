//! ngxr: serves an existing nginx configuration. The stages, each in its own module, run in
//! one direction: [`syntax`] (text → tree) → [`check`] (nginx's directive rules) → `config`
//! (typed IR) → `eval` (compiled evaluators) → `runtime` (serving).

pub mod diag;
pub mod source;
pub mod syntax;
