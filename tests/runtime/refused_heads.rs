//! Heads nginx refuses once it has read them (an invalid or duplicate `Host`, HTTP/1.1
//! without one, a body framing it refuses, CONNECT) are finalized in the chosen server like any other answer: its
//! `error_page` for the status and its `add_header ... always` apply, and a redirect made
//! there names the local address when the `Host` was not valid. Against nginx.

use crate::common::{nginx, temp_dir};
use crate::files::{assert_same, through_both};

const CONFIG: &str = r#"
error_log logs/error.log info;
events {}
http {
    log_format t '"$request" $status $body_bytes_sent "$host" "$http_x_late"';
    access_log logs/access.log t;
    server {
        listen 127.0.0.1:PORT;
        server_name paged;
        absolute_redirect on;
        add_header X-Server paged always;
        error_page 400 /moved;
        error_page 405 /page;
        location /moved { return 301 /elsewhere; }
        location /page { return 200 "page [$host] [$http_x_late] [$request_method]\n"; }
    }
    server {
        listen 127.0.0.1:PORT;
        server_name plain;
        add_header X-Server plain always;
        location / { return 204; }
    }
}
"#;

#[test]
fn refused_heads_take_the_server_s_error_pages_as_in_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("refused-heads");
    let probes = [
        // The default server's pages: the `Host` chose no server.
        "GET / HTTP/1.0\r\nHost: .\r\nX-Late: 1\r\n",
        "GET / HTTP/1.0\r\nHost: a/b\r\n",
        "GET / HTTP/1.1\r\nX-Late: 1\r\n",
        // A valid first `Host` chose the server; the lines after the refused one go unread.
        "GET / HTTP/1.1\r\nHost: plain\r\nHost: paged\r\nX-Late: 1\r\n",
        "GET / HTTP/1.1\r\nHost: paged\r\nHost: plain\r\nX-Late: 1\r\n",
        "CONNECT / HTTP/1.1\r\nHost: paged\r\nX-Late: 1\r\n",
        "CONNECT / HTTP/1.1\r\nHost: plain\r\n",
        "GET / HTTP/1.1\r\nHost: plain\r\n",
        // The body's framing refused: 400 (501 for an unknown coding).
        "POST / HTTP/1.1\r\nHost: paged\r\nContent-Length: 1x\r\nX-Late: 1\r\n",
        "POST / HTTP/1.1\r\nHost: paged\r\nTransfer-Encoding: gzip\r\n",
        "POST / HTTP/1.0\r\nHost: plain\r\nTransfer-Encoding: chunked\r\n",
        "POST / HTTP/1.1\r\nHost: plain\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n",
    ];
    let seen = through_both(nginx, CONFIG, &base, &probes);
    assert_same(&seen, &probes);
    let moved = &seen[1].0[0];
    assert!(
        moved.contains("301 Moved") && moved.contains("Location: http://127.0.0.1:"),
        "{moved}"
    );
}

/// Plain HTTP on an `ssl` listener, the common `error_page 497` redirect to https.
const PLAIN_ON_SSL: &str = r#"
error_log logs/error.log info;
events {}
http {
    log_format t '"$request" $status $body_bytes_sent "$host" $request_length';
    access_log logs/access.log t;
    server {
        listen 127.0.0.1:PORT ssl;
        server_name paged;
        ssl_certificate CERT;
        ssl_certificate_key KEY;
        error_page 497 https://$host:$server_port$request_uri;
        location / { return 200 "tls\n"; }
    }
    server {
        listen 127.0.0.1:PORT ssl;
        server_name plain;
        ssl_certificate CERT;
        ssl_certificate_key KEY;
        add_header X-Server plain always;
        location / { return 200 "tls\n"; }
    }
}
"#;

#[test]
fn plain_http_on_an_ssl_port_takes_error_page_497_as_in_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("plain-on-ssl");
    let (pair, _) = crate::tls::pair(&base, "a", &rcgen::PKCS_ECDSA_P256_SHA256);
    let config = PLAIN_ON_SSL
        .replace("CERT", &pair.certificate.display().to_string())
        .replace("KEY", &pair.key.display().to_string());
    let probes = [
        "GET /a?b=c HTTP/1.1\r\nHost: paged\r\n",
        "HEAD /a HTTP/1.1\r\nHost: paged\r\n",
        "POST /form HTTP/1.1\r\nHost: paged\r\nContent-Length: 5\r\n\r\nhello",
        "GET /a HTTP/1.1\r\nHost: plain\r\n",
        "GET /a HTTP/1.1\r\nHost: .\r\n",
        "POST /a HTTP/1.1\r\nHost: paged\r\nContent-Length: x\r\n",
    ];
    let seen = through_both(nginx, &config, &base, &probes);
    assert_same(&seen, &probes);
    let moved = &seen[1].0[0];
    assert!(
        moved.contains("302 Moved") && moved.contains("Location: https://paged:"),
        "{moved}"
    );
}
