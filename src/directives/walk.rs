//! The walk `nginx -t` makes: every directive in reading order (includes followed), checked as
//! `ngx_conf_handler` checks it, then by the standard value handlers, then for ngxr's support.
//! Errors go to the sink with nginx's wording and reading position; the walk never stops early.

use std::collections::HashMap;

use super::context::Context;
use super::flags::*;
use super::support::{Support, support};
use super::{Module, Slot, Spec, env, lookup};
use crate::cli::Paths;
use crate::diag::{AfterParse, Diagnostic, NginxAt, Severity, Sink};
use crate::source::Span;
use crate::syntax::{Body, Directive, SyntaxTree};
use crate::units;

/// Checks every directive of `tree` against nginx's rules; see the module docs.
pub fn check_tree(tree: &SyntaxTree, paths: &Paths, sink: &mut Sink) {
    syntax_errors(tree, sink);
    let mut w = Walker {
        tree,
        paths,
        sink,
        log_formats: vec!["combined".into()],
        events_seen: false,
    };
    let mut main_seen = HashMap::new();
    if let Some(g) = tree.globals {
        w.block(&tree.file(g).directives, Context::Main, &mut main_seen);
    }
    w.block(&tree.main().directives, Context::Main, &mut main_seen);
    if !w.events_seen {
        let file = tree.main().file;
        let mut d = Diagnostic::emerg(
            "events::missing",
            "no \"events\" section in configuration",
            Span::new(file, 0, 0),
            Span::new(file, 0, 0),
        )
        .at(NginxAt::Nowhere)
        .with_help("add `events {}` at the top level");
        d.order = AfterParse::InitModules.order(0);
        w.sink.push(d);
    }
    env::check_http(tree, paths, w.sink);
}

/// Each file's syntax error, placed after the last directive read before it.
fn syntax_errors(tree: &SyntaxTree, sink: &mut Sink) {
    for (i, err) in tree.syntax_errors.iter().enumerate() {
        let Some(err) = err else { continue };
        let mut err = err.clone();
        err.order = tree.order_after(&tree.files[i].directives).max(1);
        sink.push(err);
    }
}

struct Walker<'a> {
    tree: &'a SyntaxTree,
    paths: &'a Paths,
    sink: &'a mut Sink,
    /// `log_format` names defined so far: `access_log` looks its format up when it is read.
    log_formats: Vec<String>,
    events_seen: bool,
}

/// Directives already seen in one block, for `"x" directive is duplicate`.
type Seen<'t> = HashMap<&'t str, Span>;

impl<'a> Walker<'a> {
    fn block(&mut self, directives: &'a [Directive], ctx: Context, seen: &mut Seen<'a>) {
        for d in directives {
            self.directive(d, ctx, seen);
        }
    }

    fn error(&mut self, d: &Directive, code: &'static str, message: String) {
        let mut diag = Diagnostic::emerg(code, message, d.name.span, d.end);
        diag.order = self.tree.order_of(d);
        self.sink.push(diag);
    }

    fn directive(&mut self, d: &'a Directive, ctx: Context, seen: &mut Seen<'a>) {
        let name = d.name();
        let specs = lookup(name);
        if specs.is_empty() {
            let mut diag = Diagnostic::emerg(
                "directive::unknown",
                format!("unknown directive \"{name}\""),
                d.name.span,
                d.end,
            );
            diag.order = self.tree.order_of(d);
            if let Some(similar) = similar_name(name) {
                diag = diag.with_help(format!("did you mean \"{similar}\"?"));
            }
            self.sink.push(diag);
            return;
        }
        let Some(spec) = specs
            .iter()
            .filter(|s| s.module == Module::Conf || s.module == ctx.module())
            .find(|s| s.flags & ctx.cmd_type() != 0)
        else {
            self.error(
                d,
                "directive::not_allowed",
                format!("\"{name}\" directive is not allowed here"),
            );
            return;
        };
        if d.is_block() && self.tree.sources.file(d.name.span.file).command_line {
            let msg = "block directives are not supported in -g option".to_string();
            self.error(d, "directive::block_in_g", msg);
            return;
        }
        if spec.flags & BLOCK == 0 && d.is_block() {
            self.error(
                d,
                "directive::not_terminated",
                format!("directive \"{name}\" is not terminated by \";\""),
            );
            return;
        }
        if spec.flags & BLOCK != 0 && !d.is_block() {
            self.error(
                d,
                "directive::no_opening_brace",
                format!("directive \"{name}\" has no opening \"{{\""),
            );
            return;
        }
        if !arity_ok(spec.flags, d.args.len()) {
            self.error(
                d,
                "directive::arguments",
                format!("invalid number of arguments in \"{name}\" directive"),
            );
            return;
        }
        if spec.unique {
            if let Some(first) = seen.get(name) {
                let mut diag = Diagnostic::emerg(
                    "directive::duplicate",
                    format!("\"{name}\" directive is duplicate"),
                    d.name.span,
                    d.end,
                )
                .with_related(*first, "first set here");
                diag.order = self.tree.order_of(d);
                self.sink.push(diag);
                return;
            }
            seen.insert(name, d.name.span);
        }
        self.value(d, spec);
        self.special(d, ctx);
        env::check_directive(self.tree, self.paths, d, self.sink);
        if support(d) == Support::Inert {
            self.sink.push(Diagnostic::lint(
                Severity::Info,
                "ngxr::inert",
                format!("\"{name}\" is ignored by ngxr: it changes nothing a proxy's clients or backends can see"),
                d.name.span,
            ));
        }
        if support(d) == Support::Unsupported {
            self.sink.push(
                Diagnostic::lint(
                    Severity::Warning,
                    super::UNSUPPORTED,
                    format!("\"{name}\" is not implemented by ngxr; ngxr refuses to serve this configuration"),
                    d.name.span,
                )
                .with_help("see the table of served and inert directives in ngxr's README"),
            );
        }
        if name == "include" {
            if let Some(err) = self.tree.include_error(d.end) {
                let mut err = err.clone();
                err.order = self.tree.order_of(d);
                self.sink.push(err);
            }
            for id in &d.includes {
                self.block(&self.tree.file(*id).directives, ctx, seen);
            }
        }
        if let Body::Block { children, .. } = &d.body {
            let inner = ctx.enter(name);
            if inner == Context::Data {
                self.data_block(d, children);
            } else {
                self.block(children, inner, &mut HashMap::new());
            }
        }
    }

