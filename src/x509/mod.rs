//! X.509 certificates and CRLs read as far as nginx's client-certificate checks and `$ssl_client_*`
//! variables need them (RFC 5280): names, serial, validity, the extensions OpenSSL's chain
//! checks read, and the signed bytes with their signature. DER reading, no signatures:
//! `runtime::client_auth` verifies, `eval::client_cert` formats. Anything not well-formed reads
//! as `None`. Also private keys sealed with a passphrase ([`private_key`]), which the check
//! and the runtime both open.

mod der;
pub mod name;
pub mod private_key;

pub use der::Tlv;
use der::{Reader, tag};

/// One certificate, borrowed from its DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate<'a> {
    /// The whole certificate.
    pub der: &'a [u8],
    /// `tbsCertificate` as encoded: the bytes the issuer signed.
    pub tbs: &'a [u8],
    /// `serialNumber`'s contents (two's complement, big-endian).
    pub serial: &'a [u8],
    /// The issuer and subject `Name`s, each a whole DER element.
    pub issuer: &'a [u8],
    pub subject: &'a [u8],
    /// `notBefore` and `notAfter` in seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// `subjectPublicKeyInfo` whole, its algorithm's contents and the key's bits.
    pub spki: &'a [u8],
    pub key_algorithm: &'a [u8],
    pub key: &'a [u8],
    /// `signatureAlgorithm`'s contents and the signature's bits.
    pub signature_algorithm: &'a [u8],
    pub signature: &'a [u8],
    pub extensions: Extensions,
}

/// The extensions OpenSSL's verification reads (`ossl_x509v3_cache_extensions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// `basicConstraints`: `Some(cA)` when present.
    pub ca: Option<bool>,
    pub path_len: Option<u64>,
    /// `keyUsage` bits, bit 0 (`digitalSignature`) first, when present.
    pub key_usage: Option<u16>,
    /// `extKeyUsage`: `Some(lists clientAuth)` when present.
    pub client_auth: Option<bool>,
    /// A critical extension OpenSSL does not handle.
    pub unhandled_critical: bool,
    /// `authorityInfoAccess` names an OCSP responder (what `X509_get1_ocsp` reads).
    pub ocsp_responder: bool,
}

/// `keyUsage` bits as OpenSSL numbers them.
pub mod key_usage {
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    pub const KEY_AGREEMENT: u16 = 1 << 4;
    pub const KEY_CERT_SIGN: u16 = 1 << 5;
    pub const CRL_SIGN: u16 = 1 << 6;
}

/// Object identifiers' contents.
mod oid {
    pub const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
    pub const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
    pub const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
    pub const CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
    pub const AUTHORITY_INFO_ACCESS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01];
    pub const AD_OCSP: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    /// The other extensions OpenSSL handles when critical (`X509_supported_extension`).
    pub const HANDLED: &[&[u8]] = &[
        &[0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, 0x42, 0x01, 0x01], // netscape cert type
        &[0x55, 0x1d, 0x11],                                     // subjectAltName
        &[0x55, 0x1d, 0x1e],                                     // nameConstraints
        &[0x55, 0x1d, 0x20],                                     // certificatePolicies
        &[0x55, 0x1d, 0x21],                                     // policyMappings
        &[0x55, 0x1d, 0x24],                                     // policyConstraints
        &[0x55, 0x1d, 0x36],                                     // inhibitAnyPolicy
        &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x07],       // sbgp-ipAddrBlock
        &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x08],       // sbgp-autonomousSysNum
        &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x0e],       // proxyCertInfo
    ];
}

impl<'a> Certificate<'a> {
    /// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }`.
    pub fn parse(der: &'a [u8]) -> Option<Certificate<'a>> {
        let mut cert = Reader::of(der, tag::SEQUENCE)?;
        let tbs = cert.expect(tag::SEQUENCE)?;
        let signature_algorithm = cert.expect(tag::SEQUENCE)?.body;
        let signature = bits(cert.expect(tag::BIT_STRING)?)?;
        let mut t = Reader::new(tbs.body);
        t.optional(tag::context(0));
        let serial = t.expect(tag::INTEGER)?.body;
        t.expect(tag::SEQUENCE)?;
        let issuer = t.expect(tag::SEQUENCE)?.raw;
        let mut validity = Reader::new(t.expect(tag::SEQUENCE)?.body);
        let not_before = der::time(validity.next()?)?;
        let not_after = der::time(validity.next()?)?;
        let subject = t.expect(tag::SEQUENCE)?.raw;
        let spki = t.expect(tag::SEQUENCE)?;
        let mut key_info = Reader::new(spki.body);
        let key_algorithm = key_info.expect(tag::SEQUENCE)?.body;
        let key = bits(key_info.expect(tag::BIT_STRING)?)?;
        t.optional(tag::context(1));
        t.optional(tag::context(2));
        let extensions = match t.optional(tag::context(3)) {
            Some(wrapped) => extensions(wrapped)?,
            None => Extensions::default(),
        };
        Some(Certificate {
            der,
            tbs: tbs.raw,
            serial,
            issuer,
            subject,
            not_before,
            not_after,
            spki: spki.raw,
            key_algorithm,
            key,
            signature_algorithm,
            signature,
            extensions,
        })
    }

    /// Whether `self` may have issued `cert` as `X509_check_issued` sees it: names match, and
    /// a `keyUsage` allows signing certificates (the key identifiers are not compared).
    pub fn issued(&self, cert: &Certificate<'_>) -> bool {
        self.subject == cert.issuer
            && self
                .extensions
                .key_usage
                .is_none_or(|u| u & key_usage::KEY_CERT_SIGN != 0)
    }

    /// Issuer and subject are the same name (OpenSSL's "self-issued").
    pub fn self_issued(&self) -> bool {
        self.issuer == self.subject
    }
}

/// The DER of each certificate block of a PEM file, in order (the first is what
/// `PEM_read_bio_X509_AUX` reads, the rest the chain after it).
pub fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    use base64ct::Encoding;
    let mut out = Vec::new();
    let mut lines = pem.lines().map(str::trim_end);
    while let Some(line) = lines.next() {
        let label = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"));
        let Some(label @ ("CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE")) = label
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let body: String = lines.by_ref().take_while(|l| *l != end).collect();
        if let Ok(der) = base64ct::Base64::decode_vec(&body) {
            out.push(der);
        }
    }
    out
}

