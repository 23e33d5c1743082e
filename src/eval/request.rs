//! One request being evaluated: the parsed target, what routing chose so far, the regex
//! captures, and the per-request cache of `map` values ("variables are evaluated only when
//! they are used", once, unless `volatile`).

use std::borrow::Cow;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::Arc;

use bytes::Bytes;

use super::files::CRoot;
use super::gzip::CGzip;
use super::headers::{arg, cookie, first, header, remote_user, sent_header, set_cookie};
use super::map::MapTable;
use super::output::COutput;
use super::plan::{
    KeepaliveLimits, Outcome, Peer, RequestInfo, UpstreamTry, local_port, local_text,
};
use super::regex::Captures;
use super::sub_filter::CSubFilter;
use super::uri::Target;
use super::userid::{CUserid, UidState};
use super::vars::{Counted, Var};
use crate::config::userid::Enable;

/// nginx's limit on URI changes per request (`NGX_HTTP_MAX_URI_CHANGES`).
pub const MAX_URI_CHANGES: usize = 10;

/// What every request reads from the compiled site.
#[derive(Debug, Default)]
pub struct Tables {
    pub maps: Vec<MapTable>,
    pub geos: Vec<super::geo::GeoTable>,
    pub splits: Vec<super::split_clients::SplitTable>,
    pub hostname: Vec<u8>,
}

/// A response head in the making: its status and the headers set so far.
#[derive(Debug, Default)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(Bytes, Bytes)>,
}

