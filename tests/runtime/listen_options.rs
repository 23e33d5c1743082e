//! `listen`'s socket options as the kernel holds them, read back with `ss` from the listening
//! socket (backlog, SO_RCVBUF, SO_SNDBUF) and from a connection it accepted (the keepalive
//! timer it inherited), and deferred accept seen through `stub_status`: a client that sends
//! nothing is not accepted. The same through nginx where it is installed. Skipped without
//! `ss`. On a unix-domain socket the TCP ones fail, each logged and ignored.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{free_port, temp_dir};
use crate::files::start;
use crate::support::backend::Backend;
use crate::support::site::{TestSite, peer};

const CONFIG: &str = "events {} http { access_log off;
    server {
        listen 127.0.0.1:PORT rcvbuf=48k sndbuf=40k so_keepalive=2h:7:3 fastopen=5 deferred
            backlog=77;
        location / { stub_status; }
    }
}
";

/// What the kernel says of the sockets of a server started with [`CONFIG`].
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    /// The listening socket's `Send-Q` (its backlog) and `skmem` `rb`/`tb`.
    backlog: String,
    rcvbuf: String,
    sndbuf: String,
    /// The timer of an accepted connection, minutes rounded away: `keepalive,119min`.
    timer: String,
    /// How many more connections `stub_status` counted after a silent client connected.
    silent_accepted: i64,
}

fn ss(args: &[&str]) -> Option<String> {
    let out = Command::new("ss").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The value after `key` in `text`, up to one of `ends`.
fn after<'a>(text: &'a str, key: &str, ends: &[char]) -> &'a str {
    text.split_once(key)
        .map_or("", |(_, rest)| rest.split(ends).next().unwrap_or(""))
}

/// `accepts` of a `stub_status` answer read from `client`, a kept-alive connection.
fn accepts(client: &mut TcpStream) -> i64 {
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    // The body ends with the `Waiting:` line.
    while !(String::from_utf8_lossy(&answer).contains("Waiting:") && answer.ends_with(b"\n")) {
        let n = client.read(&mut buf).expect("read stub_status");
        assert!(n > 0, "closed early");
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    let counts = after(&text, "requests\n", &['\n']);
    counts
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no accepts in {text}"))
}

fn observe(bin: &str, base: &Path, name: &str) -> Seen {
    let port = free_port();
    let _server = start(bin, &base.join(name), CONFIG, base, port, 0);
    let sport = format!("( sport = :{port} )");
    let listening = ss(&["-tlnm", &sport]).expect("ss");
    let line = listening
        .lines()
        .find(|l| l.starts_with("LISTEN"))
        .unwrap_or_else(|| panic!("{name}: no listening socket in {listening}"));
    let backlog = line.split_whitespace().nth(2).unwrap_or("").to_string();

    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let before = accepts(&mut client);
    let silent = TcpStream::connect(("127.0.0.1", port)).expect("connect silently");
    std::thread::sleep(Duration::from_millis(300));
    let silent_accepted = accepts(&mut client) - before;
    drop(silent);

    let local = client.local_addr().expect("local").port();
    let filter = format!("( sport = :{port} and dport = :{local} )");
    let accepted = ss(&["-tno", "state", "established", &filter]).expect("ss");
    let timer = after(&accepted, "timer:(", &[')']);
    let timer = timer.rsplit_once(',').map_or(timer, |(t, _)| t);
    Seen {
        backlog,
        rcvbuf: after(&listening, ",rb", &[',']).to_string(),
        sndbuf: after(&listening, ",tb", &[',']).to_string(),
        timer: timer.to_string(),
        silent_accepted,
    }
}

#[test]
fn listen_socket_options_reach_the_kernel() {
    if ss(&["-V"]).is_none() {
        eprintln!("skipped: no ss");
        return;
    }
    let base = temp_dir("listen-options");
    let ngxr = observe(env!("CARGO_BIN_EXE_ngxr"), &base, "ngxr");
    // Linux doubles the buffer sizes it is given; the idle time is 2h, minus what passed.
    assert_eq!(ngxr.backlog, "77");
    assert_eq!(ngxr.rcvbuf, (2 * 48 * 1024).to_string());
    assert_eq!(ngxr.sndbuf, (2 * 40 * 1024).to_string());
    assert!(
        ["keepalive,119min", "keepalive,120min"].contains(&ngxr.timer.as_str()),
        "{}",
        ngxr.timer
    );
    assert_eq!(ngxr.silent_accepted, 0, "deferred accept");
    let nginx = "/usr/sbin/nginx";
    if !Path::new(nginx).exists() {
        eprintln!("nginx part skipped: {nginx} is not installed");
        return;
    }
    assert_eq!(observe(nginx, &base, "nginx"), ngxr);
}

const UNIX_CONFIG: &str = "error_log PREFIX/logs/error.log; events {} http { access_log off;
    server {
        listen 127.0.0.1:PORT;
        listen unix:PREFIX/u.sock so_keepalive=1:2:3 rcvbuf=4k fastopen=3 deferred;
    }
}
";

