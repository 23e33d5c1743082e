//! `ngxr demo`. (Being written.)

use std::process::ExitCode;

use crate::cli::DemoArgs;

pub fn run(_args: &DemoArgs) -> ExitCode {
    eprintln!("ngxr: demo is not implemented yet");
    ExitCode::FAILURE
}
