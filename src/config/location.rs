//! `location` blocks and what a location does: the modifier and name nginx matches by, the
//! merged settings, `proxy_pass` and `return`, and the nested locations.

use super::Cx;
use super::content::{self, Alias};
use super::gateway::Protocol;
use super::proxy::{self, ProxyPass};
use super::rewrite::Step;
use super::settings::Settings;
use crate::source::Span;
use crate::syntax::Directive;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    /// `location = /x`
    Exact,
    /// `location /x`
    Prefix,
    /// `location ^~ /x`: a prefix that, when it is the longest, skips the regexes.
    NoRegex,
    /// `location ~ re`
    Regex,
    /// `location ~* re`
    RegexCaseless,
    /// `location @name`
    Named,
}

impl Modifier {
    pub fn is_regex(self) -> bool {
        matches!(self, Modifier::Regex | Modifier::RegexCaseless)
    }

    /// As written in the config (`=`, `^~`, `~`, `~*`, `""`, `@`).
    pub fn as_str(self) -> &'static str {
        match self {
            Modifier::Exact => "=",
            Modifier::Prefix => "",
            Modifier::NoRegex => "^~",
            Modifier::Regex => "~",
            Modifier::RegexCaseless => "~*",
            Modifier::Named => "@",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub modifier: Modifier,
    /// The URI, pattern, or `@name` (with its `@`).
    pub name: String,
    pub span: Span,
    /// Settings after inheriting from the enclosing location or server.
    pub settings: Settings,
    pub proxy_pass: Option<ProxyPass>,
    /// The pass is `fastcgi_pass`'s, `scgi_pass`'s or `uwsgi_pass`'s: the upstream speaks
    /// that protocol (the last of them and `proxy_pass` is the handler).
    pub gateway: Option<Protocol>,
    /// A module's content handler other than the proxies' (the last handler directive wins,
    /// as each sets nginx's `clcf->handler`).
    pub handler: Option<Handler>,
    /// The rewrite module's steps, in order.
    pub script: Vec<Step>,
    pub children: Vec<Location>,
    /// `internal`: only internal redirects may reach it.
    pub internal: bool,
    /// An `if` block's configuration (nginx's `noname` location): named as the enclosing
    /// location, never found by a URI, taken when the condition holds.
    pub noname: bool,
    /// `limit_except`: the methods it lists and its block's configuration, which the others
    /// take.
    pub limit_except: Option<Box<LimitExcept>>,
}

/// The content handlers of the modules that serve a location by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// `stub_status`: the connection counters.
    StubStatus,
    /// `empty_gif`: nginx's 1×1 transparent GIF.
    EmptyGif,
    /// `flv`: files, cut at `?start=` behind an FLV header.
    Flv,
    /// `mp4`: files, cut at `?start=`/`?end=` seconds with a rewritten `moov`.
    Mp4,
}

/// `limit_except METHOD... { ... }` (`ngx_http_core_limit_except`): a request whose method
/// is not listed (an unknown method included) takes the block's configuration for the rest
/// of the location (`ngx_http_update_location_config`): its access settings and
/// `access_log`, its `proxy_pass` or the location's, but none of the location's rewrite
/// steps, `stub_status` or `try_files`, which nginx does not merge into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExcept {
    /// The listed methods, uppercase; `GET` brings `HEAD`.
    pub methods: Vec<&'static str>,
    pub block: Location,
}

/// The methods `limit_except` may name (`ngx_methods_names`).
const METHODS: [&str; 14] = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "MKCOL",
    "COPY",
    "MOVE",
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "LOCK",
    "UNLOCK",
    "PATCH",
];

impl Location {
    /// nginx's `auto_redirect`: a prefix or exact location ending in `/` whose handler is
    /// `proxy_pass` answers a request for the name without the slash with a 301.
    pub fn auto_redirect(&self) -> bool {
        !self.noname
            && self.proxy_pass.is_some()
            && matches!(
                self.modifier,
                Modifier::Exact | Modifier::Prefix | Modifier::NoRegex
            )
            && self.name.ends_with('/')
    }
}

