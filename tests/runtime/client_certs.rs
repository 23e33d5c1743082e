//! Client certificates (`ssl_verify_client` and the files it reads), `ssl_reject_handshake`
//! and `ssl_session_ticket_key`, served by nginx and by ngxr from one configuration and
//! compared: what a real TLS client gets back, and the `[info]` lines nginx writes.

use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use crate::common::{free_port, nginx, temp_dir};
use crate::files::{file_messages, start};
use crate::support::within;
use crate::tls::Offering;

/// A certificate (and the chain sent after it) and its key, PEM.
struct Pem {
    chain: String,
    key: String,
}

impl Pem {
    fn write(&self, dir: &Path, name: &str) {
        std::fs::write(dir.join(format!("{name}.crt")), &self.chain).expect("write crt");
        std::fs::write(dir.join(format!("{name}.key")), &self.key).expect("write key");
    }
}

/// A CA named `name`, self-signed or issued by `by`.
fn ca(
    name: &str,
    by: Option<&CertifiedIssuer<'static, KeyPair>>,
) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().expect("key");
    match by {
        None => CertifiedIssuer::self_signed(params, key).expect("root"),
        Some(issuer) => CertifiedIssuer::signed_by(params, key, issuer).expect("intermediate"),
    }
}

/// A certificate for `cn` issued by `by` (with `by`'s own certificate after it when `chain`).
fn issued(
    by: &CertifiedIssuer<'static, KeyPair>,
    cn: &str,
    chain: bool,
    edit: impl FnOnce(&mut CertificateParams),
) -> Pem {
    let mut params = CertificateParams::new(Vec::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Org, \u{e9}+");
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0xa1, 0x02]));
    edit(&mut params);
    let key = KeyPair::generate().expect("key");
    let mut pem = params.signed_by(&key, by).expect("issued").pem();
    if chain {
        pem.push_str(&by.pem());
    }
    Pem {
        chain: pem,
        key: key.serialize_pem(),
    }
}

/// The files the configuration names, under `dir`.
fn certificates(dir: &Path) {
    let root = ca("root", None);
    let int = ca("int", Some(&root));
    let stranger = ca("stranger", None);
    std::fs::write(dir.join("root.crt"), root.pem()).expect("root");
    std::fs::write(dir.join("int.crt"), int.pem()).expect("int");
    issued(&root, "server", false, |p| {
        p.subject_alt_names = vec![rcgen::SanType::DnsName("on".try_into().expect("dns"))];
    })
    .write(dir, "server");
    issued(&root, "good", false, |_| {}).write(dir, "good");
    issued(&int, "chained", true, |_| {}).write(dir, "chained");
    issued(&int, "alone", false, |_| {}).write(dir, "alone");
    issued(&stranger, "stranger", false, |_| {}).write(dir, "stranger");
    issued(&root, "expired", false, |p| {
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    })
    .write(dir, "expired");
    let own_key = KeyPair::generate().expect("key");
    let mut own = CertificateParams::new(Vec::new()).expect("params");
    own.distinguished_name
        .push(rcgen::DnType::CommonName, "self");
    Pem {
        chain: own.self_signed(&own_key).expect("self-signed").pem(),
        key: own_key.serialize_pem(),
    }
    .write(dir, "self");
    std::fs::write(dir.join("ticket.key"), [7u8; 80]).expect("ticket key");
}

