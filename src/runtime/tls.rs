//! TLS for `listen ... ssl`: rustls (ring) with the certificate the site picks for the SNI
//! name (nginx: the server chosen by SNI, else the socket's default server), PEM chains with
//! RSA or ECDSA keys, loaded once per file pair, and ALPN `http/1.1`.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::eval::plan::{CertificateSpec, Site};

/// Certificates already loaded, by (certificate, key) path.
#[derive(Debug, Default)]
pub struct CertCache {
    loaded: Mutex<HashMap<(PathBuf, PathBuf), Arc<CertifiedKey>>>,
}

impl CertCache {
    fn get(&self, spec: &CertificateSpec) -> Option<Arc<CertifiedKey>> {
        let key = (spec.certificate.clone(), spec.key.clone());
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = loaded.get(&key) {
            return Some(k.clone());
        }
        match load(spec) {
            Ok(k) => {
                let k = Arc::new(k);
                loaded.insert(key, k.clone());
                Some(k)
            }
            Err(e) => {
                super::log::error(format_args!("{e}"));
                None
            }
        }
    }
}

/// Reads a PEM chain and its key (nginx's `ssl_certificate`/`ssl_certificate_key`).
pub fn load(spec: &CertificateSpec) -> Result<CertifiedKey, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&spec.certificate)
        .and_then(|iter| iter.collect())
        .map_err(|e| {
            format!(
                "cannot load certificate \"{}\": {e}",
                spec.certificate.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "cannot load certificate \"{}\": no certificate",
            spec.certificate.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&spec.key).map_err(|e| {
        format!(
            "cannot load certificate key \"{}\": {e}",
            spec.key.display()
        )
    })?;
    let signing = ring::sign::any_supported_type(&key).map_err(|e| {
        format!(
            "cannot load certificate key \"{}\": {e}",
            spec.key.display()
        )
    })?;
    Ok(CertifiedKey::new(certs, signing))
}

/// Asks the site for the certificate of each handshake.
struct Resolver {
    site: Arc<dyn Site>,
    listen: SocketAddr,
    cache: Arc<CertCache>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("listen", &self.listen)
            .finish()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let spec = self.site.certificate(self.listen, hello.server_name())?;
        self.cache.get(&spec)
    }
}

/// The acceptor for one `ssl` listen socket of one configuration generation.
pub fn acceptor(site: Arc<dyn Site>, listen: SocketAddr, cache: Arc<CertCache>) -> TlsAcceptor {
    let versions = site
        .certificate(listen, None)
        .map(|spec| protocol_versions(&spec.protocols))
        .unwrap_or_else(|| rustls::DEFAULT_VERSIONS.to_vec());
    let provider = Arc::new(ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .or_else(|_| {
            rustls::ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
                .with_safe_default_protocol_versions()
        });
    let resolver = Arc::new(Resolver {
        site,
        listen,
        cache,
    });
    let mut config = match builder {
        Ok(b) => b.with_no_client_auth().with_cert_resolver(resolver),
        // The ring provider always supports its default versions.
        Err(_) => rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(resolver),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}

/// `ssl_protocols` → the versions rustls offers (it has no TLS 1.0/1.1).
fn protocol_versions(protocols: &[String]) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut versions = Vec::new();
    if protocols.iter().any(|p| p == "TLSv1.2") {
        versions.push(&rustls::version::TLS12);
    }
    if protocols.iter().any(|p| p == "TLSv1.3") {
        versions.push(&rustls::version::TLS13);
    }
    if versions.is_empty() {
        versions = rustls::DEFAULT_VERSIONS.to_vec();
    }
    versions
}
