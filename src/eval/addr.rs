//! Addresses as nginx keeps and prints them: a connection's peer (TCP, or a unix-domain
//! socket's client), what a PROXY protocol header said, and `ngx_sock_ntop`'s text, which
//! `$remote_addr`, `$server_addr`, `$proxy_protocol_addr` and the logs show.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use crate::config::listen::ListenAddr;

/// The other end of a client connection, as nginx's `c->sockaddr` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Inet(SocketAddr),
    /// A client of a unix-domain socket: the path it bound, when it bound one (clients
    /// seldom do), which nginx prints after `unix:`.
    Unix(Option<Arc<Path>>),
}

impl Peer {
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Peer::Inet(a) => Some(a.ip()),
            Peer::Unix(_) => None,
        }
    }

    /// `ngx_inet_get_port`: 0 for a unix-domain peer.
    pub fn port(&self) -> u16 {
        match self {
            Peer::Inet(a) => a.port(),
            Peer::Unix(_) => 0,
        }
    }

    /// nginx's `c->addr_text` (`ngx_sock_ntop` without the port): `192.0.2.1`, `2001:db8::1`,
    /// `unix:`.
    pub fn text(&self) -> Vec<u8> {
        match self {
            Peer::Inet(a) => ip_text(a.ip()),
            Peer::Unix(path) => {
                let mut text = b"unix:".to_vec();
                if let Some(path) = path {
                    text.extend_from_slice(path.as_os_str().as_bytes());
                }
                text
            }
        }
    }
}

impl From<SocketAddr> for Peer {
    fn from(a: SocketAddr) -> Peer {
        Peer::Inet(a)
    }
}

/// [`Peer::text`], for log lines.
impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.text()))
    }
}

/// `ngx_connection_local_sockaddr`'s text without the port, as `$server_addr` shows it:
/// `127.0.0.1`, `::1`, `unix:/run/x.sock`.
pub fn local_text(local: &ListenAddr) -> Vec<u8> {
    match local {
        ListenAddr::Inet(a) => ip_text(a.ip()),
        ListenAddr::Unix(path) => format!("unix:{path}").into_bytes(),
    }
}

/// `ngx_inet_get_port` of a local address: 0 for a unix-domain socket.
pub fn local_port(local: &ListenAddr) -> u16 {
    local.inet().map_or(0, |a| a.port())
}

/// What a PROXY protocol header said about the connection it came on (nginx's
/// `ngx_proxy_protocol_t`). A header that names no addresses (`UNKNOWN`, a v2 `LOCAL`
/// command, another family) leaves a connection without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyProtocol {
    /// `$proxy_protocol_addr`: a v1 header's text as sent (`2001:Db8::1` keeps its case), a
    /// v2 header's address as nginx prints it.
    pub src_addr: Box<[u8]>,
    /// `$proxy_protocol_server_addr`.
    pub dst_addr: Box<[u8]>,
    pub src_port: u16,
    pub dst_port: u16,
}

/// `ngx_sock_ntop` of an address without port: dotted IPv4, IPv6 by `ngx_inet6_ntop`.
pub fn ip_text(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4_text(v4.octets()),
        IpAddr::V6(v6) => inet6_ntop(v6),
    }
}

fn v4_text(octets: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(15);
    for (i, octet) in octets.into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        if octet >= 100 {
            out.push(b'0' + octet / 100);
        }
        if octet >= 10 {
            out.push(b'0' + octet / 10 % 10);
        }
        out.push(b'0' + octet % 10);
    }
    out
}

/// `ngx_inet6_ntop`: the longest run of two or more zero groups (the first of equals) as
/// `::`, lowercase hex; when that run starts the address, an IPv4-mapped address and the
/// IPv4-compatible forms end in dotted IPv4 (`::ffff:192.0.2.1`, `::192.0.2.1`), where
/// Rust's `Display` writes only the mapped one that way.
pub fn inet6_ntop(ip: Ipv6Addr) -> Vec<u8> {
    let p = ip.octets();
    let groups = ip.segments();
    let (mut zero, mut max) = (usize::MAX, 1);
    let (mut run, mut start) = (0, 0);
    for (i, g) in groups.iter().enumerate() {
        if *g != 0 {
            if max < run {
                (zero, max) = (start, run);
            }
            run = 0;
            continue;
        }
        if run == 0 {
            start = i;
        }
        run += 1;
    }
    if max < run {
        (zero, max) = (start, run);
    }
    let mut out = Vec::with_capacity(39);
    let mut hex_groups = 8;
    if zero == 0 {
        if (max == 5 && p[10] == 0xff && p[11] == 0xff)
            || max == 6
            || (max == 7 && p[14] != 0 && p[15] != 1)
        {
            hex_groups = 6;
        }
        out.push(b':');
    }
    let mut i = 0;
    while i < hex_groups {
        if i == zero {
            out.push(b':');
            i += max;
            continue;
        }
        out.extend_from_slice(format!("{:x}", groups[i]).as_bytes());
        if i < 7 {
            out.push(b':');
        }
        i += 1;
    }
    if hex_groups == 6 {
        out.extend_from_slice(&v4_text([p[12], p[13], p[14], p[15]]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> String {
        String::from_utf8(inet6_ntop(s.parse().unwrap())).unwrap()
    }

    #[test]
    fn common_addresses_print_as_std_does() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.200.9.255",
            "192.168.100.10",
            "::1",
            "fe80::1",
        ] {
            let parsed: IpAddr = ip.parse().expect("a test address");
            assert_eq!(ip_text(parsed), ip.as_bytes(), "{ip}");
        }
    }

    #[test]
    fn ipv6_as_nginx_prints_it() {
        assert_eq!(v6("2001:DB8::1"), "2001:db8::1");
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("1::"), "1::");
        assert_eq!(v6("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
        assert_eq!(v6("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4");
        assert_eq!(v6("1:2:3:4:5:6:7:0"), "1:2:3:4:5:6:7:0");
        assert_eq!(v6("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
        assert_eq!(v6("::192.0.2.1"), "::192.0.2.1");
        assert_eq!(v6("::0.0.1.2"), "::0.0.1.2");
        assert_eq!(v6("::0.0.0.2"), "::2");
        assert_eq!(v6("1::ffff:192.0.2.1"), "1::ffff:c000:201");
    }

    #[test]
    fn peers_as_nginx_names_them() {
        assert_eq!(Peer::Unix(None).text(), b"unix:");
        let bound = Peer::Unix(Some(Arc::from(Path::new("/tmp/c.sock"))));
        assert_eq!(bound.text(), b"unix:/tmp/c.sock");
        assert_eq!(bound.port(), 0);
        let inet = Peer::Inet("192.0.2.1:80".parse().unwrap());
        assert_eq!(inet.to_string(), "192.0.2.1");
    }
}
