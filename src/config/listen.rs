//! `listen`: the address and port (or unix-domain socket) a server accepts on and the socket
//! options that go with it (`ngx_http_core_listen` / `ngx_parse_url`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;

use super::Cx;
use super::listen_options::{Parsed, SocketOptions};
use crate::source::Span;
use crate::syntax::Directive;

/// Where a listen socket is bound, as nginx's `struct sockaddr` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    Inet(SocketAddr),
    /// `unix:PATH`: the path as written (relative to the working directory, as nginx binds
    /// it), compared byte for byte as `ngx_cmp_sockaddr` compares `sun_path`.
    Unix(Arc<str>),
}

impl ListenAddr {
    /// The TCP address, `None` for a unix-domain socket.
    pub fn inet(&self) -> Option<SocketAddr> {
        match self {
            ListenAddr::Inet(a) => Some(*a),
            ListenAddr::Unix(_) => None,
        }
    }

    /// `*:PORT` or `[::]:PORT`.
    pub fn is_wildcard(&self) -> bool {
        self.inet().is_some_and(|a| a.ip().is_unspecified())
    }
}

/// nginx's `addr_text`: `127.0.0.1:80`, `[::1]:80`, `unix:/run/x.sock`.
impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Inet(a) => write!(f, "{a}"),
            ListenAddr::Unix(path) => write!(f, "unix:{path}"),
        }
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(a: SocketAddr) -> ListenAddr {
        ListenAddr::Inet(a)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub addr: ListenAddr,
    pub default_server: bool,
    pub ssl: bool,
    /// Clients send a PROXY protocol header before anything else.
    pub proxy_protocol: bool,
    /// `http2`: ALPN offers `h2` on the address (with `ssl`); without, it speaks only h2c.
    pub http2: bool,
    /// The socket's own options, which at most one `listen` of the address may give.
    pub socket: SocketOptions,
    pub span: Span,
}

/// The implicit `listen *:80` of a server without one.
pub fn implicit(span: Span) -> Listen {
    Listen {
        addr: ListenAddr::Inet(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            crate::defaults::http::LISTEN_PORT,
        )),
        default_server: false,
        ssl: false,
        proxy_protocol: false,
        http2: false,
        socket: SocketOptions::default(),
        span,
    }
}

/// Reads one `listen` directive: a socket per address it names (a host name may resolve to
/// several, a port range names each port of it, `unix:PATH` is one unix-domain socket).
pub fn lower(cx: &mut Cx<'_>, d: &Directive) -> Vec<Listen> {
    let Some(target) = d.arg(0) else {
        cx.arity(d);
        return Vec::new();
    };
    let parsed = match target.strip_prefix("unix:") {
        Some(path) => unix_path(path).map(|p| vec![ListenAddr::Unix(p)]),
        None => parse_addrs(target).map(|a| a.into_iter().map(ListenAddr::Inet).collect()),
    };
    let addrs = match parsed {
        Ok(addrs) => addrs,
        Err(err) => {
            cx.error(
                d,
                format!("{err} in \"{target}\" of the \"listen\" directive"),
            );
            return Vec::new();
        }
    };
    let mut l = Listen {
        addr: implicit(d.span()).addr,
        default_server: false,
        ssl: false,
        proxy_protocol: false,
        http2: false,
        socket: SocketOptions::default(),
        span: d.span(),
    };
    for w in d.args.iter().skip(1) {
        let p = w.as_str();
        match p {
            "default_server" | "default" => l.default_server = true,
            "ssl" => l.ssl = true,
            // Without `ssl`, nginx 1.22 speaks only HTTP/2 (prior knowledge, h2c) on such a
            // socket; with it, ALPN offers `h2`.
            "http2" => l.http2 = true,
            "proxy_protocol" => l.proxy_protocol = true,
            _ => match l.socket.parse(p) {
                Parsed::Taken => {}
                Parsed::Ignored(message) => cx.ignored(d, message),
                Parsed::Invalid(message) => {
                    cx.error(d, message);
                    return Vec::new();
                }
                Parsed::Other => {
                    cx.error(d, format!("invalid parameter \"{p}\""));
                    return Vec::new();
                }
            },
        }
    }
    addrs
        .into_iter()
        .map(|addr| Listen { addr, ..l.clone() })
        .collect()
}

/// `ngx_parse_unix_domain_url`: the path after `unix:`, which must fit `sun_path` with its
/// terminating zero.
fn unix_path(path: &str) -> Result<Arc<str>, &'static str> {
    /// `sizeof(((struct sockaddr_un *) 0)->sun_path)` on Linux.
    const SUN_PATH: usize = 108;
    if path.is_empty() {
        return Err("no path in the unix domain socket");
    }
    if path.len() + 1 > SUN_PATH {
        return Err("too long path in the unix domain socket");
    }
    Ok(Arc::from(path))
}

