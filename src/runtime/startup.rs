//! `ngxr -c FILE` from start to exit, as nginx's master does it: open the first log (`-e`, else
//! stderr), load (its warnings, and the error of a configuration refused, written there), open
//! the configuration's error log, bind, write the pid file, then obey
//! signals until told to stop; `-s SIGNAL` instead signals the running instance.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::log::Level;
use super::server::Server;
use super::signals::{self, Action};
use crate::cli::{NginxFlags, Paths};
use crate::eval::plan::Site;

/// Loads the configuration at `paths`; on failure, says why in nginx's words.
pub fn load_site(paths: &Paths, globals: Option<&str>) -> Result<Arc<dyn Site>, String> {
    crate::load::site_for_serving(paths, globals).map_err(|why| format!("[emerg] {why}"))
}

/// Reads the configuration to serve it, writing what nginx logs meanwhile (its warnings, and
/// the `[emerg]` of a configuration refused) to the log as it stands: the first one at start,
/// the running configuration's on reload.
pub(super) fn read_logged(paths: &Paths, globals: Option<&str>) -> Option<Arc<dyn Site>> {
    let serving = read_warned(paths, globals);
    if let Some(why) = &serving.refusal {
        logged(why);
        return None;
    }
    serving.site
}

/// Reads the configuration, writing nginx's warnings to the log as it stands.
pub(super) fn read_warned(paths: &Paths, globals: Option<&str>) -> crate::load::Serving {
    let serving = crate::load::for_serving(paths, globals);
    serving.warnings.iter().for_each(logged);
    serving
}

/// Writes one line nginx logs while it reads a configuration.
pub(super) fn logged(m: &crate::load::Logged) {
    let level = Level::parse(m.level).unwrap_or(Level::Emerg);
    super::log::write(level, format_args!("{}", m.text));
}

/// `ngxr -c FILE`: load the configuration and serve it until told to stop.
pub fn run(paths: &Paths, flags: &NginxFlags) -> ExitCode {
    super::log::open_early(&paths.prefix, flags.error_log.as_deref());
    if let Some(signal) = &flags.signal {
        return signals::send(paths, flags.globals.as_deref(), signal);
    }
    let Some(site) = read_logged(paths, flags.globals.as_deref()) else {
        return ExitCode::FAILURE;
    };
    let process = site.process();
    if let Err(e) = super::body_file::create_dirs(&process.temp_paths) {
        super::log::write(Level::Emerg, format_args!("{e}"));
        return ExitCode::FAILURE;
    }
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
    let reload = || read_logged(paths, flags.globals.as_deref());
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
