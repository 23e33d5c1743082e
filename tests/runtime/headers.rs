//! Against nginx: the header filters (`expires`: `Expires`, `Cache-Control`, also over an
//! upstream's own; `charset`) on files, `return` answers and proxied answers, and the realip module
//! (127.0.0.1, the test's client, is the trusted proxy; the addresses it vouches for are
//! data in the headers). Both servers serve the
//! same files with the same configuration; every probe goes to both and the answers (but
//! `Date`) must be the same. Dates move with the clock, so a probe that straddles a second is
//! sent again. A check of ngxr alone runs where nginx is not installed.

use std::path::Path;

use super::files::{exchange, probe_differences, start};
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
        # add_header's Content-Type goes out beside nginx's own; an upstream's second one
        # replaces its first.
        location /typed/ { expires off; add_header Content-Type text/x-added; alias ROOT/; }
        # ETag and Last-Modified are one slot each: an add_header line takes the place of
        # the upstream's (or of one added before it), an empty one clears it.
        location /slots/ {
            expires off;
            proxy_pass http://127.0.0.1:SELF/back/;
            add_header ETag '"p"';
            add_header Last-Modified '';
            add_header X-After yes;
        }
        location /slots404 {
            expires off;
            add_header ETag foo always;
            add_header ETag '' always;
            add_header ETag bar always;
        }
        location /back/tagged {
            expires off;
            add_header ETag '"up"';
            add_header Last-Modified "Tue, 14 Nov 2023 22:13:20 GMT";
            add_header X-Up 1;
            return 200 "tagged\n";
        }
        location /st { expires off; return 202 "status $status\n"; }
        location /st410 { expires off; return 410 "gone $status\n"; }
        location /back/typed {
            expires off;
            add_header Content-Type application/json;
            return 200 "{}";
        }
    }
    server {
        listen 127.0.0.1:PORT;
        server_name charset.test;
        charset UTF-8;
        types { text/plain txt; image/png png; }
        location / { }
        location /ct/ { charset_types image/png; alias ROOT/; }
        location /all/ { charset_types *; alias ROOT/; }
        location /off/ { charset off; alias ROOT/; }
        location /same/ { source_charset utf-8; alias ROOT/; }
        location /ret { default_type text/html; return 200 "r\n"; }
        # `text/html` stays listed (`ngx_http_types_slot` puts it first).
        location /ctret { charset_types image/png; default_type text/html; return 200 "r\n"; }
        location /bin { return 200 "r\n"; }
        location /moved { return 301 /a.txt; }
        location /up/ { proxy_pass http://127.0.0.1:SELF/back/; proxy_set_header Host charset-back.test; }
    }
    server {
        listen 127.0.0.1:PORT;
        server_name charset-back.test;
        charset off;
        location /back/html { default_type text/html; return 200 "h\n"; }
        location /back/koi { default_type "text/html; charset=koi8-r"; return 200 "k\n"; }
        location /back/param { default_type "text/html; level=1"; return 200 "p\n"; }
        location /back/png { default_type image/png; return 200 "p\n"; }
    }
    server {
        listen 127.0.0.1:PORT;
        server_name realip.test;
        set_real_ip_from 10.0.0.0/8;
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        real_ip_recursive on;
        location /show { return 200 "$remote_addr|$remote_port|$realip_remote_addr|$proxy_add_x_forwarded_for\n"; }
        location /up { proxy_pass http://127.0.0.1:SELF/echo; proxy_set_header Host echo.test; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }
    }
    server {
        listen 127.0.0.1:PORT;
        server_name echo.test;
        location /echo { return 200 "$http_x_forwarded_for|$remote_addr\n"; }
    }
    server {
        listen 127.0.0.1:PORT;
        server_name loc.test;
        # A location's settings apply from preaccess on: not to its own `return`.
        location /ret { set_real_ip_from 127.0.0.1; return 200 "$remote_addr\n"; }
        location /tf { set_real_ip_from 127.0.0.1; try_files /nope @show; }
        location /hdr { set_real_ip_from 127.0.0.0/8; real_ip_header X-Client; try_files /nope @show; }
        location /other { set_real_ip_from 10.0.0.1; try_files /nope @show; }
        location @show { return 200 "$remote_addr|$remote_port|$realip_remote_addr\n"; }
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
    "GET /typed/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /slots/tagged HTTP/1.1\r\nHost: localhost\r\n",
    "GET /slots/lm HTTP/1.1\r\nHost: localhost\r\n",
    "GET /slots404 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /st HTTP/1.1\r\nHost: localhost\r\n",
    "GET /st410 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /back/typed HTTP/1.1\r\nHost: localhost\r\n",
    "GET /upoff/typed HTTP/1.1\r\nHost: localhost\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: charset.test\r\nRange: bytes=0-1,3-4\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: charset.test\r\nIf-Modified-Since: MTIME\r\n",
    "GET /b.png HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /ct/b.png HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /ct/a.txt HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /all/b.png HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /off/a.txt HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /same/a.txt HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /ret HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /ctret HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /bin HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /moved HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /up/html HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /up/koi HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /up/param HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /up/png HTTP/1.1\r\nHost: charset.test\r\n",
    "GET /show HTTP/1.1\r\nHost: realip.test\r\n",
    "GET /show HTTP/1.1\r\nHost: realip.test\r\nX-Forwarded-For: 1.2.3.4\r\n",
    "GET /show HTTP/1.1\r\nHost: realip.test\r\nX-Forwarded-For: 5.5.5.5, 1.2.3.4:5678, 10.1.1.1\r\n",
    "GET /show HTTP/1.1\r\nHost: realip.test\r\nX-Forwarded-For: 9.9.9.9\r\nX-Forwarded-For: 10.0.0.7, 10.2.2.2\r\n",
    "GET /show HTTP/1.1\r\nHost: realip.test\r\nX-Forwarded-For: junk, [2001:db8::5]:80\r\n",
    "GET /show HTTP/1.1\r\nHost: realip.test\r\nX-Real-IP: 1.2.3.4\r\n",
    "GET /up HTTP/1.1\r\nHost: realip.test\r\nX-Forwarded-For: 6.6.6.6, 10.3.3.3\r\n",
    "GET /ret HTTP/1.1\r\nHost: loc.test\r\nX-Real-IP: 1.2.3.4\r\n",
    "GET /tf HTTP/1.1\r\nHost: loc.test\r\nX-Real-IP: 1.2.3.4\r\n",
    "GET /tf HTTP/1.1\r\nHost: loc.test\r\nX-Real-IP: 1.2.3.4:99\r\nX-Real-IP: 7.7.7.7\r\n",
    "GET /hdr HTTP/1.1\r\nHost: loc.test\r\nX-Client: 4.3.2.1\r\nX-Real-IP: 1.2.3.4\r\n",
    "GET /other HTTP/1.1\r\nHost: loc.test\r\nX-Real-IP: 1.2.3.4\r\n",
];

fn populate(www: &Path) {
    std::fs::create_dir_all(www.join("dir")).expect("mkdir");
    std::fs::write(www.join("a.txt"), b"hello world\n").expect("write file");
    std::fs::write(www.join("b.png"), b"not really\n").expect("write file");
}

#[test]
fn expires_and_realip_as_nginx() {
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
    // Both answers in the same second, or three tries.
    let probes = PROBES.iter().map(|p| p.replace("MTIME", &mtime));
    let differences = probe_differences(probes, nginx_port, ngxr_port, |a| client_port(&a));
    assert!(
        differences.is_empty(),
        "probes differ:\n{}",
        differences.join("\n=====\n")
    );
}

/// The test client's own port (`127.0.0.1|PORT|` in the realip answers) left out: it is
/// the kernel's choice. Ephemeral ports have five digits, so lengths stay the same.
fn client_port(answer: &str) -> String {
    let mut parts = answer.split("127.0.0.1|");
    let mut out = parts.next().unwrap_or_default().to_string();
    for part in parts {
        out.push_str("127.0.0.1|");
        let digits = part.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && part[digits..].starts_with('|') {
            out.push_str("PORT");
            out.push_str(&part[digits..]);
        } else {
            out.push_str(part);
        }
    }
    out
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

/// ngxr alone: the dates `expires` writes follow the answer's own `Date`, an upstream's
/// `Cache-Control` lines give way to one, and realip believes only trusted peers.
#[test]
fn expires_dates_follow_the_clock() {
    let base = temp_dir("headers-own");
    let www = base.join("www");
    populate(&www);
    let (port, dead) = (free_port(), free_port());
    let _ngxr = start(env!("CARGO_BIN_EXE_ngxr"), &base, CONFIG, &www, port, dead);
    let ask = |path: &str, more: &str| {
        let request = format!("GET {path} HTTP/1.1\r\n{more}");
        String::from_utf8_lossy(&exchange(port, &request)).into_owned()
    };
    let get = |path: &str| ask(path, "Host: localhost\r\n");
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
    let lines: Vec<&str> = cc
        .split("\r\n")
        .filter(|l| l.contains("Cache-Control"))
        .collect();
    assert_eq!(lines, ["Cache-Control: max-age=3600"], "{cc}");
    assert_ne!(
        field(&cc, "Expires"),
        "Thu, 01 Jan 2037 00:00:00 GMT",
        "{cc}"
    );
    let up_mod = get("/upmod/lm");
    assert_eq!(field(&up_mod, "Expires"), "Tue, 14 Nov 2023 23:13:20 GMT");
    assert_eq!(field(&up_mod, "Cache-Control"), "no-cache");
    let realip = |path: &str, more: &str| {
        let answer = ask(path, more);
        answer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    let xff = "Host: realip.test\r\nX-Forwarded-For: 5.5.5.5, 1.2.3.4:5678, 10.1.1.1\r\n";
    assert_eq!(
        realip("/show", xff),
        "1.2.3.4|5678|127.0.0.1|5.5.5.5, 1.2.3.4:5678, 10.1.1.1, 1.2.3.4\n"
    );
    let xri = "Host: loc.test\r\nX-Real-IP: 1.2.3.4\r\n";
    assert_eq!(realip("/ret", xri), "127.0.0.1\n");
    assert!(realip("/tf", xri).starts_with("1.2.3.4||127.0.0.1"));
    assert!(realip("/other", xri).starts_with("127.0.0.1|"));
}
