//! The error log in nginx's line format, `YYYY/MM/DD HH:MM:SS [level] PID#TID: message`,
//! written to the `error_log` files of the running configuration (stderr until one is loaded).
//! Before a configuration is loaded the log is nginx's first one ([`open_early`]): `-e FILE`,
//! else stderr. A global, as nginx's cycle log is: every task may need to complain. A request's lines go
//! to its location's `error_log` files instead when a level of `http` set one ([`write_in`]).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

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
    path: PathBuf,
    level: Level,
    file: Option<Mutex<File>>,
}

static TARGETS: RwLock<Vec<Target>> = RwLock::new(Vec::new());

/// The files of `http`-level `error_log`s, opened when first written to (they are not known
/// to this module before a request names them) and closed by [`configure`] and [`reopen`].
static LEVEL_FILES: Mutex<Vec<(PathBuf, File)>> = Mutex::new(Vec::new());

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
    configure(&[(path.clone(), Level::Notice.as_str().to_string())]);
    ECHO.store(!is_stderr(&path), Ordering::Relaxed);
}

/// Whether `path` means the process's stderr (`error_log stderr`).
pub(crate) fn is_stderr(path: &Path) -> bool {
    path == Path::new("stderr") || path == Path::new("/dev/stderr")
}

/// Points the error log at `logs` (path or `stderr`, level); files open for appending. A
/// file that cannot be opened is reported on stderr and skipped.
pub fn configure(logs: &[(PathBuf, String)]) {
    let targets = logs
        .iter()
        .map(|(path, level)| {
            let file = if is_stderr(path) {
                None
            } else {
                match OpenOptions::new().create(true).append(true).open(path) {
                    Ok(f) => Some(Mutex::new(f)),
                    Err(e) => {
                        eprintln!(
                            "nginx: [alert] could not open error log file: {}",
                            crate::syntax::include::open_failed(path, &e)
                        );
                        None
                    }
                }
            };
            Target {
                path: path.clone(),
                level: Level::parse(level).unwrap_or(Level::Error),
                file,
            }
        })
        .collect();
    *TARGETS.write().unwrap_or_else(|e| e.into_inner()) = targets;
    ECHO.store(false, Ordering::Relaxed);
    LEVEL_FILES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
}

/// Reopens every error log file (SIGUSR1).
pub fn reopen() {
    let current: Vec<(PathBuf, String)> = TARGETS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|t| (t.path.clone(), t.level.as_str().to_string()))
        .collect();
    configure(&current);
}

/// Writes one line of a request at `level` to the `error_log`s of its level (`logs`: path or
/// `stderr`, level), or to the main ones when the level has none.
pub fn write_in(logs: &[(PathBuf, String)], level: Level, message: fmt::Arguments<'_>) {
    if logs.is_empty() {
        return write(level, message);
    }
    let wanted = logs
        .iter()
        .filter(|(_, l)| level <= Level::parse(l).unwrap_or(Level::Error));
    let mut line = None;
    for (path, _) in wanted {
        let line = line.get_or_insert_with(|| format_line(level, Message::Text(message)));
        if is_stderr(path) {
            let _ = std::io::stderr().write_all(line);
            continue;
        }
        let mut files = LEVEL_FILES.lock().unwrap_or_else(|e| e.into_inner());
        if !files.iter().any(|(p, _)| p == path) {
            match OpenOptions::new().create(true).append(true).open(path) {
                Ok(f) => files.push((path.clone(), f)),
                Err(_) => continue,
            }
        }
        if let Some((_, f)) = files.iter_mut().find(|(p, _)| p == path) {
            let _ = f.write_all(line);
        }
    }
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
    line.push(b'\n');
    line
}

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
        match &t.file {
            Some(f) => {
                let _ = f.lock().unwrap_or_else(|e| e.into_inner()).write_all(&line);
            }
            None if is_stderr(&t.path) => {
                let _ = std::io::stderr().write_all(&line);
            }
            None => {}
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
