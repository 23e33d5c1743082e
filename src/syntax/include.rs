//! Reading a configuration and the files it includes, as `ngx_conf_include` does: a relative
//! path is taken from the directory of the main configuration file, a pattern with `*`, `?`
//! or `[` is a glob whose matches are read in sorted order (no match is fine, `*` skips
//! dotfiles), and a plain path that cannot be opened is an error at the `include` line.
//! Each file is parsed once; nginx has no cycle check (it recurses until it runs out of
//! files), ngxr reports a cycle at the `include` that closes it.

use std::path::{Path, PathBuf};

use super::parser;
use super::tree::{Directive, ParsedFile};
use crate::diag::{Diagnostic, NginxAt};
use crate::source::{FileId, SourceMap, Span};

/// Every file read for one configuration.
#[derive(Debug, Default)]
pub struct SyntaxTree {
    pub sources: SourceMap,
    /// Indexed by `FileId`.
    pub files: Vec<ParsedFile>,
    /// The syntax error that stopped each file, if any (indexed by `FileId`).
    pub syntax_errors: Vec<Option<Diagnostic>>,
    /// Problems with an `include` (missing file, cycle), keyed by the directive's `;`.
    pub include_errors: Vec<(Span, Diagnostic)>,
    /// The `-g` directives, read before the main file (as nginx does).
    pub globals: Option<FileId>,
    /// nginx's reading position of each directive (keyed by its `;`/`{`), for ordering
    /// diagnostics the way `nginx -t` meets them.
    orders: std::collections::HashMap<Span, u64>,
}

impl SyntaxTree {
    pub fn main(&self) -> &ParsedFile {
        &self.files[0]
    }

    pub fn file(&self, id: FileId) -> &ParsedFile {
        &self.files[id.0 as usize]
    }

    /// `directives` with every `include` replaced by what it read, recursively, in nginx's
    /// reading order. Blocks are not entered: call again on a block's children.
    pub fn expand<'t>(&'t self, directives: &'t [Directive]) -> Vec<&'t Directive> {
        let mut out = Vec::with_capacity(directives.len());
        self.expand_into(directives, &mut out, 0);
        out
    }

    fn expand_into<'t>(
        &'t self,
        directives: &'t [Directive],
        out: &mut Vec<&'t Directive>,
        depth: usize,
    ) {
        for d in directives {
            if d.name() == "include" && !d.is_block() && depth < MAX_INCLUDE_DEPTH {
                for id in &d.includes {
                    self.expand_into(&self.file(*id).directives, out, depth + 1);
                }
            } else {
                out.push(d);
            }
        }
    }

    /// The position at which nginx reads `d` (its handler runs then). Diagnostics about `d`
    /// take this as their `order`; checks nginx makes when a block closes add a little.
    pub fn order_of(&self, d: &Directive) -> u64 {
        self.orders.get(&d.end).copied().unwrap_or(u64::MAX / 2)
    }

    /// The position just after everything read so far in `file` (its syntax error, if any).
    pub fn order_after(&self, directives: &[Directive]) -> u64 {
        fn last(ds: &[Directive]) -> Option<&Directive> {
            let d = ds.last()?;
            last(d.children()).or(Some(d))
        }
        last(directives).map(|d| self.order_of(d) + 1).unwrap_or(0)
    }

    fn number(&mut self) {
        let mut orders = std::collections::HashMap::new();
        let mut next = 1u64;
        if let Some(g) = self.globals {
            self.number_into(&self.file(g).directives, &mut orders, &mut next, 0);
        }
        self.number_into(&self.main().directives, &mut orders, &mut next, 0);
        self.orders = orders;
    }

    fn number_into(
        &self,
        directives: &[Directive],
        orders: &mut std::collections::HashMap<Span, u64>,
        next: &mut u64,
        depth: usize,
    ) {
        if depth > MAX_INCLUDE_DEPTH + super::parser::MAX_DEPTH {
            return;
        }
        for d in directives {
            orders.entry(d.end).or_insert(*next);
            *next += 1000;
            for id in &d.includes {
                self.number_into(&self.file(*id).directives, orders, next, depth + 1);
            }
            self.number_into(d.children(), orders, next, depth + 1);
        }
    }

    pub fn include_error(&self, end: Span) -> Option<&Diagnostic> {
        self.include_errors
            .iter()
            .find(|(s, _)| *s == end)
            .map(|(_, d)| d)
    }
}

/// Includes are acyclic (cycles are cut when loading); this only bounds the recursion.
const MAX_INCLUDE_DEPTH: usize = 64;

/// Why the main file could not be read at all.
#[derive(Debug)]
pub struct OpenError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&open_failed(&self.path, &self.error))
    }
}

