//! `syslog:` as an `access_log` or `error_log` target (`ngx_syslog_process_conf`):
//! comma-separated `server=` (required; `host[:port]`, port 514 by default, resolved at load,
//! or `unix:PATH`), `facility=` (`local7`), `severity=` (`info`), `tag=` (`nginx`) and
//! `nohostname`, each checked with nginx's words.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Where and how a log's lines go to syslog.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Syslog {
    pub server: SyslogServer,
    /// RFC 3164's facility number (`local7` is 23).
    pub facility: u8,
    /// RFC 3164's severity number, for access-log lines (an error-log line has its level's).
    pub severity: u8,
    pub tag: String,
    /// The message header names this host (`nohostname` leaves it out).
    pub hostname: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SyslogServer {
    Udp(SocketAddr),
    /// A unix-domain datagram socket.
    Unix(PathBuf),
}

/// The facility names by number (`ngx_syslog.c`).
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "intern", "lpr", "news", "uucp", "clock", "authpriv",
    "ftp", "ntp", "audit", "alert", "cron", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// The severity names by number, as in nginx.conf (`error`, `warn`, not `err`, `warning`).
pub const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
];

/// Reads the target `value` (starting `syslog:`); the error is nginx's message.
pub fn parse(value: &str) -> Result<Syslog, String> {
    let params = value.strip_prefix("syslog:").unwrap_or(value);
    let (mut server, mut facility, mut severity, mut tag) = (None, None, None, None);
    let mut hostname = true;
    let duplicate = |what: &str| format!("duplicate syslog \"{what}\"");
    for p in params.split(',') {
        if let Some(url) = p.strip_prefix("server=") {
            if server.is_some() {
                return Err(duplicate("server"));
            }
            server =
                Some(parse_server(url).map_err(|e| format!("{e} in syslog server \"{url}\""))?);
        } else if let Some(name) = p.strip_prefix("facility=") {
            if facility.is_some() {
                return Err(duplicate("facility"));
            }
            let known = FACILITIES.iter().position(|f| *f == name);
            facility = Some(known.ok_or(format!("unknown syslog facility \"{name}\""))?);
        } else if let Some(name) = p.strip_prefix("severity=") {
            if severity.is_some() {
                return Err(duplicate("severity"));
            }
            let known = SEVERITIES.iter().position(|s| *s == name);
            severity = Some(known.ok_or(format!("unknown syslog severity \"{name}\""))?);
        } else if let Some(name) = p.strip_prefix("tag=") {
            if tag.is_some() {
                return Err(duplicate("tag"));
            }
            // RFC 3164: alphanumeric characters, at most 32.
            if name.len() > 32 {
                return Err("syslog tag length exceeds 32".to_string());
            }
            if !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                return Err(
                    "syslog \"tag\" only allows alphanumeric characters and underscore".to_string(),
                );
            }
            tag = Some(name.to_string());
        } else if p == "nohostname" {
            hostname = false;
        } else {
            return Err(format!("unknown syslog parameter \"{p}\""));
        }
    }
    let server = server.ok_or("no syslog server specified")?;
    Ok(Syslog {
        server,
        facility: facility.map_or(23, |f| f as u8),
        severity: severity.map_or(6, |s| s as u8),
        tag: tag.unwrap_or_else(|| "nginx".to_string()),
        hostname,
    })
}

/// `ngx_parse_url` with port 514: the first address of `host[:port]`, or `unix:PATH`.
fn parse_server(url: &str) -> Result<SyslogServer, &'static str> {
    if let Some(path) = url.strip_prefix("unix:") {
        return match path {
            "" => Err("no path"),
            _ => Ok(SyslogServer::Unix(PathBuf::from(path))),
        };
    }
    if url.is_empty() || url.starts_with(':') {
        return Err("no host");
    }
    let addrs = super::upstream::resolve(url, 514)?;
    addrs
        .first()
        .copied()
        .map(SyslogServer::Udp)
        .ok_or("host not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_parameters() {
        let s = parse("syslog:server=127.0.0.1").expect("valid");
        let server = SyslogServer::Udp("127.0.0.1:514".parse().expect("addr"));
        assert_eq!(
            s,
            Syslog {
                server,
                facility: 23,
                severity: 6,
                tag: "nginx".into(),
                hostname: true,
            }
        );
        let s =
            parse("syslog:severity=alert,server=unix:/dev/log,facility=user,tag=My_1,nohostname")
                .expect("valid");
        assert_eq!(s.server, SyslogServer::Unix("/dev/log".into()));
        assert_eq!((s.facility, s.severity, s.tag.as_str()), (1, 1, "My_1"));
        assert!(!s.hostname);
    }

    #[test]
    fn errors_are_nginx_s() {
        let err = |v: &str| parse(v).expect_err("invalid");
        assert_eq!(err("syslog:tag=x"), "no syslog server specified");
        assert_eq!(
            err("syslog:server=127.0.0.1,server=127.0.0.2"),
            "duplicate syslog \"server\""
        );
        assert_eq!(
            err("syslog:server=127.0.0.1,facility=x"),
            "unknown syslog facility \"x\""
        );
        assert_eq!(
            err("syslog:server=127.0.0.1,severity=err"),
            "unknown syslog severity \"err\""
        );
        assert_eq!(
            err("syslog:server=127.0.0.1,tag=a-b"),
            "syslog \"tag\" only allows alphanumeric characters and underscore"
        );
        assert_eq!(
            err(&format!("syslog:server=127.0.0.1,tag={}", "a".repeat(33))),
            "syslog tag length exceeds 32"
        );
        assert_eq!(
            err("syslog:server=127.0.0.1,bogus"),
            "unknown syslog parameter \"bogus\""
        );
        assert_eq!(
            err("syslog:server=127.0.0.1:x"),
            "invalid port in syslog server \"127.0.0.1:x\""
        );
    }
}
