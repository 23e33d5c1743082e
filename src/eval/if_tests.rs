//! `if` blocks inside a location as nginx serves them: the block is a location of its own,
//! merged with the enclosing one, and a request whose condition holds goes on with it (its
//! `add_header`s, `proxy_set_header`s, `proxy_pass`), while the location's script carries on.

use bytes::Bytes;

use super::plan::{Outcome, Route};
use super::tests::{http, load, request_info, route, status, upstream_request};

/// The location with the CORS preflight pattern, proxying everything else.
const CORS: &str = "server { listen 127.0.0.1:80; location /api/ { add_header X-Api loc; \
    if ($request_method = OPTIONS) { add_header Access-Control-Allow-Origin *; \
    add_header Access-Control-Max-Age 1728000; return 204; } \
    proxy_pass http://127.0.0.1:9; } }";

/// The names and values `add_header` gives a response routed for `method uri`, as `n: v`.
fn added(conf: &str, method: &str, uri: &str, query: &[(&str, &str)]) -> Vec<String> {
    let site = load(&http(conf)).unwrap_or_else(|e| panic!("{e:?}"));
    let mut headers = vec![("Host", "h")];
    headers.extend_from_slice(query);
    let shown = |h: &[(Bytes, Bytes)]| -> Vec<String> {
        h.iter()
            .map(|(n, v)| {
                let (n, v) = (String::from_utf8_lossy(n), String::from_utf8_lossy(v));
                format!("{n}: {v}")
            })
            .filter(|h| !h.starts_with("Content-"))
            .collect()
    };
    match route(&site, &format!("{method} {uri}"), &headers).0 {
        Route::Respond(r) => shown(&r.headers),
        Route::Proxy(p) => {
            let raw: Vec<(Bytes, Bytes)> = headers
                .iter()
                .map(|(n, v)| (Bytes::from(n.to_string()), Bytes::from(v.to_string())))
                .collect();
            let info = request_info(&site, method, uri, &raw);
            let outcome = Outcome {
                status: 200,
                ..Default::default()
            };
            shown(
                &p.add_headers
                    .evaluate(&info, &outcome, &|_| Vec::new(), &mut Vec::new()),
            )
        }
        Route::File(f) => shown(&f.headers),
        Route::Auth(_) => panic!("no auth_request here"),
    }
}

#[test]
fn cors_preflight_answers_with_the_block_s_headers_only() {
    assert_eq!(
        added(CORS, "OPTIONS", "/api/x", &[]),
        [
            "Access-Control-Allow-Origin: *",
            "Access-Control-Max-Age: 1728000"
        ]
    );
    assert_eq!(added(CORS, "GET", "/api/x", &[]), ["X-Api: loc"]);
    let site = load(&http(CORS)).unwrap();
    let (r, trace) = route(&site, "OPTIONS /api/x", &[("Host", "h")]);
    assert_eq!(status(&r), 204);
    assert!(trace.if_block.is_some(), "explain shows the block taken");
    let (r, trace) = route(&site, "GET /api/x", &[("Host", "h")]);
    assert_eq!(upstream_request(&r).0, "/api/x");
    assert!(trace.if_block.is_none());
}

#[test]
fn proxy_pass_inside_if_is_the_content_handler() {
    let site = load(&http(
        "server { listen 127.0.0.1:80; location /ws/ { root /nonexistent; \
         if ($http_upgrade = websocket) { proxy_pass http://127.0.0.2:9; } } }",
    ))
    .unwrap();
    let (r, _) = route(
        &site,
        "GET /ws/a",
        &[("Host", "h"), ("Upgrade", "websocket")],
    );
    let Route::Proxy(p) = &r else {
        panic!("expected a proxied request, got {}", status(&r))
    };
    assert_eq!(p.uri, "/ws/a");
    let (r, _) = route(&site, "GET /ws/a", &[("Host", "h")]);
    assert_eq!(status(&r), 404);
}