/// `[3] EXPLICIT SEQUENCE OF Extension`, `Extension ::= SEQUENCE { extnID, critical BOOLEAN
/// DEFAULT FALSE, extnValue OCTET STRING }`.
fn extensions(wrapped: Tlv<'_>) -> Option<Extensions> {
    let mut out = Extensions::default();
    let mut list = Reader::of(wrapped.body, tag::SEQUENCE)?;
    while !list.is_empty() {
        let mut ext = Reader::new(list.expect(tag::SEQUENCE)?.body);
        let id = ext.expect(tag::OID)?.body;
        let critical = ext
            .optional(tag::BOOLEAN)
            .is_some_and(|b| b.body.first().is_some_and(|&v| v != 0));
        let value = ext.expect(tag::OCTET_STRING)?.body;
        match id {
            oid::BASIC_CONSTRAINTS => {
                let mut bc = Reader::of(value, tag::SEQUENCE)?;
                let ca = bc
                    .optional(tag::BOOLEAN)
                    .is_some_and(|b| b.body.first().is_some_and(|&v| v != 0));
                out.ca = Some(ca);
                out.path_len = bc
                    .optional(tag::INTEGER)
                    .and_then(|n| der::unsigned(n.body));
            }
            oid::KEY_USAGE => {
                let (element, _) = der::read(value)?;
                let bits = element.body.get(1..)?;
                let first = u16::from(bits.first().copied().unwrap_or(0).reverse_bits());
                let second = u16::from(bits.get(1).copied().unwrap_or(0).reverse_bits());
                out.key_usage = Some(first | (second << 8));
            }
            oid::EXT_KEY_USAGE => {
                let mut purposes = Reader::of(value, tag::SEQUENCE)?;
                let mut client = false;
                while let Some(p) = purposes.next() {
                    client |= p.body == oid::CLIENT_AUTH;
                }
                out.client_auth = Some(client);
            }
            oid::AUTHORITY_INFO_ACCESS => {
                let mut access = Reader::of(value, tag::SEQUENCE)?;
                while let Some(description) = access.next() {
                    let method = Reader::of(description.raw, tag::SEQUENCE)?.expect(tag::OID)?;
                    out.ocsp_responder |= method.body == oid::AD_OCSP;
                }
            }
            other if critical && !oid::HANDLED.contains(&other) => out.unhandled_critical = true,
            _ => {}
        }
    }
    Some(out)
}

/// A BIT STRING's bits (after its unused-bits count).
fn bits(element: Tlv<'_>) -> Option<&[u8]> {
    element.body.get(1..)
}

/// A certificate revocation list (`CertificateList`, RFC 5280 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl<'a> {
    /// `tbsCertList` as encoded: the bytes the issuer signed.
    pub tbs: &'a [u8],
    pub issuer: &'a [u8],
    pub this_update: i64,
    pub next_update: Option<i64>,
    /// The revoked serial numbers' contents.
    pub revoked: Vec<&'a [u8]>,
    pub signature_algorithm: &'a [u8],
    pub signature: &'a [u8],
}

impl<'a> Crl<'a> {
    pub fn parse(der: &'a [u8]) -> Option<Crl<'a>> {
        let mut list = Reader::of(der, tag::SEQUENCE)?;
        let tbs = list.expect(tag::SEQUENCE)?;
        let signature_algorithm = list.expect(tag::SEQUENCE)?.body;
        let signature = bits(list.expect(tag::BIT_STRING)?)?;
        let mut t = Reader::new(tbs.body);
        t.optional(tag::INTEGER);
        t.expect(tag::SEQUENCE)?;
        let issuer = t.expect(tag::SEQUENCE)?.raw;
        let this_update = der::time(t.next()?)?;
        let next_update = match t.peek_tag() {
            Some(tag::UTC_TIME | tag::GENERALIZED_TIME) => Some(der::time(t.next()?)?),
            _ => None,
        };
        let mut revoked = Vec::new();
        if let Some(entries) = t.optional(tag::SEQUENCE) {
            let mut entries = Reader::new(entries.body);
            while !entries.is_empty() {
                let mut entry = Reader::new(entries.expect(tag::SEQUENCE)?.body);
                revoked.push(entry.expect(tag::INTEGER)?.body);
            }
        }
        Some(Crl {
            tbs: tbs.raw,
            issuer,
            this_update,
            next_update,
            revoked,
            signature_algorithm,
            signature,
        })
    }
}

#[cfg(test)]
mod tests;
