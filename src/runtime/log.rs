//! The error log in nginx's line format, `YYYY/MM/DD HH:MM:SS [level] PID#TID: message`,
//! written to the `error_log` files (or syslog servers) of the running configuration (stderr
//! until one is loaded).
//! Before a configuration is loaded the log is nginx's first one ([`open_early`]): `-e FILE`,
//! else stderr. A global, as nginx's cycle log is: every task may need to complain. A request's lines go
//! to its location's `error_log` files instead when a level of `http` set one ([`write_in`]).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use super::syslog::SyslogPeer;
use crate::eval::plan::LogTarget;

/// nginx's levels, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Emerg,
    Alert,
    Crit,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "emerg" => Level::Emerg,
            "alert" => Level::Alert,
            "crit" => Level::Crit,
            "error" => Level::Error,
            "warn" => Level::Warn,
            "notice" => Level::Notice,
            "info" => Level::Info,
            "debug" => Level::Debug,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Level::Emerg => "emerg",
            Level::Alert => "alert",
            Level::Crit => "crit",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

#[derive(Debug)]
struct Target {
    target: LogTarget,
    level: Level,
    sink: Option<Sink>,
}

/// What a target writes to; `None` in its place when its file could not be opened.
#[derive(Debug)]
enum Sink {
    File(Mutex<File>),
    Stderr,
    Syslog(SyslogPeer),
}

impl Sink {
    /// Opens `target` for appending; a file that cannot be opened gives `Err`.
    fn open(target: &LogTarget) -> io::Result<Sink> {
        Ok(match target {
            LogTarget::File(path) if is_stderr(path) => Sink::Stderr,
            LogTarget::File(path) => Sink::File(Mutex::new(
                OpenOptions::new().create(true).append(true).open(path)?,
            )),
            LogTarget::Syslog(spec) => Sink::Syslog(SyslogPeer::new(spec.clone())),
        })
    }

    /// Writes `line` (which ends with a newline); syslog gets it without the newline, at
    /// `level`'s severity. Failures are not reported: there is nowhere left to say so.
    fn write(&self, level: Level, line: &[u8]) {
        match self {
            Sink::File(f) => {
                let _ = f.lock().unwrap_or_else(|e| e.into_inner()).write_all(line);
            }
            Sink::Stderr => {
                let _ = std::io::stderr().write_all(line);
            }
            Sink::Syslog(peer) => {
                let message = line.strip_suffix(b"\n").unwrap_or(line);
                let _ = peer.send_at(level as u8, message);
            }
        }
    }
}

static TARGETS: RwLock<Vec<Target>> = RwLock::new(Vec::new());

/// The targets of `http`-level `error_log`s, opened when first written to (they are not known
/// to this module before a request names them) and closed by [`configure`] and [`reopen`].
static LEVEL_SINKS: Mutex<Vec<(LogTarget, Sink)>> = Mutex::new(Vec::new());

/// Whether lines at `warn` and worse are also written to stderr as `nginx: [level] message`:
/// nginx does so while it starts, when its log is a file ([`open_early`]).
static ECHO: AtomicBool = AtomicBool::new(false);

/// Opens the log nginx writes to before it has read a configuration (`ngx_log_init`), at
/// `notice`: the `-e` file (`early`, relative to `prefix`), else stderr (Debian's nginx is
/// built with `--error-log-path=stderr`, and `-e stderr` says the same). A file is appended to,
/// and its `warn`-and-worse lines are echoed on stderr until [`configure`].
pub fn open_early(prefix: &Path, early: Option<&Path>) {
    let path = match early {
        Some(path) if !is_stderr(path) => prefix.join(path),
        _ => PathBuf::from("stderr"),
    };
    let echo = !is_stderr(&path);
    configure(&[(LogTarget::File(path), Level::Notice.as_str().to_string())]);
    ECHO.store(echo, Ordering::Relaxed);
}

/// Whether `path` means the process's stderr (`error_log stderr`).
pub(crate) fn is_stderr(path: &Path) -> bool {
    path == Path::new("stderr") || path == Path::new("/dev/stderr")
}

/// Points the error log at `logs` (target, level); files open for appending. A file that
/// cannot be opened is reported on stderr and skipped.
pub fn configure(logs: &[(LogTarget, String)]) {
    let targets = logs
        .iter()
        .map(|(target, level)| {
            let sink = match Sink::open(target) {
                Ok(sink) => Some(sink),
                Err(e) => {
                    let path = match target {
                        LogTarget::File(path) => path.as_path(),
                        LogTarget::Syslog(_) => Path::new("syslog"),
                    };
                    eprintln!(
                        "nginx: [alert] could not open error log file: {}",
                        crate::syntax::include::open_failed(path, &e)
                    );
                    None
                }
            };
            Target {
                target: target.clone(),
                level: Level::parse(level).unwrap_or(Level::Error),
                sink,
            }
        })
        .collect();
    *TARGETS.write().unwrap_or_else(|e| e.into_inner()) = targets;
    ECHO.store(false, Ordering::Relaxed);
    LEVEL_SINKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
}

