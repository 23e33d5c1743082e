//! `autoindex` against nginx: one directory listed by both, byte for byte — directories
//! first (a link to one among them), hidden names left out, names escaped in the link and
//! the text, cut at 50 characters (by bytes, or by UTF-8 characters under `charset utf-8`),
//! exact and scaled sizes, chunked for HTTP/1.1, closed for HTTP/1.0, no body for HEAD, the
//! index module first, 405 and 404 where nginx gives them, and the same error-log lines.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::common::{nginx, temp_dir};
use crate::files::{assert_same, through_both};

const CONFIG: &str = r#"
error_log logs/error.log;
events {}
http {
    # combined without its clock, which may tick between the two servers' runs
    log_format t '$remote_addr - $remote_user "$request" $status $body_bytes_sent';
    access_log logs/access.log t;
    root ROOT/www;
    server {
        listen 127.0.0.1:PORT;
        location / { autoindex on; }
        location /scaled/ { alias ROOT/www/; autoindex on; autoindex_exact_size off; }
        location /utf/ { alias ROOT/www/; autoindex on; charset utf-8; }
        location /bare { alias ROOT/www; autoindex on; }
        location /ix/ { autoindex on; }
        location /off/ { autoindex off; }
        location /hdr/ {
            alias ROOT/www/;
            autoindex on;
            add_header X-Length "[$sent_http_content_length]" always;
        }
    }
}
"#;

fn populate(www: &Path) {
    let file = |name: &[u8], size: usize| {
        let path = www.join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(path, vec![b'x'; size]).expect("file");
    };
    std::fs::create_dir_all(www.join("sub")).expect("sub");
    std::fs::create_dir_all(www.join("ix")).expect("ix");
    std::fs::create_dir_all(www.join("off")).expect("off");
    std::fs::create_dir_all(www.join("d".repeat(50))).expect("long dir");
    std::fs::create_dir_all(www.join("c".repeat(49))).expect("dir of 49");
    std::fs::write(www.join("ix/index.html"), "index\n").expect("index");
    file(b"a.txt", 3);
    file(b".hidden", 1);
    file(b"ten.bin", 10_000);
    file(b"k.bin", 10 * 1024 + 512);
    file(b"m.bin", 3 * 1024 * 1024 / 2);
    file(&[b'a'; 55], 1);
    file(&[b'b'; 50], 1);
    file(b"x<&>\"q #?%.txt", 1);
    file(
        "h\u{e9}llo w\u{f6}rld, a name of more than fifty characters.txt".as_bytes(),
        1,
    );
    file(b"\xff\xfebad.txt", 1);
    std::os::unix::fs::symlink("sub", www.join("link")).expect("link");
    std::os::unix::fs::symlink("nowhere", www.join("dangling")).expect("dangling");
}

#[test]
fn lists_directories_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("autoindex");
    populate(&base.join("www"));
    let probes = [
        "GET / HTTP/1.1\r\nHost: a\r\n",
        "HEAD / HTTP/1.1\r\nHost: a\r\n",
        "GET / HTTP/1.0\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n",
        "GET /scaled/ HTTP/1.1\r\nHost: a\r\n",
        "GET /utf/ HTTP/1.1\r\nHost: a\r\n",
        "GET /bare/ HTTP/1.1\r\nHost: a\r\n",
        "GET /ix/ HTTP/1.1\r\nHost: a\r\n",
        "GET /off/ HTTP/1.1\r\nHost: a\r\n",
        "GET /sub/ HTTP/1.1\r\nHost: a\r\n",
        "GET /link/ HTTP/1.1\r\nHost: a\r\n",
        "GET /missing/ HTTP/1.1\r\nHost: a\r\n",
        "GET /a.txt/ HTTP/1.1\r\nHost: a\r\n",
        "GET /hdr/ HTTP/1.1\r\nHost: a\r\n",
    ];
    let seen = through_both(nginx, CONFIG, &base, &probes);
    assert_same(&seen, &probes);
    // The listing was made (not a 403 on both sides).
    let listing = &seen[1].0[0];
    assert!(listing.contains("Transfer-Encoding: chunked"), "{listing}");
    assert!(listing.contains("<a href=\"link/\">link/</a>"), "{listing}");
    assert!(listing.contains("..&gt;</a>"), "{listing}");
    assert!(!listing.contains(".hidden"), "{listing}");
}
