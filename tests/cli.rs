//! nginx's command line as ngxr answers it: `-t`, `-T`, `-q`, `-v`, `-V`, `-g`, and the
//! deliberate differences README lists (a relative `-c` from the current directory; a warning
//! for directives ngxr does not serve).

mod common;

use std::process::Command;

use common::temp_dir;

/// Runs ngxr in `dir` with `args`; returns (exit code, stdout, stderr).
fn ngxr(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ngxr"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run ngxr");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn t_reads_a_relative_c_from_the_current_directory() {
    let dir = temp_dir("cli-relative");
    std::fs::write(dir.join("nginx.conf"), "events {}\n").expect("write");
    let (code, _, err) = ngxr(&dir, &["-t", "-c", "nginx.conf"]);
    assert_eq!(code, 0, "{err}");
    let conf = dir.join("nginx.conf");
    assert_eq!(
        err,
        format!(
            "ngxr: the configuration file {0} syntax is ok\nngxr: configuration file {0} test is successful\n",
            conf.display()
        )
    );
    let (code, _, err) = ngxr(&dir, &["-t", "-q", "-c", "nginx.conf"]);
    assert_eq!((code, err.as_str()), (0, ""));
}

#[test]
fn t_warns_about_directives_ngxr_does_not_serve() {
    let dir = temp_dir("cli-unsupported");
    let conf = "events {}\nhttp {\n    server {\n        listen 127.0.0.1:8080;\n        slice 1m;\n    }\n}\n";
    std::fs::write(dir.join("nginx.conf"), conf).expect("write");
    let (code, _, err) = ngxr(&dir, &["-t", "-c", "nginx.conf"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.starts_with("ngxr: [warn] \"slice\" is not implemented by ngxr"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}:5\n", dir.join("nginx.conf").display())),
        "{err}"
    );
}

#[test]
fn t_says_at_emerg_what_nginx_ignores_and_succeeds() {
    // `accept_filter=` is FreeBSD's: nginx on Linux logs it at `emerg` and goes on.
    let dir = temp_dir("cli-ignored");
    let conf =
        "events {}\nhttp {\n    server { listen 127.0.0.1:8080 accept_filter=httpready; }\n}\n";
    std::fs::write(dir.join("nginx.conf"), conf).expect("write");
    let (code, _, err) = ngxr(&dir, &["-t", "-c", "nginx.conf"]);
    assert_eq!(code, 0, "{err}");
    let conf = dir.join("nginx.conf");
    assert_eq!(
        err,
        format!(
            "ngxr: [emerg] accept filters \"accept_filter=httpready\" are not supported on this \
             platform, ignored in {0}:3\n\
             ngxr: the configuration file {0} syntax is ok\n\
             ngxr: configuration file {0} test is successful\n",
            conf.display()
        )
    );
}

#[test]
fn big_t_dumps_every_file_read_once() {
    let dir = temp_dir("cli-dump");
    std::fs::write(
        dir.join("nginx.conf"),
        "events {}\ninclude a.conf;\ninclude a.conf;\n",
    )
    .expect("write");
    std::fs::write(dir.join("a.conf"), "# nothing\n").expect("write");
    let (code, out, _) = ngxr(&dir, &["-T", "-q", "-c", "nginx.conf"]);
    assert_eq!(code, 0);
    let main = dir.join("nginx.conf");
    let inc = dir.join("a.conf");
    assert_eq!(
        out,
        format!(
            "# configuration file {}:\nevents {{}}\ninclude a.conf;\ninclude a.conf;\n\n# configuration file {}:\n# nothing\n\n",
            main.display(),
            inc.display()
        )
    );
}

#[test]
fn g_directives_come_before_the_file() {
    let dir = temp_dir("cli-globals");
    std::fs::write(dir.join("nginx.conf"), "events {}\nworker_processes 2;\n").expect("write");
    let (code, _, err) = ngxr(
        &dir,
        &["-t", "-c", "nginx.conf", "-g", "worker_processes 1;"],
    );
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!(
            "ngxr: [emerg] \"worker_processes\" directive is duplicate in {}:2\n",
            dir.join("nginx.conf").display()
        )),
        "{err}"
    );
}

#[test]
fn v_and_big_v_name_the_nginx_version_followed() {
    let dir = temp_dir("cli-version");
    let (code, _, err) = ngxr(&dir, &["-v"]);
    assert_eq!(code, 0);
    assert!(
        err.starts_with("nginx version: nginx/1.22.1 (ngxr "),
        "{err}"
    );
    let (_, _, err) = ngxr(&dir, &["-V"]);
    assert!(err.contains("TLS SNI support enabled"), "{err}");
    assert!(err.contains("--with-http_ssl_module"), "{err}");
    // Served modules are not declared absent; unserved ones are, so nginx's tests skip them.
    assert!(err.contains("--with-http_realip_module"), "{err}");
    assert!(err.contains("--with-http_auth_request_module"), "{err}");
    assert!(!err.contains("--without-http_gzip_module"), "{err}");
    assert!(!err.contains("--without-http_ssi_module"), "{err}");
    assert!(err.contains("--with-http_addition_module"), "{err}");
}

