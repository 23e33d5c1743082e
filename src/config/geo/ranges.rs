//! The `ranges` form of a geo block (`1.2.3.0-1.2.3.255 value;`, IPv4 only), kept as nginx
//! keeps it: one sorted list of disjoint ranges per /16 block, so that a range splits the one it
//! falls inside, a range equal to one already there replaces its value, a partial overlap is an
//! error, and `delete` removes only a range exactly as it is stored.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::{Values, warn};
use crate::config::Cx;
use crate::syntax::Directive;

/// The ranges read so far and the default (`ngx_http_geo_high_ranges_t`).
#[derive(Debug, Default)]
pub(super) struct Ranges {
    pub(super) blocks: Blocks,
    pub(super) default: Option<usize>,
}

impl Ranges {
    /// `ngx_http_geo_range`: `default`, `delete RANGE` or `RANGE VALUE`.
    pub(super) fn line(
        &mut self,
        cx: &mut Cx<'_>,
        c: &Directive,
        name: &str,
        value: &str,
        values: &mut Values,
    ) {
        if name == "default" {
            let v = values.id(value);
            if let Some(old) = self.default {
                let old = &values.list[old];
                let message =
                    format!("duplicate default geo range value: \"{value}\", old value: \"{old}\"");
                warn(cx, c, message);
            }
            self.default = Some(v);
            return;
        }
        let (net, delete) = match name {
            "delete" => (value, true),
            _ => (name, false),
        };
        let Some((start, end)) = range(net) else {
            return cx.error(c, format!("invalid range \"{net}\""));
        };
        if delete {
            if !self.blocks.delete(start, end) {
                warn(cx, c, format!("no address range \"{net}\" to delete"));
            }
            return;
        }
        let v = values.id(value);
        match self.blocks.add(start, end, v) {
            Ok(replaced) => {
                for old in replaced {
                    let old = &values.list[old];
                    let message = format!(
                        "duplicate range \"{net}\", value: \"{value}\", old value: \"{old}\""
                    );
                    warn(cx, c, message);
                }
            }
            Err((h, s, e)) => {
                let [h1, h2] = h.to_be_bytes();
                let ([s1, s2], [e1, e2]) = (s.to_be_bytes(), e.to_be_bytes());
                cx.error(
                    c,
                    format!("range \"{net}\" overlaps \"{h1}.{h2}.{s1}.{s2}-{h1}.{h2}.{e1}.{e2}\""),
                );
            }
        }
    }
}

/// `A-B` with `A <= B`; `255.255.255.255` is not an address to `ngx_inet_addr`.
fn range(net: &str) -> Option<(u32, u32)> {
    let (a, b) = net.split_once('-')?;
    let addr = |t: &str| {
        t.parse::<Ipv4Addr>()
            .ok()
            .map(u32::from)
            .filter(|&n| n != u32::MAX)
    };
    let (a, b) = (addr(a)?, addr(b)?);
    (a <= b).then_some((a, b))
}

/// A range inside one /16 block: first and last low halves, and the value.
type Part = (u16, u16, usize);

/// The /16 blocks that hold ranges, by their high half.
#[derive(Debug, Default)]
pub(super) struct Blocks(BTreeMap<u16, Vec<Part>>);

/// Each /16 block `[start, end]` covers: `(high half, first, last)`.
fn pieces(start: u32, end: u32) -> impl Iterator<Item = (u16, u16, u16)> {
    let (first, last) = ((start >> 16) as u16, (end >> 16) as u16);
    (first..=last).map(move |h| {
        let s = if h == first { start as u16 } else { 0 };
        let e = if h == last { end as u16 } else { u16::MAX };
        (h, s, e)
    })
}

