//! The userid filter against nginx. A cookie the client sends is compared exactly:
//! `$uid_got` (four words in the host's byte order), the `Set-Cookie` that adds a missing
//! `userid_mark` with every cookie attribute, none when the mark is there, `$uid_reset`'s
//! new identifier and its `log` line (and a `map` defining `$uid_reset`), a too short or invalid cookie's error line. A new
//! identifier is compared by its shape: the first word (the local address, or
//! `userid_service` under `v1`) exactly, the time and counters masked. Its place comes after
//! `add_header`'s lines, before `Accept-Ranges` on a file.

use crate::common::{nginx, temp_dir};
use crate::files::{assert_same, through_both};

const CONFIG: &str = r#"
error_log logs/error.log notice;
events {}
http {
    log_format t '$status [$uid_got] [$uid_set]';
    access_log logs/access.log t;
    root ROOT;
    map $arg_reset $uid_reset { default 0; yes 1; }
    server {
        listen 127.0.0.1:PORT;
        location / { userid on; add_header X-A a; return 200 "[$uid_got][$uid_set]\n"; }
        location /log { userid log; return 200 "[$uid_got][$uid_set]\n"; }
        location /off { userid off; return 200 "[$uid_got][$uid_set]\n"; }
        location /mark {
            userid on;
            userid_mark x;
            userid_name u;
            userid_domain example.com;
            userid_path /p;
            userid_expires max;
            userid_p3p 'CP="NOI"';
            userid_flags secure httponly samesite=lax;
            return 200 "[$uid_got][$uid_set]\n";
        }
        location /reset { userid on; set $uid_reset log; return 200 "[$uid_got]\n"; }
        location /v1 { userid v1; userid_service 7; return 200 "[$uid_set]\n"; }
        location /f.txt { userid on; add_header X-B b; }
        location /missing { userid on; }
        location /mapped { userid on; add_header X-Reset "[$uid_reset]"; return 204; }
    }
}
"#;

/// `value` with the parts of new identifiers that vary masked: in `NAME=` cookies the
/// base64 after its first 5 characters (the first word's 30 bits), in `NAME=` words the hex after the first 8.
fn masked(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = [rest.find("uid="), rest.find("u=")]
        .into_iter()
        .flatten()
        .min()
    {
        let start = at + rest[at..].find('=').map_or(0, |e| e + 1);
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let run = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/'))
            .unwrap_or(rest.len());
        let keep = if run == 32 { 8 } else { 5.min(run) };
        out.push_str(&rest[..keep]);
        out.push_str(&"*".repeat(run - keep));
        rest = &rest[run..];
    }
    out.push_str(rest);
    out
}

#[test]
fn identifiers_are_nginx_s() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("userid");
    std::fs::write(base.join("f.txt"), "file\n").expect("file");
    // 0100007F 4367 9EBE ... in memory: 127.0.0.1, a time, a start value, a counter.
    let cookie = "CgAAAWdDnr4ZqYhxAwMDAg==";
    let marked = "CgAAAWdDnr4ZqYhxAwMDAgx=";
    let get = |target: &str, more: &str| format!("GET {target} HTTP/1.1\r\nHost: a\r\n{more}");
    let with = |c: &str| format!("Cookie: a=b; uid={c}\r\n");
    let probes = [
        get("/", &with(cookie)),
        get("/log", &with(cookie)),
        get("/off", &with(cookie)),
        get("/mark", &format!("Cookie: u={cookie}\r\n")),
        get("/mark", &format!("Cookie: u={marked}\r\n")),
        get("/reset", &with(cookie)),
        get("/", &with("short")),
        get("/", &with("!!!!!!!!!!!!!!!!!!!!!!!!")),
        get("/", ""),
        get("/mark", ""),
        get("/v1", ""),
        get("/f.txt", ""),
        get("/missing", ""),
        get("/log", ""),
        get("/mapped", &with(cookie)),
        get("/mapped?reset=yes", &with(cookie)),
    ];
    let seen = through_both(nginx, CONFIG, &base, &probes);
    // The probes that make a new identifier.
    let fresh = [5, 6, 7, 8, 9, 10, 11, 12, 15];
    let mask = |s: &mut crate::files::Seen| {
        for (i, a) in s.0.iter_mut().enumerate() {
            if fresh.contains(&i) {
                *a = masked(a);
            }
        }
        s.1 = masked(&s.1);
    };
    let mut seen = seen;
    for s in seen.iter_mut() {
        mask(s);
    }
    assert_same(&seen, &probes);
    let answers = &seen[1].0;
    assert!(
        answers[0].contains("[uid=0100000ABE9E43677188A91902030303][]"),
        "{}",
        answers[0]
    );
    let remark = "Set-Cookie: u=CgAAAWdDnr4ZqYhxAwMDAgx=; expires=Thu, 31-Dec-37 23:55:55 GMT; \
                  domain=example.com; path=/p; secure; httponly; samesite=lax\r\nP3P: CP=\"NOI\"";
    assert!(answers[3].contains(remark), "{}", answers[3]);
    assert!(!answers[4].contains("Set-Cookie"), "{}", answers[4]);
    assert!(
        answers[8].contains("X-A: a\r\nSet-Cookie: uid=fwAAA"),
        "{}",
        answers[8]
    );
    assert!(answers[10].contains("[uid=00000007"), "{}", answers[10]);
}
