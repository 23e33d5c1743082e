//! The `ngxr` command line: parses arguments and hands each command to its module.

use std::process::ExitCode;

use clap::Parser;
use ngxr::cli::{Cli, Command, Paths};

/// mimalloc rather than glibc's malloc: a proxied request allocates a few dozen small
/// buffers, and glibc's malloc and free were about a quarter of ngxr's own instructions per
/// request (callgrind); the benchmark's HTTP and handshake CPU per request fell 5–10%, with
/// idle tunnels still under 4 KiB each.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Check(args)) => ngxr::check::run_check(args),
        Some(Command::Dump(args)) => ngxr::check::run_dump(args),
        Some(Command::Explain(args)) => ngxr::explain::run(args),
        Some(Command::Demo(args)) => ngxr::demo::run(args),
        None => {
            let flags = &cli.nginx;
            let paths = Paths::resolve(flags.prefix.as_deref(), flags.conf.as_deref());
            if flags.version || flags.version_configure {
                return ngxr::check::run_version(flags.version_configure);
            }
            if flags.test || flags.test_dump {
                return ngxr::check::run_test(&paths, flags);
            }
            ngxr::runtime::run(&paths, flags)
        }
    }
}
