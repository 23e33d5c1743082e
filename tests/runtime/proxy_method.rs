//! `proxy_method`, `proxy_set_body` and `proxy_pass_request_body off` against nginx: a backend sends back the request it got
//! as its answer's body, so each probe's answer shows what went upstream (request line,
//! `Content-Length`, body) and what the client got; both must be nginx's bytes, and so must
//! the access log (the client's body still read and counted, 413 past
//! `client_max_body_size`, `100 Continue` sent as the body is read).

use crate::common::{Mirror, nginx, temp_dir};
use crate::files::{assert_same, through_both};

const CONFIG: &str = r#"
events {}
http {
    log_format t '$request $status $body_bytes_sent $request_length';
    access_log logs/access.log t;
    error_log logs/error.log warn;
    server {
        listen 127.0.0.1:PORT;
        location /const { proxy_pass http://127.0.0.1:MIRROR; proxy_method POST; }
        location /var { proxy_pass http://127.0.0.1:MIRROR; proxy_method $arg_m; }
        location /parent {
            proxy_method PUT;
            location /parent/child { proxy_pass http://127.0.0.1:MIRROR; }
        }
        location /head { proxy_pass http://127.0.0.1:MIRROR; proxy_method head; }
        location /body {
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_set_body "name=$arg_n&method=$request_method";
        }
        location /empty { proxy_pass http://127.0.0.1:MIRROR; proxy_set_body ""; }
        location /small {
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_set_body "x";
            client_max_body_size 4;
        }
        location /json {
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_method POST;
            proxy_set_body '{"a":1}';
            proxy_set_header Content-Type application/json;
        }
        location /nopass {
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_set_body "replaced";
            proxy_pass_request_body off;
        }
        location /withheld { proxy_pass http://127.0.0.1:MIRROR; proxy_pass_request_body off; }
        # `$request_length` counts a chunked body's framing.
        location /withheld/chunked {
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_pass_request_body off;
        }
        # auth_request's usual subrequest location: no body, and no length announced.
        location /nolength {
            proxy_pass http://127.0.0.1:MIRROR;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        # `set $args` replaces the arguments the upstream gets (the URI as sent is dropped,
        # the location's prefix still replaced), and leaves `$args` the request's elsewhere.
        location /args/set { set $args "q=2&$arg_z"; proxy_pass http://127.0.0.1:MIRROR; }
        location /args/part/ { set $args "a=1"; proxy_pass http://127.0.0.1:MIRROR/x/; }
        location /args/read { return 200 "$args|$arg_b|$is_args\n"; }
        location /retry {
            proxy_pass http://127.0.0.1:DEAD;
            proxy_method POST;
            error_page 502 = /const;
        }
    }
}
"#;

fn probes() -> Vec<String> {
    [
        "GET /const HTTP/1.1\r\nHost: a\r\n",
        "HEAD /const HTTP/1.1\r\nHost: a\r\n",
        "GET /var?m=PATCH HTTP/1.1\r\nHost: a\r\n",
        "GET /var HTTP/1.1\r\nHost: a\r\n",
        "POST /var?m=GET HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "GET /parent/child HTTP/1.1\r\nHost: a\r\n",
        "GET /head HTTP/1.1\r\nHost: a\r\n",
        "GET /body?n=1 HTTP/1.1\r\nHost: a\r\n",
        "POST /body?n=2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "POST /body?n=3 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
        "GET /empty HTTP/1.1\r\nHost: a\r\n",
        "POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        "POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789",
        "POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n",
        "PUT /json HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
        "POST /nopass HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
        "GET /retry HTTP/1.1\r\nHost: a\r\n",
        "POST /withheld HTTP/1.1\r\nHost: a\r\nX-Mirror-Now: 1\r\nContent-Length: 5\r\n\r\nhello",
        "POST /withheld/chunked HTTP/1.1\r\nHost: a\r\nX-Mirror-Now: 1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        "GET /withheld HTTP/1.1\r\nHost: a\r\n",
        "GET /args/set?z=1 HTTP/1.1\r\nHost: a\r\n",
        "GET /args/part/y%20z?z=1 HTTP/1.1\r\nHost: a\r\n",
        "GET /args/read?b=7 HTTP/1.1\r\nHost: a\r\n",
        "POST /nolength HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "POST /const HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "POST /body?n=4 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn method_and_body_sent_upstream_are_nginx_s() {
    let Some(nginx) = nginx() else { return };
    let mirror = Mirror::start();
    let base = temp_dir("proxy-method");
    let dead = crate::common::free_port();
    let config = CONFIG
        .replace("MIRROR", &mirror.port.to_string())
        .replace("DEAD", &dead.to_string());
    let probes = probes();
    let seen = through_both(nginx, &config, &base, &probes);
    assert_same(&seen, &probes);
    // The backend did get the configured method and body.
    assert!(seen[1].0[0].contains("\r\n\r\nPOST /const HTTP/1.0\r\n"));
    assert!(seen[1].0[8].ends_with("\r\n\r\nname=2&method=POST"));
}
