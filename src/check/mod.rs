//! The commands that read a configuration without serving it: `ngxr check` (every diagnostic,
//! human or JSON), `ngxr -t`/`-T` (nginx's own output, message for message), `ngxr dump`
//! (crossplane JSON) and `-v`/`-V`.

mod json;
mod render;
mod test_output;

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::cli::{CheckArgs, DumpArgs, Format, Paths};
use crate::diag::{Diagnostic, Severity};
use crate::load::{self, Loaded};

pub use test_output::{run_test, run_version};

/// Loads for `check`/`dump`; a main file that cannot be opened is reported and ends the command.
fn load_or_report(paths: &Paths) -> Result<Loaded, ExitCode> {
    load::load(paths).map_err(|e| {
        eprintln!("ngxr: {e}");
        ExitCode::FAILURE
    })
}

/// Diagnostics in file order, then position; errors before warnings at the same place.
fn sorted(loaded: &Loaded) -> Vec<&Diagnostic> {
    let mut ds: Vec<&Diagnostic> = loaded.diagnostics.iter().collect();
    ds.sort_by_key(|d| (d.span.map(|s| (s.file, s.start)), d.severity));
    ds
}

/// `ngxr check`.
pub fn run_check(args: &CheckArgs) -> ExitCode {
    let paths = Paths::resolve(args.prefix.as_deref(), args.conf.as_deref());
    let loaded = match load_or_report(&paths) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let ds: Vec<Diagnostic> = sorted(&loaded).into_iter().cloned().collect();
    match args.format {
        Format::Json => println!("{}", json::diagnostics(&ds, &loaded.tree.sources)),
        Format::Human => {
            let color = std::io::stderr().is_terminal();
            eprint!("{}", render::human(&ds, &loaded.tree.sources, color));
            let count = |s: Severity| ds.iter().filter(|d| d.severity == s).count();
            let more = match loaded.dropped {
                0 => String::new(),
                n => format!(" ({n} more not shown)"),
            };
            eprintln!(
                "{}: {} error(s), {} warning(s){more}",
                paths.conf.display(),
                count(Severity::Error),
                count(Severity::Warning),
            );
        }
    }
    if loaded.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `ngxr dump`.
pub fn run_dump(args: &DumpArgs) -> ExitCode {
    let paths = Paths::resolve(args.prefix.as_deref(), args.conf.as_deref());
    let loaded = match load_or_report(&paths) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let value = json::dump(&loaded.tree, &loaded.diagnostics);
    println!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
    if loaded.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub use json::dump as dump_json;
pub use render::human as render_human;
