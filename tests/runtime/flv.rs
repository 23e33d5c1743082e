//! `flv` against nginx: the whole file without `?start=`, the file from `start` behind the
//! FLV header (the length, ETag and ranges counted over what is sent), the starts nginx
//! ignores (unreadable, at or past the end), ranges across the header and the file, several
//! ranges where nginx refuses them, the not-modified filter, 405 for POST, and what the
//! module declines to the index and static modules (a directory, a URI ending in `/`), with
//! the same logs.

use std::path::Path;

use crate::common::{nginx, temp_dir};
use crate::files::{assert_same, through_both};

const CONFIG: &str = r#"
error_log logs/error.log;
events {}
http {
    log_format t '$remote_addr "$request" $status $body_bytes_sent';
    access_log logs/access.log t;
    types { video/x-flv flv; }
    root ROOT/www;
    server {
        listen 127.0.0.1:PORT;
        location / { flv; }
        location /gone/ { flv; error_page 404 =200 /t1.flv; }
        location /quiet/ { flv; log_not_found off; }
    }
}
"#;

fn populate(www: &Path) {
    std::fs::create_dir_all(www.join("dir")).expect("dir");
    std::fs::create_dir_all(www.join("ix")).expect("dir");
    std::fs::write(www.join("ix/index.html"), "index\n").expect("index");
    let body: String = (0..100).map(|i| format!("X{i:03}XXXXXX")).collect();
    std::fs::write(www.join("t1.flv"), body).expect("file");
}

#[test]
fn flv_answers_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("flv");
    populate(&base.join("www"));
    let get = |target: &str, more: &str| format!("GET {target} HTTP/1.1\r\nHost: a\r\n{more}");
    let range = |target: &str, r: &str| get(target, &format!("Range: bytes={r}\r\n"));
    let probes = [
        get("/t1.flv", ""),
        get("/t1.flv?start=100", ""),
        "HEAD /t1.flv?start=100 HTTP/1.1\r\nHost: a\r\n".to_string(),
        "POST /t1.flv HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab".to_string(),
        get("/t1.flv?a=1&START=990", ""),
        get("/t1.flv?start=0", ""),
        get("/t1.flv?start=1000", ""),
        get("/t1.flv?start=999", ""),
        get("/t1.flv?start=1x", ""),
        get("/t1.flv?start=", ""),
        get("/t1.flv?xstart=5", ""),
        range("/t1.flv?start=100", "0-9"),
        range("/t1.flv?start=100", "-10"),
        range("/t1.flv?start=100", "0-99"),
        range("/t1.flv?start=100", "5-20"),
        range("/t1.flv?start=100", "2000-"),
        range("/t1.flv", "0-1,10-19"),
        range("/t1.flv?start=100", "0-1,3-4"),
        get(
            "/t1.flv?start=100",
            "If-Modified-Since: Mon, 28 Sep 2099 06:00:00 GMT\r\n",
        ),
        get("/dir", ""),
        get("/ix/", ""),
        get("/missing.flv", ""),
        get("/gone/x.flv", ""),
        get("/quiet/x.flv", ""),
        range("/t1.flv?start=100", "0-1,20-30"),
    ];
    let seen = through_both(nginx, CONFIG, &base, &probes);
    assert_same(&seen, &probes);
    let answers = &seen[1].0;
    assert!(answers[1].contains("Content-Length: 913"), "{}", answers[1]);
    assert!(answers[1].contains("\r\n\r\nFLV\u{1}"), "{}", answers[1]);
    assert!(answers[11].starts_with("HTTP/1.1 206"), "{}", answers[11]);
}
