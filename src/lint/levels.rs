//! Where each setting a lint cares about comes from: for every `server` and `location`, the
//! directives in force there and the level that set them. nginx's own merge lives in
//! `config/settings.rs`; this keeps only provenance (spans) for the messages, for the few
//! settings the lints read.

use crate::syntax::{Directive, SyntaxTree};

/// The level a setting was written at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Http,
    Server,
    Location,
    /// An `if` block inside a location: nginx gives it a configuration of its own.
    If,
}

/// The settings in force at one level, with the directives that set them.
#[derive(Debug, Clone, Default)]
pub struct InForce<'t> {
    /// `proxy_set_header` lines in force, and the level they were written at.
    pub set_headers: Option<(Level, Vec<&'t Directive>)>,
    /// `add_header` lines in force, and the level they were written at.
    pub add_headers: Option<(Level, Vec<&'t Directive>)>,
    pub http_version: Option<&'t Directive>,
    pub read_timeout: Option<(Level, &'t Directive)>,
    pub resolver: Option<&'t Directive>,
}

/// A `server` or `location` block, with what is in force there and what its parent had.
#[derive(Debug)]
pub struct Block<'t> {
    /// The `server` or `location` directive.
    pub block: &'t Directive,
    pub level: Level,
    /// Its own `proxy_pass`, if it proxies.
    pub proxy_pass: Option<&'t Directive>,
    pub here: InForce<'t>,
    /// `proxy_set_header` lines of the enclosing levels that this block's own lines hide.
    pub hidden_set_headers: Vec<&'t Directive>,
    /// `add_header` lines of the enclosing levels that this block's own lines hide.
    pub hidden_add_headers: Vec<&'t Directive>,
}

impl<'t> InForce<'t> {
    /// This level's settings: what `directives` set, else what `parent` had. A list directive
    /// set at this level replaces the whole list above, as nginx merges arrays.
    fn child(parent: &InForce<'t>, level: Level, directives: &[&'t Directive]) -> InForce<'t> {
        let mut here = parent.clone();
        let own = |name: &str| {
            let list: Vec<&'t Directive> = directives
                .iter()
                .copied()
                .filter(|d| d.name() == name)
                .collect();
            (!list.is_empty()).then_some((level, list))
        };
        if let Some(list) = own("proxy_set_header") {
            here.set_headers = Some(list);
        }
        if let Some(list) = own("add_header") {
            here.add_headers = Some(list);
        }
        for d in directives {
            match d.name() {
                "proxy_http_version" => here.http_version = Some(d),
                "proxy_read_timeout" => here.read_timeout = Some((level, d)),
                "resolver" => here.resolver = Some(d),
                _ => {}
            }
        }
        here
    }
}

impl<'t> Block<'t> {
    fn new(
        block: &'t Directive,
        level: Level,
        inner: &[&'t Directive],
        parent: &InForce<'t>,
    ) -> Block<'t> {
        let here = InForce::child(parent, level, inner);
        Block {
            block,
            level,
            proxy_pass: inner.iter().copied().find(|d| d.name() == "proxy_pass"),
            hidden_set_headers: hidden(&parent.set_headers, &here.set_headers, level),
            hidden_add_headers: hidden(&parent.add_headers, &here.add_headers, level),
            here,
        }
    }
}

/// The lines of `outer` that a list set at `level` itself (`own`) hides: those naming a
/// header the own list does not name again.
fn hidden<'t>(
    outer: &Option<(Level, Vec<&'t Directive>)>,
    own: &Option<(Level, Vec<&'t Directive>)>,
    level: Level,
) -> Vec<&'t Directive> {
    match (outer, own) {
        (Some((_, outer)), Some((at, own))) if *at == level => outer
            .iter()
            .copied()
            .filter(|o| !own.iter().any(|d| same_header(d, o)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every `server` and `location` block of the configuration, nested locations included.
pub fn blocks(tree: &SyntaxTree) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    let main = tree.expand(&tree.main().directives);
    for http in main.iter().filter(|d| d.name() == "http") {
        let http_level = tree.expand(http.children());
        let at_http = InForce::child(&InForce::default(), Level::Http, &http_level);
        for server in http_level
            .iter()
            .filter(|d| d.name() == "server" && d.is_block())
        {
            let server_level = tree.expand(server.children());
            let block = Block::new(server, Level::Server, &server_level, &at_http);
            let at_server = block.here.clone();
            out.push(block);
            locations(tree, &server_level, &at_server, false, &mut out);
        }
    }
    out
}

/// The locations under `level`, and the `if` blocks when `level` is a location's.
fn locations<'t>(
    tree: &'t SyntaxTree,
    level: &[&'t Directive],
    parent: &InForce<'t>,
    in_location: bool,
    out: &mut Vec<Block<'t>>,
) {
    for d in level.iter().filter(|d| d.is_block()) {
        let kind = match d.name() {
            "location" => Level::Location,
            "if" if in_location => Level::If,
            _ => continue,
        };
        let inner = tree.expand(d.children());
        let block = Block::new(d, kind, &inner, parent);
        let here = block.here.clone();
        out.push(block);
        locations(tree, &inner, &here, true, out);
    }
}

fn same_header(a: &Directive, b: &Directive) -> bool {
    matches!((a.arg(0), b.arg(0)), (Some(x), Some(y)) if x.eq_ignore_ascii_case(y))
}

impl InForce<'_> {
    /// The value of `proxy_set_header NAME` in force, if any.
    pub fn header(&self, name: &str) -> Option<&Directive> {
        let (_, list) = self.set_headers.as_ref()?;
        list.iter()
            .copied()
            .rfind(|d| d.arg(0).is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }
}
