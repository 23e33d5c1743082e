//! Typed configuration → compiled site: regexes compiled, variables resolved, `map`s and log
//! formats built, upstream groups shared, each location's proxy settings merged into what the
//! upstream request needs. Runs once per load.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::autoindex::Autoindex;
use super::error_page::{CErrorPage, ErrorPages};
use super::fastcgi::ScriptName;
use super::files::CRoot;
use super::headers::HeaderRules;
use super::log::{self, CompiledLogFormat};
use super::map::MapTable;
use super::mime::ContentTypes;
use super::output::COutput;
use super::plan::{
    Addition, GzipTypes, KeepaliveLimits, ListenAddr, ListenSpec, LogSpec, ProcessSpec, Ssi,
};
use super::proxy_conf;
use super::regex::Regex;
use super::request::Tables;
use super::script;
use super::script::CStep;
use super::site::{Action, CLimitExcept, CLocation, CReturn, CServer, Inner, RedirectRules};
use super::static_::Content;
use super::try_files::{CFallback, CTryFiles};
use super::unserved;
use super::upstream::Groups;
use super::value::{Complex, Part};
use super::vars::{Registry, Var};
use super::vhost;
use crate::config::content::{Fallback, IfModifiedSince};
use crate::config::gateway::Protocol;
use crate::config::http::{Http, Server, ServerName};
use crate::config::location::{Handler, Location};
use crate::config::proxy::Redirect;
use crate::config::proxy_rewrite::{Pattern, Rewrite};
use crate::config::rewrite::{Return, Step};
use crate::config::settings::Settings;
use crate::config::{Config, Cx, Modifier, Text};
use crate::defaults;

/// What every level's compilation shares.
struct Shared {
    reg: Registry,
    groups: Groups,
    formats: Vec<Arc<CompiledLogFormat>>,
    combined: Arc<CompiledLogFormat>,
    /// The site being built, for what re-reads a request later (logs, deferred headers).
    site: Weak<Inner>,
    /// The `limit_req_zone` and `limit_conn_zone` zones.
    limits: super::limit::Zones,
    /// The `proxy_cache_path` zones.
    caches: super::cache::Zones,
    /// Every level's logs, for [`ProcessSpec::logs`].
    logs: RefCell<Vec<Arc<LogSpec>>>,
    /// The names of the server being compiled (`valid_referers server_names`).
    server_names: Vec<ServerName>,
}

