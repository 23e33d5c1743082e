//! Client certificates at request time. The handshake asked for a certificate as the server
//! SNI chose says; the request's own server (the one its `Host` chose) decides what the
//! verdict means: nginx answers its 400 pages "The SSL certificate error" (495) and "No
//! required SSL certificate was sent" (496) rather than failing the handshake
//! (`ngx_http_process_request`), and a `Host` other than the negotiated name is refused with
//! 421 when that server checks certificates (`ngx_http_set_virtual_server`). The
//! `$ssl_client_*` variables print the certificate as OpenSSL does.

use sha1::{Digest, Sha1};

use super::plan::{ClientCert, ErrorLine, RequestInfo, VerifyError};
use super::site::CServer;
use crate::config::ssl::VerifyClient;
use crate::x509::{Certificate, name};

/// nginx's code for a certificate that did not verify (a 400 with its own page).
const CERT_ERROR: u16 = 495;
/// nginx's code for a certificate `ssl_verify_client on` needs and did not get.
const NO_CERT: u16 = 496;
/// The failures `optional_no_ca` lets through (`ngx_ssl_verify_error_optional`): the
/// issuer is unknown, not the certificate wrong.
fn optional(e: &VerifyError) -> bool {
    matches!(e.code, 18 | 19 | 20 | 21 | 27)
}

/// `ngx_http_process_request`'s check of the client certificate for the request's server:
/// the status to finalize the request with and the `[info]` line, or `None` to go on.
pub fn refusal(server: &CServer, info: &RequestInfo<'_>) -> Option<(u16, ErrorLine)> {
    if !info.tls || server.verify_client == VerifyClient::Off {
        return None;
    }
    let cert = info.client_cert;
    if let Some(e) = cert.and_then(|c| c.error)
        && (server.verify_client != VerifyClient::OptionalNoCa || !optional(&e))
    {
        let line = format!(
            "client SSL certificate verify error: ({}:{}) while reading client request headers",
            e.code, e.text
        );
        return Some((CERT_ERROR, ErrorLine::info(line)));
    }
    if server.verify_client == VerifyClient::On && cert.is_none() {
        let line = "client sent no required SSL certificate while reading client request headers";
        return Some((NO_CERT, ErrorLine::info(line.to_string())));
    }
    None
}

/// The `[info]` line of a request refused with 421: a `Host` naming another server than the
/// one SNI chose, where that server (or the default one) checks certificates.
pub const MISDIRECTED: &str = "client attempted to request the server name different from the one that was negotiated while reading client request headers";

/// A `$ssl_client_*` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientVar {
    /// `SUCCESS`, `FAILED:reason` or `NONE`.
    Verify,
    /// Subject and issuer, RFC 2253 (`_legacy`: `X509_NAME_oneline`).
    SubjectDn,
    IssuerDn,
    SubjectDnLegacy,
    IssuerDnLegacy,
    /// The serial number in upper-case hex.
    Serial,
    /// SHA-1 of the DER in lower-case hex.
    Fingerprint,
    /// PEM; `Cert` with a tab after each line break but the last (for a header value);
    /// `EscapedCert` URL-encoded.
    Cert,
    RawCert,
    EscapedCert,
    /// The validity's start and end (`ASN1_TIME_print`), and the days left.
    ValidFrom,
    ValidTo,
    ValidRemain,
}

impl ClientVar {
    pub fn named(name: &str) -> Option<ClientVar> {
        Some(match name {
            "ssl_client_verify" => ClientVar::Verify,
            "ssl_client_s_dn" => ClientVar::SubjectDn,
            "ssl_client_i_dn" => ClientVar::IssuerDn,
            "ssl_client_s_dn_legacy" => ClientVar::SubjectDnLegacy,
            "ssl_client_i_dn_legacy" => ClientVar::IssuerDnLegacy,
            "ssl_client_serial" => ClientVar::Serial,
            "ssl_client_fingerprint" => ClientVar::Fingerprint,
            "ssl_client_cert" => ClientVar::Cert,
            "ssl_client_raw_cert" => ClientVar::RawCert,
            "ssl_client_escaped_cert" => ClientVar::EscapedCert,
            "ssl_client_v_start" => ClientVar::ValidFrom,
            "ssl_client_v_end" => ClientVar::ValidTo,
            "ssl_client_v_remain" => ClientVar::ValidRemain,
            _ => return None,
        })
    }

