//! `geo [$address] $variable { ... }` read as `ngx_http_geo_block` reads it: line by line, in
//! file order, so that `delete`, duplicates and `ranges` behave as nginx's radix tree and range
//! blocks make them. What is left is a table of networks (or of ranges) with their values, which
//! `eval::geo` turns into a lookup.

mod ranges;

use std::collections::HashMap;
use std::net::IpAddr;

use super::realip::{Trusted, masked};
use super::{Cx, Text};
use crate::diag::{Diagnostic, Severity};
use crate::source::Span;
use crate::syntax::Directive;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geo {
    /// The variable whose value is the address (`$address`, without `$`); the client's
    /// address when absent.
    pub address: Option<Text>,
    /// The variable it defines, without `$`.
    pub variable: Text,
    pub span: Span,
    /// `proxy` entries: peers trusted to name the client in `X-Forwarded-For`.
    pub proxies: Vec<Trusted>,
    pub proxy_recursive: bool,
    /// Each value once (as nginx shares them); the table names them by index.
    pub values: Vec<String>,
    pub table: Table,
}

/// Where each address's value is, after every line was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Table {
    /// Networks `(address, bits, value)`, IPv4 ones as `u32` in a `u128`; `0.0.0.0/0` and
    /// `::/0` are always there (the `default`, else the empty value).
    Nets { v4: Vec<Net>, v6: Vec<Net> },
    /// `ranges`: disjoint `(first, last, value)` IPv4 ranges, sorted, and the default.
    Ranges {
        ranges: Vec<(u32, u32, usize)>,
        default: usize,
    },
}

/// A network of the table: its first address, its prefix length and its value.
pub type Net = (u128, u8, usize);

/// Lowers `geo [$address] $variable { ... }`.
pub fn lower(cx: &mut Cx<'_>, d: &Directive) -> Option<Geo> {
    let names: Vec<Text> = (0..d.args.len()).filter_map(|i| cx.text(d, i)).collect();
    for n in &names {
        if !n.value.starts_with('$') {
            cx.error(d, format!("invalid variable name \"{}\"", n.value));
            return None;
        }
    }
    let (address, variable) = match names.as_slice() {
        [v] => (None, v),
        [a, v] => (Some(a.clone()), v),
        _ => return None,
    };
    let address = address.map(|a| Text {
        value: a.value[1..].to_string(),
        ..a
    });
    let mut b = Builder::default();
    let tree = cx.tree;
    for c in tree.expand(d.children()) {
        b.line(cx, c);
    }
    Some(Geo {
        address,
        variable: Text {
            value: variable.value[1..].to_string(),
            ..variable.clone()
        },
        span: d.span(),
        proxies: b.proxies,
        proxy_recursive: b.proxy_recursive,
        table: match b.ranges {
            Some(r) => {
                let default = match r.default {
                    Some(v) => v,
                    None => b.values.id(""),
                };
                Table::Ranges {
                    ranges: r.blocks.flatten(),
                    default,
                }
            }
            None => {
                let empty = b.values.id("");
                let nets = |m: HashMap<(u128, u8), usize>| {
                    let mut v: Vec<Net> = m.into_iter().map(|((a, n), v)| (a, n, v)).collect();
                    if !v.iter().any(|&(_, bits, _)| bits == 0) {
                        v.push((0, 0, empty));
                    }
                    v.sort_unstable();
                    v
                };
                Table::Nets {
                    v4: nets(b.v4),
                    v6: nets(b.v6),
                }
            }
        },
        values: b.values.list,
    })
}

/// The geo block's state while its lines are read (`ngx_http_geo_conf_ctx_t`).
#[derive(Debug, Default)]
struct Builder {
    values: Values,
    /// A CIDR line was read (nginx's radix trees exist): `ranges` may no longer come.
    trees: bool,
    v4: HashMap<(u128, u8), usize>,
    v6: HashMap<(u128, u8), usize>,
    ranges: Option<ranges::Ranges>,
    proxies: Vec<Trusted>,
    proxy_recursive: bool,
}

/// Values, each stored once.
#[derive(Debug, Default)]
struct Values {
    list: Vec<String>,
    ids: HashMap<String, usize>,
}

impl Values {
    fn id(&mut self, v: &str) -> usize {
        if let Some(&i) = self.ids.get(v) {
            return i;
        }
        self.list.push(v.to_string());
        self.ids.insert(v.to_string(), self.list.len() - 1);
        self.list.len() - 1
    }
}

