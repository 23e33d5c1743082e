//! The whole load pipeline in one call: read and parse (with includes) → nginx's directive
//! rules → typed configuration → compiled site. Used by `check`, `-t`, `explain` and the
//! server (at start and on every reload).

use std::sync::Arc;

use crate::cli::Paths;
use crate::diag::{Diagnostic, Sink};
use crate::eval::plan::Site;
use crate::syntax::{self, SyntaxTree};

pub use crate::syntax::include::OpenError;

/// A configuration read as far as it could be.
#[derive(Debug)]
pub struct Loaded {
    pub tree: SyntaxTree,
    /// Every diagnostic, in no particular order (`Sink::first_nginx_error` finds nginx's).
    pub diagnostics: Vec<Diagnostic>,
    /// Diagnostics beyond what is kept (see `Sink`), only counted.
    pub dropped: usize,
    /// Present only when there is no error.
    pub site: Option<Arc<dyn Site>>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Reads, checks and compiles the configuration at `paths.conf`.
pub fn load(paths: &Paths) -> Result<Loaded, OpenError> {
    load_with_globals(paths, None)
}

/// [`load`] with nginx's `-g` directives, read before the file.
pub fn load_with_globals(paths: &Paths, globals: Option<&str>) -> Result<Loaded, OpenError> {
    let tree = syntax::load(&paths.conf, &paths.conf_prefix, globals)?;
    let mut sink = Sink::default();
    crate::directives::check_tree(&tree, paths, &mut sink);
    crate::lint::lint(&tree, &mut sink);
    // Compiled even after errors, so one `check` run reports the problems of every stage.
    let site = crate::eval::compile(&tree, paths, &mut sink).map(|c| Arc::new(c) as Arc<dyn Site>);
    let site = if sink.has_errors() { None } else { site };
    Ok(Loaded {
        tree,
        dropped: sink.dropped(),
        diagnostics: sink.into_vec(),
        site,
    })
}
