//! `listen ... ssl`: the certificate follows SNI and the client's signature algorithms, HTTP
//! flows over TLS, and sessions resume as `ssl_session_cache`/`ssl_session_tickets` say.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use ngxr::eval::plan::{CertificatePair, SessionSpec, TlsSpec};

use crate::start;
use crate::support::backend::Backend;
use crate::support::site::{TestSite, peer};
use crate::support::within;

/// nginx's defaults: no session cache (`none`), tickets on, 5 minutes.
const DEFAULT_SESSIONS: SessionSpec = SessionSpec {
    builtin: None,
    shared: None,
    tickets: true,
    timeout: std::time::Duration::from_secs(300),
    ticket_keys: Vec::new(),
};

/// A self-signed certificate for `name` with a key made by `alg`, written as PEM files under
/// `dir`.
pub(crate) fn pair(
    dir: &std::path::Path,
    name: &str,
    alg: &'static rcgen::SignatureAlgorithm,
) -> (CertificatePair, rustls::pki_types::CertificateDer<'static>) {
    let key = rcgen::KeyPair::generate_for(alg).expect("key");
    let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("self-signed");
    let tag = format!("{name}-{alg:?}");
    let pair = CertificatePair {
        certificate: dir.join(format!("{tag}.crt")),
        key: dir.join(format!("{tag}.key")),
        passwords: None,
    };
    std::fs::write(&pair.certificate, cert.pem()).expect("write cert");
    std::fs::write(&pair.key, key.serialize_pem()).expect("write key");
    (pair, cert.der().clone())
}

/// One server's TLS settings with these certificates and session settings.
fn spec(certificates: Vec<CertificatePair>, sessions: SessionSpec) -> Arc<TlsSpec> {
    Arc::new(TlsSpec {
        certificates,
        protocols: vec!["TLSv1.2".into(), "TLSv1.3".into()],
        sessions,
        reject: false,
        client_auth: None,
    })
}

/// A self-signed ECDSA certificate for `name` with nginx's default session settings.
fn certificate(
    dir: &std::path::Path,
    name: &str,
) -> (Arc<TlsSpec>, rustls::pki_types::CertificateDer<'static>) {
    let (pair, der) = pair(dir, name, &rcgen::PKCS_ECDSA_P256_SHA256);
    (spec(vec![pair], DEFAULT_SESSIONS), der)
}

#[tokio::test]
async fn the_certificate_follows_sni_and_http_works_over_tls() {
    let dir = std::env::temp_dir().join(format!("ngxr-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (spec_a, der_a) = certificate(&dir, "a.test");
    let (spec_b, der_b) = certificate(&dir, "b.test");
    let backend = Backend::http("x").await;
    let mut site = TestSite::new(vec![peer(backend.addr)]);
    site.listen.ssl = true;
    site.certs = vec![("a.test".into(), spec_a), ("b.test".into(), spec_b)];
    let (_proxy, addr) = start(site);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(der_a.clone()).expect("root a");
    roots.add(der_b.clone()).expect("root b");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = TlsConnector::from(Arc::new(config));

    for (name, der) in [("a.test", &der_a), ("b.test", &der_b)] {
        let response = within(async {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let server_name = ServerName::try_from(name.to_string()).expect("name");
            let mut tls = connector
                .connect(server_name, tcp)
                .await
                .expect("handshake");
            let (_, session) = tls.get_ref();
            assert_eq!(
                session.peer_certificates().expect("certs")[0],
                *der,
                "{name}"
            );
            assert_eq!(session.alpn_protocol(), Some(&b"http/1.1"[..]));
            let req = format!("GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
            tls.write_all(req.as_bytes()).await.expect("write");
            let mut out = Vec::new();
            let _ = tls.read_to_end(&mut out).await;
            String::from_utf8_lossy(&out).into_owned()
        })
        .await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    }
    // Plain HTTP on the TLS port is the router's to answer (497): refused_heads.rs and
    // proxy_protocol.rs compare it with nginx.
}

#[tokio::test]
async fn websocket_over_tls_echoes_through_the_tunnel() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let dir = std::env::temp_dir().join(format!("ngxr-wss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (spec, der) = certificate(&dir, "ws.test");
    let echo = Backend::ws_echo("e").await;
    let mut site = TestSite::new(vec![peer(echo.addr)]);
    site.listen.ssl = true;
    site.certs = vec![("ws.test".into(), spec)];
    let (_proxy, addr) = start(site);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(config));
    within(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("ws.test".to_string()).expect("name");
        let tls = connector.connect(name, tcp).await.expect("handshake");
        let (mut ws, response) = tokio_tungstenite::client_async("wss://ws.test/chat", tls)
            .await
            .expect("upgrade");
        assert_eq!(response.status(), 101);
        let big = vec![9u8; 256 * 1024];
        ws.send(Message::binary(big.clone())).await.expect("send");
        assert_eq!(
            ws.next().await.expect("reply").expect("ok"),
            Message::binary(big)
        );
        ws.send(Message::text("tls")).await.expect("send");
        assert_eq!(
            ws.next().await.expect("reply").expect("ok"),
            Message::text("tls")
        );
    })
    .await;
}

/// Accepts any certificate and offers only `schemes`, so a test can be a client that signs
/// with one algorithm and not another.
#[derive(Debug)]
pub(crate) struct Offering {
    pub(crate) schemes: Vec<rustls::SignatureScheme>,
}

impl rustls::client::danger::ServerCertVerifier for Offering {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.schemes.clone()
    }
}

/// A client of `version` offering `schemes`, with rustls's in-memory session cache.
fn client(
    version: &'static rustls::SupportedProtocolVersion,
    schemes: &[rustls::SignatureScheme],
) -> TlsConnector {
    TlsConnector::from(client_config(version, schemes))
}

/// [`client`]'s settings, for a blocking client too. It accepts any certificate.
pub(crate) fn client_config(
    version: &'static rustls::SupportedProtocolVersion,
    schemes: &[rustls::SignatureScheme],
) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Offering {
            schemes: schemes.to_vec(),
        }))
        .with_no_client_auth();
    Arc::new(config)
}

