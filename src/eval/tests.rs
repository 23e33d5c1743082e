//! Routing checked end to end from configuration text: location order, auto_redirect,
//! server names, map priority, header merge rules, `proxy_pass` URI mapping, and nginx's
//! load errors.

use std::net::SocketAddr;

use bytes::Bytes;

use super::plan::{ListenAddr, Peer, RequestInfo, Route, Site};
use super::{Compiled, Trace};
use crate::cli::Paths;
use crate::diag::Sink;

/// This test thread's directory for configuration files.
fn conf_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ngxr-sem-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles `conf` (written to a temp dir); `Err` holds the error messages.
pub(super) fn load(conf: &str) -> Result<Compiled, Vec<String>> {
    let dir = conf_dir();
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let paths = Paths::resolve(Some(&dir), Some(&path));
    let tree = crate::syntax::load(&path, &dir, None).unwrap();
    let mut sink = Sink::default();
    crate::directives::check_tree(&tree, &paths, &mut sink);
    let site = super::compile(&tree, &paths, &mut sink).unwrap();
    let errors: Vec<String> = sink
        .diagnostics()
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    if errors.is_empty() {
        Ok(site)
    } else {
        Err(errors)
    }
}

pub(super) fn http(body: &str) -> String {
    format!("events {{}}\nhttp {{\n{body}\n}}\n")
}

/// Routes `line` (`GET /x`) with `headers` on the first listen socket.
pub(super) fn route(site: &Compiled, line: &str, headers: &[(&str, &str)]) -> (Route, Trace) {
    let mut words = line.split(' ');
    let method = words.next().unwrap();
    let target = words.next().unwrap();
    let headers: Vec<(Bytes, Bytes)> = headers
        .iter()
        .map(|(n, v)| {
            (
                Bytes::copy_from_slice(n.as_bytes()),
                Bytes::copy_from_slice(v.as_bytes()),
            )
        })
        .collect();
    let info = request_info(site, method, target, &headers);
    let mut trace = Trace::default();
    let r = site.route_traced(&info, &mut trace);
    (r, trace)
}

/// A request from 10.0.0.7 on the first listen socket.
pub(super) fn request_info<'a>(
    site: &Compiled,
    method: &'a str,
    target: &'a str,
    headers: &'a [(Bytes, Bytes)],
) -> RequestInfo<'a> {
    let listen = site.listens()[0].addr.clone();
    let local = match listen.inet() {
        Some(a) if a.ip().is_unspecified() => {
            ListenAddr::Inet(format!("127.0.0.1:{}", a.port()).parse().unwrap())
        }
        _ => listen.clone(),
    };
    RequestInfo {
        listen,
        remote: Peer::Inet("10.0.0.7:5000".parse().unwrap()),
        local,
        proxy_protocol: None,
        sni: None,
        tls: false,
        handshake: None,
        client_cert: None,
        plain_on_ssl: false,
        framing_refused: None,
        method,
        target: target.as_bytes(),
        version: "HTTP/1.1",
        headers,
        connection: 3,
        connection_requests: 1,
        pipelined: false,
        request_id: [b'0'; 32],
        opened: std::time::Instant::now(),
        started: std::time::Instant::now(),
        refused: None,
        limits: Default::default(),
        counts: &crate::eval::plan::UNCOUNTED,
        auth: &[],
        mirrored: 0,
        post_action: false,
        request_body: None,
        body_length: None,
        request_body_file: None,
        routed: None,
    }
}

/// The chosen location as `modifier name`.
fn location_of(site: &Compiled, uri: &str) -> String {
    let (_, t) = route(site, &format!("GET {uri}"), &[("Host", "x")]);
    t.location
        .map(|l| format!("{} {}", l.modifier, l.name).trim().to_string())
        .unwrap_or_default()
}

