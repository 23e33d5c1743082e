//! `fastcgi_pass` against nginx: a FastCGI responder (the same for both) lists the records,
//! params and body it got, or answers as the probe's `do=` asks (a `Status`, local and
//! absolute `Location`s, extra and hidden headers, `X-Accel-Redirect`, STDERR, bodies across
//! many records, with and without `Content-Length`). Answers, what the responder saw, the
//! access log (`$upstream_*`, `$fastcgi_script_name`, `$fastcgi_path_info`) and the error log
//! (STDERR's lines) must be nginx's.

use crate::common::nginx;
use crate::files::{assert_same, through_both};
use crate::support::fastcgi::Responder;

/// Debian's `fastcgi_params` lines the test needs, written by the test.
const PARAMS: &str = "
fastcgi_param  QUERY_STRING       $query_string;
fastcgi_param  REQUEST_METHOD     $request_method;
fastcgi_param  CONTENT_TYPE       $content_type;
fastcgi_param  CONTENT_LENGTH     $content_length;
fastcgi_param  SCRIPT_NAME        $fastcgi_script_name;
fastcgi_param  REQUEST_URI        $request_uri;
fastcgi_param  DOCUMENT_URI       $document_uri;
fastcgi_param  SERVER_PROTOCOL    $server_protocol;
fastcgi_param  REQUEST_SCHEME     $scheme;
fastcgi_param  HTTPS              $https if_not_empty;
fastcgi_param  GATEWAY_INTERFACE  CGI/1.1;
fastcgi_param  REMOTE_ADDR        $remote_addr;
fastcgi_param  SERVER_ADDR        $server_addr;
fastcgi_param  SERVER_NAME        $server_name;
fastcgi_param  REDIRECT_STATUS    200;
fastcgi_param  HTTP_HOST          $host;
";

const CONFIG: &str = r#"
events {}
http {
    log_format t '$request $status up=[$upstream_addr] us=[$upstream_status] ul=[$upstream_response_length] ub=[$upstream_bytes_received] sn=[$fastcgi_script_name] pi=[$fastcgi_path_info] uh=[$upstream_http_x_extra]';
    access_log logs/access.log t;
    # `error`: nginx's warning that a long body went to a temporary file is not ngxr's.
    error_log logs/error.log error;
    upstream kept { server 127.0.0.1:FCGI; keepalive 2; }
    upstream two { server 127.0.0.1:DEAD; server 127.0.0.1:FCGI; }
    fastcgi_param OUTER outer;
    server {
        listen 127.0.0.1:PORT;
        server_name fcgi.test;
        location /a/ {
            include PREFIX/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME /srv$fastcgi_script_name;
            fastcgi_param EMPTY $arg_none if_not_empty;
            fastcgi_param SENT_EMPTY $arg_none;
            fastcgi_pass 127.0.0.1:FCGI;
        }
        location /inherit/ { fastcgi_pass 127.0.0.1:FCGI; }
        location /split/ {
            fastcgi_split_path_info ^(.+?\.php)(/.*)$;
            fastcgi_index index.php;
            include PREFIX/fastcgi_params;
            fastcgi_param PATH_INFO $fastcgi_path_info;
            fastcgi_param HTTP_USER_AGENT overridden;
            fastcgi_param HTTP_X_HIDDEN "";
            fastcgi_pass 127.0.0.1:FCGI;
        }
        location /keep/ {
            fastcgi_keep_conn on;
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_pass kept;
        }
        location /bare/ {
            fastcgi_pass_request_headers off;
            fastcgi_pass_request_body off;
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_param CONTENT_LENGTH $content_length;
            fastcgi_pass 127.0.0.1:FCGI;
        }
        location /hide/ {
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_hide_header X-Extra;
            fastcgi_pass_header X-Accel-Expires;
            fastcgi_pass 127.0.0.1:FCGI;
        }
        location /icpt/ {
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_intercept_errors on;
            error_page 404 500 /ret;
            fastcgi_pass 127.0.0.1:FCGI;
        }
        location /noaccel/ {
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_ignore_headers X-Accel-Redirect;
            fastcgi_pass 127.0.0.1:FCGI;
        }
        location /ranges/ {
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_force_ranges on;
            fastcgi_limit_rate 1m;
            fastcgi_pass 127.0.0.1:FCGI;
        }
        location /catch/ {
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_catch_stderr "something odd";
            fastcgi_pass 127.0.0.1:FCGI;
        }
        location /two/ {
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_pass two;
        }
        location /dead/ {
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_pass 127.0.0.1:DEAD;
        }
        location /ret { return 200 "ret $uri $request_method\n"; }
        location /local/ { return 200 "local $uri $args\n"; }
    }
}
"#;