impl Builder {
    /// `ngx_http_geo`: one line of the block.
    fn line(&mut self, cx: &mut Cx<'_>, c: &Directive) {
        let args: Vec<&str> = c.args.iter().map(|w| w.value.as_str()).collect();
        match (c.name(), args.as_slice()) {
            ("ranges", []) if self.trees => cx.error(
                c,
                "the \"ranges\" directive must be the first directive inside \"geo\" block",
            ),
            ("ranges", []) => {
                self.ranges.get_or_insert_with(Default::default);
            }
            ("proxy_recursive", []) => self.proxy_recursive = true,
            ("proxy", [net]) => {
                if let Some((addr, bits)) = network(cx, c, net) {
                    self.proxies.push(Trusted::Net { addr, bits });
                }
            }
            (name, [value]) => match &mut self.ranges {
                Some(r) => r.line(cx, c, name, value, &mut self.values),
                None => self.cidr(cx, c, name, value),
            },
            _ => cx.error(c, "invalid number of the geo parameters"),
        }
    }

    /// `ngx_http_geo_cidr`: `default`, `delete NET` or `NET VALUE`.
    fn cidr(&mut self, cx: &mut Cx<'_>, c: &Directive, name: &str, value: &str) {
        self.trees = true;
        if name == "default" {
            let v = self.values.id(value);
            self.add(cx, c, IpAddr::from([0u8; 4]), 0, name, v);
            self.add(cx, c, IpAddr::from([0u8; 16]), 0, name, v);
            return;
        }
        let (net, delete) = match name {
            "delete" => (value, true),
            _ => (name, false),
        };
        let Some((addr, bits)) = network(cx, c, net) else {
            return;
        };
        if delete {
            let key = (bits128(addr), bits);
            let table = if addr.is_ipv4() {
                &mut self.v4
            } else {
                &mut self.v6
            };
            if table.remove(&key).is_none() {
                warn(cx, c, format!("no network \"{net}\" to delete"));
            }
            return;
        }
        let v = self.values.id(value);
        self.add(cx, c, addr, bits, net, v);
    }

    /// `ngx_http_geo_cidr_add`: a network already there takes the new value, with a warning
    /// that names the old value as nginx finds it (the most specific network of the address).
    fn add(&mut self, cx: &mut Cx<'_>, c: &Directive, addr: IpAddr, bits: u8, net: &str, v: usize) {
        let key = (bits128(addr), bits);
        let table = if addr.is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        };
        if let Some(replaced) = table.insert(key, v) {
            let width = if addr.is_ipv4() { 32 } else { 128 };
            let old = table
                .iter()
                .filter(|&(&(a, n), _)| n > bits && prefix(key.0, n, width) == a)
                .max_by_key(|&(&(_, n), _)| n)
                .map_or(replaced, |(_, &old)| old);
            let (new, old) = (&self.values.list[v], &self.values.list[old]);
            let message =
                format!("duplicate network \"{net}\", value: \"{new}\", old value: \"{old}\"");
            // nginx warns once per family for `default`: the IPv6 one is told apart (for the
            // sink, which says each message once per line) by where it points.
            let at = if addr.is_ipv4() { c.end } else { c.name.span };
            warn_at(cx, c, message, at);
        }
    }
}

/// An address as an integer (IPv4 in the low 32 bits).
fn bits128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The first `bits` of `addr`, an address `width` bits wide.
fn prefix(addr: u128, bits: u8, width: u32) -> u128 {
    let keep = u128::MAX.checked_shl(width - u32::from(bits)).unwrap_or(0);
    addr & keep
}

/// `ngx_http_geo_cidr_value`: `255.255.255.255` (which `ngx_ptocidr` cannot read), or a CIDR
/// or address as `ngx_ptocidr` reads it; address bits past the mask are dropped with nginx's
/// warning.
fn network(cx: &mut Cx<'_>, c: &Directive, net: &str) -> Option<(IpAddr, u8)> {
    if net == "255.255.255.255" {
        return Some((IpAddr::from([255u8; 4]), 32));
    }
    let (text, bits) = match net.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (net, None),
    };
    let parsed = text
        .parse::<IpAddr>()
        .ok()
        .filter(|a| *a != IpAddr::from([255u8; 4]));
    let Some(addr) = parsed else {
        cx.error(c, format!("invalid network \"{net}\""));
        return None;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        None => max,
        Some(b) => match b
            .parse::<u8>()
            .ok()
            .filter(|&n| n <= max && b.bytes().all(|c| c.is_ascii_digit()))
        {
            Some(n) => n,
            None => {
                cx.error(c, format!("invalid network \"{net}\""));
                return None;
            }
        },
    };
    let net_addr = masked(addr, bits);
    if net_addr != addr {
        warn(cx, c, format!("low address bits of {net} are meaningless"));
    }
    Some((net_addr, bits))
}

/// An nginx `[warn]` at line `c` (the configuration is still accepted).
fn warn(cx: &mut Cx<'_>, c: &Directive, message: String) {
    warn_at(cx, c, message, c.end);
}

/// [`warn`], with nginx's line taken from `at`.
fn warn_at(cx: &mut Cx<'_>, c: &Directive, message: String, at: Span) {
    let d = Diagnostic::emerg("geo::warn", message, c.span(), at);
    let mut d = d.with_severity(Severity::Warning);
    d.order = cx.tree.order_of(c);
    cx.sink.push(d);
}