/// One request over a new connection: the certificate the server sent and whether the
/// session was resumed. The response is read to the end, so TLS 1.3 tickets have arrived.
async fn visit(
    connector: &TlsConnector,
    addr: std::net::SocketAddr,
) -> (rustls::pki_types::CertificateDer<'static>, bool) {
    within(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("s.test").expect("name");
        let mut tls = connector.connect(name, tcp).await.expect("handshake");
        let session = tls.get_ref().1;
        let cert = session.peer_certificates().expect("certs")[0].clone();
        let resumed = session.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        tls.write_all(b"GET /return HTTP/1.1\r\nHost: s.test\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
        (cert, resumed)
    })
    .await
}

#[tokio::test]
async fn the_certificate_follows_the_signature_algorithms_the_client_offers() {
    use rustls::SignatureScheme::{ECDSA_NISTP256_SHA256, ED25519};
    let dir = std::env::temp_dir().join(format!("ngxr-certs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (ed, ed_der) = pair(&dir, "s.test", &rcgen::PKCS_ED25519);
    let (ec, ec_der) = pair(&dir, "s.test", &rcgen::PKCS_ECDSA_P256_SHA256);
    let backend = Backend::http("x").await;
    let mut site = TestSite::new(vec![peer(backend.addr)]);
    site.listen.ssl = true;
    site.certs = vec![("s.test".into(), spec(vec![ed, ec], DEFAULT_SESSIONS))];
    let (_proxy, addr) = start(site);
    let tls13 = &rustls::version::TLS13;
    let cases = [
        (vec![ECDSA_NISTP256_SHA256], &ec_der, "ECDSA only"),
        (vec![ED25519], &ed_der, "Ed25519 only"),
        (
            vec![ECDSA_NISTP256_SHA256, ED25519],
            &ec_der,
            "the client's first choice, not the first configured",
        ),
    ];
    for (schemes, want, case) in cases {
        let (got, _) = visit(&client(tls13, &schemes), addr).await;
        assert_eq!(&got, want, "{case}");
    }
}

#[tokio::test]
async fn sessions_resume_as_the_session_cache_and_tickets_allow() {
    use std::time::Duration;
    let dir = std::env::temp_dir().join(format!("ngxr-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (ec, _) = pair(&dir, "s.test", &rcgen::PKCS_ECDSA_P256_SHA256);
    let backend = Backend::http("x").await;
    let sessions = |builtin, tickets, secs| SessionSpec {
        builtin,
        shared: None,
        tickets,
        timeout: Duration::from_secs(secs),
        ticket_keys: Vec::new(),
    };
    let cases = [
        (DEFAULT_SESSIONS, true, "tickets, the default"),
        (sessions(Some(20480), false, 300), true, "builtin cache"),
        (sessions(None, false, 300), false, "cache none, no tickets"),
    ];
    for (settings, resumes, case) in cases {
        let mut site = TestSite::new(vec![peer(backend.addr)]);
        site.listen.ssl = true;
        site.certs = vec![("s.test".into(), spec(vec![ec.clone()], settings))];
        let (_proxy, addr) = start(site);
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            let c = client(version, &[rustls::SignatureScheme::ECDSA_NISTP256_SHA256]);
            assert!(!visit(&c, addr).await.1, "{case} {version:?}: first visit");
            assert_eq!(visit(&c, addr).await.1, resumes, "{case} {version:?}");
        }
    }

    // ssl_session_timeout bounds tickets and cached sessions alike.
    for settings in [sessions(None, true, 1), sessions(Some(10), false, 1)] {
        let mut site = TestSite::new(vec![peer(backend.addr)]);
        site.listen.ssl = true;
        site.certs = vec![("s.test".into(), spec(vec![ec.clone()], settings))];
        let (_proxy, addr) = start(site);
        let c = client(
            &rustls::version::TLS13,
            &[rustls::SignatureScheme::ECDSA_NISTP256_SHA256],
        );
        visit(&c, addr).await;
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert!(!visit(&c, addr).await.1, "expired after the timeout");
    }
}
