//! `auth_request` and `auth_request_set` against nginx, in front of a proxied app (`Mirror`,
//! which sends back what it got): an auth server (a second server of the same configuration,
//! reached over TCP) allows with a 2xx, refuses with a 401 (its `WWW-Authenticate` passed on)
//! or a 403, and answers anything else, which becomes a 500 with nginx's error line. The
//! subrequest is a GET with the client's headers and no body, its `auth_request_set`s feed the
//! app's request headers and the access log; `satisfy any` lets `allow` skip it, the auth
//! location is `internal`, `auth_request off` turns an inherited one off, `$args` takes a
//! value from the answer, and an internal redirect asks the new location's subrequest.

use crate::common::{Mirror, nginx, temp_dir};
use crate::files::{assert_same_by, through_both};

const CONFIG: &str = r#"
events {}
http {
    log_format t '$host "$request" $status $body_bytes_sent "$auth_user" "$auth_seen"';
    access_log logs/access.log t;
    error_log logs/error.log info;
    server {
        listen 127.0.0.1:PORT default_server;
        auth_request /auth/ok;
        auth_request_set $auth_user $upstream_http_x_user;
        auth_request_set $auth_seen $upstream_http_x_seen;
        location / {
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_set_header X-User $auth_user;
            proxy_set_header X-Seen $auth_seen;
        }
        location /r401/ { auth_request /auth/401; proxy_pass http://127.0.0.1:MIRROR; }
        location /r403/ { auth_request /auth/403; proxy_pass http://127.0.0.1:MIRROR; }
        location /r404/ { auth_request /auth/404; proxy_pass http://127.0.0.1:MIRROR; }
        location /r204/ {
            auth_request /auth/204;
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_set_header X-User $auth_user;
        }
        location /open/ { auth_request off; proxy_pass http://127.0.0.1:MIRROR; }
        location /args/ {
            auth_request_set $args "user=$upstream_http_x_user";
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /redirected/ { try_files /nowhere /r204/y; }
        location /any/ {
            satisfy any;
            allow 127.0.0.1;
            deny all;
            auth_request /auth/401;
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /anyno/ {
            satisfy any;
            deny all;
            auth_request /auth/401;
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /anyok/ {
            satisfy any;
            deny all;
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /auth/ {
            internal;
            proxy_pass http://127.0.0.1:PORT/;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Host authserver;
            proxy_set_header X-Original-URI $request_uri;
        }
    }
    server {
        listen 127.0.0.1:PORT;
        server_name authserver;
        location /ok {
            add_header X-User alice always;
            add_header X-Seen "$request_method $uri $http_x_original_uri [$http_content_length]";
            return 200;
        }
        location /401 {
            add_header X-User bob always;
            add_header WWW-Authenticate 'Basic realm="sso"' always;
            add_header WWW-Authenticate 'Bearer realm="sso"' always;
            return 401;
        }
        location /403 { return 403; }
        location /404 { return 404; }
        location /204 { add_header X-User carol always; return 204; }
    }
}
"#;

fn probes() -> Vec<String> {
    [
        "GET /app?a=1 HTTP/1.1\r\nHost: a\r\n",
        "POST /app HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "GET /r401/x HTTP/1.1\r\nHost: a\r\n",
        "GET /r403/x HTTP/1.1\r\nHost: a\r\n",
        "GET /r404/x HTTP/1.1\r\nHost: a\r\n",
        "GET /r204/x HTTP/1.1\r\nHost: a\r\n",
        "GET /open/x HTTP/1.1\r\nHost: a\r\n",
        "GET /any/x HTTP/1.1\r\nHost: a\r\n",
        "GET /anyno/x HTTP/1.1\r\nHost: a\r\n",
        "GET /auth/ok HTTP/1.1\r\nHost: a\r\n",
        "GET /anyok/x HTTP/1.1\r\nHost: a\r\n",
        "GET /args/x?a=1 HTTP/1.1\r\nHost: a\r\n",
        "GET /redirected/x HTTP/1.1\r\nHost: a\r\n",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn auth_request_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let mirror = Mirror::start();
    let base = temp_dir("auth-request");
    let config = CONFIG.replace("MIRROR", &mirror.port.to_string());
    let probes = probes();
    let seen = through_both(nginx, &config, &base, &probes);
    let errors = |s: &[String]| -> Vec<String> {
        s.iter()
            .filter(|l| l.contains("auth request"))
            .cloned()
            .collect()
    };
    assert_same_by(&seen, |i| probes[i].clone(), errors);
    assert_eq!(errors(&seen[1].2).len(), 1, "{:?}", seen[1].2);
    // The app got the user the auth server named, and the auth server saw a GET without body.
    let ours = &seen[1].0;
    assert!(ours[0].contains("\r\nX-User: alice\r\n"), "{}", ours[0]);
    assert!(
        ours[1].contains("\r\nX-Seen: GET /ok /app []\r\n"),
        "{}",
        ours[1]
    );
    assert!(ours[1].ends_with("\r\n\r\nhello"), "{}", ours[1]);
    // nginx 1.22 passes one `WWW-Authenticate` on: the upstream's first.
    assert!(ours[2].starts_with("HTTP/1.1 401 "), "{}", ours[2]);
    assert!(ours[2].contains("\r\nWWW-Authenticate: Basic realm=\"sso\"\r\n"));
    assert!(!ours[2].contains("Bearer"), "{}", ours[2]);
    assert!(ours[3].starts_with("HTTP/1.1 403 "));
    assert!(ours[4].starts_with("HTTP/1.1 500 "));
    assert!(ours[5].contains("\r\nX-User: carol\r\n"), "{}", ours[5]);
    assert!(ours[7].starts_with("HTTP/1.1 200 "));
    assert!(ours[8].starts_with("HTTP/1.1 401 "));
    assert!(ours[9].starts_with("HTTP/1.1 404 "));
    assert!(ours[10].starts_with("HTTP/1.1 200 "));
    assert!(
        ours[11].contains("\r\n\r\nGET /args/x?user=alice HTTP/1.0\r\n"),
        "{}",
        ours[11]
    );
    // After the internal redirect, the access phase asks its own subrequest.
    assert!(ours[12].contains("\r\nX-User: carol\r\n"), "{}", ours[12]);
    assert!(
        seen[1]
            .1
            .contains("\"GET /r401/x HTTP/1.1\" 401 179 \"bob\""),
        "{}",
        seen[1].1
    );
}
