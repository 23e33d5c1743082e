//! The file cache's settings (`ngx_http_file_cache`, as the proxy and FastCGI modules
//! configure it alike): `proxy_cache_path` and `fastcgi_cache_path` zones declared at the
//! http level, and the per-level `proxy_cache*` or `fastcgi_cache*` directives with nginx's
//! merge rules (a level naming no `*_cache_valid`, `*_cache_bypass` or `*_no_cache` inherits
//! the enclosing level's list whole). Each module has its own zones and its own settings.

use std::path::PathBuf;
use std::time::Duration;

use super::settings::{flag, set};
use super::units::{parse_msec, parse_offset, parse_sec, parse_size};
use super::{Cx, Text};
use crate::eval::plan::NextUpstream;
use crate::source::Span;
use crate::syntax::Directive;

/// The module whose upstream a cache serves: each declares its zones and reads its
/// settings under its own prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    Proxy,
    FastCgi,
}

impl Module {
    /// The prefix of the module's directives (`proxy_`, `fastcgi_`).
    pub fn prefix(self) -> &'static str {
        match self {
            Module::Proxy => "proxy_",
            Module::FastCgi => "fastcgi_",
        }
    }
}

/// One `proxy_cache_path` or `fastcgi_cache_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePath {
    /// The module that declared it: only its own `*_cache` names the zone.
    pub module: Module,
    /// The `keys_zone` name `proxy_cache` (or `fastcgi_cache`) refers to.
    pub name: String,
    /// The directory, relative to the prefix unless absolute.
    pub path: PathBuf,
    /// `levels=`: how many hex digits, from the end of the key's md5, name each
    /// subdirectory level.
    pub levels: Vec<usize>,
    /// `inactive=`: an entry not used for this long is removed (10 minutes by default).
    pub inactive: Duration,
    pub span: Span,
}

/// What `proxy_cache` (or `fastcgi_cache`) names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneName {
    /// A zone, with the name's span.
    Fixed(String, Span),
    /// A value with variables, evaluated per request.
    Variable(Text),
}

/// `proxy_cache_valid [code ...] time`: `codes` empty means `any`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valid {
    pub codes: Vec<u16>,
    pub any: bool,
    pub time: Duration,
}

/// The `proxy_cache*` (or `fastcgi_cache*`) settings of one level; `None`: inherited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cache {
    /// `proxy_cache ZONE` (`Some(Some)`) or `off` (`Some(None)`).
    pub zone: Option<Option<ZoneName>>,
    pub key: Option<Text>,
    pub valid: Option<Vec<Valid>>,
    /// `proxy_cache_methods` beyond GET and HEAD, which are always cached: POST.
    pub methods_post: Option<bool>,
    pub bypass: Option<Vec<Text>>,
    pub no_cache: Option<Vec<Text>>,
    pub min_uses: Option<u64>,
    pub convert_head: Option<bool>,
    /// `proxy_cache_revalidate`: an expired entry with validators is asked for again with
    /// them.
    pub revalidate: Option<bool>,
    /// `proxy_cache_max_range_offset`: a request whose range starts this far in (or from the
    /// end) is passed to the upstream as it is and its answer not kept.
    pub max_range_offset: Option<u64>,
    /// `proxy_cache_use_stale`: the failures a stale entry answers, and `updating`.
    pub use_stale: Option<(NextUpstream, bool)>,
    /// `proxy_cache_lock`: one request asks the upstream for a missing entry, the others
    /// wait for it.
    pub lock: Option<bool>,
    /// `proxy_cache_lock_timeout`: how long the others wait (5 s by default).
    pub lock_timeout: Option<Duration>,
    /// `proxy_cache_lock_age`: how long the first may take before another asks too (5 s).
    pub lock_age: Option<Duration>,
    /// `proxy_cache_background_update`: an expired entry answers at once (under
    /// `proxy_cache_use_stale updating`) while a background subrequest updates it.
    pub background_update: Option<bool>,
}

