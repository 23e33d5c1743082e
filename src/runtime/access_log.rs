//! Access logs: when a request ends, each `access_log` of its location renders its compiled
//! `log_format` with what happened ([`Outcome`]) and appends the line. One buffered writer per
//! file, shared by every connection and flushed every second (and on reopen and exit).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::eval::plan::{LogSpec, Outcome, RequestInfo};

#[derive(Debug, Default)]
pub struct AccessLogs {
    files: Mutex<HashMap<PathBuf, Arc<Mutex<Sink>>>>,
}

#[derive(Debug)]
enum Sink {
    File(BufWriter<File>),
    Stderr,
    /// Could not be opened; the error was logged once.
    Broken,
}

impl AccessLogs {
    /// Appends the lines `spec` asks for.
    pub fn write(&self, spec: &LogSpec, request: &RequestInfo<'_>, outcome: &Outcome) {
        for (path, format) in &spec.files {
            let line = format.render(request, outcome);
            // `access_log ... if=` said no.
            if line.is_empty() {
                continue;
            }
            let sink = self.sink(path);
            let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
            match &mut *sink {
                Sink::File(w) => {
                    if let Err(e) = w.write_all(&line) {
                        super::log::error(format_args!(
                            "write() to \"{}\" failed ({})",
                            path.display(),
                            crate::syntax::include::os_error(&e)
                        ));
                    }
                }
                Sink::Stderr => {
                    let _ = std::io::stderr().write_all(&line);
                }
                Sink::Broken => {}
            }
        }
    }

    fn sink(&self, path: &Path) -> Arc<Mutex<Sink>> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files
            .entry(path.to_path_buf())
            .or_insert_with(|| Arc::new(Mutex::new(open(path))))
            .clone()
    }

    /// Writes out what is buffered.
    pub fn flush(&self) {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        for sink in files.values() {
            if let Sink::File(w) = &mut *sink.lock().unwrap_or_else(|e| e.into_inner()) {
                let _ = w.flush();
            }
        }
    }

    /// Flushes and closes every file; the next line opens it again (SIGUSR1, log rotation).
    pub fn reopen(&self) {
        self.flush();
        self.files.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

fn open(path: &Path) -> Sink {
    if super::log::is_stderr(path) {
        return Sink::Stderr;
    }
    match OpenOptions::new().create(true).append(true).open(path) {
        Ok(f) => Sink::File(BufWriter::with_capacity(16 * 1024, f)),
        Err(e) => {
            super::log::error(format_args!(
                "open() \"{}\" failed ({})",
                path.display(),
                crate::syntax::include::os_error(&e)
            ));
            Sink::Broken
        }
    }
}
