//! nginx's base64 decoding (`ngx_decode_base64`, `ngx_decode_base64url`): read up to the
//! first `=` (what follows is not looked at), a length of 1 modulo 4 or a byte outside the
//! alphabet fails, leftover bits are dropped.

/// The standard alphabet (`+/`) or the URL-safe one (`-_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    Standard,
    Url,
}

pub fn decode(text: &[u8], alphabet: Alphabet) -> Option<Vec<u8>> {
    let len = text.iter().position(|&c| c == b'=').unwrap_or(text.len());
    let (c62, c63) = match alphabet {
        Alphabet::Standard => (b'+', b'/'),
        Alphabet::Url => (b'-', b'_'),
    };
    let sextet = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        _ if c == c62 => Some(62),
        _ if c == c63 => Some(63),
        _ => None,
    };
    let values = text[..len]
        .iter()
        .map(|&c| sextet(c))
        .collect::<Option<Vec<u8>>>()?;
    if len % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(len * 3 / 4);
    for chunk in values.chunks(4) {
        let v = |i: usize| chunk.get(i).copied().unwrap_or(0);
        out.push(v(0) << 2 | v(1) >> 4);
        if chunk.len() > 2 {
            out.push(v(1) << 4 | v(2) >> 2);
        }
        if chunk.len() > 3 {
            out.push(v(2) << 6 | v(3));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{Alphabet::*, decode};

    #[test]
    fn decodes_as_nginx() {
        assert_eq!(decode(b"YWJj", Url), Some(b"abc".to_vec()));
        assert_eq!(decode(b"YWI", Standard), Some(b"ab".to_vec()));
        assert_eq!(decode(b"YQ", Url), Some(b"a".to_vec()));
        assert_eq!(decode(b"Y", Url), None);
        assert_eq!(decode(b"YQ=garbage", Url), Some(b"a".to_vec()));
        assert_eq!(decode(b"Y+Q", Url), None);
        assert_eq!(decode(b"Y-Q", Standard), None);
        assert_eq!(decode(b"+/8", Standard), decode(b"-_8", Url));
    }
}
