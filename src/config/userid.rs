//! The userid filter's settings (`ngx_http_userid_conf_t`), each inherited alone: the
//! cookie's name, `; domain=...`, `; path=...` (`/` by default) and flags as nginx writes
//! them, `userid_expires` in seconds, `userid_mark` (0 for `off`).

use super::Cx;
use super::settings::{inherit_opt, set};
use super::units::parse_sec;
use crate::syntax::Directive;

/// `userid_expires max`: nginx's fixed date, 31 Dec 2037.
pub const MAX_EXPIRES: i64 = 2_145_916_555;

/// `userid`: `off`, `log` (read the cookie only), `v1` or `on` (set one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Enable {
    Off,
    Log,
    V1,
    On,
}

/// `userid_flags`' bits, as nginx numbers them (`samesite=*` also set the samesite bit,
/// so a second one is a duplicate).
pub const FLAGS: [(&str, u32); 6] = [
    ("off", 0x02),
    ("secure", 0x04),
    ("httponly", 0x08),
    ("samesite=strict", 0x10 | 0x20),
    ("samesite=lax", 0x10 | 0x40),
    ("samesite=none", 0x10 | 0x80),
];

/// One level's userid settings; `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Userid {
    pub enable: Option<Enable>,
    pub service: Option<i64>,
    pub name: Option<String>,
    /// `; domain=NAME`, or empty for `none`.
    pub domain: Option<String>,
    /// `; path=PATH`.
    pub path: Option<String>,
    /// Empty for `none`.
    pub p3p: Option<String>,
    pub expires: Option<i64>,
    pub flags: Option<u32>,
    /// 0 for `off`.
    pub mark: Option<u8>,
}

impl Userid {
    /// Reads `d` if it is one of the settings here; `false` otherwise.
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive) -> bool {
        let text = |v: &str| Some(v.to_string());
        match d.name() {
            "userid" => set(cx, d, &mut self.enable, |v| {
                let all = [Enable::Off, Enable::Log, Enable::V1, Enable::On];
                let names = ["off", "log", "v1", "on"];
                names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(v))
                    .map(|i| all[i])
            }),
            "userid_service" => set(cx, d, &mut self.service, |v| v.parse().ok()),
            "userid_name" => set(cx, d, &mut self.name, text),
            "userid_domain" => set(cx, d, &mut self.domain, |v| {
                Some(if v == "none" {
                    String::new()
                } else {
                    format!("; domain={v}")
                })
            }),
            "userid_path" => set(cx, d, &mut self.path, |v| Some(format!("; path={v}"))),
            "userid_p3p" => set(cx, d, &mut self.p3p, |v| {
                Some(if v == "none" {
                    String::new()
                } else {
                    v.to_string()
                })
            }),
            "userid_expires" => set(cx, d, &mut self.expires, |v| match v {
                "max" => Some(MAX_EXPIRES),
                "off" => Some(0),
                _ => parse_sec(v).and_then(|t| i64::try_from(t.as_secs()).ok()),
            }),
            "userid_flags" => {
                let flags = self.flags.get_or_insert(0);
                for w in &d.args {
                    let bits = FLAGS
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(&w.value))
                        .map_or(0, |(_, b)| *b);
                    if *flags & bits != 0 {
                        cx.warn(d, format!("duplicate value \"{}\"", w.value));
                    } else {
                        *flags |= bits;
                    }
                }
            }
            "userid_mark" => {
                if self.mark.is_some() {
                    cx.duplicate(d);
                    return true;
                }
                match d.arg(0).map(str::as_bytes) {
                    Some(b"off") => self.mark = Some(0),
                    Some(&[c]) if c.is_ascii_alphanumeric() || c == b'=' => self.mark = Some(c),
                    _ => cx.error(
                        d,
                        "\"userid_mark\" directive value must be \"off\" or a single letter, \
                         digit or \"=\"",
                    ),
                }
            }
            _ => return false,
        }
        true
    }

    /// Fills what this level did not set from `parent`.
    pub fn inherit(&mut self, parent: &Userid) {
        self.enable = self.enable.or(parent.enable);
        self.service = self.service.or(parent.service);
        inherit_opt(&mut self.name, &parent.name);
        inherit_opt(&mut self.domain, &parent.domain);
        inherit_opt(&mut self.path, &parent.path);
        inherit_opt(&mut self.p3p, &parent.p3p);
        self.expires = self.expires.or(parent.expires);
        if self.flags.is_none_or(|f| f == 0) {
            self.flags = parent.flags;
        }
        self.mark = self.mark.or(parent.mark);
    }
}