    /// What nginx's standard value handlers reject.
    fn value(&mut self, d: &Directive, spec: &Spec) {
        let name = d.name();
        let Some(first) = d.args.first() else { return };
        let v = first.value.as_str();
        let invalid = |what: &str| format!("\"{name}\" directive {what}");
        match spec.slot {
            Slot::Flag if !v.eq_ignore_ascii_case("on") && !v.eq_ignore_ascii_case("off") => {
                self.error(
                    d,
                    "value::flag",
                    format!("invalid value \"{v}\" in \"{name}\" directive, it must be \"on\" or \"off\""),
                );
            }
            Slot::Num if !is_number(v) => {
                self.error(d, "value::number", invalid("invalid number"));
            }
            Slot::Size if units::parse_size(v).is_none() => {
                self.error(d, "value::size", invalid("invalid value"));
            }
            Slot::Off if units::parse_offset(v).is_none() => {
                self.error(d, "value::size", invalid("invalid value"));
            }
            Slot::Msec if units::parse_time(v, false).is_none() => {
                self.error(d, "value::time", invalid("invalid value"));
            }
            Slot::Sec if units::parse_time(v, true).is_none() => {
                self.error(d, "value::time", invalid("invalid value"));
            }
            Slot::Bufs => {
                let size = d.arg(1).and_then(units::parse_size);
                if !is_number(v) || v.bytes().all(|b| b == b'0') || size.is_none_or(|s| s == 0) {
                    self.error(d, "value::bufs", invalid("invalid value"));
                }
            }
            Slot::Enum(values) if !values.iter().any(|e| e.eq_ignore_ascii_case(v)) => {
                self.error(d, "value::enum", format!("invalid value \"{v}\""));
            }
            Slot::Bitmask(values) => {
                if let Some(bad) = d
                    .args
                    .iter()
                    .find(|a| !values.iter().any(|e| e.eq_ignore_ascii_case(&a.value)))
                {
                    self.error(d, "value::enum", format!("invalid value \"{}\"", bad.value));
                }
            }
            _ => {}
        }
    }

    /// Checks of particular directives' own handlers that configs meet in practice.
    fn special(&mut self, d: &Directive, ctx: Context) {
        match (d.name(), ctx) {
            ("events", _) => self.events_seen = true,
            ("log_format", _) => {
                if let Some(n) = d.arg(0) {
                    self.log_formats.push(n.to_string());
                }
            }
            ("access_log", _) => {
                // `access_log path [format ...]`: the format must already be defined.
                if let Some(format) = d.arg(1).filter(|f| !f.contains('='))
                    && d.arg(0) != Some("off")
                    && !self.log_formats.iter().any(|f| f == format)
                {
                    let msg = format!("unknown log format \"{format}\"");
                    self.error(d, "log::unknown_format", msg);
                }
            }
            ("proxy_cache_valid" | "fastcgi_cache_valid", _) => {
                if let Some(message) = cache_valid_error(&d.args) {
                    self.error(d, "value::cache_valid", message);
                }
            }
            // `ngx_conf_deprecated`, the post handler of the http module's `ssl` flag: run
            // once the value is read.
            ("ssl", Context::Http | Context::Server)
                if d.arg(0).is_some_and(|v| {
                    v.eq_ignore_ascii_case("on") || v.eq_ignore_ascii_case("off")
                }) =>
            {
                let message = "the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive instead";
                let mut diag =
                    Diagnostic::emerg("directive::deprecated", message, d.name.span, d.end)
                        .with_severity(Severity::Warning);
                diag.order = self.tree.order_of(d);
                self.sink.push(diag);
            }
            // `ngx_http_v2_obsolete`: warned about, value unread, nothing set.
            (old, _) if OBSOLETE_HTTP2.iter().any(|(o, _)| *o == old) => {
                let new = OBSOLETE_HTTP2
                    .iter()
                    .find(|(o, _)| *o == old)
                    .map_or("", |(_, n)| n);
                let message = format!(
                    "the \"{old}\" directive is obsolete, use the \"{new}\" directive instead"
                );
                let mut diag =
                    Diagnostic::emerg("directive::obsolete", message, d.name.span, d.end)
                        .with_severity(Severity::Warning);
                diag.order = self.tree.order_of(d);
                self.sink.push(diag);
            }
            _ => {}
        }
    }
}

