//! `proxy_pass https://`: TLS backends on 127.0.0.1 with self-signed certificates, recording
//! each handshake (SNI, version, resumption). nginx's defaults are checked (no SNI, no
//! verification, TLS 1.2 at most), then each `proxy_ssl_*` setting, the keepalive cache and a
//! WebSocket tunnel over TLS; the installed nginx, when there is one, must agree.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{HandshakeKind, ProtocolVersion, ServerConfig};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;

use crate::common::free_port;
use crate::common::temp_dir;
use crate::support::backend::{Backend, ok};
use crate::support::nginx::Nginx;
use crate::support::{get, header, within};
use crate::upstream::serve;

/// What a backend's TLS handshake settled.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hello {
    sni: Option<String>,
    version: Option<ProtocolVersion>,
    resumed: bool,
}

/// A recording HTTP backend behind TLS with a self-signed certificate for `name` (written
/// to `dir/NAME.crt`), and the handshakes it completed.
struct TlsBackend {
    http: Backend,
    hellos: Arc<Mutex<Vec<Hello>>>,
}

impl TlsBackend {
    fn addr(&self) -> SocketAddr {
        self.http.addr
    }

    fn hellos(&self) -> Vec<Hello> {
        self.hellos.lock().expect("lock").clone()
    }
}

/// Writes a self-signed certificate for `name` and its key to `dir/NAME.crt`/`.key`.
fn self_signed(dir: &Path, name: &str) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("self-signed");
    std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).expect("write cert");
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).expect("write key");
    let der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    (cert.der().clone(), der)
}

/// The TLS side of a backend for `name` (TLS 1.2 and 1.3, session ids cached, no ALPN),
/// requiring a client certificate issued as `client` when given.
fn acceptor(dir: &Path, name: &str, client: Option<CertificateDer<'static>>) -> TlsAcceptor {
    let (cert, key) = self_signed(dir, name);
    let builder = ServerConfig::builder();
    let builder = match client {
        Some(client) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(client).expect("client root");
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(vec![cert], key)
        .expect("server config");
    TlsAcceptor::from(Arc::new(config))
}

/// Accepts TCP connections on 127.0.0.1:0 and yields those whose handshake succeeds within
/// 5 s, noting each handshake in `hellos`.
async fn tls_streams(
    acceptor: TlsAcceptor,
    hellos: Arc<Mutex<Vec<Hello>>>,
) -> (
    SocketAddr,
    impl futures_util::Stream<Item = tokio_rustls::server::TlsStream<tokio::net::TcpStream>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let streams = futures_util::stream::unfold(listener, move |l| {
        let (acceptor, hellos) = (acceptor.clone(), hellos.clone());
        async move {
            loop {
                let (tcp, _) = l.accept().await.ok()?;
                let accepted = tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp));
                if let Ok(Ok(tls)) = accepted.await {
                    let conn = tls.get_ref().1;
                    hellos.lock().expect("lock").push(Hello {
                        sni: conn.server_name().map(str::to_string),
                        version: conn.protocol_version(),
                        resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
                    });
                    return Some((tls, l));
                }
            }
        }
    });
    (addr, streams)
}

/// An HTTPS backend answering `ok("tls")` to everything.
async fn https_backend(dir: &Path, name: &str) -> TlsBackend {
    https_backend_with(acceptor(dir, name, None)).await
}

async fn https_backend_with(acceptor: TlsAcceptor) -> TlsBackend {
    let hellos = Arc::new(Mutex::new(Vec::new()));
    let (addr, streams) = tls_streams(acceptor, hellos.clone()).await;
    let http = Backend::recording(addr, streams, |_| ok("tls"));
    TlsBackend { http, hellos }
}

fn status(response: &str) -> &str {
    response.get(9..12).unwrap_or(response)
}

