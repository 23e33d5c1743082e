//! Private keys sealed with a passphrase, opened with `ssl_password_file`'s passwords tried
//! in order as nginx tries them (`ngx_ssl_load_certificate_key`): PKCS#8
//! (`ENCRYPTED PRIVATE KEY`, PBES2 with PBKDF2 or scrypt and AES or 3DES, what OpenSSL 3
//! writes) and OpenSSL's traditional PEM encryption (`Proc-Type: 4,ENCRYPTED` with
//! `DEK-Info`, AES or 3DES in CBC mode, keyed by `EVP_BytesToKey`). The failures are worded as
//! OpenSSL 3 words them for nginx.

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use md5::{Digest, Md5};

/// A key as a rustls `PrivateKeyDer` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Pkcs8(Vec<u8>),
    /// `RSA PRIVATE KEY`.
    Pkcs1(Vec<u8>),
    /// `EC PRIVATE KEY`.
    Sec1(Vec<u8>),
}

/// Why no password opened the key: the OpenSSL errors nginx appends to
/// `PEM_read_bio_PrivateKey() failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub &'static str);

/// The first sealed key block of `pem` opened with `passwords` (the last one tried decides
/// the error, as nginx clears OpenSSL's errors between tries); `Ok(None)` when the file holds
/// no sealed key.
pub fn open(pem: &str, passwords: &[Vec<u8>]) -> Result<Option<Opened>, Failure> {
    let Some(sealed) = Sealed::find(pem) else {
        return Ok(None);
    };
    if passwords.is_empty() {
        return Err(sealed.no_password());
    }
    let mut failure = None;
    for password in passwords {
        match sealed.open(password) {
            Some(key) => return Ok(Some(key)),
            None => failure = Some(sealed.bad_password()),
        }
    }
    Err(failure.unwrap_or_else(|| sealed.bad_password()))
}

/// A sealed key block.
enum Sealed {
    Pkcs8(Vec<u8>),
    Traditional {
        label: String,
        cipher: String,
        iv: Vec<u8>,
        body: Vec<u8>,
    },
}

impl Sealed {
    fn find(pem: &str) -> Option<Sealed> {
        let mut lines = pem.lines().map(str::trim_end);
        while let Some(line) = lines.next() {
            let Some(label) = line
                .strip_prefix("-----BEGIN ")
                .and_then(|l| l.strip_suffix("-----"))
                .filter(|l| l.ends_with("PRIVATE KEY"))
            else {
                continue;
            };
            let end = format!("-----END {label}-----");
            let block: Vec<&str> = lines.by_ref().take_while(|l| *l != end).collect();
            let (headers, body): (Vec<&str>, Vec<&str>) =
                block.iter().partition(|l| l.contains(':'));
            let body = base64(&body.concat())?;
            if label == "ENCRYPTED PRIVATE KEY" {
                return Some(Sealed::Pkcs8(body));
            }
            if !headers.contains(&"Proc-Type: 4,ENCRYPTED") {
                return None;
            }
            let dek = headers.iter().find_map(|h| h.strip_prefix("DEK-Info: "))?;
            let (cipher, iv) = dek.split_once(',')?;
            return Some(Sealed::Traditional {
                label: label.to_string(),
                cipher: cipher.to_string(),
                iv: hex(iv)?,
                body,
            });
        }
        None
    }

    fn open(&self, password: &[u8]) -> Option<Opened> {
        match self {
            Sealed::Pkcs8(der) => {
                let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).ok()?;
                let opened = info.decrypt(password).ok()?;
                Some(Opened::Pkcs8(opened.as_bytes().to_vec()))
            }
            Sealed::Traditional {
                label,
                cipher,
                iv,
                body,
            } => {
                let der = traditional(cipher, iv, body, password)?;
                Some(match label.as_str() {
                    "RSA PRIVATE KEY" => Opened::Pkcs1(der),
                    "EC PRIVATE KEY" => Opened::Sec1(der),
                    _ => Opened::Pkcs8(der),
                })
            }
        }
    }

    fn no_password(&self) -> Failure {
        Failure(match self {
            Sealed::Pkcs8(_) => {
                "SSL: error:1400006B:UI routines::processing error:while reading strings error:0480006D:PEM routines::problems getting password error:07880109:common libcrypto routines::interrupted or cancelled error:07880109:common libcrypto routines::interrupted or cancelled error:1C80009F:Provider routines::unable to get passphrase error:1400006B:UI routines::processing error:while reading strings error:0480006D:PEM routines::problems getting password error:07880109:common libcrypto routines::interrupted or cancelled error:04800068:PEM routines::bad password read"
            }
            Sealed::Traditional { .. } => {
                "SSL: error:1400006B:UI routines::processing error:while reading strings error:0480006D:PEM routines::problems getting password error:07880109:common libcrypto routines::interrupted or cancelled error:07880109:common libcrypto routines::interrupted or cancelled error:04800068:PEM routines::bad password read"
            }
        })
    }

    fn bad_password(&self) -> Failure {
        Failure(match self {
            Sealed::Pkcs8(_) => {
                "SSL: error:1C800064:Provider routines::bad decrypt error:11800074:PKCS12 routines::pkcs12 cipherfinal error:maybe wrong password error:1C800064:Provider routines::bad decrypt error:11800074:PKCS12 routines::pkcs12 cipherfinal error:maybe wrong password"
            }
            Sealed::Traditional { .. } => {
                "SSL: error:1C800064:Provider routines::bad decrypt error:04800065:PEM routines::bad decrypt"
            }
        })
    }
}

