//! TLS for `listen ... ssl`: rustls (ring) with the certificates the site picks for the SNI
//! name (nginx: the server chosen by SNI, else the socket's default server), PEM chains with
//! RSA or ECDSA keys, loaded once per file pair, ALPN `http/1.1`, session resumption as the
//! default server configures it ([`sessions`](super::sessions)), and the handshake's outcome in
//! OpenSSL's names for `$ssl_*`.
//!
//! A socket none of whose servers asks for client certificates or refuses handshakes has
//! one rustls configuration, and rustls reads the ClientHello once. Otherwise
//! ([`Acceptor::PerServer`]) the ClientHello is read first and the server SNI chooses decides:
//! refuse (alert `unrecognized_name`, as nginx's `ssl_reject_handshake`), or go on with that
//! server's configuration, which may ask for a certificate ([`client_auth`](super::client_auth)).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{
    ClientHello, ProducesTickets, ResolvesServerCert, ServerConnection, StoresServerSessions,
};
use rustls::sign::CertifiedKey;
use rustls::{CipherSuite, HandshakeKind, NamedGroup, ProtocolVersion, ServerConfig};
use tokio::io::AsyncWriteExt;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{StartHandshake, TlsAcceptor};

use super::client_auth::{self, Verifying};
use super::sessions::{self, SharedZones};
use super::socket::Socket;
use crate::eval::plan::{CertificatePair, ClientCert, ListenAddr, Site, TlsFacts, TlsSpec};

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
    let key = key(spec).map_err(|e| {
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

/// The key of `spec`, opened with its `ssl_password_file` when sealed with a passphrase.
fn key(spec: &CertificatePair) -> Result<PrivateKeyDer<'static>, String> {
    use crate::x509::private_key::{self, Opened};
    let pem = std::fs::read_to_string(&spec.key).map_err(|e| e.to_string())?;
    let passwords = spec.passwords.as_ref().map_or(&[][..], |p| &p.0);
    match private_key::open(&pem, passwords) {
        Ok(None) => PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| e.to_string()),
        Ok(Some(Opened::Pkcs8(der))) => Ok(PrivateKeyDer::Pkcs8(der.into())),
        Ok(Some(Opened::Pkcs1(der))) => Ok(PrivateKeyDer::Pkcs1(der.into())),
        Ok(Some(Opened::Sec1(der))) => Ok(PrivateKeyDer::Sec1(der.into())),
        Err(why) => Err(format!("PEM_read_bio_PrivateKey() failed ({})", why.0)),
    }
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

/// How one `ssl` listen socket of one configuration generation accepts handshakes.
#[derive(Clone)]
pub enum Acceptor {
    /// One configuration for every server (the usual case, and the cheapest).
    Direct(TlsAcceptor),
    /// A configuration per server, chosen by the ClientHello's SNI.
    PerServer(Arc<PerServer>),
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Acceptor::Direct(_) => f.write_str("Direct"),
            Acceptor::PerServer(p) => f.debug_tuple("PerServer").field(&p.servers.len()).finish(),
        }
    }
}

/// The configurations of a socket whose servers differ in more than their certificates.
pub struct PerServer {
    site: Arc<dyn Site>,
    listen: ListenAddr,
    /// Each server's settings with its configuration and, when it asks for client
    /// certificates, how they are checked (`Err`: a file it could not read).
    servers: Vec<(Arc<TlsSpec>, Result<Served, String>)>,
}

struct Served {
    config: Arc<ServerConfig>,
    verifying: Option<Verifying>,
}

/// A finished handshake: the stream and, when the server asked for one, the certificate the
/// client sent with the verdict on it.
pub type Accepted = (TlsStream<Socket>, Option<Arc<ClientCert>>);

/// Why a handshake did not finish.
#[derive(Debug)]
pub enum Refused {
    /// `ssl_reject_handshake on` for the server SNI chose (nginx: "handshake rejected").
    Rejected,
    Failed(io::Error),
}

impl From<io::Error> for Refused {
    fn from(e: io::Error) -> Refused {
        Refused::Failed(e)
    }
}

impl Acceptor {
    pub async fn accept(&self, socket: Socket) -> Result<Accepted, Refused> {
        match self {
            Acceptor::Direct(acceptor) => Ok((acceptor.accept(socket).await?, None)),
            Acceptor::PerServer(per) => per.accept(socket).await,
        }
    }
}

impl PerServer {
    async fn accept(&self, mut socket: Socket) -> Result<Accepted, Refused> {
        let accepted = read_hello(&mut socket).await?;
        let sni = accepted.client_hello().server_name().map(str::to_string);
        let Some(spec) = self.site.tls(&self.listen, sni.as_deref()) else {
            return Err(Refused::Failed(io::Error::other("no certificate")));
        };
        if spec.reject {
            // OpenSSL's fatal `unrecognized_name` alert, in a TLS 1.2 record as OpenSSL
            // writes it before a version is agreed on.
            let _ = socket
                .write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70])
                .await;
            return Err(Refused::Rejected);
        }
        let served = self
            .servers
            .iter()
            .find(|(s, _)| Arc::ptr_eq(s, &spec))
            .map(|(_, served)| served);
        let served = match served {
            Some(Ok(served)) => served,
            Some(Err(e)) => {
                super::log::error(format_args!("{e}"));
                return Err(Refused::Failed(io::Error::other(e.clone())));
            }
            None => return Err(Refused::Failed(io::Error::other("no settings"))),
        };
        let tls = StartHandshake::from_parts(accepted, socket)
            .into_stream(served.config.clone())
            .await?;
        let client = served.verifying.as_ref().and_then(|v| {
            let chain = tls.get_ref().1.peer_certificates()?;
            Some(Arc::new(client_auth::verdict(&v.store, chain)))
        });
        Ok((tls, client))
    }
}

