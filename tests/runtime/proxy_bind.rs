//! `proxy_bind` against nginx: the upstream (a location of the same server that answers with
//! `$remote_addr`) sees the connection come from the bound address: set at the server level
//! and inherited, set again, `off`, from a variable (an empty value binds nothing, a value
//! that is no address binds nothing and is logged), with `transparent`; an address the
//! system refuses (the server's own listening socket) is a 500 with nginx's `crit` line.

use crate::common::{nginx, temp_dir};
use crate::files::{assert_same_by, through_both, without_port_waits};

const CONFIG: &str = r#"
events {}
http {
    log_format t '"$request" $status $upstream_status "$upstream_addr"';
    access_log logs/access.log t;
    error_log logs/error.log info;
    server {
        listen 127.0.0.1:PORT;
        proxy_bind 127.0.0.2;
        location / {
            proxy_bind 127.0.0.3;
            proxy_pass http://127.0.0.1:PORT/echo;
        }
        location /inherit/ { proxy_pass http://127.0.0.1:PORT/echo; }
        location /off/ {
            proxy_bind off;
            proxy_pass http://127.0.0.1:PORT/echo;
        }
        location /var/ {
            proxy_bind $arg_b;
            proxy_pass http://127.0.0.1:PORT/echo;
        }
        location /transparent/ {
            proxy_bind 127.0.0.4 transparent;
            proxy_pass http://127.0.0.1:PORT/echo;
        }
        location /taken/ {
            proxy_bind 127.0.0.1:PORT;
            proxy_pass http://127.0.0.1:PORT/echo;
        }
        location /echo { return 200 "$remote_addr\n"; }
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
        "GET /transparent/x HTTP/1.1\r\nHost: a\r\n",
        "GET /taken/x HTTP/1.1\r\nHost: a\r\n",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn proxy_bind_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("proxy-bind");
    let probes = probes();
    let seen = through_both(nginx, CONFIG, &base, &probes);
    assert_same_by(&seen, |i| probes[i].clone(), without_port_waits);
    let ours = &seen[1].0;
    let from = |i: usize| ours[i].rsplit("\r\n\r\n").next().unwrap_or_default();
    assert_eq!(from(0), "127.0.0.3\n");
    assert_eq!(from(1), "127.0.0.2\n");
    assert_eq!(from(2), "127.0.0.1\n");
    assert_eq!(from(3), "127.0.0.5\n");
    assert_eq!(from(4), "127.0.0.1\n");
    assert_eq!(from(5), "127.0.0.1\n");
    assert_eq!(from(6), "127.0.0.4\n");
    assert!(ours[7].starts_with("HTTP/1.1 500 "), "{}", ours[7]);
    let logged = seen[1].2.join("\n");
    assert!(
        logged.contains("invalid local address \"nowhere\""),
        "{logged}"
    );
    assert!(
        logged.contains("bind(127.0.0.1:PORT) failed (98: "),
        "{logged}"
    );
}
