//! The whole load pipeline in one call: read and parse (with includes) → nginx's directive
//! rules → typed configuration → compiled site. Used by `check`, `-t`, `explain` and the
//! server (at start and on every reload).

use std::sync::Arc;

use crate::cli::Paths;
use crate::diag::{Diagnostic, Origin, Severity, Sink};
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

    /// Why this configuration cannot be served: the error nginx would stop at, else the first
    /// directive ngxr does not implement (ngxr refuses to start rather than silently ignore it).
    fn refusing(&self) -> Option<&Diagnostic> {
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
        first_error.or_else(first_unsupported)
    }

    /// [`Loaded::refusing`] in nginx's `[emerg]` form.
    pub fn refusal(&self) -> Option<String> {
        self.refusing().map(|d| d.nginx_text(&self.tree.sources))
    }

    /// nginx's own warnings (those it logs and then carries on, at `warn` or the level it
    /// uses), in nginx's reading order, read before position `before`.
    pub fn nginx_warnings(&self, before: u64) -> Vec<&Diagnostic> {
        let mut warnings: Vec<&Diagnostic> = self
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning && d.origin == Origin::Nginx)
            .filter(|d| d.order < before)
            .collect();
        warnings.sort_by_key(|d| d.order);
        warnings
    }
}

/// One line nginx logs while it reads a configuration: its level and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub level: &'static str,
    pub text: String,
}

/// A configuration read to be served (at start, on reload or for `-s`): nginx's warnings,
/// why it cannot be served if it cannot, and the site when it compiled.
#[derive(Debug)]
pub struct Serving {
    /// What nginx logs while it reads the configuration and carries on.
    pub warnings: Vec<Logged>,
    /// The `[emerg]` of an error nginx stops at, or of what ngxr refuses to serve.
    pub refusal: Option<Logged>,
    /// Present when nginx would accept the configuration (ngxr may still refuse it).
    pub site: Option<Arc<dyn Site>>,
}

/// Reads the configuration to serve it; see [`Serving`].
pub fn for_serving(paths: &Paths, globals: Option<&str>) -> Serving {
    let emerg = |text: String| Logged {
        level: "emerg",
        text,
    };
    let loaded = match load_with_globals(paths, globals) {
        Ok(loaded) => loaded,
        Err(e) => {
            return Serving {
                warnings: Vec::new(),
                refusal: Some(emerg(e.to_string())),
                site: None,
            };
        }
    };
    let sources = &loaded.tree.sources;
    let refusing = loaded.refusing();
    // A refusal of ngxr's own comes after everything nginx would have logged.
    let before = refusing
        .filter(|d| d.origin == Origin::Nginx)
        .map_or(u64::MAX, |d| d.order);
    let warnings = loaded
        .nginx_warnings(before)
        .into_iter()
        .map(|w| Logged {
            level: w.nginx_level.unwrap_or("warn"),
            text: w.nginx_text(sources),
        })
        .collect();
    let refusal = match (refusing, &loaded.site) {
        (Some(why), _) => Some(emerg(why.nginx_text(sources))),
        (None, None) => Some(emerg("the configuration could not be compiled".into())),
        (None, Some(_)) => None,
    };
    Serving {
        warnings,
        refusal,
        site: loaded.site.clone(),
    }
}

/// The site to serve, or the `[emerg]` message that says why not (see [`Loaded::refusal`]).
pub fn site_for_serving(paths: &Paths, globals: Option<&str>) -> Result<Arc<dyn Site>, String> {
    let serving = for_serving(paths, globals);
    match (serving.refusal, serving.site) {
        (None, Some(site)) => Ok(site),
        (refusal, _) => Err(refusal.map(|r| r.text).unwrap_or_default()),
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