pub fn build(cx: &mut Cx<'_>, config: &Config, site: &Weak<Inner>) -> Inner {
    let p = &config.process;
    let process = ProcessSpec {
        worker_processes: p.worker_processes,
        worker_connections: p.worker_connections,
        pid: p.pid.clone(),
        error_logs: p.error_logs.clone(),
        daemon: p.daemon,
        logs: Vec::new(),
        shutdown_timeout: p.shutdown_timeout,
        temp_paths: Vec::new(),
    };
    let hostname = crate::config::http::hostname().into_bytes();
    let Some(http) = &config.http else {
        return Inner {
            tables: Tables {
                maps: Vec::new(),
                geos: Vec::new(),
                splits: Vec::new(),
                hostname,
            },
            reads_body: false,
            reads_body_file: false,
            charsets: Vec::new(),
            servers: Vec::new(),
            listens: Vec::new(),
            upstreams: Vec::new(),
            named_upstreams: Vec::new(),
            vars: Registry::default(),
            process,
        };
    };
    let (mut sets, captures) = defined_names(http);
    let splits = &http.split_clients;
    let top = &cx.tree.main().directives;
    let others = unserved::variables(cx.tree, top);
    sets.extend(others.iter().map(|t| t.value.clone()));
    let reg = Registry {
        blocks: blocks(http),
        captures,
        sets,
        reads_body: Default::default(),
        reads_body_file: Default::default(),
    };
    // `map`, `geo` and the like may not redefine a built-in variable.
    let defined = http.maps.iter().map(|m| (&m.variable, &m.source));
    let geos = http.geos.iter().map(|g| (&g.variable.value, &g.variable));
    let splits_defined = splits.iter().map(|s| (&s.variable.value, &s.variable));
    let defined = defined.chain(geos).chain(splits_defined);
    for (name, at) in defined.chain(others.iter().map(|t| (&t.value, t))) {
        if !super::vars::definable(name) {
            script::at(cx, at, format!("the duplicate \"{name}\" variable"));
        }
    }
    let mut maps: Vec<MapTable> = http
        .maps
        .iter()
        .filter_map(|m| MapTable::compile(cx, &reg, m))
        .collect();
    // `volatile` marks the variable itself, whichever map block of it comes last.
    for (i, m) in http.maps.iter().enumerate() {
        let marked = |o: &crate::config::map::Map| {
            o.volatile && o.variable.eq_ignore_ascii_case(&m.variable)
        };
        if let Some(table) = maps.get_mut(i).filter(|_| http.maps.iter().any(marked)) {
            table.volatile = true;
        }
    }
    let geos = http
        .geos
        .iter()
        .filter_map(|g| super::geo::GeoTable::compile(cx, &reg, g))
        .collect();
    let splits = splits
        .iter()
        .filter_map(|s| super::split_clients::SplitTable::compile(cx, &reg, s))
        .collect();
    let formats = http
        .log_formats
        .iter()
        .filter_map(|f| CompiledLogFormat::compile(cx, &reg, f, site))
        .collect();
    proxy_conf::validate(cx, &reg, &http.settings);
    let groups = Groups::explicit(cx, &reg, &http.upstreams);
    let names: Vec<&str> = http.upstreams.iter().map(|u| u.name.as_str()).collect();
    unserved::check_passes(cx, top, &names);
    let limits = super::limit::Zones::compile(cx, &reg, &http.limit_zones);
    let mut shared = Shared {
        reg,
        groups,
        formats,
        combined: CompiledLogFormat::combined(site),
        site: site.clone(),
        limits,
        caches: super::cache::Zones::compile(&http.cache_paths),
        logs: RefCell::default(),
        server_names: Vec::new(),
    };
    let servers: Vec<CServer> = http
        .servers
        .iter()
        .map(|s| server(cx, &mut shared, s))
        .collect();
    conflicting_names(cx, &servers);
    super::tls::check_certificates(cx, &servers);
    let listens = listens(&servers);
    super::bind::check(cx, &listens, &servers);
    Inner {
        tables: Tables {
            maps,
            geos,
            splits,
            hostname,
        },
        listens,
        reads_body: shared.reg.reads_body.load(Ordering::Relaxed),
        reads_body_file: shared.reg.reads_body_file.load(Ordering::Relaxed),
        charsets: super::charset::known(cx.tree, top),
        upstreams: shared.groups.all.iter().map(|g| g.group.clone()).collect(),
        named_upstreams: shared.groups.all,
        servers,
        vars: shared.reg,
        process: ProcessSpec {
            logs: shared.logs.take(),
            temp_paths: temp_paths(cx, top),
            ..process
        },
    }
}

/// Every `client_body_temp_path` directory (see [`ProcessSpec::temp_paths`]).
fn temp_paths(cx: &Cx<'_>, directives: &[crate::syntax::Directive]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for d in cx.tree.expand(directives) {
        if d.name() == "client_body_temp_path"
            && let Some(dir) = d.arg(0)
        {
            let dir = cx.prefixed(dir.strip_suffix('/').unwrap_or(dir));
            if !out.contains(&dir) {
                out.push(dir);
            }
        }
        for dir in temp_paths(cx, d.children()) {
            if !out.contains(&dir) {
                out.push(dir);
            }
        }
    }
    out
}

/// A level's logs (see `log::spec`), noted among the site's.
fn log_spec(cx: &mut Cx<'_>, sh: &Shared, st: &Settings) -> Arc<LogSpec> {
    let (access, errors) = (st.access_log.as_deref(), st.error_log.as_deref());
    let mut spec = log::spec(cx, &sh.reg, access, errors, &sh.formats, &sh.combined);
    if let Some(spec) = Arc::get_mut(&mut spec) {
        spec.subrequests = st.log_subrequest == Some(true);
        spec.post_action = st.post_action.is_some();
    }
    sh.logs.borrow_mut().push(spec.clone());
    spec
}

