//! `auth_delay` against nginx: a 401 from the access phase (`auth_basic`, `auth_request`,
//! either under `satisfy any`, after an error page's redirect too) is answered after the
//! delay, its error page too; a 403 and an
//! allowed request are not delayed, nor is anything where the delay is 0. Skipped when nginx
//! is not installed.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{nginx, temp_dir};
use crate::files::{Probe, assert_same, drop_nginx_port_wait, exchange, through_both};

const CONFIG: &str = r#"
events {}
http {
    root ROOT;
    log_format t '$request $status';
    access_log logs/access.log t;
    error_log logs/error.log info;
    auth_delay 600ms;
    auth_basic "closed";
    auth_basic_user_file ROOT/users;
    server {
        listen 127.0.0.1:PORT;
        location / { }
        location /denied/ { deny all; }
        location /any/ { satisfy any; deny all; }
        location /paged/ { error_page 401 /page.txt; }
        location = /page.txt { auth_basic off; }
        location /asked/ { auth_basic off; auth_request /no; }
        location = /no { return 401; }
        location /now/ { auth_delay 0; }
        # The error page's redirect passes the access phase again, which refuses it.
        location /failed { proxy_pass http://127.0.0.1:DEAD; error_page 502 /x.txt; }
    }
}
"#;

/// A request, and whether its answer took at least the delay (nginx's or ngxr's alike).
struct Clocked(String);

impl Probe for Clocked {
    fn send(&self, _prefix: &Path, port: u16) -> Vec<u8> {
        let started = Instant::now();
        let mut answer = exchange(port, &self.0);
        let waited = started.elapsed() >= Duration::from_millis(550);
        answer.extend_from_slice(format!("\n[delayed: {waited}]").as_bytes());
        answer
    }
}

#[test]
fn auth_delay_holds_back_401s_only() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("auth-delay");
    std::fs::write(base.join("users"), "u:{PLAIN}good\n").expect("users");
    std::fs::write(base.join("page.txt"), "page\n").expect("page");
    for dir in ["", "denied", "any", "paged", "asked", "now"] {
        std::fs::create_dir_all(base.join(dir)).expect("mkdir");
        std::fs::write(base.join(dir).join("x.txt"), "x\n").expect("file");
    }
    let get = |uri: &str, auth: &str| {
        // "u:bad" and "u:good" in base64.
        let auth = match auth {
            "" => String::new(),
            a => format!("Authorization: Basic {a}\r\n"),
        };
        Clocked(format!(
            "GET {uri} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n{auth}\r\n"
        ))
    };
    let (bad, good) = ("dTpiYWQ=", "dTpnb29k");
    let probes = [
        get("/x.txt", bad),
        get("/x.txt", ""),
        get("/x.txt", good),
        get("/denied/x.txt", good),
        get("/any/x.txt", bad),
        get("/any/x.txt", good),
        get("/paged/x.txt", bad),
        get("/asked/x.txt", ""),
        get("/now/x.txt", bad),
        get("/failed", ""),
    ];
    let dead = crate::common::free_port();
    let config = CONFIG.replace("DEAD", &dead.to_string());
    let mut seen = through_both(nginx, &config, &base, &probes);
    drop_nginx_port_wait(&mut seen);
    let requests: Vec<&str> = probes.iter().map(|p| p.0.as_str()).collect();
    assert_same(&seen, &requests);
    let delayed: Vec<bool> = seen[1].0.iter().map(|a| a.ends_with("true]")).collect();
    let want = [
        true, true, false, false, true, false, true, true, false, true,
    ];
    assert_eq!(delayed, want, "{:?}", seen[1].0);
}
