//! `proxy_bind address [transparent] | off` (`ngx_http_upstream_bind_set_slot`): the local
//! address an upstream connection is bound to before it connects. A value without variables
//! is checked here, as nginx parses it at load; one with variables is evaluated per request.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::{Cx, Text};
use crate::syntax::Directive;

/// A level's `proxy_bind` other than `off`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub value: Text,
    /// The address, when the value has no variables.
    pub fixed: Option<SocketAddr>,
    /// `transparent`: `IP_TRANSPARENT` first, so the address need not be local.
    pub transparent: bool,
}

/// Reads `proxy_bind` into `slot` (`Some(None)` for `off`, which a level keeps so that it
/// turns an inherited one off).
pub fn lower(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<Option<Bind>>) {
    if slot.is_some() {
        return cx.duplicate(d);
    }
    let Some(value) = cx.text(d, 0) else {
        return;
    };
    if d.args.len() == 1 && value.value == "off" {
        *slot = Some(None);
        return;
    }
    let fixed = match value.value.contains('$') {
        true => None,
        false => match parse_addr_port(value.value.as_bytes()) {
            Some(addr) => Some(addr),
            None => return cx.error(d, format!("invalid address \"{}\"", value.value)),
        },
    };
    let transparent = match d.arg(1) {
        None => false,
        Some("transparent") => true,
        Some(p) => return cx.error(d, format!("invalid parameter \"{p}\"")),
    };
    *slot = Some(Some(Bind {
        value,
        fixed,
        transparent,
    }));
}

/// `ngx_parse_addr_port`: `addr`, `addr:port` or `[addr]:port` (port 1 to 65535), an IPv4
/// address as `ngx_inet_addr` reads it; port 0 when none is given.
pub fn parse_addr_port(text: &[u8]) -> Option<SocketAddr> {
    if let Some(ip) = parse_addr(text) {
        return Some(SocketAddr::new(ip, 0));
    }
    let (host, port) = match text.strip_prefix(b"[") {
        Some(rest) => {
            let close = rest.iter().position(|&c| c == b']')?;
            let port = rest[close + 1..].strip_prefix(b":")?;
            (&rest[..close], port)
        }
        None => {
            let colon = text.iter().position(|&c| c == b':')?;
            (&text[..colon], &text[colon + 1..])
        }
    };
    let port = decimal(port).filter(|p| (1..=65535).contains(p))?;
    Some(SocketAddr::new(parse_addr(host)?, port as u16))
}

/// `ngx_parse_addr`: an IPv4 address (`ngx_inet_addr`: four decimal octets, leading zeros
/// allowed) or an IPv6 one.
fn parse_addr(text: &[u8]) -> Option<IpAddr> {
    inet_addr(text).map(IpAddr::V4).or_else(|| {
        let text = std::str::from_utf8(text).ok()?;
        text.parse().ok().map(IpAddr::V6)
    })
}

/// `ngx_inet_addr`.
fn inet_addr(text: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split(|&c| c == b'.');
    for octet in &mut octets {
        *octet = u8::try_from(decimal(parts.next()?)?).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// `ngx_atoi`: decimal digits only, at least one.
fn decimal(text: &[u8]) -> Option<u32> {
    if text.is_empty() || text.len() > 9 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Option<String> {
        parse_addr_port(text.as_bytes()).map(|a| a.to_string())
    }

    #[test]
    fn addresses_with_and_without_ports() {
        assert_eq!(parsed("127.0.0.2").as_deref(), Some("127.0.0.2:0"));
        assert_eq!(parsed("127.0.0.2:8000").as_deref(), Some("127.0.0.2:8000"));
        assert_eq!(parsed("127.000.0.02").as_deref(), Some("127.0.0.2:0"));
        assert_eq!(parsed("::1").as_deref(), Some("[::1]:0"));
        assert_eq!(parsed("[::1]:80").as_deref(), Some("[::1]:80"));
    }

    #[test]
    fn what_nginx_refuses() {
        for bad in [
            "",
            "localhost",
            "127.0.0.256",
            "127.0.0",
            "127.0.0.1.5",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "127.0.0.1:",
            "127.0.0.1:+1",
            "[::1]",
            "[::1]80",
            "::1:80x",
            "off",
        ] {
            assert_eq!(parsed(bad), None, "{bad}");
        }
    }
}