const CONFIG: &str = "
    worker_processes 1;
    error_log logs/error.log info;
    events { worker_connections 64; }
    http {
        access_log off;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate ROOT/server.crt;
        ssl_certificate_key ROOT/server.key;
        add_header X-Verify $ssl_client_verify always;
        add_header X-Subject $ssl_client_s_dn always;
        add_header X-Issuer $ssl_client_i_dn always;
        add_header X-Serial $ssl_client_serial always;
        add_header X-Fingerprint $ssl_client_fingerprint always;
        add_header X-Reused $ssl_session_reused always;
        ssl_session_ticket_key ROOT/ticket.key;
        server {
            listen 127.0.0.1:PORT ssl;
            server_name on;
            ssl_verify_client on;
            ssl_client_certificate ROOT/root.crt;
            location / { return 200 \"$ssl_client_escaped_cert|$ssl_client_v_remain\\n\"; }
        }
        server {
            listen 127.0.0.1:PORT ssl;
            server_name optional;
            ssl_verify_client optional;
            ssl_client_certificate ROOT/root.crt;
            ssl_verify_depth 0;
            location / { return 200 \"$ssl_client_raw_cert\"; }
        }
        server {
            listen 127.0.0.1:PORT ssl;
            server_name noca;
            ssl_verify_client optional_no_ca;
            ssl_trusted_certificate ROOT/int.crt;
            error_page 495 = /bad;
            location / { return 200 \"$ssl_client_cert\\n\"; }
            location /bad { return 200 \"caught\\n\"; }
        }
        server {
            listen 127.0.0.1:PORT ssl;
            server_name off;
        }
        server {
            listen 127.0.0.1:PORT ssl;
            server_name reject;
            ssl_reject_handshake on;
        }
    }
";

/// A client offering TLS 1.3 only (`tls13`) or TLS 1.2 only, presenting `cert` (files under
/// `dir`), accepting any server.
fn client(dir: &Path, cert: Option<&str>, tls13: bool) -> TlsConnector {
    let version = if tls13 {
        &rustls::version::TLS13
    } else {
        &rustls::version::TLS12
    };
    client_of(dir, cert, &[version])
}

/// [`client`] offering `versions`.
fn client_of(
    dir: &Path,
    cert: Option<&str>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Offering { schemes }));
    let config = match cert {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let chain: Vec<CertificateDer<'static>> =
                rustls::pki_types::pem::PemObject::pem_file_iter(dir.join(format!("{name}.crt")))
                    .expect("crt")
                    .collect::<Result<_, _>>()
                    .expect("certs");
            let key: PrivateKeyDer<'static> =
                rustls::pki_types::pem::PemObject::from_pem_file(dir.join(format!("{name}.key")))
                    .expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client certificate")
        }
    };
    TlsConnector::from(Arc::new(config))
}

/// One request: `GET /` with `Host: host` after a handshake naming `sni`; the answer without
/// its `Date`, or the handshake's failure.
async fn ask(port: u16, connector: &TlsConnector, sni: &str, host: &str) -> String {
    within(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let name = ServerName::try_from(sni.to_string()).expect("name");
        let mut tls = match connector.connect(name, tcp).await {
            Ok(tls) => tls,
            Err(e) => return format!("handshake failed: {e}"),
        };
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let _ = tls.write_all(request.as_bytes()).await;
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out)
            .split("\r\n")
            .filter(|l| !l.starts_with("Date: "))
            .collect::<Vec<_>>()
            .join("\r\n")
    })
    .await
}

/// (SNI, Host, client certificate) of every probe.
const PROBES: &[(&str, &str, Option<&str>)] = &[
    ("on", "on", None),
    ("on", "on", Some("good")),
    ("on", "on", Some("chained")),
    ("on", "on", Some("alone")),
    ("on", "on", Some("stranger")),
    ("on", "on", Some("expired")),
    ("on", "on", Some("self")),
    ("optional", "optional", None),
    ("optional", "optional", Some("good")),
    ("optional", "optional", Some("chained")),
    ("optional", "optional", Some("self")),
    ("noca", "noca", None),
    ("noca", "noca", Some("alone")),
    ("noca", "noca", Some("stranger")),
    ("noca", "noca", Some("expired")),
    ("off", "off", Some("good")),
    ("optional", "on", Some("good")),
    ("optional", "off", None),
    ("off", "on", None),
    ("reject", "reject", None),
    ("unknown", "unknown", None),
];