    /// The value on a TLS connection (`cert`: what the client sent, if asked); `now` in
    /// seconds since the epoch.
    pub fn value(self, cert: Option<&ClientCert>, now: i64) -> Vec<u8> {
        let Some(cert) = cert else {
            return match self {
                ClientVar::Verify => b"NONE".to_vec(),
                _ => Vec::new(),
            };
        };
        if self == ClientVar::Verify {
            return match cert.error {
                None => b"SUCCESS".to_vec(),
                Some(e) => format!("FAILED:{}", e.text).into_bytes(),
            };
        }
        if matches!(self, ClientVar::Fingerprint) {
            return hex(&Sha1::digest(&cert.der), b"0123456789abcdef").into_bytes();
        }
        if matches!(
            self,
            ClientVar::Cert | ClientVar::RawCert | ClientVar::EscapedCert
        ) {
            return pem_variable(self, &cert.der);
        }
        let Some(c) = Certificate::parse(&cert.der) else {
            return Vec::new();
        };
        let text = match self {
            ClientVar::SubjectDn => name::rfc2253(c.subject),
            ClientVar::IssuerDn => name::rfc2253(c.issuer),
            ClientVar::SubjectDnLegacy => name::oneline(c.subject),
            ClientVar::IssuerDnLegacy => name::oneline(c.issuer),
            ClientVar::Serial => serial(c.serial),
            ClientVar::ValidFrom => super::clock::asn1_time(c.not_before),
            ClientVar::ValidTo => super::clock::asn1_time(c.not_after),
            ClientVar::ValidRemain if c.not_after < now.saturating_add(86_400) => "0".into(),
            ClientVar::ValidRemain => ((c.not_after - now) / 86_400).to_string(),
            _ => String::new(),
        };
        text.into_bytes()
    }
}

/// `PEM_write_bio_X509`'s text, and nginx's two variations on it.
fn pem_variable(var: ClientVar, der: &[u8]) -> Vec<u8> {
    let mut pem = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    for line in super::crypt::base64_encode(der).chunks(64) {
        pem.extend_from_slice(line);
        pem.push(b'\n');
    }
    pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    match var {
        // `ngx_ssl_get_certificate`: the last line break dropped, a tab after the others.
        ClientVar::Cert => {
            pem.pop();
            let mut out = Vec::with_capacity(pem.len() + 32);
            for b in pem {
                out.push(b);
                if b == b'\n' {
                    out.push(b'\t');
                }
            }
            out
        }
        ClientVar::EscapedCert => super::uri::escape_component(&pem),
        _ => pem,
    }
}

/// `i2a_ASN1_INTEGER`: the magnitude in upper-case hex (`-` first when negative, `00` for
/// none), a line continuation every 35 bytes.
fn serial(contents: &[u8]) -> String {
    let negative = contents.first().is_some_and(|&b| b & 0x80 != 0);
    let magnitude: Vec<u8> = if negative {
        // Two's complement back to the magnitude.
        let mut m: Vec<u8> = contents.iter().map(|b| !b).collect();
        for b in m.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
        m
    } else {
        contents.to_vec()
    };
    let start = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let digits = &magnitude[start..];
    let mut out = String::from(if negative { "-" } else { "" });
    if digits.is_empty() {
        out.push_str("00");
    }
    for (i, chunk) in digits.chunks(35).enumerate() {
        if i > 0 {
            out.push_str("\\\n");
        }
        out.push_str(&hex(chunk, b"0123456789ABCDEF"));
    }
    out
}

fn hex(bytes: &[u8], digits: &[u8; 16]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(digits[usize::from(b >> 4)]));
        out.push(char::from(digits[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_print_as_i2a_asn1_integer() {
        assert_eq!(serial(&[0x10, 0x00]), "1000");
        assert_eq!(serial(&[0x00, 0xff, 0x01, 0x02]), "FF0102");
        assert_eq!(serial(&[0x00]), "00");
        assert_eq!(serial(&[0xff]), "-01");
        assert_eq!(serial(&[0xff, 0x00]), "-0100");
        assert_eq!(serial(&[0x01; 36]).matches("\\\n").count(), 1);
    }

    #[test]
    fn the_certificate_variables_are_pem_three_ways() {
        let cert = ClientCert {
            der: vec![0x30; 60],
            error: None,
        };
        let raw = String::from_utf8(ClientVar::RawCert.value(Some(&cert), 0)).expect("utf8");
        assert!(raw.starts_with("-----BEGIN CERTIFICATE-----\nMDAw"));
        assert!(raw.ends_with("\n-----END CERTIFICATE-----\n"));
        assert_eq!(raw.lines().nth(1).map(str::len), Some(64));
        let tabbed = String::from_utf8(ClientVar::Cert.value(Some(&cert), 0)).expect("utf8");
        assert_eq!(tabbed, raw.trim_end().replace('\n', "\n\t"));
        let escaped = ClientVar::EscapedCert.value(Some(&cert), 0);
        assert!(escaped.starts_with(b"-----BEGIN%20CERTIFICATE-----%0AMDAw"));
        assert_eq!(ClientVar::Verify.value(Some(&cert), 0), b"SUCCESS");
        assert_eq!(ClientVar::Verify.value(None, 0), b"NONE");
        assert_eq!(ClientVar::SubjectDn.value(None, 0), b"");
        let failed = ClientCert {
            error: Some(VerifyError {
                code: 18,
                text: "self-signed certificate",
            }),
            ..cert
        };
        assert_eq!(
            ClientVar::Verify.value(Some(&failed), 0),
            b"FAILED:self-signed certificate"
        );
        assert_eq!(
            ClientVar::Fingerprint.value(Some(&failed), 0).len(),
            40,
            "sha1 in hex"
        );
    }
}
