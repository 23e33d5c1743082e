//! Against nginx: `auth_basic` with each password scheme nginx's `ngx_crypt` (and Debian's
//! libc) reads, a missing or malformed `Authorization`, an unknown user, a wrong password,
//! `auth_basic off`, a realm with a variable, a relative user file, `deny` before the
//! challenge, `satisfy any`, and the error-log lines (the `info` one included).

use super::files::{exchange, log_messages, normalize, start};
use crate::common::{NGINX, free_port, nginx, temp_dir};

const CONFIG: &str = r#"
error_log logs/error.log info;
events { worker_connections 64; }
http {
    root ROOT;
    access_log off;
    types { text/plain txt; }
    auth_basic "area $uri";
    auth_basic_user_file users;
    server {
        listen 127.0.0.1:PORT;
        server_name auth;
        location / { }
        location /open/ { auth_basic off; }
        location /denied/ { deny all; }
        location /any/ { satisfy any; allow 127.0.0.1; deny all; }
        location /anyno/ { satisfy any; deny all; }
        location /gone/ { auth_basic_user_file gone; }
    }
}
"#;

/// Each user's password is `secret`; the hashes are from `openssl passwd`.
const USERS: &str = "# comment\n\
plain:{PLAIN}secret\n\
sha:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n\
ssha:{SSHA}8bX4JQDfZqtTfvnQ4ssDmWb17/FTQUxU\n\
apr:$apr1$sAlt1234$87YgbVWVomhbKy3dFiKZj/:a comment\n\
md5:$1$sAlt1234$iesmOjlbKwyYUs6T.1G.L.\r\n\
s256:$5$sAlt1234$1jOI5FL9PEPeyh7S8p2I3rceReFFG2E36rzLNT8JIzA\n\
s512:$6$sAlt1234$e5dxWLmx09eaI08bZ.T2gh1w7ZI32L1EIwxkTZV.J5dOf6XIY6jmupME3RN2mgnl7Ho9p3S6zFSmz.8N0fxdI/";

#[test]
fn auth_basic_as_nginx() {
    let Some(_) = nginx() else { return };
    let base = temp_dir("auth_basic");
    let www = base.join("www");
    for dir in ["", "open", "denied", "any", "anyno", "gone"] {
        std::fs::create_dir_all(www.join(dir)).expect("mkdir");
        std::fs::write(www.join(dir).join("x.txt"), "x").expect("write file");
    }
    let (nginx_port, ngxr_port, dead) = (free_port(), free_port(), free_port());
    let nginx_dir = base.join("nginx");
    let ngxr_dir = base.join("ngxr");
    for dir in [&nginx_dir, &ngxr_dir] {
        std::fs::create_dir_all(dir).expect("prefix");
        std::fs::write(dir.join("users"), USERS).expect("users");
    }
    let mut nginx = start(NGINX, &nginx_dir, CONFIG, &www, nginx_port, dead);
    let mut ngxr = start(
        env!("CARGO_BIN_EXE_ngxr"),
        &ngxr_dir,
        CONFIG,
        &www,
        ngxr_port,
        dead,
    );
    let probes = [
        ("/x.txt", None),
        ("/x.txt", Some("Basic cGxhaW46c2VjcmV0")),
        ("/x.txt", Some("basic   c2hhOnNlY3JldA==")),
        ("/x.txt", Some("Basic c3NoYTpzZWNyZXQ=")),
        ("/x.txt", Some("Basic YXByOnNlY3JldA==")),
        ("/x.txt", Some("Basic bWQ1OnNlY3JldA==")),
        ("/x.txt", Some("Basic czI1NjpzZWNyZXQ=")),
        ("/x.txt", Some("Basic czUxMjpzZWNyZXQ=")),
        ("/x.txt", Some("Basic cGxhaW46d3Jvbmc=")),
        ("/x.txt", Some("Basic bm9ib2R5Ong=")),
        ("/x.txt", Some("Bearer cGxhaW46c2VjcmV0")),
        ("/x.txt", Some("Basic !!!")),
        ("/open/x.txt", None),
        ("/denied/x.txt", Some("Basic cGxhaW46c2VjcmV0")),
        ("/any/x.txt", None),
        ("/anyno/x.txt", None),
        ("/anyno/x.txt", Some("Basic cGxhaW46c2VjcmV0")),
        ("/gone/x.txt", Some("Basic cGxhaW46c2VjcmV0")),
    ];
    for (path, auth) in probes {
        let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        let probe = format!("GET {path} HTTP/1.1\r\nHost: auth\r\n{auth}");
        let theirs = normalize(&exchange(nginx_port, &probe), nginx_port);
        let ours = normalize(&exchange(ngxr_port, &probe), ngxr_port);
        assert_eq!(ours, theirs, "{path} {auth}");
    }
    let _ = (nginx.0.kill(), ngxr.0.kill(), nginx.0.wait(), ngxr.0.wait());
    // The request lines without their time, pid and connection number, and the prefix.
    let lines = |dir: &std::path::Path| -> Vec<String> {
        log_messages(dir, Some(dir), &[nginx_port, ngxr_port])
            .into_iter()
            .filter(|l| l.contains(", request: "))
            .collect()
    };
    let ours = lines(&ngxr_dir);
    assert!(
        ours.iter()
            .any(|l| l.starts_with("user \"plain\": password mismatch")),
        "{ours:?}"
    );
    assert_eq!(ours, lines(&nginx_dir));
}
