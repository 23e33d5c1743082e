//! The syntax tree: directives as written, before any meaning is given to them.
//!
//! `include` is not spliced in: each file is parsed once into its own [`ParsedFile`] and the
//! `include` directive lists the files it pulled in, in the order nginx reads them. This is the
//! shape crossplane's JSON has, and walkers that need nginx's reading order follow the links.

use crate::source::{FileId, Span};

/// How an argument was written; `"a b"` and `a\ b` differ for some directives (`if`, `map`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    Bare,
    Single,
    Double,
}

/// One argument (or the directive name itself), with nginx's escapes already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub value: String,
    pub quote: Quote,
    /// The whole token including quotes.
    pub span: Span,
}

impl Word {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// What follows a directive's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Terminated by `;`.
    None,
    /// `{ ... }`; `close` is `None` when the file ended first (already reported).
    Block {
        children: Vec<Directive>,
        open: Span,
        close: Option<Span>,
    },
    /// `*_by_lua_block { ... }`: the text between the braces, kept verbatim.
    Raw { text: String, open: Span },
}

/// A simple or block directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: Word,
    pub args: Vec<Word>,
    pub body: Body,
    /// The `;` or `{` that ended the directive: nginx reports directive errors on its line.
    pub end: Span,
    /// For `include`: the files it read, in nginx's order (sorted glob matches).
    pub includes: Vec<FileId>,
}

impl Directive {
    pub fn name(&self) -> &str {
        &self.name.value
    }

    pub fn children(&self) -> &[Directive] {
        match &self.body {
            Body::Block { children, .. } => children,
            _ => &[],
        }
    }

    pub fn is_block(&self) -> bool {
        !matches!(self.body, Body::None)
    }

    /// From the name to the terminator.
    pub fn span(&self) -> Span {
        self.name.span.to(self.end)
    }

    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(|w| w.value.as_str())
    }
}

/// One file's top-level directives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFile {
    pub file: FileId,
    pub directives: Vec<Directive>,
}