fn probes() -> Vec<String> {
    let get = |uri: &str| format!("GET {uri} HTTP/1.1\r\nHost: a\r\n");
    let post = |uri: &str, body: &str| {
        format!(
            "POST {uri} HTTP/1.1\r\nHost: a\r\nContent-Type: text/x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    vec![
        format!(
            "{}User-Agent: probe\r\nX-Hidden: h\r\nX-Under_score: u\r\nCookie: c=1\r\nx-lower-case: l\r\n",
            get("/a/b.php?x=1&y=%20")
        ),
        get("/inherit/x"),
        format!("{}User-Agent: probe\r\nX-Hidden: h\r\n", get("/split/s.php/path/info?q")),
        get("/split/dir/"),
        get("/split/plain.html"),
        post("/a/post.php", "hello"),
        post("/a/big.php", &"b".repeat(70_000)),
        "POST /a/chunked.php HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".into(),
        get("/keep/1"),
        get("/keep/2"),
        post("/bare/x", "body"),
        get("/a/x?do=404"),
        get("/a/x?do=status3"),
        get("/a/x?do=badstatus"),
        get("/a/x?do=local"),
        get("/a/x?do=abs"),
        get("/a/x?do=headers"),
        get("/hide/x?do=headers"),
        get("/a/x?do=accel"),
        get("/noaccel/x?do=accel"),
        get("/a/x?do=stderr"),
        get("/catch/x?do=stderr"),
        get("/catch/x?do=late"),
        get("/a/x?do=unfinished"),
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
        "GET /a/ HTTP/1.0\r\n".into(),
    ]
}

#[test]
fn fastcgi_requests_and_answers_are_nginx_s() {
    let Some(nginx) = nginx() else { return };
    let responder = Responder::start();
    let base = crate::common::temp_dir("fastcgi");
    for name in ["nginx", "ngxr_"] {
        std::fs::create_dir_all(base.join(name)).expect("prefix");
        std::fs::write(base.join(name).join("fastcgi_params"), PARAMS).expect("params");
    }
    let config = CONFIG
        .replace("FCGI", &responder.port.to_string())
        .replace("DEAD", &crate::support::refusing_addr().port().to_string());
    let probes = probes();
    let seen = through_both(nginx, &config, &base, &probes);
    assert_same(&seen, &probes);
    let ours = &seen[1].0;
    // The responder saw the params, in order, and the body.
    assert!(ours[0].contains("\nHTTP_USER_AGENT=probe\n"), "{}", ours[0]);
    // A name with an underscore is an invalid header nginx ignores.
    assert!(!ours[0].contains("UNDER"), "{}", ours[0]);
    assert!(!ours[2].contains("HTTP_X_HIDDEN"), "{}", ours[2]);
    assert!(ours[2].contains("\nPATH_INFO=/path/info\n"), "{}", ours[2]);
    assert!(
        ours[3].contains("\nSCRIPT_NAME=/split/dir/index.php\n"),
        "{}",
        ours[3]
    );
    assert!(ours[5].contains("\nstdin=hello\n"), "{}", ours[5]);
    assert!(ours[9].contains("keep=true request=2"), "{}", ours[9]);
    assert!(
        ours[11].starts_with("HTTP/1.1 404 Not Found"),
        "{}",
        ours[11]
    );
    assert!(
        seen[1]
            .2
            .iter()
            .any(|l| l.contains("FastCGI sent in stderr")),
        "{:?}",
        seen[1].2
    );
    let ranged = probes.iter().position(|p| p.contains("/ranges/"));
    let ranged = &ours[ranged.expect("a probe of fastcgi_force_ranges")];
    assert!(ranged.starts_with("HTTP/1.1 206"), "{ranged}");
}
