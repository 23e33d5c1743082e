//! `ngxr explain`. (Being written.)

use std::process::ExitCode;

use crate::cli::ExplainArgs;

pub fn run(_args: &ExplainArgs) -> ExitCode {
    eprintln!("ngxr: explain is not implemented yet");
    ExitCode::FAILURE
}
