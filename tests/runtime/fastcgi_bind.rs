//! `fastcgi_bind` against nginx: the FastCGI responder, which names the address each
//! connection came from, sees it come from the bound address: set at the server level and
//! inherited, set again, `off`, and from a variable (an empty value binds nothing, a value
//! that is no address binds nothing and is logged).

use crate::common::{nginx, temp_dir};
use crate::files::{assert_same_by, through_both, without_port_waits};
use crate::support::fastcgi::Responder;

const CONFIG: &str = r#"
events {}
http {
    log_format t '"$request" $status $upstream_status';
    access_log logs/access.log t;
    error_log logs/error.log info;
    fastcgi_param REQUEST_URI $request_uri;
    server {
        listen 127.0.0.1:PORT;
        fastcgi_bind 127.0.0.2;
        location / {
            fastcgi_bind 127.0.0.3;
            fastcgi_pass 127.0.0.1:FCGI;
        }
        location /inherit/ { fastcgi_pass 127.0.0.1:FCGI; }
        location /off/ {
            fastcgi_bind off;
            fastcgi_pass 127.0.0.1:FCGI;
        }
        location /var/ {
            fastcgi_bind $arg_b;
            fastcgi_pass 127.0.0.1:FCGI;
        }
    }
}
"#;

fn probes() -> Vec<String> {
    [
        "GET /x HTTP/1.1\r\nHost: a\r\n",
        "GET /inherit/x HTTP/1.1\r\nHost: a\r\n",
        "GET /off/x HTTP/1.1\r\nHost: a\r\n",
        "GET /var/x?b=127.0.0.5 HTTP/1.1\r\nHost: a\r\n",
        "GET /var/x?b= HTTP/1.1\r\nHost: a\r\n",
        "GET /var/x?b=nowhere HTTP/1.1\r\nHost: a\r\n",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn fastcgi_bind_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let responder = Responder::start();
    let base = temp_dir("fastcgi-bind");
    let config = CONFIG.replace("FCGI", &responder.port.to_string());
    let probes = probes();
    let seen = through_both(nginx, &config, &base, &probes);
    assert_same_by(&seen, |i| probes[i].clone(), without_port_waits);
    let ours = &seen[1].0;
    let peers = [
        "127.0.0.3",
        "127.0.0.2",
        "127.0.0.1",
        "127.0.0.5",
        "127.0.0.1",
        "127.0.0.1",
    ];
    for (answer, peer) in ours.iter().zip(peers) {
        assert!(answer.contains(&format!(" peer={peer}\n")), "{answer}");
    }
}
