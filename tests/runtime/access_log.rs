//! When access-log lines reach their file, against nginx: each line as its request ends,
//! unless `buffer=` gathers them (then at exit, or once `flush=` has passed).

use std::time::{Duration, Instant};

use crate::common::{free_port, nginx, temp_dir};
use crate::files::{exchange, start};

const CONFIG: &str = "
events {}
http {
    log_format short '$request_uri $status';
    server {
        listen 127.0.0.1:PORT;
        location /now { access_log logs/now.log short; return 200 now; }
        location /later { access_log logs/later.log short buffer=64k; return 200 later; }
        location /soon { access_log logs/soon.log short buffer=64k flush=1s; return 200 soon; }
    }
}
";

/// The lines of `name` under `prefix`'s logs while the server still runs.
fn lines(prefix: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(prefix.join("logs").join(name)).unwrap_or_default()
}

/// The lines of `name` once it has some, waiting up to `within` (a loaded machine may take
/// a while to run the server); empty if it has none by then.
fn first_lines(prefix: &std::path::Path, name: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let seen = lines(prefix, name);
        if !seen.is_empty() || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn lines_reach_the_file_as_requests_end_unless_buffered() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("access-log-timing");
    let seen = [(nginx, "nginx"), (env!("CARGO_BIN_EXE_ngxr"), "ngxr")].map(|(bin, name)| {
        let (prefix, port) = (base.join(name), free_port());
        let server = start(bin, &prefix, CONFIG, &base, port, 0);
        exchange(port, "GET /now?a HTTP/1.1\r\nHost: t\r\n");
        exchange(port, "GET /later?b HTTP/1.1\r\nHost: t\r\n");
        exchange(port, "GET /soon?c HTTP/1.1\r\nHost: t\r\n");
        let at_once = (
            first_lines(&prefix, "now.log", Duration::from_secs(2)),
            lines(&prefix, "later.log"),
        );
        // `flush=1s` (ngxr checks every second); `later` waits still.
        let flushed = (
            first_lines(&prefix, "soon.log", Duration::from_secs(4)),
            lines(&prefix, "later.log"),
        );
        drop(server);
        (at_once, flushed)
    });
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1].0, ("/now?a 200\n".to_string(), String::new()));
    assert_eq!(seen[1].1, ("/soon?c 200\n".to_string(), String::new()));
}

const GZIP: &str = "
events {}
http {
    log_format short '$request_uri $status';
    server {
        listen 127.0.0.1:PORT;
        location /gz { access_log logs/gz.log short gzip; return 200 gz; }
        location /small { access_log logs/small.log short gzip=9 buffer=64; return 200 small; }
        location /soon { access_log logs/soon.log short gzip flush=1s; return 200 soon; }
        # One file: the buffer of the one that has it serves both.
        location /plain { access_log logs/shared.log short; return 200 plain; }
        location /zipped { access_log logs/shared.log short gzip; return 200 zipped; }
    }
}
";

/// The gzip members of `name` under `prefix`'s logs, each decompressed; the test fails on a
/// file that is not gzip members back to back.
fn members(prefix: &std::path::Path, name: &str) -> Vec<String> {
    use std::io::Read;
    let file = std::fs::read(prefix.join("logs").join(name)).unwrap_or_default();
    let mut rest = &file[..];
    let mut members = Vec::new();
    while !rest.is_empty() {
        let mut member = flate2::bufread::GzDecoder::new(rest);
        let mut text = String::new();
        member
            .read_to_string(&mut text)
            .expect("a whole gzip member");
        members.push(text);
        rest = member.into_inner();
    }
    members
}

/// What `access_log ... gzip` files hold after each step, for `bin`: lines gather in the
/// buffer, each write is a gzip member of its own, and the buffer is written when full, after
/// `flush=`, on USR1, on reload and on exit.
fn gzip_steps(bin: &str, prefix: &std::path::Path) -> Vec<Vec<String>> {
    use crate::unix_listen::{Master, until};
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let port = free_port();
    crate::files::write_config(prefix, GZIP, prefix, port, 0);
    let mut server = Master(crate::files::launch(
        bin,
        prefix,
        port,
        "master_process on;",
    ));
    let pid = Pid::from_raw(server.0.0.id() as i32);
    let mut seen = Vec::new();
    exchange(port, "GET /gz?a HTTP/1.1\r\nHost: t\r\n");
    // 13 bytes a line, but nginx asks 30 of the buffer for each (`$status` at its widest,
    // 20): after three (39 bytes), the fourth does not fit in 64.
    for uri in ["/small?1", "/small?2", "/small?3", "/small?4"] {
        exchange(port, &format!("GET {uri} HTTP/1.1\r\nHost: t\r\n"));
    }
    exchange(port, "GET /soon?c HTTP/1.1\r\nHost: t\r\n");
    exchange(port, "GET /plain?p HTTP/1.1\r\nHost: t\r\n");
    until("the flush= time", || {
        !members(prefix, "soon.log").is_empty()
    });
    seen.push(members(prefix, "soon.log"));
    seen.push(members(prefix, "gz.log"));
    seen.push(members(prefix, "small.log"));
    kill(pid, Signal::SIGUSR1).expect("USR1");
    until("the reopen", || !members(prefix, "gz.log").is_empty());
    seen.push(members(prefix, "gz.log"));
    exchange(port, "GET /gz?d HTTP/1.1\r\nHost: t\r\n");
    kill(pid, Signal::SIGHUP).expect("HUP");
    until("the reload", || members(prefix, "gz.log").len() > 1);
    seen.push(members(prefix, "gz.log"));
    exchange(port, "GET /gz?e HTTP/1.1\r\nHost: t\r\n");
    kill(pid, Signal::SIGQUIT).expect("QUIT");
    until("the exit", || matches!(server.0.0.try_wait(), Ok(Some(_))));
    seen.push(members(prefix, "gz.log"));
    seen.push(members(prefix, "small.log"));
    seen.push(members(prefix, "shared.log"));
    seen
}

#[test]
fn gzip_logs_are_gzip_members_written_as_nginx_writes_them() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("access-log-gzip");
    let [theirs, ours] = [(nginx, "nginx"), (env!("CARGO_BIN_EXE_ngxr"), "ngxr")]
        .map(|(bin, name)| gzip_steps(bin, &base.join(name)));
    assert_eq!(ours, theirs);
    let gz = ["/gz?a 200\n", "/gz?d 200\n", "/gz?e 200\n"];
    let small = [
        "/small?1 200\n/small?2 200\n/small?3 200\n",
        "/small?4 200\n",
    ];
    let expected: [&[&str]; 8] = [
        &["/soon?c 200\n"],
        &[],
        &small[..1],
        &gz[..1],
        &gz[..2],
        &gz,
        &small,
        &["/plain?p 200\n"],
    ];
    assert_eq!(theirs, expected);
}