#[tokio::test]
async fn client_certificates_are_checked_and_shown_as_nginx_does() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("client-certs");
    certificates(&base);
    let mut seen = Vec::new();
    for (bin, name) in [(nginx, "nginx"), (env!("CARGO_BIN_EXE_ngxr"), "ngxr")] {
        let (prefix, port) = (base.join(name), free_port());
        let config = CONFIG.replace("ROOT", &base.display().to_string());
        let server = start(bin, &prefix, &config, &base, port, 0);
        let mut answers = Vec::new();
        for tls13 in [false, true] {
            for (sni, host, cert) in PROBES {
                let connector = client(&base, *cert, tls13);
                let answer = ask(port, &connector, sni, host).await;
                answers.push(format!("{sni} {host} {cert:?} tls1.3={tls13}:\n{answer}"));
            }
        }
        // A second visit resumes with a ticket sealed by the key file.
        let connector = client(&base, Some("good"), false);
        ask(port, &connector, "on", "on").await;
        answers.push(ask(port, &connector, "on", "on").await);
        drop(server);
        let lines: Vec<String> =
            file_messages(&prefix.join("logs/error.log"), Some(&prefix), &[port])
                .into_iter()
                .filter(|l| l.contains("client"))
                .filter(|l| !l.contains("SSL_do_handshake") && !l.contains("closed"))
                .collect();
        seen.push((answers, lines));
    }
    let (theirs, ours) = (&seen[0], &seen[1]);
    for (a, b) in theirs.0.iter().zip(&ours.0) {
        assert_eq!(a, b, "nginx, then ngxr");
    }
    assert!(
        theirs
            .0
            .iter()
            .any(|a| a.contains("FAILED:certificate has expired"))
    );
    assert!(theirs.0.last().is_some_and(|a| a.contains("X-Reused: r")));
    assert_eq!(theirs.1, ours.1, "error-log lines, nginx then ngxr");
}

/// A key sealed with a passphrase serves once `ssl_password_file` opens it.
#[tokio::test]
async fn sealed_keys_serve_with_ssl_password_file() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("sealed-keys");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sealed");
    let config = format!(
        "events {{ worker_connections 64; }}
         http {{
            access_log off;
            ssl_password_file {dir}/passwords;
            server {{
                listen 127.0.0.1:PORT ssl;
                ssl_certificate {dir}/sealed.crt;
                ssl_certificate_key {dir}/traditional.key;
                location / {{ return 200 \"$scheme\\n\"; }}
            }}
         }}"
    );
    for bin in [nginx, env!("CARGO_BIN_EXE_ngxr")] {
        let (prefix, port) = (
            base.join(bin.rsplit('/').next().unwrap_or("bin")),
            free_port(),
        );
        let _server = start(bin, &prefix, &config, &base, port, 0);
        let answer = ask(port, &client(&base, None, false), "sealed.test", "x").await;
        assert!(answer.ends_with("\r\n\r\nhttps\n"), "{bin}: {answer}");
    }
}

/// What nginx's merge refuses (files missing or unfit, keys that do not open), refused alike.
#[test]
fn loading_is_refused_as_nginx_t_does() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("client-certs-t");
    certificates(&base);
    let plain = "ssl_certificate ROOT/server.crt; ssl_certificate_key ROOT/server.key;";
    let sealed = |key: &str, passwords: &str| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sealed");
        let file = if passwords.is_empty() {
            String::new()
        } else {
            format!("ssl_password_file {dir}/{passwords};")
        };
        format!("ssl_certificate {dir}/sealed.crt; ssl_certificate_key {dir}/{key}; {file}")
    };
    std::fs::write(base.join("wrong"), "wrong\n").expect("passwords");
    let cases = [
        format!("{plain} ssl_verify_client on;"),
        format!("{plain} ssl_verify_client on; ssl_client_certificate ROOT/nope.crt;"),
        format!("{plain} ssl_verify_client optional; ssl_client_certificate ROOT/server.key;"),
        format!("{plain} ssl_trusted_certificate ROOT/nope.crt;"),
        format!("{plain} ssl_crl ROOT/nope.crl;"),
        format!("{plain} ssl_session_ticket_key ROOT/nope.key;"),
        format!("{plain} ssl_session_ticket_key ROOT/server.crt;"),
        format!("{plain} ssl_verify_client optional_no_ca; ssl_client_certificate ROOT/nope.crt;"),
        format!("{plain} ssl_verify_client optional_no_ca;"),
        format!("{plain} ssl_client_certificate ROOT/nope.crt;"),
        format!("{plain} ssl_password_file ROOT/nope;"),
        sealed("pkcs8.key", "passwords"),
        sealed("traditional.key", "passwords"),
        sealed("pkcs8.key", "../../../nope"),
        format!("{} ssl_password_file ROOT/wrong;", sealed("pkcs8.key", "")),
        format!(
            "{} ssl_password_file ROOT/wrong;",
            sealed("traditional.key", "")
        ),
    ];
    for case in cases {
        let dir = base.join("t");
        std::fs::create_dir_all(&dir).expect("dir");
        let conf = format!(
            "events {{}}\nhttp {{\n server {{ listen 127.0.0.1:{port} ssl;\n {case}\n }}\n}}\n",
            port = free_port()
        )
        .replace("ROOT", &base.display().to_string());
        std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
        let verdict = |bin: &str| {
            let out = std::process::Command::new(bin)
                .arg("-t")
                .arg("-p")
                .arg(format!("{}/", dir.display()))
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .output()
                .expect("run -t");
            let text = String::from_utf8_lossy(&out.stderr).into_owned();
            let emerg = text
                .lines()
                .find(|l| l.contains("[emerg]"))
                .and_then(|l| l.split_once("[emerg] ").map(|(_, m)| m.to_string()))
                .map(|m| {
                    m.split_once(": ").map_or(m.clone(), |(pid, rest)| {
                        if pid.contains('#') {
                            rest.to_string()
                        } else {
                            m.clone()
                        }
                    })
                });
            (out.status.success(), emerg)
        };
        assert_eq!(
            verdict(nginx),
            verdict(env!("CARGO_BIN_EXE_ngxr")),
            "{case}"
        );
    }
}