/// The `[alert]` messages of `prefix`'s error log, without time and pid, `prefix` written
/// `PREFIX`.
fn alerts(prefix: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default();
    log.lines()
        .filter_map(|l| l.split_once("[alert] "))
        .map(|(_, rest)| rest.split_once(": ").map_or(rest, |(_, m)| m))
        .map(|m| m.replace(&prefix.display().to_string(), "PREFIX"))
        .collect()
}

#[test]
fn tcp_options_on_a_unix_socket_are_logged_and_ignored() {
    let base = temp_dir("listen-options-unix");
    let seen = |bin: &str, name: &str| {
        let prefix = base.join(name);
        drop(start(bin, &prefix, UNIX_CONFIG, &base, free_port(), 0));
        alerts(&prefix)
    };
    let ngxr = seen(env!("CARGO_BIN_EXE_ngxr"), "ngxr");
    let failed = |what: &str| {
        format!("{what} unix:PREFIX/u.sock failed, ignored (95: Operation not supported)")
    };
    assert_eq!(
        ngxr,
        [
            failed("setsockopt(TCP_KEEPIDLE, 1)"),
            failed("setsockopt(TCP_KEEPINTVL, 2)"),
            failed("setsockopt(TCP_KEEPCNT, 3)"),
            failed("setsockopt(TCP_FASTOPEN, 3)"),
            failed("setsockopt(TCP_DEFER_ACCEPT, 1) for"),
        ]
    );
    let nginx = "/usr/sbin/nginx";
    if !Path::new(nginx).exists() {
        eprintln!("nginx part skipped: {nginx} is not installed");
        return;
    }
    assert_eq!(seen(nginx, "nginx"), ngxr);
}

/// A socket kept across a reload is given the options the new configuration asks for.
#[tokio::test]
async fn a_reload_sets_the_new_options_on_a_kept_socket() {
    if ss(&["-V"]).is_none() {
        eprintln!("skipped: no ss");
        return;
    }
    let b = Backend::http("a").await;
    let (mut proxy, addr) = crate::start(TestSite::new(vec![peer(b.addr)]));
    let rcvbuf = || {
        let listening = ss(&["-tlnm", &format!("( sport = :{} )", addr.port())]).expect("ss");
        after(&listening, ",rb", &[',']).to_string()
    };
    let before = rcvbuf();
    let mut site = TestSite::new(vec![peer(b.addr)]);
    site.listen.socket.parse("rcvbuf=48k");
    proxy.reload(Arc::new(site)).expect("reload");
    assert_eq!(proxy.local_addrs(), [addr], "the socket is kept");
    assert_ne!(before, rcvbuf());
    assert_eq!(rcvbuf(), (2 * 48 * 1024).to_string());
}