/// The variables the `map`, `geo` and `split_clients` blocks define, in nginx's reading
/// order (see `Registry::blocks`).
fn blocks(http: &Http) -> Vec<(String, Var)> {
    let maps = http.maps.iter().enumerate();
    let maps = maps.map(|(i, m)| (m.source.order, m.variable.clone(), Var::Map(i)));
    let geos = http.geos.iter().enumerate();
    let geos = geos.map(|(i, g)| (g.variable.order, g.variable.value.clone(), Var::Geo(i)));
    let splits = http.split_clients.iter().enumerate();
    let splits = splits.map(|(i, s)| (s.variable.order, s.variable.value.clone(), Var::Split(i)));
    let mut blocks: Vec<_> = maps.chain(geos).chain(splits).collect();
    blocks.sort_by_key(|(order, ..)| *order);
    blocks
        .into_iter()
        .map(|(_, name, var)| (name, var))
        .collect()
}

/// The variables a level's `auth_request_set`s define (as `set` does); `$args` stays the
/// request's arguments, which its set handler replaces.
fn auth_sets(settings: &Settings, sets: &mut Vec<String>) {
    let defined = settings.auth_request_set.iter().flatten();
    let own = defined.filter(|s| !s.variable.eq_ignore_ascii_case("args"));
    sets.extend(own.map(|s| s.variable.clone()));
}

/// Variables the configuration defines, each known everywhere: `set` names, and the named
/// captures of every regex.
fn defined_names(http: &Http) -> (Vec<String>, Vec<String>) {
    fn walk(locs: &[Location], sets: &mut Vec<String>, out: &mut Vec<String>) {
        for l in locs {
            if l.modifier.is_regex()
                && let Ok(re) = Regex::new(&l.name, l.modifier == Modifier::RegexCaseless)
            {
                out.extend(re.names().map(str::to_string));
            }
            script::defined(&l.script, sets, out);
            auth_sets(&l.settings, sets);
            proxy_rewrite_captures(&l.settings, out);
            walk(&l.children, sets, out);
        }
    }
    let (mut sets, mut out) = (Vec::new(), Vec::new());
    auth_sets(&http.settings, &mut sets);
    proxy_rewrite_captures(&http.settings, &mut out);
    for s in &http.servers {
        script::defined(&s.script, &mut sets, &mut out);
        auth_sets(&s.settings, &mut sets);
        proxy_rewrite_captures(&s.settings, &mut out);
        walk(&s.locations, &mut sets, &mut out);
        for n in &s.names {
            if let ServerName::Regex(p, _) = n
                && let Ok(re) = Regex::new(p, true)
            {
                out.extend(re.names().map(str::to_string));
            }
        }
    }
    for m in &http.maps {
        for e in m.entries.iter().filter(|e| e.key.starts_with('~')) {
            let p = e.key.trim_start_matches('~').trim_start_matches('*');
            if let Ok(re) = Regex::new(p, false) {
                out.extend(re.names().map(str::to_string));
            }
        }
    }
    (sets, out)
}

/// The named captures of a level's `proxy_cookie_*` and `proxy_redirect` regexes.
fn proxy_rewrite_captures(st: &Settings, out: &mut Vec<String>) {
    let redirects = st.proxy_redirect.iter().flatten().filter_map(|r| match r {
        Redirect::Replace(Rewrite {
            pattern: Pattern::Regex { text, caseless },
            ..
        }) => Some((text, *caseless)),
        _ => None,
    });
    for (text, caseless) in st.proxy_cookie.regexes().chain(redirects) {
        if let Ok(re) = Regex::new(&text.value, caseless) {
            out.extend(re.names().map(str::to_string));
        }
    }
}

