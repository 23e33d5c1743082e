//! The realip module: a trusted peer's word for the client's address. nginx runs it twice,
//! with the server's settings once the request head is read (post-read) and with the
//! location's before access checks (preaccess); the first that finds an address fixes it for
//! the rest of the request, `$remote_addr`, `$proxy_add_x_forwarded_for`, `ip_hash` and the
//! logs included. `$realip_remote_addr` keeps the connection's own.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use super::plan::{Peer, ProxyProtocol};
use crate::config::proxy_bind::parse_addr_port;
use crate::config::realip::{RealIpHeader, Trusted};
use crate::config::settings::Settings;

/// A level's realip settings, merged.
#[derive(Debug)]
pub struct RealIp {
    from: Vec<Trusted>,
    header: RealIpHeader,
    recursive: bool,
}

impl RealIp {
    /// `None` where no `set_real_ip_from` applies (the module does nothing there).
    pub fn of(st: &Settings) -> Option<RealIp> {
        let from = st.set_real_ip_from.clone().filter(|f| !f.is_empty())?;
        Some(RealIp {
            from,
            header: st.real_ip_header.clone().unwrap_or(RealIpHeader::XRealIp),
            recursive: st.real_ip_recursive.unwrap_or(false),
        })
    }

    /// `ngx_http_realip_handler`: the client's address for a connection from `peer` with
    /// these request `headers` and PROXY header, when the settings find one (port 0 when
    /// none was given; a PROXY header's source port).
    pub fn client(
        &self,
        peer: &Peer,
        headers: &[(Bytes, Bytes)],
        proxy_protocol: Option<&ProxyProtocol>,
    ) -> Option<SocketAddr> {
        let (name, all) = match &self.header {
            RealIpHeader::XRealIp => ("x-real-ip", false),
            RealIpHeader::XForwardedFor => ("x-forwarded-for", true),
            RealIpHeader::Other(name) => (name.as_str(), false),
            RealIpHeader::ProxyProtocol => {
                let pp = proxy_protocol?;
                let found = forwarded(peer, &[&pp.src_addr], &self.from, self.recursive)?;
                return Some(SocketAddr::new(found.ip(), pp.src_port));
            }
        };
        let named = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &v[..]);
        let lines: Vec<&[u8]> = named.take(if all { usize::MAX } else { 1 }).collect();
        if lines.is_empty() {
            return None;
        }
        forwarded(peer, &lines, &self.from, self.recursive)
    }
}

/// `ngx_http_get_forwarded_addr` over every `X-Forwarded-For` line of `headers`, as the geo
/// module reads them for its `proxy` entries: the address found, if any.
pub fn forwarded_for(
    peer: &Peer,
    headers: &[(Bytes, Bytes)],
    from: &[Trusted],
    recursive: bool,
) -> Option<SocketAddr> {
    let lines: Vec<&[u8]> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"x-forwarded-for"))
        .map(|(_, v)| &v[..])
        .collect();
    if lines.is_empty() {
        return None;
    }
    forwarded(peer, &lines, from, recursive)
}

/// Whether `addr` is in one of `from` (`ngx_cidr_match`: an IPv4-mapped IPv6 address counts
/// as IPv4; `None`, a unix-domain client, matches `unix:`).
fn trusted(addr: Option<IpAddr>, from: &[Trusted]) -> bool {
    from.iter().any(|t| t.matches(addr))
}

/// `ngx_http_get_forwarded_addr`: each line from the last, each address in a line from its
/// end, while the address so far is trusted (only the last one without `recursive`).
fn forwarded(
    peer: &Peer,
    lines: &[&[u8]],
    from: &[Trusted],
    recursive: bool,
) -> Option<SocketAddr> {
    let mut addr = match peer {
        Peer::Inet(a) => Some(*a),
        Peer::Unix(_) => None,
    };
    let mut found = None;
    for line in lines.iter().rev() {
        let ended = in_line(&mut addr, &mut found, line, from, recursive);
        if !recursive || ended {
            break;
        }
    }
    found
}

