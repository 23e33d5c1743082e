//! Password checks as nginx's `ngx_crypt` makes them for `auth_basic_user_file`: its own
//! `$apr1$`, `{PLAIN}`, `{SHA}` and `{SSHA}`, and what Debian's libc `crypt()` adds (`$1$`,
//! `$5$`, `$6$`, bcrypt's `$2a$`/`$2b$`/`$2y$`, and traditional DES crypt). Each scheme
//! recomputes the stored string from the given password, so a match means the same bytes,
//! as nginx's `strcmp` decides.

use md5::{Digest as _, Md5};
use sha_crypt::{PasswordHashRef, PasswordVerifier as _, ShaCrypt};
use sha1::Sha1;

/// How a password compared with the stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Match,
    Mismatch,
    /// A scheme ngxr does not compute (yescrypt, scrypt...): nginx would hand it to libc,
    /// ngxr answers 500 rather than guess.
    Unsupported,
}

/// Compares `key` (the client's password) with `stored` (the file's field). Both stop at a
/// NUL byte, as the C strings nginx compares do.
pub fn verify(key: &[u8], stored: &[u8]) -> Verdict {
    let key = until_nul(key);
    let stored = until_nul(stored);
    let same = |computed: Vec<u8>| {
        if computed == stored {
            Verdict::Match
        } else {
            Verdict::Mismatch
        }
    };
    if let Some(rest) = stored.strip_prefix(b"$apr1$") {
        same(md5_crypt(key, b"$apr1$", rest))
    } else if stored.starts_with(b"{PLAIN}") {
        same([b"{PLAIN}".as_slice(), key].concat())
    } else if let Some(rest) = stored.strip_prefix(b"{SSHA}") {
        same(ssha(key, rest))
    } else if stored.starts_with(b"{SHA}") {
        let mut out = b"{SHA}".to_vec();
        out.extend(base64_encode(&Sha1::digest(key)));
        same(out)
    } else if let Some(rest) = stored.strip_prefix(b"$1$") {
        same(md5_crypt(key, b"$1$", rest))
    } else if stored.starts_with(b"$5$") || stored.starts_with(b"$6$") {
        let Some(hash) = std::str::from_utf8(stored)
            .ok()
            .and_then(|s| PasswordHashRef::new(s).ok())
        else {
            return Verdict::Mismatch;
        };
        match ShaCrypt::default().verify_password(key, hash) {
            Ok(()) => Verdict::Match,
            Err(_) => Verdict::Mismatch,
        }
    } else if stored.starts_with(b"$2") {
        verdict(std::str::from_utf8(stored).is_ok_and(|s| pwhash::bcrypt::verify(key, s)))
    } else if is_des(stored) {
        verdict(std::str::from_utf8(stored).is_ok_and(|s| pwhash::unix_crypt::verify(key, s)))
    } else {
        Verdict::Unsupported
    }
}

fn verdict(matched: bool) -> Verdict {
    if matched {
        Verdict::Match
    } else {
        Verdict::Mismatch
    }
}

/// Traditional crypt: a two-character salt and eleven of hash, all from crypt's alphabet.
fn is_des(stored: &[u8]) -> bool {
    stored.len() == 13
        && stored
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'.' || c == b'/')
}

fn until_nul(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| b == 0).map_or(s, |i| &s[..i])
}

/// `{SSHA}`: base64 of SHA-1(key, salt) followed by the salt, the salt being what the stored
/// value decodes to past its first 20 bytes (none when it does not decode).
fn ssha(key: &[u8], encoded: &[u8]) -> Vec<u8> {
    let salt = super::headers::base64_decode(encoded)
        .filter(|d| d.len() >= 20)
        .map(|d| d[20..].to_vec())
        .unwrap_or_default();
    let mut h = Sha1::new();
    h.update(key);
    h.update(&salt);
    let mut raw = h.finalize().to_vec();
    raw.extend(salt);
    let mut out = b"{SSHA}".to_vec();
    out.extend(base64_encode(&raw));
    out
}

