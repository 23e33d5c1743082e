//! `proxy_cookie_domain`, `proxy_cookie_path` and `proxy_cookie_flags` from configuration
//! text to rewritten `Set-Cookie` lines; the expected lines are what nginx 1.22 sends for the
//! same configuration and upstream lines.

use bytes::Bytes;

use super::plan::{Outcome, Route};
use super::tests::{http, load, request_info};

/// The `Set-Cookie` lines a request for `target` gets when the upstream sends `cookies`
/// through the location `conf` sets up.
fn rewritten(conf: &str, target: &str, cookies: &[&str]) -> Vec<String> {
    rewritten_and_left(conf, target, cookies).0
}

/// [`rewritten`], and the upstream's lines as nginx's in-place rewrites leave them.
fn rewritten_and_left(conf: &str, target: &str, cookies: &[&str]) -> (Vec<String>, Vec<String>) {
    let site = load(&http(conf)).expect("loads");
    let host = [(
        Bytes::from_static(b"Host"),
        Bytes::from_static(b"localhost"),
    )];
    let info = request_info(&site, "GET", target, &host);
    let route = site.route_traced(&info, &mut Default::default());
    let Route::Proxy(p) = route else {
        panic!("not proxied: {route:?}");
    };
    let mut headers: Vec<(Bytes, Bytes)> = cookies
        .iter()
        .map(|c| {
            (
                Bytes::from_static(b"Set-Cookie"),
                Bytes::from(c.to_string()),
            )
        })
        .collect();
    headers.push((
        Bytes::from_static(b"X-Other"),
        Bytes::from_static(b"a=1; path=/p/"),
    ));
    let marks = match &p.cookies {
        Some(rules) => rules.rewrite(&info, &Outcome::default(), &mut headers),
        None => Vec::new(),
    };
    assert_eq!(
        headers.pop().map(|h| h.1),
        Some(Bytes::from_static(b"a=1; path=/p/"))
    );
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let left = cookies
        .iter()
        .zip(marks.iter().chain(std::iter::repeat(&None)))
        .map(|(line, mark)| mark.as_deref().map_or(line.to_string(), text))
        .collect();
    (headers.iter().map(|(_, v)| text(v)).collect(), left)
}

fn server(location: &str) -> String {
    format!("server {{ listen 127.0.0.1:8080; server_name localhost; {location} }}")
}

#[test]
fn domains_paths_and_their_regexes() {
    let conf = server(
        r"location / {
            proxy_pass http://127.0.0.1:8081;
            proxy_cookie_domain example.com new.org;
            proxy_cookie_domain ~(sub)\.(.*) $2-$1;
            proxy_cookie_domain .$server_name.com en.$server_name.org;
            proxy_cookie_path /p/ /q/;
            proxy_cookie_path ~^/r(.*)$ /R$1;
            proxy_cookie_path ~*^/CASE/(.+)$ /$1;
        }",
    );
    let got = rewritten(
        &conf,
        "/",
        &[
            "a=1;  Domain = .Example.COM ;path=/p/x",
            "a=1; domain=x.sub.example.com",
            "a=1; Domain=.LocalHost.com",
            "nodomain; path=/p/",
            "a=1;path=/r/zz;path=/p/",
            "a=1; path=/case/x",
            "=v; path=/p/",
            "a=1; path=/other; Domain=other.org",
        ],
    );
    assert_eq!(
        got,
        [
            "a=1; Domain=.new.org; path=/q/x",
            "a=1; domain=example.com-sub",
            "a=1; Domain=.en.localhost.org",
            "nodomain; path=/p/",
            "a=1; path=/R/zz; path=/q/",
            "a=1; path=/x",
            "=v; path=/q/",
            "a=1; path=/other; Domain=other.org",
        ]
    );
}

#[test]
fn a_shorter_value_is_written_over_the_upstream_s_line_as_nginx_does() {
    let conf = server(
        "location / {
            proxy_pass http://127.0.0.1:8081;
            proxy_cookie_domain example.com new.org;
            proxy_cookie_path /path/ /new/;
            proxy_cookie_path /long/ /longer/;
            proxy_cookie_path ~^/r /regex;
            proxy_cookie_flags a secure;
        }",
    );
    let lines = [
        "v=1; Path=/path/x; Path=/other",
        "b=1; Path=/path/x",
        "c=1; Domain = .Example.COM ; path=/path/",
        "d=1; path=/long/x; path=/r/x",
        "a=1; path=/other",
    ];
    let (sent, left) = rewritten_and_left(&conf, "/", &lines);
    assert_eq!(
        sent,
        [
            "v=1; Path=/new/x; Path=/other",
            "b=1; Path=/new/x",
            "c=1; Domain=.new.org; path=/new/",
            "d=1; path=/longer/x; path=/regex",
            "a=1; path=/other; Secure",
        ]
    );
    // nginx moves the rest of the value, and the byte after it, over what it replaced.
    assert_eq!(
        left,
        [
            "v=1; Path=/new/x;; Path=/other",
            "b=1; Path=/new/x\0",
            "c=1; Domain = .new.org COM ; path=/path/",
            "d=1; path=/long/x; path=/r/x",
            "a=1; path=/other",
        ]
    );
}

