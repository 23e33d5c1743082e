//! `proxy_cache` against nginx: the same front configuration, each server with its own cache
//! directory, proxies to one origin (nginx, shared) whose answers carry the caching headers
//! the query asks for, and which logs every request it gets with the front that sent it. The
//! answers, the front's access log (`$upstream_cache_status`, `$upstream_status`), the
//! requests the origin got (a HIT that reaches it fails) and the cache files' names must be
//! nginx's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{nginx, temp_dir};
use crate::files::{Probe, assert_same, exchange, through_both};
use crate::support::nginx::Nginx;

const CONFIG: &str = r#"
events {}
http {
    log_format c '$request $status cs=[$upstream_cache_status] us=[$upstream_status] $body_bytes_sent';
    access_log logs/access.log c;
    error_log logs/error.log warn;
    proxy_cache_path PREFIX/cache levels=1:2 keys_zone=one:1m;
    proxy_cache_path PREFIX/flat keys_zone=two:1m inactive=1h max_size=10m;
    proxy_set_header X-Front PREFIX;
    proxy_cache_valid 1m;
    server {
        listen 127.0.0.1:PORT;
        location / {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache one;
            proxy_cache_bypass $http_x_bypass;
        }
        location /any/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache one;
            proxy_cache_valid any 1m;
        }
        location /nc/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache one;
            proxy_no_cache $arg_nc $upstream_http_x_no;
        }
        location /mu/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache two;
            proxy_cache_min_uses 2;
        }
        location /hoff/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache one;
            proxy_cache_convert_head off;
            proxy_cache_key $request_method$uri;
        }
        location /k/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache one;
            proxy_cache_key $uri;
        }
        location /post/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache one;
            proxy_cache_methods POST;
        }
        location /ign/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache one;
            proxy_ignore_headers Cache-Control Set-Cookie;
        }
        location /var/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache $arg_c;
        }
        location /ie/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache one;
            proxy_cache_valid 404 1m;
            proxy_intercept_errors on;
            error_page 404 = @fallback;
        }
        location @fallback { return 403; }
        location /st/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache one;
            proxy_cache_key /st/x;
            proxy_cache_use_stale error http_500 updating;
        }
        location /sterr/ {
            proxy_pass http://127.0.0.1:1;
            proxy_cache one;
            proxy_cache_key /st/x;
            proxy_cache_use_stale error;
        }
        location /stoff/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache one;
            proxy_cache_key /st/x;
        }
        location /off/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache off;
        }
        location /mro/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache one;
            proxy_cache_max_range_offset 2;
        }
        location /mro0/ {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache one;
            proxy_cache_max_range_offset 0;
        }
        location /rv {
            proxy_pass http://127.0.0.1:ORIGIN;
            proxy_cache one;
            proxy_cache_valid 200 1s;
            proxy_cache_revalidate on;
        }
    }
}
"#;

/// The origin: the caching headers the query names, and a body that says what it was sent.
const ORIGIN: &str = r#"
log_format o '$http_x_front $request ims=[$http_if_modified_since] inm=[$http_if_none_match]';
server {
    listen 127.0.0.1:PORT;
    access_log logs/origin.log o;
    location / {
        add_header Cache-Control $arg_cc;
        add_header X-Accel-Expires $arg_xae;
        add_header Set-Cookie $arg_sc;
        add_header Vary $arg_vary;
        add_header Vary $arg_vary2;
        add_header X-No $arg_no;
        return 200 "origin $request_method $uri $args r=[$http_range] inm=[$http_if_none_match]\n";
    }
    location ~ 404 { return 404 "nope\n"; }
    location ~ /st {
        if ($arg_fail) { return 500 "failed\n"; }
        add_header X-Accel-Expires $arg_xae;
        return 200 "st $uri $args\n";
    }
    location ~ /ar {
        add_header Accept-Ranges bytes;
        add_header Content-Range stub;
        add_header Last-Modified "Mon, 02 Jan 2023 00:00:00 GMT";
        return 200 "SEE-THIS";
    }
    location ^~ /rv/ { }
    location ^~ /rve/ {
        proxy_pass http://127.0.0.1:PORT/rv/;
        proxy_hide_header Last-Modified;
    }
    location ~ /lm {
        add_header Last-Modified "Mon, 02 Jan 2023 00:00:00 GMT";
        add_header ETag '"abc"';
        add_header Cache-Control $arg_cc;
        return 200 "lm $uri\n";
    }
}
"#;