#[derive(Debug)]
pub struct Req<'a> {
    pub info: &'a RequestInfo<'a>,
    pub tables: &'a Tables,
    pub target: Target,
    /// The method as nginx sees it now: an `error_page` redirect makes it GET (HEAD stays).
    pub method: &'a str,
    /// Reached by an internal redirect (`internal` locations may answer).
    pub internal: bool,
    /// An `auth_request` subrequest: the access phase is skipped, as for nginx's subrequests.
    pub subrequest: bool,
    /// How many of `RequestInfo::auth` this route's access phases used.
    pub auth_used: usize,
    /// nginx's `uri_changes`: rewrites and internal redirects left before the 500.
    pub uri_changes: usize,
    /// The request headers nginx keeps: all until the server is chosen, then those its
    /// `ignore_invalid_headers` and `underscores_in_headers` accept (borrowed from the request
    /// until a header is dropped).
    pub headers: Cow<'a, [(Bytes, Bytes)]>,
    /// The validated `Host` (nginx's `headers_in.server`): lowercased, without port.
    pub host: Option<Vec<u8>>,
    /// The chosen server's first name (`$server_name`, `$host` without `Host`).
    pub server_name: Bytes,
    /// The client-side keepalive limits of the server, then of the location, once chosen.
    pub keepalive: KeepaliveLimits,
    /// The gzip filter of the server, then of the location, once chosen.
    pub gzip: Option<Arc<CGzip>>,
    /// The sub filter of the server, then of the location, once chosen.
    pub sub_filter: Option<Arc<CSubFilter>>,
    /// The addition filter of the server, then of the location, once chosen.
    pub addition: Option<Arc<super::plan::Addition>>,
    /// The SSI filter of the server, then of the location, once chosen.
    pub ssi: Option<Arc<super::plan::Ssi>>,
    /// The write side's settings of the server, then of the location, once chosen.
    pub output: COutput,
    /// What `set $limit_rate` (or an `X-Accel-Redirect` answer's `X-Accel-Limit-Rate`) gave
    /// (nginx's `r->limit_rate` with `limit_rate_set`).
    pub limit_rate: Option<u64>,
    /// Response headers set before the handler that answers (nginx's `headers_out`): those of
    /// a special response an error page took over (a `return 302 URL`'s `Location`), those
    /// an `X-Accel-Redirect` answer kept. They go out first, before the answer's own.
    pub carried: Vec<(Bytes, Bytes)>,
    /// A `Content-Type` set before a handler answers (nginx's `r->headers_out.content_type`,
    /// from an `X-Accel-Redirect` answer): the handler keeps it, a special response drops it.
    pub content_type: Option<Bytes>,
    /// Error-log lines of the variables' own handlers (`invalid $limit_rate`).
    pub errors: Vec<super::plan::ErrorLine>,
    /// The `root` or `alias` of the level that has the request (nginx's `r->loc_conf`): the
    /// server's, then its location's or `if` block's, for `$document_root`,
    /// `$realpath_root` and `$request_filename`.
    pub root: Option<Arc<CRoot>>,
    /// The `valid_referers` of the level that has the request, for `$invalid_referer`.
    pub referers: Option<Arc<super::referer::Referers>>,
    /// The userid settings of the level that has the request.
    pub userid: Option<Arc<super::userid::CUserid>>,
    /// What the userid filter learned of the request's identifier, once read.
    pub uid: Option<super::userid::UidState>,
    /// The browser settings of the level that has the request.
    pub browser: Option<Arc<super::browser::CBrowser>>,
    /// The secure_link settings of the level that has the request, for `$secure_link`.
    pub secure_link: Option<Arc<super::secure_link::CSecureLink>>,
    /// The `fastcgi_split_path_info` and `fastcgi_index` of the level that has the request,
    /// for `$fastcgi_script_name` and `$fastcgi_path_info`.
    pub script_name: Option<Arc<super::fastcgi::ScriptName>>,
    /// nginx's `add_uri_to_alias`: `try_files` found a file under a regex location's alias.
    pub add_uri_to_alias: bool,
    /// A root is being evaluated: a root naming `$request_filename` reads it as not found
    /// rather than recursing.
    root_busy: bool,
    /// `$proxy_host` and `$proxy_port`, once a `proxy_pass` is chosen.
    pub proxy: Option<(Bytes, Bytes)>,
    pub captures: Captures,
    pub outcome: Option<&'a Outcome>,
    /// What the runtime learned from the proxy passes a request routed again went through:
    /// it becomes `outcome` once routing reaches the last of them again, as the phases
    /// before ran before those passes (a server-level `if ($upstream_http_...)`).
    pub passes_outcome: Option<&'a Outcome>,
    /// The answer whose head nginx's headers filter is completing (`add_header`): `$status`
    /// and `$sent_http_*` read it rather than the outcome.
    pub answer: Option<Answer>,
    /// The trailers `add_trailer` set so far, while it evaluates them (`$sent_trailer_*`).
    pub trailers: Option<Vec<(Bytes, Bytes)>>,
    /// The content phase of a proxy pass was reached (nginx's `r->request_body` is set):
    /// `$request_body` reads what the runtime kept of the body from then on, never in the
    /// phases before, which ran before the body was read.
    pub body_read: bool,
    /// `$request_body` was read before that, and found missing: nginx keeps that value
    /// for the rest of the request, so no copy of the body is to be kept.
    pub body_missed: bool,
    /// `ngxr explain` is asking: record `seen` and `notes`, which serving never reads.
    pub traced: bool,
    /// Every variable read, in order, with its value (for explain).
    pub seen: Vec<(String, String)>,
    /// How each map decided (for explain).
    pub notes: Vec<String>,
    /// The client's address as the realip module found it (port 0 when none was given).
    pub realip: Option<Peer>,
    /// What the preaccess limits decided on this pass.
    pub limited: super::plan::Limited,
    /// The `mirror` subrequests started so far (every precontent phase passed adds its
    /// own), and how many were met in all (those the runtime already started included).
    pub mirrors: Vec<super::plan::Mirror>,
    pub mirrors_met: usize,
    /// Values given by the rewrite module's `set`, latest last.
    pub sets: Vec<(String, Vec<u8>)>,
    /// Each map's state in this request, by index.
    maps: Vec<MapValue>,
    /// Each geo variable's state in this request, by index (cached as nginx caches it).
    geos: Vec<MapValue>,
    /// Each `split_clients` variable's state in this request, by index.
    splits: Vec<MapValue>,
    /// `$invalid_referer` in this request.
    invalid_referer: MapValue,
    /// `$secure_link` and `$secure_link_expires` in this request.
    secure_link_value: MapValue,
    secure_link_expires: MapValue,
    /// `$modern_browser`, `$ancient_browser` and `$msie` in this request.
    browser_values: [MapValue; 3],
    /// The expiry the last reading of `$secure_link` found (the module's context).
    link_expires: Option<Vec<u8>>,
}

