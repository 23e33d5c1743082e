//! The socket parameters of `listen` (`bind`, `backlog=`, `rcvbuf=`, `sndbuf=`,
//! `so_keepalive=`, `fastopen=`, `deferred`, `reuseport`, `ipv6only=`): what nginx's
//! `ngx_http_core_listen` reads into `lsopt` and marks with `lsopt.set`. They belong to the
//! socket, not to one server, so only one `listen` of an address may give them.

use crate::units;

/// The options a listening socket is opened and configured with (Linux values: C `int`s, as
/// nginx stores them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOptions {
    /// Whether the `listen` gave any of these (nginx's `lsopt.set`); such a `listen` also
    /// gets its own socket beside a wildcard of its port (`lsopt.bind`).
    pub set: bool,
    /// `backlog=`: `None` for nginx's default (511 on Linux).
    pub backlog: Option<i32>,
    /// `rcvbuf=`: SO_RCVBUF.
    pub rcvbuf: Option<i32>,
    /// `sndbuf=`: SO_SNDBUF.
    pub sndbuf: Option<i32>,
    /// `so_keepalive=`.
    pub so_keepalive: Option<SoKeepalive>,
    /// `fastopen=`: TCP_FASTOPEN's queue length.
    pub fastopen: Option<i32>,
    /// `deferred`: TCP_DEFER_ACCEPT.
    pub deferred: bool,
    pub reuseport: bool,
    /// `ipv6only=on` (nginx's default for `[::]` addresses).
    pub ipv6only: bool,
}

impl Default for SocketOptions {
    fn default() -> SocketOptions {
        SocketOptions {
            set: false,
            backlog: None,
            rcvbuf: None,
            sndbuf: None,
            so_keepalive: None,
            fastopen: None,
            deferred: false,
            reuseport: false,
            ipv6only: true,
        }
    }
}

/// `so_keepalive=on|off|[keepidle]:[keepintvl]:[keepcnt]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoKeepalive {
    Off,
    /// SO_KEEPALIVE on; each tunable is set only when not 0 (the system's value stays).
    On {
        /// TCP_KEEPIDLE, seconds.
        idle: i32,
        /// TCP_KEEPINTVL, seconds.
        interval: i32,
        /// TCP_KEEPCNT.
        count: i32,
    },
}

/// What a `listen` parameter was, when it is one of the socket options.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Read into the options.
    Taken,
    /// Not a socket option (`ssl`, `default_server`, ... or unknown).
    Other,
    /// nginx's message for the bad value (`invalid backlog "backlog=0"`).
    Invalid(String),
    /// What nginx says, at `[emerg]`, of a parameter Linux lacks before it goes on without it.
    Ignored(String),
}

impl SocketOptions {
    /// Reads `param` into `self` as `ngx_http_core_listen` does on Linux.
    pub fn parse(&mut self, param: &str) -> Parsed {
        let invalid = |what: &str| Parsed::Invalid(format!("invalid {what} \"{param}\""));
        if param == "bind" {
            self.set = true;
            return Parsed::Taken;
        }
        if let Some(n) = param.strip_prefix("fastopen=") {
            match c_int(units::atoi(n)) {
                Some(n) => self.fastopen = Some(n),
                None => return invalid("fastopen"),
            }
        } else if let Some(n) = param.strip_prefix("backlog=") {
            match c_int(units::atoi(n)).filter(|n| *n != 0) {
                Some(n) => self.backlog = Some(n),
                None => return invalid("backlog"),
            }
        } else if let Some(size) = param.strip_prefix("rcvbuf=") {
            match c_int(units::parse_size(size)) {
                Some(n) => self.rcvbuf = Some(n),
                None => return invalid("rcvbuf"),
            }
        } else if let Some(size) = param.strip_prefix("sndbuf=") {
            match c_int(units::parse_size(size)) {
                Some(n) => self.sndbuf = Some(n),
                None => return invalid("sndbuf"),
            }
        } else if param.starts_with("accept_filter=") {
            return Parsed::Ignored(format!(
                "accept filters \"{param}\" are not supported on this platform, ignored"
            ));
        } else if param == "deferred" {
            self.deferred = true;
        } else if let Some(flag) = param.strip_prefix("ipv6only=o") {
            self.ipv6only = match flag {
                "n" => true,
                "ff" => false,
                _ => {
                    let written = &param["ipv6only=".len()..];
                    return Parsed::Invalid(format!("invalid ipv6only flags \"{written}\""));
                }
            };
        } else if param == "reuseport" {
            self.reuseport = true;
        } else if let Some(value) = param.strip_prefix("so_keepalive=") {
            match so_keepalive(value) {
                Some(k) => self.so_keepalive = Some(k),
                None => {
                    return Parsed::Invalid(format!("invalid so_keepalive value: \"{value}\""));
                }
            }
        } else {
            return Parsed::Other;
        }
        self.set = true;
        Parsed::Taken
    }
}