/// The modifier and name of a `location` directive (`ngx_http_core_location`).
fn modifier_and_name(cx: &mut Cx<'_>, d: &Directive) -> Option<(Modifier, String)> {
    match (d.arg(0), d.arg(1)) {
        (Some(m), Some(name)) => {
            let modifier = match m {
                "=" => Modifier::Exact,
                "^~" => Modifier::NoRegex,
                "~" => Modifier::Regex,
                "~*" => Modifier::RegexCaseless,
                _ => {
                    cx.error(d, format!("invalid location modifier \"{m}\""));
                    return None;
                }
            };
            Some((modifier, name.to_string()))
        }
        (Some(name), None) => Some(if let Some(rest) = name.strip_prefix('=') {
            (Modifier::Exact, rest.to_string())
        } else if let Some(rest) = name.strip_prefix("~*") {
            (Modifier::RegexCaseless, rest.to_string())
        } else if let Some(rest) = name.strip_prefix('~') {
            (Modifier::Regex, rest.to_string())
        } else if name.starts_with('@') {
            (Modifier::Named, name.to_string())
        } else {
            (Modifier::Prefix, name.to_string())
        }),
        _ => {
            cx.arity(d);
            None
        }
    }
}

/// Lowers a `location` block inside `parent` (`None` at the server level), inheriting from
/// `outer`.
pub fn lower(
    cx: &mut Cx<'_>,
    d: &Directive,
    parent: Option<&Location>,
    outer: &Settings,
) -> Option<Location> {
    let (modifier, name) = modifier_and_name(cx, d)?;
    if let Some(p) = parent {
        let nested_error = match (p.modifier, modifier) {
            (Modifier::Exact, _) => Some(format!(
                "location \"{name}\" cannot be inside the exact location \"{}\"",
                p.name
            )),
            (Modifier::Named, _) => Some(format!(
                "location \"{name}\" cannot be inside the named location \"{}\"",
                p.name
            )),
            (_, Modifier::Named) => Some(format!(
                "named location \"{name}\" can be on the server level only"
            )),
            (_, Modifier::Exact | Modifier::Prefix | Modifier::NoRegex)
                if !name.starts_with(&p.name) =>
            {
                Some(format!(
                    "location \"{name}\" is outside location \"{}\"",
                    p.name
                ))
            }
            _ => None,
        };
        if let Some(message) = nested_error {
            cx.error(d, message);
            return None;
        }
    }
    let mut loc = Location {
        modifier,
        name,
        span: d.span(),
        settings: Settings::default(),
        proxy_pass: None,
        gateway: None,
        handler: None,
        script: Vec::new(),
        children: Vec::new(),
        internal: false,
        noname: false,
        limit_except: None,
    };
    let children = cx.tree.expand(d.children());
    for c in &children {
        directive(cx, c, &mut loc);
    }
    loc.settings.inherit(outer);
    loc.settings.fastcgi.check_key(cx);
    inherit_ifs(&mut loc);
    inherit_limit_except(&mut loc);
    for c in children.iter().filter(|c| c.name() == "location") {
        if let Some(child) = lower(cx, c, Some(&loc), &loc.settings) {
            loc.children.push(child);
        }
    }
    Some(loc)
}

/// The block of an `if` inside `within` (`ngx_http_rewrite_if`): a location of its own, its
/// rewrite steps its script; `inherit_ifs` merges it once `within` is complete. A
/// `limit_except` block is read the same way.
pub fn lower_if(cx: &mut Cx<'_>, d: &Directive, within: (Modifier, &str)) -> Location {
    let mut block = Location {
        modifier: within.0,
        name: within.1.to_string(),
        span: d.span(),
        settings: Settings::default(),
        proxy_pass: None,
        gateway: None,
        handler: None,
        script: Vec::new(),
        children: Vec::new(),
        internal: false,
        noname: true,
        limit_except: None,
    };
    for c in &cx.tree.expand(d.children()) {
        directive(cx, c, &mut block);
    }
    block
}

/// The block of a `limit_except` inside `within`: its methods and its directives;
/// `inherit_limit_except` merges it once `within` is complete. `None` after an error.
fn lower_limit_except(
    cx: &mut Cx<'_>,
    d: &Directive,
    within: (Modifier, &str),
) -> Option<Box<LimitExcept>> {
    let mut methods = Vec::new();
    for arg in &d.args {
        let Some(&method) = METHODS.iter().find(|m| m.eq_ignore_ascii_case(&arg.value)) else {
            cx.error(d, format!("invalid method \"{}\"", arg.value));
            return None;
        };
        methods.push(method);
    }
    if methods.contains(&"GET") && !methods.contains(&"HEAD") {
        methods.push("HEAD");
    }
    let block = lower_if(cx, d, within);
    Some(Box::new(LimitExcept { methods, block }))
}

