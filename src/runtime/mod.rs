//! Serving a configuration. (Being written.)

use std::process::ExitCode;

use crate::cli::{NginxFlags, Paths};

/// `ngxr -c FILE`: load the configuration and serve it until told to stop.
pub fn run(_paths: &Paths, _flags: &NginxFlags) -> ExitCode {
    eprintln!("ngxr: serving is not implemented yet");
    ExitCode::FAILURE
}
