//! The main and events contexts: what the master and the workers need before any request.

use std::path::PathBuf;
use std::time::Duration;

use super::Cx;
use super::log::LogTarget;
use super::syslog::SEVERITIES;
use crate::syntax::Directive;

/// `worker_processes`, `worker_connections`, `pid`, `error_log`, `daemon`,
/// `worker_shutdown_timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// `auto` is resolved to the number of cores here.
    pub worker_processes: usize,
    pub worker_connections: usize,
    /// `None` for `pid off`.
    pub pid: Option<PathBuf>,
    /// Absolute paths or `stderr`, with the level.
    pub error_logs: Vec<(LogTarget, String)>,
    pub daemon: bool,
    /// `worker_shutdown_timeout`: after a graceful shutdown (QUIT, or a reload for the old
    /// configuration's connections) begins, what is still open is closed once this time is
    /// up. Zero (the default) waits for every connection to end.
    pub shutdown_timeout: Duration,
}

/// Reads the main-context directives (and `events`) from `top`.
pub fn lower(cx: &mut Cx<'_>, top: &[&Directive]) -> Process {
    let mut p = Process {
        worker_processes: 1,
        worker_connections: crate::defaults::WORKER_CONNECTIONS,
        pid: Some(PathBuf::from(crate::defaults::PID_PATH)),
        error_logs: Vec::new(),
        daemon: true,
        shutdown_timeout: Duration::ZERO,
    };
    for d in top {
        match d.name() {
            "worker_processes" => match d.arg(0) {
                Some("auto") => {
                    p.worker_processes = std::thread::available_parallelism().map_or(1, |n| n.get())
                }
                Some(n) => match n.parse::<usize>() {
                    Ok(n) => p.worker_processes = n,
                    Err(_) => cx.error(
                        d,
                        format!("invalid value \"{n}\" in \"worker_processes\" directive"),
                    ),
                },
                None => cx.arity(d),
            },
            "pid" => match d.arg(0) {
                Some("off") => p.pid = None,
                Some(path) => p.pid = Some(cx.prefixed(path)),
                None => cx.arity(d),
            },
            "error_log" => error_log(cx, d, &mut p.error_logs),
            // An invalid value was reported by the directive walk.
            "worker_shutdown_timeout" => {
                if let Some(t) = d.arg(0).and_then(super::units::parse_msec) {
                    p.shutdown_timeout = t;
                }
            }
            "daemon" => match d.arg(0).and_then(super::units::parse_flag) {
                Some(on) => p.daemon = on,
                None => flag_error(cx, d),
            },
            "events" => {
                for e in cx.tree.expand(d.children()) {
                    if e.name() == "worker_connections" {
                        match e.arg(0).map(str::parse::<usize>) {
                            Some(Ok(n)) => p.worker_connections = n,
                            _ => cx.invalid_value(e),
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if p.error_logs.is_empty() {
        p.error_logs.push((
            LogTarget::File(PathBuf::from(crate::defaults::ERROR_LOG_PATH)),
            "error".into(),
        ));
    }
    p
}

/// One `error_log`: its file (or `stderr`, or a syslog server) and level, `error` when not
/// given. nginx reads the target first.
pub fn error_log(cx: &mut Cx<'_>, d: &Directive, logs: &mut Vec<(LogTarget, String)>) {
    let Some(file) = d.arg(0) else {
        return cx.arity(d);
    };
    let target = match LogTarget::parse(cx, file) {
        Ok(target) => target,
        Err(message) => return cx.error(d, message),
    };
    let level = d.arg(1).unwrap_or("error");
    if !SEVERITIES.contains(&level) {
        return cx.error(d, format!("invalid log level \"{level}\""));
    }
    logs.push((target, level.to_string()));
}

/// `ngx_conf_set_flag_slot`'s message.
pub fn flag_error(cx: &mut Cx<'_>, d: &Directive) {
    let value = d.arg(0).unwrap_or("");
    cx.error(
        d,
        format!(
            "invalid value \"{value}\" in \"{}\" directive, it must be \"on\" or \"off\"",
            d.name()
        ),
    );
}