/// nginx's `open() "PATH" failed (2: No such file or directory)`.
pub fn open_failed(path: &Path, e: &std::io::Error) -> String {
    format!("open() \"{}\" failed ({})", path.display(), os_error(e))
}

/// nginx's `(2: No such file or directory)` form of an OS error.
pub fn os_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    match e.raw_os_error() {
        Some(code) => format!("{code}: {text}"),
        None => text,
    }
}

/// Reads `path` and everything it includes. `conf_prefix` is the directory relative includes
/// are resolved against; `globals` is the text of nginx's `-g` option.
pub fn load(
    path: &Path,
    conf_prefix: &Path,
    globals: Option<&str>,
) -> Result<SyntaxTree, OpenError> {
    let bytes = read(path).map_err(|error| OpenError {
        path: path.to_path_buf(),
        error,
    })?;
    let mut tree = SyntaxTree::default();
    let mut loader = Loader {
        tree: &mut tree,
        conf_prefix,
        stack: Vec::new(),
    };
    loader.add_file(path.to_path_buf(), bytes);
    if let Some(text) = globals {
        let id = tree.sources.add_command_line(text);
        let (directives, err) = parser::parse_param(id, text.as_bytes());
        tree.files.push(ParsedFile {
            file: id,
            directives,
        });
        tree.syntax_errors.push(err);
        tree.globals = Some(id);
    }
    tree.number();
    Ok(tree)
}

fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    if path.is_dir() {
        return Err(std::io::Error::from_raw_os_error(21));
    }
    std::fs::read(path)
}

struct Loader<'a> {
    tree: &'a mut SyntaxTree,
    conf_prefix: &'a Path,
    /// Files being expanded, outermost first: an include of one of these is a cycle.
    stack: Vec<FileId>,
}

impl Loader<'_> {
    fn add_file(&mut self, path: PathBuf, bytes: Vec<u8>) -> FileId {
        let id = self.tree.sources.add(path, bytes);
        let (mut directives, err) = parser::parse(id, &self.tree.sources.file(id).bytes.clone());
        self.tree.files.push(ParsedFile {
            file: id,
            directives: Vec::new(),
        });
        self.tree.syntax_errors.push(err);
        self.stack.push(id);
        self.expand(&mut directives);
        self.stack.pop();
        self.tree.files[id.0 as usize].directives = directives;
        id
    }

    fn expand(&mut self, directives: &mut [Directive]) {
        for d in directives {
            if let super::tree::Body::Block { children, .. } = &mut d.body {
                // `include` inside `map`, `types` etc. is handled by those blocks in nginx too.
                self.expand(children);
            }
            if d.name() == "include" && d.args.len() == 1 && !d.is_block() {
                d.includes = self.include(d);
            }
        }
    }

    fn include(&mut self, d: &Directive) -> Vec<FileId> {
        let arg = &d.args[0].value;
        let full = full_name(self.conf_prefix, arg);
        let full_text = full.to_string_lossy().into_owned();
        if !full_text.contains(['*', '?', '[']) {
            return self.include_one(d, full).into_iter().collect();
        }
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let paths = match glob::glob_with(&full_text, options) {
            Ok(paths) => paths,
            Err(e) => {
                self.error(d, format!("glob() \"{full_text}\" failed ({e})"));
                return Vec::new();
            }
        };
        let mut matches: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        matches.sort();
        matches
            .into_iter()
            .filter_map(|p| self.include_one(d, p))
            .collect()
    }

    fn include_one(&mut self, d: &Directive, path: PathBuf) -> Option<FileId> {
        if let Some(id) = self.tree.sources.find(&path) {
            if self.stack.contains(&id) {
                let msg = format!("include cycle: \"{}\" includes itself", path.display());
                self.error(d, msg);
                return None;
            }
            return Some(id);
        }
        match read(&path) {
            Ok(bytes) => Some(self.add_file(path, bytes)),
            Err(e) => {
                if e.raw_os_error() == Some(21) {
                    // nginx opens a directory fine and fails reading it, without a position.
                    let msg = format!("pread() \"{}\" failed ({})", path.display(), os_error(&e));
                    let diag =
                        Diagnostic::emerg("include", msg, d.span(), d.end).at(NginxAt::Nowhere);
                    self.tree.include_errors.push((d.end, diag));
                } else {
                    let msg = open_failed(&path, &e);
                    self.error(d, msg);
                }
                None
            }
        }
    }

    fn error(&mut self, d: &Directive, message: String) {
        let diag = Diagnostic::emerg("include", message, d.span(), d.end);
        self.tree.include_errors.push((d.end, diag));
    }
}

/// `ngx_conf_full_name`: an absolute path as it is, a relative one joined to `prefix`.
pub fn full_name(prefix: &Path, name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        prefix.join(p)
    }
}
