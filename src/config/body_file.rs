//! Where a request body nginx reads goes to a file: `client_body_in_file_only` (every body,
//! kept or removed when the request ends) and `client_body_temp_path` (the directory and
//! its levels of subdirectories, `ngx_conf_set_path_slot`).

use std::path::PathBuf;

use super::Cx;
use crate::syntax::Directive;

/// `client_body_in_file_only off|on|clean`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InFileOnly {
    /// Only a body too long for `client_body_buffer_size` goes to a file, which nobody
    /// sees: nginx removes its name as it creates it.
    #[default]
    Off,
    /// Every body goes to a file, kept after the request.
    On,
    /// Every body goes to a file, removed when the request ends.
    Clean,
}

impl InFileOnly {
    /// The value the directive table already checked (`off`, `on`, `clean`, any case).
    pub fn parse(value: &str) -> Option<InFileOnly> {
        [("off", Self::Off), ("on", Self::On), ("clean", Self::Clean)]
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(value))
            .map(|(_, v)| v)
    }
}

/// A `*_temp_path`: files are `dir/L1/L2/0000000042`, each level taking the name's last
/// digits (`levels[0]` of them first), as `ngx_create_hashed_filename` makes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempPath {
    pub dir: PathBuf,
    pub levels: Vec<usize>,
}

impl TempPath {
    /// The directive's arguments, or `"invalid value"` as nginx words it: a level that is
    /// not a positive number, or levels longer together than a file's 10 digits.
    pub fn lower(cx: &mut Cx<'_>, d: &Directive) -> Option<TempPath> {
        let name = d.arg(0)?;
        let name = name.strip_suffix('/').unwrap_or(name);
        let mut levels = Vec::new();
        for w in d.args.iter().skip(1) {
            match crate::units::atoi(&w.value).and_then(|n| usize::try_from(n).ok()) {
                Some(n) if n > 0 => levels.push(n),
                _ => {
                    cx.invalid_value(d);
                    return None;
                }
            }
        }
        if levels.iter().sum::<usize>() > 10 {
            cx.invalid_value(d);
            return None;
        }
        Some(TempPath {
            dir: cx.prefixed(name),
            levels,
        })
    }

    /// The file numbered `n`: `%010u` under the levels.
    pub fn file(&self, n: u32) -> PathBuf {
        let name = format!("{n:010}");
        let mut path = self.dir.clone();
        let mut end = name.len();
        for &level in &self.levels {
            let start = end.saturating_sub(level);
            path.push(&name[start..end]);
            end = start;
        }
        path.push(name);
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_take_the_last_digits_first() {
        let path = |levels: Vec<usize>| TempPath {
            dir: PathBuf::from("/t/body"),
            levels,
        };
        assert_eq!(path(vec![]).file(7), PathBuf::from("/t/body/0000000007"));
        assert_eq!(
            path(vec![1, 2]).file(1234567),
            PathBuf::from("/t/body/7/56/0001234567")
        );
        assert_eq!(
            path(vec![2, 2, 2]).file(42),
            PathBuf::from("/t/body/42/00/00/0000000042")
        );
    }
}
