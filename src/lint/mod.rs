//! Lints beyond `nginx -t`: configurations nginx accepts but that do not do what their
//! authors meant, above all in WebSocket proxying. Each is a warning (or an info) with a span
//! and a one-line fix; none changes how ngxr serves the configuration.

mod hardening;
mod levels;

use std::time::Duration;

use levels::{Block, Level};

use crate::diag::{Diagnostic, Severity, Sink};
use crate::syntax::{Directive, SyntaxTree};
use crate::units;

/// An idle WebSocket tunnel is closed after `proxy_read_timeout`; at or below this the lint
/// warns (nginx's default is 60 s, the tutorials' 300 s).
const SHORT_TUNNEL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs every lint over the configuration.
pub fn lint(tree: &SyntaxTree, sink: &mut Sink) {
    let maps = maps_without_default(tree);
    let blocks = levels::blocks(tree);
    let proxying = blocks
        .iter()
        .filter(|b| b.level == Level::Location && b.proxy_pass.is_some());
    for loc in proxying {
        websocket(tree, loc, sink);
        headers(loc, &maps, sink);
        proxy_pass(tree, loc, sink);
    }
    hardening::lint(tree, &blocks, sink);
}

fn warn(code: &'static str, message: String, at: &Directive, help: &str) -> Diagnostic {
    Diagnostic::lint(Severity::Warning, code, message, at.span()).with_help(help)
}

fn value_is(d: &Directive, i: usize, want: &str) -> bool {
    d.arg(i).is_some_and(|v| v.eq_ignore_ascii_case(want))
}

/// The WebSocket trio: Upgrade and Connection forwarded together, over HTTP/1.1, with a read
/// timeout long enough for idle tunnels.
fn websocket(tree: &SyntaxTree, loc: &Block<'_>, sink: &mut Sink) {
    let here = &loc.here;
    let upgrade = here
        .header("Upgrade")
        .filter(|d| d.arg(1).is_some_and(|v| !v.is_empty()));
    let connection = here.header("Connection");
    let connection_upgrades = connection.is_some_and(|d| {
        d.arg(1)
            .is_some_and(|v| v.eq_ignore_ascii_case("upgrade") || v.starts_with('$'))
    });
    match (upgrade, connection_upgrades) {
        (Some(u), false) => sink.push(warn(
            "websocket::connection_missing",
            "`Upgrade` is forwarded but `Connection` is not set to upgrade: nginx sends `Connection: close` and the backend never switches protocols".into(),
            u,
            "add `proxy_set_header Connection $connection_upgrade;` (with the usual map of $http_upgrade)",
        )),
        (None, true) => {
            if let Some(c) = connection {
                sink.push(warn(
                    "websocket::upgrade_missing",
                    "`Connection` asks for an upgrade but the client's `Upgrade` header is not forwarded (nginx never passes it by itself)".into(),
                    c,
                    "add `proxy_set_header Upgrade $http_upgrade;`",
                ));
            }
        }
        _ => {}
    }
    let Some(upgrade) = upgrade else { return };
    if !here.http_version.is_some_and(|d| value_is(d, 0, "1.1")) {
        sink.push(warn(
            "websocket::http_version",
            "`Upgrade` is forwarded over HTTP/1.0 (nginx's default proxy_http_version): the backend cannot switch protocols".into(),
            upgrade,
            "add `proxy_http_version 1.1;` to this location",
        ));
    }
    if let Some(c) = connection.filter(|c| value_is(c, 1, "upgrade")) {
        sink.push(
            Diagnostic::lint(
                Severity::Warning,
                "websocket::connection_hardcoded",
                "`Connection: upgrade` is sent on every request, WebSocket or not: plain requests ask the backend to upgrade and lose keep-alive",
                c.span(),
            )
            .with_help("map $http_upgrade $connection_upgrade { default upgrade; '' close; } and use $connection_upgrade"),
        );
    }
    let (timeout, at) = match here.read_timeout {
        Some((level, d)) => (
            d.arg(0).and_then(|v| units::parse_time(v, false)),
            Some((level, d)),
        ),
        None => (Some(60_000), None),
    };
    let Some(ms) = timeout else { return };
    let timeout = Duration::from_millis(ms as u64);
    if timeout <= SHORT_TUNNEL_TIMEOUT {
        let origin = match at {
            None => "nginx's default".to_string(),
            Some((Level::Location, _)) => "set in this location".to_string(),
            Some((level, d)) => format!(
                "inherited from {} at {}",
                match level {
                    Level::Http => "http{}",
                    _ => "server{}",
                },
                tree.sources.nginx_pos(d.end)
            ),
        };
        sink.push(
            Diagnostic::lint(
                Severity::Warning,
                "websocket::read_timeout",
                format!(
                    "WebSocket tunnels through this location are closed after {}s without a message from the backend (proxy_read_timeout {origin})",
                    timeout.as_secs()
                ),
                loc.block.name.span.to(loc.block.end),
            )
            .with_help("set `proxy_read_timeout 300s;` (or longer) here, or have the backend send pings"),
        );
    }
}

