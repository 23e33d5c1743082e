//! The preaccess phase's limits, in nginx's order: `limit_req` (`ngx_http_limit_req_handler`),
//! then `limit_conn` (`ngx_http_limit_conn_handler`), after realip and before the access
//! phase. Zones are built once at load ([`Zones::compile`]) and shared by every worker thread;
//! each level keeps the limits it applies ([`CLimits`]).
//!
//! A request delayed by `limit_req` stops here: the route carries the delay, the runtime
//! waits it out without blocking its thread and routes the request again, which then passes
//! `limit_req` (its status is set, as `r->main->limit_req_status` makes nginx's handler
//! decline) and goes on to `limit_conn` and the access phase, as nginx resumes its phases.

mod conn;
mod req;
mod slab;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::plan::{ConnStatus, ErrorLine, Limited, ReqStatus, Severity};
use super::request::Req;
use super::route::{Next, respond};
use super::static_::Served;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::limit::{Limits, LogLevel, Zone, ZoneKind};
pub use conn::ConnHolds;
use conn::{Acquired, ConnZone};
use req::{Lookup, ReqZone};

/// A `limit_req_zone` with its key.
#[derive(Debug)]
pub struct KeyedReq {
    zone: ReqZone,
    key: Complex,
    /// The key as written, for nginx's messages.
    key_text: String,
}

/// A `limit_conn_zone` with its key.
#[derive(Debug)]
pub struct KeyedConn {
    zone: Arc<ConnZone>,
    key: Complex,
    key_text: String,
}

/// Every zone of the configuration, by name.
#[derive(Debug, Default)]
pub struct Zones {
    req: Vec<Arc<KeyedReq>>,
    conn: Vec<Arc<KeyedConn>>,
}

impl Zones {
    /// Builds the zones `limit_req_zone` and `limit_conn_zone` declared (those only named by
    /// a `limit_req`/`limit_conn` were refused when lowering).
    pub fn compile(cx: &mut Cx<'_>, reg: &Registry, zones: &[Zone]) -> Zones {
        let mut out = Zones::default();
        for z in zones.iter().filter(|z| z.size != 0) {
            let Some(text) = &z.key else { continue };
            let Some(key) = Complex::compile(cx, reg, text) else {
                continue;
            };
            let key_text = text.value.clone();
            match z.kind {
                ZoneKind::Req { rate } => out.req.push(Arc::new(KeyedReq {
                    zone: ReqZone::new(z.name.clone(), rate, z.size),
                    key,
                    key_text,
                })),
                ZoneKind::Conn => out.conn.push(Arc::new(KeyedConn {
                    zone: Arc::new(ConnZone::new(z.name.clone(), z.size)),
                    key,
                    key_text,
                })),
            }
        }
        out
    }
}

#[derive(Debug)]
struct ReqLimit {
    zone: Arc<KeyedReq>,
    /// Thousandths of a request.
    burst: u64,
    delay: u64,
}

#[derive(Debug)]
struct ConnLimit {
    zone: Arc<KeyedConn>,
    conn: u32,
}

/// A level's limits, merged.
#[derive(Debug)]
pub struct CLimits {
    req: Vec<ReqLimit>,
    req_log_level: LogLevel,
    req_status: u16,
    req_dry_run: bool,
    conn: Vec<ConnLimit>,
    conn_log_level: LogLevel,
    conn_status: u16,
    conn_dry_run: bool,
}

impl Default for CLimits {
    fn default() -> CLimits {
        CLimits::compile(&Zones::default(), &Limits::default())
    }
}

