//! Against nginx: `allow` and `deny` (inheritance, first match, `all`, an address family that
//! matches nothing, `return` before the access phase, an error page after it), and the
//! error-log lines a refusal and a failed proxy pass write.

use super::files::{exchange, log_messages, normalize, start};
use crate::common::{NGINX, free_port, nginx, temp_dir};

const CONFIG: &str = r#"
error_log logs/error.log;
events { worker_connections 64; }
http {
    root ROOT;
    access_log off;
    types { text/plain txt; }
    allow 10.0.0.0/8;
    deny all;
    server {
        listen 127.0.0.1:PORT;
        server_name acc;
        location / { return 200 "early\n"; }
        location /inherited/ { }
        location /local/ { allow 127.0.0.0/24; deny all; }
        location /v6/ { allow ::1; deny all; }
        location /first/ { deny 127.0.0.1; allow all; }
        location /page/ { error_page 403 /local/x.txt; }
        location /dead/ { allow all; proxy_pass http://127.0.0.1:DEAD; }
    }
}
"#;

#[test]
fn allow_and_deny_as_nginx() {
    let Some(_) = nginx() else { return };
    let base = temp_dir("access");
    let www = base.join("www");
    for dir in ["inherited", "local", "v6", "first", "page"] {
        std::fs::create_dir_all(www.join(dir)).expect("mkdir");
        std::fs::write(www.join(dir).join("x.txt"), dir).expect("write file");
    }
    let (nginx_port, ngxr_port, dead) = (free_port(), free_port(), free_port());
    let nginx_dir = base.join("nginx");
    let ngxr_dir = base.join("ngxr");
    let mut nginx = start(NGINX, &nginx_dir, CONFIG, &www, nginx_port, dead);
    let mut ngxr = start(
        env!("CARGO_BIN_EXE_ngxr"),
        &ngxr_dir,
        CONFIG,
        &www,
        ngxr_port,
        dead,
    );
    for path in [
        "/",
        "/inherited/x.txt",
        "/local/x.txt",
        "/v6/x.txt",
        "/first/x.txt",
        "/page/x.txt",
        "/dead/x",
    ] {
        let probe = format!("GET {path} HTTP/1.1\r\nHost: acc\r\n");
        let theirs = normalize(&exchange(nginx_port, &probe), nginx_port);
        let ours = normalize(&exchange(ngxr_port, &probe), ngxr_port);
        assert_eq!(ours, theirs, "{path}");
    }
    let _ = (nginx.0.kill(), ngxr.0.kill(), nginx.0.wait(), ngxr.0.wait());
    // The lines without their time, pid and connection number.
    let lines = |dir: &std::path::Path| log_messages(dir, None, &[nginx_port, ngxr_port]);
    let ours = lines(&ngxr_dir);
    assert_eq!(ours.len(), 5, "{ours:?}");
    // A proxy error names the server, as nginx's lines do.
    assert!(ours[4].contains(", server: acc, "), "{ours:?}");
    assert!(
        ours[0].starts_with("access forbidden by rule, client: 127.0.0.1"),
        "{ours:?}"
    );
    assert_eq!(ours, lines(&nginx_dir));
}
