//! What nginx checks at load for directives of modules ngxr does not serve (they stay
//! unsupported, see `directives::support`), so that `ngxr check` accepts and rejects what
//! `nginx -t` does: the variables they define are known everywhere, and the upstreams that
//! `fastcgi_pass` and its siblings name must exist or resolve (`ngx_http_upstream_add`).

use crate::config::upstream::resolve;
use crate::config::{Cx, Text};
use crate::syntax::{Directive, SyntaxTree};

/// Variables that other modules' directives define (`js_set`, `perl_set`): each name
/// (without `$`) as written.
pub fn variables(tree: &SyntaxTree, directives: &[Directive]) -> Vec<Text> {
    let mut out = Vec::new();
    for d in tree.expand(directives) {
        let at = match d.name() {
            "js_set" | "perl_set" => Some(0),
            _ => None,
        };
        if let Some(w) = at.and_then(|i| d.args.get(i))
            && let Some(name) = w.value.strip_prefix('$')
        {
            out.push(Text {
                value: name.to_string(),
                span: w.span,
                order: tree.order_of(d),
            });
        }
        out.extend(variables(tree, d.children()));
    }
    out
}

/// The `*_pass` directives that name an upstream, with the URL schemes each accepts.
const PASSES: [(&str, &[&str]); 5] = [
    ("fastcgi_pass", &[]),
    ("scgi_pass", &[]),
    ("memcached_pass", &[]),
    ("uwsgi_pass", &["uwsgi://", "suwsgi://"]),
    ("grpc_pass", &["grpc://", "grpcs://"]),
];

/// Checks every `fastcgi_pass`-like target under `directives` against the `upstream` block
/// names in `upstreams`.
pub fn check_passes(cx: &mut Cx<'_>, directives: &[Directive], upstreams: &[&str]) {
    let tree = cx.tree;
    for d in tree.expand(directives) {
        if let Some((_, schemes)) = PASSES.iter().find(|(n, _)| *n == d.name())
            && let Some(w) = d.args.first()
            && !w.value.contains('$')
        {
            let text = Text {
                value: w.value.clone(),
                span: w.span,
                order: tree.order_of(d),
            };
            check_pass(cx, &text, schemes, upstreams);
        }
        check_passes(cx, d.children(), upstreams);
    }
}

fn check_pass(cx: &mut Cx<'_>, text: &Text, schemes: &[&str], upstreams: &[&str]) {
    let url = schemes
        .iter()
        .find_map(|s| text.value.strip_prefix(s))
        .unwrap_or(&text.value);
    if url.starts_with("unix:") {
        return;
    }
    let authority = url.split('/').next().unwrap_or_default();
    let pos = cx.tree.sources.nginx_pos(text.span);
    let problem = match crate::config::proxy::split_host_port(authority) {
        None => "invalid port",
        Some((host, None)) if upstreams.iter().any(|u| u.eq_ignore_ascii_case(&host)) => return,
        Some((_, None)) => "no port",
        Some((host, Some(port))) => match resolve(&host, port) {
            Ok(_) => return,
            Err(e) => e,
        },
    };
    cx.late_error(
        "upstream::pass",
        format!("{problem} in upstream \"{authority}\" in {pos}"),
        text.span,
    );
}
