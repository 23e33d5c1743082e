//! `client_body_in_file_only` and `$request_body_file` against nginx: the backend is told
//! the file's name and reads the file while the request is served, so each answer shows the
//! name (the server's prefix written `PREFIX`) and what the file held; the access log shows
//! the variable at the end, and the files left under `client_body_temp_path` (`on` keeps
//! them, `clean` removes them, a body that merely outgrew its buffer leaves none) are
//! compared too.

use std::path::Path;

use crate::common::{Mirror, nginx, temp_dir};
use crate::files::{PAUSE, assert_same, through_both};

const CONFIG: &str = r#"
events {}
http {
    log_format t '$request [$request_body_file] $status';
    access_log logs/access.log t;
    error_log logs/error.log notice;
    client_body_temp_path PREFIX/body/ 1 2;
    proxy_set_header X-File $request_body_file;
    proxy_set_header X-Read-File $request_body_file;
    server {
        listen 127.0.0.1:PORT;
        location /on {
            client_body_in_file_only on;
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /only-name {
            client_body_in_file_only on;
            proxy_pass_request_body off;
            proxy_set_header X-Mirror-Now 1;
            proxy_set_header X-File $request_body_file;
            proxy_set_header X-Read-File $request_body_file;
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /clean {
            client_body_in_file_only clean;
            client_body_temp_path PREFIX/clean;
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /spill {
            client_body_buffer_size 100;
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /nobuf {
            client_body_in_file_only on;
            proxy_request_buffering off;
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /ret {
            client_body_in_file_only on;
            return 200 "ret [$request_body_file]\n";
        }
    }
}
"#;

fn post(uri: &str, body: &str) -> String {
    let length = body.replace(PAUSE, "").len();
    format!("POST {uri} HTTP/1.1\r\nHost: a\r\nContent-Length: {length}\r\n\r\n{body}")
}

fn probes() -> Vec<String> {
    let x = |n: usize| "x".repeat(n);
    vec![
        post("/on", "hello"),
        post("/on", ""),
        "GET /on HTTP/1.1\r\nHost: a\r\n".into(),
        format!(
            "POST /on HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n{PAUSE}2\r\nde\r\n0\r\n\r\n"
        ),
        post("/on", &format!("{}{PAUSE}{}", x(10), x(20000))),
        post("/only-name", "named"),
        post("/clean", "bye"),
        post("/spill", &x(50)),
        post("/spill", &format!("{PAUSE}{}", x(500))),
        post("/nobuf", "streamed"),
        post("/ret", "hello"),
    ]
}

/// The files under `dir`, each as its path below `dir` and its size.
fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let size = entry.metadata().map_or(0, |m| m.len());
                let name = path.strip_prefix(dir).unwrap_or(&path).display();
                found.push(format!("{name} {size}"));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn bodies_go_to_files_as_nginx_writes_them() {
    let Some(nginx) = nginx() else { return };
    let mirror = Mirror::start();
    let base = temp_dir("body-file");
    let config = CONFIG.replace("MIRROR", &mirror.port.to_string());
    let probes = probes();
    let seen = through_both(nginx, &config, &base, &probes);
    assert_same(&seen, &probes);
    let left = ["nginx", "ngxr_"].map(|name| {
        let prefix = base.join(name);
        (files(&prefix.join("body")), files(&prefix.join("clean")))
    });
    assert_eq!(left[1], left[0], "files left");
    // The oracle itself: names, contents, and what stays.
    let answers = &seen[0].0;
    assert!(
        answers[0].contains("X-File: PREFIX/body/1/00/0000000001\r\n"),
        "{}",
        answers[0]
    );
    assert!(answers[0].ends_with("hello[file: hello]"), "{}", answers[0]);
    assert!(answers[2].contains("GET /on") && !answers[2].contains("X-File"));
    assert!(answers[5].ends_with("[file: named]"), "{}", answers[5]);
    assert!(answers[6].ends_with("bye[file: bye]"), "{}", answers[6]);
    assert!(answers[8].ends_with("[file: no file]"), "{}", answers[8]);
    assert!(!answers[9].contains("X-File"), "{}", answers[9]);
    assert_eq!(left[0].1, Vec::<String>::new());
    assert!(left[0].0.contains(&"1/00/0000000001 5".to_string()));
}
