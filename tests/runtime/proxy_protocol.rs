//! `listen ... proxy_protocol` against nginx: clients that write a PROXY protocol header (v1
//! text, v2 binary, with and without addresses) before their request, the
//! `$proxy_protocol_*` variables, `real_ip_header proxy_protocol` with `allow`/`deny` and the
//! access log after it, and the headers nginx refuses (the connection closed, its error-log
//! line). Skipped when nginx is not installed.

use crate::common::{nginx, temp_dir};
use crate::files::{Sent, Via, through_both};

const CONFIG: &str = r#"
error_log logs/error.log error;
events { worker_connections 64; }
http {
    log_format pp '$remote_addr:$remote_port $realip_remote_addr $proxy_protocol_addr:$proxy_protocol_port $request $status';
    access_log logs/access.log pp;
    add_header X-PP $proxy_protocol_addr!$proxy_protocol_port;
    add_header X-PPS $proxy_protocol_server_addr!$proxy_protocol_server_port;
    server {
        listen 127.0.0.1:PORT proxy_protocol;
        set_real_ip_from 127.0.0.1;
        location / { return 200 "plain $server_addr:$server_port\n"; }
        location /pp {
            real_ip_header proxy_protocol;
            error_page 404 =200 /found;
            location /pp/deny4 { deny 192.0.2.1; }
            location /pp/deny6 { deny 2001:db8::1; }
        }
        location /found { return 200 "found $remote_addr:$remote_port\n"; }
    }
}
"#;

const TCP4: &[u8] = b"PROXY TCP4 192.0.2.1 192.0.2.2 123 5678\r\n";
const TCP6: &[u8] = b"PROXY TCP6 2001:Db8::1 2001:Db8::2 123 5678\r\n";
const UNKNOWN: &[u8] = b"PROXY UNKNOWN\r\n";
const UNKNOWN_MORE: &[u8] = b"PROXY UNKNOWN 1 2 3 4 5 6\r\n";
const V2_TCP4: &[u8] =
    b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x01\xc0\x00\x02\x02\x00\x7b\x16\x2e";
const V2_TCP6: &[u8] = b"\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24\
    \x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02\x00\x7b\x16\x2e";
const V2_TLV: &[u8] =
    b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x15\xc0\x00\x02\x01\xc0\x00\x02\x02\x00\x7b\x16\x2e\
    \x04\x00\x06abcdef";
const V2_LOCAL: &[u8] =
    b"\r\n\r\n\0\r\nQUIT\n\x20\x11\x00\x0c\xc0\x00\x02\x01\xc0\x00\x02\x02\x00\x7b\x16\x2e";
const V2_UNSPEC: &[u8] = b"\r\n\r\n\0\r\nQUIT\n\x21\x01\x00\x00";
const V2_UNIX: &[u8] = b"\r\n\r\n\0\r\nQUIT\n\x21\x41\x00\x04\x01\x02\x03\x04";

/// Headers nginx refuses.
const BROKEN: &[&[u8]] = &[
    b"",
    b"PROXY TCP4 192.0.2.1 192.0.2.2 123 5678\n",
    b"PROXY TCP4 192.0.2.1 192.0.2.2 123 65536\r\n",
    b"PROXY TCP4 192.0.2.1 192.0.2.2 123\r\n",
    b"PROXY TCP9 192.0.2.1 192.0.2.2 123 5678\r\n",
    b"PROXY TCP4 192.0.2.x 192.0.2.2 123 5678\r\n",
    // v2: version 1, a length past what was sent, an IPv4 block too short (no log line).
    b"\r\n\r\n\0\r\nQUIT\n\x11\x11\x00\x0c\xc0\x00\x02\x01\xc0\x00\x02\x02\x00\x7b\x16\x2e",
    b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x10\x00\xc0\x00\x02\x01",
    b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x04\xc0\x00\x02\x01",
];

fn with(header: &'static [u8], request: &str) -> Sent {
    Sent {
        via: Via::Preface(header),
        request: request.to_string(),
    }
}