#[test]
fn the_block_proxies_with_the_location_s_proxy_set_header() {
    // nginx allows no `proxy_set_header` inside `if`: the block inherits the location's, or
    // the server's when the location has none.
    let conf = "server { listen 127.0.0.1:80; proxy_set_header X-Server s; \
        location /own/ { proxy_set_header X-Loc l; \
            if ($arg_a) { proxy_pass http://127.0.0.2:9; } \
            proxy_pass http://127.0.0.1:9; } \
        location /up/ { if ($arg_a) { proxy_pass http://127.0.0.2:9; } } }";
    let site = load(&http(conf)).unwrap();
    let sent = |uri: &str| {
        let r = route(&site, &format!("GET {uri}"), &[("Host", "h")]).0;
        let Route::Proxy(p) = &r else {
            panic!("expected a proxied request, got {}", status(&r))
        };
        let headers = upstream_request(&r).1;
        let own: Vec<String> = headers
            .into_iter()
            .filter(|h| h.starts_with("X-"))
            .collect();
        (p.upstream.name.clone(), own)
    };
    assert_eq!(
        sent("/own/?a=1"),
        ("127.0.0.2:9".into(), vec!["X-Loc: l".into()])
    );
    assert_eq!(
        sent("/own/"),
        ("127.0.0.1:9".into(), vec!["X-Loc: l".into()])
    );
    assert_eq!(
        sent("/up/?a=1"),
        ("127.0.0.2:9".into(), vec!["X-Server: s".into()])
    );
}

#[test]
fn two_true_blocks_the_last_wins_and_the_script_goes_on() {
    let conf = "server { listen 127.0.0.1:80; location / { set $v start; \
        if ($arg_a) { add_header X-A a; set $v a; } \
        if ($arg_b) { add_header X-B b; } \
        return 200 $v; } }";
    assert_eq!(added(conf, "GET", "/?a=1&b=1", &[]), ["X-B: b"]);
    assert_eq!(added(conf, "GET", "/?a=1", &[]), ["X-A: a"]);
    assert!(added(conf, "GET", "/", &[]).is_empty());
    let site = load(&http(conf)).unwrap();
    let Route::Respond(r) = route(&site, "GET /?a=1&b=1", &[("Host", "h")]).0 else {
        panic!()
    };
    assert_eq!(r.body.as_deref(), Some(&b"a"[..]));
}

#[test]
fn the_block_has_no_try_files_and_a_rewrite_searches_again() {
    let conf = "server { listen 127.0.0.1:80; \
        location / { try_files /nonexistent =418; \
            if ($arg_r) { rewrite ^ /other last; } if ($arg_s) { add_header X-S s; } } \
        location /other { return 200 other; } }";
    let site = load(&http(conf)).unwrap();
    assert_eq!(status(&route(&site, "GET /x", &[("Host", "h")]).0), 418);
    // nginx's try_files module merges nothing: the block serves files itself.
    assert_eq!(status(&route(&site, "GET /x?s=1", &[("Host", "h")]).0), 404);
    let (r, trace) = route(&site, "GET /x?r=1", &[("Host", "h")]);
    assert_eq!(status(&r), 200);
    assert!(trace.if_block.is_none(), "the new location's own settings");
}

#[test]
fn load_errors_inside_if_are_nginx_s() {
    let err = |conf: &str| load(&http(conf)).unwrap_err();
    assert_eq!(
        err("server { location /a/ { if ($arg_x) { proxy_pass http://127.0.0.1:9/b/; } } }"),
        [
            "\"proxy_pass\" cannot have URI part in location given by regular expression, \
          or inside named location, or inside \"if\" statement, or inside \"limit_except\" block"
        ]
    );
    assert_eq!(
        err("server { if ($arg_x) { add_header X y; } }"),
        ["\"add_header\" directive is not allowed here"]
    );
}