/// The locations both servers get in `defaults_and_names_match_nginx`.
fn naming_locations(b: SocketAddr, port: u16) -> String {
    format!(
        "upstream backend.test {{ server {b}; }}
         server {{ listen 127.0.0.1:{port};
             location /plain {{ proxy_pass https://{b}; }}
             location /group {{ proxy_pass https://backend.test; }}
             location /sni {{ proxy_pass https://backend.test; proxy_ssl_server_name on; }}
             location /named {{ proxy_pass https://backend.test; proxy_ssl_server_name on;
                                proxy_ssl_name other.test:8443; }}
             location /tls13 {{ proxy_pass https://backend.test; proxy_ssl_protocols TLSv1.3; }}
             location /untrusted {{ proxy_pass https://backend.test; proxy_ssl_verify on;
                                    proxy_ssl_trusted_certificate other.test.crt; }} }}"
    )
}

/// Requests each naming location once: the statuses and the handshakes the backend saw.
async fn naming_round(addr: SocketAddr, b: &TlsBackend) -> (Vec<String>, Vec<Hello>) {
    let mut statuses = Vec::new();
    for path in ["/plain", "/group", "/sni", "/named", "/tls13", "/untrusted"] {
        statuses.push(status(&get(addr, path).await).to_string());
    }
    (statuses, b.hellos())
}

fn hello(sni: Option<&str>, version: ProtocolVersion) -> Hello {
    Hello {
        sni: sni.map(str::to_string),
        version: Some(version),
        resumed: false,
    }
}

#[tokio::test]
async fn defaults_and_names_match_nginx() {
    let dir = temp_dir("upstls-names");
    let b = https_backend(&dir, "backend.test").await;
    self_signed(&dir, "other.test");
    let port = free_port();
    let http = naming_locations(b.addr(), port);
    let (ngxr, addr) = serve(&dir, &format!("proxy_ssl_session_reuse off; {http}"), port);
    let (statuses, hellos) = naming_round(addr, &b).await;
    drop(ngxr);
    let tls12 = ProtocolVersion::TLSv1_2;
    assert_eq!(statuses, ["200", "200", "200", "200", "200", "502"]);
    assert_eq!(
        hellos,
        [
            hello(None, tls12),
            hello(None, tls12),
            hello(Some("backend.test"), tls12),
            hello(Some("other.test"), tls12),
            hello(None, ProtocolVersion::TLSv1_3),
        ],
        "no SNI unless proxy_ssl_server_name on; nginx 1.22 stops at TLS 1.2 by default"
    );
    let heads: Vec<String> = b.http.requests().into_iter().map(|r| r.head).collect();
    assert!(heads[0].contains(&format!("\r\nHost: {}\r\n", b.addr())));
    assert!(heads[1].contains("\r\nHost: backend.test\r\n"));

    let nginx_dir = dir.join("nginx");
    std::fs::create_dir_all(&nginx_dir).expect("dir");
    for f in ["other.test.crt", "backend.test.crt"] {
        std::fs::copy(dir.join(f), nginx_dir.join(f)).expect("copy");
    }
    b.hellos.lock().expect("lock").clear();
    let nginx_port = free_port();
    // nginx reads the relative certificate path from its configuration's directory.
    let conf = format!(
        "error_log logs/error.log error; proxy_ssl_session_reuse off; {}",
        naming_locations(b.addr(), nginx_port)
    );
    let Some(nginx) = Nginx::serve_at(&nginx_dir, &conf, nginx_port) else {
        return;
    };
    let (nginx_statuses, nginx_hellos) = naming_round(nginx.addr, &b).await;
    assert_eq!(nginx_statuses, statuses);
    // nginx (OpenSSL) completes the handshake with an untrusted server before it looks at
    // the verdict, so that server saw one more handshake; rustls stops at the certificate.
    assert_eq!(nginx_hellos.get(..hellos.len()), Some(&hellos[..]));
    let log = std::fs::read_to_string(nginx_dir.join("logs/error.log")).unwrap_or_default();
    assert!(
        log.contains(
            "upstream SSL certificate verify error: (18:self-signed certificate) \
             while SSL handshaking to upstream"
        ),
        "{log}"
    );
}

#[tokio::test]
async fn verification_needs_the_right_certificate_and_name() {
    let dir = temp_dir("upstls-verify");
    let b = https_backend(&dir, "backend.test").await;
    self_signed(&dir, "other.test");
    let port = free_port();
    let verify = "proxy_ssl_verify on; proxy_ssl_trusted_certificate";
    let http = format!(
        "upstream backend.test {{ server {}; }}
         server {{ listen 127.0.0.1:{port};
             location /trusted {{ proxy_pass https://backend.test; {verify} backend.test.crt; }}
             location /other {{ proxy_pass https://backend.test; {verify} other.test.crt; }}
             location /name {{ proxy_pass https://backend.test; {verify} backend.test.crt;
                               proxy_ssl_name other.test; }} }}",
        b.addr()
    );
    let (_ngxr, addr) = serve(&dir, &http, port);
    assert_eq!(status(&get(addr, "/trusted").await), "200");
    assert_eq!(status(&get(addr, "/other").await), "502");
    assert_eq!(status(&get(addr, "/name").await), "502");
    assert_eq!(b.http.requests().len(), 1, "refused servers get no request");
}

/// A backend whose certificate is X.509 version 1, as `openssl req -x509` makes one from a
/// configuration without extensions: nginx's OpenSSL takes it without `proxy_ssl_verify`, and
/// so must ngxr (webpki reads version 3 only). Skipped without the `openssl` command.
#[tokio::test]
async fn a_version_1_certificate_is_taken_without_verification() {
    let dir = temp_dir("upstls-v1");
    let config = dir.join("openssl.conf");
    std::fs::write(
        &config,
        "[ req ]\ndistinguished_name = dn\nencrypt_key = no\n[ dn ]\n",
    )
    .expect("openssl.conf");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-new",
            "-newkey",
            "rsa:2048",
            "-subj",
            "/CN=v1.test/",
        ])
        .arg("-config")
        .arg(&config)
        .arg("-keyout")
        .arg(dir.join("v1.key"))
        .arg("-out")
        .arg(dir.join("v1.crt"))
        .output();
    let Ok(made) = made.map(|out| out.status.success()) else {
        eprintln!("skipped: no openssl command");
        return;
    };
    assert!(made, "openssl req failed");
    let cert = CertificateDer::from_pem_file(dir.join("v1.crt")).expect("cert");
    assert_eq!(
        cert.get(4..6),
        Some(&[0x30, 0x82][..]),
        "no version field: v1"
    );
    let key = PrivateKeyDer::from_pem_file(dir.join("v1.key")).expect("key");
    // Not `with_single_cert`, which reads the certificate with webpki too.
    let key = rustls::crypto::ring::sign::any_supported_type(&key).expect("signing key");
    let certified = rustls::sign::CertifiedKey::new(vec![cert], key);
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    let b = https_backend_with(TlsAcceptor::from(Arc::new(config))).await;
    let port = free_port();
    let http = format!(
        "server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass https://{}; }} }}",
        b.addr()
    );
    let (_ngxr, addr) = serve(&dir, &http, port);
    assert_eq!(status(&get(addr, "/").await), "200");
    assert_eq!(b.http.requests().len(), 1);
}

/// A root (written to `dir/root.crt`), `n` intermediates each signing the next, and a leaf for
/// `backend.test` the last one signs; the server sends the leaf and the intermediates.
fn chained_acceptor(dir: &Path, n: usize) -> TlsAcceptor {
    let ca = |name: &str| {
        let mut params = rcgen::CertificateParams::new(Vec::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params
    };
    let key = || rcgen::KeyPair::generate().expect("key");
    let root = rcgen::CertifiedIssuer::self_signed(ca("test root"), key()).expect("root");
    std::fs::write(dir.join("root.crt"), root.pem()).expect("write root");
    let mut issuers = vec![root];
    for i in 0..n {
        let name = format!("test intermediate {i}");
        let issuer = issuers.last().expect("an issuer");
        let next = rcgen::CertifiedIssuer::signed_by(ca(&name), key(), issuer).expect("signed");
        issuers.push(next);
    }
    let leaf_key = key();
    let leaf = rcgen::CertificateParams::new(vec!["backend.test".to_string()])
        .expect("params")
        .signed_by(&leaf_key, issuers.last().expect("an issuer"))
        .expect("leaf");
    let mut chain = vec![leaf.der().clone()];
    chain.extend(issuers[1..].iter().rev().map(|i| i.der().clone()));
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()))
        .expect("server config");
    TlsAcceptor::from(Arc::new(config))
}

/// `proxy_ssl_verify_depth` is OpenSSL's verify depth: how many intermediates may stand
/// between the server's certificate and a trusted one (`openssl verify -verify_depth N`
/// refuses a chain with more, as "certificate chain too long").
#[tokio::test]
async fn verify_depth_limits_the_intermediates() {
    for (n, expected) in [(1, ["502", "200", "200"]), (2, ["502", "502", "200"])] {
        let dir = temp_dir(&format!("upstls-depth{n}"));
        let b = https_backend_with(chained_acceptor(&dir, n)).await;
        let verify = "proxy_pass https://backend.test; proxy_ssl_verify on;
                      proxy_ssl_trusted_certificate root.crt; proxy_ssl_verify_depth";
        let port = free_port();
        let http = format!(
            "upstream backend.test {{ server {}; }}
             server {{ listen 127.0.0.1:{port};
                 location /d0 {{ {verify} 0; }}
                 location /d1 {{ {verify} 1; }}
                 location /d2 {{ {verify} 2; }} }}",
            b.addr()
        );
        let (_ngxr, addr) = serve(&dir, &http, port);
        let mut statuses = Vec::new();
        for path in ["/d0", "/d1", "/d2"] {
            statuses.push(status(&get(addr, path).await).to_string());
        }
        assert_eq!(statuses, expected, "{n} intermediates");
    }
}

#[tokio::test]
async fn a_client_certificate_is_sent_when_configured() {
    let dir = temp_dir("upstls-client");
    let (client, _) = self_signed(&dir, "client.test");
    let b = https_backend_with(acceptor(&dir, "backend.test", Some(client))).await;
    let port = free_port();
    let http = format!(
        "server {{ listen 127.0.0.1:{port};
             location /with {{ proxy_pass https://{0};
                 proxy_ssl_certificate client.test.crt;
                 proxy_ssl_certificate_key client.test.key; }}
             location /without {{ proxy_pass https://{0}; }} }}",
        b.addr()
    );
    let (_ngxr, addr) = serve(&dir, &http, port);
    assert_eq!(status(&get(addr, "/with").await), "200");
    assert_eq!(status(&get(addr, "/without").await), "502");
}

/// `proxy_ssl_password_file` opens a client key sealed with a passphrase (the passwords
/// tried in order, as for `ssl_password_file`). Skipped without the `openssl` command.
#[tokio::test]
async fn a_sealed_client_key_is_opened_with_the_password_file() {
    let dir = temp_dir("upstls-sealed");
    let (client, _) = self_signed(&dir, "client.test");
    let sealed = std::process::Command::new("openssl")
        .args([
            "pkey",
            "-in",
            "client.test.key",
            "-aes128",
            "-passout",
            "pass:s3cret",
        ])
        .args(["-out", "sealed.key"])
        .current_dir(&dir)
        .status();
    match sealed {
        Ok(done) => assert!(done.success(), "openssl pkey failed"),
        Err(_) => {
            eprintln!("skipped: no openssl command");
            return;
        }
    }
    std::fs::write(dir.join("passwords"), "wrong\ns3cret\n").expect("passwords");
    let b = https_backend_with(acceptor(&dir, "backend.test", Some(client))).await;
    let port = free_port();
    let http = format!(
        "proxy_ssl_password_file passwords;
         server {{ listen 127.0.0.1:{port};
             location /sealed {{ proxy_pass https://{0};
                 proxy_ssl_certificate client.test.crt;
                 proxy_ssl_certificate_key sealed.key; }} }}",
        b.addr()
    );
    let (_ngxr, addr) = serve(&dir, &http, port);
    assert_eq!(status(&get(addr, "/sealed").await), "200");
}

#[tokio::test]
async fn tls_connections_are_kept_alive_and_sessions_resumed() {
    let dir = temp_dir("upstls-keep");
    let b = https_backend(&dir, "backend.test").await;
    let port = free_port();
    let http = format!(
        "upstream kept {{ server {0}; keepalive 2; }}
         upstream fresh {{ server {0}; }}
         server {{ listen 127.0.0.1:{port};
             proxy_http_version 1.1; proxy_set_header Connection \"\";
             location /kept {{ proxy_pass https://kept; }}
             location /fresh {{ proxy_pass https://fresh; }}
             location /noreuse {{ proxy_pass https://fresh; proxy_ssl_session_reuse off; }} }}",
        b.addr()
    );
    let (_ngxr, addr) = serve(&dir, &http, port);
    for _ in 0..3 {
        assert_eq!(header(&get(addr, "/kept").await, "x-backend"), Some("tls"));
    }
    assert_eq!(
        b.http.connection_count(),
        1,
        "one TLS connection for three requests"
    );
    for path in ["/fresh", "/fresh", "/noreuse", "/noreuse"] {
        assert_eq!(status(&get(addr, path).await), "200");
    }
    let resumed: Vec<bool> = b.hellos().iter().map(|h| h.resumed).collect();
    assert_eq!(resumed, [false, false, true, false, false]);
}

#[tokio::test]
async fn websockets_tunnel_through_a_tls_upstream() {
    let dir = temp_dir("upstls-ws");
    let hellos = Arc::new(Mutex::new(Vec::new()));
    let (backend, streams) = tls_streams(acceptor(&dir, "ws.test", None), hellos).await;
    let echo = tokio::spawn(async move {
        let mut streams = std::pin::pin!(streams);
        while let Some(tls) = streams.next().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let port = free_port();
    let http = format!(
        "server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass https://{backend};
             proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade;
             proxy_set_header Connection upgrade; }} }}"
    );
    let (_ngxr, addr) = serve(&dir, &http, port);
    let (mut ws, response) = within(tokio_tungstenite::connect_async(format!("ws://{addr}/")))
        .await
        .expect("handshake");
    assert_eq!(response.status(), 101);
    for text in ["over", "tls"] {
        ws.send(Message::text(text)).await.expect("send");
        let back = within(ws.next())
            .await
            .expect("a message")
            .expect("no error");
        assert_eq!(back, Message::text(text));
    }
    echo.abort();
}
