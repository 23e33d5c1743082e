//! Access logs: when a request ends, each `access_log` of its location renders its compiled
//! `log_format` with what happened ([`Outcome`]) and appends the line. One writer per file,
//! shared by every connection: as nginx does, a line is written as its request ends, unless
//! the file has a `buffer=`; buffered lines go out when the next does not fit, once the oldest
//! has waited `flush=` (checked every second), and on reload, reopen and exit. With `gzip`
//! each of those writes is one gzip member of its own.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::gzip::Gzipped;
use super::syslog::SyslogPeer;
use crate::eval::plan::{LogBuffer, LogFile, LogSpec, LogTarget, Outcome, RequestInfo};

#[derive(Debug, Default)]
pub struct AccessLogs {
    files: Mutex<HashMap<LogTarget, Arc<Mutex<Sink>>>>,
}

#[derive(Debug)]
enum Sink {
    File(File),
    Buffered(Buffered),
    Stderr,
    /// Each line a datagram, without its newline.
    Syslog(SyslogPeer),
    /// Could not be opened; the error was logged once.
    Broken,
}

impl AccessLogs {
    /// Appends the lines `spec` asks for.
    pub fn write(&self, spec: &LogSpec, request: &RequestInfo<'_>, outcome: &Outcome) {
        for file in &spec.files {
            let (line, room) = file.format.render_sized(request, outcome);
            // `access_log ... if=` said no.
            if line.is_empty() {
                continue;
            }
            let sink = self.sink(file);
            let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
            let written = match &mut *sink {
                Sink::File(f) => f.write_all(&line),
                Sink::Buffered(buffered) => buffered.write(&line, room),
                Sink::Stderr => std::io::stderr().write_all(&line),
                Sink::Syslog(peer) => peer.send(line.strip_suffix(b"\n").unwrap_or(&line)),
                Sink::Broken => Ok(()),
            };
            if let Err(e) = written {
                let call = match &file.target {
                    LogTarget::File(path) => format!("write() to \"{}\"", path.display()),
                    LogTarget::Syslog(_) => "send() to syslog".to_string(),
                };
                super::log::error(format_args!(
                    "{call} failed ({})",
                    crate::syntax::include::os_error(&e)
                ));
            }
        }
    }

    /// Opens `file` now (creating it), as nginx opens every log when it loads a
    /// configuration.
    pub fn open(&self, file: &LogFile) {
        self.sink(file);
    }

    /// The writer of `file`'s path, opened on first use (buffered if `file` asks for it:
    /// as nginx's file is, for every `access_log` naming it, when any has a `buffer=`).
    fn sink(&self, file: &LogFile) -> Arc<Mutex<Sink>> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sink) = files.get(&file.target) {
            let mut opened = sink.lock().unwrap_or_else(|e| e.into_inner());
            if let (Sink::File(f), Some(setting)) = (&*opened, file.buffer)
                && let Ok(f) = f.try_clone()
            {
                *opened = Sink::Buffered(Buffered::new(f, setting));
            }
            drop(opened);
            return sink.clone();
        }
        files
            .entry(file.target.clone())
            .or_insert_with(|| Arc::new(Mutex::new(open(file))))
            .clone()
    }

    /// Writes out what is buffered.
    pub fn flush(&self) {
        self.flush_where(|_, _| true);
    }

    /// Writes out the buffers whose oldest line has waited their `flush=` time.
    pub fn flush_due(&self) {
        let now = Instant::now();
        self.flush_where(|flush, since| {
            matches!((flush, since), (Some(f), Some(s)) if now.duration_since(s) >= f)
        });
    }

    fn flush_where(&self, due: impl Fn(Option<Duration>, Option<Instant>) -> bool) {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        for (target, sink) in files.iter() {
            if let Sink::Buffered(buffered) = &mut *sink.lock().unwrap_or_else(|e| e.into_inner())
                && due(buffered.setting.flush, buffered.since)
                && let Err(e) = buffered.write_out()
            {
                super::log::error(format_args!(
                    "write() to \"{target}\" failed ({})",
                    crate::syntax::include::os_error(&e)
                ));
            }
        }
    }

    /// Flushes and closes every file; the next line opens it again (SIGUSR1, log rotation;
    /// and a reload, whose new configuration nginx's new workers open the files for, with its
    /// own `buffer=` and `gzip`, as the old ones flush theirs on their way out).
    pub fn reopen(&self) {
        self.flush();
        self.files.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

fn open(file: &LogFile) -> Sink {
    let path = match &file.target {
        LogTarget::File(path) => path,
        LogTarget::Syslog(spec) => return Sink::Syslog(SyslogPeer::new(spec.clone())),
    };
    if super::log::is_stderr(path) {
        return Sink::Stderr;
    }
    match OpenOptions::new().create(true).append(true).open(path) {
        Ok(f) => match file.buffer {
            Some(setting) => Sink::Buffered(Buffered::new(f, setting)),
            None => Sink::File(f),
        },
        Err(e) => {
            super::log::error(format_args!(
                "{}",
                crate::syntax::include::open_failed(path, &e)
            ));
            Sink::Broken
        }
    }
}

/// A file's `buffer=` (nginx's `ngx_http_log_buf_t`).
#[derive(Debug)]
struct Buffered {
    file: File,
    lines: Vec<u8>,
    setting: LogBuffer,
    /// When the oldest line still in the buffer was written.
    since: Option<Instant>,
}

impl Buffered {
    fn new(file: File, setting: LogBuffer) -> Buffered {
        Buffered {
            file,
            lines: Vec::with_capacity(setting.size),
            setting,
            since: None,
        }
    }

    /// nginx's order: what is buffered goes out first when `room` (what nginx measures
    /// `line` at) is more than is left; a line needing more than the whole buffer is then
    /// written alone.
    fn write(&mut self, line: &[u8], room: usize) -> std::io::Result<()> {
        if room > self.setting.size - self.lines.len() {
            self.write_out()?;
        }
        if room > self.setting.size {
            return self.write_through(line);
        }
        self.since.get_or_insert_with(Instant::now);
        self.lines.extend_from_slice(line);
        Ok(())
    }

    /// Writes what is buffered and empties the buffer.
    fn write_out(&mut self) -> std::io::Result<()> {
        self.since = None;
        if self.lines.is_empty() {
            return Ok(());
        }
        let lines = std::mem::take(&mut self.lines);
        let written = self.write_through(&lines);
        self.lines = lines;
        self.lines.clear();
        written
    }

    /// `data` to the file, as one gzip member under `gzip`.
    fn write_through(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self.setting.gzip {
            Some(level) => self.file.write_all(&Gzipped::member(level, data)),
            None => self.file.write_all(data),
        }
    }
}