fn server(cx: &mut Cx<'_>, sh: &mut Shared, s: &Server) -> CServer {
    sh.server_names.clone_from(&s.names);
    proxy_conf::validate(cx, &sh.reg, &s.settings);
    let steps = script::compile(
        cx,
        &sh.reg,
        &s.script,
        &mut |cx, r| give(cx, &sh.reg, r, &s.settings),
        &mut std::iter::empty(),
    );
    let mut name_regexes = Vec::new();
    for (i, n) in s.names.iter().enumerate() {
        if let ServerName::Regex(p, span) = n {
            // `ngx_http_server_names` compiles them caseless.
            match Regex::new(p, true) {
                Ok(re) => name_regexes.push((i, re)),
                Err(message) => cx.late_error_at("server_name::regex", message, *span),
            }
        }
    }
    let st = &s.settings;
    let (gzip, gzip_static) = super::gzip::compile(cx, &st.gzip);
    let default = CLocation {
        modifier: Modifier::Prefix,
        name: String::new(),
        span: s.span,
        regex: None,
        children: Vec::new(),
        script: Vec::new(),
        add_headers: super::added::compile(cx, &sh.reg, st).unwrap_or_default(),
        realip: super::realip::RealIp::of(st),
        access: super::access::Access::compile(cx, &sh.reg, st).unwrap_or_default(),
        limits: super::limit::CLimits::compile(&sh.limits, &st.limits),
        action: if s.stub_status {
            Action::StubStatus
        } else {
            Action::Static
        },
        content: content(cx, &sh.reg, st).unwrap_or_else(|| fallback_content(cx, st)),
        error_pages: error_pages(cx, &sh.reg, st, None).unwrap_or_default(),
        internal: false,
        server_tokens: st.server_tokens.unwrap_or(true),
        client_max_body_size: st.max_body_size(),
        auto_redirect: false,
        log: log_spec(cx, sh, st),
        mirror: super::mirror::compile(st),
        post_action: st
            .post_action
            .as_ref()
            .map(|p| bytes::Bytes::from(p.clone())),
        redirects: RedirectRules::of(st),
        keepalive: keepalive(st),
        gzip,
        gzip_static,
        sub_filter: super::sub_filter::compile(cx, &sh.reg, &st.sub_filter),
        addition: addition(st),
        ssi: ssi(st),
        output: COutput::compile(cx, &sh.reg, st, &sh.site).unwrap_or_default(),
        referers: referers(cx, sh, st),
        secure_link: secure_link(cx, sh, st),
        browser: Arc::new(super::browser::CBrowser::compile(&st.browser)),
        msie_refresh: st.msie_refresh.unwrap_or(false),
        userid: Arc::new(super::userid::CUserid::compile(&st.userid, &sh.reg)),
        limit_except: None,
        script_name: Arc::new(ScriptName::compile(cx, &st.fastcgi)),
    };
    let tls = super::tls::spec(&st.ssl);
    super::tls::check_keys(cx, s.span, tls.as_deref());
    CServer {
        span: s.span,
        listens: s.listens.clone(),
        names: s.names.clone(),
        server_name: CServer::first_name(&s.names).into(),
        name_regexes,
        script: steps,
        header_rules: HeaderRules {
            ignore_invalid: st.ignore_invalid_headers.unwrap_or(true),
            underscores: st.underscores_in_headers.unwrap_or(false),
        },
        merge_slashes: st.merge_slashes.unwrap_or(true),
        add_headers: super::added::compile(cx, &sh.reg, &s.settings).unwrap_or_default(),
        locations: s
            .locations
            .iter()
            .filter_map(|l| location(cx, sh, l))
            .collect(),
        default,
        tls,
        ssl_on: st.ssl.enable.unwrap_or(false),
        verify_client: super::tls::verify_client(&st.ssl),
        log: log_spec(cx, sh, st),
        redirects: RedirectRules::of(st),
        keepalive: keepalive(st),
        header_timeout: st
            .client_header_timeout
            .unwrap_or(defaults::http::CLIENT_HEADER_TIMEOUT),
        header_buffers: header_buffers(st),
    }
}

