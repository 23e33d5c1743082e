//! nginx's directive table and the rules `ngx_conf_handler` applies with it. (Being written.)

use crate::cli::Paths;
use crate::diag::Sink;
use crate::syntax::SyntaxTree;

/// Checks every directive against nginx's rules: known, allowed in its context, right number
/// of arguments, and ngxr's own support for it.
pub fn check_tree(_tree: &SyntaxTree, _paths: &Paths, _sink: &mut Sink) {}
