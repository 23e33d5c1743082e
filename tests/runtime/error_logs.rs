//! `error_log` below the main level, against nginx: a request's lines go to the files of the
//! level that serves it, and a server disabled after `max_fails` is reported with the
//! request's context.

use crate::common::{free_port, nginx, temp_dir};
use crate::files::{exchange, file_messages, start};

const CONFIG: &str = "
error_log logs/main.log;
events {}
http {
    error_log logs/error.log warn;
    access_log off;
    upstream two { server 127.0.0.1:DEAD; server 127.0.0.1:DEAD; }
    server {
        listen 127.0.0.1:PORT;
        root ROOT;
        location /d/ { proxy_pass http://two; }
        location /s/ { error_log logs/s.log; proxy_pass http://127.0.0.1:DEAD; }
    }
}
";

const PROBES: &[&str] = &[
    "GET /d/x HTTP/1.1\r\nHost: a\r\n",
    "GET /s/y HTTP/1.1\r\nHost: b\r\n",
    "GET /none HTTP/1.1\r\nHost: c\r\n",
];

#[test]
fn request_lines_go_to_their_level_s_error_log_as_nginx_s() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("error-logs");
    let www = base.join("www");
    std::fs::create_dir_all(&www).expect("www");
    let mut logs = Vec::new();
    for (bin, name) in [(nginx, "nginx"), (env!("CARGO_BIN_EXE_ngxr"), "ngxr")] {
        let (prefix, port, dead) = (base.join(name), free_port(), free_port());
        let server = start(bin, &prefix, CONFIG, &www, port, dead);
        for probe in PROBES {
            let answer = exchange(port, probe);
            assert!(!answer.is_empty(), "{name}: no answer to {probe}");
        }
        // nginx writes as it goes; give ngxr's request tasks the same chance.
        crate::files::settle_logs(&prefix, 0);
        drop(server);
        let read =
            |file: &str| file_messages(&prefix.join("logs").join(file), Some(&www), &[port, dead]);
        logs.push([read("error.log"), read("s.log"), read("main.log")]);
    }
    let [error, s, main] = &logs[1];
    assert_eq!(logs[0], logs[1]);
    assert_eq!(error.len(), 5, "{error:?}");
    assert_eq!(s.len(), 1, "{s:?}");
    assert!(main.is_empty(), "{main:?}");
}
