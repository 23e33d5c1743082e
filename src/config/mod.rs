//! The typed configuration: the syntax tree lowered into nginx's own notions (servers,
//! locations, upstreams, maps, proxy settings), with every value parsed and every level's
//! settings already merged the way nginx merges them. Spans are kept so `explain` and the
//! diagnostics can point back at the text. Nothing here evaluates a request: that is `eval`.

pub mod access;
pub mod addition;
pub mod body_file;
pub mod browser;
pub mod cache;
pub mod content;
pub mod filters;
pub mod gateway;
pub mod geo;
pub mod gzip;
pub mod http;
pub mod limit;
pub mod listen;
pub mod listen_options;
pub mod location;
pub mod log;
pub mod map;
pub mod process;
pub mod proxy;
pub mod proxy_bind;
pub mod proxy_cookie;
pub mod proxy_rewrite;
pub mod proxy_ssl;
pub mod realip;
pub mod referer;
pub mod resolver;
pub mod rewrite;
pub mod secure_link;
pub mod settings;
pub mod split_clients;
pub mod ssi;
pub mod ssl;
pub mod sub_filter;
pub mod syslog;
pub mod units;
pub mod upstream;
pub mod userid;

use crate::cli::Paths;
use crate::diag::{Diagnostic, NginxAt, Severity, Sink};
use crate::source::Span;
use crate::syntax::{Directive, SyntaxTree};

pub use http::{Http, Server};
pub use location::{Location, Modifier};
pub use process::Process;

/// A whole configuration: the main and events contexts, and `http` when there is one.
#[derive(Debug)]
pub struct Config {
    pub process: Process,
    pub http: Option<Http>,
}

/// A value that may hold variables (`"$host:$server_port"`), kept as written until `eval`
/// compiles it, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub value: String,
    /// The argument's span.
    pub span: Span,
    /// nginx's reading position of the directive it belongs to.
    pub order: u64,
}

/// Lowers the checked syntax tree. Problems go to `sink`; lowering carries on past them so
/// every one is reported.
pub fn lower(tree: &SyntaxTree, paths: &Paths, sink: &mut Sink) -> Config {
    let mut cx = Cx::new(tree, paths, sink);
    // nginx reads the `-g` directives first, into the same main context.
    let mut top = match tree.globals {
        Some(g) => tree.expand(&tree.file(g).directives),
        None => Vec::new(),
    };
    top.extend(tree.expand(&tree.main().directives));
    let process = process::lower(&mut cx, &top);
    let http = top
        .iter()
        .find(|d| d.name() == "http")
        .map(|d| http::lower(&mut cx, d));
    Config { process, http }
}

/// What lowering needs at hand: the tree (for includes and reading order), the paths
/// relative file names start from, and where problems go.
pub struct Cx<'t> {
    pub tree: &'t SyntaxTree,
    pub paths: &'t Paths,
    pub sink: &'t mut Sink,
    /// nginx's reading position when the `http` block closes: what nginx checks then
    /// (upstreams, merged settings, locations, variables, server names) is ordered from here.
    http_end: u64,
    /// The limit modules' shared memory zones named so far.
    pub limit_zones: limit::Zones,
    /// The cache zones named by a `*_cache_path` or a `*_cache`, checked when the `http`
    /// block closes ([`cache::check_uses`]).
    pub cache_zones: Vec<cache::ZoneUse>,
    /// Errors (and warnings) nginx finds when it merges a level's settings, which it
    /// reports on the line of the `http` block's `}`: the directive that made each, the
    /// message and its level.
    pub merge_errors: Vec<(Span, &'static str, Severity)>,
    /// The access-log files given a buffer so far, with it: nginx's file takes the first
    /// one, and refuses another that differs.
    pub log_buffers: Vec<(log::LogTarget, log::LogBuffer)>,
}

impl std::fmt::Debug for Cx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cx").finish_non_exhaustive()
    }
}

