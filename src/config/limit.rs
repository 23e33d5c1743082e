//! The limit_req and limit_conn modules' directives: the zones `limit_req_zone` and
//! `limit_conn_zone` declare at the `http` level (a key, a size, a rate), and the limits each
//! level applies (`limit_req zone=NAME burst=N nodelay|delay=N`, `limit_conn NAME N`) with
//! their status, log level and dry-run switch. A level with any `limit_req` (or `limit_conn`)
//! inherits none of the enclosing level's (`ngx_http_limit_req_merge_conf`).

use super::settings::{flag, set};
use super::{Cx, Text};
use crate::source::Span;
use crate::syntax::Directive;

/// The smallest zone nginx accepts: eight pages of 4 KiB.
const ZONE_MIN: i64 = 8 * 4096;

/// `limit_req_log_level` / `limit_conn_log_level`, most severe last as nginx numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Notice,
    Info,
}

impl LogLevel {
    fn parse(s: &str) -> Option<LogLevel> {
        Some(match s {
            "info" => LogLevel::Info,
            "notice" => LogLevel::Notice,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => return None,
        })
    }

    /// The level a delayed request is logged at: one less severe, `info` staying `info`.
    pub fn delay_level(self) -> LogLevel {
        match self {
            LogLevel::Error => LogLevel::Warn,
            LogLevel::Warn => LogLevel::Notice,
            LogLevel::Notice | LogLevel::Info => LogLevel::Info,
        }
    }
}

/// What a zone counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneKind {
    /// `limit_req_zone ... rate=`: the rate in thousandths of a request per second.
    Req {
        rate: u64,
    },
    Conn,
}

impl ZoneKind {
    fn module(self) -> &'static str {
        match self {
            ZoneKind::Req { .. } => "limit_req",
            ZoneKind::Conn => "limit_conn",
        }
    }
}

/// A shared memory zone of the limit modules: declared by its `*_zone` directive (which gives
/// the key and size) or only named so far by a `limit_req`/`limit_conn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub kind: ZoneKind,
    /// `None` until the zone's `*_zone` directive is read.
    pub key: Option<Text>,
    /// Bytes; 0 until a directive gives a size.
    pub size: u64,
    /// Where it was first named.
    pub span: Span,
}

/// Every limit zone named so far, in reading order (nginx's `ngx_shared_memory_add`: one
/// name, one use, one size).
#[derive(Debug, Default)]
pub struct Zones {
    pub zones: Vec<Zone>,
}

impl Zones {
    /// `ngx_shared_memory_add(name, size, tag)`: the zone's index, or `None` after an error.
    fn add(
        &mut self,
        cx: &mut Cx<'_>,
        d: &Directive,
        name: &str,
        size: u64,
        kind: ZoneKind,
    ) -> Option<usize> {
        let Some(i) = self.zones.iter().position(|z| z.name == name) else {
            self.zones.push(Zone {
                name: name.to_string(),
                kind,
                key: None,
                size,
                span: d.span(),
            });
            return Some(self.zones.len() - 1);
        };
        let zone = &mut self.zones[i];
        if zone.kind.module() != kind.module() {
            cx.error(
                d,
                format!(
                    "the shared memory zone \"{name}\" is already declared for a different use"
                ),
            );
            return None;
        }
        if zone.size == 0 {
            zone.size = size;
        }
        if size != 0 && size != zone.size {
            let known = zone.size;
            cx.error(
                d,
                format!(
                    "the size {size} of shared memory zone \"{name}\" conflicts with already \
                     declared size {known}"
                ),
            );
            return None;
        }
        Some(i)
    }

    /// nginx refuses a zone no `*_zone` directive gave a size, once the whole file is read.
    pub fn check_sizes(&self, cx: &mut Cx<'_>) {
        for z in self.zones.iter().filter(|z| z.size == 0) {
            cx.late_error(
                "limit::zone",
                format!("zero size shared memory zone \"{}\"", z.name),
                z.span,
            );
        }
    }

