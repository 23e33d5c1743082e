//! `ngxr -c FILE` from start to exit, as nginx's master does it: load (refusing a configuration
//! with errors, printed nginx-style), open the error log, bind, write the pid file, then obey
//! signals until told to stop; `-s SIGNAL` instead signals the running instance.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::server::Server;
use super::signals::{self, Action};
use crate::cli::{NginxFlags, Paths};
use crate::eval::plan::Site;

/// Loads the configuration at `paths`; on failure, says why in nginx's words.
pub fn load_site(paths: &Paths, globals: Option<&str>) -> Result<Arc<dyn Site>, String> {
    crate::load::site_for_serving(paths, globals).map_err(|why| format!("[emerg] {why}"))
}

/// `ngxr -c FILE`: load the configuration and serve it until told to stop.
pub fn run(paths: &Paths, flags: &NginxFlags) -> ExitCode {
    if let Some(signal) = &flags.signal {
        return signals::send(paths, signal);
    }
    let site = match load_site(paths, flags.globals.as_deref()) {
        Ok(site) => site,
        Err(message) => {
            eprintln!("nginx: {message}");
            return ExitCode::FAILURE;
        }
    };
    let process = site.process();
    super::log::configure(&process.error_logs);
    let prepared = match Server::prepare(site) {
        Ok(prepared) => prepared,
        Err(e) => {
            eprintln!("nginx: [emerg] {e}");
            return ExitCode::FAILURE;
        }
    };
    // nginx goes to the background after binding, before any thread exists; it keeps stderr
    // (for `error_log stderr`).
    if process.daemon
        && let Err(e) = nix::unistd::daemon(true, true)
    {
        eprintln!("nginx: [emerg] daemon() failed ({e})");
        return ExitCode::FAILURE;
    }
    let mut running = match prepared.serve() {
        Ok(running) => running,
        Err(e) => {
            super::log::error(format_args!("{e}"));
            return ExitCode::FAILURE;
        }
    };
    if let Some(pid) = &process.pid
        && let Err(e) = std::fs::write(pid, format!("{}\n", std::process::id()))
    {
        eprintln!(
            "nginx: [emerg] {}",
            crate::syntax::include::open_failed(pid, &e)
        );
        running.shutdown_now();
        return ExitCode::FAILURE;
    }
    let master = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nginx: [emerg] {e}");
            return ExitCode::FAILURE;
        }
    };
    let reload = || load_site(paths, flags.globals.as_deref());
    match master.block_on(signals::wait(&mut running, reload)) {
        Ok(Action::Quit) => master.block_on(running.shutdown_graceful()),
        Ok(Action::Stop) => running.shutdown_now(),
        Err(e) => {
            super::log::error(format_args!("cannot handle signals: {e}"));
            running.shutdown_now();
        }
    }
    if let Some(pid) = &process.pid {
        remove_pid(pid);
    }
    ExitCode::SUCCESS
}

fn remove_pid(pid: &Path) {
    if let Err(e) = std::fs::remove_file(pid) {
        super::log::warn(format_args!(
            "unlink() \"{}\" failed ({})",
            pid.display(),
            crate::syntax::include::os_error(&e)
        ));
    }
}
