//! Against nginx: `if` blocks inside a location, "if is evil" included. A true condition
//! leaves the request with the block's configuration (merged with the location's): its
//! `add_header`s only, its `proxy_pass` or the location's, the location's `proxy_set_header`,
//! no `try_files`; two true blocks, the last wins; the location's script goes on after a
//! block; a proxy made the handler by one block and a later block without `proxy_pass` (500);
//! a condition's or a `rewrite`'s regex sets the captures as nginx 1.22 does. Every
//! probe goes to both servers and the answers (but `Date`) must be the same.

use std::path::Path;

use super::files::{probe_differences, start};
use crate::common::{free_port, temp_dir};

const NGINX: &str = "/usr/sbin/nginx";

/// `ROOT`, `PORT`, `SELF` and `DEAD` are filled in per server; `back` is the same server,
/// answering with what it received.
const CONFIG: &str = r#"
error_log logs/error.log info;
events { worker_connections 64; }
http {
    root ROOT;
    access_log off;
    types { text/plain txt; }
    default_type application/octet-stream;
    proxy_set_header X-Server s;
    upstream back { server 127.0.0.1:SELF; }
    server {
        listen 127.0.0.1:PORT;
        server_name localhost;
        add_header X-Srv s;
        if ($arg_deny) { return 403; }
        location /api/ {
            add_header X-Api loc;
            if ($request_method = OPTIONS) {
                add_header Access-Control-Allow-Origin *;
                add_header Access-Control-Max-Age 1728000;
                return 204;
            }
            proxy_set_header X-Loc l;
            proxy_pass http://back;
        }
        location /ws/ {
            if ($http_upgrade = websocket) { proxy_pass http://back; }
        }
        location /inh/ {
            proxy_set_header X-Loc l;
            if ($arg_a) { add_header X-If a; }
            proxy_pass http://back/moved/;
        }
        location /two/ {
            set $v start;
            if ($arg_a) { add_header X-A a; set $v a; }
            if ($arg_b) { add_header X-B b; }
            set $w "after:$v";
            return 200 "$w\n";
        }
        # ngxr has no `$request_filename`: the path is spelled out.
        location /f/ {
            if (-f ROOT$uri) { add_header X-File yes; }
            if (!-e ROOT$uri) { return 404 "none\n"; }
            if (-d ROOT$uri) { add_header X-Dir yes; }
        }
        location /tf/ {
            try_files $uri /tf/a.txt;
            if ($arg_s) { add_header X-S s; }
        }
        # The proxy became the handler in the first block; the second keeps the request
        # without a `proxy_pass` to read: 500.
        location /lost/ {
            if ($arg_p) { proxy_pass http://back; }
            if ($arg_q) { add_header X-Q q; }
        }
        # A regex of the rewrite module sets the captures: none after one without groups,
        # none after one that did not match.
        location ~ ^/cap/(.*)$ { if ($arg_n ~ n) { } return 200 "[$1]\n"; }
        location ~ ^/capg/(.*)$ { if ($arg_g ~ (g)) { } return 200 "[$1]\n"; }
        location ~ ^/rw/(.*)$ { rewrite ^ /keep/$1; return 200 "[$1] $uri\n"; }
    }
    server {
        listen 127.0.0.1:PORT;
        server_name back;
        location / {
            return 200 "$request_method $request_uri loc=$http_x_loc server=$http_x_server\n";
        }
    }
}
"#;

const PROBES: &[&str] = &[
    "OPTIONS /api/x HTTP/1.1\r\nHost: localhost\r\nOrigin: http://o.test\r\n",
    "GET /api/x?q=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /api/x?deny=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /ws/a HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n",
    "GET /ws/a HTTP/1.1\r\nHost: localhost\r\n",
    "GET /inh/p?a=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /inh/p HTTP/1.1\r\nHost: localhost\r\n",
    "GET /two/?a=1&b=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /two/?a=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /two/?b=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /two/ HTTP/1.1\r\nHost: localhost\r\n",
    "GET /f/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /f/dir HTTP/1.1\r\nHost: localhost\r\n",
    "GET /f/dir/ HTTP/1.1\r\nHost: localhost\r\n",
    "GET /f/nope HTTP/1.1\r\nHost: localhost\r\n",
    "GET /tf/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /tf/nope HTTP/1.1\r\nHost: localhost\r\n",
    "GET /tf/nope?s=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /cap/x?n=n HTTP/1.1\r\nHost: localhost\r\n",
    "GET /cap/x HTTP/1.1\r\nHost: localhost\r\n",
    "GET /capg/x?g=g HTTP/1.1\r\nHost: localhost\r\n",
    "GET /capg/x HTTP/1.1\r\nHost: localhost\r\n",
    "GET /rw/abc HTTP/1.1\r\nHost: localhost\r\n",
    "GET /lost/?p=1&q=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /lost/?p=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /lost/?q=1 HTTP/1.1\r\nHost: localhost\r\n",
];

fn populate(www: &Path) {
    for dir in ["f/dir", "tf"] {
        std::fs::create_dir_all(www.join(dir)).expect("mkdir");
    }
    for file in ["f/a.txt", "tf/a.txt"] {
        std::fs::write(www.join(file), b"hello\n").expect("write file");
    }
}

#[test]
fn if_blocks_as_nginx() {
    if !Path::new(NGINX).exists() {
        eprintln!("skipped: {NGINX} is not installed");
        return;
    }
    let base = temp_dir("if_blocks");
    let www = base.join("www");
    populate(&www);
    let (nginx_port, ngxr_port, dead) = (free_port(), free_port(), free_port());
    let _nginx = start(NGINX, &base.join("nginx"), CONFIG, &www, nginx_port, dead);
    let ngxr = env!("CARGO_BIN_EXE_ngxr");
    let _ngxr = start(ngxr, &base.join("ngxr"), CONFIG, &www, ngxr_port, dead);
    // Both answers in the same second (`Last-Modified` aside, dates move), or three tries.
    let probes = PROBES.iter().map(|p| p.to_string());
    let differences = probe_differences(probes, nginx_port, ngxr_port, |a| a);
    assert!(
        differences.is_empty(),
        "probes differ:\n{}",
        differences.join("\n=====\n")
    );
}
