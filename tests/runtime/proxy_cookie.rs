//! `proxy_cookie_domain`, `proxy_cookie_path` and `proxy_cookie_flags` against nginx: a
//! backend answers with the `Set-Cookie` lines each probe asks for (and the request it got as
//! the body), and the client's answers through nginx and ngxr must be the same bytes:
//! literal, variable and regex rules, captures, flags added, replaced and removed, lines no
//! rule changes left as written, inheritance per kind and `off`, and `add_header` seeing the
//! rewritten line.

use crate::common::{Mirror, nginx, temp_dir};
use crate::files::{assert_same, through_both};

const CONFIG: &str = r"
events {}
http {
    log_format t '$request $status $body_bytes_sent $upstream_http_set_cookie';
    access_log logs/access.log t;
    error_log logs/error.log warn;
    proxy_cookie_path /top/ /TOP/;
    server {
        listen 127.0.0.1:PORT;
        server_name localhost;
        location / {
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_cookie_domain www.example.org .example.com;
            proxy_cookie_domain .$server_name.com en.$server_name.org;
            proxy_cookie_domain ~^(.+)\.com$ $1.org;
            proxy_cookie_path /path/ /new/;
            proxy_cookie_path /$server_name/ /new/$server_name/;
            proxy_cookie_path ~^/regex/(.+)$ /$1;
            proxy_cookie_path ~*^/caseless/(?<rest>.+)$ /$rest;
            proxy_cookie_flags a secure httponly samesite=none;
            proxy_cookie_flags b secure httponly samesite=lax;
            proxy_cookie_flags c secure httponly samesite=strict;
            proxy_cookie_flags d nosecure nohttponly nosamesite;
            proxy_cookie_flags $arg_complex secure;
            proxy_cookie_flags ~BAR httponly;
            location /off/ {
                proxy_pass http://127.0.0.1:MIRROR;
                proxy_cookie_domain off;
                proxy_cookie_path off;
                proxy_cookie_flags off;
            }
            location /sent/ {
                proxy_pass http://127.0.0.1:MIRROR;
                add_header X-Sent $sent_http_set_cookie;
            }
        }
        location /var/ {
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_cookie_flags $arg_v $arg_f1 $arg_f2 $arg_f3;
        }
        location /inherit/ {
            proxy_pass http://127.0.0.1:MIRROR;
        }
    }
}
";

/// A GET of `target` whose upstream answer carries `cookies`.
fn probe(target: &str, cookies: &[&str]) -> String {
    let lines: String = cookies
        .iter()
        .map(|c| format!("X-Set-Cookie: {c}\r\n"))
        .collect();
    format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{lines}")
}

fn probes() -> Vec<String> {
    vec![
        probe("/", &["v=1; Domain=www.Example.org"]),
        probe(
            "/",
            &["v=1; domain=.LocalHost.com", "w=2;path=/localhost/x"],
        ),
        probe("/", &["v=1; Domain=www.example.COM; Path=/regex/a.html"]),
        probe(
            "/",
            &[
                "v=1;  path = /CASEless/b ; HttpOnly",
                "no-value; path=/path/",
            ],
        ),
        probe("/", &["v=1; Path=/path/x; Path=/other", "=v; path=/path/"]),
        probe(
            "/",
            &[
                "a=1",
                "b=1;Secure;HttpOnly;SameSite=None",
                "c=1; samesite=STRICT",
            ],
        ),
        probe(
            "/",
            &["d=1;secure;httponly;samesite=lax", "nx=1;samesite=none"],
        ),
        probe("/?complex=v", &["v=1; Secure", "fooBARbaz=1"]),
        probe("/", &["a=1;;; ;path", "a"]),
        probe("/off/", &["a=1; Domain=www.example.org; Path=/path/x"]),
        probe("/sent/", &["b=1; Path=/path/x"]),
        probe("/", &["c=1; Domain = .www.example.org ; path=/path/"]),
        probe(
            "/var/?v=v&f1=nosecure&f2=httponly&f3=samesite=LAX",
            &["v=1; Secure; SameSite=None", "w=1; Secure"],
        ),
        probe("/var/?v=v&f1=bogus", &["v=1;Secure"]),
        probe("/inherit/", &["a=1; path=/top/x; domain=www.example.org"]),
    ]
}

#[test]
fn set_cookie_lines_are_rewritten_as_nginx_rewrites_them() {
    let Some(nginx) = nginx() else { return };
    let mirror = Mirror::start();
    let base = temp_dir("proxy-cookie");
    let config = CONFIG.replace("MIRROR", &mirror.port.to_string());
    let seen = through_both(nginx, &config, &base, &probes());
    assert_same(&seen, &probes());
    // The rules did change something: a line nginx rewrote reached the client so.
    assert!(seen[1].0[0].contains("Set-Cookie: v=1; Domain=example.com\r\n"));
}
