//! Text → syntax tree. Knows nginx's token and block rules and `include`, nothing about what
//! any directive means.

pub mod include;
pub(crate) mod lexer;
pub mod parser;
pub mod tree;

pub use include::{SyntaxTree, load};
pub use tree::{Body, Directive, ParsedFile, Quote, Word};
