//! `fastcgi_cache` against nginx: the same configuration, each server with its own cache
//! directory, passes to one FastCGI responder, which keeps the params of every request it
//! gets. The answers, the access log (`$upstream_cache_status`), the requests that reached
//! the responder (with the validators and ranges they carried) and the cache files' names
//! must be nginx's.

use std::path::Path;
use std::time::Duration;

use crate::common::{nginx, temp_dir};
use crate::files::{Probe, assert_same, exchange, through_both};
use crate::support::fastcgi::Responder;

const CONFIG: &str = r#"
events {}
http {
    log_format c '$request $status cs=[$upstream_cache_status] us=[$upstream_status] $body_bytes_sent';
    access_log logs/access.log c;
    error_log logs/error.log error;
    fastcgi_cache_path PREFIX/cache levels=1:2 keys_zone=f:1m;
    fastcgi_cache_path PREFIX/other keys_zone=g:1m;
    fastcgi_cache_valid 1m;
    fastcgi_param FRONT PREFIX;
    fastcgi_param REQUEST_METHOD $request_method;
    fastcgi_param REQUEST_URI $request_uri;
    server {
        listen 127.0.0.1:PORT;
        location / {
            fastcgi_pass 127.0.0.1:FCGI;
            fastcgi_cache f;
            fastcgi_cache_key $request_method$uri$is_args$args;
            fastcgi_cache_bypass $http_x_bypass;
        }
        location /nokey/ {
            fastcgi_pass 127.0.0.1:FCGI;
            fastcgi_cache g;
        }
        location /nc/ {
            fastcgi_pass 127.0.0.1:FCGI;
            fastcgi_cache f;
            fastcgi_cache_key $request_method$uri$is_args$args;
            fastcgi_no_cache $arg_nc;
        }
        location /mu/ {
            fastcgi_pass 127.0.0.1:FCGI;
            fastcgi_cache f;
            fastcgi_cache_key $request_method$uri$is_args$args;
            fastcgi_cache_min_uses 2;
        }
        location /post/ {
            fastcgi_pass 127.0.0.1:FCGI;
            fastcgi_cache f;
            fastcgi_cache_key $request_method$uri$is_args$args;
            fastcgi_cache_methods POST;
        }
        location /var/ {
            fastcgi_pass 127.0.0.1:FCGI;
            fastcgi_cache $arg_c;
            fastcgi_cache_key $request_method$uri$is_args$args;
        }
        location /any/ {
            fastcgi_pass 127.0.0.1:FCGI;
            fastcgi_cache f;
            fastcgi_cache_key $request_method$uri$is_args$args;
            fastcgi_cache_valid any 1m;
        }
        location /rv/ {
            fastcgi_pass 127.0.0.1:FCGI;
            fastcgi_cache f;
            fastcgi_cache_key $request_method$uri$is_args$args;
            fastcgi_cache_valid 200 1s;
            fastcgi_cache_revalidate on;
        }
        location /off/ {
            fastcgi_pass 127.0.0.1:FCGI;
            fastcgi_cache off;
        }
    }
}
"#;

/// A request sent after a pause (for an entry to expire).
struct Later(Duration, String);

impl Probe for Later {
    fn send(&self, _prefix: &Path, port: u16) -> Vec<u8> {
        std::thread::sleep(self.0);
        exchange(port, &self.1)
    }
}

fn probes() -> Vec<Later> {
    let now = |r: String| Later(Duration::ZERO, r);
    let get = |uri: &str| now(format!("GET {uri} HTTP/1.1\r\nHost: a\r\n"));
    let with = |uri: &str, h: &str| now(format!("GET {uri} HTTP/1.1\r\nHost: a\r\n{h}\r\n"));
    vec![
        get("/a"),
        get("/a"),
        now("HEAD /a HTTP/1.1\r\nHost: a\r\n".into()),
        now("HEAD /a HTTP/1.1\r\nHost: a\r\n".into()),
        with("/a", "X-Bypass: 1"),
        // The client's validators and range do not reach the responder of a cached location.
        with(
            "/b",
            "If-None-Match: \"x\"\r\nRange: bytes=0-3\r\nIf-Modified-Since: Mon, 02 Jan 2023 00:00:00 GMT",
        ),
        get("/b"),
        with("/off/b", "If-None-Match: \"x\"\r\nRange: bytes=0-3"),
        get("/a?do=nocache"),
        get("/a?do=nocache"),
        get("/a?do=headers"),
        get("/a?do=headers"),
        get("/a?do=404"),
        get("/a?do=404"),
        get("/any/x?do=404"),
        get("/any/x?do=404"),
        get("/a?do=status3"),
        get("/nokey/x"),
        get("/nokey/y"),
        get("/nc/x?nc=1"),
        get("/nc/x?nc=1"),
        get("/nc/x"),
        get("/mu/x"),
        get("/mu/x"),
        get("/mu/x"),
        now("POST /post/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n".into()),
        now("POST /post/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n".into()),
        now("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n".into()),
        get("/var/x?c=f"),
        get("/var/x?c=f"),
        get("/var/x?c=nope"),
        get("/var/x?c=off"),
        get("/var/x"),
        get("/rv/x?do=lm"),
        get("/rv/x?do=lm"),
        with("/rv/x?do=lm", "If-None-Match: \"abc\""),
        Later(
            Duration::from_millis(2100),
            "GET /rv/x?do=lm HTTP/1.1\r\nHost: a\r\n".into(),
        ),
        get("/rv/x?do=lm"),
    ]
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
fn fastcgi_cache_serves_and_keeps_as_nginx_does() {
    let Some(nginx) = nginx() else { return };
    let responder = Responder::start();
    let base = temp_dir("fastcgi-cache");
    let config = CONFIG.replace("FCGI", &responder.port.to_string());
    let probes = probes();
    let seen = through_both(nginx, &config, &base, &probes);
    let requests: Vec<&str> = probes.iter().map(|p| p.1.as_str()).collect();
    assert_same(&seen, &requests);
    // The responder got the same requests from both, with the same validators and ranges.
    let got = responder.seen.lock().map(|s| s.clone()).unwrap_or_default();
    let from = |front: &str| -> Vec<String> {
        let front = base.join(front).display().to_string();
        let of = |pairs: &Vec<(String, String)>, name: &str| {
            let found = pairs.iter().filter(|(n, _)| n == name);
            found.map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(",")
        };
        got.iter()
            .filter(|pairs| of(pairs, "FRONT") == front)
            .map(|pairs| {
                let names = ["REQUEST_METHOD", "REQUEST_URI", "HTTP_IF_MODIFIED_SINCE"];
                let names = names.iter().chain(&["HTTP_IF_NONE_MATCH", "HTTP_RANGE"]);
                let values: Vec<String> =
                    names.map(|n| format!("{n}=[{}]", of(pairs, n))).collect();
                values.join(" ")
            })
            .collect()
    };
    let (theirs, ours) = (from("nginx"), from("ngxr_"));
    assert_eq!(theirs, ours, "requests the responder got");
    assert!(ours.len() < probes.len() - 10, "{ours:#?}");
    let access = &seen[1].1;
    for status in ["MISS", "HIT", "BYPASS", "REVALIDATED"] {
        assert!(access.contains(&format!("cs=[{status}]")), "{access}");
    }
    for dir in ["cache", "other"] {
        let theirs = files(&base.join("nginx").join(dir));
        let ours = files(&base.join("ngxr_").join(dir));
        assert_eq!(theirs, ours, "{dir}");
        assert!(!ours.is_empty(), "{dir}");
    }
}