/// With `ssl_session_ticket_key`, a session outlives the server that made it: the next
/// server with the same key file resumes it, one with another key does not.
#[tokio::test]
async fn ticket_keys_resume_sessions_across_restarts() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("ticket-keys");
    certificates(&base);
    std::fs::write(base.join("other.key"), [9u8; 48]).expect("other key");
    let config = |key: &str| {
        format!(
            "events {{ worker_connections 64; }}
             http {{
                access_log off;
                ssl_protocols TLSv1.2 TLSv1.3;
                ssl_session_ticket_key ROOT/{key};
                server {{
                    listen 127.0.0.1:PORT ssl;
                    ssl_certificate ROOT/server.crt;
                    ssl_certificate_key ROOT/server.key;
                    location / {{ return 200 \"$ssl_session_reused\\n\"; }}
                }}
             }}"
        )
        .replace("ROOT", &base.display().to_string())
    };
    for bin in [nginx, env!("CARGO_BIN_EXE_ngxr")] {
        for tls13 in [false, true] {
            let connector = client(&base, None, tls13);
            let mut reused = Vec::new();
            for key in ["ticket.key", "ticket.key", "other.key"] {
                let (prefix, port) = (base.join("run"), free_port());
                let _server = start(bin, &prefix, &config(key), &base, port, 0);
                let answer = ask(port, &connector, "on", "on").await;
                reused.push(answer.rsplit("\r\n").next().unwrap_or_default().to_string());
            }
            assert_eq!(reused, [".\n", "r\n", ".\n"], "{bin} tls1.3={tls13}");
        }
    }
}

/// The handshake's variables, against nginx, for a client offering TLS 1.2 and 1.3, with and
/// without SNI: with `ssl_protocols` at nginx 1.22's default (TLS 1.3 not among them) and
/// with TLS 1.3 named.
#[tokio::test]
async fn handshake_variables_and_the_default_protocols_are_nginx_s() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("handshake-vars");
    certificates(&base);
    let config = |protocols: &str| {
        format!(
            "events {{ worker_connections 64; }}
             http {{
                access_log off;
                {protocols}
                server {{
                    listen 127.0.0.1:PORT ssl;
                    ssl_certificate ROOT/server.crt;
                    ssl_certificate_key ROOT/server.key;
                    location / {{
                        return 200 \"$ssl_protocol|$ssl_cipher|$ssl_curve|$ssl_session_reused|$ssl_early_data|$ssl_server_name|$ssl_alpn_protocol\\n\";
                    }}
                }}
             }}"
        )
        .replace("ROOT", &base.display().to_string())
    };
    let connector = client_of(
        &base,
        None,
        &[&rustls::version::TLS13, &rustls::version::TLS12],
    );
    let mut seen = Vec::new();
    for (bin, name) in [(nginx, "nginx"), (env!("CARGO_BIN_EXE_ngxr"), "ngxr_")] {
        let mut answers = Vec::new();
        for protocols in ["", "ssl_protocols TLSv1.2 TLSv1.3;"] {
            let (prefix, port) = (base.join(name), free_port());
            let _server = start(bin, &prefix, &config(protocols), &base, port, 0);
            for sni in ["on", "127.0.0.1"] {
                let answer = ask(port, &connector, sni, "on").await;
                let body = answer.rsplit("\r\n").next().unwrap_or_default().to_string();
                answers.push(format!("{protocols} {sni}: {body}"));
            }
        }
        seen.push(answers);
    }
    assert_eq!(seen[0], seen[1], "nginx, then ngxr");
    assert!(seen[0][0].contains(": TLSv1.2|"), "{:?}", seen[0]);
    assert!(seen[0][2].contains(": TLSv1.3|"), "{:?}", seen[0]);
}

