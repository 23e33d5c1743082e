//! The realip module's settings (`set_real_ip_from`, `real_ip_header`, `real_ip_recursive`):
//! which peers are trusted to say who the client is, and in which header.

use std::net::{IpAddr, ToSocketAddrs};

use super::Cx;
use crate::syntax::Directive;

/// A `set_real_ip_from` entry (`ngx_cidr_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trusted {
    /// An address and how many leading bits must match; the address holds no bits past them.
    Net { addr: IpAddr, bits: u8 },
    /// `unix:`: every connection on a unix-domain socket.
    Unix,
}

impl Trusted {
    /// Whether a TCP peer at `addr` is in this net; an IPv4-mapped IPv6 address counts as
    /// the IPv4 one, as nginx checks it.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        match *self {
            Trusted::Net { addr: net, bits } => {
                net.is_ipv4() == addr.is_ipv4() && masked(addr, bits) == net
            }
            Trusted::Unix => false,
        }
    }

    /// `ngx_cidr_match` of a peer: `None` is a unix-domain socket's client, which only
    /// `unix:` matches.
    pub fn matches(&self, peer: Option<IpAddr>) -> bool {
        match peer {
            Some(ip) => self.contains(ip),
            None => *self == Trusted::Unix,
        }
    }
}

/// Where the client's address is read (`real_ip_header`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealIpHeader {
    XRealIp,
    /// Every `X-Forwarded-For` line, read from the last.
    XForwardedFor,
    /// The address a PROXY protocol header gave, with its port.
    ProxyProtocol,
    /// Another header, lowercased; its first line.
    Other(String),
}

/// `ngx_ptocidr`: `addr` or `addr/bits`; the address's bits past the mask are cleared (nginx
/// warns that they are meaningless). `None` when it is not an address.
pub fn parse_cidr(text: &str) -> Option<Trusted> {
    let (addr, bits) = match text.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        None => max,
        Some(b) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
            b.parse::<u8>().ok().filter(|&b| b <= max)?
        }
        Some(_) => return None,
    };
    Some(Trusted::Net {
        addr: masked(addr, bits),
        bits,
    })
}

/// `addr` with only its first `bits` bits kept.
pub fn masked(addr: IpAddr, bits: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            IpAddr::from((u32::from(a) & mask).to_be_bytes())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            IpAddr::from((u128::from(a) & mask).to_be_bytes())
        }
    }
}

/// Reads `set_real_ip_from`: `unix:`, a CIDR, or a host name standing for each of its
/// addresses.
pub fn set_real_ip_from(cx: &mut Cx<'_>, d: &Directive, list: &mut Option<Vec<Trusted>>) {
    let Some(arg) = d.arg(0) else {
        return cx.arity(d);
    };
    let list = list.get_or_insert_with(Vec::new);
    if arg == "unix:" {
        list.push(Trusted::Unix);
    } else if let Some(net) = parse_cidr(arg) {
        list.push(net);
    } else {
        match (arg, 0).to_socket_addrs() {
            Ok(addrs) => list.extend(addrs.map(|a| Trusted::Net {
                addr: a.ip(),
                bits: if a.is_ipv4() { 32 } else { 128 },
            })),
            Err(_) => cx.error(d, format!("host not found in set_real_ip_from \"{arg}\"")),
        }
    }
}

/// Reads `real_ip_header`.
pub fn real_ip_header(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<RealIpHeader>) {
    if slot.is_some() {
        return cx.duplicate(d);
    }
    *slot = match d.arg(0) {
        Some("X-Real-IP") => Some(RealIpHeader::XRealIp),
        Some("X-Forwarded-For") => Some(RealIpHeader::XForwardedFor),
        Some("proxy_protocol") => Some(RealIpHeader::ProxyProtocol),
        Some(other) => Some(RealIpHeader::Other(other.to_ascii_lowercase())),
        None => return cx.arity(d),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_as_ngx_ptocidr_reads_them() {
        let net = |a: &str, bits| {
            Some(Trusted::Net {
                addr: a.parse().unwrap(),
                bits,
            })
        };
        assert_eq!(parse_cidr("127.0.0.1"), net("127.0.0.1", 32));
        assert_eq!(parse_cidr("10.1.2.3/8"), net("10.0.0.0", 8));
        assert_eq!(parse_cidr("0.0.0.0/0"), net("0.0.0.0", 0));
        assert_eq!(parse_cidr("2001:db8::1/32"), net("2001:db8::", 32));
        assert_eq!(parse_cidr("::1"), net("::1", 128));
        assert_eq!(parse_cidr("10.0.0.0/33"), None);
        assert_eq!(parse_cidr("10.0.0.0/"), None);
        assert_eq!(parse_cidr("10.0.0.0/+8"), None);
        assert_eq!(parse_cidr("example"), None);
    }
}
