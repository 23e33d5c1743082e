//! `proxy_redirect` against nginx: a backend answers with the `Location` and `Refresh` lines
//! each probe asks for, and the client's answers through nginx and ngxr must be the same
//! bytes: the default rule with and without a URI part, prefixes with variables, regexes
//! (caseless, with numbered and named captures) replacing the whole value, relative results
//! made absolute, `Refresh` URLs, rules that match nothing, `off`, and the access log's view.

use crate::common::{Mirror, nginx, temp_dir};
use crate::files::{assert_same, through_both};

const CONFIG: &str = r"
events {}
http {
    log_format t '$request $status [$upstream_http_location] [$sent_http_location] [$upstream_http_refresh]';
    access_log logs/access.log t;
    error_log logs/error.log warn;
    server {
        listen 127.0.0.1:PORT;
        server_name localhost;
        location / {
            set $part sub;
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_redirect http://backend/$part/ /moved/;
            proxy_redirect ~^(.+)/cap_([a-z]+)/(.*)$ $1/$2/$3;
            proxy_redirect ~*/CaSe/ /found/;
            proxy_redirect ~^http://named/(?<rest>.*)$ /named/$rest;
            proxy_redirect ~^/relative/ http://$host:$server_port/abs/;
        }
        location /default/ {
            proxy_pass http://127.0.0.1:MIRROR/inner/;
        }
        location /nouri/ {
            proxy_pass http://127.0.0.1:MIRROR;
        }
        location /off/ {
            proxy_pass http://127.0.0.1:MIRROR/inner/;
            proxy_redirect off;
        }
        location /status/ {
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_redirect ~^/s/ /$upstream_status/;
        }
    }
}
";

/// A GET of `target` whose upstream answer carries `lines` (`Name: value`).
fn probe(target: &str, lines: &[&str]) -> String {
    let lines: String = lines.iter().map(|l| format!("X-Answer-{l}\r\n")).collect();
    format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{lines}")
}

fn probes() -> Vec<String> {
    let mirror = "http://127.0.0.1:MIRROR";
    vec![
        probe("/", &["Location: http://backend/sub/x?y"]),
        probe("/", &["Location: http://other/a/cap_word/rest/of?it"]),
        probe(
            "/",
            &["Location: http://other/case/x", "Refresh: 5; URL=/cAsE/y"],
        ),
        probe("/", &["Location: http://named/p/q"]),
        probe("/", &["Location: /relative/r"]),
        probe("/", &["Location: http://nothing/matches", "Refresh: 3"]),
        probe("/", &["Refresh: 1; url=http://backend/sub/z"]),
        probe("/", &["Refresh: 2;URL=http://named/long/enough/to/shrink"]),
        probe("/default/a", &[&format!("Location: {mirror}/inner/b")]),
        probe("/default/a", &[&format!("Location: {mirror}/elsewhere")]),
        probe("/nouri/a", &[&format!("Location: {mirror}/c/d")]),
        probe("/off/a", &[&format!("Location: {mirror}/inner/b")]),
        probe("/status/", &["Location: /s/t"]),
    ]
}

#[test]
fn location_and_refresh_are_rewritten_as_nginx_rewrites_them() {
    let Some(nginx) = nginx() else { return };
    let mirror = Mirror::start();
    let base = temp_dir("proxy-redirect");
    let port = mirror.port.to_string();
    let config = CONFIG.replace("MIRROR", &port);
    let probes: Vec<String> = probes()
        .iter()
        .map(|p| p.replace("MIRROR", &port))
        .collect();
    let seen = through_both(nginx, &config, &base, &probes);
    assert_same(&seen, &probes);
    // The regex rules did apply: a caseless match replaced the whole value.
    let ours = &seen[1].0[2];
    assert!(ours.contains("\r\nLocation: http://localhost:"), "{ours}");
}