#[test]
fn the_server_refuses_to_start_on_a_directive_it_does_not_serve() {
    let dir = temp_dir("cli-refuse");
    let port = common::free_port();
    let conf = format!(
        "daemon off;\npid {0}/ngxr.pid;\nerror_log {0}/error.log;\nevents {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:{port};\n        slice 1m;\n    }}\n}}\n",
        dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("write");
    let child = Command::new(env!("CARGO_BIN_EXE_ngxr"))
        .args(["-c", "nginx.conf"])
        .current_dir(&dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start ngxr");
    let mut running = common::Running(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = running.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ngxr started serving instead of refusing"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(!status.success());
    let mut err = String::new();
    if let Some(mut e) = running.0.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(
        // At start nginx's log is stderr: `TIME [emerg] PID#TID: MESSAGE`.
        err.contains("[emerg] ") && err.contains(": \"slice\" is not implemented by ngxr"),
        "{err}"
    );
}

/// Each line of a `-t` output without nginx's time and pid or the program's name.
fn messages(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| match l.split_once("] ") {
            Some((level, rest)) if l.contains(" [") => {
                let level = level.rsplit('[').next().unwrap_or_default();
                // nginx's `PID#TID: ` before the message.
                let message = match rest.split_once(": ") {
                    Some((pid, m)) if pid.bytes().all(|b| b.is_ascii_digit() || b == b'#') => m,
                    _ => rest,
                };
                format!("[{level}] {message}")
            }
            _ => l.split_once(": ").map_or(l, |(_, m)| m).to_string(),
        })
        .collect()
}

/// `nginx -t` and `ngxr -t` on `dir/nginx.conf`: the exit codes and [`messages`] of each.
fn both_t(nginx: &str, dir: &std::path::Path) -> [(i32, Vec<String>); 2] {
    let path = dir.join("nginx.conf").display().to_string();
    let theirs = Command::new(nginx)
        .args(["-t", "-p", &format!("{}/", dir.display()), "-c", &path])
        .output()
        .expect("run nginx");
    let (code, _, err) = ngxr(dir, &["-t", "-c", "nginx.conf"]);
    [
        (
            theirs.status.code().unwrap_or(-1),
            messages(&String::from_utf8_lossy(&theirs.stderr)),
        ),
        (code, messages(&err)),
    ]
}

/// `-t` prints nginx's own `[warn]` lines, in nginx's words and order, before its verdict:
/// the deprecated `ssl`, a repeated MIME type (`gzip_types text/html`, common in real files),
/// an extension `types` names again.
#[test]
fn t_prints_nginx_s_warnings_as_nginx_does() {
    let Some(nginx) = common::nginx() else { return };
    let dir = temp_dir("cli-nginx-warnings");
    let conf = "events {}\nhttp {\n    gzip_types text/html text/css text/CSS;\n    types { text/html html; text/plain HTML; }\n    server {\n        listen 127.0.0.1:8443;\n        ssl on;\n        ssl_certificate cert.pem;\n    }\n}\n";
    std::fs::write(dir.join("nginx.conf"), conf).expect("write");
    let [theirs, ours] = both_t(nginx, &dir);
    assert_eq!(theirs.0, 1);
    assert_eq!(theirs.1.len(), 6, "{theirs:?}");
    assert_eq!(theirs, ours);
}

/// `ssl_stapling on` with a self-signed certificate: nginx ignores it with a warning for each
/// certificate of each server that has one (the last loaded first), naming why: no issuer, or
/// (issuer trusted) no OCSP responder in the certificate.
#[test]
fn t_warns_of_stapling_ignored_as_nginx_does() {
    let Some(nginx) = common::nginx() else { return };
    let dir = temp_dir("cli-stapling");
    for name in ["a", "b"] {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec![format!("{name}.test")]).expect("params");
        let cert = params.self_signed(&key).expect("certificate");
        std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).expect("crt");
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).expect("key");
    }
    let conf = "events {}
http {
    ssl_stapling on;
    ssl_certificate a.crt;
    ssl_certificate_key a.key;
    server {
        listen 127.0.0.1:8443 ssl;
        ssl_certificate b.crt;
        ssl_certificate_key b.key;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
    }
    server {
        listen 127.0.0.1:8444 ssl;
        ssl_trusted_certificate a.crt;
    }
    server {
        listen 127.0.0.1:8446;
    }
}
";
    std::fs::write(dir.join("nginx.conf"), conf).expect("write");
    let [theirs, ours] = both_t(nginx, &dir);
    assert_eq!(theirs.0, 0, "{theirs:?}");
    assert_eq!(theirs.1.len(), 6, "{theirs:?}");
    assert!(theirs.1[2].contains("no OCSP responder URL"), "{theirs:?}");
    assert_eq!(theirs, ours);
}
