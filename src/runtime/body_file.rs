//! The files nginx writes request bodies to (`ngx_create_temp_file` under
//! `client_body_temp_path`): named by a process-wide sequence number, `%010u` under the
//! path's levels, created with mode 0600 and the level directories made as needed. A body
//! written under `client_body_in_file_only on` stays; under `clean` it is removed when the
//! request ends (the last copy of [`BodyFile`] dropped). A body that merely outgrew
//! `client_body_buffer_size` goes to a file nginx unlinks as it opens it: only its name,
//! `$request_body_file`, is ever seen, so ngxr takes the name and writes nothing.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;

use crate::eval::plan::{InFileOnly, TempPath};

/// `ngx_temp_number`: shared by every temporary file of the process.
static NUMBER: AtomicU32 = AtomicU32::new(0);

/// `ngx_next_temp_number`: the next number, or after a name already taken, a jump by
/// `ngx_random_number` (the start time's milliseconds and the pid).
fn next_number(collision: bool) -> u32 {
    let add = if collision {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_millis());
        (millis << 16).wrapping_add(std::process::id())
    } else {
        1
    };
    NUMBER.fetch_add(add, Ordering::Relaxed).wrapping_add(add)
}

/// A body's file, for `$request_body_file`; removed on drop under `clean`.
#[derive(Debug)]
pub struct BodyFile {
    path: PathBuf,
    clean: bool,
}

impl BodyFile {
    /// The name as `$request_body_file` gives it.
    pub fn name(&self) -> &[u8] {
        self.path.as_os_str().as_encoded_bytes()
    }

    /// The name nginx gives a body that outgrew its buffer (the file itself is gone).
    pub fn spilled(temp: &TempPath) -> BodyFile {
        BodyFile {
            path: temp.file(next_number(false)),
            clean: false,
        }
    }

    /// Writes `data` to the next file of `temp` (off the worker threads). The error is
    /// nginx's `open() "..." failed (...)`, which it logs at `crit` before its 500.
    pub async fn write(
        temp: Arc<TempPath>,
        mode: InFileOnly,
        data: Bytes,
    ) -> Result<BodyFile, String> {
        let written = tokio::task::spawn_blocking(move || create(&temp, &data)).await;
        let path = written.map_err(|e| e.to_string())??;
        Ok(BodyFile {
            path,
            clean: mode == InFileOnly::Clean,
        })
    }
}

impl Drop for BodyFile {
    fn drop(&mut self) {
        if self.clean
            && let Err(e) = std::fs::remove_file(&self.path)
        {
            super::log::error(format_args!(
                "unlink() \"{}\" failed ({})",
                self.path.display(),
                crate::syntax::include::os_error(&e)
            ));
        }
    }
}

/// `ngx_create_paths`: each directory made (mode 0700) unless it exists; the error is
/// nginx's `mkdir() "..." failed (...)`.
pub fn create_dirs(dirs: &[PathBuf]) -> Result<(), String> {
    for dir in dirs {
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                let os = crate::syntax::include::os_error(&e);
                return Err(format!("mkdir() \"{}\" failed ({os})", dir.display()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `ngx_create_temp_file` with the body written: a name taken is passed over, missing
/// level directories are made (mode 0700).
fn create(temp: &TempPath, data: &[u8]) -> Result<PathBuf, String> {
    let mut n = next_number(false);
    loop {
        let path = temp.file(n);
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        let failed = |e: &std::io::Error| {
            let os = crate::syntax::include::os_error(e);
            format!("open() \"{}\" failed ({os})", path.display())
        };
        match opened {
            Ok(mut file) => {
                file.write_all(data).map_err(|e| {
                    let os = crate::syntax::include::os_error(&e);
                    format!("write() \"{}\" failed ({os})", path.display())
                })?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n = next_number(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !temp.levels.is_empty() => {
                let made = path.parent().map(|dir| {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(dir)
                });
                if let (Some(Err(e)), Some(dir)) = (made, path.parent()) {
                    let os = crate::syntax::include::os_error(&e);
                    return Err(format!("mkdir() \"{}\" failed ({os})", dir.display()));
                }
            }
            Err(e) => return Err(failed(&e)),
        }
    }
}
