//! The access phase with `auth_request`: the first pass ends in the subrequest (an internal
//! GET that skips the access phase), the pass after it decides by the subrequest's status,
//! and `satisfy any` lets `allow` skip the subrequest.

use bytes::Bytes;

use super::plan::{Outcome, Route};
use super::tests::{http, load, request_info, status};

const CONF: &str = "server {
    listen 127.0.0.1:8080;
    auth_request /auth;
    auth_request_set $user $upstream_http_x_user;
    location / { proxy_pass http://127.0.0.1:9000; proxy_set_header X-User $user; }
    location /any/ { satisfy any; allow 10.0.0.0/8; proxy_pass http://127.0.0.1:9000; }
    location /off/ { auth_request off; proxy_pass http://127.0.0.1:9000; }
    location = /auth { internal; proxy_pass http://127.0.0.1:9001; }
}";

fn answered(status: u16, headers: &[(&str, &str)]) -> Outcome {
    Outcome {
        status,
        upstream_headers: headers
            .iter()
            .map(|(n, v)| (Bytes::from(n.to_string()), Bytes::from(v.to_string())))
            .collect(),
        ..Outcome::default()
    }
}

fn route_with(site: &super::Compiled, line: &str, auth: Option<&Outcome>) -> Route {
    let (method, target) = line.split_once(' ').unwrap();
    let headers = [(Bytes::from_static(b"Host"), Bytes::from_static(b"h"))];
    let mut info = request_info(site, method, target, &headers);
    info.auth = auth.map_or(&[], std::slice::from_ref);
    site.route_traced(&info, &mut Default::default())
}

#[test]
fn the_first_pass_asks_a_get_subrequest_that_skips_the_access_phase() {
    let site = load(&http(CONF)).unwrap();
    let Route::Auth(sub) = route_with(&site, "POST /app", None) else {
        panic!("expected the subrequest");
    };
    let Route::Proxy(p) = sub.route else {
        panic!("expected the subrequest to be proxied");
    };
    assert_eq!(&p.method[..], b"GET");
    assert_eq!(&p.uri[..], b"/auth");
    assert!(p.subrequest);
}

#[test]
fn the_next_pass_decides_by_the_subrequest_status() {
    let site = load(&http(CONF)).unwrap();
    let allowed = answered(204, &[("X-User", "alice")]);
    let Route::Proxy(p) = route_with(&site, "GET /app", Some(&allowed)) else {
        panic!("expected the request to be proxied");
    };
    assert!(
        p.headers
            .iter()
            .any(|(n, v)| &n[..] == b"X-User" && &v[..] == b"alice")
    );
    let challenge = answered(
        401,
        &[("WWW-Authenticate", "Bearer"), ("WWW-Authenticate", "x")],
    );
    let Route::Respond(r) = route_with(&site, "GET /app", Some(&challenge)) else {
        panic!("expected a refusal");
    };
    assert_eq!(r.status, 401);
    assert!(
        r.headers
            .iter()
            .any(|(n, v)| &n[..] == b"WWW-Authenticate" && &v[..] == b"Bearer")
    );
    assert_eq!(
        status(&route_with(&site, "GET /app", Some(&answered(403, &[])))),
        403
    );
    let other = route_with(&site, "GET /app", Some(&answered(404, &[])));
    assert_eq!(status(&other), 500);
    let Route::Respond(r) = other else {
        unreachable!()
    };
    assert_eq!(
        r.errors[0].message,
        "auth request unexpected status: 404 while sending to client"
    );
}

#[test]
fn allow_under_satisfy_any_and_off_skip_the_subrequest() {
    let site = load(&http(CONF)).unwrap();
    assert!(matches!(
        route_with(&site, "GET /any/x", None),
        Route::Proxy(_)
    ));
    assert!(matches!(
        route_with(&site, "GET /off/x", None),
        Route::Proxy(_)
    ));
    assert_eq!(status(&route_with(&site, "GET /auth", None)), 404);
}
