//! `X-Accel-Redirect` and `proxy_ignore_headers` against nginx: an origin (nginx itself,
//! the same for both) answers with the redirect and headers the query asks for; the server
//! under test redirects the request to a `return`, a file, a missing file, an `expires`
//! location, another proxy pass (which gets the body again), a named or internal location,
//! or refuses an unsafe URI; its `X-Accel-Charset` names a charset the configuration
//! knows, or is ignored. Answers, access log (`$upstream_*`, `$limit_rate`, the type
//! sent) and error log must be nginx's.

use crate::common::{Mirror, nginx, temp_dir};
use crate::files::{assert_same, through_both};
use crate::support::nginx::Nginx;

const CONFIG: &str = r#"
events {}
http {
    types { text/plain txt; text/html html; }
    default_type application/octet-stream;
    root ROOT;
    log_format t '$request $status up=[$upstream_addr] us=[$upstream_status] x=[$upstream_http_x_accel_redirect] ct=[$sent_http_content_type] lr=[$limit_rate]';
    access_log logs/access.log t;
    error_log logs/error.log warn;
    server {
        listen 127.0.0.1:PORT;
        if ($upstream_http_x_accel_redirect ~ ^/srv) {
            return 200 "server if: $upstream_http_x_accel_redirect $uri\n";
        }
        location /p { proxy_pass http://127.0.0.1:ORIGIN/xar; }
        location /cookie {
            proxy_pass http://127.0.0.1:ORIGIN/xar;
            proxy_cookie_path / /rewritten/;
            proxy_hide_header Set-Cookie;
        }
        location /ign {
            proxy_pass http://127.0.0.1:ORIGIN/xar;
            proxy_ignore_headers X-Accel-Redirect X-Accel-Limit-Rate Expires;
        }
        location /ignpass {
            proxy_pass http://127.0.0.1:ORIGIN/xar;
            proxy_ignore_headers X-Accel-Redirect;
            proxy_pass_header X-Accel-Redirect;
        }
        location /err { proxy_pass http://127.0.0.1:ORIGIN/xar; error_page 404 /404.html; }
        location /cs { proxy_pass http://127.0.0.1:ORIGIN; }
        location /csk { charset koi8-r; proxy_pass http://127.0.0.1:ORIGIN/cs; }
        location /csi {
            charset utf-8;
            proxy_ignore_headers X-Accel-Charset;
            proxy_pass http://127.0.0.1:ORIGIN/cs;
        }
        location /files/ { add_header X-Target files; }
        location /ret { return 200 "ret $request_method $uri $args\n"; }
        location /exp { expires epoch; return 200 "exp\n"; }
        location /back { proxy_pass http://127.0.0.1:MIRROR; }
        location /int { internal; return 200 "internal\n"; }
        location @named { return 200 "named $uri $request_method\n"; }
    }
}
"#;

/// The origin's answer: the redirect and rate the query names, and the headers nginx keeps
/// (or not) on a redirect.
const ORIGIN: &str = r#"
server {
    listen 127.0.0.1:PORT;
    location / {
        add_header X-Accel-Redirect $arg_to;
        add_header X-Accel-Limit-Rate $arg_rate;
        add_header Content-Type text/blah;
        add_header Set-Cookie a=b;
        add_header Content-Disposition attachment;
        add_header Cache-Control no-cache;
        add_header Expires fake;
        add_header Accept-Ranges parrots;
        add_header Something other;
        return 200 "upstream body\n";
    }
    location /cs {
        add_header X-Accel-Charset $arg_cs;
        add_header Content-Type $arg_ct;
        return 200 "x\n";
    }
}
"#;

fn probes() -> Vec<String> {
    let get = |uri: &str| format!("GET {uri} HTTP/1.1\r\nHost: a\r\n");
    vec![
        get("/p?to=/ret%3Fa=1"),
        get("/p?to=/ret?b=2"),
        get("/p?to=/files/a.txt"),
        format!("{}Range: bytes=0-3\r\n", get("/p?to=/files/a.txt")),
        get("/p?to=/files/nope"),
        get("/err?to=/files/nope"),
        get("/p?to=/exp"),
        "POST /p?to=/back HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello".into(),
        "POST /p?to=@named HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n".into(),
        "HEAD /p?to=/int HTTP/1.1\r\nHost: a\r\n".into(),
        get("/p?to=/srv"),
        get("/cookie?to=/ret"),
        get("/ign?to=/ret&rate=100"),
        get("/ignpass?to=/ret"),
        get("/p?to=/ret&rate=1000"),
        get("/p?to=/foo/.%2e"),
        get("/p?to=.."),
        get("/p?to=@nonamed"),
        get("/cs?cs=utf-8"),
        get("/cs?cs=UTF-8&ct=text/html;charset=utf-8"),
        get("/csk?cs=utf-8"),
        get("/csi?cs=utf-8"),
    ]
}

#[test]
fn x_accel_redirect_is_followed_as_nginx_follows_it() {
    let Some(nginx) = nginx() else { return };
    let Some(origin) = Nginx::serve(|port| ORIGIN.replace("PORT", &port.to_string())) else {
        return;
    };
    let mirror = Mirror::start();
    let base = temp_dir("accel-redirect");
    std::fs::create_dir_all(base.join("files")).expect("mkdir");
    std::fs::write(base.join("files/a.txt"), "file body\n").expect("write");
    std::fs::write(base.join("404.html"), "the 404 page\n").expect("write");
    let config = CONFIG
        .replace("ORIGIN", &origin.addr.port().to_string())
        .replace("MIRROR", &mirror.port.to_string());
    let probes = probes();
    let seen = through_both(nginx, &config, &base, &probes);
    assert_same(&seen, &probes);
    // The redirects were followed, with the origin's headers kept.
    let ours = &seen[1].0;
    assert!(ours[0].ends_with("ret GET /ret?a=1 \n"), "{}", ours[0]);
    assert!(
        ours[2].contains("Content-Type: text/blah\r\n"),
        "{}",
        ours[2]
    );
    assert!(ours[7].ends_with("\r\n\r\nhello"), "{}", ours[7]);
    assert!(ours[12].ends_with("upstream body\n"), "{}", ours[12]);
    assert!(seen[1].1.contains("lr=[1000]"), "{}", seen[1].1);
    let charset = "Content-Type: text/plain; charset=utf-8\r\n";
    assert!(ours[18].contains(charset), "{}", ours[18]);
}