/// Reads the ClientHello (rustls's `Acceptor`); an unreadable one gets rustls's alert.
async fn read_hello(socket: &mut Socket) -> io::Result<rustls::server::Accepted> {
    let mut acceptor = rustls::server::Acceptor::default();
    loop {
        socket.readable().await?;
        match acceptor.read_tls(&mut TryRead(socket)) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => return Ok(accepted),
            Ok(None) => {}
            Err((e, mut alert)) => {
                let mut bytes = Vec::new();
                let _ = alert.write_all(&mut bytes);
                let _ = socket.write_all(&bytes).await;
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }
}

/// A non-blocking read of a socket, for rustls's synchronous reader.
struct TryRead<'a>(&'a Socket);

impl io::Read for TryRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

/// The acceptor for one `ssl` listen socket of one configuration generation: protocols and
/// sessions are the default server's (OpenSSL keeps sessions in the context the connection
/// started with, whatever server SNI selects).
pub fn acceptor(
    site: Arc<dyn Site>,
    listen: ListenAddr,
    http2: bool,
    cache: Arc<CertCache>,
    zones: &SharedZones,
) -> Acceptor {
    let default = site.tls(&listen, None);
    let versions = default
        .as_ref()
        .map(|spec| protocol_versions(&spec.protocols))
        .unwrap_or_else(|| rustls::DEFAULT_VERSIONS.to_vec());
    let (storage, ticketer) = match &default {
        Some(spec) => (
            Some(sessions::storage(spec, zones)),
            sessions::ticketer(&spec.sessions),
        ),
        None => (None, None),
    };
    let base = Base {
        versions,
        http2,
        resolver: Arc::new(Resolver {
            site: site.clone(),
            listen: listen.clone(),
            cache,
        }),
        storage,
        ticketer,
    };
    let specs = site.tls_servers(&listen);
    if !specs.iter().any(|s| s.reject || s.client_auth.is_some()) {
        return Acceptor::Direct(TlsAcceptor::from(base.config(None)));
    }
    let servers = specs
        .into_iter()
        .filter(|spec| !spec.reject)
        .map(|spec| {
            let served = match &spec.client_auth {
                None => Ok(Served {
                    config: base.config(None),
                    verifying: None,
                }),
                Some(auth) => Verifying::new(auth).map(|v| Served {
                    config: base.config(Some(v.asking.clone())),
                    verifying: Some(v),
                }),
            };
            (spec, served)
        })
        .collect();
    Acceptor::PerServer(Arc::new(PerServer {
        site,
        listen,
        servers,
    }))
}

/// What every configuration of a socket shares.
struct Base {
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
    /// ALPN offers `h2` before `http/1.1` (nginx's `ngx_http_ssl_alpn_select` prefers it).
    http2: bool,
    resolver: Arc<Resolver>,
    storage: Option<Arc<dyn StoresServerSessions>>,
    ticketer: Option<Arc<dyn ProducesTickets>>,
}

impl Base {
    /// A configuration, asking for client certificates through `verifier` when given.
    fn config(&self, verifier: Option<Arc<dyn ClientCertVerifier>>) -> Arc<ServerConfig> {
        let provider = Arc::new(ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.versions)
            .or_else(|_| {
                ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions()
            })
            // The ring provider always supports its default versions.
            .unwrap_or_else(|_| ServerConfig::builder());
        let builder = match verifier {
            Some(v) => builder.with_client_cert_verifier(v),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(self.resolver.clone());
        config.alpn_protocols = match self.http2 {
            true => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            false => vec![b"http/1.1".to_vec()],
        };
        if let Some(storage) = &self.storage {
            config.session_storage = storage.clone();
        }
        if let Some(ticketer) = &self.ticketer {
            config.ticketer = ticketer.clone();
        }
        Arc::new(config)
    }
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
            Some(b"h2") => "h2",
            _ => "",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Paths;

    /// The acceptor of the first socket of `servers` (each a `server` block's body).
    fn acceptor_of(servers: &str) -> Acceptor {
        let dir = std::env::temp_dir().join(format!("ngxr-acceptor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["a.test".into()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        std::fs::write(dir.join("a.crt"), cert.pem()).expect("crt");
        std::fs::write(dir.join("a.key"), key.serialize_pem()).expect("key");
        let conf = format!(
            "events {{}} http {{ ssl_certificate a.crt; ssl_certificate_key a.key; {servers} }}"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).expect("conf");
        let site = crate::load::site_for_serving(&Paths::resolve(Some(&dir), Some(&path)), None)
            .expect("loads");
        let listen = site.listens()[0].addr.clone();
        acceptor(site, listen, false, Arc::default(), &SharedZones::default())
    }

    #[test]
    fn only_sockets_that_ask_for_certificates_or_refuse_read_the_hello_first() {
        let plain = "server { listen 127.0.0.1:18461 ssl; }
                     server { listen 127.0.0.1:18461 ssl; server_name b; }";
        assert!(matches!(acceptor_of(plain), Acceptor::Direct(_)));
        let verifying = "server { listen 127.0.0.1:18461 ssl; }
                         server { listen 127.0.0.1:18461 ssl; server_name b;
                                  ssl_verify_client optional_no_ca; }";
        assert!(matches!(acceptor_of(verifying), Acceptor::PerServer(_)));
        let rejecting = "server { listen 127.0.0.1:18461 ssl; ssl_reject_handshake on; }
                         server { listen 127.0.0.1:18461 ssl; server_name b; }";
        assert!(matches!(acceptor_of(rejecting), Acceptor::PerServer(_)));
    }
}
