//! `ngxr check`, `ngxr -t`/`-T`, `ngxr dump`, `-v`/`-V`. (Being written.)

use std::process::ExitCode;

use crate::cli::{CheckArgs, DumpArgs, NginxFlags, Paths};

pub fn run_check(_args: &CheckArgs) -> ExitCode {
    ExitCode::FAILURE
}

pub fn run_dump(_args: &DumpArgs) -> ExitCode {
    ExitCode::FAILURE
}

pub fn run_test(_paths: &Paths, _flags: &NginxFlags) -> ExitCode {
    ExitCode::FAILURE
}

pub fn run_version(_configure: bool) -> ExitCode {
    ExitCode::FAILURE
}
