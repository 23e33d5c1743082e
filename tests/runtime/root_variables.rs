//! `$document_root`, `$request_filename` and `$realpath_root` against nginx: both serve one
//! directory with the same configuration and show the three in a header on every answer, for
//! `root`, `alias` (prefix, regex, nested), roots with variables and symbolic links, `if`
//! blocks and internal redirects. Skipped when nginx is not installed.

use std::path::Path;

use crate::common::{free_port, temp_dir};
use crate::files::{exchange, normalize, start};

const NGINX: &str = "/usr/sbin/nginx";

const CONFIG: &str = r#"
error_log logs/error.log info;
events { worker_connections 64; }
http {
    root ROOT/;
    access_log off;
    types { text/plain txt; text/html html; }
    map $uri $sub { ~^/v/(?<s>[^/]+) $s; default none; }
    server {
        listen 127.0.0.1:PORT;
        add_header X-Vars "$document_root|$request_filename|$realpath_root" always;
        location / { }
        location /al/ { alias ROOT/idx/; }
        location ~ ^/re/(.+)$ { alias ROOT/$1; }
        location /v/ { root ROOT/$sub; }
        location /ln/ { root ROOT/link; }
        location /if/ { if ($uri ~ x) { root ROOT/idx; } }
        location /rw/ { rewrite ^/rw/(.*)$ /al/$1 last; }
        location /tf/ { try_files /nothing /al/index.html; }
        location /nest/ { alias ROOT/idx/; location /nest/in/ { } }
        location /f/ { if (!-f $request_filename) { return 404 "none\n"; } }
        location /ix/ { alias ROOT/idx/; }
    }
}
"#;

const PROBES: &[&str] = &[
    "/a.txt",
    "/missing",
    "/al/index.html",
    "/al/",
    "/re/a.txt",
    "/re/idx/index.html",
    "/v/idx/x",
    "/v/",
    "/ln/x",
    "/if/x",
    "/if/y",
    "/rw/index.html",
    "/tf/q",
    "/nest/in/z",
    "/f/a.txt",
    "/f/b",
    "/ix/",
];

#[test]
fn root_variables_as_nginx() {
    if !Path::new(NGINX).exists() {
        eprintln!("skipped: {NGINX} is not installed");
        return;
    }
    let base = temp_dir("root-vars");
    let www = base.join("www");
    for (name, body) in [
        ("a.txt", "a\n"),
        ("idx/index.html", "i\n"),
        ("f/a.txt", "f\n"),
    ] {
        let path = www.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, body).expect("write file");
    }
    std::os::unix::fs::symlink(www.join("idx"), www.join("link")).expect("symlink");
    let (nginx_dir, ngxr_dir) = (base.join("nginx"), base.join("ngxr"));
    let (nginx_port, ngxr_port) = (free_port(), free_port());
    let _nginx = start(NGINX, &nginx_dir, CONFIG, &www, nginx_port, 0);
    let _ngxr = start(
        env!("CARGO_BIN_EXE_ngxr"),
        &ngxr_dir,
        CONFIG,
        &www,
        ngxr_port,
        0,
    );
    let mut differences = Vec::new();
    for uri in PROBES {
        let probe = format!("GET {uri} HTTP/1.1\r\nHost: localhost\r\n");
        let theirs = normalize(&exchange(nginx_port, &probe), nginx_port);
        let ours = normalize(&exchange(ngxr_port, &probe), ngxr_port);
        assert!(theirs.contains("X-Vars: /"), "{uri}: {theirs}");
        if theirs != ours {
            differences.push(format!("{uri}\n--- nginx:\n{theirs}\n--- ngxr:\n{ours}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n=====\n"));
}
