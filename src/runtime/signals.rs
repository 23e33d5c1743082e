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
    reload: impl Fn() -> Option<Arc<dyn Site>>,
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
                // A configuration refused has said why in the log.
                if let Some(site) = reload() {
                    let process = site.process();
                    let made = super::body_file::create_dirs(&process.temp_paths);
                    match made.map_err(std::io::Error::other).and_then(|()| running.reload(site)) {
                        Ok(()) => {
                            super::log::configure(&process.error_logs);
                            running.open_logs();
                        }
                        Err(e) => super::log::error(format_args!("{e}")),
                    }
                }
            }
            _ = usr1.recv() => running.reopen_logs(),
            _ = quit.recv() => return Ok(Action::Quit),
            _ = term.recv() => return Ok(Action::Stop),
            _ = int.recv() => return Ok(Action::Stop),
        }
    }
}

/// `-s stop|quit|reopen|reload`: as nginx's signaller, reads the configuration (logging its
/// warnings) for the pid file's path, and logs what goes wrong at nginx's levels.
pub fn send(paths: &Paths, globals: Option<&str>, name: &str) -> ExitCode {
    use super::log::Level;
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
    // What ngxr alone refuses to serve does not stop the signal, as it would not nginx's.
    let serving = super::startup::read_warned(paths, globals);
    let Some(site) = serving.site else {
        if let Some(why) = &serving.refusal {
            super::startup::logged(why);
        }
        return ExitCode::FAILURE;
    };
    super::log::write(Level::Notice, format_args!("signal process started"));
    let pid_path = site
        .process()
        .pid
        .unwrap_or_else(|| crate::defaults::PID_PATH.into());
    let text = match std::fs::read_to_string(&pid_path) {
        Ok(t) => t,
        Err(e) => {
            super::log::error(format_args!(
                "{}",
                crate::syntax::include::open_failed(&pid_path, &e)
            ));
            return ExitCode::FAILURE;
        }
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        super::log::error(format_args!(
            "invalid PID number \"{}\" in \"{}\"",
            text.trim(),
            pid_path.display()
        ));
        return ExitCode::FAILURE;
    };
    match kill(Pid::from_raw(pid), sig) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e = std::io::Error::from_raw_os_error(e as i32);
            super::log::write(
                Level::Alert,
                format_args!(
                    "kill({pid}, {}) failed ({})",
                    sig as i32,
                    crate::syntax::include::os_error(&e)
                ),
            );
            ExitCode::FAILURE
        }
    }
}
