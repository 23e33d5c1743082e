//! TLS to `https://` upstreams, as nginx's proxy module does it with OpenSSL: one client per
//! location's `proxy_ssl_*` ([`Connector`]), no ALPN, SNI only with `proxy_ssl_server_name on`,
//! sessions resumed from the client's cache unless `proxy_ssl_session_reuse off`, a client
//! certificate with `proxy_ssl_certificate`, and the certificate checked only with
//! `proxy_ssl_verify on`. A refused certificate fails the handshake and is logged in nginx's
//! words (`upstream SSL certificate verify error: (18:self-signed certificate)`).
//!
//! `proxy_ssl_ciphers` is inert: rustls negotiates its own safe suites, as for `ssl_ciphers`.

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, Resumption, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::signatures::Signatures;
use super::socket::Socket;
use crate::eval::plan::{PeerAddr, UpstreamTls, VerifySpec};

/// The TLS client of one location's `proxy_ssl_*` settings, with its session cache.
#[derive(Debug)]
pub struct Connector {
    config: Arc<ClientConfig>,
}

impl Connector {
    /// Builds the client: reads the trusted certificates and the client certificate. The error
    /// is nginx's wording for a file it could not load.
    pub fn new(spec: &UpstreamTls) -> Result<Connector, String> {
        let provider = Arc::new(ring::default_provider());
        let versions = super::tls::protocol_versions(&spec.protocols);
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("cannot set proxy_ssl_protocols: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = match &spec.verify {
            Some(verify) => Arc::new(Verifying::new(verify, provider.clone())?),
            None => Arc::new(Unverified {
                signatures: Signatures(provider.signature_verification_algorithms),
            }),
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match &spec.certificate {
            Some(pair) => {
                let key = super::tls::load(pair)?;
                builder.with_client_cert_resolver(Arc::new(ClientCert(Arc::new(key))))
            }
            None => builder.with_no_client_auth(),
        };
        config.enable_sni = spec.server_name;
        // nginx offers no ALPN to upstreams: the config's list stays empty.
        if !spec.session_reuse {
            config.resumption = Resumption::disabled();
        }
        Ok(Connector {
            config: Arc::new(config),
        })
    }

    /// Runs the handshake over `stream` for `name` (the evaluated `proxy_ssl_name`). rustls
    /// needs a name even when it neither sends nor checks one: then the peer's address
    /// stands in, which also keys the session cache per server as nginx keys it.
    pub async fn handshake(
        &self,
        stream: Socket,
        name: &str,
        peer: &PeerAddr,
    ) -> io::Result<TlsStream<Socket>> {
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        let server_name = match ServerName::try_from(bare.to_string()) {
            Ok(n) => n,
            Err(_) => match peer {
                PeerAddr::Tcp(addr) => ServerName::IpAddress(addr.ip().into()),
                PeerAddr::Unix(_) => ServerName::try_from("localhost")
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            },
        };
        TlsConnector::from(self.config.clone())
            .connect(server_name, stream)
            .await
    }
}

/// `proxy_ssl_verify off` (nginx's default): OpenSSL's `SSL_VERIFY_NONE`, where any
/// certificate is accepted. This is rustls's `dangerous` API on purpose: nginx does not check
/// upstream certificates unless told to, and configurations pointing at self-signed backends
/// rely on that. The handshake signatures are still checked, as OpenSSL checks them, so the
/// server must hold the key of the certificate it sent.
#[derive(Debug)]
struct Unverified {
    signatures: Signatures,
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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

/// `proxy_ssl_verify on`: webpki's chain and name checks against
/// `proxy_ssl_trusted_certificate`, `proxy_ssl_verify_depth`, and refusals turned into
/// [`Refusal`]s that carry OpenSSL's verify code.
#[derive(Debug)]
struct Verifying {
    inner: Arc<WebPkiServerVerifier>,
    signatures: Signatures,
    /// The trusted certificates as read, to tell a sent root from an intermediate.
    trusted: Vec<CertificateDer<'static>>,
    depth: u32,
}

impl Verifying {
    fn new(spec: &VerifySpec, provider: Arc<CryptoProvider>) -> Result<Verifying, String> {
        let failed = |e: &dyn fmt::Display| {
            format!(
                "SSL_CTX_load_verify_locations(\"{}\") failed ({e})",
                spec.trusted.display()
            )
        };
        let trusted: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&spec.trusted)
            .and_then(|certs| certs.collect())
            .map_err(|e| failed(&e))?;
        let mut roots = RootCertStore::empty();
        let (_, ignored) = roots.add_parsable_certificates(trusted.iter().cloned());
        if roots.is_empty() {
            return Err(failed(&format!(
                "{ignored} certificates unusable, none usable"
            )));
        }
        let signatures = Signatures(provider.signature_verification_algorithms);
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| failed(&e))?;
        Ok(Verifying {
            inner,
            signatures,
            trusted,
            depth: spec.depth,
        })
    }
}

