//! The mirror module's precontent handler: each URI of the location's `mirror` becomes a
//! subrequest with the request's method and arguments, routed with it; `return` answers
//! before the precontent phase, `try_files` redirects before the mirror runs, subrequests
//! start none, and a request routed again starts only those it had not started.

use super::plan::Route;
use super::tests::{http, load, request_info};

const CONF: &str = "server {
    listen 127.0.0.1:8080;
    mirror /m/1;
    mirror /m/2;
    mirror_request_body off;
    location / { proxy_pass http://127.0.0.1:9000; }
    location /one/ { mirror /m/one; mirror_request_body on; proxy_pass http://127.0.0.1:9000; }
    location /off/ { mirror off; proxy_pass http://127.0.0.1:9000; }
    location /return/ { return 204; }
    location /files/ { try_files /nowhere /one/x?r=1; }
    location /m/ { internal; proxy_pass http://127.0.0.1:9001; }
}";

/// The mirrors `line`'s route started: (method, upstream URI, sends the body).
fn mirrors(line: &str, mirrored: usize) -> Vec<(String, String, bool)> {
    let site = load(&http(CONF)).unwrap();
    let (method, target) = line.split_once(' ').unwrap();
    let headers = [(
        bytes::Bytes::from_static(b"Host"),
        bytes::Bytes::from_static(b"h"),
    )];
    let mut info = request_info(&site, method, target, &headers);
    info.mirrored = mirrored;
    let mut route = site.route_traced(&info, &mut Default::default());
    route
        .take_mirrors()
        .into_iter()
        .map(|m| match m.route {
            Route::Proxy(p) => (
                String::from_utf8_lossy(&p.method).into_owned(),
                String::from_utf8_lossy(&p.uri).into_owned(),
                m.request_body,
            ),
            _ => panic!("expected the mirror to be proxied"),
        })
        .collect()
}

fn m(method: &str, uri: &str, body: bool) -> (String, String, bool) {
    (method.into(), uri.into(), body)
}

#[test]
fn each_uri_is_a_subrequest_with_the_request_method_and_arguments() {
    assert_eq!(
        mirrors("POST /app?a=1", 0),
        [m("POST", "/m/1?a=1", false), m("POST", "/m/2?a=1", false)]
    );
    assert_eq!(mirrors("GET /one/x", 0), [m("GET", "/m/one", true)]);
}

#[test]
fn none_where_off_or_answered_before_the_precontent_phase() {
    assert_eq!(mirrors("GET /off/x", 0), []);
    assert_eq!(mirrors("GET /return/x", 0), []);
    // A client asking for the `internal` mirror location is refused before it.
    assert_eq!(mirrors("GET /m/1", 0), []);
}

#[test]
fn try_files_redirects_first_and_the_new_location_mirrors() {
    assert_eq!(mirrors("GET /files/x", 0), [m("GET", "/m/one?r=1", true)]);
}

#[test]
fn routed_again_only_the_mirrors_not_started_yet() {
    assert_eq!(mirrors("GET /app", 1), [m("GET", "/m/2", false)]);
    assert_eq!(mirrors("GET /app", 2), []);
}

#[test]
fn nginx_refuses_what_nginx_refuses() {
    let errors = |directives: &str| {
        let conf = format!("{directives} server {{ listen 127.0.0.1:8080; }}");
        load(&http(&conf)).err().unwrap_or_default()
    };
    let duplicate = "\"mirror\" directive is duplicate";
    assert_eq!(errors("mirror off; mirror /a;"), [duplicate]);
    assert_eq!(errors("mirror /a; mirror off;"), [duplicate]);
    assert_eq!(errors("mirror off; mirror off;"), [duplicate]);
    assert!(errors("mirror /a; mirror /b; mirror_request_body off;").is_empty());
}
