//! `limit_except` against nginx: the methods a block does not list (HEAD with GET, unknown
//! methods among the others) take its configuration: its `allow`/`deny`, `auth_basic`,
//! `access_log` and `proxy_pass`, the location's `proxy_pass` otherwise, and none of the
//! location's `return`, `try_files` or other rewrite steps.

use crate::common::{Mirror, nginx, temp_dir};
use crate::files::{assert_same, through_both};

const CONFIG: &str = r#"
error_log logs/error.log;
events { worker_connections 64; }
http {
    root ROOT;
    types { text/plain txt; text/html html; }
    log_format f '$request|$status|$request_method';
    access_log logs/access.log f;
    server {
        listen 127.0.0.1:PORT;
        location / { limit_except GET { deny all; } }
        location /a/ { limit_except GET post { allow 127.0.0.2; deny all; } return 200 "ret\n"; }
        location /r/ { return 200 "ret $request_method\n"; limit_except GET { allow all; } }
        location /p/ { proxy_pass http://127.0.0.1:MIRROR; limit_except GET { deny all; } }
        location /q/ { limit_except GET { proxy_pass http://127.0.0.1:MIRROR; } }
        location /u/ { proxy_pass http://127.0.0.1:MIRROR/x/; limit_except GET { allow all; } }
        location /b/ {
            limit_except PUT { auth_basic "x"; auth_basic_user_file ROOT/htpasswd; }
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /h/ { limit_except HEAD { deny all; } }
        location /t/ { try_files /nope /a/; limit_except GET { allow all; } }
        location /l/ { limit_except GET { access_log logs/limited.log f; } }
    }
}
"#;

#[test]
fn methods_a_limit_except_does_not_list_take_its_block_as_in_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("limit-except");
    std::fs::create_dir_all(base.join("h")).expect("mkdir");
    std::fs::write(base.join("index.html"), "hello\n").expect("index");
    std::fs::write(base.join("h/f.txt"), "h\n").expect("file");
    std::fs::write(base.join("htpasswd"), "u:{PLAIN}pw\n").expect("htpasswd");
    let mirror = Mirror::start();
    let config = CONFIG.replace("MIRROR", &mirror.port.to_string());
    let paths = [
        "/", "/a/", "/r/", "/p/", "/q/", "/u/y", "/b/", "/h/f.txt", "/t/", "/l/",
    ];
    let mut probes = Vec::new();
    for method in ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "FOO"] {
        for path in paths {
            probes.push(format!("{method} {path} HTTP/1.1\r\nHost: x\r\n"));
        }
    }
    // The block's auth_basic, passed.
    probes.push("DELETE /b/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dTpwdw==\r\n".into());
    let seen = through_both(nginx, &config, &base, &probes);
    assert_same(&seen, &probes);
    let limited = |dir: &str| std::fs::read_to_string(base.join(dir).join("logs/limited.log"));
    let (theirs, ours) = (limited("nginx"), limited("ngxr_"));
    assert_eq!(
        ours.ok(),
        theirs.as_ref().ok().cloned(),
        "the block's access_log"
    );
    // What nginx does, so that a test of nothing cannot pass.
    let status = |i: usize| seen[0].0[i].lines().next().unwrap_or_default().to_string();
    let at = |method: usize, path: &str| {
        let p = paths.iter().position(|p| *p == path).expect("path");
        status(method * paths.len() + p)
    };
    assert_eq!(at(0, "/"), "HTTP/1.1 200 OK");
    assert_eq!(at(1, "/"), "HTTP/1.1 200 OK", "GET brings HEAD");
    assert_eq!(at(2, "/"), "HTTP/1.1 403 Forbidden");
    assert_eq!(at(6, "/"), "HTTP/1.1 403 Forbidden", "an unknown method");
    assert_eq!(
        at(3, "/r/"),
        "HTTP/1.1 405 Not Allowed",
        "no return in the block"
    );
    assert_eq!(at(3, "/q/"), "HTTP/1.1 200 OK", "the block's proxy_pass");
    assert!(seen[0].0[6 * paths.len() + 5].contains("FOO /x/y HTTP/1.0"));
    assert!(theirs.is_ok_and(|log| log.contains("PUT /l/ HTTP/1.1|405|PUT")));
}
