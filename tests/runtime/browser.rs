//! The browser module and nginx's MSIE handling against nginx: `$modern_browser`,
//! `$ancient_browser` and `$msie` for many agents (versions compared part by part, Opera
//! tried first, `netscape4`, `unlisted`, the values and their inheritance, a level's lists
//! replacing its parent's), `msie_refresh`'s page for 301 and 302, and `msie_padding` on
//! and off.

use crate::common::{nginx, temp_dir};
use crate::files::{assert_same, through_both};

const CONFIG: &str = r#"
events {}
http {
    access_log off;
    modern_browser_value modern;
    server {
        listen 127.0.0.1:PORT;
        modern_browser gecko 1.0.1;
        modern_browser msie 6.0;
        modern_browser safari 400;
        modern_browser konqueror 3.5;
        modern_browser opera 9.0;
        ancient_browser Links Lynx netscape4;
        ancient_browser_value old;
        location / { return 200 "[$modern_browser][$ancient_browser][$msie]\n"; }
        location /open/ {
            modern_browser unlisted;
            ancient_browser Wget;
            return 200 "[$modern_browser][$ancient_browser]\n";
        }
        location /none/ {
            modern_browser msie 7.0;
            return 200 "[$modern_browser][$ancient_browser]\n";
        }
        location /r1 { msie_refresh on; return 302 "/to?a=\"b\"<x>~{|}'%"; }
        location /r2 { msie_refresh on; return 301 http://example.com/x; }
        location /r3 { msie_refresh on; rewrite ^ /elsewhere redirect; }
        location /r4 { msie_refresh on; error_page 404 =307 http://example.com/?a=b; }
        location /pad { return 404; }
        location /nopad { msie_padding off; return 404; }
    }
}
"#;

#[test]
fn browsers_are_told_apart_as_nginx_tells_them() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("browser");
    let agents = [
        None,
        Some("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"),
        Some("Mozilla/4.0 (compatible; MSIE 5.5; Windows NT 5.1)"),
        Some("Mozilla/4.0 (compatible; MSIE 6.01; Windows NT 5.1)"),
        Some("x MSIE 6"),
        Some("Mozilla/4.0 (compatible; MSIE 6.0; X11; FreeBSD i386) Opera 7.50  [en]"),
        Some("Opera/9.01 (X11; FreeBSD 6 i386; U; en)"),
        Some("Mozilla/5.0 (Windows; U; Windows NT 5.1; ru-RU; rv:1.0.0) Gecko/20020610"),
        Some("Mozilla/5.0 (X11; U; FreeBSD i386; en-US; rv:1.8.0.5) Gecko/20060729"),
        Some("Mozilla/5.0 (Macintosh; U; PPC Mac OS X; en) AppleWebKit/418 Safari/417.9.3"),
        Some("Mozilla/5.0 (compatible; Konqueror/3.4; Linux) KHTML/3.4.2 (like Gecko)"),
        Some("Mozilla/5.0 (X11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"),
        Some("Links (2.1pre15; Linux 2.6 i686; 80x24)"),
        Some("Mozilla/4.72 [en] (X11; U; Linux)"),
        Some("Wget/1.21"),
        Some("curl/8.0"),
    ];
    let mut probes = Vec::new();
    for ua in agents {
        let header = ua
            .map(|u| format!("User-Agent: {u}\r\n"))
            .unwrap_or_default();
        for path in [
            "/", "/open/", "/none/", "/r1", "/r2", "/r3", "/r4", "/pad", "/nopad",
        ] {
            probes.push(format!("GET {path} HTTP/1.1\r\nHost: a\r\n{header}"));
        }
        probes.push(format!("HEAD /r1 HTTP/1.1\r\nHost: a\r\n{header}"));
    }
    let seen = through_both(nginx, CONFIG, &base, &probes);
    assert_same(&seen, &probes);
    for answer in [
        "[modern][][1]",
        "[][old][]",
        "[modern][][]",
        "[][old]",
        "Refresh",
        "a padding",
    ] {
        assert!(seen[1].0.iter().any(|a| a.contains(answer)), "{answer}");
    }
}