    /// `limit_req_zone KEY zone=NAME:SIZE rate=Nr/s|Nr/m` and `limit_conn_zone KEY
    /// zone=NAME:SIZE`.
    pub fn declare(&mut self, cx: &mut Cx<'_>, d: &Directive) {
        let req = d.name() == "limit_req_zone";
        let Some(key) = cx.text(d, 0) else { return };
        let mut zone: Option<(String, u64)> = None;
        let mut rate: u64 = 1;
        let mut scale: u64 = 1;
        for arg in d.args.iter().skip(1) {
            let a = arg.value.as_str();
            if let Some(spec) = a.strip_prefix("zone=") {
                let Some((name, size)) = spec.split_once(':') else {
                    return cx.error(d, format!("invalid zone size \"{a}\""));
                };
                match crate::units::parse_size(size) {
                    None => return cx.error(d, format!("invalid zone size \"{a}\"")),
                    Some(n) if n < ZONE_MIN => {
                        return cx.error(d, format!("zone \"{a}\" is too small"));
                    }
                    Some(n) => zone = Some((name.to_string(), n.unsigned_abs())),
                }
            } else if req && let Some(r) = a.strip_prefix("rate=") {
                let digits = if let Some(n) = r.strip_suffix("r/s") {
                    scale = 1;
                    n
                } else if let Some(n) = r.strip_suffix("r/m") {
                    scale = 60;
                    n
                } else {
                    r
                };
                match atoi(digits) {
                    Some(n) if n > 0 => rate = n,
                    _ => return cx.error(d, format!("invalid rate \"{a}\"")),
                }
            } else {
                return cx.error(d, format!("invalid parameter \"{a}\""));
            }
        }
        let Some((name, size)) = zone else {
            return cx.error(d, format!("\"{}\" must have \"zone\" parameter", d.name()));
        };
        let kind = if req {
            ZoneKind::Req {
                rate: rate.saturating_mul(1000) / scale,
            }
        } else {
            ZoneKind::Conn
        };
        let Some(i) = self.add(cx, d, &name, size, kind) else {
            return;
        };
        let z = &mut self.zones[i];
        if let Some(bound) = &z.key {
            let message = format!(
                "{} \"{name}\" is already bound to key \"{}\"",
                d.name(),
                bound.value
            );
            return cx.error(d, message);
        }
        z.kind = kind;
        z.key = Some(key);
        z.span = d.span();
    }
}

/// nginx's `ngx_atoi`: digits only; `None` for anything else or an overflow.
fn atoi(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// One `limit_req`: the zone, and `burst`/`delay` in thousandths of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitReq {
    pub zone: String,
    pub burst: u64,
    pub delay: u64,
}

/// One `limit_conn NAME N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitConn {
    pub zone: String,
    pub conn: u32,
}

/// A level's settings of the two modules; `None`: not set here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub req: Option<Vec<LimitReq>>,
    pub req_log_level: Option<LogLevel>,
    pub req_status: Option<u16>,
    pub req_dry_run: Option<bool>,
    pub conn: Option<Vec<LimitConn>>,
    pub conn_log_level: Option<LogLevel>,
    pub conn_status: Option<u16>,
    pub conn_dry_run: Option<bool>,
}

