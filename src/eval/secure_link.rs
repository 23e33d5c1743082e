//! `$secure_link` and `$secure_link_expires` (`ngx_http_secure_link_variable`). With
//! `secure_link` and `secure_link_md5`: the link is `HASH[,EXPIRES]`, HASH the base64url MD5
//! of the `secure_link_md5` value: `1` when it matches, `0` when it matches but EXPIRES has
//! passed, not found otherwise. With `secure_link_secret`: the request URI is
//! `/PREFIX/HEX-MD5/LINK`, and `$secure_link` is LINK when HEX-MD5 is the MD5 of LINK then
//! the secret.

use md5::{Digest as _, Md5};

use super::request::Req;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::secure_link::SecureLink;

/// A level's compiled secure_link settings.
#[derive(Debug)]
pub enum CSecureLink {
    /// `secure_link` and `secure_link_md5`.
    Md5 { link: Complex, md5: Complex },
    /// `secure_link_secret`.
    Secret(Vec<u8>),
}

/// A `secure_link` value read: the hash it carries (16 bytes, `None` when malformed) and
/// its expiry (0 for none), and the expiry's text (`$secure_link_expires`), found once the
/// expiry is a positive number, whatever the hash.
#[derive(Debug, Default, PartialEq, Eq)]
struct Link {
    hash: Option<(Vec<u8>, i64)>,
    expires: Option<Vec<u8>>,
}

impl CSecureLink {
    /// `None` when the level can judge no link (neither form, or only one of
    /// `secure_link`/`secure_link_md5`: the variable is then not found).
    pub fn compile(cx: &mut Cx<'_>, reg: &Registry, st: &SecureLink) -> Option<CSecureLink> {
        if let Some(secret) = &st.secret {
            return Some(CSecureLink::Secret(secret.as_bytes().to_vec()));
        }
        let (Some(link), Some(md5)) = (&st.variable, &st.md5) else {
            return None;
        };
        Some(CSecureLink::Md5 {
            link: Complex::compile(cx, reg, link)?,
            md5: Complex::compile(cx, reg, md5)?,
        })
    }

    /// Judges the request's link: `$secure_link`'s value, the expiry (what
    /// `$secure_link_expires` reads) given to `found_expires` before `secure_link_md5` is
    /// evaluated, as that value may name it.
    pub fn check(
        &self,
        req: &mut Req<'_>,
        found_expires: impl FnOnce(&mut Req<'_>, Option<Vec<u8>>),
    ) -> Option<Vec<u8>> {
        match self {
            CSecureLink::Secret(secret) => {
                with_secret(&req.target.unparsed, secret).map(<[u8]>::to_vec)
            }
            CSecureLink::Md5 { link, md5 } => {
                let read = read_link(&link.eval(req));
                found_expires(req, read.expires);
                let (hash, expires) = read.hash?;
                judge(&hash, expires, &md5.eval(req), super::clock::now_secs())
            }
        }
    }
}

/// Reads a `secure_link` value: `HASH[,EXPIRES]`.
fn read_link(link: &[u8]) -> Link {
    let mut read = Link::default();
    let (hash, expires) = match link.iter().position(|&c| c == b',') {
        Some(at) => {
            let text = &link[at + 1..];
            match atotm(text) {
                Some(t) if t > 0 => {
                    read.expires = Some(text.to_vec());
                    (&link[..at], t)
                }
                _ => return read,
            }
        }
        None => (link, 0),
    };
    if hash.len() <= 24 {
        read.hash = super::base64::decode(hash, super::base64::Alphabet::Url)
            .filter(|h| h.len() == 16)
            .map(|h| (h, expires));
    }
    read
}

/// `$secure_link` for a well-formed link: `1`, `0` once expired, not found when `hash` is
/// not the MD5 of `text`.
fn judge(hash: &[u8], expires: i64, text: &[u8], now: i64) -> Option<Vec<u8>> {
    if Md5::digest(text).as_slice() != hash {
        return None;
    }
    let expired = expires != 0 && expires < now;
    Some(if expired { b"0" } else { b"1" }.to_vec())
}

/// `ngx_atotm`: decimal digits only, none missing, within `time_t`.
fn atotm(text: &[u8]) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0i64, |n, &c| {
        let digit = i64::from(c.checked_sub(b'0').filter(|d| *d <= 9)?);
        n.checked_mul(10)?.checked_add(digit)
    })
}