/// `ngx_parse_url` for `listen`: `80`, `8000-8009`, `127.0.0.1:80`, `*:80`, `[::]:443`,
/// `[::1]:80-81`, `[::1]`, `localhost:8080` (every address the name resolves to). The error
/// is nginx's (`invalid port`, `invalid port range`, `host not found`...).
fn parse_addrs(target: &str) -> Result<Vec<SocketAddr>, &'static str> {
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let default = crate::defaults::http::LISTEN_PORT..=crate::defaults::http::LISTEN_PORT;
    if let Some(rest) = target.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or("invalid host")?;
        let range = match after.strip_prefix(':') {
            Some(p) => ports(p)?,
            None if after.is_empty() => default,
            None => return Err("invalid host"),
        };
        if ip.is_empty() {
            return Err("no host");
        }
        let ip: Ipv6Addr = ip.parse().map_err(|_| "invalid IPv6 address")?;
        return Ok(expand(&[IpAddr::V6(ip)], range));
    }
    if target.contains('/') || target.contains('?') {
        return Err("invalid host");
    }
    let (host, range) = match target.split_once(':') {
        Some((host, p)) => (host, ports(p)?),
        // A bare number (or range of them) is a port on every address.
        None if is_port_text(target) => return Ok(expand(&[any], ports(target)?)),
        None => (target, default),
    };
    if host.is_empty() {
        return Err("no host");
    }
    if host == "*" {
        return Ok(expand(&[any], range));
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(expand(&[IpAddr::V4(ip)], range));
    }
    use std::net::ToSocketAddrs;
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in (host, 0).to_socket_addrs().map_err(|_| "host not found")? {
        if !ips.contains(&a.ip()) {
            ips.push(a.ip());
        }
    }
    Ok(expand(&ips, range))
}

/// Whether a `listen` argument without `:` is a port (nginx tries it as one first: `8080`,
/// `8000-8009`) rather than a host name.
fn is_port_text(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    match text.split_once('-') {
        Some((first, last)) => digits(first) && digits(last),
        None => digits(text),
    }
}

/// `PORT` or `FIRST-LAST`, each 1..=65535, FIRST not above LAST.
fn ports(text: &str) -> Result<RangeInclusive<u16>, &'static str> {
    let port = |s: &str| {
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse::<u16>().ok())
            .flatten()
            .filter(|p| *p != 0)
            .ok_or("invalid port")
    };
    match text.split_once('-') {
        Some((first, last)) => {
            let last = port(last)?;
            let first = port(first)?;
            if first > last {
                return Err("invalid port range");
            }
            Ok(first..=last)
        }
        None => port(text).map(|p| p..=p),
    }
}

/// Each address with each port, addresses first (`ngx_inet_add_addr`).
fn expand(ips: &[IpAddr], ports: RangeInclusive<u16>) -> Vec<SocketAddr> {
    ips.iter()
        .flat_map(|ip| ports.clone().map(|p| SocketAddr::new(*ip, p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(target: &str) -> Option<SocketAddr> {
        match parse_addrs(target) {
            Ok(addrs) if addrs.len() == 1 => Some(addrs[0]),
            _ => None,
        }
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(one("8080"), Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(one("127.0.0.1:81"), Some("127.0.0.1:81".parse().unwrap()));
        assert_eq!(one("*:443"), Some("0.0.0.0:443".parse().unwrap()));
        assert_eq!(one("[::]:443"), Some("[::]:443".parse().unwrap()));
        assert_eq!(one("[::1]"), Some("[::1]:80".parse().unwrap()));
        assert_eq!(one("127.0.0.1"), Some("127.0.0.1:80".parse().unwrap()));
        assert_eq!(parse_addrs("1.2.3.4:0"), Err("invalid port"));
        assert_eq!(parse_addrs("1.2.3.4:x"), Err("invalid port"));
        assert_eq!(parse_addrs("1.2.3.4:65536"), Err("invalid port"));
        assert_eq!(parse_addrs(":80"), Err("no host"));
        assert_eq!(parse_addrs("[::1]x"), Err("invalid host"));
    }

    #[test]
    fn unix_paths_fit_sun_path() {
        assert_eq!(unix_path("/run/a.sock").as_deref(), Ok("/run/a.sock"));
        assert_eq!(unix_path(""), Err("no path in the unix domain socket"));
        assert!(unix_path(&"x".repeat(107)).is_ok());
        assert_eq!(
            unix_path(&"x".repeat(108)),
            Err("too long path in the unix domain socket")
        );
        let addr = ListenAddr::Unix(Arc::from("/run/a.sock"));
        assert_eq!(addr.to_string(), "unix:/run/a.sock");
        assert!(!addr.is_wildcard());
    }

    #[test]
    fn port_ranges_name_every_port() {
        let addrs = |t| {
            parse_addrs(t)
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            addrs("127.0.0.1:8182-8183"),
            ["127.0.0.1:8182", "127.0.0.1:8183"]
        );
        assert_eq!(addrs("[::1]:81-82"), ["[::1]:81", "[::1]:82"]);
        assert_eq!(addrs("8000-8001"), ["0.0.0.0:8000", "0.0.0.0:8001"]);
        assert_eq!(addrs("127.0.0.1:81-81"), ["127.0.0.1:81"]);
        assert_eq!(parse_addrs("127.0.0.1:82-81"), Err("invalid port range"));
        assert_eq!(parse_addrs("127.0.0.1:81-0"), Err("invalid port"));
        assert_eq!(parse_addrs("127.0.0.1:81-"), Err("invalid port"));
    }
}