/// A server's `client_header_buffer_size` and `large_client_header_buffers`.
fn header_buffers(st: &Settings) -> super::plan::HeaderBuffers {
    let default = defaults::http::HEADER_BUFFERS;
    let (large_num, large_size) = st
        .large_client_header_buffers
        .unwrap_or((default.large_num, default.large_size));
    super::plan::HeaderBuffers {
        client: st.client_header_buffer_size.unwrap_or(default.client),
        large_num,
        large_size,
        uniform: false,
        merge_slashes: st.merge_slashes.unwrap_or(true),
    }
}

/// A level's addition filter: an empty URI is nginx's unset one, and without either the
/// filter is off.
fn addition(st: &Settings) -> Option<Arc<Addition>> {
    let uri = |u: &Option<String>| {
        u.as_deref()
            .filter(|u| !u.is_empty())
            .map(|u| bytes::Bytes::copy_from_slice(u.as_bytes()))
    };
    let (before, after) = (uri(&st.addition.before), uri(&st.addition.after));
    if before.is_none() && after.is_none() {
        return None;
    }
    let types = st.addition.types.clone().unwrap_or_else(GzipTypes::html);
    Some(Arc::new(Addition {
        before,
        after,
        types,
    }))
}

/// A level's SSI filter, under `ssi on`.
fn ssi(st: &Settings) -> Option<Arc<Ssi>> {
    let s = &st.ssi;
    s.enable.filter(|on| *on)?;
    Some(Arc::new(Ssi {
        types: s.types.clone().unwrap_or_else(GzipTypes::html),
        silent_errors: s.silent_errors.unwrap_or(false),
        last_modified: s.last_modified.unwrap_or(false),
        value_length: s.value_length.unwrap_or(defaults::http::SSI_VALUE_LENGTH),
    }))
}

/// A level's client-side `keepalive_timeout`, `keepalive_requests` and `keepalive_time`.
fn keepalive(st: &Settings) -> KeepaliveLimits {
    let default = defaults::http::KEEPALIVE;
    KeepaliveLimits {
        timeout: st.keepalive_timeout.unwrap_or(default.timeout),
        requests: st.keepalive_requests.unwrap_or(default.requests),
        time: st.keepalive_time.unwrap_or(default.time),
    }
}

fn give(cx: &mut Cx<'_>, reg: &Registry, r: &Return, st: &Settings) -> Option<CReturn> {
    let text = match &r.text {
        Some(t) => Some(Complex::compile(cx, reg, t)?),
        None => None,
    };
    Some(CReturn {
        code: r.code,
        text,
        content_types: ContentTypes::of(st),
    })
}

fn location(cx: &mut Cx<'_>, sh: &mut Shared, l: &Location) -> Option<CLocation> {
    // Each `if` block's configuration, in the order the script meets them.
    let blocks: Vec<_> = l
        .script
        .iter()
        .filter_map(|step| match step {
            Step::If(i) => Some(level(cx, sh, &i.block, Vec::new()).map(Box::new)),
            _ => None,
        })
        .collect();
    let steps = script::compile(
        cx,
        &sh.reg,
        &l.script,
        &mut |cx, r| give(cx, &sh.reg, r, &l.settings),
        &mut blocks.into_iter(),
    );
    let mut loc = level(cx, sh, l, steps)?;
    if let Some(limit) = &l.limit_except {
        loc.limit_except = Some(Box::new(CLimitExcept {
            methods: limit.methods.clone(),
            config: level(cx, sh, &limit.block, Vec::new())?,
        }));
    }
    if l.modifier.is_regex() {
        match Regex::new(&l.name, l.modifier == Modifier::RegexCaseless) {
            Ok(re) => loc.regex = Some(re),
            Err(message) => {
                cx.late_error_at("location::regex", message, l.span);
                return None;
            }
        }
    }
    loc.children = l
        .children
        .iter()
        .filter_map(|c| location(cx, sh, c))
        .collect();
    Some(loc)
}

