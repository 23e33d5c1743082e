//! `listen unix:PATH` against nginx: requests over the unix-domain socket itself and through
//! a `proxy_pass` to it, with the addresses nginx gives such a client (`$remote_addr` is
//! `unix:`, the ports are empty, `$server_addr` is the socket's name), the server chosen by
//! name among the socket's servers, `allow`/`deny unix:`, `set_real_ip_from unix:`, `geo`,
//! the access log; and the sockets' lives: a reload keeps those it still lists (with the
//! options it gives them now) and closes the others, whose files are deleted, as they are
//! when the server exits. Skipped when nginx is not installed.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::{Running, free_port, nginx, temp_dir};
use crate::files::{Probe, Sent, Via, exchange, exchange_on, launch, through_both, write_config};

// The `[info]` lines about connections that end without a request are a known difference.
const CONFIG: &str = r#"
error_log logs/error.log error;
events { worker_connections 64; }
http {
    log_format t '$remote_addr|$remote_port|$server_addr|$server_port|$realip_remote_addr|$request|$status';
    access_log logs/access.log t;
    geo $geo { default d; 255.255.255.255 none; }
    geo $remote_addr $geoa { default d; 255.255.255.255 none; }
    geo $geor { ranges; 0.0.0.0-255.255.255.254 some; default none; }
    server {
        listen 127.0.0.1:PORT;
        location / { proxy_pass http://unix:PREFIX/u.sock; }
        location /via/ { proxy_set_header X-Real-IP 192.0.2.9; proxy_pass http://unix:PREFIX/u.sock:/; }
    }
    server {
        listen unix:PREFIX/u.sock;
        server_name one;
        set_real_ip_from unix:;
        location / {
            return 200 "ra=$remote_addr rp=$remote_port sa=$server_addr sp=$server_port bra=$binary_remote_addr rra=$realip_remote_addr xff=$proxy_add_x_forwarded_for geo=$geo/$geoa/$geor sn=$server_name\n";
        }
        location /allow_unix { allow unix:; deny all; return 200 "allowed\n"; }
        location /deny_unix { deny unix:; return 200 "allowed\n"; }
        location /deny_all { deny all; }
        location /realip { return 200 "$remote_addr $realip_remote_addr $geo $binary_remote_addr\n"; }
        location /redirect { return 302 /elsewhere; }
    }
    server {
        listen unix:PREFIX/u.sock;
        server_name two;
        location / { return 200 "two $server_name $server_addr\n"; }
    }
}
"#;

fn unix(request: &str) -> Sent {
    Sent {
        via: Via::Unix("u.sock"),
        request: request.to_string(),
    }
}

#[test]
fn a_unix_socket_serves_as_nginx_serves_it() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("unix-listen");
    let probes = [
        unix("GET / HTTP/1.1\r\nHost: one\r\n"),
        unix("GET / HTTP/1.1\r\nHost: two\r\n"),
        unix("GET / HTTP/1.1\r\nHost: neither\r\n"),
        unix("GET /allow_unix HTTP/1.1\r\nHost: one\r\n"),
        unix("GET /deny_unix HTTP/1.1\r\nHost: one\r\n"),
        unix("GET /deny_all HTTP/1.1\r\nHost: one\r\n"),
        unix("GET /realip HTTP/1.1\r\nHost: one\r\nX-Real-IP: 192.0.2.1\r\n"),
        unix("GET /realip HTTP/1.1\r\nHost: one\r\n"),
        unix("GET /redirect HTTP/1.0\r\n"),
        unix("GET /redirect HTTP/1.1\r\nHost: one\r\n"),
        unix("GET /%zz HTTP/1.1\r\nHost: one\r\n"),
        // Through nginx (or ngxr) itself as the unix socket's client.
        Sent {
            via: Via::Preface(b""),
            request: "GET /deny_unix HTTP/1.1\r\nHost: one\r\n".into(),
        },
        Sent {
            via: Via::Preface(b""),
            request: "GET /via/realip HTTP/1.1\r\nHost: one\r\n".into(),
        },
    ];
    let [theirs, ours] = through_both(nginx, CONFIG, &base, &probes);
    assert_eq!(ours.0, theirs.0, "answers");
    assert!(theirs.0[0].contains("ra=unix: rp= sa=unix:PREFIX/u.sock sp="));
    // The TCP lines' ports differ from run to run; a unix client's are empty.
    let lines = |log: &str| -> Vec<String> {
        log.lines()
            .map(|l| {
                let mut fields: Vec<&str> = l.split('|').collect();
                if fields[0] == "127.0.0.1" {
                    (fields[1], fields[3]) = ("P", "P");
                }
                fields.join("|")
            })
            .collect()
    };
    assert_eq!(lines(&ours.1), lines(&theirs.1), "access logs");
    assert!(
        lines(&theirs.1)
            .contains(&"192.0.2.9||unix:PREFIX/u.sock||unix:|GET /realip HTTP/1.0|200".into())
    );
    assert_eq!(ours.2, theirs.2, "error logs");
    assert!(theirs.2[0].contains("client: unix:"), "{:?}", theirs.2);
}

/// Waits up to 10 s for `done`.
pub(crate) fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what} within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One request over the unix socket `path`: the answer's body (empty when nothing listens
/// there yet).
fn body_over(path: &Path) -> String {
    let Ok(s) = std::os::unix::net::UnixStream::connect(path) else {
        return String::new();
    };
    let answer = exchange_on(s, b"", "GET / HTTP/1.1\r\nHost: x\r\n");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

const BEFORE: &str = r#"
error_log logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    server { listen 127.0.0.1:PORT; location / { return 200 "tcp\n"; } }
    server { listen unix:PREFIX/kept.sock; location / { return 200 "kept before\n"; } }
    server { listen unix:PREFIX/dropped.sock; location / { return 200 "dropped\n"; } }
}
"#;

