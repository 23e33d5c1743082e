//! `listen ... ssl`: the certificate follows SNI, and HTTP flows over TLS.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use ngxr::eval::plan::CertificateSpec;

use crate::start;
use crate::support::backend::Backend;
use crate::support::site::{TestSite, peer};
use crate::support::within;

/// A self-signed certificate for `name`, written as PEM files under `dir`.
fn certificate(
    dir: &std::path::Path,
    name: &str,
) -> (
    Arc<CertificateSpec>,
    rustls::pki_types::CertificateDer<'static>,
) {
    let generated = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("rcgen");
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, generated.cert.pem()).expect("write cert");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("write key");
    let spec = CertificateSpec {
        certificate: cert,
        key,
        protocols: vec!["TLSv1.2".into(), "TLSv1.3".into()],
    };
    (Arc::new(spec), generated.cert.der().clone())
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