/// A location's or an `if` block's configuration with its compiled `script`, without what
/// only a location found by URI has (its regex, nested locations).
fn level(cx: &mut Cx<'_>, sh: &mut Shared, l: &Location, script: Vec<CStep>) -> Option<CLocation> {
    proxy_conf::validate(cx, &sh.reg, &l.settings);
    let action = match &l.proxy_pass {
        _ if l.handler == Some(Handler::StubStatus) => Action::StubStatus,
        _ if l.handler == Some(Handler::EmptyGif) => Action::EmptyGif,
        _ if l.handler == Some(Handler::Flv) => Action::Flv,
        _ if l.handler == Some(Handler::Mp4) => Action::Mp4(Box::new(super::mp4::Conf {
            buffer_size: l.settings.mp4_buffer_size.unwrap_or(512 * 1024) as u64,
            max_buffer_size: l.settings.mp4_max_buffer_size.unwrap_or(10 * 1024 * 1024) as u64,
            start_key_frame: l.settings.mp4_start_key_frame.unwrap_or(false),
        })),
        Some(pass) => Action::Proxy(Box::new(proxy_conf::compile(
            cx,
            &sh.reg,
            &mut sh.groups,
            &sh.caches,
            l,
            pass,
            &sh.site,
        )?)),
        None => Action::Static,
    };
    let (gzip, gzip_static) = super::gzip::compile(cx, &l.settings.gzip);
    Some(CLocation {
        modifier: l.modifier,
        name: l.name.clone(),
        span: l.span,
        regex: None,
        children: Vec::new(),
        script,
        add_headers: super::added::compile(cx, &sh.reg, &l.settings).unwrap_or_default(),
        realip: super::realip::RealIp::of(&l.settings),
        access: super::access::Access::compile(cx, &sh.reg, &l.settings)?,
        limits: super::limit::CLimits::compile(&sh.limits, &l.settings.limits),
        action,
        content: content(cx, &sh.reg, &l.settings)?,
        error_pages: error_pages(cx, &sh.reg, &l.settings, l.gateway)?,
        internal: l.internal,
        server_tokens: l.settings.server_tokens.unwrap_or(true),
        client_max_body_size: l.settings.max_body_size(),
        auto_redirect: l.auto_redirect(),
        log: log_spec(cx, sh, &l.settings),
        mirror: super::mirror::compile(&l.settings),
        post_action: l
            .settings
            .post_action
            .as_ref()
            .map(|p| bytes::Bytes::from(p.clone())),
        redirects: RedirectRules::of(&l.settings),
        keepalive: keepalive(&l.settings),
        gzip,
        gzip_static,
        sub_filter: super::sub_filter::compile(cx, &sh.reg, &l.settings.sub_filter),
        addition: addition(&l.settings),
        ssi: ssi(&l.settings),
        referers: referers(cx, sh, &l.settings),
        secure_link: secure_link(cx, sh, &l.settings),
        browser: Arc::new(super::browser::CBrowser::compile(&l.settings.browser)),
        msie_refresh: l.settings.msie_refresh.unwrap_or(false),
        userid: Arc::new(super::userid::CUserid::compile(&l.settings.userid, &sh.reg)),
        output: output(cx, sh, l)?,
        limit_except: None,
        script_name: Arc::new(ScriptName::compile(cx, &l.settings.fastcgi)),
    })
}

/// A level's `valid_referers` with its server's names; `None` without any (or after an
/// error, reported).
fn referers(cx: &mut Cx<'_>, sh: &Shared, st: &Settings) -> Option<Arc<super::referer::Referers>> {
    let v = st.valid_referers.as_ref()?;
    super::referer::Referers::compile(cx, v, &sh.server_names).map(Arc::new)
}

/// A level's `secure_link*`; `None` where `$secure_link` is not found.
fn secure_link(
    cx: &mut Cx<'_>,
    sh: &Shared,
    st: &Settings,
) -> Option<Arc<super::secure_link::CSecureLink>> {
    super::secure_link::CSecureLink::compile(cx, &sh.reg, &st.secure_link).map(Arc::new)
}

/// A level's write-side settings; a `fastcgi_pass` (or `scgi_pass`, `uwsgi_pass`) reads its
/// upstream at `fastcgi_limit_rate` rather than `proxy_limit_rate`.
fn output(cx: &mut Cx<'_>, sh: &Shared, l: &Location) -> Option<COutput> {
    let mut output = COutput::compile(cx, &sh.reg, &l.settings, &sh.site)?;
    if let Some(protocol) = l.gateway {
        let rate = l.settings.gateway(protocol).limit_rate;
        output.proxy_limit_rate = rate.map_or(0, |n| n as u64);
    }
    Some(output)
}

