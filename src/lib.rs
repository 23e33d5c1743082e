//! ngxr: serves an existing nginx configuration. The stages, each in its own module, run in
//! one direction: [`syntax`] (text → tree) → [`directives`] and [`check`] (nginx's directive
//! rules) → `config` (typed IR) → `eval` (compiled evaluators) → [`runtime`] (serving).

pub mod check;
pub mod cli;
pub mod config;
pub mod defaults;
pub mod demo;
pub mod diag;
pub mod directives;
pub mod eval;
pub mod explain;
pub mod lint;
pub mod load;
pub mod runtime;
pub mod source;
pub mod syntax;
pub mod units;
pub mod x509;
