//! Where each setting a lint cares about comes from: for every `location` that proxies, the
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
}

/// The settings in force at one level, with the directives that set them.
#[derive(Debug, Clone, Default)]
pub struct InForce<'t> {
    /// `proxy_set_header` lines in force, and the level they were written at.
    pub set_headers: Option<(Level, Vec<&'t Directive>)>,
    pub http_version: Option<&'t Directive>,
    pub read_timeout: Option<(Level, &'t Directive)>,
    pub resolver: Option<&'t Directive>,
}

/// A location that proxies, with what is in force there and what its parents had.
#[derive(Debug)]
pub struct ProxyLocation<'t> {
    pub location: &'t Directive,
    pub proxy_pass: &'t Directive,
    pub here: InForce<'t>,
    /// `proxy_set_header` lines of the enclosing levels that this location's own lines hide.
    pub hidden_headers: Vec<&'t Directive>,
}

impl<'t> InForce<'t> {
    /// This level's settings: what `directives` set, else what `parent` had.
    fn child(parent: &InForce<'t>, level: Level, directives: &[&'t Directive]) -> InForce<'t> {
        let mut here = parent.clone();
        let headers: Vec<&Directive> = directives
            .iter()
            .copied()
            .filter(|d| d.name() == "proxy_set_header")
            .collect();
        if !headers.is_empty() {
            here.set_headers = Some((level, headers));
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

/// Every proxying location of the configuration, nested ones included.
pub fn proxy_locations(tree: &SyntaxTree) -> Vec<ProxyLocation<'_>> {
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
            let at_server = InForce::child(&at_http, Level::Server, &server_level);
            locations(tree, &server_level, &at_server, &mut out);
        }
    }
    out
}

fn locations<'t>(
    tree: &'t SyntaxTree,
    level: &[&'t Directive],
    parent: &InForce<'t>,
    out: &mut Vec<ProxyLocation<'t>>,
) {
    for loc in level
        .iter()
        .filter(|d| d.name() == "location" && d.is_block())
    {
        let inner = tree.expand(loc.children());
        let here = InForce::child(parent, Level::Location, &inner);
        if let Some(pass) = inner.iter().find(|d| d.name() == "proxy_pass") {
            let hidden_headers = match (&parent.set_headers, &here.set_headers) {
                (Some((_, outer)), Some((Level::Location, own))) => outer
                    .iter()
                    .copied()
                    .filter(|o| !own.iter().any(|d| same_header(d, o)))
                    .collect(),
                _ => Vec::new(),
            };
            out.push(ProxyLocation {
                location: loc,
                proxy_pass: pass,
                here: here.clone(),
                hidden_headers,
            });
        }
        locations(tree, &inner, &here, out);
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