/// The MD5-based crypt (`$1$` in libc, `$apr1$` in Apache and nginx, which differ only in
/// the magic). `rest` is what follows the magic: up to 8 bytes of salt before any `$`.
fn md5_crypt(key: &[u8], magic: &[u8], rest: &[u8]) -> Vec<u8> {
    let end = rest.iter().take(8).position(|&b| b == b'$');
    let salt = &rest[..end.unwrap_or(rest.len().min(8))];

    let alternate = Md5::new()
        .chain_update(key)
        .chain_update(salt)
        .chain_update(key)
        .finalize();
    let mut ctx = Md5::new()
        .chain_update(key)
        .chain_update(magic)
        .chain_update(salt);
    for chunk in key.chunks(16) {
        ctx.update(&alternate[..chunk.len()]);
    }
    let mut n = key.len();
    while n > 0 {
        if n & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&key[..1]);
        }
        n >>= 1;
    }
    let mut sum = ctx.finalize();
    // The thousand rounds that make guessing slow.
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(key);
        } else {
            c.update(sum);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(key);
        }
        if round & 1 == 1 {
            c.update(sum);
        } else {
            c.update(key);
        }
        sum = c.finalize();
    }

    let mut out = [magic, salt, b"$"].concat();
    let groups = [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)];
    for (a, b, c) in groups {
        let v = (u32::from(sum[a]) << 16) | (u32::from(sum[b]) << 8) | u32::from(sum[c]);
        crypt64(&mut out, v, 4);
    }
    crypt64(&mut out, u32::from(sum[11]), 2);
    out
}

/// crypt's own base-64 alphabet, least significant six bits first.
fn crypt64(out: &mut Vec<u8>, mut v: u32, n: usize) {
    const ALPHABET: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for _ in 0..n {
        out.push(ALPHABET[(v & 0x3f) as usize]);
        v >>= 6;
    }
}

/// Standard base64 with padding (`ngx_encode_base64`).
pub(super) fn base64_encode(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            n |= u32::from(*b) << (16 - 8 * i);
        }
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each from `openssl passwd -<scheme> -salt sAlt1234 secret` (OpenSSL 3).
    const APR1: &str = "$apr1$sAlt1234$87YgbVWVomhbKy3dFiKZj/";
    const MD5: &str = "$1$sAlt1234$iesmOjlbKwyYUs6T.1G.L.";
    const SHA256: &str = "$5$sAlt1234$1jOI5FL9PEPeyh7S8p2I3rceReFFG2E36rzLNT8JIzA";
    const SHA512: &str = "$6$sAlt1234$e5dxWLmx09eaI08bZ.T2gh1w7ZI32L1EIwxkTZV.J5dOf6XIY6jmupME3RN2mgnl7Ho9p3S6zFSmz.8N0fxdI/";
    /// `openssl passwd -5 -salt longersaltthan16chars secret`: the salt is cut at 16.
    const SHA256_LONG: &str = "$5$longersaltthan16$AsU43Z0xs/Jvs8p0Bz6vgUwlG3W0Y8.SsuChso30V19";
    /// `printf secret | openssl sha1 -binary | base64`.
    const SHA: &str = "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=";
    /// SHA-1 of `secretSALT`, then `SALT`, in base64.
    const SSHA: &str = "{SSHA}8bX4JQDfZqtTfvnQ4ssDmWb17/FTQUxU";

    fn check(stored: &str) {
        assert_eq!(
            verify(b"secret", stored.as_bytes()),
            Verdict::Match,
            "{stored}"
        );
        assert_eq!(
            verify(b"Secret", stored.as_bytes()),
            Verdict::Mismatch,
            "{stored}"
        );
    }

    #[test]
    fn apr1() {
        check(APR1);
    }

    #[test]
    fn md5_crypt_of_libc() {
        check(MD5);
    }

    #[test]
    fn sha256_and_sha512_crypt() {
        check(SHA256);
        check(SHA256_LONG);
        check(SHA512);
    }

    #[test]
    fn libc_schemes_bcrypt_and_des() {
        // Computed by Debian's libc `crypt()` (Perl's `crypt`), which nginx calls.
        check("$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a");
        check("$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a");
        check("saHW9GdxihkGQ");
    }

    #[test]
    fn plain_sha_and_ssha() {
        check("{PLAIN}secret");
        check(SHA);
        check(SSHA);
    }

    #[test]
    fn passwords_stop_at_nul_and_unknown_schemes_are_not_guessed() {
        assert_eq!(verify(b"secret\0x", b"{PLAIN}secret"), Verdict::Match);
        assert_eq!(
            verify(
                b"secret",
                b"$y$j9T$abcdefghijklmnopqrstu$abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"
            ),
            Verdict::Unsupported
        );
        assert_eq!(verify(b"secret", b"$6$broken"), Verdict::Mismatch);
    }
}
