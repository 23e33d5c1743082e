//! `syslog:` log targets against nginx: a UDP socket stands for the syslog server, and the
//! datagrams nginx and ngxr send for the same requests must be the same once their times,
//! process ids and prefixes are masked: access-log lines at the target's facility and
//! severity (defaults, `facility=`, `severity=`, `tag=`, `nohostname`, `if=`), and error-log
//! lines of a level's `error_log` at each line's own severity.

use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

use crate::common::{free_port, nginx, temp_dir};
use crate::files::{exchange, start};

const CONFIG: &str = r"
events {}
http {
    log_format t '$request $status';
    error_log syslog:server=127.0.0.1:UDP,tag=errors warn;
    server {
        listen 127.0.0.1:PORT;
        server_name localhost;
        location / {
            access_log syslog:server=127.0.0.1:UDP t;
            return 200;
        }
        location /other {
            access_log syslog:server=127.0.0.1:UDP,facility=user,severity=alert,tag=Other_1,nohostname t;
            return 204;
        }
        location /missing {
            access_log syslog:server=127.0.0.1:UDP t;
        }
        location /maybe {
            access_log syslog:server=127.0.0.1:UDP t if=$arg_log;
            return 200;
        }
    }
}
";

const PROBES: [&str; 5] = ["/", "/other", "/missing", "/maybe", "/maybe?log=1"];

/// What the syslog server got from `bin` for [`PROBES`], masked.
fn datagrams(bin: &str, base: &Path, name: &str) -> Vec<String> {
    let server = UdpSocket::bind("127.0.0.1:0").expect("udp");
    server
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let udp = server.local_addr().expect("addr").port().to_string();
    let (prefix, port) = (base.join(name), free_port());
    let config = CONFIG.replace("UDP", &udp);
    let _running = start(bin, &prefix, &config, base, port, 0);
    for path in PROBES {
        exchange(port, &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n"));
    }
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    while let Ok(n) = server.recv(&mut buf) {
        got.push(mask(&String::from_utf8_lossy(&buf[..n]), &prefix, port));
    }
    got
}

/// The datagram with its times, pid#tid, connection number, prefix and port replaced.
fn mask(datagram: &str, prefix: &Path, port: u16) -> String {
    let words: Vec<String> = datagram
        .replace(&prefix.display().to_string(), "PREFIX")
        .replace(&port.to_string(), "PORT")
        .split(' ')
        .map(str::to_string)
        .collect();
    // `<PRI>Mmm dd hh:mm:ss`: the day may be padded with a space, an empty word.
    let time = if words.get(1).is_some_and(String::is_empty) {
        4
    } else {
        3
    };
    let (head, rest) = words.split_at(time.min(words.len()));
    let pri = head[0].split('>').next().unwrap_or_default();
    let mut out = vec![format!("{pri}> TIME")];
    for w in rest {
        let masked = if w.contains('#') && w.ends_with(':') {
            "PID#TID:".to_string()
        } else if w.starts_with('*') && w[1..].chars().all(|c| c.is_ascii_digit()) {
            "*N".to_string()
        } else if w.len() == 10 && w.bytes().filter(u8::is_ascii_digit).count() == 8 {
            "DATE".to_string()
        } else if w.len() == 8 && w.bytes().filter(u8::is_ascii_digit).count() == 6 {
            "CLOCK".to_string()
        } else {
            w.clone()
        };
        out.push(masked);
    }
    out.join(" ")
}

#[test]
fn lines_reach_syslog_as_nginx_sends_them() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("syslog");
    // Prefixes of one length, so a line naming its prefix is as long from both.
    let theirs = datagrams(nginx, &base, "nginx");
    let ours = datagrams(env!("CARGO_BIN_EXE_ngxr"), &base, "ngxr_");
    assert_eq!(ours, theirs);
    assert!(
        theirs.iter().any(|d| d.starts_with("<190> TIME ")),
        "{theirs:?}"
    );
    assert!(
        theirs
            .iter()
            .any(|d| d.starts_with("<9> TIME Other_1: GET /other")),
        "{theirs:?}"
    );
}
