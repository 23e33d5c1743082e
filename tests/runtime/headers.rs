//! The header filters against nginx: `expires` (`Expires`, `Cache-Control`, also over an
//! upstream's own), on files, `return` answers and proxied answers. Both servers serve the
//! same files with the same configuration; every probe goes to both and the answers (but
//! `Date`) must be the same. Dates move with the clock, so a probe that straddles a second is
//! sent again. A check of ngxr alone runs where nginx is not installed.

use std::path::Path;

use super::files::{exchange, normalize, start};
use crate::common::{free_port, temp_dir};

const NGINX: &str = "/usr/sbin/nginx";

/// `ROOT`, `PORT`, `SELF` and `DEAD` are filled in per server.
const CONFIG: &str = r#"
error_log logs/error.log info;
events { worker_connections 64; }
http {
    root ROOT;
    access_log off;
    types { text/plain txt; text/html html; }
    default_type application/octet-stream;
    map $arg_e $exp { default off; a 1h; b epoch; c -5m; d max; bad 1x; }
    server {
        listen 127.0.0.1:PORT;
        server_name localhost;
        expires 1h;
        location / { }
        location /neg/ { expires -1; alias ROOT/; }
        location /epoch/ { expires epoch; alias ROOT/; }
        location /max/ { expires max; alias ROOT/; add_header X-After yes; }
        location /mod/ { expires modified 1d; alias ROOT/; }
        location /modneg/ { expires modified -1d; alias ROOT/; }
        location /zero/ { expires 0; alias ROOT/; }
        location /off/ { expires off; alias ROOT/; }
        location /var/ { expires $exp; alias ROOT/; }
        location /ret { expires 30s; return 200 "r\n"; }
        location /ret404 { return 404; }
        location /moved { expires 2m; return 301 /a.txt; }
        location /up/ { expires 1h; proxy_pass http://127.0.0.1:SELF/back/; }
        location /upmod/ { expires modified 1h; proxy_pass http://127.0.0.1:SELF/back/; }
        location /upoff/ { expires off; proxy_pass http://127.0.0.1:SELF/back/; }
        location /back/plain { expires off; return 200 "plain\n"; }
        location /back/cc {
            expires off;
            add_header Cache-Control private;
            add_header Cache-Control no-store;
            add_header Expires "Thu, 01 Jan 2037 00:00:00 GMT";
            add_header X-Between yes;
            return 200 "cc\n";
        }
        location /back/lm {
            expires off;
            add_header Last-Modified "Tue, 14 Nov 2023 22:13:20 GMT";
            return 200 "lm\n";
        }
        location /back/gone { expires off; return 410 "gone\n"; }
    }
}
"#;

const PROBES: &[&str] = &[
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "HEAD /a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: MTIME\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-1\r\n",
    "GET /missing HTTP/1.1\r\nHost: localhost\r\n",
    "GET /neg/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /epoch/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /max/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /mod/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /modneg/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /zero/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /off/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /var/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /var/a.txt?e=a HTTP/1.1\r\nHost: localhost\r\n",
    "GET /var/a.txt?e=b HTTP/1.1\r\nHost: localhost\r\n",
    "GET /var/a.txt?e=c HTTP/1.1\r\nHost: localhost\r\n",
    "GET /var/a.txt?e=d HTTP/1.1\r\nHost: localhost\r\n",
    "GET /var/a.txt?e=bad HTTP/1.1\r\nHost: localhost\r\n",
    "GET /ret HTTP/1.1\r\nHost: localhost\r\n",
    "GET /ret404 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /moved HTTP/1.1\r\nHost: localhost\r\n",
    "GET /dir HTTP/1.1\r\nHost: localhost\r\n",
    "GET /up/plain HTTP/1.1\r\nHost: localhost\r\n",
    "GET /up/cc HTTP/1.1\r\nHost: localhost\r\n",
    "GET /up/lm HTTP/1.1\r\nHost: localhost\r\n",
    "GET /up/gone HTTP/1.1\r\nHost: localhost\r\n",
    "GET /upmod/lm HTTP/1.1\r\nHost: localhost\r\n",
    "GET /upmod/plain HTTP/1.1\r\nHost: localhost\r\n",
    "GET /upoff/cc HTTP/1.1\r\nHost: localhost\r\n",
];

fn populate(www: &Path) {
    std::fs::create_dir_all(www.join("dir")).expect("mkdir");
    std::fs::write(www.join("a.txt"), b"hello world\n").expect("write file");
}

#[test]
fn expires_as_nginx() {
    if !Path::new(NGINX).exists() {
        eprintln!("skipped: {NGINX} is not installed");
        return;
    }
    let base = temp_dir("headers");
    let www = base.join("www");
    populate(&www);
    let (nginx_port, ngxr_port, dead) = (free_port(), free_port(), free_port());
    let _nginx = start(NGINX, &base.join("nginx"), CONFIG, &www, nginx_port, dead);
    let ngxr = env!("CARGO_BIN_EXE_ngxr");
    let _ngxr = start(ngxr, &base.join("ngxr"), CONFIG, &www, ngxr_port, dead);
    let head = String::from_utf8_lossy(&exchange(nginx_port, PROBES[1])).into_owned();
    let mtime = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Last-Modified: "))
        .unwrap_or_default()
        .to_string();
    let mut differences = Vec::new();
    for probe in PROBES {
        let probe = probe.replace("MTIME", &mtime);
        // Both answers in the same second, or three tries.
        let differs = (0..3).all(|_| {
            let theirs = normalize(&exchange(nginx_port, &probe), nginx_port);
            let ours = normalize(&exchange(ngxr_port, &probe), ngxr_port);
            if theirs == ours {
                return false;
            }
            differences.push(format!("{probe}\n--- nginx:\n{theirs}\n--- ngxr:\n{ours}"));
            true
        });
        if !differs {
            differences.retain(|d| !d.starts_with(&probe));
        }
    }
    assert!(
        differences.is_empty(),
        "probes differ:\n{}",
        differences.join("\n=====\n")
    );
}

/// The fields of an answer's head by name (the first of each).
fn field<'a>(answer: &'a str, name: &str) -> &'a str {
    answer
        .split("\r\n")
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_default()
}

fn seconds(date: &str) -> i64 {
    let t = httpdate::parse_http_date(date).expect("an HTTP date");
    let since = t.duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    i64::try_from(since.as_secs()).expect("seconds")
}

/// ngxr alone: the dates `expires` writes follow the answer's own `Date`, and an upstream's
/// `Cache-Control` lines give way to one.
#[test]
fn expires_dates_follow_the_clock() {
    let base = temp_dir("headers-own");
    let www = base.join("www");
    populate(&www);
    let (port, dead) = (free_port(), free_port());
    let _ngxr = start(env!("CARGO_BIN_EXE_ngxr"), &base, CONFIG, &www, port, dead);
    let get = |path: &str| {
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n");
        String::from_utf8_lossy(&exchange(port, &request)).into_owned()
    };
    let a = get("/a.txt");
    let ahead = seconds(field(&a, "Expires")) - seconds(field(&a, "Date"));
    assert!((3599..=3601).contains(&ahead), "{a}");
    assert_eq!(field(&a, "Cache-Control"), "max-age=3600", "{a}");
    let neg = get("/neg/a.txt");
    assert_eq!(field(&neg, "Cache-Control"), "no-cache", "{neg}");
    let epoch = get("/epoch/a.txt");
    assert_eq!(field(&epoch, "Expires"), "Thu, 01 Jan 1970 00:00:01 GMT");
    let missing = get("/missing");
    assert!(missing.starts_with("HTTP/1.1 404") && field(&missing, "Expires").is_empty());
    let cc = get("/up/cc");
    let lines: Vec<&str> = cc.split("\r\n").filter(|l| l.contains("Cache-Control")).collect();
    assert_eq!(lines, ["Cache-Control: max-age=3600"], "{cc}");
    assert_ne!(field(&cc, "Expires"), "Thu, 01 Jan 2037 00:00:00 GMT", "{cc}");
    let up_mod = get("/upmod/lm");
    assert_eq!(field(&up_mod, "Expires"), "Tue, 14 Nov 2023 23:13:20 GMT");
    assert_eq!(field(&up_mod, "Cache-Control"), "no-cache");
}
