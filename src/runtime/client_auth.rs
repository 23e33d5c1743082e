//! Client certificates as nginx has OpenSSL ask for them (`ssl_verify_client`): the handshake
//! asks for a certificate and names the subjects of `ssl_client_certificate`, accepts any
//! certificate whose key signed the handshake, and never fails for the chain itself (nginx's
//! verify callback lets OpenSSL go on). The chain is then checked here as OpenSSL 3 checks it
//! ([`Store::verify`]), and the request decides what a failure means (nginx's 400 pages).
//!
//! OpenSSL reports the last problem it met, in its order: building the chain (trusted
//! certificates first, at most `ssl_verify_depth` intermediates), the chain's extensions
//! (CA flags, the client purpose, path lengths), CRLs when `ssl_crl` is set (every
//! certificate, the root included), then signatures and validity from the root down.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::signatures::Signatures;
use crate::eval::plan::{ClientAuth, ClientCert, VerifyError};
use crate::x509::{Certificate, Crl, key_usage};

/// OpenSSL's `X509_V_ERR_*` codes that can come out of [`Store::verify`], with OpenSSL 3's
/// words for them.
mod code {
    use super::VerifyError;

    const fn e(code: u32, text: &'static str) -> VerifyError {
        VerifyError { code, text }
    }
    pub const ISSUER: VerifyError = e(2, "unable to get issuer certificate");
    pub const NO_CRL: VerifyError = e(3, "unable to get certificate CRL");
    pub const SIGNATURE: VerifyError = e(7, "certificate signature failure");
    pub const CRL_SIGNATURE: VerifyError = e(8, "CRL signature failure");
    pub const NOT_YET_VALID: VerifyError = e(9, "certificate is not yet valid");
    pub const EXPIRED: VerifyError = e(10, "certificate has expired");
    pub const CRL_NOT_YET_VALID: VerifyError = e(11, "CRL is not yet valid");
    pub const CRL_EXPIRED: VerifyError = e(12, "CRL has expired");
    pub const SELF_SIGNED: VerifyError = e(18, "self-signed certificate");
    pub const SELF_SIGNED_IN_CHAIN: VerifyError =
        e(19, "self-signed certificate in certificate chain");
    pub const LOCAL_ISSUER: VerifyError = e(20, "unable to get local issuer certificate");
    pub const FIRST: VerifyError = e(21, "unable to verify the first certificate");
    pub const REVOKED: VerifyError = e(23, "certificate revoked");
    pub const INVALID_CA: VerifyError = e(24, "invalid CA certificate");
    pub const PATH_LENGTH: VerifyError = e(25, "path length constraint exceeded");
    pub const PURPOSE: VerifyError = e(26, "unsupported certificate purpose");
    pub const NO_CERT_SIGN: VerifyError = e(32, "key usage does not include certificate signing");
    pub const CRITICAL: VerifyError = e(34, "unhandled critical extension");
    pub const NO_CRL_SIGN: VerifyError = e(35, "key usage does not include CRL signing");
    /// Not a certificate OpenSSL could read.
    pub const UNSPECIFIED: VerifyError = e(1, "unspecified certificate verification error");
}

/// One server's trusted certificates and CRLs, as its `SSL_CTX` store holds them.
pub struct Store {
    /// `ssl_client_certificate`, `ssl_trusted_certificate` and the certificates an `ssl_crl`
    /// file holds (OpenSSL loads both kinds from each), DER.
    trusted: Vec<Vec<u8>>,
    /// `Some` with `ssl_crl`: every certificate of a chain needs a CRL then.
    crls: Option<Vec<Vec<u8>>>,
    depth: u32,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("trusted", &self.trusted.len())
            .field("crls", &self.crls.as_ref().map(Vec::len))
            .field("depth", &self.depth)
            .finish()
    }
}

/// A link of the chain being built, and whether it came from the trusted store.
#[derive(Clone)]
struct Link<'a> {
    cert: Certificate<'a>,
    trusted: bool,
}

