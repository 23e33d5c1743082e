//! The access log after internal redirects against nginx: the log phase runs once, on the
//! request as the last location left it. An `error_page` (to a URI or a named location), a
//! `try_files` fallback or found file, `rewrite ... last`, `index`, an `X-Accel-Redirect`
//! answer and an `auth_request` before an error page each end in another location, whose
//! `access_log` decides whether and in which format the line is written, and whose `$uri`,
//! `$args`, root, `$proxy_host` and `$upstream_*` it shows; `set` values and map values
//! read on the way stay as they were. `log_not_found` is the setting of the location whose
//! file was not found.

use crate::common::nginx;
use crate::files::{assert_same, through_both};

const CONFIG: &str = r#"
error_log logs/error.log error;
events { worker_connections 64; }
http {
    root ROOT/www;
    map $uri $m { default "m:$uri"; }
    log_format v '$request_uri|$uri|$document_uri|$args|$is_args|$request_filename|'
                 '$document_root|$realpath_root|$status|$proxy_host|$upstream_status|'
                 '$m|$x|$request_method|$sent_http_x_u';
    log_format other 'other $request_uri|$uri|$status';
    access_log logs/access.log v;
    server {
        listen 127.0.0.1:PORT;
        server_name localhost;
        set $x server;
        location /e/ { set $x e; error_page 404 /404.html?from=e; }
        location /en/ { set $x en; error_page 404 = @n; }
        location @n { return 200 "named\n"; }
        location /tf/ { try_files $uri /404.html?tf=1; }
        location /tfn/ { set $x tfn; try_files $uri @n; }
        location /tff/ { try_files /a.txt =404; }
        location ~ ^/rw/(.*)$ { set $x rw; rewrite ^/rw/(.*)$ /a.txt?rw=$1 last; }
        location /d/ { }
        location /post/ { error_page 404 /o/o.txt; }
        location /o/ { alias ROOT/other/; }
        location /cached/ { if ($m) { set $x cached; } error_page 404 /a.txt; }
        location /off/ { error_page 404 /quiet/x; }
        location /quiet/ { access_log off; return 200 "quiet\n"; }
        location /toother/ { error_page 404 /other/x; }
        location /other/ { access_log logs/access.log other; }
        location /ifr/ { error_page 404 /ifb/; }
        location /ifb/ { if ($uri) { access_log logs/access.log other; return 200 "ifb\n"; } }
        location /dead { proxy_pass http://127.0.0.1:1; error_page 502 /404.html; }
        location /up { proxy_pass http://127.0.0.1:SELF/back; proxy_intercept_errors on; error_page 404 /a.txt; }
        location /back { return 404; }
        location /pe/ { error_page 404 = @p; }
        location @p { rewrite ^ /b2 break; proxy_pass http://127.0.0.1:SELF; add_header X-U "$uri $proxy_host"; }
        location /b2 { access_log off; return 200 "b2\n"; }
        location /acc { access_log off; proxy_pass http://127.0.0.1:SELF/accel; }
        location /accel { access_log off; add_header X-Accel-Redirect /a.txt?ax=1; return 200; }
        location /acp { proxy_pass http://127.0.0.1:SELF/accelp; }
        location /accelp { access_log off; add_header X-Accel-Redirect @p; return 200; }
        location /auth/ { auth_request /au; error_page 404 /a.txt; }
        location /lnf/ { log_not_found off; error_page 404 /nf/x; }
        location /nf/ { error_page 404 /lnf/y; }
        location = /au { access_log off; return 204; }
    }
}
"#;

const PROBES: &[&str] = &[
    "GET /e/x?q=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /en/x HTTP/1.1\r\nHost: localhost\r\n",
    "GET /tf/nope?q=2 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /tfn/nope HTTP/1.1\r\nHost: localhost\r\n",
    "GET /tff/x HTTP/1.1\r\nHost: localhost\r\n",
    "GET /rw/abc HTTP/1.1\r\nHost: localhost\r\n",
    "GET /d/ HTTP/1.1\r\nHost: localhost\r\n",
    "POST /post/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n",
    "GET /cached/x HTTP/1.1\r\nHost: localhost\r\n",
    "GET /off/x HTTP/1.1\r\nHost: localhost\r\n",
    "GET /toother/x HTTP/1.1\r\nHost: localhost\r\n",
    "GET /ifr/x HTTP/1.1\r\nHost: localhost\r\n",
    "GET /dead HTTP/1.1\r\nHost: localhost\r\n",
    "GET /up HTTP/1.1\r\nHost: localhost\r\n",
    "GET /pe/x?z=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /acc HTTP/1.1\r\nHost: localhost\r\n",
    "GET /acp HTTP/1.1\r\nHost: localhost\r\n",
    "GET /auth/x HTTP/1.1\r\nHost: localhost\r\n",
    "GET /lnf/x HTTP/1.1\r\nHost: localhost\r\n",
    "GET /nf/x HTTP/1.1\r\nHost: localhost\r\n",
];

#[test]
fn the_access_log_reads_the_request_as_its_last_location_left_it() {
    let Some(nginx) = nginx() else { return };
    let base = crate::common::temp_dir("redirect-log");
    for (name, body) in [
        ("www/a.txt", "a\n"),
        ("www/404.html", "404 page\n"),
        ("www/d/index.html", "d\n"),
        ("other/o.txt", "o\n"),
    ] {
        let path = base.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, body).expect("write file");
    }
    let seen = through_both(nginx, CONFIG, &base, PROBES);
    assert_same(&seen, PROBES);
    let log = seen[1].1.replace(&base.display().to_string(), "BASE");
    // The lines are the final locations': the error page's URI and arguments, the file
    // `try_files` found, the named location's `set`, the other location's format; none
    // for `access_log off` there.
    for line in [
        "/e/x?q=1|/404.html|/404.html|from=e|?|BASE/www/404.html|",
        "/tff/x|/a.txt|/a.txt|-||BASE/www/a.txt|",
        "|m:/en/x|en|GET|-\n",
        "/post/x|/o/o.txt|/o/o.txt|-||BASE/other/o.txt|BASE/other/|",
        "/cached/x|/a.txt|/a.txt|-||BASE/www/a.txt|BASE/www|BASE/www|404|-|-|m:/cached/x|server|GET|-\n",
        "other /toother/x|/other/x|404\n",
        "other /ifr/x|/ifb/|404\n",
        "/pe/x?z=1|/b2|/b2|z=1|?|BASE/www/b2|BASE/www|BASE/www|200|127.0.0.1:PORT|200|",
    ] {
        assert!(log.contains(line), "{line:?} in\n{log}");
    }
    assert!(!log.contains("/off/x"), "{log}");
}