const AFTER: &str = r#"
error_log logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    server { listen 127.0.0.1:PORT proxy_protocol; location / { return 200 "tcp $proxy_protocol_addr\n"; } }
    server { listen unix:PREFIX/kept.sock; location / { return 200 "kept after\n"; } }
    server { listen unix:PREFIX/added.sock; location / { return 200 "added\n"; } }
}
"#;

/// A server started with `master_process on` (nginx's reloads in single-process mode are
/// not for use), stopped by SIGTERM so nginx's master takes its workers along.
pub(crate) struct Master(pub(crate) Running);

impl Drop for Master {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0.0.id() as i32), Signal::SIGTERM);
        until("the server to stop", || {
            matches!(self.0.0.try_wait(), Ok(Some(_)))
        });
    }
}

/// What one server does across a reload and its exit: the bodies over each socket, whether
/// files are left, and its error log's `deleting socket` lines.
fn reload_and_exit(bin: &str, prefix: &Path, port: u16) -> Vec<String> {
    let mut seen = Vec::new();
    write_config(prefix, BEFORE, prefix, port, 0);
    let mut server = Master(launch(bin, prefix, port, "master_process on;"));
    let kept = prefix.join("kept.sock");
    let (dropped, added) = (prefix.join("dropped.sock"), prefix.join("added.sock"));
    seen.push(body_over(&kept));
    seen.push(body_over(&dropped));
    write_config(prefix, AFTER, prefix, port, 0);
    let pid = Pid::from_raw(server.0.0.id() as i32);
    kill(pid, Signal::SIGHUP).expect("SIGHUP");
    // Old workers (nginx's) or accept loops (ngxr's) may take a last connection as the new
    // configuration comes in: wait until every socket serves the new one, several times
    // over (an old worker that has not yet seen its QUIT still accepts now and then).
    let plain = || exchange(port, "GET / HTTP/1.1\r\nHost: x\r\n");
    until("the reload", || {
        added.exists()
            && !dropped.exists()
            && (0..5).all(|_| {
                body_over(&kept) == "kept after\n"
                    && body_over(&added) == "added\n"
                    && plain().is_empty()
            })
    });
    seen.push(body_over(&added));
    // The TCP socket stays too, and now wants a PROXY header.
    seen.push(format!(
        "without a PROXY header: {:?}",
        String::from_utf8_lossy(&plain())
    ));
    let request = "GET / HTTP/1.1\r\nHost: x\r\n".to_string();
    let proxied = Sent {
        via: Via::Preface(b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n"),
        request,
    };
    let answer = String::from_utf8_lossy(&proxied.send(prefix, port)).into_owned();
    seen.push(
        answer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string(),
    );
    kill(pid, Signal::SIGQUIT).expect("SIGQUIT");
    until("the exit", || matches!(server.0.0.try_wait(), Ok(Some(_))));
    seen.push(format!("files left: {}", kept.exists() || added.exists()));
    // `[warn] PID#TID: deleting socket PATH`.
    let log = std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default();
    let shown = prefix.display().to_string();
    seen.extend(
        log.lines()
            .filter_map(|l| l.split_once("[warn] ")?.1.split_once(": "))
            .filter(|(_, m)| m.starts_with("deleting socket"))
            .map(|(_, m)| m.replace(&shown, "PREFIX")),
    );
    seen
}

#[test]
fn a_reload_keeps_unix_sockets_it_still_lists_and_deletes_the_others() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("unix-reload");
    let [theirs, ours] = [(nginx, "nginx"), (env!("CARGO_BIN_EXE_ngxr"), "ngxr")]
        .map(|(bin, name)| reload_and_exit(bin, &base.join(name), free_port()));
    assert_eq!(ours, theirs);
    assert_eq!(
        theirs,
        [
            "kept before\n",
            "dropped\n",
            "added\n",
            "without a PROXY header: \"\"",
            "tcp 192.0.2.1\n",
            "files left: false",
            "deleting socket PREFIX/dropped.sock"
        ]
    );
}
