//! `listen ... ssl http2`: curl speaking HTTP/2 (ALPN `h2`) gets from ngxr what it gets from
//! nginx: the same status, headers and body, and the backend and the access log see the same
//! request (`HTTP/2.0` in `$request`, `$http2` = `h2`, cookies joined). The same over a plain
//! `listen ... http2` (h2c with prior knowledge, `$http2` = `h2c`), where an HTTP/1 client
//! gets nothing. Skipped without nginx or a curl that speaks HTTP/2.

use std::path::Path;
use std::process::Command;

use super::files::{Probe, Seen, assert_same_by, through_both};
use crate::common::{Mirror, temp_dir};

const NGINX: &str = "/usr/sbin/nginx";

/// One curl run over HTTP/2 against `/PATH` with extra arguments.
struct Curl {
    path: &'static str,
    args: &'static [&'static str],
}

impl Curl {
    fn describe(&self) -> String {
        format!("{} {:?}", self.path, self.args)
    }
}

impl Probe for Curl {
    fn send(&self, _prefix: &Path, port: u16) -> Vec<u8> {
        self.run(port, "--http2", "https")
    }
}

/// A [`Curl`] over cleartext HTTP/2, with prior knowledge (h2c).
struct Cleartext(&'static Curl);

impl Probe for Cleartext {
    fn send(&self, _prefix: &Path, port: u16) -> Vec<u8> {
        self.0.run(port, "--http2-prior-knowledge", "http")
    }
}

impl Curl {
    fn run(&self, port: u16, http2: &str, scheme: &str) -> Vec<u8> {
        let out = Command::new("curl")
            .args(["-sik", http2, "--max-time", "10"])
            .args(["-w", "\n[%{http_version}]"])
            .args(self.args)
            .arg(format!("{scheme}://localhost:{port}{}", self.path))
            .output()
            .expect("run curl");
        // The clock may tick between the two servers' runs.
        String::from_utf8_lossy(&out.stdout)
            .split("\r\n")
            .filter(|l| !l.starts_with("date: "))
            .collect::<Vec<_>>()
            .join("\r\n")
            .into_bytes()
    }
}

const PROBES: &[Curl] = &[
    Curl {
        path: "/hello?x=1",
        args: &[],
    },
    Curl {
        path: "/p/echo?q",
        args: &[
            "-H",
            "Cookie: a=1",
            "-H",
            "X-Custom: c",
            "-H",
            "Cookie: b=2",
        ],
    },
    Curl {
        path: "/p/form",
        args: &["--data-binary", "field=value&other=2"],
    },
    // No Content-Length: nginx reads the body as chunked.
    Curl {
        path: "/p/streamed",
        args: &["-H", "Content-Length:", "--data-binary", "abc"],
    },
    Curl {
        path: "/files/page.html",
        args: &["-H", "Accept-Encoding: gzip"],
    },
    Curl {
        path: "/files/page.html",
        args: &["-I"],
    },
    Curl {
        path: "/files/big.bin",
        args: &[
            "-o",
            "/dev/null",
            "-w",
            "%{size_download} [%{http_version}]",
        ],
    },
    Curl {
        path: "/files/none",
        args: &[],
    },
    Curl {
        path: "/files",
        args: &[],
    },
];

/// The files the probes ask for, under `base/www`.
fn write_files(base: &Path) {
    std::fs::create_dir_all(base.join("www")).expect("www");
    std::fs::write(base.join("www/page.html"), "<p>".repeat(400)).expect("page");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(base.join("www/big.bin"), big).expect("big");
}

fn curl_speaks_http2() -> bool {
    Command::new("curl")
        .arg("-V")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("HTTP2"))
}

#[test]
fn http2_clients_get_nginx_s_answers() {
    if !Path::new(NGINX).exists() || !curl_speaks_http2() {
        eprintln!("skipped: needs {NGINX} and a curl with HTTP2");
        return;
    }
    let base = temp_dir("http2");
    write_files(&base);
    let (pair, _) = super::tls::pair(&base, "localhost", &rcgen::PKCS_ECDSA_P256_SHA256);
    let mirror = Mirror::start();
    let config = format!(
        r#"
error_log logs/error.log;
events {{}}
http {{
    log_format t '"$request" $server_protocol [$http2] $status $body_bytes_sent '
                 '"$http_cookie" $host $ssl_alpn_protocol';
    access_log logs/access.log t;
    server {{
        listen 127.0.0.1:PORT ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{ return 200 "$request_uri [$http2] $server_protocol\n"; }}
        location /p/ {{ proxy_pass http://127.0.0.1:{mirror}/; }}
        location /files/ {{ alias ROOT/www/; }}
    }}
}}
"#,
        cert = pair.certificate.display(),
        key = pair.key.display(),
        mirror = mirror.port,
    );
    let seen: [Seen; 2] = through_both(NGINX, &config, &base, PROBES);
    for theirs in &seen[0].0 {
        assert!(
            theirs.contains("[2]"),
            "nginx answered over HTTP/2: {theirs}"
        );
    }
    assert_same_by(&seen, |i| PROBES[i].describe(), <[String]>::to_vec);
}

#[test]
fn cleartext_http2_clients_get_nginx_s_answers() {
    if !Path::new(NGINX).exists() || !curl_speaks_http2() {
        eprintln!("skipped: needs {NGINX} and a curl with HTTP2");
        return;
    }
    let base = temp_dir("h2c");
    write_files(&base);
    let mirror = Mirror::start();
    let config = format!(
        r#"
error_log logs/error.log;
events {{}}
http {{
    log_format t '"$request" $server_protocol [$http2] $status $body_bytes_sent '
                 '"$http_cookie" $host';
    access_log logs/access.log t;
    server {{
        listen 127.0.0.1:PORT http2;
        location / {{ return 200 "$request_uri [$http2] $server_protocol\n"; }}
        location /p/ {{ proxy_pass http://127.0.0.1:{mirror}/; }}
        location /files/ {{ alias ROOT/www/; }}
    }}
}}
"#,
        mirror = mirror.port,
    );
    let probes: Vec<Cleartext> = PROBES.iter().map(Cleartext).collect();
    let seen: [Seen; 2] = through_both(NGINX, &config, &base, &probes);
    for theirs in &seen[0].0 {
        assert!(
            theirs.contains("[2]"),
            "nginx answered over HTTP/2: {theirs}"
        );
    }
    assert_same_by(&seen, |i| PROBES[i].describe(), <[String]>::to_vec);
}
