//! The geo module against nginx: one client on 127.0.0.1 whose address varies through
//! `X-Real-IP` (realip at the server level), `?ip=` (a geo block's `$address`) and
//! `X-Forwarded-For` (geo's own `proxy` entries), read back in one `add_header`. CIDR blocks
//! with IPv4, IPv6, mapped addresses and `delete`, `ranges` split and deleted, `proxy` with
//! and without `proxy_recursive`, values that look like variables, and the whitelist idiom
//! `geo` → `map` → key. ngxr's answers are checked against a table, and against nginx's when
//! it is installed.

use super::files::{exchange, start};
use crate::common::{NGINX, free_port, nginx, temp_dir};

const CONFIG: &str = r#"
error_log logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    geo $limit {
        default 1;
        10.0.0.0/8 0;
        192.168.1.0/24 0;
        10.1.2.3 x;
        2001:db8::/32 v6;
        ::ffff:10.0.0.0/104 mapped;
        delete 10.9.0.0/16;
    }
    map $limit $limit_key { 0 ""; 1 "k$remote_addr"; default other; }
    geo $arg_ip $by_arg {
        default none;
        127.0.0.0/8 loopback;
        255.255.255.255 broadcast;
        ::1 six;
    }
    geo $arg_ip $range {
        ranges;
        default outside;
        10.0.0.0-10.0.255.255 ten;
        10.0.1.0-10.0.1.255 inner;
        10.255.255.0-11.0.0.10 cross;
        delete 10.0.1.0-10.0.1.255;
    }
    geo $xff {
        default direct;
        proxy 127.0.0.1;
        proxy 10.0.0.0/8;
        1.1.1.0/24 one;
        10.0.0.0/8 ten;
        127.0.0.1 self;
    }
    geo $xff_recursive {
        proxy_recursive;
        default direct;
        proxy 127.0.0.1;
        proxy 10.0.0.0/8;
        1.1.1.0/24 one;
        10.0.0.0/8 ten;
        127.0.0.1 self;
    }
    geo $literal { default "$remote_addr"; 10.1.2.3 "a b;c"; }
    server {
        listen 127.0.0.1:PORT;
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Real-IP;
        add_header X-Geo "$limit|$limit_key|$by_arg|$range|$xff|$xff_recursive|$literal" always;
        location / { return 204; }
    }
}
"#;