impl Store {
    /// Reads the files of `spec`; the error is nginx's wording for a file it could not load.
    /// Also gives the names to send (`SSL_load_client_CA_file`: each subject once).
    pub fn load(
        spec: &ClientAuth,
        algorithms: WebPkiSupportedAlgorithms,
    ) -> Result<(Store, Vec<DistinguishedName>), String> {
        let certificates = |path: &std::path::Path| -> Result<Vec<Vec<u8>>, String> {
            CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map(|certs| certs.into_iter().map(|c| c.to_vec()).collect())
                .map_err(|e| {
                    format!(
                        "SSL_CTX_load_verify_locations(\"{}\") failed ({e})",
                        path.display()
                    )
                })
        };
        let mut trusted = Vec::new();
        let mut names: Vec<DistinguishedName> = Vec::new();
        if let Some(path) = &spec.client_certificate {
            for der in certificates(path)? {
                if let Some(cert) = Certificate::parse(&der)
                    && !names.iter().any(|n| n.as_ref() == cert.subject)
                {
                    names.push(DistinguishedName::from(cert.subject.to_vec()));
                }
                trusted.push(der);
            }
        }
        if let Some(path) = &spec.trusted_certificate {
            trusted.extend(certificates(path)?);
        }
        let crls = match &spec.crl {
            Some(path) => {
                let failed = |e: &dyn fmt::Display| {
                    format!("X509_LOOKUP_load_file(\"{}\") failed ({e})", path.display())
                };
                let crls = CertificateRevocationListDer::pem_file_iter(path)
                    .and_then(|crls| crls.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| failed(&e))?;
                trusted.extend(certificates(path).unwrap_or_default());
                Some(crls.into_iter().map(|c| c.to_vec()).collect())
            }
            None => None,
        };
        let store = Store {
            trusted,
            crls,
            depth: spec.depth,
            algorithms,
        };
        Ok((store, names))
    }