impl<'t> Cx<'t> {
    pub fn new(tree: &'t SyntaxTree, paths: &'t Paths, sink: &'t mut Sink) -> Cx<'t> {
        // Positions grow in reading order, so the `http` block ends just before whatever
        // top-level directive follows it; when none does, after everything.
        // nginx reads the `-g` directives first, into the same main context.
        let mut top = match tree.globals {
            Some(g) => tree.expand(&tree.file(g).directives),
            None => Vec::new(),
        };
        top.extend(tree.expand(&tree.main().directives));
        let after_http = top.iter().skip_while(|d| d.name() != "http").nth(1);
        let http_end = match after_http {
            Some(next) => tree.order_of(next).saturating_sub(1000) + 1,
            None => crate::diag::AFTER_PARSE / 2,
        };
        Cx {
            tree,
            paths,
            sink,
            http_end,
            limit_zones: limit::Zones::default(),
            cache_zones: Vec::new(),
            merge_errors: Vec::new(),
            log_buffers: Vec::new(),
        }
    }

    /// An `[emerg]` at directive `d`, the way `ngx_conf_log_error` words it (nginx adds
    /// ` in FILE:LINE` with the line of the `;` or `{`).
    /// `directives::check_tree` runs first and may have said the same (arity): said once.
    pub fn error(&mut self, d: &Directive, message: impl Into<String>) {
        let mut diag = Diagnostic::emerg("config::invalid", message, d.span(), d.end);
        let here = d.span();
        let overlaps = |s: Span| s.file == here.file && s.start < here.end && here.start < s.end;
        let said = self
            .sink
            .diagnostics()
            .iter()
            .any(|o| o.message == diag.message && o.span.is_some_and(overlaps));
        if !said {
            diag.order = self.tree.order_of(d);
            self.sink.push(diag);
        }
    }

    /// A `[warn]` nginx logs while reading directive `d` (`ngx_conf_log_error`), the
    /// configuration still good: said again for each inclusion of the file it is in.
    pub fn warn(&mut self, d: &Directive, message: impl Into<String>) {
        let mut diag = Diagnostic::emerg("config::warn", message, d.span(), d.end)
            .with_severity(crate::diag::Severity::Warning);
        diag.order = self.tree.order_of(d);
        self.sink.push_repeated(diag);
    }

    /// `ngx_http_types_slot` for one directive: each type lowercased into `list` (which starts
    /// with the module's default type), a repeat warned about; `*` makes it any type for good
    /// (`None`: later words and directives of the level change nothing).
    pub fn types_slot(&mut self, d: &Directive, list: &mut Option<Vec<String>>) {
        for w in &d.args {
            let Some(types) = list else { return };
            if w.value == "*" {
                *list = None;
                return;
            }
            let t = w.value.to_ascii_lowercase();
            if types.contains(&t) {
                self.warn(d, format!("duplicate MIME type \"{t}\""));
            } else {
                types.push(t);
            }
        }
    }

    /// What nginx logs at `[emerg]` at directive `d` and then ignores, the configuration
    /// still good (`accept filters "..." are not supported on this platform, ignored`).
    pub fn ignored(&mut self, d: &Directive, message: impl Into<String>) {
        let mut diag = Diagnostic::emerg("config::ignored", message, d.span(), d.end)
            .with_severity(crate::diag::Severity::Warning);
        diag.nginx_level = Some("emerg");
        diag.order = self.tree.order_of(d);
        self.sink.push(diag);
    }

    /// Something nginx accepts and ngxr does not implement, at `span`: `check` warns and the
    /// server refuses to start (as for an unsupported directive), `-t` stays nginx's verdict.
    pub fn unsupported(&mut self, d: &Directive, span: Span, what: &str) {
        let order = self.tree.order_of(d);
        self.unsupported_at(span, order, what);
    }

    /// [`Cx::unsupported`] in a value of the directive read at `order`. A value inherited by
    /// many levels is compiled at each: it is reported once.
    pub fn unsupported_at(&mut self, span: Span, order: u64, what: &str) {
        let code = crate::directives::UNSUPPORTED;
        let known = self
            .sink
            .diagnostics()
            .iter()
            .any(|d| d.code == code && d.span == Some(span));
        if known {
            return;
        }
        let mut diag = Diagnostic::lint(
            crate::diag::Severity::Warning,
            code,
            format!("{what} is not implemented by ngxr; ngxr refuses to serve this configuration"),
            span,
        );
        diag.order = order;
        self.sink.push(diag);
    }

    /// An error found after the whole file was read, which nginx prints without a position
    /// (`unknown "x" variable`) or with its own (`... in FILE:LINE` inside the message).
    pub fn late_error(&mut self, code: &'static str, message: impl Into<String>, span: Span) {
        let diag = Diagnostic::emerg(code, message, span, span).at(NginxAt::Nowhere);
        self.push_late(diag);
    }

    /// [`Cx::late_error`] for a warning nginx logs and carries on after
    /// (`conflicting server name ...`).
    pub fn late_warning(&mut self, code: &'static str, message: impl Into<String>, span: Span) {
        let diag = Diagnostic::emerg(code, message, span, span)
            .at(NginxAt::Nowhere)
            .with_severity(crate::diag::Severity::Warning);
        self.push_late(diag);
    }

    /// An error nginx reports with the line of `span` (` in FILE:LINE`), found after reading.
    pub fn late_error_at(&mut self, code: &'static str, message: impl Into<String>, span: Span) {
        self.push_late(Diagnostic::emerg(code, message, span, span));
    }

    /// Values inherited by many levels are compiled at each: report each problem once.
    fn push_late(&mut self, mut diag: Diagnostic) {
        let known = self
            .sink
            .diagnostics()
            .iter()
            .any(|d| d.message == diag.message && d.span == diag.span);
        if !known {
            diag.order = self.http_end + late_step(diag.code);
            self.sink.push(diag);
        }
    }

    /// `"NAME" directive invalid value`.
    pub fn invalid_value(&mut self, d: &Directive) {
        self.error(d, format!("\"{}\" directive invalid value", d.name()));
    }

    /// An error (or warning) nginx finds once block `d` is read (or merged): on the line of
    /// its `}`, after everything in it; `span` is what to underline.
    pub fn at_close(&mut self, d: &Directive, span: Span, message: &str, severity: Severity) {
        let close = match &d.body {
            crate::syntax::Body::Block {
                close: Some(close), ..
            } => *close,
            _ => d.end,
        };
        let mut diag =
            Diagnostic::emerg("config::invalid", message, span, close).with_severity(severity);
        diag.order = self.tree.order_after(std::slice::from_ref(d));
        self.sink.push(diag);
    }

    /// `"NAME" directive is duplicate`.
    pub fn duplicate(&mut self, d: &Directive) {
        self.error(d, format!("\"{}\" directive is duplicate", d.name()));
    }

    /// `invalid number of arguments in "NAME" directive`.
    pub fn arity(&mut self, d: &Directive) {
        self.error(
            d,
            format!("invalid number of arguments in \"{}\" directive", d.name()),
        );
    }

    /// Argument `i` as a [`Text`]; `None` (and an arity error) when it is missing.
    pub fn text(&mut self, d: &Directive, i: usize) -> Option<Text> {
        match d.args.get(i) {
            Some(w) => Some(Text {
                value: w.value.clone(),
                span: w.span,
                order: self.tree.order_of(d),
            }),
            None => {
                self.arity(d);
                None
            }
        }
    }

    /// A path as nginx resolves it: relative to the prefix (`-p`) unless absolute.
    pub fn prefixed(&self, path: &str) -> std::path::PathBuf {
        let p = std::path::Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.paths.prefix.join(p)
        }
    }

    /// A path relative to the configuration's directory (certificates, as `ngx_conf_full_name`
    /// with `conf_prefix`).
    pub fn conf_prefixed(&self, path: &str) -> std::path::PathBuf {
        let p = std::path::Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.paths.conf_prefix.join(p)
        }
    }
}

/// The order of nginx's checks when `http` closes (`ngx_http_block`): upstreams are resolved
/// first, then settings merged (certificates, log formats), locations sorted, variables
/// resolved, and server names hashed last.
fn late_step(code: &str) -> u64 {
    let steps = [
        "upstream::",
        "ssl::",
        "config::duplicate_location",
        "variable::",
        "server_name::",
    ];
    steps
        .iter()
        .position(|s| code.starts_with(s))
        .map_or(2, |i| i as u64 + 1)
}