impl CLimits {
    pub fn compile(zones: &Zones, l: &Limits) -> CLimits {
        let req = l.req.iter().flatten().filter_map(|r| {
            let zone = zones.req.iter().find(|z| z.zone.name == r.zone)?;
            Some(ReqLimit {
                zone: zone.clone(),
                burst: r.burst,
                delay: r.delay,
            })
        });
        let conn = l.conn.iter().flatten().filter_map(|c| {
            let zone = zones.conn.iter().find(|z| z.zone.name == c.zone)?;
            Some(ConnLimit {
                zone: zone.clone(),
                conn: c.conn,
            })
        });
        CLimits {
            req: req.collect(),
            req_log_level: l.req_log_level.unwrap_or(LogLevel::Error),
            req_status: l.req_status.unwrap_or(503),
            req_dry_run: l.req_dry_run.unwrap_or(false),
            conn: conn.collect(),
            conn_log_level: l.conn_log_level.unwrap_or(LogLevel::Error),
            conn_status: l.conn_status.unwrap_or(503),
            conn_dry_run: l.conn_dry_run.unwrap_or(false),
        }
    }
}

/// nginx's `ngx_current_msec`: monotonic milliseconds, far from zero (a new state that is
/// only held starts from `last = 0` and must look long drained).
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    (1 << 40) + start.elapsed().as_millis() as u64
}

fn severity(level: LogLevel) -> Severity {
    match level {
        LogLevel::Error => Severity::Error,
        LogLevel::Warn => Severity::Warn,
        LogLevel::Notice => Severity::Notice,
        LogLevel::Info => Severity::Info,
    }
}

/// `X.YYY` of an excess in thousandths.
fn excess(e: u64) -> String {
    format!("{}.{:03}", e / 1000, e % 1000)
}

/// The preaccess phase's limits for the level `l`: `Some` when the request goes no further
/// now (refused, or delayed).
pub fn preaccess(l: &CLimits, req: &mut Req<'_>, served: &mut Served) -> Option<Next> {
    limit_req(l, req, served, now_ms()).or_else(|| limit_conn(l, req, served))
}

/// What the lookups of a level's `limit_req`s came to (`rc` in nginx's handler).
enum Rc {
    Declined,
    Again,
    Done(Lookup),
}

fn limit_req(l: &CLimits, req: &mut Req<'_>, served: &mut Served, now: u64) -> Option<Next> {
    if l.req.is_empty() || req.limited.status.req.or(req.info.limits.req).is_some() {
        return None;
    }
    let mut held: Vec<Option<Vec<u8>>> = Vec::new();
    let mut rc = Rc::Declined;
    // The limit the loop stopped at (nginx's `n` and `limit`).
    let mut n = l.req.len();
    for (i, limit) in l.req.iter().enumerate() {
        let key = limit.zone.key.eval(req);
        held.push(None);
        if key.is_empty() {
            continue;
        }
        if key.len() > 65535 {
            served.errors.push(ErrorLine::error(format!(
                "the value of the \"{}\" key is more than 65535 bytes: \"{}\"",
                limit.zone.key_text,
                String::from_utf8_lossy(&key)
            )));
            continue;
        }
        let last = i + 1 == l.req.len();
        match limit.zone.zone.lookup(&key, now, limit.burst, last) {
            Lookup::Again => {
                held[i] = Some(key);
                rc = Rc::Again;
            }
            done => {
                rc = Rc::Done(done);
                n = i;
                break;
            }
        }
    }
    let unlock = |held: &[Option<Vec<u8>>]| {
        for (limit, key) in l.req.iter().zip(held) {
            if let Some(key) = key {
                limit.zone.zone.unlock(key);
            }
        }
    };
    let found = match rc {
        Rc::Declined => return None,
        Rc::Again => 0,
        Rc::Done(Lookup::Ok(e)) => e,
        Rc::Done(Lookup::Again) => 0,
        Rc::Done(refused @ (Lookup::Busy(_) | Lookup::Full)) => {
            let zone = &l.req[n].zone.zone;
            match refused {
                Lookup::Busy(e) => served.errors.push(ErrorLine::at(
                    severity(l.req_log_level),
                    format!(
                        "limiting requests{}, excess: {} by zone \"{}\"",
                        if l.req_dry_run { ", dry run" } else { "" },
                        excess(e),
                        zone.name
                    ),
                )),
                _ => served.errors.push(ErrorLine::cycle(
                    Severity::Alert,
                    format!(
                        "could not allocate node in limit_req zone \"{}\"",
                        zone.name
                    ),
                )),
            }
            unlock(&held[..n]);
            if l.req_dry_run {
                req.limited.status.req = Some(ReqStatus::RejectedDryRun);
                return None;
            }
            req.limited.status.req = Some(ReqStatus::Rejected);
            return Some(Next::Special(l.req_status, Vec::new()));
        }
    };
    // `ngx_http_limit_req_account`: the longest delay any of the limits asks for.
    let mut which = n.min(l.req.len() - 1);
    let mut worst = found;
    let delay_of = |limit: &ReqLimit, e: u64| {
        e.checked_sub(limit.delay)
            .filter(|&over| over > 0)
            .map_or(0, |over| over.saturating_mul(1000) / limit.zone.zone.rate)
    };
    let mut max_delay = delay_of(&l.req[which], found);
    for i in (0..n.min(l.req.len())).rev() {
        let Some(key) = &held[i] else { continue };
        let limit = &l.req[i];
        let e = limit.zone.zone.account(key, now);
        let d = delay_of(limit, e);
        if d > max_delay {
            max_delay = d;
            worst = e;
            which = i;
        }
    }
    if max_delay == 0 {
        req.limited.status.req = Some(ReqStatus::Passed);
        return None;
    }
    served.errors.push(ErrorLine::at(
        severity(l.req_log_level.delay_level()),
        format!(
            "delaying request{}, excess: {}, by zone \"{}\"",
            if l.req_dry_run { ", dry run" } else { "" },
            excess(worst),
            l.req[which].zone.zone.name
        ),
    ));
    if l.req_dry_run {
        req.limited.status.req = Some(ReqStatus::DelayedDryRun);
        return None;
    }
    req.limited.status.req = Some(ReqStatus::Delayed);
    req.limited.delay = Some(Duration::from_millis(max_delay));
    // Not an answer: the runtime waits, then routes the request again.
    Some(Next::answer(respond(200, Arc::default(), Vec::new(), None)))
}