/// Each request (target and extra header lines) and the `X-Geo` it must get.
const CASES: &[(&str, &str, &str)] = &[
    (
        "/",
        "",
        "1|k127.0.0.1|broadcast|outside|self|self|$remote_addr",
    ),
    (
        "/",
        "X-Real-IP: 10.1.2.3\r\n",
        "x|other|broadcast|outside|ten|ten|a b;c",
    ),
    (
        "/",
        "X-Real-IP: 10.2.0.0\r\n",
        "0||broadcast|outside|ten|ten|$remote_addr",
    ),
    (
        "/",
        "X-Real-IP: 10.9.0.1\r\n",
        "0||broadcast|outside|ten|ten|$remote_addr",
    ),
    (
        "/",
        "X-Real-IP: 192.168.1.77\r\n",
        "0||broadcast|outside|direct|direct|$remote_addr",
    ),
    (
        "/",
        "X-Real-IP: 192.168.2.1\r\n",
        "1|k192.168.2.1|broadcast|outside|direct|direct|$remote_addr",
    ),
    (
        "/",
        "X-Real-IP: 2001:db8::5\r\n",
        "v6|other|broadcast|outside|direct|direct|$remote_addr",
    ),
    (
        "/",
        "X-Real-IP: ::ffff:10.0.0.1\r\n",
        "0||broadcast|outside|ten|ten|$remote_addr",
    ),
    (
        "/",
        "X-Real-IP: ::2\r\n",
        "1|k::2|broadcast|outside|direct|direct|$remote_addr",
    ),
    (
        "/?ip=10.0.0.7",
        "",
        "1|k127.0.0.1|none|ten|self|self|$remote_addr",
    ),
    (
        "/?ip=10.0.1.5",
        "",
        "1|k127.0.0.1|none|outside|self|self|$remote_addr",
    ),
    (
        "/?ip=10.0.2.0",
        "",
        "1|k127.0.0.1|none|ten|self|self|$remote_addr",
    ),
    (
        "/?ip=10.255.255.5",
        "",
        "1|k127.0.0.1|none|cross|self|self|$remote_addr",
    ),
    (
        "/?ip=11.0.0.10",
        "",
        "1|k127.0.0.1|none|cross|self|self|$remote_addr",
    ),
    (
        "/?ip=11.0.0.11",
        "",
        "1|k127.0.0.1|none|outside|self|self|$remote_addr",
    ),
    (
        "/?ip=127.0.0.9",
        "",
        "1|k127.0.0.1|loopback|outside|self|self|$remote_addr",
    ),
    (
        "/?ip=::1",
        "",
        "1|k127.0.0.1|six|outside|self|self|$remote_addr",
    ),
    (
        "/?ip=::ffff:127.0.0.2",
        "",
        "1|k127.0.0.1|loopback|outside|self|self|$remote_addr",
    ),
    (
        "/?ip=junk",
        "",
        "1|k127.0.0.1|broadcast|outside|self|self|$remote_addr",
    ),
    (
        "/?ip=1.2.3.4:80",
        "",
        "1|k127.0.0.1|broadcast|outside|self|self|$remote_addr",
    ),
    (
        "/",
        "X-Forwarded-For: 1.1.1.5\r\n",
        "1|k127.0.0.1|broadcast|outside|one|one|$remote_addr",
    ),
    (
        "/",
        "X-Forwarded-For: 1.1.1.5, 10.0.0.2\r\n",
        "1|k127.0.0.1|broadcast|outside|ten|one|$remote_addr",
    ),
    (
        "/",
        "X-Forwarded-For: 1.1.1.5\r\nX-Forwarded-For: 10.0.0.2\r\n",
        "1|k127.0.0.1|broadcast|outside|ten|one|$remote_addr",
    ),
    (
        "/",
        "X-Forwarded-For: junk\r\n",
        "1|k127.0.0.1|broadcast|outside|self|self|$remote_addr",
    ),
    (
        "/",
        "X-Real-IP: 10.0.0.3\r\nX-Forwarded-For: 1.1.1.1\r\n",
        "0||broadcast|outside|one|one|$remote_addr",
    ),
    (
        "/",
        "X-Real-IP: 8.8.8.8\r\nX-Forwarded-For: 1.1.1.1\r\n",
        "1|k8.8.8.8|broadcast|outside|direct|direct|$remote_addr",
    ),
];

/// The `X-Geo` each case gets from the server `bin`.
fn serve(bin: &str, prefix: &std::path::Path) -> Vec<String> {
    let port = free_port();
    let running = start(bin, prefix, CONFIG, prefix, port, 0);
    let answers = CASES
        .iter()
        .map(|(target, headers, _)| {
            let request = format!("GET {target} HTTP/1.1\r\nHost: geo\r\n{headers}");
            let answer = String::from_utf8_lossy(&exchange(port, &request)).into_owned();
            let geo = answer.lines().find_map(|l| l.strip_prefix("X-Geo: "));
            geo.unwrap_or("(none)").to_string()
        })
        .collect();
    drop(running);
    answers
}

#[test]
fn geo_variables_as_nginx() {
    let base = temp_dir("geo");
    let ours = serve(env!("CARGO_BIN_EXE_ngxr"), &base.join("ngxr"));
    let expected: Vec<String> = CASES.iter().map(|(_, _, want)| want.to_string()).collect();
    let labelled = |answers: &[String]| -> Vec<String> {
        CASES
            .iter()
            .zip(answers)
            .map(|((t, h, _), a)| format!("{t} {h:?} -> {a}"))
            .collect()
    };
    assert_eq!(labelled(&ours), labelled(&expected));
    let Some(_) = nginx() else { return };
    let theirs = serve(NGINX, &base.join("nginx"));
    assert_eq!(labelled(&ours), labelled(&theirs));
}