/// The request as its phases left it once routing decided the answer (nginx's `r` when the
/// log phase runs, after every internal redirect): what the access log, and the headers
/// filter of a proxied answer, read — the final `$uri` and `$args`, the final level's root,
/// the captures, what `set` gave and the variables already evaluated (cached as nginx caches
/// them). Opaque to the runtime, which hands it back in [`RequestInfo::routed`].
#[derive(Debug, Clone)]
pub struct Routed {
    target: Target,
    /// The method is GET (an error page or an `X-Accel-Redirect` may have made it so).
    get: bool,
    root: Option<Arc<CRoot>>,
    referers: Option<Arc<super::referer::Referers>>,
    secure_link: Option<Arc<super::secure_link::CSecureLink>>,
    browser: Option<Arc<super::browser::CBrowser>>,
    userid: Option<Arc<super::userid::CUserid>>,
    uid: Option<super::userid::UidState>,
    script_name: Option<Arc<super::fastcgi::ScriptName>>,
    add_uri_to_alias: bool,
    proxy: Option<(Bytes, Bytes)>,
    captures: Captures,
    realip: Option<Peer>,
    limit_rate: Option<u64>,
    sets: Vec<(String, Vec<u8>)>,
    maps: Vec<MapValue>,
    geos: Vec<MapValue>,
    splits: Vec<MapValue>,
    invalid_referer: MapValue,
    secure_link_value: MapValue,
    secure_link_expires: MapValue,
    browser_values: [MapValue; 3],
}

/// A map's value in one request.
#[derive(Debug, Clone)]
enum MapValue {
    Unread,
    /// Being computed: reading it again is a cycle.
    Busy,
    Known(Option<Vec<u8>>),
}

impl<'a> Req<'a> {
    /// `ngx_http_variable_set_args`: the request's arguments become `args`, and since nginx
    /// then forgets the URI as the client sent it (`valid_unparsed_uri`), an upstream URI is
    /// built from `$uri` and the new arguments.
    pub fn set_args(&mut self, args: Vec<u8>) {
        self.target.args = args;
        if self.target.rewritten == super::uri::Rewritten::No {
            self.target.rewritten = super::uri::Rewritten::ArgsSet;
        }
    }