/// Reads `proxy_cache_path` or `fastcgi_cache_path` (`ngx_http_file_cache_set_slot`, the
/// zone `module`'s) into `zones`.
pub fn declare(cx: &mut Cx<'_>, d: &Directive, module: Module, zones: &mut Vec<CachePath>) {
    let Some(path) = d.arg(0) else {
        return cx.arity(d);
    };
    let mut zone = None;
    let mut levels = Vec::new();
    let mut inactive = Duration::from_secs(600);
    for w in d.args.iter().skip(1) {
        let v = w.value.as_str();
        if let Some(l) = v.strip_prefix("levels=") {
            match parse_levels(l) {
                Some(l) => levels = l,
                None => return cx.error(d, format!("invalid \"levels\" \"{v}\"")),
            }
        } else if let Some(on) = v.strip_prefix("use_temp_path=") {
            if on != "on" && on != "off" {
                let message =
                    format!("invalid use_temp_path value \"{v}\", it must be \"on\" or \"off\"");
                return cx.error(d, message);
            }
        } else if let Some(z) = v.strip_prefix("keys_zone=") {
            let Some((name, size)) = z.split_once(':') else {
                return cx.error(d, format!("invalid keys zone size \"{v}\""));
            };
            match parse_size(size) {
                None => return cx.error(d, format!("invalid keys zone size \"{v}\"")),
                Some(n) if n < 2 * 4096 => {
                    return cx.error(d, format!("keys zone \"{v}\" is too small"));
                }
                Some(_) => zone = Some(name.to_string()),
            }
        } else if let Some(t) = v.strip_prefix("inactive=") {
            match parse_sec(t) {
                Some(t) => inactive = t,
                None => return cx.error(d, format!("invalid inactive value \"{v}\"")),
            }
        } else if let Some(n) = v.strip_prefix("max_size=") {
            // Read, not enforced: ngxr has no cache manager (see README).
            if parse_offset(n).is_none() {
                return cx.error(d, format!("invalid max_size value \"{v}\""));
            }
        } else if let Some(n) = v.strip_prefix("min_free=") {
            if parse_offset(n).is_none() {
                return cx.error(d, format!("invalid min_free value \"{v}\""));
            }
        } else if let Some((name, n)) = v.split_once('=').filter(|(name, _)| {
            matches!(
                *name,
                "loader_files" | "manager_files" | "loader_sleep" | "manager_sleep"
            ) || name.ends_with("_threshold")
        }) {
            // The loader's and manager's pace: ngxr reads entries when asked for them.
            let ok = match name {
                "loader_files" | "manager_files" => n.parse::<u64>().is_ok_and(|n| n > 0),
                _ => parse_msec(n).is_some(),
            };
            if !ok {
                return cx.error(d, format!("invalid {name} value \"{v}\""));
            }
        } else {
            return cx.error(d, format!("invalid parameter \"{v}\""));
        }
    }
    let Some(name) = zone else {
        return cx.error(d, format!("\"{path}\" must have \"keys_zone\" parameter"));
    };
    cx.cache_zones.push(ZoneUse::new(cx, d, &name, module));
    if zones.iter().any(|z| z.name == name) {
        return cx.error(d, format!("duplicate zone \"{name}\""));
    }
    zones.push(CachePath {
        module,
        name,
        path: cx.prefixed(path),
        levels,
        inactive,
        span: d.span(),
    });
}

/// A cache zone named by a `*_cache_path` or a fixed `*_cache`, for [`check_uses`].
#[derive(Debug)]
pub struct ZoneUse {
    name: String,
    module: Module,
    /// The directive's reading position, its span and the span nginx's line is taken from.
    order: u64,
    span: Span,
    end: Span,
}

impl ZoneUse {
    fn new(cx: &Cx<'_>, d: &Directive, name: &str, module: Module) -> ZoneUse {
        ZoneUse {
            name: name.to_string(),
            module,
            order: cx.tree.order_of(d),
            span: d.span(),
            end: d.end,
        }
    }
}

/// `ngx_shared_memory_add` tags a zone with the module that names it first: each directive
/// that names, in reading order, a zone another module's named is refused.
pub fn check_uses(cx: &mut Cx<'_>) {
    let mut uses = std::mem::take(&mut cx.cache_zones);
    uses.sort_by_key(|u| u.order);
    for (i, u) in uses.iter().enumerate() {
        let first = uses[..i].iter().find(|o| o.name == u.name);
        if first.is_some_and(|o| o.module != u.module) {
            let message = format!(
                "the shared memory zone \"{}\" is already declared for a different use",
                u.name
            );
            let mut diag =
                crate::diag::Diagnostic::emerg("config::invalid", message, u.span, u.end);
            diag.order = u.order;
            cx.sink.push(diag);
        }
    }
}

/// Both sets of failures.
fn or(a: NextUpstream, b: NextUpstream) -> NextUpstream {
    NextUpstream {
        error: a.error || b.error,
        timeout: a.timeout || b.timeout,
        invalid_header: a.invalid_header || b.invalid_header,
        http_500: a.http_500 || b.http_500,
        http_502: a.http_502 || b.http_502,
        http_503: a.http_503 || b.http_503,
        http_504: a.http_504 || b.http_504,
        http_403: a.http_403 || b.http_403,
        http_404: a.http_404 || b.http_404,
        http_429: a.http_429 || b.http_429,
        off: a.off || b.off,
        ..NextUpstream::default()
    }
}

