//! A compiled `geo`: the networks (or `ranges`) of the block flattened at load into one sorted
//! list of boundaries per address family, each step carrying the value of the most specific
//! network that covers it, so a request's lookup is one binary search (nginx walks a radix
//! tree; the answer is the same). The address is the client's (realip's when it applied), or
//! the value of the block's `$address` variable; `proxy` entries let `X-Forwarded-For` name
//! the client as the realip module would (`ngx_http_geo_addr`).

use std::cmp::Reverse;
use std::net::{IpAddr, SocketAddr};

use super::plan::Peer;
use super::realip::forwarded_for;
use super::request::Req;
use super::vars::{Registry, Var};
use crate::config::Cx;
use crate::config::geo::{Geo, Net, Table};
use crate::config::realip::Trusted;
use crate::source::Span;

#[derive(Debug)]
pub struct GeoTable {
    /// The variable it defines, without `$`.
    pub name: String,
    pub span: Span,
    /// The variable holding the address, with its name; the client's address when `None`.
    address: Option<(String, Var)>,
    proxies: Vec<Trusted>,
    recursive: bool,
    values: Vec<Vec<u8>>,
    v4: Steps,
    /// IPv6 addresses; `None` in `ranges` mode, where they read as `255.255.255.255`.
    v6: Option<Steps>,
}

/// Boundaries in increasing order, the first at 0: an address's value is that of the last
/// boundary not above it.
#[derive(Debug, PartialEq, Eq)]
struct Steps {
    starts: Vec<u128>,
    values: Vec<usize>,
}

impl Steps {
    /// Flattens intervals `(first, last, value)` that are nested or disjoint (never partly
    /// overlapping) over a space ending at `max`; a more specific interval wins inside its
    /// parent, `gap` is the value where none applies.
    fn flatten(mut intervals: Vec<(u128, u128, usize)>, max: u128, gap: usize) -> Steps {
        intervals.sort_unstable_by_key(|&(s, e, _)| (s, Reverse(e)));
        let mut steps = Steps {
            starts: vec![0],
            values: vec![gap],
        };
        // The intervals open at the current point, innermost last.
        let mut open: Vec<(u128, usize)> = Vec::new();
        let close = |open: &mut Vec<(u128, usize)>, steps: &mut Steps, before: Option<u128>| {
            while let Some(&(end, _)) = open.last() {
                if before.is_some_and(|b| end >= b) {
                    break;
                }
                open.pop();
                if end < max {
                    let outer = open.last().map_or(gap, |&(_, v)| v);
                    steps.push(end + 1, outer);
                }
            }
        };
        for (s, e, v) in intervals {
            close(&mut open, &mut steps, Some(s));
            steps.push(s, v);
            open.push((e, v));
        }
        close(&mut open, &mut steps, None);
        steps
    }

    /// Adds a boundary at `at` (replacing one already there), merged into the previous step
    /// when the value is the same.
    fn push(&mut self, at: u128, value: usize) {
        if self.starts.last() == Some(&at) {
            self.starts.pop();
            self.values.pop();
        }
        if self.values.last() != Some(&value) {
            self.starts.push(at);
            self.values.push(value);
        }
    }

    fn find(&self, addr: u128) -> usize {
        let i = self.starts.partition_point(|&s| s <= addr);
        self.values[i.saturating_sub(1)]
    }
}

/// A network as the interval of addresses it covers.
fn interval((addr, bits, v): Net, width: u32) -> (u128, u128, usize) {
    let host = u128::MAX
        .checked_shr(u32::from(bits) + 128 - width)
        .unwrap_or(0);
    (addr, addr | host, v)
}

const V4_MAX: u128 = u32::MAX as u128;

impl GeoTable {
    pub fn compile(cx: &mut Cx<'_>, reg: &Registry, geo: &Geo) -> Option<GeoTable> {
        let address = match &geo.address {
            Some(a) => match reg.resolve(&a.value) {
                Some(var) => Some((a.value.clone(), var)),
                None => {
                    cx.late_error(
                        "variable::unknown",
                        format!("unknown \"{}\" variable", a.value),
                        a.span,
                    );
                    return None;
                }
            },
            None => None,
        };
        let (v4, v6) = match &geo.table {
            Table::Nets { v4, v6 } => {
                let v4 = v4.iter().map(|&n| interval(n, 32)).collect();
                let v6 = v6.iter().map(|&n| interval(n, 128)).collect();
                // Both always hold `/0`, so `gap` is never read.
                (
                    Steps::flatten(v4, V4_MAX, 0),
                    Some(Steps::flatten(v6, u128::MAX, 0)),
                )
            }
            Table::Ranges { ranges, default } => {
                let r = ranges
                    .iter()
                    .map(|&(s, e, v)| (u128::from(s), u128::from(e), v));
                (Steps::flatten(r.collect(), V4_MAX, *default), None)
            }
        };
        Some(GeoTable {
            name: geo.variable.value.clone(),
            span: geo.span,
            address,
            proxies: geo.proxies.clone(),
            recursive: geo.proxy_recursive,
            values: geo.values.iter().map(|v| v.as_bytes().to_vec()).collect(),
            v4,
            v6,
        })
    }

