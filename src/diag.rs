//! Configuration diagnostics. Every stage that reads the config pushes into a [`Sink`] and
//! carries on, so one `ngxr check` reports every problem; `ngxr -t` picks the one nginx would
//! have stopped at first.

use crate::source::Span;

/// Reading positions from here on belong to what nginx does after the whole configuration was
/// read (it has printed "syntax is ok" by then), in nginx's order: module init (the `events`
/// check), the pid file, temp paths, log files, listen sockets.
pub const AFTER_PARSE: u64 = 1 << 60;

/// The steps after parsing, each added to [`AFTER_PARSE`] (plus the directive's own position).
#[derive(Debug, Clone, Copy)]
pub enum AfterParse {
    InitModules = 0,
    PidFile = 1,
    TempPaths = 2,
    LogFiles = 3,
    Listen = 4,
}

impl AfterParse {
    pub fn order(self, position: u64) -> u64 {
        AFTER_PARSE + ((self as u64) << 48) + position
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// Who would say this: nginx itself (`nginx -t` prints it, same wording) or only ngxr (a lint,
/// or a directive ngxr does not serve).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Nginx,
    Ngxr,
}

/// Where nginx's message puts its position: it names the line that was being read when the
/// problem showed, which for a directive is the line of its `;` or `{`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NginxAt {
    /// `... in FILE:LINE`, LINE being the line of this span's start.
    Line(Span),
    /// `... in FILE:LINE` where LINE is the file's last line (end-of-file errors).
    EndOf(crate::source::FileId),
    /// nginx prints no position (`unknown "x" variable`, `no "events" section ...`).
    Nowhere,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub origin: Origin,
    /// A stable identifier such as `directive::unknown`, for `--format json` and docs.
    pub code: &'static str,
    /// nginx's wording where nginx has a message.
    pub message: String,
    /// What to underline.
    pub span: Option<Span>,
    pub nginx_at: NginxAt,
    pub help: Option<String>,
    /// Other places that explain this one ("first defined here").
    pub related: Vec<(Span, String)>,
    /// nginx's reading order: the diagnostic with the smallest key is the one `nginx -t` prints.
    pub order: u64,
    /// The level nginx logs a warning at when it is not `warn`: `emerg` for a `listen`
    /// parameter the platform lacks, which nginx reports and then ignores.
    pub nginx_level: Option<&'static str>,
}

impl Diagnostic {
    /// An error nginx reports at a directive (its line is the line of `at`).
    pub fn emerg(code: &'static str, message: impl Into<String>, span: Span, at: Span) -> Self {
        Diagnostic {
            severity: Severity::Error,
            origin: Origin::Nginx,
            code,
            message: message.into(),
            span: Some(span),
            nginx_at: NginxAt::Line(at),
            help: None,
            related: Vec::new(),
            order: 0,
            nginx_level: None,
        }
    }

    /// A warning or info that only ngxr gives.
    pub fn lint(
        severity: Severity,
        code: &'static str,
        message: impl Into<String>,
        span: Span,
    ) -> Self {
        Diagnostic {
            severity,
            origin: Origin::Ngxr,
            code,
            message: message.into(),
            span: Some(span),
            nginx_at: NginxAt::Line(span),
            help: None,
            related: Vec::new(),
            order: u64::MAX,
            nginx_level: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    pub fn at(mut self, nginx_at: NginxAt) -> Self {
        self.nginx_at = nginx_at;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The message as nginx prints it after `[level] `: with ` in FILE:LINE` (or ` in command
    /// line`) where nginx has a position for it.
    pub fn nginx_text(&self, sources: &crate::source::SourceMap) -> String {
        match self.nginx_at {
            NginxAt::Line(span) => format!("{} in {}", self.message, sources.nginx_pos(span)),
            NginxAt::EndOf(file) if sources.file(file).command_line => {
                format!("{} in command line", self.message)
            }
            NginxAt::EndOf(file) => {
                let f = sources.file(file);
                format!("{} in {}:{}", self.message, f.path.display(), f.last_line())
            }
            NginxAt::Nowhere => self.message.clone(),
        }
    }
}

/// More diagnostics than this are counted, not kept: a 50 MB file of typos must not take
/// gigabytes to report.
const MAX_KEPT: usize = 10_000;

/// Where diagnostics are collected. `order` stamps each with nginx's reading position.
#[derive(Debug, Default)]
pub struct Sink {
    diagnostics: Vec<Diagnostic>,
    /// Diagnostics past `MAX_KEPT`, and whether any of them was an error.
    dropped: usize,
    dropped_error: bool,
    /// (message, position) of what is kept: two stages that find the same problem (the
    /// directive rules and lowering both know argument counts) report it once.
    seen: std::collections::HashSet<(String, NginxAt)>,
    /// The reading position that new nginx diagnostics get unless they carry their own.
    pub order: u64,
}

impl Sink {
    pub fn push(&mut self, mut d: Diagnostic) {
        if !self.seen.insert((d.message.clone(), d.nginx_at)) {
            return;
        }
        if self.diagnostics.len() >= MAX_KEPT {
            self.dropped += 1;
            self.dropped_error |= d.is_error();
            return;
        }
        if d.order == 0 {
            d.order = self.order;
        }
        self.diagnostics.push(d);
    }

    /// [`Sink::push`] for a message nginx logs again each time (a warning per server it
    /// merges): kept beside an earlier one of the same words.
    pub fn push_repeated(&mut self, d: Diagnostic) {
        self.seen.remove(&(d.message.clone(), d.nginx_at));
        self.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.dropped_error || self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// How many diagnostics were counted but not kept.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    /// The error `nginx -t` would stop at: the nginx-origin error read first.
    pub fn first_nginx_error(&self) -> Option<&Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.is_error())
            .min_by_key(|d| (d.origin != Origin::Nginx, d.order))
    }
}