/// A level's `root`/`alias`, `index`, `try_files` and file settings; `None` after an error
/// (reported).
fn content(cx: &mut Cx<'_>, reg: &Registry, st: &Settings) -> Option<Content> {
    let compile = |cx: &mut Cx<'_>, t: &Text| Complex::compile(cx, reg, t);
    let root = match &st.root {
        Some(r) => Arc::new(CRoot {
            path: compile(cx, &r.path)?,
            alias: r.alias,
            prefix: cx.paths.prefix.clone(),
        }),
        None => default_root(cx),
    };
    let index = match &st.index {
        Some(names) => names
            .iter()
            .map(|n| compile(cx, n))
            .collect::<Option<Vec<_>>>()?,
        None => vec![literal(defaults::http::INDEX)],
    };
    let try_files = match &st.try_files {
        Some(tf) => Some(CTryFiles {
            files: tf
                .files
                .iter()
                .map(|(t, dir)| Some((compile(cx, t)?, *dir)))
                .collect::<Option<Vec<_>>>()?,
            fallback: match &tf.fallback {
                Fallback::Uri(t) => CFallback::Uri(compile(cx, t)?),
                Fallback::Code(c) => CFallback::Code(*c),
            },
        }),
        None => None,
    };
    Some(Content {
        root,
        index,
        try_files,
        ..fallback_content(cx, st)
    })
}

/// `root html` under the prefix: nginx's default.
fn default_root(cx: &Cx<'_>) -> Arc<CRoot> {
    let path = cx.prefixed(defaults::http::ROOT);
    Arc::new(CRoot {
        path: literal(&path.to_string_lossy()),
        alias: None,
        prefix: cx.paths.prefix.clone(),
    })
}

/// The settings of a level whose `root`, `index` or `try_files` did not compile.
fn fallback_content(cx: &Cx<'_>, st: &Settings) -> Content {
    Content {
        root: default_root(cx),
        index: vec![literal(defaults::http::INDEX)],
        try_files: None,
        etag: st.etag.unwrap_or(true),
        if_modified_since: st.if_modified_since.unwrap_or(IfModifiedSince::Exact),
        max_ranges: st.max_ranges.unwrap_or(defaults::http::MAX_RANGES),
        log_not_found: st.log_not_found.unwrap_or(true),
        types: ContentTypes::of(st),
        autoindex: st.autoindex.unwrap_or(false).then(|| Autoindex {
            exact_size: st.autoindex_exact_size.unwrap_or(true),
            localtime: st.autoindex_localtime.unwrap_or(false),
        }),
        random_index: st.random_index.unwrap_or(false),
    }
}

fn literal(text: &str) -> Complex {
    Complex {
        parts: vec![Part::Literal(text.as_bytes().to_vec())],
    }
}

/// The level's `error_page`s, with `proxy_intercept_errors` (`fastcgi_intercept_errors`
/// where the pass is `fastcgi_pass`, and so on).
fn error_pages(
    cx: &mut Cx<'_>,
    reg: &Registry,
    st: &Settings,
    gateway: Option<Protocol>,
) -> Option<ErrorPages> {
    let mut pages = Vec::new();
    for p in st.error_page.as_deref().unwrap_or_default() {
        let uri = Complex::compile(cx, reg, &p.uri)?;
        pages.extend(p.codes.iter().map(|&code| CErrorPage {
            code,
            overwrite: p.overwrite,
            uri: uri.clone(),
        }));
    }
    Some(ErrorPages {
        pages,
        recursive: st.recursive_error_pages.unwrap_or(false),
        intercept: match gateway {
            Some(protocol) => st.gateway(protocol).intercept_errors,
            None => st.proxy_intercept_errors,
        }
        .unwrap_or(false),
    })
}

