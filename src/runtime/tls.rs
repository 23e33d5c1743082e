//! TLS for `listen ... ssl`: rustls (ring) with the certificates the site picks for the SNI
//! name (nginx: the server chosen by SNI, else the socket's default server), PEM chains with
//! RSA or ECDSA keys, loaded once per file pair, ALPN `http/1.1`, session resumption as the
//! default server configures it ([`sessions`](super::sessions)), and the handshake's outcome in
//! OpenSSL's names for `$ssl_*`.

use crate::eval::plan::ListenAddr;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerConnection};
use rustls::sign::CertifiedKey;
use rustls::{CipherSuite, HandshakeKind, NamedGroup, ProtocolVersion};
use tokio_rustls::TlsAcceptor;

use super::sessions::{self, SharedZones};
use crate::eval::plan::{CertificatePair, Site, TlsFacts};

/// Certificates already loaded, by (certificate, key) path.
#[derive(Debug, Default)]
pub struct CertCache {
    loaded: Mutex<HashMap<CertificatePair, Arc<CertifiedKey>>>,
}

impl CertCache {
    fn get(&self, pair: &CertificatePair) -> Option<Arc<CertifiedKey>> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = loaded.get(pair) {
            return Some(k.clone());
        }
        match load(pair) {
            Ok(k) => {
                let k = Arc::new(k);
                loaded.insert(pair.clone(), k.clone());
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
pub fn load(spec: &CertificatePair) -> Result<CertifiedKey, String> {
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
    listen: ListenAddr,
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
        let spec = self.site.tls(&self.listen, hello.server_name())?;
        let keys: Vec<Arc<CertifiedKey>> = spec
            .certificates
            .iter()
            .filter_map(|pair| self.cache.get(pair))
            .collect();
        choose(&keys, &hello)
    }
}

/// OpenSSL's choice among a server's certificates: the client's signature algorithms in its
/// order of preference, each tried against the certificates in configuration order; a key
/// also needs a cipher suite the client offers (TLS 1.3 suites suit any key). With none
/// suitable, the first certificate, and the handshake fails as it would with OpenSSL.
fn choose(keys: &[Arc<CertifiedKey>], hello: &ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
    let offered = hello.cipher_suites();
    let has_suite = |k: &CertifiedKey| {
        ring::ALL_CIPHER_SUITES.iter().any(|s| {
            offered.contains(&s.suite()) && s.usable_for_signature_algorithm(k.key.algorithm())
        })
    };
    hello
        .signature_schemes()
        .iter()
        .find_map(|scheme| {
            keys.iter()
                .find(|k| k.key.choose_scheme(&[*scheme]).is_some() && has_suite(k))
        })
        .or_else(|| keys.first())
        .cloned()
}

/// The acceptor for one `ssl` listen socket of one configuration generation: protocols and
/// sessions are the default server's (OpenSSL keeps sessions in the context the connection
/// started with, whatever server SNI selects).
pub fn acceptor(
    site: Arc<dyn Site>,
    listen: ListenAddr,
    cache: Arc<CertCache>,
    zones: &SharedZones,
) -> TlsAcceptor {
    let default = site.tls(&listen, None);
    let versions = default
        .as_ref()
        .map(|spec| protocol_versions(&spec.protocols))
        .unwrap_or_else(|| rustls::DEFAULT_VERSIONS.to_vec());
    let provider = Arc::new(ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .or_else(|_| {
            rustls::ServerConfig::builder_with_provider(provider)
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
    if let Some(spec) = default {
        config.session_storage = sessions::storage(&spec, zones);
        if let Some(ticketer) = sessions::ticketer(&spec.sessions) {
            config.ticketer = ticketer;
        }
    }
    TlsAcceptor::from(Arc::new(config))
}

/// `ssl_protocols` (or `proxy_ssl_protocols`) → the versions rustls offers (it has no TLS
/// 1.0/1.1; when nothing else is named, its defaults).
pub fn protocol_versions(protocols: &[String]) -> Vec<&'static rustls::SupportedProtocolVersion> {
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

/// What the handshake settled, named as OpenSSL names it (`SSL_get_version`,
/// `SSL_get_cipher_name`, `OBJ_nid2sn`): rustls's suites and groups all have OpenSSL names.
pub fn facts(conn: &ServerConnection) -> TlsFacts {
    let protocol = match conn.protocol_version() {
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2",
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
        _ => "",
    };
    let cipher = match conn.negotiated_cipher_suite().map(|s| s.suite()) {
        Some(CipherSuite::TLS13_AES_128_GCM_SHA256) => "TLS_AES_128_GCM_SHA256",
        Some(CipherSuite::TLS13_AES_256_GCM_SHA384) => "TLS_AES_256_GCM_SHA384",
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256) => "TLS_CHACHA20_POLY1305_SHA256",
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) => {
            "ECDHE-ECDSA-AES128-GCM-SHA256"
        }
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384) => {
            "ECDHE-ECDSA-AES256-GCM-SHA384"
        }
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256) => {
            "ECDHE-ECDSA-CHACHA20-POLY1305"
        }
        Some(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) => "ECDHE-RSA-AES128-GCM-SHA256",
        Some(CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) => "ECDHE-RSA-AES256-GCM-SHA384",
        Some(CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256) => {
            "ECDHE-RSA-CHACHA20-POLY1305"
        }
        _ => "",
    };
    let curve = match conn.negotiated_key_exchange_group().map(|g| g.name()) {
        Some(NamedGroup::X25519) => "X25519",
        Some(NamedGroup::secp256r1) => "prime256v1",
        Some(NamedGroup::secp384r1) => "secp384r1",
        _ => "",
    };
    TlsFacts {
        protocol,
        cipher,
        curve,
        reused: conn.handshake_kind() == Some(HandshakeKind::Resumed),
        alpn: match conn.alpn_protocol() {
            Some(b"http/1.1") => "http/1.1",
            _ => "",
        },
    }
}
