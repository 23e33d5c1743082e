//! The file system as nginx's content handlers see it: the path a URI maps to under `root` or
//! `alias` (`ngx_http_map_uri_to_path`), and opening or testing a path with the status and
//! error-log line nginx gives each failure (`ngx_open_cached_file` without a cache).
//!
//! Stat and open are blocking calls made while routing, as nginx makes them; reading the
//! file's bytes is left to the runtime.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::plan::ErrorLine;
use super::request::Req;
use super::uri::Rewritten;
use super::value::Complex;
use crate::config::content::Alias;

/// A level's `root` or `alias`, compiled.
#[derive(Debug, Clone)]
pub struct CRoot {
    pub path: Complex,
    pub alias: Option<Alias>,
    /// Where a relative value (one starting with a variable) is taken from.
    pub prefix: PathBuf,
}

/// A path that could not be mapped: an `alias` after the URI was rewritten in place (nginx
/// answers 500, and `$request_filename` has no value).
#[derive(Debug)]
pub struct Unmappable;

impl Unmappable {
    /// nginx's alert, naming the location whose `alias` it is.
    pub fn line(&self, location: &str) -> ErrorLine {
        ErrorLine::alert(format!(
            "\"alias\" cannot be used in location \"{location}\" where URI was rewritten"
        ))
    }
}

/// A mapped path: the bytes, and how many of them are the root (what follows is the URI part).
#[derive(Debug, Clone)]
pub struct Mapped {
    pub path: Vec<u8>,
    pub root_len: usize,
}

impl CRoot {
    /// The root or alias with its variables evaluated, a relative result taken from the
    /// prefix (`ngx_get_full_name`): `$document_root`, and the start of every mapped path.
    pub fn document_root(&self, req: &mut Req<'_>) -> Vec<u8> {
        let path = self.path.eval(req);
        if self.path.as_literal().is_some() || path.first() == Some(&b'/') {
            return path;
        }
        let mut full = self.prefix.as_os_str().as_bytes().to_vec();
        if !full.ends_with(b"/") {
            full.push(b'/');
        }
        full.extend_from_slice(&path);
        full
    }

    /// `ngx_http_map_uri_to_path` for the request's current `$uri` (also `$request_filename`),
    /// with nginx's `add_uri_to_alias` (a regex alias after `try_files` found a file).
    pub fn map(&self, req: &mut Req<'_>) -> Result<Mapped, Unmappable> {
        if self.alias.is_some() && req.target.rewritten == Rewritten::InPlace {
            return Err(Unmappable);
        }
        let mut path = self.document_root(req);
        let root_len = path.len();
        let uri = &req.target.uri;
        match self.alias {
            None => path.extend_from_slice(uri),
            Some(Alias::Prefix(n)) => path.extend_from_slice(uri.get(n..).unwrap_or_default()),
            Some(Alias::Whole) if req.add_uri_to_alias => path.extend_from_slice(uri),
            Some(Alias::Whole) => {}
        }
        Ok(Mapped { path, root_len })
    }
}

/// What a successful open or test found.
#[derive(Debug)]
pub struct Opened {
    pub is_dir: bool,
    pub is_file: bool,
    pub size: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// The open file (only when it was opened, not just tested).
    pub file: Option<File>,
}

/// Why a path could not be used.
#[derive(Debug)]
pub struct OpenFailed {
    pub error: io::Error,
    /// nginx's name of the call that failed: `open()` or `stat()`.
    pub call: &'static str,
}

impl OpenFailed {
    /// The status nginx's static handler answers with.
    pub fn status(&self) -> u16 {
        match self.error.raw_os_error().map(Errno::from_raw) {
            Some(Errno::ENOENT | Errno::ENOTDIR | Errno::ENAMETOOLONG) => 404,
            Some(Errno::EACCES | Errno::EMLINK | Errno::ELOOP) => 403,
            _ => 500,
        }
    }

    /// Not found in nginx's sense (ENOENT, ENOTDIR, ENAMETOOLONG).
    pub fn not_found(&self) -> bool {
        self.status() == 404
    }

    /// `open() "PATH" failed (2: No such file or directory)`.
    pub fn line(&self, path: &[u8]) -> ErrorLine {
        let message = format!(
            "{} \"{}\" failed ({})",
            self.call,
            String::from_utf8_lossy(path),
            crate::syntax::include::os_error(&self.error)
        );
        if self.status() == 500 {
            ErrorLine::crit(message)
        } else {
            ErrorLine::error(message)
        }
    }
}

fn as_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// `ngx_open_dir` as the autoindex and random_index handlers call it: the listing, or the
/// status nginx answers with and its `opendir()` error line.
pub fn open_dir(path: &[u8]) -> Result<std::fs::ReadDir, (u16, ErrorLine)> {
    std::fs::read_dir(as_path(path)).map_err(|e| {
        let (status, line): (u16, fn(String) -> ErrorLine) = match e
            .raw_os_error()
            .map(Errno::from_raw)
        {
            Some(Errno::ENOENT | Errno::ENOTDIR | Errno::ENAMETOOLONG) => (404, ErrorLine::error),
            Some(Errno::EACCES) => (403, ErrorLine::error),
            _ => (500, ErrorLine::crit),
        };
        let shown = String::from_utf8_lossy(path);
        let os = crate::syntax::include::os_error(&e);
        (status, line(format!("opendir() \"{shown}\" failed ({os})")))
    })
}

/// Opens `path` for reading and stats it (`test_only`: stats it only), as
/// `ngx_open_and_stat_file` does.
pub fn open(path: &[u8], test_only: bool) -> Result<Opened, OpenFailed> {
    let p = as_path(path);
    let (meta, file) = if test_only {
        let meta = std::fs::metadata(p).map_err(|error| OpenFailed {
            error,
            call: "stat()",
        })?;
        (meta, None)
    } else {
        let failed = |error| OpenFailed {
            error,
            call: "open()",
        };
        let file = File::open(p).map_err(failed)?;
        let meta = file.metadata().map_err(|error| OpenFailed {
            error,
            call: "fstat()",
        })?;
        (meta, Some(file))
    };
    Ok(Opened {
        is_dir: meta.is_dir(),
        is_file: meta.is_file(),
        size: meta.len(),
        mtime: meta.mtime(),
        file: file.filter(|_| !meta.is_dir()),
    })
}
