//! Human output of `ngxr check`: each diagnostic as a miette report with the source snippet,
//! file:line:column and the fix.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};

use crate::diag::{Diagnostic, Severity};
use crate::source::SourceMap;

/// Lines longer than this are not shown as snippets.
const MAX_SNIPPET_LINE: usize = 1000;

/// One diagnostic bound to its file's text, in the shape miette renders.
#[derive(Debug)]
struct Report {
    message: String,
    code: &'static str,
    severity: miette::Severity,
    help: Option<String>,
    labels: Vec<LabeledSpan>,
    source: Option<NamedSource<String>>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

fn report(d: &Diagnostic, sources: &SourceMap) -> Report {
    let mut labels = Vec::new();
    let mut source = None;
    // A snippet of a very long line (minified or generated files) is unreadable and slow to
    // lay out: those reports name the position in the message instead.
    let long_line = d
        .span
        .is_some_and(|s| sources.file(s.file).line_len(s.start) > MAX_SNIPPET_LINE);
    let mut message = d.message.clone();
    if long_line && let Some(span) = d.span {
        let f = sources.file(span.file);
        let (line, col) = f.line_col(span.start);
        message = format!("{message} (at {}:{line}:{col})", f.path.display());
    }
    if let Some(span) = d.span.filter(|_| !long_line) {
        let file = sources.file(span.file);
        let name = file.path.display().to_string();
        source = Some(NamedSource::new(name, file.text.to_string()));
        labels.push(LabeledSpan::new_primary_with_span(
            None,
            SourceSpan::new((span.start as usize).into(), span.len()),
        ));
        for (rel, text) in d.related.iter().filter(|(r, _)| r.file == span.file) {
            labels.push(LabeledSpan::new_with_span(
                Some(text.clone()),
                SourceSpan::new((rel.start as usize).into(), rel.len()),
            ));
        }
    }
    Report {
        message,
        code: d.code,
        severity: match d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        },
        help: d.help.clone(),
        labels,
        source,
    }
}

/// Renders every diagnostic; `color` for terminals, plain Unicode otherwise (tests, CI logs).
/// Infos about inert directives are many and alike: they share one closing line.
pub fn human(diagnostics: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    let (inert, rest): (Vec<&Diagnostic>, Vec<&Diagnostic>) =
        diagnostics.iter().partition(|d| d.code == "ngxr::inert");
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for d in rest {
        // Rendering into a String cannot fail; a failure would only lose this one report.
        let _ = handler.render_report(&mut out, &report(d, sources));
        out.push('\n');
    }
    if !inert.is_empty() {
        let names: Vec<String> = inert
            .iter()
            .filter_map(|d| d.span)
            .map(|s| {
                let f = sources.file(s.file);
                let file = f.path.file_name().unwrap_or_default().to_string_lossy();
                format!("{} ({file}:{})", sources.text(s), f.line_col(s.start).0)
            })
            .collect();
        out.push_str(&format!(
            "ignored as inert (see README): {}\n",
            names.join(", ")
        ));
    }
    out
}
