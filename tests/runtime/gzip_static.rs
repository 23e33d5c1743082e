//! `gzip_static` against nginx: the `.gz` file next to the one asked for, with its own
//! length, date and ETag, the asked file's type and `Content-Encoding: gzip`, to the clients
//! `gzip_http_version`, `gzip_proxied` and `gzip_disable` let have it (`always`: to all);
//! `Vary` with `gzip_vary` once a `.gz` file is found, even on the answer that does not use
//! it; no ranges on it; and the 304 without `Content-Encoding`.

use std::time::{Duration, SystemTime};

use crate::common::{nginx, temp_dir};
use crate::files::{assert_same, through_both};

const CONFIG: &str = r#"
error_log logs/error.log;
events { worker_connections 64; }
http {
    root ROOT;
    types { text/html html; text/plain txt; text/css css; }
    log_format f '$request|$status|$body_bytes_sent';
    access_log logs/access.log f;
    server {
        listen 127.0.0.1:PORT;
        location /on/ { gzip_static on; }
        location /vary/ { gzip_static on; gzip_vary on; }
        location /always/ { gzip_static always; gzip_vary on; }
        location /filter/ { gzip on; gzip_static on; gzip_vary on; }
        location /proxied/ { gzip_static on; gzip_proxied expired; }
        location /http10/ { gzip_static on; gzip_http_version 1.0; }
        location /disable/ { gzip_static on; gzip_disable "curl"; gzip_vary on; }
        location /headers/ { gzip_static on; etag off; add_header X-A 1; }
        location /off/ { gzip_static off; gzip_vary on; }
    }
}
"#;

const LOCATIONS: [&str; 9] = [
    "on", "vary", "always", "filter", "proxied", "http10", "disable", "headers", "off",
];

#[test]
fn gz_files_are_sent_as_nginx_sends_them() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("gzip-static");
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_934_245);
    for dir in LOCATIONS {
        let d = base.join(dir);
        std::fs::create_dir_all(d.join("sub")).expect("mkdir");
        // A directory where a `.gz` file could be: not taken.
        std::fs::create_dir_all(d.join("dir.html.gz")).expect("mkdir");
        // A directory next to a `.gz` file: its 301 owes `Vary` too.
        std::fs::create_dir_all(d.join("dd")).expect("mkdir");
        for (name, text) in [
            ("a.html", "the plain body\n"),
            ("a.html.gz", "GZ-A\n"),
            ("c.css.gz", "GZ-C\n"),
            ("dir.html", "plain dir\n"),
            ("sub/index.html", "index\n"),
            ("sub/index.html.gz", "GZ-INDEX\n"),
            ("dd.gz", "GZ-DD\n"),
        ] {
            std::fs::write(d.join(name), text).expect("write");
        }
        let gz = std::fs::File::options()
            .write(true)
            .open(d.join("a.html.gz"));
        gz.and_then(|f| f.set_modified(old)).expect("mtime");
    }
    let mut probes = Vec::new();
    for dir in LOCATIONS {
        for file in ["a.html", "c.css", "dir.html", "sub/", "dd"] {
            for accept in [
                "Accept-Encoding: gzip\r\n",
                "",
                "Accept-Encoding: gzip;q=0\r\n",
            ] {
                probes.push(format!("GET /{dir}/{file} HTTP/1.1\r\nHost: x\r\n{accept}"));
            }
        }
        let gzip = "Accept-Encoding: gzip\r\n";
        for (method, version, more) in [
            ("GET", "1.0", ""),
            ("GET", "1.1", "Via: 1.1 cache\r\n"),
            ("GET", "1.1", "User-Agent: curl/8.0\r\n"),
            ("HEAD", "1.1", ""),
            ("GET", "1.1", "Range: bytes=0-2\r\n"),
            (
                "GET",
                "1.1",
                "If-Modified-Since: Thu, 02 Jan 2020 03:04:05 GMT\r\n",
            ),
            ("POST", "1.1", ""),
        ] {
            probes.push(format!(
                "{method} /{dir}/a.html HTTP/{version}\r\nHost: x\r\n{gzip}{more}"
            ));
        }
    }
    // The plain file's 416 and 412, which owe `Vary` as its 200 does.
    for more in [
        "Range: bytes=100-\r\n",
        "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\n",
    ] {
        for dir in LOCATIONS {
            probes.push(format!("GET /{dir}/a.html HTTP/1.1\r\nHost: x\r\n{more}"));
        }
    }
    let seen = through_both(nginx, CONFIG, &base, &probes);
    assert_same(&seen, &probes);
    // What nginx does, so that a test of nothing cannot pass.
    let answer = |probe: &str| {
        let i = probes.iter().position(|p| p == probe).expect("probe");
        seen[0].0[i].clone()
    };
    let gz = answer("GET /vary/a.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n");
    assert!(gz.contains("Content-Length: 5\r\n"), "{gz}");
    assert!(gz.contains("Vary: Accept-Encoding\r\nETag: \"5e0d5da5-5\"\r\n"));
    assert!(gz.ends_with("Content-Encoding: gzip\r\n\r\nGZ-A\n"), "{gz}");
    let plain = answer("GET /vary/a.html HTTP/1.1\r\nHost: x\r\n");
    assert!(plain.contains("Vary: Accept-Encoding") && plain.ends_with("the plain body\n"));
    let always = answer("GET /always/c.css HTTP/1.1\r\nHost: x\r\n");
    assert!(
        always.ends_with("GZ-C\n") && !always.contains("Vary"),
        "{always}"
    );
}