    /// The value for this request's address (`ngx_http_geo_cidr_variable`,
    /// `ngx_http_geo_range_variable`).
    pub fn eval(&self, req: &mut Req<'_>) -> Vec<u8> {
        let addr = self.addr(req);
        let value = match addr.map(|a| a.to_canonical()) {
            Some(IpAddr::V4(a)) => self.v4.find(u128::from(u32::from(a))),
            Some(IpAddr::V6(a)) => match &self.v6 {
                Some(v6) => v6.find(u128::from(a)),
                None => self.v4.find(V4_MAX),
            },
            None => self.v4.find(V4_MAX),
        };
        let value = self.values[value].clone();
        if req.traced {
            let shown = addr.map_or_else(|| "255.255.255.255".to_string(), |a| a.to_string());
            req.notes.push(format!(
                "geo ${}: address {shown} → \"{}\"",
                self.name,
                String::from_utf8_lossy(&value)
            ));
        }
        value
    }

    /// `ngx_http_geo_addr`: `None` when the `$address` variable is not found or holds no
    /// address, or the client is a unix-domain socket's (nginx then looks up
    /// `255.255.255.255`).
    fn addr(&self, req: &mut Req<'_>) -> Option<IpAddr> {
        let peer = match &self.address {
            None => req.client().clone(),
            Some((name, var)) => {
                let value = req.var(name, var)?;
                let ip = std::str::from_utf8(&value).ok()?.parse::<IpAddr>().ok()?;
                Peer::Inet(SocketAddr::new(ip, 0))
            }
        };
        if self.proxies.is_empty() {
            return peer.ip();
        }
        let found = forwarded_for(&peer, &req.headers[..], &self.proxies, self.recursive);
        found.map(|a| a.ip()).or(peer.ip())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> u128 {
        u128::from(u32::from(s.parse::<std::net::Ipv4Addr>().unwrap()))
    }

    fn net(s: &str, bits: u8, v: usize) -> (u128, u128, usize) {
        interval((v4(s), bits, v), 32)
    }

    #[test]
    fn the_most_specific_network_wins() {
        let steps = Steps::flatten(
            vec![
                net("0.0.0.0", 0, 1),
                net("10.0.0.0", 8, 0),
                net("10.1.0.0", 16, 2),
                net("10.1.2.3", 32, 3),
                net("192.168.1.0", 24, 0),
            ],
            V4_MAX,
            9,
        );
        let find = |a: &str| steps.find(v4(a));
        assert_eq!(find("1.2.3.4"), 1);
        assert_eq!(find("10.0.0.0"), 0);
        assert_eq!(find("10.1.2.2"), 2);
        assert_eq!(find("10.1.2.3"), 3);
        assert_eq!(find("10.1.2.4"), 2);
        assert_eq!(find("10.2.0.0"), 0);
        assert_eq!(find("11.0.0.0"), 1);
        assert_eq!(find("192.168.1.255"), 0);
        assert_eq!(find("192.168.2.0"), 1);
        assert_eq!(find("255.255.255.255"), 1);
        // Adjacent steps with one value are merged.
        assert_eq!(steps.starts.len(), 9);
    }

    #[test]
    fn ranges_leave_gaps_to_the_default() {
        let steps = Steps::flatten(
            vec![
                (v4("1.2.3.0"), v4("1.2.3.255"), 1),
                (v4("255.0.0.0"), V4_MAX - 1, 2),
            ],
            V4_MAX,
            0,
        );
        assert_eq!(steps.find(v4("1.2.2.255")), 0);
        assert_eq!(steps.find(v4("1.2.3.7")), 1);
        assert_eq!(steps.find(v4("1.2.4.0")), 0);
        assert_eq!(steps.find(v4("255.255.255.254")), 2);
        assert_eq!(steps.find(V4_MAX), 0);
    }

    #[test]
    fn ipv6_networks_end_at_the_top_of_the_space() {
        let v6 = |s: &str| u128::from(s.parse::<std::net::Ipv6Addr>().unwrap());
        let steps = Steps::flatten(
            vec![
                interval((0, 0, 0), 128),
                interval((v6("ffff::"), 16, 1), 128),
                interval((v6("2001:db8::"), 32, 2), 128),
                interval((v6("2001:db8::1"), 128, 3), 128),
            ],
            u128::MAX,
            9,
        );
        assert_eq!(steps.find(u128::MAX), 1);
        assert_eq!(steps.find(v6("2001:db8::1")), 3);
        assert_eq!(steps.find(v6("2001:db8::2")), 2);
        assert_eq!(steps.find(v6("2001:db9::")), 0);
    }
}