/// One line of addresses read from its end into `addr` (`found` once one was taken):
/// whether the reading stopped at an untrusted address or a word that is not one.
fn in_line(
    addr: &mut Option<SocketAddr>,
    found: &mut Option<SocketAddr>,
    line: &[u8],
    from: &[Trusted],
    recursive: bool,
) -> bool {
    let is_sep = |c: &u8| *c == b' ' || *c == b',';
    let mut rest = line;
    loop {
        if !trusted(addr.map(|a| a.ip()), from) {
            return true;
        }
        let end = rest.iter().rposition(|c| !is_sep(c)).map_or(0, |i| i + 1);
        let start = rest[..end].iter().rposition(is_sep).map_or(0, |i| i + 1);
        match parse_addr_port(&rest[start..end]) {
            Some(a) => (*addr, *found) = (Some(a), Some(a)),
            None => return true,
        }
        if !recursive || start == 0 {
            return false;
        }
        rest = &rest[..start - 1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::realip::parse_cidr;

    fn run(lines: &[&str], from: &[&str], recursive: bool) -> Option<String> {
        let from: Vec<Trusted> = from.iter().filter_map(|f| parse_cidr(f)).collect();
        let lines: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        let peer = Peer::Inet("127.0.0.1:5000".parse().unwrap());
        forwarded(&peer, &lines, &from, recursive).map(|a| a.to_string())
    }

    #[test]
    fn the_last_address_unless_recursive() {
        let from = ["127.0.0.1", "10.0.0.0/8"];
        assert_eq!(
            run(&["1.1.1.1, 10.0.0.2"], &from, false).as_deref(),
            Some("10.0.0.2:0")
        );
        assert_eq!(
            run(&["1.1.1.1, 10.0.0.2"], &from, true).as_deref(),
            Some("1.1.1.1:0")
        );
        assert_eq!(
            run(&["2.2.2.2, 1.1.1.1 ,10.0.0.2, "], &from, true).as_deref(),
            Some("1.1.1.1:0")
        );
        // Every address trusted: the first one.
        assert_eq!(
            run(&["10.0.0.3,10.0.0.2"], &from, true).as_deref(),
            Some("10.0.0.3:0")
        );
        // Lines are read from the last, as one list.
        assert_eq!(
            run(&["3.3.3.3", "10.0.0.2"], &from, true).as_deref(),
            Some("3.3.3.3:0")
        );
        assert_eq!(
            run(&["3.3.3.3", "10.0.0.2"], &from, false).as_deref(),
            Some("10.0.0.2:0")
        );
        // A word that is not an address stops the reading where it is.
        assert_eq!(
            run(&["1.1.1.1, junk, 10.0.0.2"], &from, true).as_deref(),
            Some("10.0.0.2:0")
        );
        assert_eq!(run(&["junk"], &from, true), None);
        // Ports, and IPv6 in brackets.
        assert_eq!(
            run(&["1.1.1.1:8080"], &from, false).as_deref(),
            Some("1.1.1.1:8080")
        );
        assert_eq!(
            run(&["[2001:db8::1]:443"], &from, false).as_deref(),
            Some("[2001:db8::1]:443")
        );
        assert_eq!(
            run(&["2001:db8::1"], &from, false).as_deref(),
            Some("[2001:db8::1]:0")
        );
        // An untrusted peer is believed about nothing.
        assert_eq!(run(&["1.1.1.1"], &["10.0.0.0/8"], true), None);
    }

    #[test]
    fn mapped_addresses_match_as_ipv4() {
        let from = [parse_cidr("127.0.0.0/8").unwrap(), Trusted::Unix];
        assert!(trusted(Some("::ffff:127.0.0.5".parse().unwrap()), &from));
        assert!(!trusted(Some("::1".parse().unwrap()), &from));
        assert!(!trusted(Some("128.0.0.1".parse().unwrap()), &from));
    }

    #[test]
    fn unix_clients_are_trusted_by_unix_only() {
        let header = |v: &'static str| vec![(Bytes::from_static(b"x-real-ip"), Bytes::from(v))];
        let realip = |from: Vec<Trusted>| RealIp {
            from,
            header: RealIpHeader::XRealIp,
            recursive: false,
        };
        let unix = Peer::Unix(None);
        let got = realip(vec![Trusted::Unix]).client(&unix, &header("192.0.2.1"), None);
        assert_eq!(got, Some("192.0.2.1:0".parse().unwrap()));
        let all_v4 = parse_cidr("0.0.0.0/0").unwrap();
        assert_eq!(
            realip(vec![all_v4]).client(&unix, &header("192.0.2.1"), None),
            None
        );
        let tcp = Peer::Inet("127.0.0.1:80".parse().unwrap());
        assert_eq!(
            realip(vec![Trusted::Unix]).client(&tcp, &header("192.0.2.1"), None),
            None
        );
    }

    #[test]
    fn a_proxy_protocol_address_comes_with_its_port() {
        let pp = ProxyProtocol {
            src_addr: b"2001:Db8::1".as_slice().into(),
            dst_addr: b"2001:db8::2".as_slice().into(),
            src_port: 123,
            dst_port: 5678,
        };
        let realip = RealIp {
            from: vec![parse_cidr("127.0.0.1").unwrap()],
            header: RealIpHeader::ProxyProtocol,
            recursive: false,
        };
        let tcp = Peer::Inet("127.0.0.1:80".parse().unwrap());
        assert_eq!(
            realip.client(&tcp, &[], Some(&pp)),
            Some("[2001:db8::1]:123".parse().unwrap())
        );
        assert_eq!(realip.client(&tcp, &[], None), None);
        let other = Peer::Inet("127.0.0.2:80".parse().unwrap());
        assert_eq!(realip.client(&other, &[], Some(&pp)), None);
        let junk = ProxyProtocol {
            src_addr: b"1.2.3".as_slice().into(),
            ..pp
        };
        assert_eq!(realip.client(&tcp, &[], Some(&junk)), None);
    }
}