/// The sockets to open: one per address, options merged; a specific address on a port that
/// also has a wildcard is served through the wildcard socket (nginx binds only that), which
/// keeps the address's own `proxy_protocol` (nginx's per-address configuration), unless its
/// `listen` gave socket options (`lsopt.bind`).
fn listens(servers: &[CServer]) -> Vec<ListenSpec> {
    let mut out: Vec<ListenSpec> = Vec::new();
    for l in servers.iter().flat_map(|s| &s.listens) {
        match out.iter_mut().find(|o| o.addr == l.addr) {
            Some(o) => {
                o.ssl |= l.ssl;
                o.proxy_protocol |= l.proxy_protocol;
                o.http2 |= l.http2;
                // nginx refuses a second `listen` with options ("duplicate listen
                // options"); the one that has them gives them to the socket.
                if l.socket.set && !o.socket.set {
                    o.socket = l.socket.clone();
                }
            }
            None => out.push(ListenSpec {
                addr: l.addr.clone(),
                ssl: l.ssl,
                proxy_protocol: l.proxy_protocol,
                proxy_protocol_flipped: Vec::new(),
                http2: l.http2,
                socket: l.socket.clone(),
            }),
        }
    }
    // `ngx_http_init_connection`: a connection is TLS when its address's default server has
    // `ssl on`, whatever the `listen` said.
    for o in &mut out {
        let on = vhost::on_socket(servers, &o.addr, &o.addr);
        o.ssl |= vhost::default(&on, &o.addr).is_some_and(|s| s.ssl_on);
    }
    // A specific address under a wildcard of its port and family.
    let under = |specific: SocketAddr, wildcard: SocketAddr| {
        !specific.ip().is_unspecified()
            && wildcard.ip().is_unspecified()
            && wildcard.port() == specific.port()
            && wildcard.is_ipv4() == specific.is_ipv4()
    };
    let wildcards: Vec<SocketAddr> = out
        .iter()
        .filter_map(|l| l.addr.inet().filter(|a| a.ip().is_unspecified()))
        .collect();
    let wildcard_of = |l: &ListenSpec| {
        let a = l.addr.inet()?;
        wildcards.iter().position(|w| under(a, *w))
    };
    // With socket options (or `bind`) a specific address keeps a socket of its own, opened
    // before the wildcard's (nginx sorts such bindings first; Linux then refuses the
    // wildcard's bind, as it does nginx's).
    let (own, mut out): (Vec<ListenSpec>, Vec<ListenSpec>) = out
        .into_iter()
        .partition(|l| l.socket.set && wildcard_of(l).is_some());
    let specifics: Vec<(SocketAddr, bool)> = out
        .iter()
        .filter_map(|l| Some((l.addr.inet()?, l.proxy_protocol)))
        .collect();
    for w in &mut out {
        let Some(wildcard) = w.addr.inet() else {
            continue;
        };
        w.proxy_protocol_flipped = specifics
            .iter()
            .filter(|(a, pp)| under(*a, wildcard) && *pp != w.proxy_protocol)
            .map(|(a, _)| a.ip())
            .collect();
    }
    out.retain(|l| wildcard_of(l).is_none());
    for l in own {
        let wildcard = wildcard_of(&l).map(|i| ListenAddr::Inet(wildcards[i]));
        let at = out.iter().position(|w| Some(&w.addr) == wildcard.as_ref());
        out.insert(at.unwrap_or(out.len()), l);
    }
    out
}

/// `conflicting server name "x" on ADDR, ignored`: the same exact name twice on one socket
/// (the first server keeps it).
fn conflicting_names(cx: &mut Cx<'_>, servers: &[CServer]) {
    let mut seen: Vec<(&ListenAddr, &str)> = Vec::new();
    for s in servers {
        for l in &s.listens {
            for n in &s.names {
                let ServerName::Exact(name) = n else { continue };
                if seen.contains(&(&l.addr, name.as_str())) {
                    cx.late_warning(
                        "server_name::conflict",
                        format!("conflicting server name \"{name}\" on {}, ignored", l.addr),
                        s.span,
                    );
                } else {
                    seen.push((&l.addr, name));
                }
            }
        }
    }
}
