//! Lints where ngxr's checks overlap gixy's (the nginx configuration analyser): configurations
//! nginx serves as written, and serves unsafely. Each check is named after gixy's plugin in its
//! doc comment; README's table lists the overlap.

use super::levels::{Block, Level};
use crate::diag::{Diagnostic, Severity, Sink};
use crate::syntax::{Directive, SyntaxTree};

/// Runs the hardening lints.
pub fn lint(tree: &SyntaxTree, blocks: &[Block<'_>], sink: &mut Sink) {
    for block in blocks {
        add_header_not_inherited(block, sink);
        allow_without_deny(tree, block, sink);
    }
    let main = tree.expand(&tree.main().directives);
    walk(tree, &main, None, &mut |d, location| {
        match d.name() {
            "add_header" => add_header(d, sink),
            "proxy_set_header" => host_spoofing(d, sink),
            "alias" => alias_traversal(d, location, sink),
            "resolver" => resolver_external(d, sink),
            _ => {}
        }
        splitting(d, location, sink);
    });
}

/// Calls `visit` with every directive under `level`, includes expanded, and the location
/// it stands in.
fn walk<'t>(
    tree: &'t SyntaxTree,
    level: &[&'t Directive],
    location: Option<&'t Directive>,
    visit: &mut dyn FnMut(&'t Directive, Option<&'t Directive>),
) {
    for d in level {
        visit(d, location);
        if d.is_block() {
            let inner = tree.expand(d.children());
            let location = if d.name() == "location" {
                Some(*d)
            } else {
                location
            };
            walk(tree, &inner, location, visit);
        }
    }
}

fn warning(code: &'static str, message: String, at: &Directive, help: &str) -> Diagnostic {
    Diagnostic::lint(Severity::Warning, code, message, at.span()).with_help(help)
}

/// gixy's add_header_redefinition: a level with any `add_header` inherits none from above,
/// so security headers set for the whole server vanish where one location adds its own.
fn add_header_not_inherited(block: &Block<'_>, sink: &mut Sink) {
    if block.hidden_add_headers.is_empty() {
        return;
    }
    let names: Vec<&str> = block
        .hidden_add_headers
        .iter()
        .filter_map(|d| d.arg(0))
        .collect();
    let what = match block.level {
        Level::Server => "server",
        Level::If => "if block",
        _ => "location",
    };
    sink.push(
        Diagnostic::lint(
            Severity::Warning,
            "headers::add_header_not_inherited",
            format!(
                "this {what} sets its own add_header, so none from the enclosing level is inherited: {} not sent",
                names.join(", ")
            ),
            block.block.name.span.to(block.block.end),
        )
        .with_help("repeat the enclosing level's add_header lines here"),
    );
}

/// gixy's allow_without_deny: access rules end in an implicit "allow all", and a level that
/// writes any rule inherits none, so `allow` alone restricts nothing.
fn allow_without_deny(tree: &SyntaxTree, block: &Block<'_>, sink: &mut Sink) {
    let inner = tree.expand(block.block.children());
    let mut rules = inner
        .iter()
        .filter(|d| matches!(d.name(), "allow" | "deny"));
    let Some(first) = rules.clone().next() else {
        return;
    };
    if rules.any(|d| d.name() == "deny") {
        return;
    }
    sink.push(warning(
        "access::allow_without_deny",
        "`allow` without a `deny` at this level lets every client in: access rules end in an implicit allow".into(),
        first,
        "add `deny all;` after the allow lines",
    ));
}

/// gixy's add_header_multiline and add_header_content_type.
fn add_header(d: &Directive, sink: &mut Sink) {
    let (Some(name), Some(value)) = (d.arg(0), d.arg(1)) else {
        return;
    };
    if value.contains('\n') {
        sink.push(warning(
            "headers::multiline",
            format!("the {name} value runs over several lines: nginx sends it folded, which HTTP/1.1 deprecates and many clients reject"),
            d,
            "write the value on one line",
        ));
    }
    if name.eq_ignore_ascii_case("content-type") {
        sink.push(warning(
            "headers::content_type",
            "add_header adds a second Content-Type beside the one nginx sends; it does not replace it".into(),
            d,
            "use `default_type` (or a `types` block) to choose the Content-Type",
        ));
    }
}

/// gixy's host_spoofing: `$http_host` is the client's Host line as sent, while `$host` is
/// the name nginx routed by (from an absolute request line first).
fn host_spoofing(d: &Directive, sink: &mut Sink) {
    let is_host = d.arg(0).is_some_and(|n| n.eq_ignore_ascii_case("host"));
    if is_host && d.arg(1) == Some("$http_host") {
        sink.push(
            Diagnostic::lint(
                Severity::Info,
                "headers::host_spoofing",
                "Host is passed on as the client wrote it: with an absolute request line (`GET http://a/ HTTP/1.1`) the backend sees a Host other than the one nginx chose the server by",
                d.span(),
            )
            .with_help("use `$host` (add `:$server_port` if the backend needs the port)"),
        );
    }
}

/// gixy's alias_traversal: in `location /files { alias /data/; }` a request for
/// `/files../secret` is served from `/data/../secret`, outside the aliased directory.
fn alias_traversal(d: &Directive, location: Option<&Directive>, sink: &mut Sink) {
    let Some(location) = location else { return };
    let prefix = match (location.arg(0), location.arg(1)) {
        (Some("^~"), Some(p)) => p,
        (Some(p), None) => p,
        _ => return,
    };
    let alias = d.arg(0).unwrap_or_default();
    if prefix.ends_with('/') || !alias.ends_with('/') || prefix.starts_with('@') {
        return;
    }
    sink.push(warning(
        "alias::traversal",
        format!(
            "a request for {prefix}../x is served from {alias}../x, outside the aliased directory"
        ),
        d,
        "end the location's prefix with `/` as the alias ends",
    ));
}

/// gixy's resolver_external: answers from a resolver across the internet can be forged on
/// the way, and the names it resolves are where requests go.
fn resolver_external(d: &Directive, sink: &mut Sink) {
    let public = d
        .args
        .iter()
        .map(|w| w.value.as_str())
        .filter(|a| !a.contains('='))
        .find(|a| {
            let Some((host, _)) = crate::config::proxy::split_host_port(a) else {
                return false;
            };
            match host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(ip)) => {
                    !(ip.is_loopback() || ip.is_private() || ip.is_link_local())
                }
                Ok(std::net::IpAddr::V6(ip)) => {
                    !(ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local())
                }
                Err(_) => false,
            }
        });
    if let Some(server) = public {
        sink.push(
            Diagnostic::lint(
                Severity::Info,
                "resolver::external",
                format!("{server} is a public DNS server: its answers cross the internet and can be forged on the way"),
                d.span(),
            )
            .with_help("use a resolver on this host or your own network"),
        );
    }
}

