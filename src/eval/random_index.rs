//! `random_index` (`ngx_http_random_index_handler`), tried before the index module: for a
//! URI ending in `/`, an internal redirect to the URI plus one regular file of the
//! directory chosen at random (links followed; names starting with `.` skipped), the
//! arguments kept. It declines for a directory with no such file.

use std::os::unix::ffi::OsStrExt;

use super::plan::ErrorLine;
use super::request::Req;
use super::route::Next;
use super::site::CLocation;
use super::static_::Served;

/// `None` when it declines (off here, or no file to choose).
pub fn handler(loc: &CLocation, req: &mut Req<'_>, served: &mut Served) -> Option<Next> {
    if !loc.content.random_index {
        return None;
    }
    let mapped = match served.map_root(loc, req) {
        Ok(m) => m,
        Err(next) => return Some(next),
    };
    let mut path = mapped.path;
    path.pop();
    let shown = String::from_utf8_lossy(&path).into_owned();
    let listing = match super::files::open_dir(&path) {
        Ok(l) => l,
        Err((status, line)) => {
            served.errors.push(line);
            return Some(Next::Special(status, Vec::new()));
        }
    };
    let mut names = Vec::new();
    for item in listing {
        let item = match item {
            Ok(item) => item,
            Err(e) => {
                let os = crate::syntax::include::os_error(&e);
                served.errors.push(ErrorLine::crit(format!(
                    "readdir() \"{shown}\" failed ({os})"
                )));
                return Some(Next::Special(500, Vec::new()));
            }
        };
        let name = item.file_name();
        if name.as_bytes().first() == Some(&b'.') {
            continue;
        }
        // readdir's type, or for a link what it points at (a dangling one is no file).
        let is_file = match item.file_type() {
            Ok(t) if t.is_symlink() => std::fs::metadata(item.path()).is_ok_and(|m| m.is_file()),
            Ok(t) => t.is_file(),
            Err(_) => false,
        };
        if is_file {
            names.push(name.as_bytes().to_vec());
        }
    }
    let chosen = names.get(pick(names.len())?)?;
    let mut to = req.target.uri.clone();
    to.extend_from_slice(chosen);
    Some(Next::Redirect(to, req.target.args.clone()))
}

/// An index below `n` drawn as nginx draws it (`ngx_random() * n / 2^31`); `None` for 0.
fn pick(n: usize) -> Option<usize> {
    use ring::rand::SecureRandom;
    if n == 0 {
        return None;
    }
    let mut bytes = [0u8; 4];
    // A failing source picks the first name rather than failing the request.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    let r = u64::from(u32::from_le_bytes(bytes) >> 1);
    usize::try_from((r * n as u64) >> 31).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn picks_stay_below_the_count() {
        assert_eq!(super::pick(0), None);
        assert_eq!(super::pick(1), Some(0));
        assert!((0..200).all(|_| super::pick(3).is_some_and(|i| i < 3)));
    }
}