/// One directive of a location's or an `if` block's (the directive table has already refused
/// what does not belong to the block); nested `location`s are read once the level is merged.
fn directive(cx: &mut Cx<'_>, c: &Directive, loc: &mut Location) {
    match c.name() {
        // A second one is refused by the directive table (`is duplicate`).
        "limit_except" if loc.limit_except.is_none() => {
            loc.limit_except = lower_limit_except(cx, c, (loc.modifier, &loc.name));
        }
        "proxy_pass" if loc.proxy_pass.is_some() && loc.gateway.is_none() => cx.duplicate(c),
        "proxy_pass" => {
            loc.proxy_pass = proxy::pass(cx, c);
            loc.gateway = None;
            loc.handler = None;
            check_uri_part(cx, c, loc);
        }
        name @ ("fastcgi_pass" | "scgi_pass" | "uwsgi_pass") => {
            let protocol = match name {
                "fastcgi_pass" => Protocol::FastCgi,
                "scgi_pass" => Protocol::Scgi,
                _ => Protocol::Uwsgi,
            };
            if loc.proxy_pass.is_some() && loc.gateway == Some(protocol) {
                return cx.duplicate(c);
            }
            loc.proxy_pass = proxy::gateway_pass(cx, c, protocol);
            loc.gateway = loc.proxy_pass.as_ref().map(|_| protocol);
            loc.handler = None;
        }
        // Its argument (`on` before 1.7.5) is not read.
        "stub_status" => loc.handler = Some(Handler::StubStatus),
        "empty_gif" => loc.handler = Some(Handler::EmptyGif),
        "flv" => loc.handler = Some(Handler::Flv),
        "mp4" => loc.handler = Some(Handler::Mp4),
        "return" | "rewrite" | "set" | "if" | "break" => {
            let step = Step::lower(cx, c, (loc.modifier, &loc.name));
            loc.script.extend(step);
        }
        "internal" => loc.internal = true,
        "alias" if loc.modifier == Modifier::Named => cx.error(
            c,
            "the \"alias\" directive cannot be used inside the named location",
        ),
        "alias" => {
            let of = if loc.modifier.is_regex() {
                Alias::Whole
            } else {
                Alias::Prefix(loc.name.len())
            };
            content::root(cx, c, &mut loc.settings.root, Some(of));
        }
        "proxy_redirect" if !proxy::default_redirect_allowed(cx, c, loc.proxy_pass.as_ref()) => {}
        _ => {
            loc.settings.apply(cx, c);
        }
    }
}

/// nginx merges an `if` block into its location as any nested location, and an `if` block
/// without `proxy_pass` keeps the location's (`ngx_http_proxy_merge_loc_conf`, `noname`).
fn inherit_ifs(loc: &mut Location) {
    for step in &mut loc.script {
        if let Step::If(i) = step {
            i.block.settings.inherit(&loc.settings);
            if i.block.proxy_pass.is_none() {
                i.block.proxy_pass.clone_from(&loc.proxy_pass);
                i.block.gateway = loc.gateway;
                i.block.handler = loc.handler;
            }
        }
    }
}

/// nginx merges a `limit_except` block into its location as a nested location; its
/// `proxy_pass` is the location's unless it has one (`ngx_http_proxy_merge_loc_conf`,
/// `lmt_excpt`). Nothing else of the location's own is taken: no rewrite steps, no
/// `stub_status`, no `internal` (checked on the location before the block is taken).
fn inherit_limit_except(loc: &mut Location) {
    if let Some(limit) = &mut loc.limit_except {
        limit.block.settings.inherit(&loc.settings);
        if limit.block.proxy_pass.is_none() {
            limit.block.proxy_pass.clone_from(&loc.proxy_pass);
            limit.block.gateway = loc.gateway;
        }
    }
}

/// nginx refuses a URI part in `proxy_pass` where there is no prefix to replace.
fn check_uri_part(cx: &mut Cx<'_>, d: &Directive, loc: &Location) {
    let has_uri = matches!(&loc.proxy_pass, Some(ProxyPass::Static(s)) if s.url.uri.is_some());
    if has_uri && (loc.noname || loc.modifier.is_regex() || loc.modifier == Modifier::Named) {
        cx.error(
            d,
            "\"proxy_pass\" cannot have URI part in location given by regular expression, \
             or inside named location, or inside \"if\" statement, or inside \"limit_except\" block",
        );
    }
}
