//! `listen`: the address and port a server accepts on and the socket options that go with it
//! (`ngx_http_core_listen` / `ngx_parse_url`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::Cx;
use crate::source::Span;
use crate::syntax::Directive;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub addr: SocketAddr,
    pub default_server: bool,
    pub ssl: bool,
    pub reuseport: bool,
    pub backlog: Option<i32>,
    pub ipv6only: bool,
    pub span: Span,
}

/// The implicit `listen *:80` of a server without one.
pub fn implicit(span: Span) -> Listen {
    Listen {
        addr: SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            crate::defaults::http::LISTEN_PORT,
        ),
        default_server: false,
        ssl: false,
        reuseport: false,
        backlog: None,
        ipv6only: true,
        span,
    }
}

/// Reads one `listen` directive.
pub fn lower(cx: &mut Cx<'_>, d: &Directive) -> Option<Listen> {
    let Some(target) = d.arg(0) else {
        cx.arity(d);
        return None;
    };
    if target.starts_with("unix:") {
        cx.error(d, "ngxr does not listen on unix sockets yet".to_string());
        return None;
    }
    let Some(addr) = parse_addr(target) else {
        cx.error(
            d,
            format!("invalid port in \"{target}\" of the \"listen\" directive"),
        );
        return None;
    };
    let mut l = Listen {
        addr,
        default_server: false,
        ssl: false,
        reuseport: false,
        backlog: None,
        ipv6only: true,
        span: d.span(),
    };
    for p in d.args.iter().skip(1).map(|w| w.as_str()) {
        match p {
            "default_server" | "default" => l.default_server = true,
            "ssl" => l.ssl = true,
            "reuseport" => l.reuseport = true,
            "http2" | "deferred" | "bind" | "proxy_protocol" => {}
            "ipv6only=on" => l.ipv6only = true,
            "ipv6only=off" => l.ipv6only = false,
            _ if p.starts_with("backlog=") => match p["backlog=".len()..].parse::<i32>() {
                Ok(n) if n != 0 => l.backlog = Some(n),
                _ => {
                    cx.error(d, format!("invalid backlog \"{}\"", &p["backlog=".len()..]));
                    return None;
                }
            },
            _ if p.starts_with("rcvbuf=")
                || p.starts_with("sndbuf=")
                || p.starts_with("so_keepalive=") => {}
            _ => {
                cx.error(d, format!("invalid parameter \"{p}\""));
                return None;
            }
        }
    }
    Some(l)
}

/// `80`, `127.0.0.1:80`, `*:80`, `[::]:443`, `[::1]`, `localhost:8080` (resolved).
fn parse_addr(target: &str) -> Option<SocketAddr> {
    if let Ok(port) = target.parse::<u16>() {
        return (port != 0).then(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Some(rest) = target.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: IpAddr = ip.parse().ok()?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0)?,
            None if after.is_empty() => crate::defaults::http::LISTEN_PORT,
            None => return None,
        };
        return Some(SocketAddr::new(ip, port));
    }
    let (host, port) = match target.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => (target, crate::defaults::http::LISTEN_PORT),
    };
    if host == "*" {
        return Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    use std::net::ToSocketAddrs;
    (host, port)
        .to_socket_addrs()
        .ok()?
        .find(SocketAddr::is_ipv4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_addr("8080"), Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(
            parse_addr("127.0.0.1:81"),
            Some("127.0.0.1:81".parse().unwrap())
        );
        assert_eq!(parse_addr("*:443"), Some("0.0.0.0:443".parse().unwrap()));
        assert_eq!(parse_addr("[::]:443"), Some("[::]:443".parse().unwrap()));
        assert_eq!(parse_addr("[::1]"), Some("[::1]:80".parse().unwrap()));
        assert_eq!(
            parse_addr("127.0.0.1"),
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(parse_addr("1.2.3.4:0"), None);
        assert_eq!(parse_addr("1.2.3.4:x"), None);
    }
}