/// Each header with each of the paths.
fn probes() -> Vec<Sent> {
    let mut probes = Vec::new();
    let headers = [
        TCP4,
        TCP6,
        UNKNOWN,
        UNKNOWN_MORE,
        V2_TCP4,
        V2_TCP6,
        V2_TLV,
        V2_LOCAL,
        V2_UNSPEC,
        V2_UNIX,
    ];
    for header in headers {
        for path in ["/", "/pp/x", "/pp/deny4", "/pp/deny6"] {
            probes.push(with(header, &format!("GET {path} HTTP/1.0\r\nHost: x\r\n")));
        }
    }
    for header in BROKEN {
        probes.push(with(header, "GET / HTTP/1.0\r\nHost: x\r\n"));
    }
    probes
}

/// The TCP client's port in the text of an answer or log, which differs from run to run.
fn portless(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("127.0.0.1:") {
        let (before, after) = rest.split_at(at + "127.0.0.1:".len());
        out.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(if digits > 0 { "N" } else { "" });
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

#[test]
fn proxy_protocol_headers_as_nginx_reads_them() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("proxy-protocol");
    let probes = probes();
    let [theirs, ours] = through_both(nginx, CONFIG, &base, &probes);
    let answers = |seen: &[String]| -> Vec<String> { seen.iter().map(|a| portless(a)).collect() };
    let (theirs_answers, ours_answers) = (answers(&theirs.0), answers(&ours.0));
    for (i, (t, o)) in theirs_answers.iter().zip(&ours_answers).enumerate() {
        assert_eq!(o, t, "probe {i}: {:?}", probes[i]);
    }
    assert!(
        theirs_answers[1].contains("found 192.0.2.1:123"),
        "{}",
        theirs_answers[1]
    );
    assert!(theirs_answers[2].contains("403 Forbidden"));
    assert_eq!(portless(&ours.1), portless(&theirs.1), "access logs");
    assert_eq!(ours.2, theirs.2, "error logs");
    assert!(
        theirs
            .2
            .iter()
            .any(|l| l.starts_with("broken header: \"PROXY TCP4")),
        "{:?}",
        theirs.2
    );
}

const TLS_CONFIG: &str = r#"
error_log logs/error.log error;
events { worker_connections 64; }
http {
    log_format pp '$remote_addr $realip_remote_addr $proxy_protocol_addr $request $status';
    access_log logs/access.log pp;
    server {
        listen 127.0.0.1:PORT proxy_protocol ssl;
        ssl_certificate CERT;
        ssl_certificate_key KEY;
        set_real_ip_from 127.0.0.1;
        real_ip_header proxy_protocol;
        location / { return 200 "$scheme $remote_addr:$remote_port $proxy_protocol_addr!$proxy_protocol_server_port\n"; }
    }
}
"#;

/// On an `ssl` socket the header comes before the TLS handshake; a plain request after it
/// gets nginx's 400 for plain HTTP on an HTTPS port.
#[test]
fn proxy_protocol_headers_before_tls_as_nginx_reads_them() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("proxy-protocol-tls");
    let (pair, _) = crate::tls::pair(&base, "localhost", &rcgen::PKCS_ECDSA_P256_SHA256);
    let config = TLS_CONFIG
        .replace("CERT", &pair.certificate.display().to_string())
        .replace("KEY", &pair.key.display().to_string());
    let tls = |header| Sent {
        via: Via::Tls(header),
        request: "GET / HTTP/1.1\r\nHost: localhost\r\n".into(),
    };
    let probes = [
        tls(TCP4),
        tls(TCP6),
        tls(UNKNOWN_MORE),
        tls(V2_TCP4),
        tls(V2_LOCAL),
        with(TCP4, "GET / HTTP/1.0\r\nHost: x\r\n"),
        with(BROKEN[4], "GET / HTTP/1.0\r\nHost: x\r\n"),
    ];
    let [theirs, ours] = through_both(nginx, &config, &base, &probes);
    let answers = |seen: &[String]| -> Vec<String> { seen.iter().map(|a| portless(a)).collect() };
    assert_eq!(answers(&ours.0), answers(&theirs.0));
    assert!(
        theirs.0[0].ends_with("https 192.0.2.1:123 192.0.2.1!5678\n"),
        "{}",
        theirs.0[0]
    );
    assert!(theirs.0[5].contains("400 The plain HTTP request was sent to HTTPS port"));
    assert_eq!(ours.1, theirs.1, "access logs");
    assert_eq!(ours.2, theirs.2, "error logs");
}