    pub fn new(info: &'a RequestInfo<'a>, tables: &'a Tables, target: Target) -> Req<'a> {
        let n = tables.maps.len();
        Req {
            info,
            tables,
            target,
            method: info.method,
            internal: false,
            subrequest: false,
            auth_used: 0,
            uri_changes: MAX_URI_CHANGES + 1,
            headers: Cow::Borrowed(info.headers),
            host: None,
            server_name: Bytes::new(),
            keepalive: crate::defaults::http::KEEPALIVE,
            gzip: None,
            sub_filter: None,
            addition: None,
            ssi: None,
            output: COutput::default(),
            limit_rate: None,
            carried: Vec::new(),
            content_type: None,
            errors: Vec::new(),
            root: None,
            referers: None,
            secure_link: None,
            browser: None,
            userid: None,
            uid: None,
            link_expires: None,
            script_name: None,
            add_uri_to_alias: false,
            root_busy: false,
            proxy: None,
            captures: Captures::default(),
            outcome: None,
            passes_outcome: None,
            answer: None,
            trailers: None,
            body_read: false,
            body_missed: false,
            traced: false,
            seen: Vec::new(),
            notes: Vec::new(),
            sets: Vec::new(),
            realip: None,
            limited: Default::default(),
            mirrors: Vec::new(),
            mirrors_met: 0,
            maps: vec![MapValue::Unread; n],
            geos: vec![MapValue::Unread; tables.geos.len()],
            splits: vec![MapValue::Unread; tables.splits.len()],
            invalid_referer: MapValue::Unread,
            secure_link_value: MapValue::Unread,
            secure_link_expires: MapValue::Unread,
            browser_values: [MapValue::Unread, MapValue::Unread, MapValue::Unread],
        }
    }

    /// What the log phase will read of this request, taken from it at the end of routing.
    pub fn routed(&mut self) -> Routed {
        Routed {
            target: self.target.clone(),
            get: self.method == "GET",
            root: self.root.clone(),
            referers: self.referers.clone(),
            secure_link: self.secure_link.clone(),
            browser: self.browser.clone(),
            userid: self.userid.clone(),
            uid: self.uid.clone(),
            script_name: self.script_name.clone(),
            add_uri_to_alias: self.add_uri_to_alias,
            proxy: self.proxy.clone(),
            captures: std::mem::take(&mut self.captures),
            realip: self.realip.clone(),
            limit_rate: self.limit_rate,
            sets: std::mem::take(&mut self.sets),
            maps: std::mem::take(&mut self.maps),
            geos: std::mem::take(&mut self.geos),
            splits: std::mem::take(&mut self.splits),
            invalid_referer: self.invalid_referer.clone(),
            secure_link_value: self.secure_link_value.clone(),
            secure_link_expires: self.secure_link_expires.clone(),
            browser_values: self.browser_values.clone(),
        }
    }

    /// Puts the request back as routing left it (`routed`), in the server that had it.
    pub fn restore(&mut self, routed: &Routed) {
        let r = routed.clone();
        self.target = r.target;
        if r.get {
            self.method = "GET";
        }
        self.root = r.root;
        self.referers = r.referers;
        self.secure_link = r.secure_link;
        self.browser = r.browser;
        self.userid = r.userid;
        self.uid = r.uid;
        self.script_name = r.script_name;
        self.add_uri_to_alias = r.add_uri_to_alias;
        self.proxy = r.proxy;
        self.captures = r.captures;
        self.realip = r.realip;
        self.limit_rate = r.limit_rate;
        self.sets = r.sets;
        self.maps = r.maps;
        self.geos = r.geos;
        self.splits = r.splits;
        self.invalid_referer = r.invalid_referer;
        self.secure_link_value = r.secure_link_value;
        self.secure_link_expires = r.secure_link_expires;
        self.browser_values = r.browser_values;
    }

    /// The client's address: the realip module's, else the connection's.
    pub fn client(&self) -> &Peer {
        self.realip.as_ref().unwrap_or(&self.info.remote)
    }

    /// Runs the realip module with `settings` (a phase's), unless an earlier phase already
    /// found the address.
    pub fn apply_realip(&mut self, settings: Option<&super::realip::RealIp>) {
        if self.realip.is_none()
            && let Some(r) = settings
        {
            self.realip = r
                .client(&self.info.remote, &self.headers, self.info.proxy_protocol)
                .map(Peer::Inet);
        }
    }

    /// The request passes to `loc`'s configuration (a location, or an `if` block whose
    /// condition held).
    pub fn enter(&mut self, loc: &super::site::CLocation) {
        self.keepalive = loc.keepalive;
        self.gzip = loc.gzip.clone();
        self.sub_filter = loc.sub_filter.clone();
        self.addition = loc.addition.clone();
        self.ssi = loc.ssi.clone();
        self.output.clone_from(&loc.output);
        self.root = Some(loc.content.root.clone());
        self.referers.clone_from(&loc.referers);
        self.secure_link.clone_from(&loc.secure_link);
        self.browser = Some(loc.browser.clone());
        self.userid = Some(loc.userid.clone());
        self.script_name = Some(loc.script_name.clone());
    }

    /// Reads variable `var` (written `$name`); `None` is nginx's "not found".
    pub fn var(&mut self, name: &str, var: &Var) -> Option<Vec<u8>> {
        let value = match self.assigned(name, var) {
            Some(value) => Some(value),
            None => self.value(var),
        };
        if self.traced && !self.seen.iter().any(|(n, _)| n == name) {
            let shown = value
                .as_deref()
                .map(|v| String::from_utf8_lossy(v).into_owned());
            self.seen
                .push((name.to_string(), shown.unwrap_or_default()));
        }
        value
    }

    /// What `set` gave a variable that `map`, `geo` or `split_clients` defines: nginx keeps
    /// it in the variable's slot, where later reads find it (a `volatile` map's is evaluated
    /// again).
    fn assigned(&self, name: &str, var: &Var) -> Option<Vec<u8>> {
        if self.sets.is_empty() {
            return None;
        }
        let kept = match var {
            Var::Map(i) => !self.tables.maps.get(*i).is_some_and(|m| m.volatile),
            Var::Geo(_)
            | Var::Split(_)
            | Var::InvalidReferer
            | Var::ModernBrowser
            | Var::AncientBrowser
            | Var::Msie
            | Var::UidReset => true,
            _ => false,
        };
        let (_, value) = self
            .sets
            .iter()
            .rev()
            .find(|(n, _)| kept && n.eq_ignore_ascii_case(name))?;
        Some(value.clone())
    }

    fn value(&mut self, var: &Var) -> Option<Vec<u8>> {
        let info = self.info;
        let text = |s: String| Some(s.into_bytes());
        match var {
            Var::Host => Some(
                self.host
                    .clone()
                    .unwrap_or_else(|| self.server_name.to_vec()),
            ),
            Var::Http(name) => header(&self.headers, name),
            Var::Arg(name) => arg(&self.target.args, name.as_bytes()),
            Var::Cookie(name) => cookie(&self.headers, name.as_bytes()),
            Var::SentHttp(name) => match &self.answer {
                Some(answer) => sent_header(&answer.headers, name),
                None if name.eq_ignore_ascii_case("connection") => {
                    let sent = self.outcome.and_then(|o| header(&o.sent_headers, name));
                    Some(logged_connection(sent.as_deref(), info).to_vec())
                }
                None => self
                    .outcome
                    .and_then(|o| sent_header(&o.sent_headers, name)),
            },
            Var::SentTrailer(name) => self.trailers.as_deref().and_then(|t| first(t, name)),
            Var::UpstreamHttp(name) => self.outcome.and_then(|o| header(&o.upstream_headers, name)),
            Var::UpstreamCookie(name) => self
                .outcome
                .and_then(|o| set_cookie(&o.upstream_headers, name.as_bytes())),
            Var::RemoteAddr => Some(self.client().text()),
            Var::LimitReqStatus => {
                let status = self.limited.status.req.or(self.info.limits.req)?;
                text(status.as_str().to_string())
            }
            Var::LimitRate => {
                let rate = self.outcome.and_then(|o| o.limit_rate);
                text(rate.or(self.limit_rate).unwrap_or(0).to_string())
            }
            Var::Connections(which) => {
                let counts = info.counts;
                let n = match which {
                    Counted::Active => counts.active.get(),
                    Counted::Reading => counts.reading.get(),
                    Counted::Writing => counts.writing.get(),
                    Counted::Waiting => counts.waiting.get(),
                };
                text(n.to_string())
            }
            Var::LimitConnStatus => {
                let status = self.limited.status.conn.or(self.info.limits.conn)?;
                text(status.as_str().to_string())
            }
            // A unix-domain client's is its text, as nginx's.
            Var::BinaryRemoteAddr => Some(match self.client().ip() {
                Some(std::net::IpAddr::V4(ip)) => ip.octets().to_vec(),
                Some(std::net::IpAddr::V6(ip)) => ip.octets().to_vec(),
                None => self.client().text(),
            }),
            Var::RemotePort => Some(port(self.client().port())),
            Var::RealipRemoteAddr => Some(info.remote.text()),
            Var::RealipRemotePort => Some(port(info.remote.port())),
            Var::ProxyProtocolAddr => info.proxy_protocol.map(|pp| pp.src_addr.to_vec()),
            Var::ProxyProtocolPort => info.proxy_protocol.map(|pp| port(pp.src_port)),
            Var::ProxyProtocolServerAddr => info.proxy_protocol.map(|pp| pp.dst_addr.to_vec()),
            Var::ProxyProtocolServerPort => info.proxy_protocol.map(|pp| port(pp.dst_port)),
            Var::NginxVersion => Some(crate::defaults::NGINX_VERSION.as_bytes().to_vec()),
            Var::RequestId => Some(info.request_id.to_vec()),
            Var::Pipe => Some(if info.pipelined { b"p" } else { b"." }.to_vec()),
            Var::RequestCompletion => Some(if self.outcome.is_some_and(|o| o.completed) {
                b"OK".to_vec()
            } else {
                Vec::new()
            }),
            Var::ConnectionTime => text(super::clock::seconds(info.opened.elapsed())),
            Var::RequestBody if self.body_read => info.request_body.map(<[u8]>::to_vec),
            Var::RequestBody => {
                self.body_missed = true;
                None
            }
            Var::RequestBodyFile if self.body_read => info.request_body_file.map(<[u8]>::to_vec),
            Var::RequestBodyFile => None,
            Var::Unsupported(_) => None,
            // Cached on first read, as nginx caches the indexed variable: a later level's
            // `valid_referers` does not judge the request again.
            Var::InvalidReferer => self.cached(
                |r| &mut r.invalid_referer,
                |r| {
                    let referer = first(&r.headers, "referer");
                    let refs = r.referers.as_ref();
                    let invalid = refs.is_some_and(|v| v.invalid(referer.as_deref()));
                    if invalid { b"1".to_vec() } else { Vec::new() }
                },
            ),
            Var::SecureLink => self.cached_found(
                |r| &mut r.secure_link_value,
                |r| {
                    let link = r.secure_link.clone()?;
                    link.check(r, |r, expires| r.link_expires = expires)
                },
            ),
            Var::SecureLinkExpires => {
                self.cached_found(|r| &mut r.secure_link_expires, |r| r.link_expires.clone())
            }
            Var::ModernBrowser | Var::AncientBrowser | Var::Msie => {
                let slot = match var {
                    Var::ModernBrowser => 0,
                    Var::AncientBrowser => 1,
                    _ => 2,
                };
                self.cached(
                    |r| &mut r.browser_values[slot],
                    |r| {
                        let ua = first(&r.headers, "user-agent");
                        let ua = ua.as_deref();
                        match (slot, &r.browser) {
                            (2, _) => {
                                let msie = ua.is_some_and(super::browser::msie);
                                if msie { b"1".to_vec() } else { Vec::new() }
                            }
                            (_, Some(b)) => b.value(ua, slot == 0),
                            (_, None) => Vec::new(),
                        }
                    },
                )
            }
            Var::UidGot => {
                let conf = self.userid.clone().filter(|u| u.enable != Enable::Off)?;
                let got = *self.uid_state(&conf).got();
                conf.shown(&got)
            }
            Var::UidSet => {
                let conf = self.userid.clone().filter(|u| u.enable >= Enable::V1)?;
                let set = *self.uid_created(&conf).set();
                conf.shown(&set)
            }
            Var::UidReset => Some(Vec::new()),
            Var::UpstreamCacheStatus => {
                let status = self.outcome?.cache_status?;
                Some(status.as_str().as_bytes().to_vec())
            }
            Var::Http2 => Some(match (info.version, info.tls) {
                ("HTTP/2.0", true) => b"h2".to_vec(),
                ("HTTP/2.0", false) => b"h2c".to_vec(),
                _ => Vec::new(),
            }),
            Var::DocumentRoot => self.with_root(CRoot::document_root),
            Var::FastcgiScriptName | Var::FastcgiPathInfo => {
                let (script, info) = match &self.script_name {
                    Some(names) => names.split(&self.target.uri),
                    None => (self.target.uri.clone(), Vec::new()),
                };
                Some(match var {
                    Var::FastcgiScriptName => script,
                    _ => info,
                })
            }
            Var::RealpathRoot => {
                let root = self.with_root(CRoot::document_root)?;
                let real = std::fs::canonicalize(std::ffi::OsStr::from_bytes(&root)).ok()?;
                Some(real.into_os_string().into_vec())
            }
            Var::RequestFilename => {
                self.with_root(|root, req| root.map(req).ok().map(|m| m.path))?
            }
            Var::DateLocal => text(super::clock::date_ssi(std::time::SystemTime::now(), "UTC")),
            Var::DateGmt => text(super::clock::date_ssi(std::time::SystemTime::now(), "GMT")),
            Var::RemoteUser => remote_user(&self.headers),
            Var::Request => match info.refused {
                Some(r) => Some(r.line.to_vec()),
                None => {
                    let (method, version) = (info.method.as_bytes(), info.version.as_bytes());
                    Some([method, b" ", info.target, b" ", version].concat())
                }
            },
            Var::RequestUri | Var::Uri | Var::Args | Var::RequestMethod | Var::ServerProtocol
                if info.refused.is_some_and(|r| !r.line_parsed) =>
            {
                let begun = info.refused.is_some_and(|r| r.protocol_begun);
                (*var == Var::ServerProtocol && begun).then(Vec::new)
            }
            Var::RequestUri | Var::Uri | Var::Args
                if info.refused.is_some_and(|r| r.target_refused) =>
            {
                (*var == Var::Uri).then(Vec::new)
            }
            Var::RequestUri => Some(self.target.unparsed.clone()),
            Var::Uri => Some(self.target.uri.clone()),
            // Not found when empty, even after a bare `?` (the access log prints `-`), unless
            // a rewrite left it so.
            Var::Args if self.target.args.is_empty() && !self.target.empty_args => None,
            Var::Args => Some(self.target.args.clone()),
            Var::IsArgs => Some(if self.target.args.is_empty() {
                b"".to_vec()
            } else {
                b"?".to_vec()
            }),
            Var::Scheme => Some(if info.tls {
                b"https".to_vec()
            } else {
                b"http".to_vec()
            }),
            Var::Https => Some(if info.tls { b"on".to_vec() } else { Vec::new() }),
            Var::ServerName => Some(self.server_name.to_vec()),
            Var::ServerAddr => Some(local_text(&info.local)),
            Var::ServerPort => Some(port(local_port(&info.local))),
            Var::ServerProtocol => Some(info.version.as_bytes().to_vec()),
            Var::RequestMethod => Some(self.method.as_bytes().to_vec()),
            Var::ProxyHost => self.proxy.as_ref().map(|p| p.0.to_vec()),
            Var::ProxyPort => self.proxy.as_ref().map(|p| p.1.to_vec()),
            Var::ProxyAddXForwardedFor => {
                let remote = self.client().text();
                Some(match header(&self.headers, "x-forwarded-for") {
                    Some(mut xff) => {
                        xff.extend_from_slice(b", ");
                        xff.extend_from_slice(&remote);
                        xff
                    }
                    None => remote,
                })
            }
            Var::Status => {
                let status = match &self.answer {
                    Some(answer) => answer.status,
                    None => self.outcome.map_or(0, |o| o.status),
                };
                text(format!("{status:03}"))
            }
            Var::BodyBytesSent => text(self.outcome.map_or(0, |o| o.body_bytes_sent).to_string()),
            Var::BytesSent => text(self.outcome.map_or(0, |o| o.bytes_sent).to_string()),
            Var::GzipRatio => {
                let (zin, zout) = self.outcome?.gzip_bytes?;
                super::gzip::ratio(zin, zout).map(String::into_bytes)
            }
            Var::RequestLength => text(self.outcome.map_or(0, |o| o.request_length).to_string()),
            Var::RequestTime => text(super::clock::seconds(info.started.elapsed())),
            Var::UpstreamAddr => self.upstream_list(|u| u.addr.to_string()),
            Var::UpstreamStatus => {
                self.upstream_list(|u| u.status.map_or_else(|| "-".into(), |s| s.to_string()))
            }
            Var::UpstreamResponseTime => self.upstream_list(|u| time(u.response_time)),
            Var::UpstreamConnectTime => self.upstream_list(|u| time(u.connect_time)),
            Var::UpstreamHeaderTime => self.upstream_list(|u| time(u.header_time)),
            Var::UpstreamResponseLength => self.upstream_list(|u| u.response_length.to_string()),
            Var::UpstreamBytesReceived => self.upstream_list(|u| u.bytes_received.to_string()),
            Var::UpstreamBytesSent => self.upstream_list(|u| u.bytes_sent.to_string()),
            Var::TimeLocal => text(super::clock::time_local(std::time::SystemTime::now())),
            Var::TimeIso8601 => text(super::clock::iso8601(std::time::SystemTime::now())),
            Var::Msec => text(super::clock::msec(std::time::SystemTime::now())),
            Var::Hostname => Some(self.tables.hostname.clone()),
            Var::Pid => text(std::process::id().to_string()),
            Var::Connection => text(info.connection.to_string()),
            Var::ConnectionRequests => text(info.connection_requests.to_string()),
            Var::ContentLength => header(&self.headers, "content-length").or_else(|| {
                let n = info.body_length.filter(|_| self.body_read)?;
                Some(n.to_string().into_bytes())
            }),
            Var::ContentType => header(&self.headers, "content-type"),
            Var::SslServerName => info.sni.map(|s| s.as_bytes().to_vec()),
            Var::Tls(v) => info.handshake.map(|h| v.of(&h).as_bytes().to_vec()),
            Var::ClientCert(v) => info
                .handshake
                .map(|_| v.value(info.client_cert, super::clock::now_secs())),
            Var::Capture(n) => Some(self.captures.get(*n)),
            Var::NamedCapture(name) => self.captures.named(name),
            Var::Set(name) => self
                .sets
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone()),
            Var::Map(i) => self.map(*i),
            Var::Geo(i) => self.geo(*i),
            Var::Split(i) => self.split(*i),
        }
    }