impl Blocks {
    /// `ngx_http_geo_add_range`: the old values of ranges replaced, or the stored range
    /// (block, first, last) the new one partly overlaps.
    fn add(&mut self, start: u32, end: u32, v: usize) -> Result<Vec<usize>, (u16, u16, u16)> {
        let mut replaced = Vec::new();
        for (h, s, e) in pieces(start, end) {
            let list = self.0.entry(h).or_default();
            // Searched from the last range, as nginx's list is built in growing order.
            let mut at = 0;
            for i in (0..list.len()).rev() {
                let (rs, re, rv) = list[i];
                if e < rs {
                    continue;
                }
                if s > re {
                    at = i + 1;
                } else if (s, e) == (rs, re) {
                    replaced.push(rv);
                    list[i].2 = v;
                    at = usize::MAX;
                } else if s > rs && e < re {
                    list[i].1 = s - 1;
                    list.splice(i + 1..i + 1, [(s, e, v), (e + 1, re, rv)]);
                    at = usize::MAX;
                } else if s == rs && e < re {
                    list[i].0 = e + 1;
                    list.insert(i, (s, e, v));
                    at = usize::MAX;
                } else if s > rs && e == re {
                    list[i].1 = s - 1;
                    list.insert(i + 1, (s, e, v));
                    at = usize::MAX;
                } else {
                    return Err((h, rs, re));
                }
                break;
            }
            if at != usize::MAX {
                list.insert(at, (s, e, v));
            }
        }
        Ok(replaced)
    }

    /// `ngx_http_geo_delete_range`: whether every block's part was found as stored.
    fn delete(&mut self, start: u32, end: u32) -> bool {
        let mut all = true;
        for (h, s, e) in pieces(start, end) {
            let list = self.0.entry(h).or_default();
            match list.iter().position(|&(rs, re, _)| (rs, re) == (s, e)) {
                Some(i) => {
                    list.remove(i);
                }
                None => all = false,
            }
        }
        all
    }

    /// Every range as `(first, last, value)` addresses, in order.
    pub(super) fn flatten(&self) -> Vec<(u32, u32, usize)> {
        let mut out = Vec::new();
        for (&h, list) in &self.0 {
            let high = u32::from(h) << 16;
            out.extend(
                list.iter()
                    .map(|&(s, e, v)| (high | u32::from(s), high | u32::from(e), v)),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    #[test]
    fn a_range_inside_another_splits_it() {
        let mut b = Blocks::default();
        assert_eq!(b.add(ip("10.0.0.0"), ip("10.0.0.255"), 1), Ok(vec![]));
        assert_eq!(b.add(ip("10.0.0.10"), ip("10.0.0.20"), 2), Ok(vec![]));
        assert_eq!(b.add(ip("10.0.0.0"), ip("10.0.0.5"), 3), Ok(vec![]));
        assert_eq!(b.add(ip("10.0.0.21"), ip("10.0.0.255"), 4), Ok(vec![1]));
        let got: Vec<_> = b
            .flatten()
            .iter()
            .map(|&(s, e, v)| (s & 0xff, e & 0xff, v))
            .collect();
        assert_eq!(got, [(0, 5, 3), (6, 9, 1), (10, 20, 2), (21, 255, 4)]);
        // Partial overlap: nginx names the stored range.
        assert_eq!(
            b.add(ip("10.0.0.3"), ip("10.0.0.7"), 5),
            Err((0x0a00, 6, 9))
        );
        // `delete` removes a range only as stored.
        assert!(!b.delete(ip("10.0.0.0"), ip("10.0.0.255")));
        assert!(b.delete(ip("10.0.0.10"), ip("10.0.0.20")));
    }

    #[test]
    fn ranges_across_blocks_are_cut_at_each_16() {
        let mut b = Blocks::default();
        assert_eq!(b.add(ip("1.0.255.0"), ip("1.2.0.9"), 7), Ok(vec![]));
        assert_eq!(
            b.flatten(),
            [
                (ip("1.0.255.0"), ip("1.0.255.255"), 7),
                (ip("1.1.0.0"), ip("1.1.255.255"), 7),
                (ip("1.2.0.0"), ip("1.2.0.9"), 7),
            ]
        );
        assert_eq!(range("1.2.3.4-1.2.3.3"), None);
        assert_eq!(range("1.2.3.4-255.255.255.255"), None);
        assert_eq!(range("1.2.3.4"), None);
    }
}