    /// The verdict on `chain` (the client's certificate first) at `now` (seconds since the
    /// epoch): `None` for `X509_V_OK`, else the last problem OpenSSL would have met.
    pub fn verify(&self, chain: &[CertificateDer<'_>], now: i64) -> Option<VerifyError> {
        let Some(leaf) = chain.first().and_then(|c| Certificate::parse(c)) else {
            return Some(code::UNSPECIFIED);
        };
        let sent: Vec<Certificate<'_>> = chain[1..]
            .iter()
            .filter_map(|c| Certificate::parse(c))
            .collect();
        let trusted: Vec<Certificate<'_>> = self
            .trusted
            .iter()
            .filter_map(|c| Certificate::parse(c))
            .collect();
        let (path, anchored) = self.build(leaf, &sent, &trusted, now);
        let mut last = None;
        let mut report = |e: VerifyError| last = Some(e);
        if !anchored {
            report(untrusted_error(&path));
        }
        extensions(&path, &mut report);
        if let Some(crls) = &self.crls {
            self.revocation(&path, crls, now, &mut report);
        }
        self.signatures_and_times(&path, now, &mut report);
        last
    }

    /// `build_chain`: from the client's certificate up, each issuer looked for among the
    /// trusted certificates first, then among those the client sent, until a self-issued
    /// certificate or `depth` intermediates; anchored when it ends in a trusted self-issued one.
    fn build<'c>(
        &self,
        leaf: Certificate<'c>,
        sent: &[Certificate<'c>],
        trusted: &[Certificate<'c>],
        now: i64,
    ) -> (Vec<Link<'c>>, bool) {
        let limit = usize::try_from(self.depth)
            .unwrap_or(usize::MAX)
            .saturating_add(2);
        let mut path = vec![Link {
            cert: leaf,
            trusted: false,
        }];
        loop {
            let Some(top) = path.last().map(|l| l.cert.clone()) else {
                return (path, false);
            };
            if top.self_issued() {
                let anchored = trusted.iter().any(|t| t.der == top.der);
                return (path, anchored);
            }
            if path.len() >= limit {
                return (path, false);
            }
            let unused = |c: &&Certificate<'c>| !path.iter().any(|l| l.cert.der == c.der);
            let issuer = best_issuer(trusted.iter().filter(unused), &top, now)
                .map(|c| (c, true))
                .or_else(|| best_issuer(sent.iter().filter(unused), &top, now).map(|c| (c, false)));
            match issuer {
                Some((cert, trusted)) => path.push(Link {
                    cert: cert.clone(),
                    trusted,
                }),
                None => return (path, false),
            }
        }
    }

    /// `check_revocation` with `X509_V_FLAG_CRL_CHECK_ALL`: each certificate needs a CRL from
    /// its issuer, signed by it, current, that does not list it.
    fn revocation(
        &self,
        path: &[Link<'_>],
        crls: &[Vec<u8>],
        now: i64,
        report: &mut impl FnMut(VerifyError),
    ) {
        let crls: Vec<Crl<'_>> = crls.iter().filter_map(|c| Crl::parse(c)).collect();
        for (i, link) in path.iter().enumerate() {
            let cert = &link.cert;
            let issuer = path
                .get(i + 1)
                .map(|l| &l.cert)
                .or_else(|| cert.self_issued().then_some(cert));
            let candidates: Vec<&Crl<'_>> =
                crls.iter().filter(|c| c.issuer == cert.issuer).collect();
            let current =
                |c: &&&Crl<'_>| c.this_update <= now && c.next_update.is_none_or(|n| n >= now);
            let Some(crl) = candidates.iter().find(current).or(candidates.first()) else {
                report(code::NO_CRL);
                continue;
            };
            if let Some(issuer) = issuer {
                if issuer
                    .extensions
                    .key_usage
                    .is_some_and(|ku| ku & key_usage::CRL_SIGN == 0)
                {
                    report(code::NO_CRL_SIGN);
                }
                if !self.signed(crl.tbs, crl.signature_algorithm, crl.signature, issuer) {
                    report(code::CRL_SIGNATURE);
                }
            }
            if crl.this_update > now {
                report(code::CRL_NOT_YET_VALID);
            }
            if crl.next_update.is_some_and(|n| n < now) {
                report(code::CRL_EXPIRED);
            }
            if crl.revoked.contains(&cert.serial) {
                report(code::REVOKED);
            }
        }
    }

    /// `internal_verify`: from the top of the chain down, each certificate's signature by
    /// the one above it (a self-issued top is not checked against itself) and its validity.
    /// A lone certificate whose issuer is unknown gets only its validity checked.
    fn signatures_and_times(
        &self,
        path: &[Link<'_>],
        now: i64,
        report: &mut impl FnMut(VerifyError),
    ) {
        let Some(top) = path.last() else { return };
        let mut n = path.len() - 1;
        let mut issuer = &top.cert;
        let mut subject = issuer;
        if !top.cert.self_issued() {
            if n == 0 {
                // Nothing to check its signature with; its validity still is.
                report(code::FIRST);
            } else {
                n -= 1;
                subject = &path[n].cert;
            }
        }
        loop {
            if !std::ptr::eq(subject, issuer) {
                if issuer.extensions.ca == Some(true)
                    && issuer
                        .extensions
                        .key_usage
                        .is_some_and(|ku| ku & key_usage::KEY_CERT_SIGN == 0)
                {
                    report(code::NO_CERT_SIGN);
                }
                if !self.signed(
                    subject.tbs,
                    subject.signature_algorithm,
                    subject.signature,
                    issuer,
                ) {
                    report(code::SIGNATURE);
                }
            }
            if subject.not_before > now {
                report(code::NOT_YET_VALID);
            }
            if subject.not_after < now {
                report(code::EXPIRED);
            }
            if n == 0 {
                return;
            }
            n -= 1;
            issuer = subject;
            subject = &path[n].cert;
        }
    }

    /// Whether `issuer`'s key made `signature` over `signed` with `algorithm`.
    fn signed(
        &self,
        signed: &[u8],
        algorithm: &[u8],
        signature: &[u8],
        issuer: &Certificate<'_>,
    ) -> bool {
        self.algorithms.all.iter().any(|alg| {
            alg.signature_alg_id().as_ref() == algorithm
                && alg.public_key_alg_id().as_ref() == issuer.key_algorithm
                && alg.verify_signature(issuer.key, signed, signature).is_ok()
        })
    }
}

/// Among `candidates` naming `cert`'s issuer, the first valid now, else the one that expires
/// last (`get0_best_issuer_sk`).
fn best_issuer<'a, 'c>(
    candidates: impl Iterator<Item = &'a Certificate<'c>>,
    cert: &Certificate<'c>,
    now: i64,
) -> Option<&'a Certificate<'c>>
where
    'c: 'a,
{
    let mut best: Option<&Certificate<'c>> = None;
    for c in candidates.filter(|c| c.subject == cert.issuer) {
        if c.not_before <= now && now <= c.not_after {
            return Some(c);
        }
        if best.is_none_or(|b| c.not_after > b.not_after) {
            best = Some(c);
        }
    }
    best
}

/// Why a chain that does not end in a trusted certificate failed (`build_chain`'s verdict).
fn untrusted_error(path: &[Link<'_>]) -> VerifyError {
    let Some(top) = path.last() else {
        return code::UNSPECIFIED;
    };
    if top.cert.self_issued() {
        return if path.len() == 1 {
            code::SELF_SIGNED
        } else {
            code::SELF_SIGNED_IN_CHAIN
        };
    }
    if path.iter().any(|l| l.trusted) {
        code::ISSUER
    } else {
        code::LOCAL_ISSUER
    }
}

/// `check_extensions` for an SSL client: unknown critical extensions, every issuer a CA,
/// the client purpose (extended key usage everywhere, the key's usage on the client's own),
/// and path length constraints.
fn extensions(path: &[Link<'_>], report: &mut impl FnMut(VerifyError)) {
    let mut below = 0u64;
    for (i, link) in path.iter().enumerate() {
        let ext = &link.cert.extensions;
        if ext.unhandled_critical {
            report(code::CRITICAL);
        }
        if i > 0 {
            let ca = match ext.ca {
                Some(ca) => ca,
                // A version 1 certificate (no extensions) that signs itself, or a key that
                // may sign certificates.
                None => {
                    ext.key_usage
                        .is_none_or(|ku| ku & key_usage::KEY_CERT_SIGN != 0)
                        && (ext.key_usage.is_some() || link.cert.self_issued())
                }
            };
            if !ca {
                report(code::INVALID_CA);
            }
        }
        let leaf_usage = i == 0
            && ext.key_usage.is_some_and(|ku| {
                ku & (key_usage::DIGITAL_SIGNATURE | key_usage::KEY_AGREEMENT) == 0
            });
        if ext.client_auth == Some(false) || leaf_usage {
            report(code::PURPOSE);
        }
        if i > 1 && ext.path_len.is_some_and(|max| below > max) {
            report(code::PATH_LENGTH);
        }
        if i > 0 && !link.cert.self_issued() {
            below += 1;
        }
    }
}

/// The verdict on a client's chain as the request sees it.
pub fn verdict(store: &Store, chain: &[CertificateDer<'_>]) -> ClientCert {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    ClientCert {
        der: chain.first().map(|c| c.to_vec()).unwrap_or_default(),
        error: store.verify(chain, now),
    }
}

/// The handshake side of `ssl_verify_client`: OpenSSL's `SSL_VERIFY_PEER` with nginx's
/// callback, which accepts whatever chain comes (or none); only the handshake's own
/// signature must be the certificate's key's.
#[derive(Debug)]
pub struct Asking {
    names: Vec<DistinguishedName>,
    signatures: Signatures,
}

impl Asking {
    pub fn new(names: Vec<DistinguishedName>, algorithms: WebPkiSupportedAlgorithms) -> Asking {
        Asking {
            names,
            signatures: Signatures(algorithms),
        }
    }
}

impl ClientCertVerifier for Asking {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.names
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.schemes()
    }
}

/// A server's client-certificate settings, ready for handshakes.
#[derive(Debug)]
pub struct Verifying {
    pub store: Store,
    pub asking: Arc<Asking>,
}

impl Verifying {
    pub fn new(spec: &ClientAuth) -> Result<Verifying, String> {
        let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let (store, names) = Store::load(spec, algorithms)?;
        Ok(Verifying {
            store,
            asking: Arc::new(Asking::new(names, algorithms)),
        })
    }
}

#[cfg(test)]
mod tests;