impl Limits {
    /// Reads `d` if it is one of the modules' level directives.
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive, zones: &mut Zones) -> bool {
        match d.name() {
            "limit_req" => self.limit_req(cx, d, zones),
            "limit_conn" => self.limit_conn(cx, d, zones),
            "limit_req_log_level" => set(cx, d, &mut self.req_log_level, LogLevel::parse),
            "limit_conn_log_level" => set(cx, d, &mut self.conn_log_level, LogLevel::parse),
            "limit_req_status" => status(cx, d, &mut self.req_status),
            "limit_conn_status" => status(cx, d, &mut self.conn_status),
            "limit_req_dry_run" => flag(cx, d, &mut self.req_dry_run),
            "limit_conn_dry_run" => flag(cx, d, &mut self.conn_dry_run),
            _ => return false,
        }
        true
    }

    pub fn inherit(&mut self, parent: &Limits) {
        super::settings::inherit_opt(&mut self.req, &parent.req);
        super::settings::inherit_opt(&mut self.req_log_level, &parent.req_log_level);
        super::settings::inherit_opt(&mut self.req_status, &parent.req_status);
        super::settings::inherit_opt(&mut self.req_dry_run, &parent.req_dry_run);
        super::settings::inherit_opt(&mut self.conn, &parent.conn);
        super::settings::inherit_opt(&mut self.conn_log_level, &parent.conn_log_level);
        super::settings::inherit_opt(&mut self.conn_status, &parent.conn_status);
        super::settings::inherit_opt(&mut self.conn_dry_run, &parent.conn_dry_run);
    }

    /// `limit_req zone=NAME [burst=N] [nodelay | delay=N]`.
    fn limit_req(&mut self, cx: &mut Cx<'_>, d: &Directive, zones: &mut Zones) {
        let mut zone = None;
        let (mut burst, mut delay) = (0u64, 0u64);
        for arg in &d.args {
            let a = arg.value.as_str();
            if let Some(name) = a.strip_prefix("zone=") {
                let Some(_) = zones.add(cx, d, name, 0, ZoneKind::Req { rate: 1 }) else {
                    return;
                };
                zone = Some(name.to_string());
            } else if let Some(n) = a.strip_prefix("burst=") {
                match atoi(n) {
                    Some(n) if n > 0 => burst = n,
                    _ => return cx.error(d, format!("invalid burst value \"{a}\"")),
                }
            } else if let Some(n) = a.strip_prefix("delay=") {
                match atoi(n) {
                    Some(n) if n > 0 => delay = n,
                    _ => return cx.error(d, format!("invalid delay value \"{a}\"")),
                }
            } else if a == "nodelay" {
                // NGX_MAX_INT_T_VALUE / 1000.
                delay = i64::MAX as u64 / 1000;
            } else {
                return cx.error(d, format!("invalid parameter \"{a}\""));
            }
        }
        let Some(zone) = zone else {
            return cx.error(d, "\"limit_req\" must have \"zone\" parameter");
        };
        let list = self.req.get_or_insert_with(Vec::new);
        if list.iter().any(|l| l.zone == zone) {
            return cx.duplicate(d);
        }
        list.push(LimitReq {
            zone,
            burst: burst.saturating_mul(1000),
            delay: delay.saturating_mul(1000),
        });
    }

    /// `limit_conn NAME N`.
    fn limit_conn(&mut self, cx: &mut Cx<'_>, d: &Directive, zones: &mut Zones) {
        let (Some(name), Some(n)) = (d.arg(0), d.arg(1)) else {
            return cx.arity(d);
        };
        if zones.add(cx, d, name, 0, ZoneKind::Conn).is_none() {
            return;
        }
        let list = self.conn.get_or_insert_with(Vec::new);
        if list.iter().any(|l| l.zone == name) {
            return cx.duplicate(d);
        }
        let conn = match atoi(n) {
            Some(n) if n > 0 => n,
            _ => return cx.error(d, format!("invalid number of connections \"{n}\"")),
        };
        if conn > 65535 {
            return cx.error(d, "connection limit must be less 65536");
        }
        list.push(LimitConn {
            zone: name.to_string(),
            conn: conn as u32,
        });
    }
}

/// `limit_req_status` / `limit_conn_status`: a number from 400 to 599.
fn status(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<u16>) {
    if slot.is_some() {
        return cx.duplicate(d);
    }
    match d.arg(0).map(atoi) {
        Some(Some(n)) if (400..=599).contains(&n) => *slot = Some(n as u16),
        Some(Some(_)) => cx.error(d, "value must be between 400 and 599"),
        Some(None) => cx.invalid_value(d),
        None => cx.arity(d),
    }
}
