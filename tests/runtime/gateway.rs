//! `scgi_pass` and `uwsgi_pass` against nginx: an SCGI or uwsgi server (the same for both)
//! lists the head's framing, the params and the body it got, or answers as the probe's `do=`
//! asks (a status line, a `Status`, local and absolute `Location`s, extra and hidden
//! headers, `X-Accel-Redirect`, bodies with and without `Content-Length`, heads nginx
//! refuses). One configuration serves both modules, written with `MOD_` for the prefix.
//! Answers, what the server saw, the access log (`$upstream_*`) and the error log must be
//! nginx's.

use crate::common::nginx;
use crate::files::{assert_same, through_both};
use crate::support::gateway::{Protocol, Server};

/// Debian's `scgi_params` and `uwsgi_params`, as far as they differ, written by the test.
const SCGI_PARAMS: &str = "
scgi_param  REQUEST_METHOD     $request_method;
scgi_param  REQUEST_URI        $request_uri;
scgi_param  QUERY_STRING       $query_string;
scgi_param  CONTENT_TYPE       $content_type;
scgi_param  DOCUMENT_URI       $document_uri;
scgi_param  SCGI               1;
scgi_param  SERVER_PROTOCOL    $server_protocol;
scgi_param  HTTPS              $https if_not_empty;
scgi_param  REMOTE_ADDR        $remote_addr;
scgi_param  SERVER_NAME        $server_name;
scgi_param  HTTP_HOST          $host;
";
const UWSGI_PARAMS: &str = "
uwsgi_param  QUERY_STRING       $query_string;
uwsgi_param  REQUEST_METHOD     $request_method;
uwsgi_param  CONTENT_TYPE       $content_type;
uwsgi_param  CONTENT_LENGTH     $content_length;
uwsgi_param  REQUEST_URI        $request_uri;
uwsgi_param  PATH_INFO          $document_uri;
uwsgi_param  SERVER_PROTOCOL    $server_protocol;
uwsgi_param  HTTPS              $https if_not_empty;
uwsgi_param  REMOTE_ADDR        $remote_addr;
uwsgi_param  SERVER_NAME        $server_name;
uwsgi_param  HTTP_HOST          $host;
";

const CONFIG: &str = r#"
events {}
http {
    log_format t '$request $status up=[$upstream_addr] us=[$upstream_status] ul=[$upstream_response_length] ub=[$upstream_bytes_received] uh=[$upstream_http_x_extra] $body_bytes_sent';
    access_log logs/access.log t;
    # `error`: nginx's warning that a long body went to a temporary file is not ngxr's.
    error_log logs/error.log error;
    upstream two { server 127.0.0.1:DEAD; server 127.0.0.1:APP; }
    MOD_param OUTER outer;
    server {
        listen 127.0.0.1:PORT;
        server_name gw.test;
        location /a/ {
            include PREFIX/params;
            MOD_param EMPTY $arg_none if_not_empty;
            MOD_param SENT_EMPTY $arg_none;
            MOD_param HTTP_USER_AGENT overridden;
            MOD_param HTTP_X_HIDDEN "";
            MOD_pass 127.0.0.1:APP;
        }
        location /inherit/ { MOD_pass 127.0.0.1:APP; }
        location /bare/ {
            MOD_pass_request_headers off;
            MOD_pass_request_body off;
            MOD_param REQUEST_URI $request_uri;
            MOD_param CONTENT_LENGTH $content_length;
            MOD_pass 127.0.0.1:APP;
        }
        location /hide/ {
            MOD_param REQUEST_URI $request_uri;
            MOD_hide_header X-Extra;
            MOD_pass_header X-Accel-Expires;
            MOD_pass 127.0.0.1:APP;
        }
        location /icpt/ {
            MOD_param REQUEST_URI $request_uri;
            MOD_intercept_errors on;
            error_page 404 500 /ret;
            MOD_pass 127.0.0.1:APP;
        }
        location /noaccel/ {
            MOD_param REQUEST_URI $request_uri;
            MOD_ignore_headers X-Accel-Redirect;
            MOD_pass 127.0.0.1:APP;
        }
        location /ranges/ {
            MOD_param REQUEST_URI $request_uri;
            MOD_force_ranges on;
            MOD_limit_rate 1m;
            MOD_buffering off;
            MOD_pass 127.0.0.1:APP;
        }
        location /two/ {
            MOD_param REQUEST_URI $request_uri;
            MOD_next_upstream error timeout;
            MOD_connect_timeout 5s;
            MOD_send_timeout 5s;
            MOD_read_timeout 5s;
            MOD_pass two;
        }
        location /var/ {
            MOD_param REQUEST_URI $request_uri;
            MOD_pass 127.0.0.1:$arg_port;
        }
        location /huge/ {
            client_body_buffer_size 128k;
            MOD_param REQUEST_URI $request_uri;
            MOD_param BODY $request_body;
            MOD_pass 127.0.0.1:APP;
        }
        location /dead/ {
            MOD_param REQUEST_URI $request_uri;
            MOD_pass 127.0.0.1:DEAD;
        }
        location /ret { return 200 "ret $uri $request_method\n"; }
        location /local/ { return 200 "local $uri $args\n"; }
    }
}
"#;

