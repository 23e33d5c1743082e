//! `mirror`, `mirror_request_body` and `log_subrequest` against nginx, in front of an app that
//! sends back what it got (`Mirror`): each mirror subrequest goes to a second server of the
//! same configuration, which passes it on to the app and logs what it was sent (method, URI,
//! the client's URI, the body). The client's answer does not change; the subrequests' lines
//! come before the request's own, as nginx frees the main request last; `mirror off`, two
//! mirrors in a row (logged under `log_subrequest on` where they end: static files not
//! found), a `try_files` internal redirect (the mirror of the location it reaches runs),
//! `mirror_request_body off` (no body sent: nginx would still announce the client's length,
//! which the configuration clears, as nginx's documentation has it).

use crate::common::{Mirror, nginx, temp_dir};
use crate::files::{assert_same_by, through_both, without_port_waits};

const CONFIG: &str = r#"
events {}
http {
    log_format t '$server_name "$request" $request_method $uri?$args $status "$http_x_original" "$request_body"';
    access_log logs/access.log t;
    error_log logs/error.log info;
    server {
        listen 127.0.0.1:PORT default_server;
        server_name main;
        location / {
            mirror /mirror;
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /nobody/ {
            mirror /bare;
            mirror_request_body off;
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /off/ {
            mirror off;
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /many/ {
            mirror /logged/1;
            mirror /logged/2;
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /redirect/ {
            mirror /logged/r;
            try_files /nowhere /app/redirected?r=1;
        }
        location /mirror {
            internal;
            proxy_pass http://127.0.0.1:PORT;
            proxy_set_header Host mirrored;
            proxy_set_header X-Original $request_uri;
        }
        location /bare {
            internal;
            proxy_pass http://127.0.0.1:PORT;
            proxy_set_header Host mirrored;
            proxy_set_header X-Original $request_uri;
            proxy_set_header Content-Length "";
        }
        location /logged/ {
            log_subrequest on;
            root html;
        }
    }
    server {
        listen 127.0.0.1:PORT;
        server_name mirrored;
        location / { proxy_pass http://127.0.0.1:MIRROR; }
    }
}
"#;

fn probes() -> Vec<String> {
    [
        "GET /app?a=1 HTTP/1.1\r\nHost: a\r\n",
        "POST /app?b=2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "POST /nobody/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "GET /off/x HTTP/1.1\r\nHost: a\r\n",
        "GET /many/x?c=3 HTTP/1.1\r\nHost: a\r\n",
        "GET /redirect/x HTTP/1.1\r\nHost: a\r\n",
        "GET /mirror HTTP/1.1\r\nHost: a\r\n",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn mirror_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let app = Mirror::start();
    let base = temp_dir("mirror");
    let config = CONFIG.replace("MIRROR", &app.port.to_string());
    let probes = probes();
    let seen = through_both(nginx, &config, &base, &probes);
    assert_same_by(&seen, |i| probes[i].clone(), without_port_waits);
    assert!(
        seen[1]
            .2
            .iter()
            .any(|l| l.contains("subrequest: \"/logged/2\""))
    );
    let (ours, log) = (&seen[1].0, &seen[1].1);
    // The client sees the app's answer to its own request, body included.
    assert!(
        ours[1].contains("\r\n\r\nPOST /app?b=2 HTTP/1.0\r\n"),
        "{}",
        ours[1]
    );
    assert!(ours[1].ends_with("\r\n\r\nhello"), "{}", ours[1]);
    let lines: Vec<&str> = log.lines().collect();
    // The mirror's own request (to the second server) is logged before the client's.
    let first = lines
        .iter()
        .position(|l| l.starts_with("mirrored \"POST /mirror?b=2 HTTP/1.0\""))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(lines[first].ends_with("\"/app?b=2\" \"hello\""), "{log}");
    assert!(
        lines[first + 1].starts_with("main \"POST /app?b=2 HTTP/1.1\""),
        "{log}"
    );
    // Without the body, the mirror sends none.
    assert!(
        log.contains("mirrored \"POST /bare HTTP/1.0\" POST /bare?- 200 \"/nobody/x\" \"-\""),
        "{log}"
    );
    assert!(!log.contains("\"/off/x\""), "{log}");
    // `log_subrequest on` where the subrequests end: their lines, in order, then the request's.
    let many = lines
        .iter()
        .position(|l| l.contains("/logged/1?c=3"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(lines[many + 1].contains("/logged/2?c=3"), "{log}");
    assert!(
        lines[many + 2].starts_with("main \"GET /many/x?c=3"),
        "{log}"
    );
    // `return` answers at the rewrite phase, before any mirror; `try_files` redirects first,
    // and the mirror of the location it reaches runs.
    assert!(!log.contains("/logged/r"), "{log}");
    assert!(log.contains("\"/redirect/x\""), "{log}");
    // A client may not ask for the internal mirror location.
    assert!(ours[6].starts_with("HTTP/1.1 404 "), "{}", ours[6]);
}