/// A number stored into a C `int` and refused when it is then `NGX_ERROR` (-1): nginx parses
/// into a wider type and truncates, so `4294967295` fails as `-1` does.
fn c_int(n: Option<i64>) -> Option<i32> {
    n.map(|n| n as i32).filter(|n| *n != -1)
}

/// `on`, `off`, or `idle:interval:count`, each part optional (times in seconds with nginx's
/// units, the count a plain number), but not all of them 0.
fn so_keepalive(value: &str) -> Option<SoKeepalive> {
    match value {
        "on" => {
            return Some(SoKeepalive::On {
                idle: 0,
                interval: 0,
                count: 0,
            });
        }
        "off" => return Some(SoKeepalive::Off),
        _ => {}
    }
    let (idle, rest) = value.split_once(':').unwrap_or((value, ""));
    let (interval, count) = rest.split_once(':').unwrap_or((rest, ""));
    let time = |s: &str| match s {
        "" => Some(0),
        _ => units::parse_time(s, true).map(|t| t as i32),
    };
    let idle = time(idle)?;
    let interval = time(interval)?;
    let count = match count {
        "" => 0,
        _ => c_int(units::atoi(count))?,
    };
    if idle == 0 && interval == 0 && count == 0 {
        return None;
    }
    Some(SoKeepalive::On {
        idle,
        interval,
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(params: &[&str]) -> Result<SocketOptions, String> {
        let mut o = SocketOptions::default();
        for p in params {
            match o.parse(p) {
                Parsed::Taken => {}
                Parsed::Other => return Err(format!("other {p}")),
                Parsed::Invalid(m) | Parsed::Ignored(m) => return Err(m),
            }
        }
        Ok(o)
    }

    #[test]
    fn values_nginx_takes() {
        let o = parsed(&[
            "backlog=128",
            "rcvbuf=64k",
            "sndbuf=1m",
            "fastopen=0",
            "deferred",
            "reuseport",
            "ipv6only=off",
        ])
        .unwrap();
        assert!(o.set);
        assert_eq!(o.backlog, Some(128));
        assert_eq!(o.rcvbuf, Some(65536));
        assert_eq!(o.sndbuf, Some(1 << 20));
        assert_eq!(o.fastopen, Some(0));
        assert!(o.deferred && o.reuseport && !o.ipv6only);
        assert!(parsed(&["bind"]).unwrap().set);
        assert!(!SocketOptions::default().set);
        assert_eq!(
            SocketOptions::default().parse("ssl"),
            Parsed::Other,
            "not a socket option"
        );
    }

    #[test]
    fn messages_name_the_parameter_as_nginx_does() {
        let err = |p: &str| parsed(&[p]).unwrap_err();
        assert_eq!(err("backlog=0"), "invalid backlog \"backlog=0\"");
        assert_eq!(err("backlog=-1"), "invalid backlog \"backlog=-1\"");
        assert_eq!(
            err("backlog=4294967295"),
            "invalid backlog \"backlog=4294967295\""
        );
        assert_eq!(err("fastopen="), "invalid fastopen \"fastopen=\"");
        assert_eq!(err("rcvbuf=1g"), "invalid rcvbuf \"rcvbuf=1g\"");
        assert_eq!(err("sndbuf=x"), "invalid sndbuf \"sndbuf=x\"");
        assert_eq!(err("ipv6only=ox"), "invalid ipv6only flags \"ox\"");
        assert_eq!(err("so_keepalive=x"), "invalid so_keepalive value: \"x\"");
        assert_eq!(err("so_keepalive=::"), "invalid so_keepalive value: \"::\"");
        assert_eq!(err("so_keepalive="), "invalid so_keepalive value: \"\"");
        assert_eq!(
            err("so_keepalive=1:2:3:4"),
            "invalid so_keepalive value: \"1:2:3:4\""
        );
        assert_eq!(
            err("so_keepalive=1ms"),
            "invalid so_keepalive value: \"1ms\""
        );
        assert_eq!(
            err("accept_filter=httpready"),
            "accept filters \"accept_filter=httpready\" are not supported on this platform, \
             ignored"
        );
        assert_eq!(
            SocketOptions::default().parse("setfib=1"),
            Parsed::Other,
            "FreeBSD's"
        );
        // `ipv6only=x` is not an ipv6only parameter at all to nginx.
        assert_eq!(SocketOptions::default().parse("ipv6only=x"), Parsed::Other);
    }

    #[test]
    fn keepalive_tunables() {
        let k = |v: &str| so_keepalive(v);
        assert_eq!(k("off"), Some(SoKeepalive::Off));
        let on = |idle, interval, count| {
            Some(SoKeepalive::On {
                idle,
                interval,
                count,
            })
        };
        assert_eq!(k("on"), on(0, 0, 0));
        assert_eq!(k("30m::10"), on(1800, 0, 10));
        assert_eq!(k(":5:"), on(0, 5, 0));
        assert_eq!(k("1h"), on(3600, 0, 0));
        assert_eq!(k("0:0:0"), None);
    }
}