/// The `secure_link_secret` form on the URI as the client sent it (arguments included):
/// the part after the second `/` past the first byte, when the part before it is 32 hex
/// digits of the MD5 of that part then the secret.
fn with_secret<'u>(unparsed: &'u [u8], secret: &[u8]) -> Option<&'u [u8]> {
    let rest = unparsed.get(1..)?;
    let start = rest.iter().position(|&c| c == b'/')? + 1;
    let rest = &rest[start..];
    let end = rest.iter().position(|&c| c == b'/')?;
    let (hex, link) = (&rest[..end], &rest[end + 1..]);
    if hex.len() != 32 || link.is_empty() {
        return None;
    }
    let mut md5 = Md5::new();
    md5.update(link);
    md5.update(secret);
    let hash = md5.finalize();
    let same = hex.chunks(2).zip(hash.iter()).all(|(pair, byte)| {
        std::str::from_utf8(pair)
            .ok()
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            == Some(*byte)
    });
    same.then_some(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The base64url MD5 of `text`, as a link carries it.
    fn link_hash(text: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let hash = Md5::digest(text.as_bytes());
        let mut bits = hash.iter().map(|b| format!("{b:08b}")).collect::<String>();
        while bits.len() % 6 != 0 {
            bits.push('0');
        }
        bits.as_bytes()
            .chunks(6)
            .map(|c| {
                ALPHABET[usize::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap()] as char
            })
            .collect()
    }

    #[test]
    fn md5_links_and_their_expiry() {
        let hash = link_hash("/s/a.txt secret");
        let text = b"/s/a.txt secret";
        let check = |link: String| {
            let read = read_link(link.as_bytes());
            let value = read.hash.and_then(|(h, e)| judge(&h, e, text, 1000));
            (value, read.expires)
        };
        let found = |v: &[u8]| Some(v.to_vec());
        assert_eq!(check(hash.clone()), (found(b"1"), None));
        assert_eq!(check(format!("{hash}==")).0, found(b"1"));
        assert_eq!(check(format!("{hash}=!")).0, found(b"1"));
        assert_eq!(check(format!("{hash},2000")), (found(b"1"), found(b"2000")));
        assert_eq!(check(format!("{hash},999")), (found(b"0"), found(b"999")));
        assert_eq!(
            check(format!("{}x,2000", &hash[..21])),
            (None, found(b"2000"))
        );
        for link in [
            format!("{hash},0"),
            format!("{hash},"),
            format!("{hash},1x"),
        ] {
            assert_eq!(check(link), (None, None));
        }
        assert_eq!(check(format!("{hash}AA")).0, None, "18 bytes");
        let std = hash.replace('-', "+").replace('_', "/");
        assert_eq!(check(std).0.is_some(), !hash.contains(['-', '_']));
    }

    #[test]
    fn expiries_as_ngx_atotm_reads_them() {
        assert_eq!(atotm(b"123"), Some(123));
        assert_eq!(atotm(b"99999999999999999999"), None);
        assert_eq!(atotm(b""), None);
    }

    #[test]
    fn secret_links() {
        let link = b"p/a.txt?x=1";
        let hex: String = Md5::digest([&link[..], b"s3"].concat())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let uri = format!("/prefix/{hex}/p/a.txt?x=1");
        assert_eq!(with_secret(uri.as_bytes(), b"s3"), Some(&link[..]));
        assert_eq!(with_secret(uri.as_bytes(), b"other"), None);
        assert_eq!(
            with_secret(format!("/prefix/{hex}/").as_bytes(), b"s3"),
            None
        );
        assert_eq!(with_secret(b"/", b"s3"), None);
    }
}