/// The HTTP/2 module's directives made obsolete in nginx 1.19.7, with what replaced them.
pub const OBSOLETE_HTTP2: [(&str, &str); 5] = [
    ("http2_idle_timeout", "keepalive_timeout"),
    ("http2_max_field_size", "large_client_header_buffers"),
    ("http2_max_header_size", "large_client_header_buffers"),
    ("http2_max_requests", "keepalive_requests"),
    ("http2_recv_timeout", "client_header_timeout"),
];

/// `ngx_http_file_cache_valid_set_slot`: `[code ...] time`, each code `any` or 100 to 599.
fn cache_valid_error(args: &[crate::syntax::Word]) -> Option<String> {
    let (time, codes) = args.split_last()?;
    if units::parse_time(&time.value, true).is_none() {
        return Some(format!("invalid time value \"{}\"", time.value));
    }
    let valid = |c: &str| {
        c == "any" || (is_number(c) && c.parse::<u64>().is_ok_and(|n| (100..=599).contains(&n)))
    };
    codes
        .iter()
        .find(|c| !valid(&c.value))
        .map(|c| format!("invalid status \"{}\"", c.value))
}

impl Walker<'_> {
    /// Blocks read by their own handler (`map`, `types`, ...): lines of words, no blocks.
    fn data_block(&mut self, parent: &Directive, children: &[Directive]) {
        for d in children {
            if d.is_block() {
                self.error(d, "syntax", "unexpected \"{\"".into());
                return;
            }
            if d.name() == "include" {
                for id in &d.includes {
                    self.data_block(parent, &self.tree.file(*id).directives);
                }
                if let Some(err) = self.tree.include_error(d.end) {
                    let mut err = err.clone();
                    err.order = self.tree.order_of(d);
                    self.sink.push(err);
                }
                continue;
            }
            if parent.name() == "map" {
                let ok = match d.name() {
                    "hostnames" | "volatile" => d.args.len() <= 1,
                    _ => d.args.len() == 1,
                };
                if !ok {
                    self.error(
                        d,
                        "map::arguments",
                        "invalid number of the map parameters".into(),
                    );
                }
            }
        }
    }
}

/// `ngx_atoi`: decimal digits only.
fn is_number(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// `ngx_conf_handler`'s argument count rule.
fn arity_ok(flags: u32, args: usize) -> bool {
    let nelts = args + 1;
    if flags & ANY != 0 {
        true
    } else if flags & FLAG != 0 {
        nelts == 2
    } else if flags & MORE1 != 0 {
        nelts >= 2
    } else if flags & MORE2 != 0 {
        nelts >= 3
    } else if nelts > MAX_ARGS {
        false
    } else {
        flags & ARGUMENT_NUMBER[nelts - 1] != 0
    }
}

/// The known directive closest to a misspelt one, if any is close. Names whose lengths differ
/// by more than the distance allowed are skipped unmeasured: a config full of a third-party
/// module's directives would otherwise cost a distance to each of nginx's ~700 names apiece.
fn similar_name(name: &str) -> Option<&'static str> {
    let len = name.chars().count();
    super::all()
        .iter()
        .filter(|s| s.name.len().abs_diff(len) <= 2)
        .map(|s| (strsim::levenshtein(name, s.name), s.name))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_directives_get_the_nearest_name() {
        assert_eq!(similar_name("proxy_pas"), Some("proxy_pass"));
        assert_eq!(similar_name("proxy_set_headers"), Some("proxy_set_header"));
        assert_eq!(similar_name("lisen"), Some("listen"));
        assert_eq!(similar_name("prxy_pas"), Some("proxy_pass"));
        assert_eq!(similar_name("proxy_pass_everything_now"), None);
        assert_eq!(similar_name("лисен"), None);
    }

    #[test]
    fn arity_follows_nginx_bits() {
        assert!(arity_ok(TAKE1, 1));
        assert!(!arity_ok(TAKE1, 2));
        assert!(arity_ok(TAKE12, 2));
        assert!(arity_ok(FLAG, 1));
        assert!(!arity_ok(FLAG, 0));
        assert!(arity_ok(MORE1, 5));
        assert!(!arity_ok(MORE2, 1));
        assert!(arity_ok(NOARGS | BLOCK, 0));
        assert!(!arity_ok(TAKE1 | MORE1, 0));
        assert!(arity_ok(ANY, 12));
    }
}