    /// `read` of the level's root; not found before a server has the request, or when the
    /// root itself names a variable read through it (nginx would recurse without end).
    fn with_root<T>(&mut self, read: impl FnOnce(&CRoot, &mut Self) -> T) -> Option<T> {
        let root = self.root.clone().filter(|_| !self.root_busy)?;
        self.root_busy = true;
        let value = read(&root, self);
        self.root_busy = false;
        Some(value)
    }

    /// One value per server tried, `, `-separated, and the proxy passes of internal
    /// redirects ` : `-separated; not found before any was tried.
    fn upstream_list(&self, item: impl Fn(&UpstreamTry) -> String) -> Option<Vec<u8>> {
        let tried = &self.outcome?.upstreams;
        let mut out = Vec::new();
        for (i, t) in tried.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(if t.redirected { b" : " } else { b", " });
            }
            out.extend_from_slice(item(t).as_bytes());
        }
        (!tried.is_empty()).then_some(out)
    }

    /// A map's value: computed on first use and cached, unless the map is `volatile`.
    fn map(&mut self, i: usize) -> Option<Vec<u8>> {
        let tables = self.tables;
        let table = tables.maps.get(i)?;
        match &self.maps[i] {
            MapValue::Known(value) => return value.clone(),
            // nginx: "cycle while evaluating variable"; the value is then empty.
            MapValue::Busy => return None,
            MapValue::Unread => {}
        }
        self.maps[i] = MapValue::Busy;
        let value = table.eval(self);
        self.maps[i] = if table.volatile {
            MapValue::Unread
        } else {
            MapValue::Known(value.clone())
        };
        value
    }
}

