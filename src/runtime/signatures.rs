//! The handshake signature a TLS peer makes with its certificate's key, checked as OpenSSL
//! checks it whether or not it checks the certificate itself: by hand rather than through
//! webpki, which reads only version 3 certificates, where OpenSSL takes any (`openssl req
//! -x509` and `openssl x509 -req` without extensions make version 1 ones). Both ends use it:
//! clients' certificates (`ssl_verify_client`) and upstreams' (`proxy_ssl_*`).

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::x509::Certificate;

/// The provider's signature algorithms, by TLS scheme.
#[derive(Debug, Clone, Copy)]
pub struct Signatures(pub WebPkiSupportedAlgorithms);

impl Signatures {
    /// TLS 1.2 names a scheme that may map to several algorithms: any of them whose key type
    /// is the certificate's may have made the signature.
    pub fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let cert = readable(cert)?;
        let algorithms = self
            .0
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map_or(&[][..], |(_, algs)| *algs);
        let signed = algorithms.iter().any(|alg| {
            alg.public_key_alg_id().as_ref() == cert.key_algorithm
                && alg
                    .verify_signature(cert.key, message, dss.signature())
                    .is_ok()
        });
        if signed {
            Ok(HandshakeSignatureValid::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::BadSignature,
            ))
        }
    }

    pub fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let spki = SubjectPublicKeyInfoDer::from(readable(cert)?.spki);
        rustls::crypto::verify_tls13_signature_with_raw_key(message, &spki, dss, &self.0)
    }

    pub fn schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The peer's certificate, read (rustls hands it over unparsed).
pub fn readable<'a>(cert: &'a CertificateDer<'_>) -> Result<Certificate<'a>, rustls::Error> {
    Certificate::parse(cert).ok_or(rustls::Error::InvalidCertificate(
        CertificateError::BadEncoding,
    ))
}
