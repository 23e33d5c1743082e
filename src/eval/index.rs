//! The index module (`ngx_http_index_module`): for a URI ending in `/`, an internal redirect
//! to the URI plus the first index name whose file exists (locations are searched again), or
//! nginx's 403/404/500 when the directory itself is missing or unreadable.

use nix::errno::Errno;

use super::files;
use super::plan::ErrorLine;
use super::request::Req;
use super::route::Next;
use super::site::CLocation;
use super::static_::Served;

/// `ngx_http_index_handler`: `None` when it declines (no index file exists).
pub fn handler(loc: &CLocation, req: &mut Req<'_>, served: &mut Served) -> Option<Next> {
    let mut dir_tested = false;
    for name in &loc.content.index {
        let name = name.eval(req);
        if name.first() == Some(&b'/') {
            return Some(Next::Redirect(name, req.target.args.clone()));
        }
        let mapped = match served.map_root(loc, req) {
            Ok(m) => m,
            Err(next) => return Some(next),
        };
        let name_at = mapped.path.len();
        let mut path = mapped.path;
        path.extend_from_slice(&name);
        let failed = match files::open(&path, true) {
            Ok(_) => {
                let mut to = req.target.uri.clone();
                to.extend_from_slice(&name);
                return Some(Next::Redirect(to, req.target.args.clone()));
            }
            Err(failed) => failed,
        };
        let errno = failed.error.raw_os_error().map(Errno::from_raw);
        match errno {
            Some(Errno::ELOOP | Errno::EMLINK) => return Some(Next::Special(403, Vec::new())),
            Some(Errno::ENOTDIR | Errno::ENAMETOOLONG | Errno::EACCES) => {
                return Some(index_error(loc, served, &path, &failed.error));
            }
            _ => {}
        }
        if !dir_tested {
            if let Some(next) = test_dir(loc, served, &path, name_at) {
                return Some(next);
            }
            dir_tested = true;
        }
        if errno != Some(Errno::ENOENT) {
            served.errors.push(failed.line(&path));
            return Some(Next::Special(500, Vec::new()));
        }
    }
    None
}

/// `ngx_http_index_test_dir`: the directory the index files were looked for in must exist.
fn test_dir(loc: &CLocation, served: &mut Served, path: &[u8], name_at: usize) -> Option<Next> {
    // The directory ends before the slash that precedes the name; with an `alias` that has
    // no trailing slash, the name follows the directory directly.
    let end = match name_at.checked_sub(1) {
        Some(slash) if slash > 0 && path[slash] == b'/' => slash,
        _ => name_at,
    };
    let dir = &path[..end.min(path.len())];
    match files::open(dir, true) {
        Ok(found) if found.is_dir => None,
        Ok(_) => {
            served.errors.push(ErrorLine::alert(format!(
                "\"{}\" is not a directory",
                String::from_utf8_lossy(dir)
            )));
            Some(Next::Special(500, Vec::new()))
        }
        Err(e) => match e.error.raw_os_error().map(Errno::from_raw) {
            Some(Errno::ELOOP | Errno::EMLINK) => Some(Next::Special(403, Vec::new())),
            Some(Errno::ENOENT) => Some(index_error(loc, served, path, &e.error)),
            Some(Errno::EACCES) => None,
            _ => {
                served.errors.push(e.line(dir));
                Some(Next::Special(500, Vec::new()))
            }
        },
    }
}

/// `ngx_http_index_error`: 403 for a permission error, else 404.
fn index_error(loc: &CLocation, served: &mut Served, path: &[u8], error: &std::io::Error) -> Next {
    let file = String::from_utf8_lossy(path);
    let os = crate::syntax::include::os_error(error);
    if error.raw_os_error() == Some(Errno::EACCES as i32) {
        served
            .errors
            .push(ErrorLine::error(format!("\"{file}\" is forbidden ({os})")));
        return Next::Special(403, Vec::new());
    }
    if loc.content.log_not_found {
        served
            .errors
            .push(ErrorLine::error(format!("\"{file}\" is not found ({os})")));
    }
    Next::Special(404, Vec::new())
}
