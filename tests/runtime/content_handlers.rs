//! `empty_gif` and `random_index` against nginx. The GIF: its bytes and head for GET and
//! HEAD, 405 for POST, the not-modified filter (304, 412), `add_header` and `expires modified`, and
//! as an `error_page` target keeping the error's status. `random_index`, where nginx is
//! deterministic: a directory with one regular file (hidden names, directories and a
//! dangling link skipped, a link to a file followed), the arguments kept; declining to the
//! index module when there is no file; 404 for a missing directory; the same error-log lines.

use std::path::Path;

use crate::common::{nginx, temp_dir};
use crate::files::{assert_same, through_both};

const CONFIG: &str = r#"
error_log logs/error.log;
events {}
http {
    log_format t '$remote_addr "$request" $status $body_bytes_sent';
    access_log logs/access.log t;
    root ROOT/www;
    server {
        listen 127.0.0.1:PORT;
        location = /1.gif { empty_gif; }
        location = /dated.gif { empty_gif; expires modified 1h; add_header X-Gif yes; }
        location = /late.gif { if_modified_since before; empty_gif; }
        location /missing/ { error_page 404 /1.gif; }
        location /ok/ { error_page 404 =200 /1.gif; }
        location / { random_index on; }
        location ~ \.txt$ { return 200 "$uri?$args\n"; }
    }
}
"#;

fn populate(www: &Path) {
    for dir in ["one", "none/sub", "linked", "ix"] {
        std::fs::create_dir_all(www.join(dir)).expect("dir");
    }
    std::fs::write(www.join("one/a.txt"), "a\n").expect("file");
    std::fs::write(www.join("one/.hidden.txt"), "h\n").expect("file");
    std::fs::create_dir_all(www.join("one/sub.txt")).expect("dir");
    std::os::unix::fs::symlink("nowhere", www.join("one/dangling.txt")).expect("link");
    std::fs::write(www.join("none/.hidden"), "h\n").expect("file");
    std::os::unix::fs::symlink("../one/a.txt", www.join("linked/to.txt")).expect("link");
    std::fs::write(www.join("ix/index.html"), "index\n").expect("index");
}

#[test]
fn content_handlers_answer_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("content-handlers");
    populate(&base.join("www"));
    let get = |target: &str, more: &str| format!("GET {target} HTTP/1.1\r\nHost: a\r\n{more}");
    let probes = [
        get("/1.gif", ""),
        "HEAD /1.gif HTTP/1.1\r\nHost: a\r\n".to_string(),
        "POST /1.gif HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab".to_string(),
        get(
            "/1.gif",
            "If-Modified-Since: Mon, 28 Sep 1970 06:00:00 GMT\r\n",
        ),
        get(
            "/1.gif",
            "If-Modified-Since: Mon, 28 Sep 1970 06:00:01 GMT\r\n",
        ),
        get(
            "/late.gif",
            "If-Modified-Since: Mon, 28 Sep 1970 06:00:01 GMT\r\n",
        ),
        get(
            "/1.gif",
            "If-Unmodified-Since: Sun, 27 Sep 1970 06:00:00 GMT\r\n",
        ),
        get("/1.gif", "If-None-Match: \"x\"\r\n"),
        get("/dated.gif", ""),
        get(
            "/dated.gif",
            "If-Modified-Since: Mon, 28 Sep 1970 06:00:00 GMT\r\n",
        ),
        get("/missing/x", ""),
        get("/ok/x", ""),
        get("/one/?k=v", ""),
        "HEAD /one/ HTTP/1.1\r\nHost: a\r\n".to_string(),
        "POST /one/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n".to_string(),
        "DELETE /one/ HTTP/1.1\r\nHost: a\r\n".to_string(),
        get("/linked/", ""),
        get("/none/", ""),
        get("/ix/", ""),
        get("/gone/", ""),
    ];
    let seen = through_both(nginx, CONFIG, &base, &probes);
    assert_same(&seen, &probes);
    let answers = &seen[1].0;
    assert!(
        answers[0].contains("Content-Type: image/gif"),
        "{}",
        answers[0]
    );
    assert!(answers[3].starts_with("HTTP/1.1 304"), "{}", answers[3]);
    assert!(answers[12].contains("/one/a.txt?k=v"), "{}", answers[12]);
    assert!(answers[16].contains("/linked/to.txt?"), "{}", answers[16]);
}
