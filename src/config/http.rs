//! The `http` block and its `server`s: listen sockets, server names, server-level settings
//! and the location tree.

use super::Cx;
use super::listen::{self, Listen};
use super::location::{self, Location, Modifier};
use super::log::LogFormatDef;
use super::map::Map;
use super::rewrite::Step;
use super::settings::Settings;
use super::upstream::Upstream;
use crate::diag::Severity;
use crate::source::Span;
use crate::syntax::Directive;

#[derive(Debug, Clone, Default)]
pub struct Http {
    pub servers: Vec<Server>,
    pub upstreams: Vec<Upstream>,
    pub maps: Vec<Map>,
    pub geos: Vec<super::geo::Geo>,
    pub split_clients: Vec<super::split_clients::SplitClients>,
    pub log_formats: Vec<LogFormatDef>,
    /// The http level's own settings (what a server inherits).
    pub settings: Settings,
    /// The `limit_req_zone` and `limit_conn_zone` zones.
    pub limit_zones: Vec<super::limit::Zone>,
    /// The `proxy_cache_path` and `fastcgi_cache_path` zones.
    pub cache_paths: Vec<super::cache::CachePath>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub span: Span,
    pub listens: Vec<Listen>,
    /// In file order; the first is `$server_name`.
    pub names: Vec<ServerName>,
    pub settings: Settings,
    /// The rewrite module's server-level steps (run before any location is looked for).
    pub script: Vec<Step>,
    /// Top-level locations in file order (named ones included).
    pub locations: Vec<Location>,
    /// `stub_status` at the server level: it answers the requests no location matches.
    pub stub_status: bool,
}

/// One `server_name` entry, lowercased as nginx stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerName {
    Exact(String),
    /// `*.example.com` (stored as `.example.com`, matching subdomains only).
    LeadingWildcard(String),
    /// `.example.com`: `example.com` and every subdomain.
    Dot(String),
    /// `www.example.*` (stored as `www.example.`).
    TrailingWildcard(String),
    /// `~pattern` (the pattern without `~`).
    Regex(String, Span),
}

impl ServerName {
    /// As written in the config.
    pub fn display(&self) -> String {
        match self {
            ServerName::Exact(s) => s.clone(),
            ServerName::LeadingWildcard(s) => format!("*{s}"),
            ServerName::Dot(s) => s.clone(),
            ServerName::TrailingWildcard(s) => format!("{s}*"),
            ServerName::Regex(s, _) => format!("~{s}"),
        }
    }
}

/// Lowers `http { ... }`.
pub fn lower(cx: &mut Cx<'_>, d: &Directive) -> Http {
    let mut http = Http::default();
    let mut zones = super::upstream::Zones::default();
    let children = cx.tree.expand(d.children());
    for c in &children {
        match c.name() {
            "upstream" => http
                .upstreams
                .extend(super::upstream::lower(cx, c, &mut zones)),
            "map" => http.maps.extend(super::map::lower(cx, c)),
            "geo" => http.geos.extend(super::geo::lower(cx, c)),
            "split_clients" => http
                .split_clients
                .extend(super::split_clients::lower(cx, c)),
            "log_format" => {
                if let Some(f) = super::log::lower_format(cx, c, &http.log_formats) {
                    http.log_formats.push(f);
                }
            }
            "proxy_redirect" if !super::proxy::default_redirect_allowed(cx, c, None) => {}
            "proxy_cache_path" => {
                super::cache::declare(cx, c, super::cache::Module::Proxy, &mut http.cache_paths)
            }
            "fastcgi_cache_path" => {
                let module = super::cache::Module::FastCgi;
                super::cache::declare(cx, c, module, &mut http.cache_paths)
            }
            "limit_req_zone" | "limit_conn_zone" => {
                let mut zones = std::mem::take(&mut cx.limit_zones);
                zones.declare(cx, c);
                cx.limit_zones = zones;
            }
            _ => {
                http.settings.apply(cx, c);
            }
        }
    }
    for c in children.iter().filter(|c| c.name() == "server") {
        let server = lower_server(cx, c, &http.settings);
        http.servers.push(server);
    }
    check_addresses(cx, &children, &http.servers);
    // `ngx_http_core_merge_srv_conf`, as the block closes.
    for s in &http.servers {
        let defaults = crate::defaults::http::HEADER_BUFFERS;
        let large = s.settings.large_client_header_buffers;
        let large = large.map_or(defaults.large_size, |(_, size)| size);
        let pool = s.settings.connection_pool_size;
        if large < pool.unwrap_or(crate::defaults::http::CONNECTION_POOL_SIZE) {
            let message = "the \"large_client_header_buffers\" size must be equal to or greater than \"connection_pool_size\"";
            cx.at_close(d, s.span, message, Severity::Error);
        }
    }
    super::cache::check_uses(cx);
    for (span, message, severity) in std::mem::take(&mut cx.merge_errors) {
        cx.at_close(d, span, message, severity);
    }
    zones.check_sizes(cx);
    let limit_zones = std::mem::take(&mut cx.limit_zones);
    limit_zones.check_sizes(cx);
    http.limit_zones = limit_zones.zones;
    http
}

