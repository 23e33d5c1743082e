//! `$request_body` against nginx: a backend sends back the request it got, so each answer
//! shows what went upstream (`proxy_set_header`, `proxy_set_body`) and what the client got
//! (`add_header`); the access log shows what the variable held at the end. The body is sent
//! with the head or after a pause, in memory or past `client_body_buffer_size` (where nginx
//! writes it to a file and the variable is not found), buffered or not, read in a `return`
//! or an `if` before any proxy pass read it, and after an `error_page`; `client_body_in_single_buffer`
//! changes none of it.

use crate::common::{Mirror, nginx, temp_dir};
use crate::files::{PAUSE, assert_same, through_both};

const CONFIG: &str = r#"
events {}
http {
    log_format t '$request [$request_body] $status';
    access_log logs/access.log t;
    # nginx warns when it writes a body to a temporary file.
    error_log logs/error.log warn;
    server {
        listen 127.0.0.1:PORT;
        location /p {
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_set_header X-Body $request_body;
            add_header X-Body $request_body;
        }
        location /small {
            client_body_buffer_size 100;
            proxy_pass http://127.0.0.1:MIRROR;
            add_header X-Body $request_body;
        }
        location /nobuf {
            proxy_request_buffering off;
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_set_header X-Body $request_body;
        }
        location /setbody {
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_set_body "body=[$request_body]";
        }
        location /nopass {
            proxy_pass_request_body off;
            proxy_pass http://127.0.0.1:DEAD;
            error_page 502 /errpage;
        }
        location /if {
            if ($request_body) { return 200 "seen\n"; }
            proxy_pass http://127.0.0.1:MIRROR;
            add_header X-Body $request_body;
        }
        # Inert: the part read with the head moves into a buffer sized for the rest anyway.
        location /single {
            client_body_buffer_size 100;
            client_body_in_single_buffer on;
            proxy_pass http://127.0.0.1:MIRROR;
            add_header X-Body $request_body;
        }
        location /ret { return 200 "ret [$request_body]\n"; }
        location /dead { proxy_pass http://127.0.0.1:DEAD; error_page 502 /errpage; }
        location /errpage { return 200 "err [$request_body]\n"; }
    }
}
"#;

fn post(uri: &str, body: &str) -> String {
    let length = body.replace(PAUSE, "").len();
    format!("POST {uri} HTTP/1.1\r\nHost: a\r\nContent-Length: {length}\r\n\r\n{body}")
}

fn chunked(uri: &str, body: &str) -> String {
    format!("POST {uri} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
}

fn probes() -> Vec<String> {
    let x = |n: usize| "x".repeat(n);
    let chunk = |n: usize| format!("{PAUSE}{n:x}\r\n{}\r\n0\r\n\r\n", x(n));
    vec![
        post("/p", "hello"),
        post("/p", ""),
        "GET /p HTTP/1.1\r\nHost: a\r\n".into(),
        chunked("/p", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
        chunked("/p", "0\r\n\r\n"),
        // Whole with the head, whatever its size.
        post("/small", &x(500)),
        // After the head: in memory under a quarter more than the buffer.
        post("/small", &format!("{PAUSE}{}", x(124))),
        post("/small", &format!("{PAUSE}{}", x(125))),
        // Partly with the head: what follows fits the head's buffer, or not.
        post("/small", &format!("{}{PAUSE}{}", x(10), x(500))),
        post("/small", &format!("{}{PAUSE}{}", x(10), x(1990))),
        // Past what the head's 1k buffer holds.
        post("/small", &x(1200)),
        post("/small", &x(1000)),
        // Chunked: the framing counts against the buffer.
        chunked("/small", &chunk(89)),
        chunked("/small", &chunk(90)),
        // Unbuffered: what came with the head.
        post("/nobuf", &format!("hello{PAUSE}world")),
        post("/nobuf", &format!("{PAUSE}helloworld")),
        post("/nobuf", "helloworld"),
        post("/setbody", "hello"),
        post("/nopass", "hello"),
        post("/if", "hello"),
        post("/ret", "hello"),
        post("/dead", "hello"),
        post("/single", &x(500)),
        post("/single", &format!("{PAUSE}{}", x(124))),
        post("/single", &format!("{PAUSE}{}", x(125))),
        post("/single", &format!("{}{PAUSE}{}", x(10), x(110))),
        post("/single", &format!("{}{PAUSE}{}", x(10), x(500))),
        chunked("/single", &chunk(89)),
        chunked("/single", &chunk(90)),
    ]
}

#[test]
fn request_body_reads_what_nginx_holds_in_memory() {
    let Some(nginx) = nginx() else { return };
    let mirror = Mirror::start();
    let base = temp_dir("request-body");
    let dead = crate::common::free_port();
    let config = CONFIG
        .replace("MIRROR", &mirror.port.to_string())
        .replace("DEAD", &dead.to_string());
    let probes = probes();
    let seen = through_both(nginx, &config, &base, &probes);
    assert_same(&seen, &probes);
    // The variable did read bodies, and did not read those nginx wrote to a file.
    let log = &seen[1].1;
    assert!(log.contains("/p HTTP/1.1 [hello] 200"), "{log}");
    let small = format!("/small HTTP/1.1 [{}] 200", "x".repeat(124));
    assert!(log.contains(&small), "{log}");
    assert!(log.contains("/small HTTP/1.1 [-] 200"), "{log}");
    assert!(log.contains("/nobuf HTTP/1.1 [hello] 200"), "{log}");
    assert!(seen[1].0[17].ends_with("body=[hello]"), "{}", seen[1].0[17]);
}