/// Header lines that are silently lost or that trust the client.
fn headers(loc: &Block<'_>, maps_without_default: &[String], sink: &mut Sink) {
    if !loc.hidden_set_headers.is_empty() {
        let names: Vec<&str> = loc
            .hidden_set_headers
            .iter()
            .filter_map(|d| d.arg(0))
            .collect();
        sink.push(
            Diagnostic::lint(
                Severity::Warning,
                "headers::not_inherited",
                format!(
                    "this location sets its own proxy_set_header, so none from the enclosing level is inherited: {} not sent",
                    names.join(", ")
                ),
                loc.block.name.span.to(loc.block.end),
            )
            .with_help("repeat the enclosing level's proxy_set_header lines in this location"),
        );
    }
    let Some((_, list)) = &loc.here.set_headers else {
        return;
    };
    for d in list {
        let (Some(name), Some(value)) = (d.arg(0), d.arg(1)) else {
            continue;
        };
        if name.eq_ignore_ascii_case("X-Forwarded-For") && value == "$http_x_forwarded_for" {
            sink.push(warn(
                "headers::xff_spoofable",
                "X-Forwarded-For is the client's own header, passed on unchecked: any client can claim any address, and its own address is not added".into(),
                d,
                "use `$proxy_add_x_forwarded_for`",
            ));
        }
        for map in maps_without_default {
            if value.contains(&format!("${map}")) {
                sink.push(warn(
                    "map::no_default",
                    format!("${map} comes from a map without `default`: when nothing matches it is empty and the {name} header is not sent"),
                    d,
                    "add a `default` line to the map",
                ));
            }
        }
    }
}

/// Names of the variables defined by maps that have no `default` line.
fn maps_without_default(tree: &SyntaxTree) -> Vec<String> {
    let main = tree.expand(&tree.main().directives);
    let mut out = Vec::new();
    for http in main.iter().filter(|d| d.name() == "http") {
        for map in tree
            .expand(http.children())
            .iter()
            .filter(|d| d.name() == "map")
        {
            let has_default = tree
                .expand(map.children())
                .iter()
                .any(|d| d.name() == "default");
            if let Some(var) = map.arg(1).and_then(|v| v.strip_prefix('$'))
                && !has_default
            {
                out.push(var.to_string());
            }
        }
    }
    out
}

/// `proxy_pass` targets that are not what they look like.
fn proxy_pass(tree: &SyntaxTree, loc: &Block<'_>, sink: &mut Sink) {
    let Some(pass) = loc.proxy_pass else { return };
    let Some(url) = pass.arg(0) else {
        return;
    };
    if url.contains('$') {
        if loc.here.resolver.is_none() {
            sink.push(warn(
                "proxy_pass::no_resolver",
                "proxy_pass has variables and no `resolver` is set: a host name that is not an upstream name cannot be resolved and the request gets 502".into(),
                pass,
                "add `resolver 127.0.0.53;` (or your DNS server), or name an upstream",
            ));
        }
        return;
    }
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    if !host.contains('.') {
        return;
    }
    let main = tree.expand(&tree.main().directives);
    let upstream = main
        .iter()
        .filter(|d| d.name() == "http")
        .flat_map(|http| tree.expand(http.children()))
        .find(|d| d.name() == "upstream" && d.arg(0) == Some(host));
    if let Some(up) = upstream {
        sink.push(
            Diagnostic::lint(
                Severity::Info,
                "proxy_pass::upstream_named_like_host",
                format!(
                    "\"{host}\" is the upstream block at {}, not the host {host}: requests go to its servers, with `Host: {host}` unless proxy_set_header Host says otherwise",
                    tree.sources.nginx_pos(up.end)
                ),
                pass.span(),
            )
            .with_help("this is fine; name the upstream without dots to make it obvious"),
        );
    }
}