fn lower_server(cx: &mut Cx<'_>, d: &Directive, outer: &Settings) -> Server {
    let mut s = Server {
        span: d.span(),
        listens: Vec::new(),
        names: Vec::new(),
        settings: Settings::default(),
        script: Vec::new(),
        locations: Vec::new(),
        stub_status: false,
    };
    let children = cx.tree.expand(d.children());
    for c in &children {
        match c.name() {
            "listen" => s.listens.extend(listen::lower(cx, c)),
            "server_name" => {
                for w in &c.args {
                    let raw = if w.value.eq_ignore_ascii_case("$hostname") {
                        hostname()
                    } else {
                        w.value.clone()
                    };
                    match server_name(&raw, w.span) {
                        Some(n) => s.names.push(n),
                        None => cx.error(c, format!("server name \"{}\" is invalid", w.value)),
                    }
                }
            }
            "return" | "rewrite" | "set" | "if" | "break" => {
                s.script.extend(Step::lower(cx, c, (Modifier::Prefix, "")));
            }
            "location" => {}
            "stub_status" => s.stub_status = true,
            "proxy_redirect" if !super::proxy::default_redirect_allowed(cx, c, None) => {}
            _ => {
                s.settings.apply(cx, c);
            }
        }
    }
    if s.listens.is_empty() {
        s.listens.push(listen::implicit(d.span()));
    }
    s.settings.inherit(outer);
    s.settings.fastcgi.check_key(cx);
    for c in children.iter().filter(|c| c.name() == "location") {
        if let Some(loc) = location::lower(cx, c, None, &s.settings) {
            s.locations.push(loc);
        }
    }
    check_duplicate_locations(cx, &s.locations);
    s
}

/// Classifies one `server_name` argument (`ngx_http_core_server_name`, then how
/// `ngx_hash_add_key` files it): `*` must start `*.`, a lone `.` is refused, and a `*`
/// elsewhere than at either end is just a character of an exact name.
pub fn server_name(raw: &str, span: Span) -> Option<ServerName> {
    if let Some(re) = raw.strip_prefix('~') {
        return Some(ServerName::Regex(re.to_string(), span));
    }
    let name = raw.to_ascii_lowercase();
    if (name.starts_with('*') && !(name.len() >= 3 && name.as_bytes()[1] == b'.')) || name == "." {
        return None;
    }
    if let Some(rest) = name.strip_prefix('*') {
        return Some(ServerName::LeadingWildcard(rest.to_string()));
    }
    if name.starts_with('.') {
        return Some(ServerName::Dot(name));
    }
    if let Some(rest) = name.strip_suffix('*').filter(|r| r.ends_with('.')) {
        return Some(ServerName::TrailingWildcard(rest.to_string()));
    }
    Some(ServerName::Exact(name))
}