/// `levels=1:2`: up to three levels of 1 or 2 digits each.
fn parse_levels(text: &str) -> Option<Vec<usize>> {
    let levels: Vec<usize> = text
        .split(':')
        .map(|l| match l {
            "1" => Some(1),
            "2" => Some(2),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (levels.len() <= 3).then_some(levels)
}

impl Cache {
    /// The span of the `*_cache` naming this level's zone; `None` without one.
    pub fn zone_span(&self) -> Option<Span> {
        match self.zone.as_ref()?.as_ref()? {
            ZoneName::Fixed(_, span) => Some(*span),
            ZoneName::Variable(text) => Some(text.span),
        }
    }

    /// Fills what this level did not set from `parent`.
    pub fn inherit(&mut self, parent: &Cache) {
        macro_rules! take {
            ($($field:ident),*) => {
                $(if self.$field.is_none() { self.$field.clone_from(&parent.$field); })*
            };
        }
        take!(
            zone,
            key,
            valid,
            methods_post,
            bypass,
            no_cache,
            min_uses,
            convert_head,
            revalidate,
            max_range_offset,
            use_stale,
            lock,
            lock_timeout,
            lock_age,
            background_update
        );
    }

    /// Reads `d` if it is one of `module`'s cache directives; `false` otherwise.
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive, module: Module) -> bool {
        let Some(name) = d.name().strip_prefix(module.prefix()) else {
            return false;
        };
        match name {
            "cache" => {
                if self.zone.is_some() {
                    return {
                        cx.duplicate(d);
                        true
                    };
                }
                match d.args.first() {
                    Some(w) if w.value == "off" => self.zone = Some(None),
                    Some(w) if w.value.contains('$') => {
                        self.zone = cx.text(d, 0).map(|t| Some(ZoneName::Variable(t)));
                    }
                    Some(w) => {
                        cx.cache_zones.push(ZoneUse::new(cx, d, &w.value, module));
                        self.zone = Some(Some(ZoneName::Fixed(w.value.clone(), w.span)));
                    }
                    None => cx.arity(d),
                }
            }
            "cache_key" => {
                if self.key.is_some() {
                    cx.duplicate(d);
                } else {
                    self.key = cx.text(d, 0);
                }
            }
            "cache_valid" => {
                // The walk checked the codes and the time.
                let Some((time, codes)) = d.args.split_last() else {
                    return true;
                };
                let Some(time) = parse_sec(&time.value) else {
                    return true;
                };
                let any = codes.iter().any(|c| c.value == "any");
                let mut codes: Vec<u16> =
                    codes.iter().filter_map(|c| c.value.parse().ok()).collect();
                if codes.is_empty() && !any {
                    codes = vec![200, 301, 302];
                }
                let list = self.valid.get_or_insert_with(Vec::new);
                list.push(Valid { codes, any, time });
            }
            "cache_methods" => {
                let post = self.methods_post.get_or_insert(false);
                *post |= d.args.iter().any(|w| w.value.eq_ignore_ascii_case("post"));
            }
            "cache_bypass" | "no_cache" => {
                let list = if name == "cache_bypass" {
                    &mut self.bypass
                } else {
                    &mut self.no_cache
                };
                let values: Vec<Text> = (0..d.args.len()).filter_map(|i| cx.text(d, i)).collect();
                list.get_or_insert_with(Vec::new).extend(values);
            }
            "cache_min_uses" => set(cx, d, &mut self.min_uses, |s| s.parse().ok()),
            "cache_convert_head" => flag(cx, d, &mut self.convert_head),
            "cache_revalidate" => flag(cx, d, &mut self.revalidate),
            "cache_lock" => flag(cx, d, &mut self.lock),
            "cache_lock_timeout" => set(cx, d, &mut self.lock_timeout, parse_msec),
            "cache_lock_age" => set(cx, d, &mut self.lock_age, parse_msec),
            "cache_background_update" => flag(cx, d, &mut self.background_update),
            "cache_max_range_offset" => set(cx, d, &mut self.max_range_offset, parse_offset),
            // A level's directives together (nginx's bitmask).
            "cache_use_stale" => {
                if let Some(more) = super::proxy::next_upstream(cx, d) {
                    let updating = d.args.iter().any(|w| w.value == "updating");
                    let (rules, up) = self.use_stale.get_or_insert_with(Default::default);
                    *rules = or(*rules, more);
                    *up |= updating;
                }
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::parse_levels;

    #[test]
    fn levels_as_nginx_reads_them() {
        assert_eq!(parse_levels("1:2"), Some(vec![1, 2]));
        assert_eq!(parse_levels("2"), Some(vec![2]));
        assert_eq!(parse_levels("1:1:2"), Some(vec![1, 1, 2]));
        assert_eq!(parse_levels("3"), None);
        assert_eq!(parse_levels("1:2:2:1"), None);
        assert_eq!(parse_levels("1:"), None);
    }
}
