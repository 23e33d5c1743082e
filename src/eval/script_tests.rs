//! The rewrite module run per request, checked against what nginx answers: `return` forms,
//! `rewrite` flags and arguments, `set`, `if` conditions with captures, and the cycle limit.

use super::plan::Route;
use super::tests::{http, load};

/// Status, `Location` and body of the answer to `GET uri`.
fn answer(conf: &str, uri: &str) -> (u16, String, String) {
    let site = load(&http(conf)).unwrap_or_else(|e| panic!("{e:?}"));
    match super::tests::route(&site, &format!("GET {uri}"), &[("Host", "h")]).0 {
        Route::Respond(r) => {
            let location = r
                .headers
                .iter()
                .find(|(n, _)| n.as_ref() == b"Location")
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            // What the client sees: the header filter makes a `/` Location absolute.
            let location = match &r.location_base {
                Some(base) if location.starts_with('/') => {
                    format!("{}{location}", String::from_utf8_lossy(base))
                }
                _ => location,
            };
            let body = String::from_utf8_lossy(&r.body.unwrap_or_default()).into_owned();
            (r.status, location, body)
        }
        Route::Proxy(p) => (0, String::new(), format!("{:?}", p.uri)),
        Route::File(f) => (f.status, String::new(), String::new()),
        Route::Auth(_) => panic!("no auth_request here"),
    }
}

fn body(conf: &str, uri: &str) -> String {
    answer(conf, uri).2
}

#[test]
fn rewrite_last_searches_again_and_break_stays() {
    let conf = "server { listen 127.0.0.1:80; \
        location /a { rewrite ^/a(.*)$ /b$1 last; return 200 no; } \
        location /b { return 200 \"b:$uri:$args\"; } \
        location /c { rewrite ^ /b?x=1 break; return 200 unreached; proxy_pass http://127.0.0.1:9; } \
        location /d { rewrite ^ /b?; } \
        location /e { rewrite ^(.*) $1?c=$1; return 200 \"e:$uri:$args\"; } }";
    assert_eq!(body(conf, "/a1?q=2"), "b:/b1:q=2");
    assert_eq!(body(conf, "/c?q=2"), "b\"/b?x=1&q=2\"");
    assert_eq!(body(conf, "/d?q=2"), "b:/b:");
    assert_eq!(body(conf, "/e/%25?a=b"), "e:/e/%:c=/e/%25&a=b");
}

#[test]
fn rewrite_redirects() {
    let conf = "server { listen 127.0.0.1:80; \
        rewrite ^/old/(.*)$ /new/$1 permanent; \
        rewrite ^/ext$ http://example.com/x; \
        rewrite ^/add$ http://example.com/?c=d; \
        location / { return 200 ok; } }";
    let (status, location, _) = answer(conf, "/old/p?a=1");
    assert_eq!((status, location.as_str()), (301, "http://h/new/p?a=1"));
    let (status, location, _) = answer(conf, "/ext");
    assert_eq!((status, location.as_str()), (302, "http://example.com/x"));
    assert_eq!(answer(conf, "/add?a=b").1, "http://example.com/?c=d&a=b");
}

#[test]
fn set_and_if_with_captures() {
    let conf = "server { listen 127.0.0.1:80; location / { \
        set $v none; \
        if ($uri ~* ^/U/(?<id>\\d+)$) { set $v $id; } \
        if ($arg_x = yes) { return 200 \"x:$v\"; } \
        if ($arg_y) { return 200 \"y:$v\"; } \
        if (!-e /nonexistent/ngxr) { return 200 \"v:$v\"; } } }";
    assert_eq!(body(conf, "/u/42?x=yes"), "x:42");
    assert_eq!(body(conf, "/z?y=0"), "v:none");
    assert_eq!(body(conf, "/z?y=1"), "y:none");
}

#[test]
fn endless_rewrites_are_a_500() {
    let conf = "server { listen 127.0.0.1:80; location / { rewrite ^ /x; } }";
    assert_eq!(answer(conf, "/").0, 500);
}

#[test]
fn return_forms() {
    let conf = "server { listen 127.0.0.1:80; \
        location /u { return https://e.com$uri; } \
        location /p { return 301 /q; } \
        location /n { return 444; } \
        location /t { return 403 \"no\"; } }";
    assert_eq!(answer(conf, "/u").0, 302);
    assert_eq!(answer(conf, "/u").1, "https://e.com/u");
    assert_eq!(answer(conf, "/p").1, "http://h/q");
    assert_eq!(answer(conf, "/n").0, 444);
    assert_eq!(answer(conf, "/t"), (403, String::new(), "no".into()));
}
