//! nginx's signals: HUP reloads (a configuration with errors is refused and the old one keeps
//! serving), USR1 reopens logs, QUIT drains, TERM and INT stop at once; and `-s` sends them to
//! the pid in the pid file.

use std::process::ExitCode;
use std::sync::Arc;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

use super::server::Running;
use crate::cli::Paths;
use crate::eval::plan::Site;

/// How the server should stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Stop,
}

/// Handles signals until one asks to stop.
pub async fn wait(
    running: &mut Running,
    reload: impl Fn() -> Result<Arc<dyn Site>, String>,
) -> std::io::Result<Action> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                super::log::info(format_args!("signal 1 (SIGHUP) received, reconfiguring"));
                match reload() {
                    Ok(site) => {
                        let process = site.process();
                        match running.reload(site) {
                            Ok(()) => super::log::configure(&process.error_logs),
                            Err(e) => super::log::error(format_args!("{e}")),
                        }
                    }
                    Err(message) => super::log::error(format_args!("{message}")),
                }
            }
            _ = usr1.recv() => running.reopen_logs(),
            _ = quit.recv() => return Ok(Action::Quit),
            _ = term.recv() => return Ok(Action::Stop),
            _ = int.recv() => return Ok(Action::Stop),
        }
    }
}

/// `-s stop|quit|reopen|reload`.
pub fn send(paths: &Paths, name: &str) -> ExitCode {
    let sig = match name {
        "stop" => Signal::SIGTERM,
        "quit" => Signal::SIGQUIT,
        "reopen" => Signal::SIGUSR1,
        "reload" => Signal::SIGHUP,
        _ => {
            eprintln!("nginx: invalid option: \"-s {name}\"");
            return ExitCode::FAILURE;
        }
    };
    let pid_path = super::load_site(paths, None)
        .ok()
        .and_then(|site| site.process().pid)
        .unwrap_or_else(|| crate::defaults::PID_PATH.into());
    let text = match std::fs::read_to_string(&pid_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "nginx: [error] {}",
                crate::syntax::include::open_failed(&pid_path, &e)
            );
            return ExitCode::FAILURE;
        }
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        eprintln!(
            "nginx: [error] invalid PID number \"{}\" in \"{}\"",
            text.trim(),
            pid_path.display()
        );
        return ExitCode::FAILURE;
    };
    match kill(Pid::from_raw(pid), sig) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nginx: [alert] kill({pid}, {}) failed ({e})", sig as i32);
            ExitCode::FAILURE
        }
    }
}
