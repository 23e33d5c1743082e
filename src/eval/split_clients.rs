//! A compiled `split_clients`: the key's value hashed with nginx's MurmurHash2, and the first
//! part whose cumulative bound lies above the hash (or the `*` part) gives the variable's
//! value; none gives the empty value. The same key lands in the same part as with nginx.

use super::request::Req;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::split_clients::SplitClients;

#[derive(Debug)]
pub struct SplitTable {
    /// The variable it defines, without `$`.
    pub name: String,
    key: Complex,
    /// (bound, value) in file order; a bound of 0 is `*`.
    parts: Vec<(u32, Vec<u8>)>,
}

impl SplitTable {
    pub fn compile(cx: &mut Cx<'_>, reg: &Registry, s: &SplitClients) -> Option<SplitTable> {
        Some(SplitTable {
            name: s.variable.value.clone(),
            key: Complex::compile(cx, reg, &s.key)?,
            parts: s
                .parts
                .iter()
                .map(|(bound, value)| (*bound, value.as_bytes().to_vec()))
                .collect(),
        })
    }

    /// The variable's value for this request (`ngx_http_split_clients_variable`).
    pub fn eval(&self, req: &mut Req<'_>) -> Vec<u8> {
        let key = self.key.eval(req);
        self.pick(murmur2(&key)).to_vec()
    }

    fn pick(&self, hash: u32) -> &[u8] {
        self.parts
            .iter()
            .find(|(bound, _)| hash < *bound || *bound == 0)
            .map_or(&[][..], |(_, value)| value)
    }
}

/// nginx's `ngx_murmur_hash2`: MurmurHash2 with seed 0, the input read as little-endian
/// 32-bit words.
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    // nginx starts from the length cut to 32 bits.
    let mut h = data.len() as u32;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        let mut k = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u32::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bounds nginx computes for `51.2% .one; 10% .two; * .three;`.
    fn table() -> SplitTable {
        let share = |p: u64| (p * u64::from(u32::MAX) / 10_000) as u32;
        SplitTable {
            name: "variant".into(),
            key: Complex::default(),
            parts: vec![
                (share(5120), b".one".to_vec()),
                (share(5120) + share(1000), b".two".to_vec()),
                (0, b".three".to_vec()),
            ],
        }
    }

    #[test]
    fn connections_one_to_twenty_split_as_nginx_splits_them() {
        // nginx-tests' split_clients.t keys on `$connection`: of 1..=20, nginx puts 12 in
        // the first part, 2 in the second and 6 in the rest.
        let t = table();
        let mut counts = [0; 3];
        for n in 1..=20 {
            let value = t.pick(murmur2(n.to_string().as_bytes()));
            let i = [&b".one"[..], b".two", b".three"]
                .iter()
                .position(|v| *v == value)
                .expect("a part");
            counts[i] += 1;
        }
        assert_eq!(counts, [12, 2, 6]);
    }

    #[test]
    fn murmur2_reads_tails_and_words() {
        // Each tail length and a whole word give distinct hashes, the empty key the seed's.
        let keys: [&[u8]; 6] = [b"", b"a", b"ab", b"abc", b"abcd", b"abcde"];
        let hashes: Vec<u32> = keys.iter().map(|k| murmur2(k)).collect();
        for (i, h) in hashes.iter().enumerate() {
            assert!(!hashes[..i].contains(h), "{:?}", keys[i]);
        }
        assert_eq!(murmur2(b""), 0);
    }

    #[test]
    fn no_part_above_the_hash_gives_the_empty_value() {
        let t = SplitTable {
            name: "v".into(),
            key: Complex::default(),
            parts: vec![(10, b"low".to_vec())],
        };
        assert_eq!(t.pick(9), b"low");
        assert_eq!(t.pick(10), b"");
    }
}