/// Reopens every error log file (SIGUSR1).
pub fn reopen() {
    let current: Vec<(LogTarget, String)> = TARGETS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|t| (t.target.clone(), t.level.as_str().to_string()))
        .collect();
    configure(&current);
}

/// Writes one line of a request at `level` to the `error_log`s of its level (`logs`: target,
/// level), or to the main ones when the level has none.
pub fn write_in(logs: &[(LogTarget, String)], level: Level, message: fmt::Arguments<'_>) {
    if logs.is_empty() {
        return write(level, message);
    }
    let wanted = logs
        .iter()
        .filter(|(_, l)| level <= Level::parse(l).unwrap_or(Level::Error));
    let mut line = None;
    for (target, _) in wanted {
        let line = line.get_or_insert_with(|| format_line(level, Message::Text(message)));
        let mut sinks = LEVEL_SINKS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sink) = level_sink(&mut sinks, target) {
            sink.write(level, line);
        }
    }
}

/// Opens the `error_log` files of a level (`logs`: target, level) now, creating them, as
/// nginx opens every log when it loads a configuration.
pub fn open_level(logs: &[(LogTarget, String)]) {
    let mut sinks = LEVEL_SINKS.lock().unwrap_or_else(|e| e.into_inner());
    for (target, _) in logs {
        level_sink(&mut sinks, target);
    }
}

/// The sink of `target` among the levels' ones, opened if it is not yet; `None` when it
/// cannot be.
fn level_sink<'s>(sinks: &'s mut Vec<(LogTarget, Sink)>, target: &LogTarget) -> Option<&'s Sink> {
    let at = match sinks.iter().position(|(t, _)| t == target) {
        Some(at) => at,
        None => {
            sinks.push((target.clone(), Sink::open(target).ok()?));
            sinks.len() - 1
        }
    };
    Some(&sinks[at].1)
}

/// A line's message: formatted, or bytes written as they are (nginx's `%*s` of what a
/// client sent).
#[derive(Clone, Copy)]
enum Message<'a> {
    Text(fmt::Arguments<'a>),
    Bytes(&'a [u8]),
}

/// `YYYY/MM/DD HH:MM:SS [level] PID#TID: message` and a newline.
fn format_line(level: Level, message: Message<'_>) -> Vec<u8> {
    let mut line = format!(
        "{} [{}] {}#{}: ",
        crate::eval::clock::error_log(std::time::SystemTime::now()),
        level.as_str(),
        std::process::id(),
        nix::unistd::gettid(),
    )
    .into_bytes();
    let _ = match message {
        Message::Text(args) => line.write_fmt(args),
        Message::Bytes(bytes) => line.write_all(bytes),
    };
    // nginx formats a line into `NGX_MAX_ERROR_STR` bytes, its line feed included: what
    // does not fit is cut (a long request line in the context, say).
    line.truncate(MAX_ERROR_STR - 1);
    line.push(b'\n');
    line
}

/// nginx's `NGX_MAX_ERROR_STR`: the most bytes of an error-log line.
const MAX_ERROR_STR: usize = 2048;

/// Writes one line at `level` to every target that wants it.
pub fn write(level: Level, message: fmt::Arguments<'_>) {
    write_message(level, Message::Text(message));
}

/// Writes one line whose message is `bytes`, as they are, at `level`.
pub fn write_bytes(level: Level, bytes: &[u8]) {
    write_message(level, Message::Bytes(bytes));
}

fn write_message(level: Level, message: Message<'_>) {
    let targets = TARGETS.read().unwrap_or_else(|e| e.into_inner());
    let wanted = |t: &Target| level <= t.level;
    if !targets.is_empty() && !targets.iter().any(wanted) {
        return;
    }
    let line = format_line(level, message);
    if targets.is_empty() {
        let _ = std::io::stderr().write_all(&line);
        return;
    }
    for t in targets.iter().filter(|t| wanted(t)) {
        if let Some(sink) = &t.sink {
            sink.write(level, &line);
        }
    }
    if level <= Level::Warn && ECHO.load(Ordering::Relaxed) {
        let mut echoed = format!("nginx: [{}] ", level.as_str()).into_bytes();
        let _ = match message {
            Message::Text(args) => echoed.write_fmt(args),
            Message::Bytes(bytes) => echoed.write_all(bytes),
        };
        echoed.push(b'\n');
        let _ = std::io::stderr().write_all(&echoed);
    }
}

pub fn error(message: fmt::Arguments<'_>) {
    write(Level::Error, message);
}

pub fn warn(message: fmt::Arguments<'_>) {
    write(Level::Warn, message);
}

pub fn info(message: fmt::Arguments<'_>) {
    write(Level::Info, message);
}