#[test]
fn flags_are_added_replaced_and_removed() {
    let conf = server(
        "location / {
            proxy_pass http://127.0.0.1:8081;
            proxy_cookie_flags ~^s secure;
            proxy_cookie_flags all samesite=lax nosecure;
            proxy_cookie_flags a secure httponly samesite=none;
            proxy_cookie_flags d nosecure nohttponly nosamesite;
            proxy_cookie_flags $arg_n $arg_f bogus;
        }",
    );
    let got = rewritten(
        &conf,
        "/?n=V&f=HttpOnly",
        &[
            "s=1; secure; Secure; HttpOnly",
            "all=1; Secure; samesite=LAX",
            "all=2;;; ;path",
            "a=x; Domain=example.org;Secure;HttpOnly;SameSite=Lax",
            "d=x; Domain=example.org;secure;httponly;samesite=lax",
            "nx=path=domain=; Domain=example.org;samesite=none",
            "v=1",
        ],
    );
    assert_eq!(
        got,
        [
            "s=1; secure; Secure; HttpOnly",
            "all=1; samesite=LAX",
            "all=2; ; ; ; path; SameSite=Lax",
            "a=x; Domain=example.org; Secure; HttpOnly; SameSite=None",
            "d=x; Domain=example.org",
            "nx=path=domain=; Domain=example.org;samesite=none",
            "v=1; HttpOnly",
        ]
    );
}

#[test]
fn each_kind_is_inherited_alone_and_off_stops_it() {
    let conf = "proxy_cookie_path /top/ /TOP/;
        server {
            listen 127.0.0.1:8080;
            location /b { proxy_pass http://127.0.0.1:8081; }
            location /c { proxy_pass http://127.0.0.1:8081; proxy_cookie_flags a httponly; }
            location /off { proxy_pass http://127.0.0.1:8081; proxy_cookie_path off; }
        }";
    let line = ["a=1; path=/top/x"];
    assert_eq!(rewritten(conf, "/b", &line), ["a=1; path=/TOP/x"]);
    assert_eq!(rewritten(conf, "/c", &line), ["a=1; path=/TOP/x; HttpOnly"]);
    assert_eq!(rewritten(conf, "/off", &line), ["a=1; path=/top/x"]);
    let site = load(&http(conf)).expect("loads");
    let host = [(
        Bytes::from_static(b"Host"),
        Bytes::from_static(b"localhost"),
    )];
    let info = request_info(&site, "GET", "/off", &host);
    let Route::Proxy(p) = site.route_traced(&info, &mut Default::default()) else {
        panic!("not proxied");
    };
    assert!(p.cookies.is_none(), "no rules: nothing to do per answer");
}

#[test]
fn nginx_refuses_what_nginx_refuses() {
    let errors = |directives: &str| {
        let conf = format!("{directives} {}", server("location / {}"));
        load(&http(&conf)).err().unwrap_or_default()
    };
    let duplicate = "\"proxy_cookie_path\" directive is duplicate";
    assert_eq!(
        errors("proxy_cookie_path off; proxy_cookie_path a b;"),
        [duplicate]
    );
    assert_eq!(
        errors("proxy_cookie_path a b; proxy_cookie_path off;"),
        [duplicate]
    );
    assert_eq!(
        errors("proxy_cookie_path OFF;"),
        ["invalid parameter \"OFF\""]
    );
    assert_eq!(errors("proxy_cookie_flags a;"), ["invalid parameter \"a\""]);
    assert_eq!(
        errors("proxy_cookie_path ~( x;"),
        ["pcre2_compile() failed: missing closing parenthesis in \"(\""]
    );
    assert_eq!(
        errors("proxy_cookie_flags $nothing secure;"),
        ["unknown \"nothing\" variable"]
    );
    assert!(errors("proxy_cookie_flags a bogus; proxy_cookie_domain . b;").is_empty());
}
