//! Source files and positions. Every later stage points back into these texts through a
//! [`Span`], so a diagnostic anywhere in ngxr can name file, line and column.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// One file as read from disk: its path as nginx would print it, its bytes, and where lines start.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as written or resolved (absolute when nginx would make it absolute).
    pub path: PathBuf,
    /// Raw bytes; nginx configs need not be UTF-8.
    pub bytes: Arc<[u8]>,
    /// The text with invalid UTF-8 replaced, for miette snippets.
    pub text: Arc<str>,
    /// The `-g` directives: nginx names their position "command line".
    pub command_line: bool,
    line_starts: Vec<u32>,
}

impl SourceFile {
    pub fn new(path: PathBuf, bytes: Vec<u8>) -> SourceFile {
        let mut line_starts = vec![0u32];
        line_starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i as u32 + 1),
        );
        let text: Arc<str> = text_same_offsets(&bytes).into();
        SourceFile {
            path,
            bytes: bytes.into(),
            text,
            command_line: false,
            line_starts,
        }
    }

    /// 1-based line and column (column counted in bytes, as nginx counts lines in bytes).
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        (line + 1, (offset - self.line_starts[line]) as usize + 1)
    }

    /// The length in bytes of the line holding `offset`.
    pub fn line_len(&self, offset: u32) -> usize {
        let (line, _) = self.line_col(offset);
        let start = self.line_starts[line - 1] as usize;
        let end = self
            .line_starts
            .get(line)
            .map_or(self.bytes.len(), |&e| e as usize);
        end - start
    }

    /// The number of lines as nginx counts them: one more than the number of newlines.
    pub fn last_line(&self) -> usize {
        self.line_starts.len()
    }
}

/// The bytes as text with each invalid byte replaced by `?`, so byte offsets stay valid.
fn text_same_offsets(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(std::iter::repeat_n('?', chunk.invalid().len()));
    }
    out
}

/// All files read for one configuration, in the order they were first read.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, path: PathBuf, bytes: Vec<u8>) -> FileId {
        self.files.push(SourceFile::new(path, bytes));
        FileId(self.files.len() as u32 - 1)
    }

    /// The text of nginx's `-g` option, read as a file of its own.
    pub fn add_command_line(&mut self, text: &str) -> FileId {
        let id = self.add("command line".into(), text.as_bytes().to_vec());
        self.files[id.0 as usize].command_line = true;
        id
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn find(&self, path: &Path) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.path == path)
            .map(|i| FileId(i as u32))
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }

    /// `path:line` the way nginx prints positions in `[emerg]` lines.
    pub fn nginx_pos(&self, span: Span) -> String {
        let f = self.file(span.file);
        if f.command_line {
            return "command line".into();
        }
        let (line, _) = f.line_col(span.start);
        format!("{}:{}", f.path.display(), line)
    }

    pub fn text(&self, span: Span) -> &str {
        let f = self.file(span.file);
        f.text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let f = SourceFile::new("x".into(), b"ab\ncd\n".to_vec());
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(1), (1, 2));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(6), (3, 1));
        assert_eq!(f.last_line(), 3);
    }
}