/// gixy's http_splitting: `$uri` and `$document_uri` are decoded, and so is what a regex
/// captures from the URI, so a request for `/%0d%0aSet-Cookie:x` puts a line break into a
/// header or request line built from them. A capture is suspect when its group can match a
/// line break (`[^/]+` can, `.*` cannot).
fn splitting(d: &Directive, location: Option<&Directive>, sink: &mut Sink) {
    let values: &[usize] = match d.name() {
        "add_header" | "proxy_set_header" | "rewrite" => &[1],
        "return" => &[0, 1],
        "proxy_pass" => &[0],
        _ => return,
    };
    // The captures in force: a rewrite's own, else the location's.
    let regex = if d.name() == "rewrite" {
        d.arg(0)
    } else {
        location.and_then(|l| match (l.arg(0), l.arg(1)) {
            (Some("~" | "~*"), Some(re)) => Some(re),
            _ => None,
        })
    };
    let captures = regex.map(newline_captures).unwrap_or_default();
    let found = values.iter().filter_map(|i| d.arg(*i)).find_map(|value| {
        decoded_uri_variable(value)
            .map(|v| (format!("${v} is the decoded URI"), "use `$request_uri` (as the client sent it, still encoded)"))
            .or_else(|| {
                let (number, name) = captures
                    .iter()
                    .find(|(n, name)| reads(value, &n.to_string()) || name.is_some_and(|m| reads(value, m)))?;
                let var = name.map_or_else(|| number.to_string(), str::to_string);
                Some((
                    format!("${var} is captured from the decoded URI by a group that can match a line break"),
                    "exclude line breaks from the group (`[^/\\s]+` rather than `[^/]+`)",
                ))
            })
    });
    let Some((what, help)) = found else { return };
    sink.push(warning(
        "headers::splitting",
        format!("{what}: a request for /%0d%0aX:y puts a line break, and a header of the client's choosing, into what this builds"),
        d,
        help,
    ));
}

