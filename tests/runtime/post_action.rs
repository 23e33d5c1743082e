//! `post_action` against nginx: once a request is answered, it goes on to its location's
//! `post_action` (a URI or a named location) and is served there, the client getting nothing
//! more. The post action's proxy pass reaches a second server of the same configuration,
//! which logs the request line and headers it got; the request's own line comes after, as
//! nginx writes it once the post action is over: its `$uri`, the upstreams of both passes,
//! the post action's status unless the request's was an error, and what the client got.

use crate::common::{nginx, temp_dir};
use crate::files::{assert_same_by, through_both, without_port_waits};

const CONFIG: &str = r#"
events {}
http {
    log_format t '$server_name "$request" $uri $status $body_bytes_sent ua=[$upstream_addr] us=[$upstream_status] $request_completion host=[$http_host] c=[$http_connection] x=[$http_x_test]';
    access_log logs/access.log t;
    error_log logs/error.log info;
    server {
        listen 127.0.0.1:PORT default_server;
        server_name main;
        root ROOT;
        location / { post_action /post; }
        location /p/ {
            proxy_pass http://127.0.0.1:PORT/back/;
            post_action @named;
        }
        location /missing/ { post_action /post; }
        location /ret { post_action /post; return 201 "ret\n"; }
        location /static { post_action /page.html; }
        location /post { proxy_pass http://127.0.0.1:PORT; }
        location @named { proxy_pass http://127.0.0.1:PORT; }
        location /page.html { }
    }
    server {
        listen 127.0.0.1:PORT;
        server_name 127.0.0.1;
        location / { return 200 "back $request_uri\n"; }
    }
}
"#;

fn probes() -> Vec<String> {
    [
        "GET / HTTP/1.1\r\nHost: a\r\nX-Test: 1\r\n",
        "GET /p/x?a=1 HTTP/1.1\r\nHost: a\r\nX-Test: 2\r\n",
        "GET /missing/x HTTP/1.1\r\nHost: a\r\n",
        "GET /ret HTTP/1.1\r\nHost: a\r\n",
        "GET /static HTTP/1.1\r\nHost: a\r\n",
        "HEAD / HTTP/1.0\r\nX-Test: 3\r\n",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn post_action_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("post-action");
    std::fs::write(base.join("index.html"), "MAIN\n").expect("index");
    std::fs::write(base.join("static"), "STATIC\n").expect("file");
    std::fs::write(base.join("page.html"), "HIDDEN\n").expect("file");
    let probes = probes();
    let seen = through_both(nginx, CONFIG, &base, &probes);
    assert_same_by(&seen, |i| probes[i].clone(), without_port_waits);
    let (ours, log) = (&seen[1].0, &seen[1].1);
    assert!(ours[0].ends_with("\r\n\r\nMAIN\n"), "{}", ours[0]);
    assert!(
        ours.iter()
            .all(|a| !a.contains("back ") || a.contains("back /back/x"))
    );
    assert!(!ours[4].contains("HIDDEN"), "{}", ours[4]);
    // The post action's request reached the second server before the request's line.
    let lines: Vec<&str> = log.lines().collect();
    let back = lines
        .iter()
        .position(|l| l.starts_with("127.0.0.1 \"GET /post HTTP/1.0\""))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        lines[back + 1].starts_with("main \"GET / HTTP/1.1\" /post 200 5"),
        "{log}"
    );
}
