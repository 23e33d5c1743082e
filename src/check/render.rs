//! Human output of `ngxr check`: each diagnostic as a miette report with the source snippet,
//! file:line:column and the fix.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};

use crate::diag::{Diagnostic, Severity};
use crate::source::SourceMap;

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
    if let Some(span) = d.span {
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
        message: d.message.clone(),
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
pub fn human(diagnostics: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for d in diagnostics {
        // Rendering into a String cannot fail; a failure would only lose this one report.
        let _ = handler.render_report(&mut out, &report(d, sources));
        out.push('\n');
    }
    out
}