/// A probe sent after a pause (for an entry to expire), and after the origin's file is
/// given these bytes and this time (each front then finds it the same).
struct Later(Duration, String, Option<(PathBuf, &'static str, u64)>);

impl Probe for Later {
    fn send(&self, _prefix: &Path, port: u16) -> Vec<u8> {
        std::thread::sleep(self.0);
        if let Some((path, data, mtime)) = &self.2 {
            let _ = std::fs::create_dir_all(path.parent().unwrap_or(path));
            std::fs::write(path, data).expect("origin file");
            let file = std::fs::File::options().write(true).open(path);
            let time = std::time::UNIX_EPOCH + Duration::from_secs(*mtime);
            file.and_then(|f| f.set_modified(time)).expect("mtime");
        }
        exchange(port, &self.1)
    }
}

/// The time of the origin's files, then of the one that changes.
const MTIME: u64 = 1_672_617_600;

fn probes(origin: &Path) -> Vec<Later> {
    let now = |r: String| Later(Duration::ZERO, r, None);
    let html = origin.join("html/rv");
    let write = |name: &str, uri: &str, data, mtime| {
        let request = format!("GET {uri} HTTP/1.1\r\nHost: a\r\n");
        Later(
            Duration::ZERO,
            request,
            Some((html.join(name), data, mtime)),
        )
    };
    let etag = format!("If-None-Match: \"{MTIME:x}-8\"");
    let get = |uri: &str| now(format!("GET {uri} HTTP/1.1\r\nHost: a\r\n"));
    let head = |uri: &str| now(format!("HEAD {uri} HTTP/1.1\r\nHost: a\r\n"));
    let with = |uri: &str, h: &str| now(format!("GET {uri} HTTP/1.1\r\nHost: a\r\n{h}\r\n"));
    vec![
        get("/a"),
        get("/a"),
        head("/a"),
        with("/a", "X-Bypass: 1"),
        get("/a"),
        "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n".into_later(),
        get("/cc?cc=no-cache"),
        get("/cc?cc=no-cache"),
        get("/cc?cc=max-age=0"),
        get("/ma?cc=max-age=100"),
        get("/ma?cc=max-age=100"),
        get("/xae?xae=0"),
        get("/xae?xae=0"),
        get("/sc?sc=a=b"),
        get("/sc?sc=a=b"),
        get("/vary?vary=*"),
        get("/vary?vary=*"),
        // Each representation under a key of its own (the second's a secondary key), the
        // lists of tokens compared without their spaces.
        with("/ae?vary=Accept-Encoding", "Accept-Encoding: gzip"),
        with("/ae?vary=Accept-Encoding", "Accept-Encoding: gzip"),
        with("/ae?vary=Accept-Encoding", "Accept-Encoding: deflate"),
        with("/ae?vary=Accept-Encoding", "Accept-Encoding: deflate"),
        with("/ae?vary=Accept-Encoding", "Accept-Encoding: gzip"),
        with("/ae?vary=Accept-Encoding", "Accept-Encoding: a, b"),
        with("/ae?vary=Accept-Encoding", "Accept-Encoding: a,,b ,"),
        // nginx 1.22 goes by the last `Vary`.
        with("/mv?vary=Accept-Encoding&vary2=X-Foo", "Accept-Encoding: a"),
        with("/mv?vary=Accept-Encoding&vary2=X-Foo", "Accept-Encoding: b"),
        with("/mv?vary=Accept-Encoding&vary2=X-Foo", "X-Foo: c"),
        get("/404"),
        get("/404"),
        get("/any/404"),
        get("/any/404"),
        get("/nc/x?nc=1"),
        get("/nc/x"),
        get("/nc/x"),
        get("/nc/y?no=1"),
        get("/nc/y?no=1"),
        get("/mu/x"),
        get("/mu/x"),
        get("/mu/x"),
        with("/mu/r", "Range: bytes=0-3"),
        with("/mu/r", "Range: bytes=0-3"),
        head("/h"),
        get("/h"),
        head("/hoff/x"),
        get("/hoff/x"),
        head("/hoff/x"),
        get("/k/x?a=1"),
        get("/k/x?a=2"),
        "POST /post/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n".into_later(),
        "POST /post/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n".into_later(),
        get("/ign/x?cc=no-store&sc=a=b"),
        get("/ign/x?cc=no-store&sc=a=b"),
        with("/range", "Range: bytes=0-3\r\nIf-None-Match: \"x\""),
        get("/off/x"),
        get("/off/x"),
        with("/ar", "Range: bytes=0-4"),
        with("/ar", "Range: bytes=2-"),
        with("/ar", "Range: bytes=1000-"),
        with(
            "/ar",
            "Range: bytes=0-1\r\nIf-Range: Mon, 02 Jan 2023 00:00:00 GMT",
        ),
        with(
            "/ar",
            "Range: bytes=0-1\r\nIf-Range: Mon, 02 Jan 2023 00:00:01 GMT",
        ),
        get("/ar"),
        with("/ar2", "Range: bytes=0-2,4-"),
        with("/ar3", "Range: bytes=1000-"),
        with("/off/ar", "Range: bytes=0-4"),
        // proxy_cache_max_range_offset: a range from the end or starting at the offset or
        // beyond goes to the origin, and its answer is not kept.
        with("/mro/a", "Range: bytes=1-"),
        with("/mro/a", "Range: bytes=1-"),
        with("/mro/b", "Range: bytes=2-"),
        get("/mro/b"),
        get("/mro/b"),
        with("/mro/c", "Range: bytes=-1"),
        with("/mro/d", "Range: bytes=  7-"),
        with("/mro/e", "Range: bytes=x"),
        with("/mro/e", "Range: bytes=x"),
        with("/mro/f", "Range: Bytes=99999999999999999999-"),
        with("/mro0/a", "Range: bytes=0-0"),
        get("/mro0/a"),
        with("/mro0/a", "Range: bytes=0-0"),
        get("/var/x?c=one"),
        get("/var/x?c=one"),
        get("/var/x?c=two"),
        get("/var/x?c=nope"),
        get("/var/x?c=off"),
        get("/var/x"),
        get("/ie/404"),
        get("/ie/404"),
        with("/lm", "If-None-Match: \"abc\""),
        with("/lm", "If-None-Match: \"abc\""),
        with("/lm", "If-Modified-Since: Mon, 02 Jan 2023 00:00:00 GMT"),
        with("/lm", "If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT"),
        with("/lm", "If-Unmodified-Since: Mon, 01 Jan 2001 00:00:00 GMT"),
        with("/lm", "If-Match: \"zzz\""),
        with("/lm2", "If-Match: \"zzz\""),
        with("/off/lm", "If-None-Match: \"abc\""),
        with("/lmcc?cc=no-store", "If-None-Match: \"abc\""),
        with(
            "/xae?xae=0",
            "If-Unmodified-Since: Mon, 01 Jan 2001 00:00:00 GMT",
        ),
        with(
            "/nolm",
            "If-Unmodified-Since: Mon, 01 Jan 2001 00:00:00 GMT",
        ),
        with("/nolm", "If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT"),
        get("/exp?xae=1"),
        get("/exp?xae=1"),
        get("/st/x?xae=1"),
        get("/st/x?xae=1"),
        write("a", "/rv/a", "SEE-THIS", MTIME),
        get("/rv/a"),
        write("b", "/rv/b", "SEE-THIS", MTIME),
        get("/rve/a"),
        get("/rve/b"),
        Later(
            Duration::from_millis(2100),
            "GET /exp?xae=1 HTTP/1.1\r\nHost: a\r\n".into(),
            None,
        ),
        get("/exp?xae=1"),
        // proxy_cache_revalidate: the entry's validators go to the origin; its 304 makes
        // the entry answer (and be valid again), its 200 replaces it.
        get("/rv/a"),
        get("/rv/a"),
        write("b", "/rv/b", "NEW", MTIME + 60),
        get("/rv/b"),
        with("/rve/a", &etag),
        get("/rve/a"),
        get("/rve/b"),
        get("/st/x?fail=1"),
        get("/sterr/x"),
        get("/stoff/x?fail=1"),
        get("/st/x?xae=100"),
        get("/st/x"),
    ]
}

trait IntoLater {
    fn into_later(self) -> Later;
}

impl IntoLater for &str {
    fn into_later(self) -> Later {
        Later(Duration::ZERO, self.into(), None)
    }
}

/// Every file under `dir`, by its path there, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn proxy_cache_serves_and_keeps_as_nginx_does() {
    let Some(nginx) = nginx() else { return };
    let Some(origin) = Nginx::serve(|port| ORIGIN.replace("PORT", &port.to_string())) else {
        return;
    };
    let base = temp_dir("proxy-cache");
    let config = CONFIG.replace("ORIGIN", &origin.addr.port().to_string());
    let probes = probes(&origin.dir);
    let seen = through_both(nginx, &config, &base, &probes);
    let requests: Vec<&str> = probes.iter().map(|p| p.1.as_str()).collect();
    assert_same(&seen, &requests);
    // The origin saw the same requests from both fronts, in the same order.
    std::thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(origin.dir.join("logs/origin.log")).unwrap_or_default();
    let from = |front: &str| -> Vec<String> {
        let marker = base.join(front).display().to_string();
        let lines = log.lines().filter(|l| l.starts_with(&format!("{marker} ")));
        lines.map(|l| l[marker.len()..].to_string()).collect()
    };
    let (theirs, ours) = (from("nginx"), from("ngxr_"));
    assert_eq!(theirs, ours, "requests the origin got");
    assert!(ours.len() < probes.len() - 10, "{ours:?}");
    let access = &seen[1].1;
    for status in ["MISS", "HIT", "BYPASS", "EXPIRED", "STALE", "REVALIDATED"] {
        assert!(access.contains(&format!("cs=[{status}]")), "{access}");
    }
    // The entries have nginx's names.
    for dir in ["cache", "flat"] {
        let theirs = files(&base.join("nginx").join(dir));
        let ours = files(&base.join("ngxr_").join(dir));
        assert_eq!(theirs, ours, "{dir}");
        assert!(!ours.is_empty(), "{dir}");
    }
}