fn probes(port: u16) -> Vec<String> {
    let get = |uri: &str| format!("GET {uri} HTTP/1.1\r\nHost: a\r\n");
    let post = |uri: &str, body: &str| {
        format!(
            "POST {uri} HTTP/1.1\r\nHost: a\r\nContent-Type: text/x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    vec![
        format!(
            "{}User-Agent: probe\r\nX-Hidden: h\r\nX-Under_score: u\r\nCookie: c=1\r\nx-lower-case: l\r\n\
             Cookie: d=2\r\nX-Forwarded-For: a\r\nX-Forwarded-For: b\r\n",
            get("/a/b?x=1&y=%20")
        ),
        get("/inherit/x"),
        post("/a/post", "hello"),
        post("/a/big", &"b".repeat(70_000)),
        "POST /a/chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".into(),
        post("/bare/x", "body"),
        get("/a/x?do=line"),
        get("/a/x?do=line_status"),
        get("/a/x?do=noreason"),
        get("/a/x?do=404"),
        // An answer of 101 to a client asking to upgrade opens a tunnel (FastCGI's never).
        format!("{}Upgrade: probe\r\nConnection: upgrade\r\n", get("/a/x?do=upgrade")),
        get("/a/x?do=upgrade"),
        get("/a/x?do=badstatus"),
        get("/a/x?do=badheader"),
        get("/a/x?do=local"),
        get("/a/x?do=abs"),
        get("/a/x?do=headers"),
        get("/hide/x?do=headers"),
        get("/a/x?do=accel"),
        get("/noaccel/x?do=accel"),
        get("/a/x?do=unfinished"),
        get("/a/x?do=short"),
        // HTTP/1.0: a body of unknown length is not cut into chunks where reads ended.
        "GET /a/x?do=big HTTP/1.0\r\n".into(),
        get("/a/x?do=bigcl"),
        format!("{}Range: bytes=2-5\r\n", get("/ranges/x?do=bigcl")),
        format!("{}Range: bytes=2-5\r\n", get("/a/x?do=bigcl")),
        get("/icpt/x?do=404"),
        get("/icpt/x?do=500"),
        get("/a/x?do=500"),
        "HEAD /a/x HTTP/1.1\r\nHost: a\r\n".into(),
        "HEAD /a/x?do=bigcl HTTP/1.1\r\nHost: a\r\n".into(),
        get("/dead/x"),
        get("/two/x"),
        get(&format!("/var/x?port={port}")),
        "GET /a/ HTTP/1.0\r\n".into(),
        // Params over 64 KiB: uwsgi's packet cannot hold them.
        post("/huge/x", &"h".repeat(66_000)).replacen("HTTP/1.1", "HTTP/1.0", 1),
    ]
}

/// Runs the probes through nginx and ngxr, `prefix` (`"scgi_"`, `"uwsgi_"`) standing for
/// `MOD_`; returns what ngxr's server saw, for the protocol's own checks.
fn same_as_nginx(protocol: Protocol, prefix: &str, params: &str) -> Option<Vec<String>> {
    let nginx = nginx()?;
    let server = Server::start(protocol);
    let base = crate::common::temp_dir(prefix.trim_end_matches('_'));
    for name in ["nginx", "ngxr_"] {
        std::fs::create_dir_all(base.join(name)).expect("prefix");
        std::fs::write(base.join(name).join("params"), params).expect("params");
    }
    let config = CONFIG
        .replace("MOD_", prefix)
        .replace("APP", &server.port.to_string())
        .replace("DEAD", &crate::support::refusing_addr().port().to_string());
    let probes = probes(server.port);
    let seen = through_both(nginx, &config, &base, &probes);
    assert_same(&seen, &probes);
    let ours = seen[1].0.clone();
    // The server saw the params, in order, and the body.
    assert!(
        ours[0].contains("\nHTTP_USER_AGENT=overridden\n"),
        "{}",
        ours[0]
    );
    assert!(!ours[0].contains("HTTP_X_HIDDEN"), "{}", ours[0]);
    // Repeated headers go one param each, as nginx 1.22 sends them (1.23 joins them, as
    // nginx-tests' scgi.t and uwsgi.t expect).
    assert!(ours[0].contains("\nHTTP_COOKIE=c=1\n"), "{}", ours[0]);
    assert!(ours[0].contains("\nHTTP_COOKIE=d=2\n"), "{}", ours[0]);
    // A name with an underscore is an invalid header nginx ignores.
    assert!(!ours[0].contains("UNDER"), "{}", ours[0]);
    assert!(ours[2].contains("\nbody=hello\n"), "{}", ours[2]);
    assert!(ours[6].starts_with("HTTP/1.1 201 Created"), "{}", ours[6]);
    Some(ours)
}

#[test]
fn scgi_requests_and_answers_are_nginx_s() {
    let Some(ours) = same_as_nginx(Protocol::Scgi, "scgi_", SCGI_PARAMS) else {
        return;
    };
    // CONTENT_LENGTH first, the body's length even when the body is not passed.
    assert!(
        ours[2].contains("comma=true\nCONTENT_LENGTH=5\n"),
        "{}",
        ours[2]
    );
    assert!(ours[5].contains("\nCONTENT_LENGTH=4\n"), "{}", ours[5]);
    assert!(ours[5].contains("\nbody=\n"), "{}", ours[5]);
    assert!(ours[0].contains("\nSCGI=1\n"), "{}", ours[0]);
}

#[test]
fn uwsgi_requests_and_answers_are_nginx_s() {
    let Some(ours) = same_as_nginx(Protocol::Uwsgi, "uwsgi_", UWSGI_PARAMS) else {
        return;
    };
    assert!(ours[0].contains("packet 0 "), "{}", ours[0]);
    assert!(ours[3].contains("body=70000 bytes"), "{}", ours[3]);
}

/// `uwsgi_modifier1`/`uwsgi_modifier2`, the `uwsgi://` scheme and uwsgi over TLS
/// (`suwsgi://`, with and without variables).
#[test]
fn uwsgi_modifiers_schemes_and_tls_are_nginx_s() {
    let Some(nginx) = nginx() else { return };
    let server = Server::start(Protocol::Uwsgi);
    let tls = Server::start_tls(Protocol::Uwsgi);
    let base = crate::common::temp_dir("uwsgi_modifiers");
    let config = r#"
events {}
http {
    access_log off;
    uwsgi_modifier1 5;
    server {
        listen 127.0.0.1:PORT;
        location / {
            uwsgi_modifier2 9;
            uwsgi_param REQUEST_URI $request_uri;
            uwsgi_pass uwsgi://127.0.0.1:APP;
        }
        location /tls {
            uwsgi_param REQUEST_URI $request_uri;
            uwsgi_pass suwsgi://127.0.0.1:TLS;
        }
        location /tlsvar {
            uwsgi_param REQUEST_URI $request_uri;
            uwsgi_pass suwsgi://127.0.0.1:$arg_p;
        }
    }
}
"#
    .replace("APP", &server.port.to_string())
    .replace("TLS", &tls.port.to_string());
    let probes = [
        "GET /m HTTP/1.0\r\n".to_string(),
        "GET /tls?do=line HTTP/1.0\r\n".to_string(),
        "GET /tls HTTP/1.0\r\n".to_string(),
        format!("GET /tlsvar?p={} HTTP/1.0\r\n", tls.port),
    ];
    let seen = through_both(nginx, &config, &base, &probes);
    assert_same(&seen, &probes);
    assert!(seen[1].0[0].contains("packet 5 "), "{}", seen[1].0[0]);
    assert!(seen[1].0[0].contains(" 9\n"), "{}", seen[1].0[0]);
    assert!(seen[1].0[1].starts_with("HTTP/1.1 201"), "{}", seen[1].0[1]);
    assert!(seen[1].0[3].contains("packet 5 "), "{}", seen[1].0[3]);
}