fn limit_conn(l: &CLimits, req: &mut Req<'_>, served: &mut Served) -> Option<Next> {
    if l.conn.is_empty() || req.limited.status.conn.or(req.info.limits.conn).is_some() {
        return None;
    }
    let mut holds = Vec::new();
    for limit in &l.conn {
        let key = limit.zone.key.eval(req);
        if key.is_empty() {
            continue;
        }
        if key.len() > 255 {
            served.errors.push(ErrorLine::error(format!(
                "the value of the \"{}\" key is more than 255 bytes: \"{}\"",
                limit.zone.key_text,
                String::from_utf8_lossy(&key)
            )));
            continue;
        }
        req.limited.status.conn = Some(ConnStatus::Passed);
        let zone = &limit.zone.zone;
        match zone.acquire(&key, limit.conn) {
            Acquired::Held(hold) => {
                holds.push(hold);
                continue;
            }
            Acquired::Limited => served.errors.push(ErrorLine::at(
                severity(l.conn_log_level),
                format!(
                    "limiting connections{} by zone \"{}\"",
                    if l.conn_dry_run { ", dry run," } else { "" },
                    zone.name
                ),
            )),
            Acquired::Full => served.errors.push(ErrorLine::cycle(
                Severity::Crit,
                format!(
                    "ngx_slab_alloc() failed: no memory in limit_conn_zone \"{}\"",
                    zone.name
                ),
            )),
        }
        // `ngx_http_limit_conn_cleanup_all`: the counts taken so far are given back.
        drop(holds);
        if l.conn_dry_run {
            req.limited.status.conn = Some(ConnStatus::RejectedDryRun);
            return None;
        }
        req.limited.status.conn = Some(ConnStatus::Rejected);
        return Some(Next::Special(l.conn_status, Vec::new()));
    }
    if !holds.is_empty() {
        req.limited.holds = Some(Arc::new(ConnHolds::new(holds)));
    }
    None
}

/// What a request's limits came to, for the route.
pub fn take(req: &mut Req<'_>) -> Limited {
    std::mem::take(&mut req.limited)
}