impl Req<'_> {
    /// The request's identifier as the userid filter reads it (nginx's module context),
    /// read from the cookie the first time.
    fn uid_state(&mut self, conf: &CUserid) -> &mut UidState {
        if self.uid.is_none() {
            self.uid = Some(conf.read(&self.headers, &mut self.errors));
        }
        self.uid.get_or_insert_with(UidState::default)
    }

    /// [`Req::uid_state`] with the identifier to set decided (`ngx_http_userid_create_uid`),
    /// which reads `$uid_reset`.
    pub fn uid_created(&mut self, conf: &CUserid) -> &UidState {
        let mut state = self.uid_state(conf).clone();
        let local = self.info.local.clone();
        let mut errors = Vec::new();
        let reset = |r: &mut Self| r.var("uid_reset", &conf.reset).unwrap_or_default();
        conf.create(&mut state, || reset(self), &local, &mut errors);
        self.errors.append(&mut errors);
        self.uid.insert(state)
    }

    /// The userid filter (`ngx_http_userid_filter`) at the level `conf`: the lines it adds
    /// after `add_header`'s, none below `userid v1`.
    pub fn userid_lines(&mut self, conf: &CUserid) -> Vec<(Bytes, Bytes)> {
        if conf.enable < Enable::V1 {
            return Vec::new();
        }
        let state = self.uid_created(conf).clone();
        conf.lines(&state, super::clock::now_secs())
    }

    /// A geo variable's value: computed on first use and cached (its `$address` may name
    /// another geo variable: a cycle reads as not found, as in nginx).
    fn geo(&mut self, i: usize) -> Option<Vec<u8>> {
        let tables = self.tables;
        let table = tables.geos.get(i)?;
        self.cached(|r| &mut r.geos[i], |r| table.eval(r))
    }

    /// A `split_clients` variable's value: computed on first use and cached (a key that
    /// reads the variable itself finds it not found, as nginx's cycle check does).
    fn split(&mut self, i: usize) -> Option<Vec<u8>> {
        let tables = self.tables;
        let table = tables.splits.get(i)?;
        self.cached(|r| &mut r.splits[i], |r| table.eval(r))
    }

    /// The value in `slot`, computed by `eval` the first time.
    fn cached(
        &mut self,
        slot: impl Fn(&mut Self) -> &mut MapValue,
        eval: impl FnOnce(&mut Self) -> Vec<u8>,
    ) -> Option<Vec<u8>> {
        self.cached_found(slot, |r| Some(eval(r)))
    }

    /// [`Req::cached`] for a value that may be not found (kept so as well).
    fn cached_found(
        &mut self,
        slot: impl Fn(&mut Self) -> &mut MapValue,
        eval: impl FnOnce(&mut Self) -> Option<Vec<u8>>,
    ) -> Option<Vec<u8>> {
        match slot(self) {
            MapValue::Known(value) => return value.clone(),
            MapValue::Busy => return None,
            MapValue::Unread => {}
        }
        *slot(self) = MapValue::Busy;
        let value = eval(self);
        *slot(self) = MapValue::Known(value.clone());
        value
    }
}