/// OpenSSL's traditional encryption: the key is `EVP_BytesToKey(MD5, password, salt = the
/// IV's first 8 bytes, 1 round)`, the body CBC with PKCS#7 padding.
fn traditional(cipher: &str, iv: &[u8], body: &[u8], password: &[u8]) -> Option<Vec<u8>> {
    let key_len = match cipher {
        "AES-128-CBC" => 16,
        "AES-192-CBC" => 24,
        "AES-256-CBC" => 32,
        "DES-EDE3-CBC" => 24,
        _ => return None,
    };
    let key = bytes_to_key(password, iv.get(..8)?, key_len);
    let mut buf = body.to_vec();
    let plain = match cipher {
        "AES-128-CBC" => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, iv)
            .ok()?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .ok()?,
        "AES-192-CBC" => cbc::Decryptor::<aes::Aes192>::new_from_slices(&key, iv)
            .ok()?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .ok()?,
        "AES-256-CBC" => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, iv)
            .ok()?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .ok()?,
        _ => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, iv)
            .ok()?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .ok()?,
    };
    // A wrong password that happens to leave valid padding is caught here.
    super::der::read(plain).filter(|(k, rest)| k.tag == 0x30 && rest.is_empty())?;
    Some(plain.to_vec())
}

/// `EVP_BytesToKey` with MD5 and one round: D_i = MD5(D_{i-1} || password || salt).
fn bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(len + 16);
    let mut previous: Vec<u8> = Vec::new();
    while key.len() < len {
        let mut md5 = Md5::new();
        md5.update(&previous);
        md5.update(password);
        md5.update(salt);
        previous = md5.finalize().to_vec();
        key.extend_from_slice(&previous);
    }
    key.truncate(len);
    key
}

fn base64(text: &str) -> Option<Vec<u8>> {
    use base64ct::Encoding;
    base64ct::Base64::decode_vec(text).ok()
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evp_bytes_to_key_matches_openssl() {
        // `openssl enc -aes-256-cbc -k secret -S 0102030405060708 -P -md md5`
        let key = bytes_to_key(b"secret", &[1, 2, 3, 4, 5, 6, 7, 8], 32);
        let shown: String = key.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(
            shown,
            "C9E5A1BD216DBE1317E230CEF48F38EE7F0E17AD64022144BCCEC4A1AA2879AB"
        );
    }

    const PKCS8: &str = include_str!("../../tests/data/sealed/pkcs8.key");
    const TRADITIONAL: &str = include_str!("../../tests/data/sealed/traditional.key");

    #[test]
    fn sealed_keys_open_with_the_right_password_whichever_comes_first() {
        let passwords = [b"wrong".to_vec(), b"secret".to_vec()];
        let Ok(Some(Opened::Pkcs8(pkcs8))) = open(PKCS8, &passwords) else {
            panic!("PKCS#8 opens");
        };
        let Ok(Some(Opened::Sec1(sec1))) = open(TRADITIONAL, &passwords) else {
            panic!("traditional opens");
        };
        // Both are the same P-256 key.
        assert!(pkcs8.windows(32).any(|w| sec1.windows(32).any(|v| v == w)));
        let wrong = [b"wrong".to_vec()];
        assert_eq!(
            open(PKCS8, &wrong),
            Err(Sealed::find(PKCS8).expect("sealed").bad_password())
        );
        let Err(Failure(why)) = open(TRADITIONAL, &wrong) else {
            panic!("wrong password");
        };
        assert!(why.ends_with("PEM routines::bad decrypt"), "{why}");
        let Err(Failure(why)) = open(TRADITIONAL, &[]) else {
            panic!("no password");
        };
        assert!(why.ends_with("bad password read"), "{why}");
    }

    #[test]
    fn plain_keys_are_not_sealed() {
        let pem =
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        assert_eq!(open(pem, &[]), Ok(None));
    }
}
