//! `client_body_timeout` against nginx: the time allowed between two reads of a request body
//! (not for the whole body), the location's own; when it passes, nginx ends the request with
//! 408 in the access log and closes the connection without an answer or an error-log line,
//! whether the body was to be buffered before the proxy pass or sent on as it came. Skipped
//! when nginx is not installed.

use crate::common::{Mirror, nginx, temp_dir};
use crate::files::{PAUSE, assert_same, drop_nginx_port_wait, through_both};

const CONFIG: &str = r#"
events {}
http {
    log_format t '$request $status $request_length';
    access_log logs/access.log t;
    error_log logs/error.log info;
    client_body_timeout 500ms;
    server {
        listen 127.0.0.1:PORT;
        location /p { proxy_pass http://127.0.0.1:MIRROR; }
        location /long {
            client_body_timeout 1500ms;
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /nobuf {
            proxy_request_buffering off;
            proxy_pass http://127.0.0.1:MIRROR;
        }
    }
}
"#;

/// A POST of 10 body bytes, of which `body` (with its pauses) is sent.
fn post(uri: &str, body: &str) -> String {
    format!("POST {uri} HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n{body}")
}

#[test]
fn a_body_too_slow_is_a_408_without_an_answer() {
    let Some(nginx) = nginx() else { return };
    let mirror = Mirror::start();
    let base = temp_dir("body-timeout");
    let config = CONFIG.replace("MIRROR", &mirror.port.to_string());
    let wait = PAUSE.repeat(4);
    let probes = [
        // Each read within the timeout: the whole body goes upstream.
        post("/p", &format!("abc{PAUSE}def{PAUSE}ghij")),
        // A body that stops coming.
        post("/p", "abc"),
        post("/nobuf", "abc"),
        // 800 ms between two reads: too long here, not where the location allows more.
        post("/p", &format!("abc{wait}defghij")),
        post("/long", &format!("abc{wait}defghij")),
    ];
    let mut seen = through_both(nginx, &config, &base, &probes);
    drop_nginx_port_wait(&mut seen);
    assert_same(&seen, &probes);
    let ours = &seen[1].0;
    assert!(ours[0].ends_with("abcdefghij"), "{}", ours[0]);
    assert_eq!(ours[1], "");
    assert_eq!(ours[3], "");
    assert!(ours[4].ends_with("abcdefghij"), "{}", ours[4]);
    assert!(seen[1].1.contains("POST /p HTTP/1.1 408 "), "{}", seen[1].1);
}