/// A time as nginx prints it in `$upstream_*_time`: seconds with milliseconds, `-` unknown.
fn time(t: Option<std::time::Duration>) -> String {
    t.map_or_else(|| "-".into(), super::clock::seconds)
}

/// An address as nginx prints it (`127.0.0.1`, `::1`). IPv4, read on every proxied request
/// (`$remote_addr`, `$proxy_add_x_forwarded_for`), is written without the formatting
/// machinery.
/// `$remote_port`, `$server_port`...: empty for port 0 (an address given without one, a
/// unix-domain socket).
fn port(port: u16) -> Vec<u8> {
    match port {
        0 => Vec::new(),
        p => p.to_string().into_bytes(),
    }
}

/// `$sent_http_connection` as nginx logs it: computed from the request's state, in which a
/// connection kept for another request has had `r->keepalive` cleared before the log
/// phase. A request that got no answer (499) still has what its client asked for (HTTP/1.1
/// unless `close`, HTTP/1.0 only with `keep-alive`; the keepalive limits are not applied).
fn logged_connection(sent: Option<&[u8]>, info: &RequestInfo<'_>) -> &'static [u8] {
    let asked = |token: &str| {
        info.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case(b"connection")
                && v.split(|&c| c == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    match sent {
        Some(b"upgrade") => b"upgrade",
        Some(_) => b"close",
        None if info.version == "HTTP/1.1" && !asked("close") => b"keep-alive",
        None if info.version == "HTTP/1.0" && asked("keep-alive") => b"keep-alive",
        None => b"close",
    }
}