pub(super) fn upstream_request(r: &Route) -> (String, Vec<String>) {
    match r {
        Route::Proxy(p) => (
            String::from_utf8_lossy(&p.uri).into_owned(),
            p.headers
                .iter()
                .map(|(n, v)| {
                    format!(
                        "{}: {}",
                        String::from_utf8_lossy(n),
                        String::from_utf8_lossy(v)
                    )
                })
                .collect(),
        ),
        Route::Respond(r) => panic!("expected a proxied request, got {}", r.status),
        Route::File(f) => panic!("expected a proxied request, got a file ({})", f.status),
        Route::Auth(_) => panic!("expected a proxied request, got an auth_request subrequest"),
    }
}

pub(super) fn status(r: &Route) -> u16 {
    match r {
        Route::Respond(r) => r.status,
        Route::File(f) => f.status,
        Route::Proxy(_) => 0,
        Route::Auth(_) => 0,
    }
}

#[test]
fn location_order_is_nginx_order() {
    let site = load(&http(
        "server { listen 127.0.0.1:8080;
            location / { return 200; }
            location = /exact { return 200; }
            location ^~ /static/ { return 200; }
            location /images/ { return 200; location ~ \\.gif$ { return 200; } }
            location ~ \\.(png|gif)$ { return 200; }
            location ~* \\.PNG$ { return 200; }
            location /a/b/ { return 200; }
        }",
    ))
    .unwrap();
    assert_eq!(location_of(&site, "/exact"), "= /exact");
    assert_eq!(location_of(&site, "/exact/x"), "/");
    assert_eq!(
        location_of(&site, "/static/a.png"),
        "^~ /static/",
        "^~ stops the regex search"
    );
    assert_eq!(
        location_of(&site, "/x/a.png"),
        "~ \\.(png|gif)$",
        "regex beats prefix"
    );
    assert_eq!(
        location_of(&site, "/x/a.PNG"),
        "~* \\.PNG$",
        "first matching regex in file order"
    );
    assert_eq!(
        location_of(&site, "/images/a.gif"),
        "~ \\.gif$",
        "nested regex is tried first"
    );
    assert_eq!(location_of(&site, "/images/a.jpg"), "/images/");
    assert_eq!(location_of(&site, "/a/b/c"), "/a/b/", "longest prefix");
}

#[test]
fn prefix_with_proxy_pass_redirects_without_slash() {
    let site = load(&http(
        "server { listen 127.0.0.1:8081; location /chat/ { proxy_pass http://127.0.0.1:9; } location / { return 204; } }",
    ))
    .unwrap();
    let (r, _) = route(&site, "GET /chat?a=1", &[("Host", "h.example")]);
    match r {
        Route::Respond(resp) => {
            assert_eq!(resp.status, 301);
            assert_eq!(resp.headers[0].1, "/chat/?a=1");
            let base = resp.location_base.expect("absolute_redirect on");
            assert_eq!(base, "http://h.example:8081");
        }
        _ => panic!("expected a 301"),
    }
    let site = load(&http(
        "server { listen 127.0.0.1:8081; location /chat/ { proxy_pass http://127.0.0.1:9; } location /chat { return 204; } }",
    ))
    .unwrap();
    assert_eq!(
        status(&route(&site, "GET /chat", &[("Host", "h")]).0),
        204,
        "a location named as the URI wins"
    );
}

#[test]
fn server_names_by_priority() {
    let site = load(&http(
        "server { listen 127.0.0.1:8082; server_name first; return 200 first; }
         server { listen 127.0.0.1:8082; server_name *.example.com; return 200 wild; }
         server { listen 127.0.0.1:8082; server_name *.a.example.com www.example.*; return 200 longer; }
         server { listen 127.0.0.1:8082; server_name ~^(?<sub>\\w+)\\.example\\.org$; return 200 $sub; }
         server { listen 127.0.0.1:8082 default_server; server_name exact.example.com; return 200 default; }",
    ))
    .unwrap();
    let body = |host: &str| match route(&site, "GET /", &[("Host", host)]).0 {
        Route::Respond(r) => String::from_utf8_lossy(&r.body.unwrap_or_default()).into_owned(),
        _ => String::new(),
    };
    assert_eq!(body("exact.example.com"), "default", "exact beats wildcard");
    assert_eq!(body("b.example.com"), "wild");
    assert_eq!(
        body("x.a.example.com"),
        "longer",
        "longest leading wildcard"
    );
    assert_eq!(body("www.example.net"), "longer", "trailing wildcard");
    assert_eq!(
        body("Blog.Example.org"),
        "blog",
        "regex with a named capture, host lowercased"
    );
    assert_eq!(body("other"), "default", "default_server");
}