/// The first of `$uri` / `$document_uri` that `value` reads, if any.
fn decoded_uri_variable(value: &str) -> Option<&'static str> {
    ["uri", "document_uri"]
        .into_iter()
        .find(|name| reads(value, name))
}

/// Whether `value` reads the variable `name` (`$name` or `${name}`, not a longer name).
fn reads(value: &str, name: &str) -> bool {
    let numeric = name.bytes().all(|b| b.is_ascii_digit());
    value.match_indices('$').any(|(at, _)| {
        let rest = &value[at + 1..];
        if let Some(braced) = rest.strip_prefix('{') {
            return braced
                .strip_prefix(name)
                .is_some_and(|r| r.starts_with('}'));
        }
        // nginx reads `$1x` as `$1` then `x`: a capture's number is one digit.
        rest.strip_prefix(name).is_some_and(|r| {
            numeric || !r.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        })
    })
}

/// A capture group: its number, and its name if it has one.
type Group<'r> = (usize, Option<&'r str>);

/// The capture groups of `regex` that can match a line break. Groups are numbered by their
/// opening parenthesis, as PCRE does.
fn newline_captures(regex: &str) -> Vec<Group<'_>> {
    let bytes = regex.as_bytes();
    let mut out = Vec::new();
    // Open groups: where the content starts, and the number and name of capturing ones.
    let mut open: Vec<(usize, Option<Group<'_>>)> = Vec::new();
    let mut count = 0;
    let mut in_class = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'(' if !in_class => {
                let rest = &regex[i + 1..];
                let named = ["?<", "?P<", "?'"]
                    .iter()
                    .find_map(|p| rest.strip_prefix(p))
                    .filter(|r| !r.starts_with(['=', '!']))
                    .and_then(|r| r.split_once(['>', '\'']).map(|(name, _)| name));
                let group = if named.is_some() || !rest.starts_with('?') {
                    count += 1;
                    Some((count, named))
                } else {
                    None
                };
                open.push((i + 1, group));
            }
            b')' if !in_class => {
                if let Some((start, Some(group))) = open.pop()
                    && may_match_newline(&regex[start..i])
                {
                    out.push(group);
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Whether a group's pattern can match a line break: a negated class that does not exclude
/// one, or `\s`, `\W`, `\D` (`.` does not match one in nginx's regexes).
fn may_match_newline(pattern: &str) -> bool {
    let bytes = pattern.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                if matches!(bytes.get(i + 1), Some(b's' | b'W' | b'D')) {
                    return true;
                }
                i += 1;
            }
            b'[' if bytes.get(i + 1) == Some(&b'^') => {
                let body = &pattern[i + 2..];
                let end = body.find(']').unwrap_or(body.len());
                let class = &body[..end];
                if !["\\n", "\\s", "\n"].iter().any(|x| class.contains(x)) {
                    return true;
                }
                i += 2 + end;
            }
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{decoded_uri_variable, newline_captures, reads};

    #[test]
    fn decoded_uri_variables_are_told_from_their_neighbours() {
        assert_eq!(decoded_uri_variable("https://$host$uri"), Some("uri"));
        assert_eq!(decoded_uri_variable("${uri}x"), Some("uri"));
        assert_eq!(decoded_uri_variable("$document_uri"), Some("document_uri"));
        assert_eq!(decoded_uri_variable("https://$host$request_uri"), None);
        assert_eq!(decoded_uri_variable("$uri_part $urix"), None);
        assert_eq!(decoded_uri_variable("${uri_x}"), None);
        assert!(reads("http://a/$1x", "1"));
        assert!(!reads("http://a/$12", "2"));
    }

    #[test]
    fn captures_that_can_hold_a_line_break() {
        assert_eq!(newline_captures("^/test/([^/]+)/"), vec![(1, None)]);
        assert_eq!(newline_captures("^/test/(.+)/(\\d+)$"), vec![]);
        assert_eq!(newline_captures("^/a/([^/\\s]+)/(\\S+)/([^\\n]*)"), vec![]);
        assert_eq!(
            newline_captures("/v1/((?<action>[^.]*)\\.json)?$"),
            vec![(2, Some("action")), (1, None)]
        );
        assert_eq!(newline_captures("(?:[^/]+)/(x)"), vec![]);
        assert_eq!(newline_captures("[(](\\s)"), vec![(1, None)]);
    }
}
