//! Files, index, try_files and error pages routed from configuration text over a temp
//! directory: which answer, with which status, after which internal redirects.

use bytes::Bytes;

use super::plan::{Outcome, Pass, Route, Site};
use super::tests::{http, load, request_info, route};

/// A fresh root holding `files` (path, contents); returns its path as text.
fn root(name: &str, files: &[(&str, &str)]) -> String {
    let dir = std::env::temp_dir().join(format!("ngxr-static-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, body) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

/// Status, then the body (a `return` text) or the file's length, of `GET uri`.
fn get(conf: &str, uri: &str) -> (u16, String) {
    let site = load(&http(conf)).unwrap_or_else(|e| panic!("{e:?}"));
    describe(route(&site, &format!("GET {uri}"), &[("Host", "h")]).0)
}

fn describe(r: Route) -> (u16, String) {
    match r {
        Route::Respond(r) => (
            r.status,
            String::from_utf8_lossy(&r.body.unwrap_or_default()).into_owned(),
        ),
        Route::File(f) => (
            f.status,
            format!("file of {}", f.parts.iter().map(|p| p.size()).sum::<u64>()),
        ),
        Route::Proxy(p) => (0, format!("proxy {:?}", p.passes)),
        Route::Auth(_) => (0, "auth_request".to_string()),
    }
}

#[test]
fn a_cached_map_keeps_its_value_across_the_index_redirect() {
    let dir = root("map", &[]);
    let conf = format!(
        "map $uri $cached {{ /1/ /1/redirect; /1/redirect uncached; }}
         map $uri $fresh {{ volatile; /2/ /2/redirect; /2/redirect uncached; }}
         server {{ listen 127.0.0.1:8080; root {dir};
           location /1 {{ index $cached; }}
           location /1/redirect {{ return 200 $cached; }}
           location /2 {{ index $fresh; }}
           location /2/redirect {{ return 200 $fresh; }} }}"
    );
    assert_eq!(get(&conf, "/1/"), (200, "/1/redirect".into()));
    assert_eq!(get(&conf, "/2/"), (200, "uncached".into()));
}

#[test]
fn try_files_with_alias_and_the_fallbacks() {
    let dir = root("tf", &[("pub/a.txt", "abc"), ("pub/sub/index.html", "i")]);
    let conf = format!(
        "server {{ listen 127.0.0.1:8080;
           location /p/ {{ alias {dir}/pub/; try_files $uri $uri/ @none; }}
           location /c/ {{ root {dir}; try_files $uri =418; }}
           location @none {{ return 200 \"none $uri\"; }} }}"
    );
    assert_eq!(get(&conf, "/p/a.txt"), (200, "file of 3".into()));
    assert_eq!(get(&conf, "/p/sub/"), (200, "file of 1".into()));
    assert_eq!(get(&conf, "/p/zzz"), (200, "none /p/zzz".into()));
    assert_eq!(get(&conf, "/c/zzz").0, 418);
}

#[test]
fn internal_locations_answer_only_redirects_and_pages_keep_their_status() {
    let dir = root("int", &[("err.html", "oops")]);
    let conf = format!(
        "server {{ listen 127.0.0.1:8080; root {dir};
           location /x {{ error_page 404 /in; }}
           location /y {{ error_page 404 =200 /err.html; }}
           location = /in {{ internal; return 200 \"inner $request_method\"; }}
           location /loop {{ error_page 404 /loop/again; recursive_error_pages on; }} }}"
    );
    assert_eq!(get(&conf, "/in"), (404, String::new()));
    assert_eq!(get(&conf, "/x"), (404, "inner GET".into()));
    assert_eq!(get(&conf, "/y"), (200, "file of 4".into()));
    let site = load(&http(&conf)).unwrap();
    let Route::Respond(r) = route(&site, "GET /loop", &[("Host", "h")]).0 else {
        panic!("expected nginx's page");
    };
    assert_eq!(r.status, 500);
    let last = r
        .errors
        .last()
        .map(|e| e.message.clone())
        .unwrap_or_default();
    assert_eq!(
        last,
        "rewrite or internal redirection cycle while internally redirecting to \"/loop/again\""
    );
}

#[test]
fn a_failed_proxy_pass_goes_to_its_error_page_with_the_upstream_status() {
    let conf = "server { listen 127.0.0.1:8080;
           location / { proxy_pass http://127.0.0.1:9; error_page 502 504 = @down; }
           location @down { return 200 \"down $upstream_status\"; } }";
    let site = load(&http(conf)).unwrap();
    let Route::Proxy(p) = route(&site, "GET /a", &[("Host", "h")]).0 else {
        panic!("expected a proxy pass");
    };
    assert_eq!(p.error_pages, [502, 504]);
    let headers = [(Bytes::from_static(b"Host"), Bytes::from_static(b"h"))];
    let info = request_info(&site, "GET", "/a", &headers);
    let outcome = Outcome {
        upstreams: vec![super::plan::UpstreamTry {
            status: Some(502),
            ..Default::default()
        }],
        ..Outcome::default()
    };
    let again = site.reroute(&info, &[Pass::Status(502)], &outcome);
    assert_eq!(describe(again), (200, "down 502".into()));
}

/// `$document_root|$request_filename|$realpath_root` as a location's `return` gives them.
const ROOT_VARS: &str = "return 200 \"$document_root|$request_filename|$realpath_root\";";

#[test]
fn root_variables_under_root_and_alias() {
    let dir = root("rootvars", &[("pub/a.txt", "abc")]);
    let real = std::fs::canonicalize(&dir).unwrap().display().to_string();
    let conf = format!(
        "server {{ listen 127.0.0.1:8080; root {dir}/;
           location /r/ {{ {ROOT_VARS} }}
           location /p/ {{ alias {dir}/pub/; {ROOT_VARS} }}
           location ~ ^/re/(.+)$ {{ alias {dir}/pub/$1; {ROOT_VARS} }}
           location /gone/ {{ root {dir}/gone; {ROOT_VARS} }} }}"
    );
    let at = |uri: &str| get(&conf, uri).1;
    // `root` loses its trailing slash; `alias` keeps it and replaces the location's prefix.
    assert_eq!(at("/r/x"), format!("{dir}|{dir}/r/x|{real}"));
    assert_eq!(
        at("/p/a.txt"),
        format!("{dir}/pub/|{dir}/pub/a.txt|{real}/pub")
    );
    // A regex location's alias is the whole path, captures filled in.
    assert_eq!(
        at("/re/a.txt"),
        format!("{dir}/pub/a.txt|{dir}/pub/a.txt|{real}/pub/a.txt")
    );
    // realpath() fails: not found.
    assert_eq!(at("/gone/x"), format!("{dir}/gone|{dir}/gone/gone/x|"));
}

#[test]
fn root_variables_follow_the_location_that_has_the_request() {
    let dir = root("rootnext", &[("f/here", "x")]);
    let conf = format!(
        "server {{ listen 127.0.0.1:8080; root {dir};
           location /n/ {{ root {dir}/n; location /n/in/ {{ {ROOT_VARS} }} }}
           location /w/ {{ rewrite ^/w/(.*)$ /final/$1 last; }}
           location /t/ {{ try_files /nothing /final/t; }}
           location /final/ {{ root {dir}/f; {ROOT_VARS} }}
           location /f/ {{ if (!-f $request_filename) {{ return 404; }} return 200 found; }}
           location /s/ {{ set $at $document_root; if ($uri ~ s) {{ root {dir}/if; }}
             return 200 \"$at $document_root\"; }} }}"
    );
    let at = |uri: &str| get(&conf, uri).1;
    let real = std::fs::canonicalize(&dir).unwrap().display().to_string();
    assert_eq!(at("/n/in/x"), format!("{dir}/n|{dir}/n/n/in/x|"));
    assert_eq!(at("/w/y"), format!("{dir}/f|{dir}/f/final/y|{real}/f"));
    assert_eq!(at("/t/"), format!("{dir}/f|{dir}/f/final/t|{real}/f"));
    assert_eq!(get(&conf, "/f/here"), (200, "found".into()));
    assert_eq!(get(&conf, "/f/nothere").0, 404);
    // A true `if` hands the request its block's root for what follows it.
    assert_eq!(at("/s/"), format!("{dir} {dir}/if"));
}

#[test]
fn ssi_dates_and_http2_are_known() {
    let conf = "server { listen 127.0.0.1:8080;
       location / { return 200 \"[$http2] $date_gmt|$date_local|$upstream_cache_status\"; } }";
    let (status, body) = get(conf, "/");
    assert_eq!(status, 200);
    let (http2, dates) = body.split_once(' ').unwrap();
    assert_eq!(http2, "[]");
    let [gmt, local, cache]: [&str; 3] = dates.split('|').collect::<Vec<_>>().try_into().unwrap();
    assert!(gmt.ends_with(" GMT") && gmt.contains(", "), "{gmt}");
    assert!(local.ends_with(" UTC"), "{local}");
    assert_eq!(cache, "");
}

#[test]
fn allow_and_deny_decide_after_the_rewrite_phase() {
    let dir = root("access", &[("a/x.txt", "x"), ("b/x.txt", "x")]);
    let conf = format!(
        "allow 192.168.0.0/16; deny all;
         server {{ listen 127.0.0.1:8080; root {dir};
           location /a/ {{ allow 10.0.0.0/8; deny all; }}
           location /b/ {{ }}
           location /d/ {{ deny 10.0.0.7; allow all; return 200 early; }}
           location /e/ {{ error_page 403 /a/x.txt; }} }}"
    );
    // The client is 10.0.0.7.
    assert_eq!(get(&conf, "/a/x.txt"), (200, "file of 1".into()));
    assert_eq!(get(&conf, "/b/x.txt").0, 403);
    // `return` answers in the rewrite phase, before access is checked.
    assert_eq!(get(&conf, "/d/x"), (200, "early".into()));
    // The error page is an internal redirect to an allowed location; the status stays.
    assert_eq!(get(&conf, "/e/x"), (403, "file of 1".into()));
}

#[test]
fn auth_basic_asks_after_allow_and_deny_and_satisfy_any_takes_either() {
    let dir = root("auth", &[("a/x.txt", "x"), ("any/x.txt", "x")]);
    let users = format!("{dir}/users");
    std::fs::write(
        &users,
        "# users\nbob:{PLAIN}pw:bob's\nann:$apr1$sAlt1234$87YgbVWVomhbKy3dFiKZj/\n",
    )
    .unwrap();
    let conf = format!(
        "auth_basic \"zone $uri\"; auth_basic_user_file {users};
         server {{ listen 127.0.0.1:8080; root {dir};
           location /a/ {{ }}
           location /off/ {{ auth_basic off; return 200 open; }}
           location /denied/ {{ deny all; }}
           location /any/ {{ satisfy any; allow 10.0.0.0/8; deny all; }}
           location /missing/ {{ auth_basic_user_file {dir}/none; }} }}"
    );
    let site = load(&http(&conf)).unwrap_or_else(|e| panic!("{e:?}"));
    let ask = |uri: &str, auth: Option<&str>| {
        let mut headers = vec![("Host", "h")];
        headers.extend(auth.map(|a| ("Authorization", a)));
        match route(&site, &format!("GET {uri}"), &headers).0 {
            Route::Respond(r) => {
                let challenge = r
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(b"www-authenticate"))
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
                let lines: Vec<String> = r.errors.iter().map(|e| e.message.clone()).collect();
                (r.status, challenge, lines)
            }
            Route::File(f) => (f.status, None, Vec::new()),
            Route::Proxy(_) => (0, None, Vec::new()),
            Route::Auth(_) => panic!("no auth_request here"),
        }
    };
    // "bob:pw" and "bob:no", "ann:secret", "eve:pw".
    let (bob, bad, ann, eve) = (
        "Basic Ym9iOnB3",
        "basic  Ym9iOm5v",
        "Basic YW5uOnNlY3JldA==",
        "Basic ZXZlOnB3",
    );
    assert_eq!(
        ask("/a/x.txt", None),
        (
            401,
            Some("Basic realm=\"zone /a/x.txt\"".into()),
            vec!["no user/password was provided for basic authentication".into()]
        )
    );
    assert_eq!(ask("/a/x.txt", Some(bob)).0, 200);
    assert_eq!(ask("/a/x.txt", Some(ann)).0, 200);
    assert_eq!(
        ask("/a/x.txt", Some(bad)).2,
        vec!["user \"bob\": password mismatch".to_string()]
    );
    assert_eq!(
        ask("/a/x.txt", Some(eve)).2,
        vec![format!("user \"eve\" was not found in \"{users}\"")]
    );
    assert_eq!(ask("/off/", None).0, 200);
    // allow/deny run first: a deny answers 403 before any challenge.
    assert_eq!(ask("/denied/", Some(bob)).0, 403);
    // satisfy any: the client's address is enough (10.0.0.7).
    assert_eq!(ask("/any/x.txt", None).0, 200);
    let (status, _, lines) = ask("/missing/", Some(bob));
    assert_eq!(status, 403);
    assert!(
        lines[0].starts_with(&format!("open() \"{dir}/none\" failed (2: ")),
        "{lines:?}"
    );
    // The file is read per request.
    std::fs::write(&users, "bob:{PLAIN}new\n").unwrap();
    assert_eq!(ask("/a/x.txt", Some(bob)).0, 401);
}
