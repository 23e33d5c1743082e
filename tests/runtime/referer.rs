//! `valid_referers` against nginx: `none`, `blocked`, the server's names (regex ones too),
//! exact and wildcard hosts with URI parts, `~regex` referers, the scheme and length rules,
//! a location inheriting the server's list, one with its own list that still takes the
//! server's regexes, and `$invalid_referer` kept from its first reading.

use crate::common::{nginx, temp_dir};
use crate::files::through_both;

const CONFIG: &str = r#"
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:PORT;
        server_name Site.example *.site.example ~^re\d+\.example$;
        valid_referers none blocked server_names www.Example.com/pics/ .example.org
                       example.* ~\.google\.;
        location / { return 200 "[$invalid_referer]\n"; }
        location /own {
            valid_referers a.example.net;
            return 200 "[$invalid_referer]\n";
        }
        location /strict {
            valid_referers *.example.net/x;
            if ($invalid_referer) { return 403; }
            return 200 "ok\n";
        }
        location /kept {
            set $first $invalid_referer;
            rewrite ^ /strict-kept last;
        }
        location /strict-kept {
            valid_referers a.example.net;
            return 200 "[$first][$invalid_referer]\n";
        }
    }
}
"#;

#[test]
fn referers_are_judged_as_nginx_judges_them() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("referer");
    let referers = [
        None,
        Some(""),
        Some("example.org"),
        Some("ftp://example.org/"),
        Some("http://x.ru"),
        Some("http://a.ru"),
        Some("http://site.example/"),
        Some("HTTP://SITE.EXAMPLE:8080/x"),
        Some("https://deep.site.example"),
        Some("http://re12.example/"),
        Some("http://re.example/"),
        Some("http://www.example.com/pics/a.png"),
        Some("http://www.example.com/other"),
        Some("http://www.example.com:81/pics/"),
        Some("http://example.org"),
        Some("http://x.example.org/"),
        Some("http://example.co.uk/"),
        Some("http://example/"),
        Some("https://www.google.de/search"),
        Some("https://a.example.net/"),
        Some("https://b.a.example.net/x/y"),
        Some("https://b.a.example.net/y"),
    ];
    let long = format!("http://{}.example.org/", "a".repeat(300));
    let mut probes = Vec::new();
    for path in ["/", "/own", "/strict", "/kept"] {
        for r in referers.iter().chain([&Some(long.as_str())]) {
            let header = r.map(|r| format!("Referer: {r}\r\n")).unwrap_or_default();
            probes.push(format!("GET {path} HTTP/1.1\r\nHost: a\r\n{header}"));
        }
    }
    let seen = through_both(nginx, CONFIG, &base, &probes);
    assert_eq!(seen[0].0, seen[1].0);
    for answer in ["[]", "[1]", "403", "[1][1]"] {
        assert!(seen[1].0.iter().any(|a| a.contains(answer)), "{answer}");
    }
    // The first reading is kept: `/strict-kept`'s own list never judges again.
    assert!(
        !seen[1]
            .0
            .iter()
            .any(|a| a.contains("[1][]") || a.contains("[][1]"))
    );
}
