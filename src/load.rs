//! The whole load pipeline in one call: read and parse (with includes) → nginx's directive
//! rules → typed configuration → compiled site. Used by `check`, `-t`, `explain` and the
//! server (at start and on every reload).

use std::sync::Arc;

use crate::cli::Paths;
use crate::diag::{Diagnostic, Origin, Sink};
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

    /// Why this configuration cannot be served, in nginx's `[emerg]` form: the error nginx
    /// would stop at, else the first directive ngxr does not implement (ngxr refuses to start
    /// rather than silently ignore it).
    pub fn refusal(&self) -> Option<String> {
        let first_error = self
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .min_by_key(|d| (d.origin != Origin::Nginx, d.order));
        let first_unsupported = || {
            self.diagnostics
                .iter()
                .filter(|d| d.code == crate::directives::UNSUPPORTED)
                .min_by_key(|d| d.order)
        };
        first_error
            .or_else(first_unsupported)
            .map(|d| d.nginx_text(&self.tree.sources))
    }
}

/// The site to serve, or the `[emerg]` message that says why not (see [`Loaded::refusal`]).
pub fn site_for_serving(paths: &Paths, globals: Option<&str>) -> Result<Arc<dyn Site>, String> {
    let loaded = load_with_globals(paths, globals).map_err(|e| e.to_string())?;
    if let Some(why) = loaded.refusal() {
        return Err(why);
    }
    loaded
        .site
        .ok_or_else(|| "the configuration could not be compiled".to_string())
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