/// The deprecated `ssl on`: an address whose default server has it speaks TLS (to every server
/// there), one where only another server has it stays plain.
#[tokio::test]
async fn ssl_on_makes_the_default_server_s_addresses_speak_tls() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("ssl-on");
    certificates(&base);
    let config = "
        events { worker_connections 64; }
        http {
            access_log off;
            ssl_certificate ROOT/server.crt;
            ssl_certificate_key ROOT/server.key;
            server {
                listen 127.0.0.1:PORT;
                ssl on;
                location / { return 200 \"default $scheme $https $server_port\\n\"; }
            }
            server {
                listen 127.0.0.1:PORT;
                listen 127.0.0.1:DEAD;
                server_name other;
                location / { return 200 \"other $scheme $https $server_port\\n\"; }
            }
            server {
                listen 127.0.0.1:DEAD;
                server_name on;
                ssl on;
                location / { return 200 \"on $scheme $https $server_port\\n\"; }
            }
        }";
    let mut seen = Vec::new();
    for bin in [nginx, env!("CARGO_BIN_EXE_ngxr")] {
        let (prefix, port, plain) = (
            base.join(bin.rsplit('/').next().unwrap_or("bin")),
            free_port(),
            free_port(),
        );
        let _server = start(bin, &prefix, config, &base, port, plain);
        let mut answers = Vec::new();
        for (sni, host) in [("x.test", "x"), ("other", "other")] {
            let answer = ask(port, &client(&base, None, false), sni, host).await;
            answers.push(answer.replace(&port.to_string(), "PORT"));
        }
        for host in ["other", "on"] {
            let answer = within(async {
                let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", plain))
                    .await
                    .expect("connect");
                let request =
                    format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
                tcp.write_all(request.as_bytes()).await.expect("write");
                let mut out = Vec::new();
                let _ = tcp.read_to_end(&mut out).await;
                String::from_utf8_lossy(&out).into_owned()
            })
            .await;
            let body = answer
                .split("\r\n\r\n")
                .nth(1)
                .unwrap_or_default()
                .to_string();
            answers.push(body.replace(&plain.to_string(), "PLAIN"));
        }
        seen.push(answers);
    }
    assert!(
        seen[0][0].ends_with("\r\n\r\ndefault https on PORT\n"),
        "{:?}",
        seen[0]
    );
    assert_eq!(seen[0][3], "on http  PLAIN\n");
    assert_eq!(seen[0], seen[1], "nginx, then ngxr");
}