#[test]
fn map_priority_and_hostnames() {
    let site = load(&http(
        "map $http_x $m { hostnames; default d; a.example.com exact; *.example.com head; .b.example.com dot; www.* tail; ~^www\\.(?<rest>.+)$ re-$rest; }
         map $http_upgrade $connection_upgrade { default upgrade; '' close; }
         server { listen 127.0.0.1:8083; return 200 \"$m|$connection_upgrade\"; }",
    ))
    .unwrap();
    let body = |x: &str| match route(&site, "GET /", &[("Host", "h"), ("X", x)]).0 {
        Route::Respond(r) => String::from_utf8_lossy(&r.body.unwrap_or_default()).into_owned(),
        _ => String::new(),
    };
    assert_eq!(body("A.Example.com"), "exact|close");
    assert_eq!(body("c.example.com"), "head|close");
    assert_eq!(
        body("b.example.com"),
        "dot|close",
        ".name matches the name itself"
    );
    assert_eq!(
        body("www.example.com"),
        "head|close",
        "leading wildcard beats trailing"
    );
    assert_eq!(body("www.other"), "tail|close");
    assert_eq!(body("nothing"), "d|close");
    let (r, _) = route(&site, "GET /", &[("Host", "h"), ("Upgrade", "websocket")]);
    assert!(matches!(r, Route::Respond(ref r) if r.body.as_deref() == Some(&b"d|upgrade"[..])));
}

#[test]
fn header_merge_rules() {
    let site = load(&http(
        "proxy_set_header X-From-Http 1;
         server { listen 127.0.0.1:8084;
            location /inherit/ { proxy_pass http://127.0.0.1:9; }
            location /own/ { proxy_set_header X-Own 2; proxy_set_header Accept \"\"; proxy_pass http://127.0.0.1:9; }
            location /ws/ { proxy_http_version 1.1; proxy_set_header Host $host; proxy_set_header Upgrade $http_upgrade;
                            proxy_set_header Connection upgrade; proxy_pass http://127.0.0.1:9; }
         }",
    ))
    .unwrap();
    let client = [
        ("Host", "h.example"),
        ("Accept", "*/*"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Keep-Alive", "5"),
        ("TE", "x"),
        ("Expect", "100-continue"),
        ("X-Other", "o"),
    ];
    let (_, h) = upstream_request(&route(&site, "GET /inherit/x", &client).0);
    assert_eq!(
        h,
        [
            "X-From-Http: 1",
            "Host: 127.0.0.1:9",
            "Connection: close",
            "Accept: */*",
            "X-Other: o"
        ]
    );
    let (_, h) = upstream_request(&route(&site, "GET /own/x", &client).0);
    assert_eq!(
        h,
        [
            "X-Own: 2",
            "Host: 127.0.0.1:9",
            "Connection: close",
            "X-Other: o"
        ],
        "a level with proxy_set_header inherits none; empty drops"
    );
    let (_, h) = upstream_request(&route(&site, "GET /ws/x", &client).0);
    assert_eq!(
        h,
        [
            "Host: h.example",
            "Upgrade: websocket",
            "Connection: upgrade",
            "Accept: */*",
            "X-Other: o"
        ]
    );
}

#[test]
fn proxy_pass_uri_mapping() {
    let site = load(&http(
        "upstream up { server 127.0.0.1:9; }
         server { listen 127.0.0.1:8085;
            location /plain/ { proxy_pass http://up; }
            location /swap/ { proxy_pass http://up/new/; }
            location = /one { proxy_pass http://up/two; }
            location /var/ { proxy_pass http://up$request_uri; }
            location /varhost/ { proxy_pass http://$arg_h; }
         }",
    ))
    .unwrap();
    let uri = |line: &str| upstream_request(&route(&site, line, &[("Host", "h")]).0).0;
    assert_eq!(
        uri("GET /plain//a/../b?x=1"),
        "/plain//a/../b?x=1",
        "no URI part: as the client sent it"
    );
    assert_eq!(
        uri("GET /swap/a/b?x=1"),
        "/new/a/b?x=1",
        "URI part replaces the location prefix"
    );
    assert_eq!(
        uri("GET /swap//a/./b"),
        "/new/a/b",
        "the normalized $uri is used"
    );
    assert_eq!(
        uri("GET /swap/a%20b"),
        "/new/a%20b",
        "a quoted URI is escaped again"
    );
    assert_eq!(uri("GET /one?q"), "/two?q");
    assert_eq!(uri("GET /var/z?y"), "/var/z?y");
    assert_eq!(uri("GET /varhost/z?h=up"), "/varhost/z?h=up");
    let (r, _) = route(&site, "GET /varhost/z?h=name.invalid", &[("Host", "h")]);
    assert_eq!(status(&r), 502, "a host name needs a resolver");
    let Route::Respond(r) = r else { unreachable!() };
    let logged: Vec<&str> = r.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(logged, ["no resolver defined to resolve name.invalid"]);
}

#[test]
fn bad_requests_get_400() {
    let site = load(&http("server { listen 127.0.0.1:8086; return 200; }")).unwrap();
    assert_eq!(
        status(&route(&site, "GET /", &[]).0),
        400,
        "HTTP/1.1 without Host"
    );
    assert_eq!(status(&route(&site, "GET /../x", &[("Host", "h")]).0), 400);
    assert_eq!(
        status(&route(&site, "GET /", &[("Host", "a"), ("Host", "b")]).0),
        400
    );
    assert_eq!(status(&route(&site, "GET /", &[("Host", "a..b")]).0), 400);
}

#[test]
fn load_errors_in_nginx_words() {
    let err = |conf: &str| load(&http(conf)).err().unwrap_or_default().join("\n");
    assert!(
        err("server { location / { proxy_set_header X $nope; proxy_pass http://127.0.0.1:9; } }")
            .contains("unknown \"nope\" variable")
    );
    assert!(err("server { location / { } location / { } }").contains("duplicate location \"/\""));
    assert!(
        err("proxy_read_timeout 5x;").contains("\"proxy_read_timeout\" directive invalid value")
    );
    assert!(err("upstream u { }").contains("no servers are inside upstream"));
    assert!(err("server { listen 127.0.0.1:80 default_server; } server { listen 127.0.0.1:80 default_server; }")
        .contains("a duplicate default server for 127.0.0.1:80"));
    assert!(
        err("server { location / { proxy_pass http://nosuch.invalid; } }")
            .contains("host not found in upstream \"nosuch.invalid\"")
    );
    assert!(
        err("server { location ~ x { proxy_pass http://127.0.0.1:9/x; } }")
            .contains("cannot have URI part")
    );
}

#[test]
fn combined_log_line() {
    let site = load(&http(
        "server { listen 127.0.0.1:8087; location / { proxy_pass http://127.0.0.1:9; } }",
    ))
    .unwrap();
    let Route::Proxy(p) = route(
        &site,
        "GET /a",
        &[("Host", "h"), ("User-Agent", "ua \"q\"")],
    )
    .0
    else {
        panic!()
    };
    let format = &p.log.files[0].format;
    let headers = [
        (Bytes::from_static(b"Host"), Bytes::from_static(b"h")),
        (
            Bytes::from_static(b"User-Agent"),
            Bytes::from_static(b"ua \"q\""),
        ),
    ];
    let info = request_info(&site, "GET", "/a", &headers);
    let outcome = super::plan::Outcome {
        status: 200,
        body_bytes_sent: 12,
        ..Default::default()
    };
    let line = String::from_utf8(format.render(&info, &outcome)).unwrap();
    let (head, tail) = line.split_once('[').unwrap();
    assert_eq!(head, "10.0.0.7 - - ");
    assert!(
        tail.ends_with("] \"GET /a HTTP/1.1\" 200 12 \"-\" \"ua \\x22q\\x22\"\n"),
        "{tail}"
    );
}

/// nginx's headers filter runs once the upstream answered: `add_header` sees the servers
/// tried, `-` for what one of them never got to, and the status being sent.
#[test]
fn add_header_is_evaluated_with_the_answer() {
    let site = load(&http(
        "server { listen 127.0.0.1:8087; location / { proxy_pass http://127.0.0.1:9; \
         set $s x; \
         add_header X-Up \"$upstream_addr|$upstream_status|$upstream_header_time|$upstream_response_time|$upstream_response_length\"; \
         add_header X-Set \"$s $status $proxy_host $request_id\" always; \
         add_header X-Fixed yes; } }",
    ))
    .unwrap();
    let Route::Proxy(p) = route(&site, "GET /a", &[("Host", "h")]).0 else {
        panic!()
    };
    let headers = [(Bytes::from_static(b"Host"), Bytes::from_static(b"h"))];
    let info = request_info(&site, "GET", "/a", &headers);
    let first = super::plan::UpstreamTry {
        addr: "127.0.0.1:9".into(),
        status: Some(502),
        connect_time: Some(std::time::Duration::from_millis(1)),
        response_time: Some(std::time::Duration::from_millis(1500)),
        ..Default::default()
    };
    let second = super::plan::UpstreamTry {
        addr: "127.0.0.2:9".into(),
        status: Some(200),
        header_time: Some(std::time::Duration::from_millis(20)),
        ..Default::default()
    };
    let mut outcome = super::plan::Outcome {
        status: 200,
        upstreams: vec![first, second],
        ..Default::default()
    };
    let shown = |added: Vec<(Bytes, Bytes)>| -> Vec<String> {
        added
            .iter()
            .map(|(n, v)| {
                format!(
                    "{}: {}",
                    String::from_utf8_lossy(n),
                    String::from_utf8_lossy(v)
                )
            })
            .collect()
    };
    assert_eq!(
        shown(
            p.add_headers
                .evaluate(&info, &outcome, &|_| Vec::new(), &mut Vec::new())
        ),
        [
            "X-Up: 127.0.0.1:9, 127.0.0.2:9|502, 200|-, 0.020|1.500, -|0, 0",
            &format!("X-Set: x 200 127.0.0.1:9 {}", "0".repeat(32)),
            "X-Fixed: yes",
        ]
    );
    outcome.status = 404;
    assert_eq!(
        shown(
            p.add_headers
                .evaluate(&info, &outcome, &|_| Vec::new(), &mut Vec::new())
        ),
        [format!("X-Set: x 404 127.0.0.1:9 {}", "0".repeat(32))]
    );
}

#[test]
fn proxy_redirect_default_and_off() {
    let site = load(&http(
        "upstream up { server 127.0.0.1:9; }
         server { listen 127.0.0.1:8088;
            location /one/ { proxy_pass http://up/two/; }
            location /plain/ { proxy_pass http://up; }
            location /off/ { proxy_redirect off; proxy_pass http://up; }
            location /own/ { proxy_pass http://up/z/; proxy_redirect http://x/ /y/;
                             proxy_redirect ~*^http://(x)/ /$1/; }
         }",
    ))
    .unwrap();
    let pairs = |uri: &str| match route(&site, &format!("GET {uri}"), &[("Host", "h")]).0 {
        Route::Proxy(p) => p
            .redirects
            .as_deref()
            .map_or(&[][..], |r| r.written())
            .iter()
            .map(|(f, t)| format!("{f} -> {t}"))
            .collect::<Vec<_>>(),
        _ => panic!("expected a proxied request"),
    };
    assert_eq!(pairs("/one/a"), ["http://up/two/ -> /one/"]);
    assert_eq!(pairs("/plain/a"), ["http://up/ -> /"]);
    let Route::Proxy(p) = route(&site, "GET /one/a", &[("Host", "H:1")]).0 else {
        panic!()
    };
    assert_eq!(p.location_base.as_deref(), Some(&b"http://h:8088"[..]));
    assert!(pairs("/off/a").is_empty());
    assert_eq!(
        pairs("/own/a"),
        ["http://x/ -> /y/", "~*^http://(x)/ -> /$1/"]
    );
}

#[test]
fn request_scoped_variables() {
    let site = load(&http(
        "server { listen 127.0.0.1:8089; server_name s.example;
            return 200 \"$request_id $request_id|$nginx_version|$ssl_protocol|$is_args$args|$request_uri|$uri|$host|$server_name|$remote_addr:$remote_port|$scheme|$server_port\"; }",
    ))
    .unwrap();
    let Route::Respond(r) = route(&site, "GET /a/./b?q=1", &[("Host", "H.Example:1")]).0 else {
        panic!()
    };
    let body = String::from_utf8(r.body.unwrap().to_vec()).unwrap();
    let (ids, rest) = body.split_once('|').unwrap();
    let (a, b) = ids.split_once(' ').unwrap();
    assert_eq!(a, b, "one $request_id per request");
    assert_eq!(a.len(), 32);
    assert_eq!(
        rest,
        "1.22.1||?q=1|/a/./b?q=1|/a/b|h.example|s.example|10.0.0.7:5000|http|8089"
    );
}

#[test]
fn listen_sockets_and_certificates() {
    let dir = conf_dir();
    for f in ["a.pem", "a.key", "b.pem", "b.key"] {
        std::fs::write(dir.join(f), "-----BEGIN PLACEHOLDER-----\n").unwrap();
    }
    let site = load(&http(
        "server { listen 443 ssl; server_name a.example; ssl_certificate a.pem; ssl_certificate_key a.key; }
         server { listen 443 ssl default_server; server_name b.example; ssl_certificate b.pem; ssl_certificate_key b.key; ssl_protocols TLSv1.3; }
         server { listen 127.0.0.1:443; server_name c.example; }
         server { listen [::]:80 ipv6only=on; listen 80 reuseport backlog=128; }",
    ))
    .unwrap();
    let listens: Vec<String> = site
        .listens()
        .iter()
        .map(|l| {
            format!(
                "{} ssl={} reuseport={} backlog={:?}",
                l.addr, l.ssl, l.socket.reuseport, l.socket.backlog
            )
        })
        .collect();
    assert_eq!(
        listens,
        [
            "0.0.0.0:443 ssl=true reuseport=false backlog=None",
            "[::]:80 ssl=false reuseport=false backlog=None",
            "0.0.0.0:80 ssl=false reuseport=true backlog=Some(128)"
        ]
    );
    let on = ListenAddr::Inet("0.0.0.0:443".parse().unwrap());
    let a = site.tls(&on, Some("A.example")).unwrap();
    let cert = &a.certificates[0].certificate;
    assert!(cert.ends_with("a.pem") && cert.is_absolute());
    assert_eq!(a.protocols, ["TLSv1", "TLSv1.1", "TLSv1.2"]);
    let b = site.tls(&on, Some("unknown")).unwrap();
    assert_eq!(
        b.certificates[0].certificate,
        dir.join("b.pem"),
        "the default server's"
    );
    assert_eq!(b.protocols, ["TLSv1.3"]);
}

#[test]
fn proxy_protocol_is_kept_per_address_under_a_wildcard() {
    let sock = std::env::temp_dir().join(format!("ngxr-pp-{}.sock", std::process::id()));
    let site = load(&http(&format!(
        "server {{ listen 127.0.0.1:18090 proxy_protocol; listen 127.0.0.2:18090; }}
         server {{ listen 18090; listen 127.0.0.3:18091 proxy_protocol; }}
         server {{ listen unix:{} proxy_protocol; }}",
        sock.display()
    )))
    .unwrap();
    let listens = site.listens();
    let shown: Vec<String> = listens
        .iter()
        .map(|l| {
            format!(
                "{} {} {:?}",
                l.addr, l.proxy_protocol, l.proxy_protocol_flipped
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            "0.0.0.0:18090 false [127.0.0.1]".to_string(),
            "127.0.0.3:18091 true []".to_string(),
            format!("unix:{} true []", sock.display()),
        ]
    );
    let wildcard = &listens[0];
    let at = |a: &str| wildcard.proxy_protocol_at(&ListenAddr::Inet(a.parse().unwrap()));
    assert!(at("127.0.0.1:18090"));
    assert!(!at("127.0.0.2:18090"));
    assert!(!at("127.0.0.9:18090"));
}

#[test]
fn ssl_sessions_and_certificates_inherit_as_nginx_merges_them() {
    let dir = conf_dir();
    for f in ["r.pem", "r.key", "e.pem", "e.key"] {
        std::fs::write(dir.join(f), "-----BEGIN PLACEHOLDER-----\n").unwrap();
    }
    let site = load(&http(
        "ssl_certificate r.pem; ssl_certificate_key r.key;
         ssl_session_cache builtin:1000 shared:S:1m; ssl_session_timeout 1h;
         server { listen 8443 ssl; ssl_certificate e.pem; ssl_certificate r.pem;
                  ssl_certificate_key e.key; ssl_certificate_key r.key; ssl_session_tickets off; }
         server { listen 8444 ssl; ssl_session_cache none; }
         server { listen 8445 ssl; ssl_session_cache builtin; }
         server { listen 8446 ssl; }",
    ))
    .unwrap();
    let tls = |port: u16| {
        site.tls(&SocketAddr::from(([0, 0, 0, 0], port)).into(), None)
            .unwrap()
    };
    let both = tls(8443);
    let names: Vec<_> = both
        .certificates
        .iter()
        .map(|p| {
            (
                p.certificate.file_name().unwrap(),
                p.key.file_name().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("e.pem".as_ref(), "e.key".as_ref()),
            ("r.pem".as_ref(), "r.key".as_ref())
        ]
    );
    let s = &both.sessions;
    assert_eq!(
        (s.builtin, s.tickets, s.timeout.as_secs()),
        (Some(1000), false, 3600)
    );
    assert_eq!(
        s.shared.as_ref().map(|z| (z.name.as_str(), z.size)),
        Some(("S", 1 << 20))
    );
    let none = &tls(8444).sessions;
    assert_eq!(
        (none.builtin, none.shared.is_none(), none.tickets),
        (None, true, true),
        "none stores nothing"
    );
    let builtin = &tls(8445).sessions;
    assert_eq!(builtin.builtin, Some(20480));
    assert!(
        builtin.shared.is_some(),
        "the zone inherits apart from the builtin mode"
    );
    assert_eq!(tls(8446).sessions.builtin, Some(1000));
    let bare = load(&http(
        "server { listen 8443 ssl; ssl_certificate r.pem; ssl_certificate_key r.key; }",
    ))
    .unwrap();
    let d = bare
        .tls(&SocketAddr::from(([0, 0, 0, 0], 8443)).into(), None)
        .unwrap();
    assert_eq!(
        (
            d.sessions.builtin,
            d.sessions.tickets,
            d.sessions.timeout.as_secs()
        ),
        (None, true, 300)
    );
}

#[test]
fn server_name_variable_as_nginx_keeps_it() {
    let site = load(&http(
        "server { listen 127.0.0.1:8090; server_name .Dot.example other; return 200 $server_name; }",
    ))
    .unwrap();
    let Route::Respond(r) = route(&site, "GET /", &[("Host", "x")]).0 else {
        panic!()
    };
    assert_eq!(r.body.as_deref(), Some(&b"dot.example"[..]));
}

#[test]
fn return_text_carries_the_content_type() {
    let site = load(&http(
        "default_type text/x-http; server { listen 127.0.0.1:80; \
         location / { return 200 a; } \
         location /own { types { text/css css; } default_type \"\"; return 200 b; } \
         location /go { return 302 /x; } }",
    ))
    .unwrap();
    let ct = |uri: &str| match route(&site, &format!("GET {uri}"), &[("Host", "h")]).0 {
        Route::Respond(r) => r
            .headers
            .iter()
            .find(|(n, _)| n.as_ref() == b"Content-Type")
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned()),
        _ => panic!("expected a return"),
    };
    assert_eq!(ct("/a").as_deref(), Some("text/x-http"));
    assert_eq!(ct("/a.html").as_deref(), Some("text/html"));
    assert_eq!(ct("/own.css").as_deref(), Some("text/css"));
    assert_eq!(ct("/own.html"), None);
    assert_eq!(ct("/go"), None);
}

#[test]
fn resolver_errors_are_nginx_s() {
    let with = |directives: &str| {
        load(&http(&format!(
            "{directives}\nserver {{ listen 127.0.0.1:8087; }}"
        )))
        .err()
        .unwrap_or_default()
    };
    assert_eq!(
        with("resolver 127.0.0.1 valid=x;"),
        ["invalid parameter: valid=x"]
    );
    assert_eq!(
        with("resolver 127.0.0.1 ipv6=maybe;"),
        ["invalid parameter: ipv6=maybe"]
    );
    assert_eq!(with("resolver valid=30s;"), ["no name servers defined"]);
    assert_eq!(
        with("resolver 127.0.0.1:99999;"),
        ["invalid port in resolver \"127.0.0.1:99999\""]
    );
    // nginx 1.22 has neither `ipv4=` nor `status_zone=`: they are taken for host names.
    assert_eq!(
        with("resolver 127.0.0.1 ipv4=off;"),
        ["host not found in resolver \"ipv4=off\""]
    );
    assert_eq!(
        with("resolver 127.0.0.1; resolver 127.0.0.2;"),
        ["\"resolver\" directive is duplicate"]
    );
    assert!(
        with("resolver 127.0.0.1:5353 [::1] valid=10s ipv6=off; resolver_timeout 2s;").is_empty()
    );
}

#[test]
fn a_name_no_group_has_is_left_to_the_inherited_resolver() {
    let site = load(&http(
        "upstream up { server 127.0.0.1:9; }\n\
         resolver 127.0.0.1:5353 valid=10s ipv6=off;\n\
         server { listen 127.0.0.1:8088;\n\
           location /a { resolver_timeout 2s; proxy_pass http://$arg_h:8080; }\n\
           location /b { proxy_pass http://$arg_h; }\n\
           location /c { resolver 127.0.0.2; proxy_pass http://$arg_h; } }",
    ))
    .unwrap();
    let proxied = |line: &str| match route(&site, line, &[("Host", "h")]).0 {
        Route::Proxy(p) => p,
        other => panic!("{line}: {other:?}"),
    };
    let a = proxied("GET /a?h=Name.Test");
    let resolve = a.resolve.expect("a name to resolve");
    assert_eq!((resolve.host.as_str(), resolve.port), ("Name.Test", 8080));
    assert_eq!(resolve.timeout, std::time::Duration::from_secs(2));
    let spec = &resolve.resolver;
    assert_eq!(
        spec.servers,
        ["127.0.0.1:5353".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(
        (spec.valid, spec.ipv6),
        (Some(std::time::Duration::from_secs(10)), false)
    );
    let b = proxied("GET /b?h=other").resolve.expect("another name");
    assert!(
        std::sync::Arc::ptr_eq(&b.resolver, spec),
        "one cache per directive"
    );
    assert_eq!(b.timeout, std::time::Duration::from_secs(30), "the default");
    let c = proxied("GET /c?h=other").resolve.expect("its own resolver");
    assert!(!std::sync::Arc::ptr_eq(&c.resolver, spec));
    assert!(c.resolver.ipv6, "AAAA too by default");
    assert!(
        proxied("GET /b?h=up").resolve.is_none(),
        "the upstream block"
    );
    assert!(
        proxied("GET /a?h=127.0.0.3").resolve.is_none(),
        "an address"
    );
}