/// The machine's name (`server_name $hostname`, the `$hostname` variable).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What `ngx_http_add_addresses` refuses when a `listen` names an address already listened
/// on, in its order: `a duplicate listen ADDR` (the same server twice), `duplicate listen
/// options for ADDR` (a second `listen` with socket options: they belong to the socket),
/// `a duplicate default server for ADDR`. Each at the `listen` nginx stops at.
fn check_addresses(cx: &mut Cx<'_>, children: &[&Directive], servers: &[Server]) {
    struct Seen<'a> {
        addr: &'a super::listen::ListenAddr,
        servers: Vec<usize>,
        options: bool,
        default_server: bool,
    }
    let mut seen: Vec<Seen<'_>> = Vec::new();
    let server_blocks = children.iter().filter(|c| c.name() == "server");
    for (i, (server, block)) in servers.iter().zip(server_blocks).enumerate() {
        for l in &server.listens {
            let Some(s) = seen.iter_mut().find(|s| *s.addr == l.addr) else {
                seen.push(Seen {
                    addr: &l.addr,
                    servers: vec![i],
                    options: l.socket.set,
                    default_server: l.default_server,
                });
                continue;
            };
            let message = if s.servers.contains(&i) {
                format!("a duplicate listen {}", l.addr)
            } else if l.socket.set && s.options {
                format!("duplicate listen options for {}", l.addr)
            } else if l.default_server && s.default_server {
                format!("a duplicate default server for {}", l.addr)
            } else {
                s.servers.push(i);
                s.options |= l.socket.set;
                s.default_server |= l.default_server;
                continue;
            };
            let listen_directive = cx
                .tree
                .expand(block.children())
                .into_iter()
                .find(|c| c.span() == l.span);
            if let Some(ld) = listen_directive {
                cx.error(ld, message);
            }
        }
    }
}

/// `duplicate location "/x"`: two prefix (or two exact, or two named) locations with one name
/// at one level, reported after the server is read.
fn check_duplicate_locations(cx: &mut Cx<'_>, locations: &[Location]) {
    fn kind(l: &Location) -> Option<u8> {
        match l.modifier {
            super::Modifier::Exact => Some(0),
            super::Modifier::Prefix | super::Modifier::NoRegex => Some(1),
            super::Modifier::Named => Some(2),
            _ => None,
        }
    }
    for (i, l) in locations.iter().enumerate() {
        let dup = locations[..i]
            .iter()
            .any(|p| p.name == l.name && kind(p).is_some() && kind(p) == kind(l));
        if dup {
            let pos = cx.tree.sources.nginx_pos(l.span);
            cx.late_error(
                "config::duplicate_location",
                format!("duplicate location \"{}\" in {pos}", l.name),
                l.span,
            );
        }
    }
    for l in locations {
        check_duplicate_locations(cx, &l.children);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    #[test]
    fn server_name_kinds() {
        let sp = Span::new(FileId(0), 0, 0);
        assert_eq!(
            server_name("A.Example", sp),
            Some(ServerName::Exact("a.example".into()))
        );
        assert_eq!(
            server_name("*.example.com", sp),
            Some(ServerName::LeadingWildcard(".example.com".into()))
        );
        assert_eq!(
            server_name(".example.com", sp),
            Some(ServerName::Dot(".example.com".into()))
        );
        assert_eq!(
            server_name("www.example.*", sp),
            Some(ServerName::TrailingWildcard("www.example.".into()))
        );
        assert_eq!(
            server_name("w*w.example", sp),
            Some(ServerName::Exact("w*w.example".into()))
        );
        assert_eq!(server_name("*a", sp), None);
        assert_eq!(server_name("**.a", sp), None);
        assert!(matches!(
            server_name("~^(?<x>.+)$", sp),
            Some(ServerName::Regex(..))
        ));
    }
}