impl ServerCertVerifier for Verifying {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refuse = |r: Refusal| rustls::Error::InvalidCertificate(r.into());
        // OpenSSL's depth counts the certificates between the server's and a trusted one;
        // a server that also sends the trusted root does not lengthen the chain. (webpki does
        // not say which path it built, so the intermediates sent stand for it.)
        let between = intermediates
            .iter()
            .filter(|c| !self.trusted.iter().any(|t| t.as_ref() == c.as_ref()))
            .count();
        let verified = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| match e {
                rustls::Error::InvalidCertificate(e) => refuse(Refusal::from_webpki(
                    &e,
                    end_entity,
                    intermediates,
                    server_name,
                )),
                other => other,
            })?;
        if u32::try_from(between).unwrap_or(u32::MAX) > self.depth {
            return Err(refuse(Refusal::Verify(22, "certificate chain too long")));
        }
        Ok(verified)
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

/// Why `proxy_ssl_verify on` refused the upstream's certificate, as nginx logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// OpenSSL's `X509_V_ERR_*` code and `X509_verify_cert_error_string` (OpenSSL 3 wording).
    Verify(u32, &'static str),
    /// The chain is trusted but not issued for the name (`ngx_ssl_check_host`).
    Name(String),
}

impl Refusal {
    fn from_webpki(
        e: &CertificateError,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
    ) -> Refusal {
        use CertificateError as E;
        match e {
            // A lone certificate naming itself as issuer is "self-signed" to OpenSSL whether
            // no trusted certificate has its subject or one has it with another key.
            E::UnknownIssuer | E::BadSignature
                if intermediates.is_empty() && self_issued(end_entity) =>
            {
                Refusal::Verify(18, "self-signed certificate")
            }
            E::UnknownIssuer => Refusal::Verify(20, "unable to get local issuer certificate"),
            E::Expired | E::ExpiredContext { .. } => Refusal::Verify(10, "certificate has expired"),
            E::NotValidYet | E::NotValidYetContext { .. } => {
                Refusal::Verify(9, "certificate is not yet valid")
            }
            E::Revoked => Refusal::Verify(23, "certificate revoked"),
            E::BadSignature => Refusal::Verify(7, "certificate signature failure"),
            E::InvalidPurpose | E::InvalidPurposeContext { .. } => {
                Refusal::Verify(26, "unsupported certificate purpose")
            }
            E::NotValidForName | E::NotValidForNameContext { .. } => {
                Refusal::Name(name.to_str().into_owned())
            }
            _ => Refusal::Verify(1, "unspecified certificate verification error"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Verify(code, text) => {
                write!(f, "upstream SSL certificate verify error: ({code}:{text})")
            }
            Refusal::Name(name) => write!(f, "upstream SSL certificate does not match \"{name}\""),
        }
    }
}

impl std::error::Error for Refusal {}

impl From<Refusal> for CertificateError {
    fn from(r: Refusal) -> CertificateError {
        CertificateError::Other(OtherError(Arc::new(r)))
    }
}

/// What nginx logs for a failed handshake, before ` while SSL handshaking to upstream`.
pub fn describe(e: &io::Error) -> String {
    let rustls = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match rustls {
        Some(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(other)))) => {
            match other.downcast_ref::<Refusal>() {
                Some(refusal) => refusal.to_string(),
                None => format!("SSL_do_handshake() failed (SSL: {other})"),
            }
        }
        Some(other) => format!("SSL_do_handshake() failed (SSL: {other})"),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            "peer closed connection in SSL handshake".to_string()
        }
        None => format!(
            "SSL_do_handshake() failed ({})",
            crate::syntax::include::os_error(e)
        ),
    }
}

/// `proxy_ssl_certificate`: the one client certificate, whatever the server asks for.
#[derive(Debug)]
struct ClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Whether a DER certificate names itself as its issuer (OpenSSL's "self-signed" verdict
/// before any signature check). `false` for anything it cannot read.
fn self_issued(der: &[u8]) -> bool {
    crate::x509::Certificate::parse(der).is_some_and(|c| c.self_issued())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_issued_certificates_are_told_from_issued_ones() {
        let mut params = rcgen::CertificateParams::new(Vec::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test ca");
        let ca =
            rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().expect("key"))
                .expect("ca");
        assert!(self_issued(ca.der()));
        let leaf_key = rcgen::KeyPair::generate().expect("key");
        let leaf = rcgen::CertificateParams::new(vec!["a.test".into()])
            .expect("params")
            .signed_by(&leaf_key, &ca)
            .expect("leaf");
        assert!(!self_issued(leaf.der()));
        assert!(!self_issued(b"\x30\x03\x02"));
    }

    #[test]
    fn refusals_are_worded_as_nginx_logs_them() {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(
                Refusal::Verify(18, "self-signed certificate").into(),
            ),
        );
        assert_eq!(
            describe(&e),
            "upstream SSL certificate verify error: (18:self-signed certificate)"
        );
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(Refusal::Name("a.test".into()).into()),
        );
        assert_eq!(
            describe(&e),
            "upstream SSL certificate does not match \"a.test\""
        );
    }
}
