//! What nginx logs while it reads its configuration (`conflicting server name`, a `listen`
//! parameter the platform lacks, `send_lowat` Linux cannot set, the `[emerg]` of a refused configuration), against nginx:
//! at start to stderr, or to the `-e` file with `nginx: [level]` copies on stderr, and on
//! reload to the running configuration's error log. Skipped when nginx is not installed.

use std::fs::File;
use std::path::Path;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::{Running, free_port, nginx, temp_dir, wait_for_port};
use crate::files::{command, exchange, launch, write_config};
use crate::unix_listen::{Master, until};

const PLAIN: &str = "
error_log logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    server { listen 127.0.0.1:PORT; server_name a; return 200 one; }
}
";

const WARNED: &str = "
error_log logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    server { listen 127.0.0.1:PORT accept_filter=dataready; server_name a; return 200 one; }
    server { listen 127.0.0.1:PORT; server_name b a; send_lowat 1k; return 200 two; }
}
";

/// [`WARNED`] with an error read after the `http` block's warnings.
const REFUSED: &str = "
error_log logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    server { listen 127.0.0.1:PORT; server_name a; return 200 one; }
    server { listen 127.0.0.1:PORT; server_name a; return 200 two; }
}
no_such_directive;
";

/// A log's (or stderr's) lines without time and `PID#TID: `, the prefix written `PREFIX` and
/// `port` written `PORT`.
fn lines_of(file: &Path, prefix: &Path, port: u16) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .map(|l| match l.split_once(" [") {
            // `YYYY/MM/DD HH:MM:SS [level] PID#TID: message`.
            Some((time, rest)) if time.len() == 19 && time.as_bytes()[4] == b'/' => {
                let (level, after) = rest.split_once("] ").unwrap_or((rest, ""));
                let message = after.split_once(": ").map_or(after, |(_, m)| m);
                format!("[{level}] {message}")
            }
            _ => l.to_string(),
        })
        .map(|l| {
            l.replace(&prefix.display().to_string(), "PREFIX")
                .replace(&port.to_string(), "PORT")
        })
        .collect()
}

/// What one server wrote while starting on `config` (with `-e early` if given): its stderr,
/// the `-e` file and `logs/error.log`, and whether it served (answering `a` from the first
/// server).
fn start_on(bin: &str, prefix: &Path, config: &str, early: Option<&str>) -> Vec<String> {
    let port = free_port();
    write_config(prefix, config, prefix, port, 0);
    let stderr = prefix.join("stderr.txt");
    let mut cmd = command(bin, prefix, "master_process off;");
    if let Some(early) = early {
        cmd.arg("-e").arg(early);
    }
    cmd.stderr(File::create(&stderr).expect("stderr file"));
    let mut server = Running(cmd.spawn().expect("start"));
    let served = if config.contains("no_such_directive") {
        until("the refusal", || matches!(server.0.try_wait(), Ok(Some(_))));
        "refused".to_string()
    } else {
        wait_for_port(port, bin);
        let answer =
            String::from_utf8_lossy(&exchange(port, "GET / HTTP/1.0\r\nHost: a\r\n")).into_owned();
        answer.rsplit("\r\n").next().unwrap_or_default().to_string()
    };
    drop(server);
    let mut seen = vec![served, "--- stderr".into()];
    seen.extend(lines_of(&stderr, prefix, port));
    seen.push("--- -e file".into());
    seen.extend(early.map_or_else(Vec::new, |e| lines_of(&prefix.join(e), prefix, port)));
    seen.push("--- error.log".into());
    seen.extend(lines_of(&prefix.join("logs/error.log"), prefix, port));
    seen
}

#[test]
fn warnings_read_at_start_go_to_stderr_or_the_e_file_as_nginx_s() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("startup-warnings");
    let cases = [
        (WARNED, None),
        (WARNED, Some("logs/early.log")),
        (REFUSED, None),
        (REFUSED, Some("logs/early.log")),
        (WARNED, Some("stderr")),
    ];
    for (i, (config, early)) in cases.into_iter().enumerate() {
        // Prefixes of one length, so a text naming its prefix is as long from both.
        let theirs = start_on(nginx, &base.join(format!("nginx{i}")), config, early);
        let ours = start_on(
            env!("CARGO_BIN_EXE_ngxr"),
            &base.join(format!("ngxr_{i}")),
            config,
            early,
        );
        assert_eq!(theirs, ours, "case {i}");
    }
    // The cases are not empty: the first says where nginx writes at start.
    let first = start_on(nginx, &base.join("nginx_"), WARNED, None);
    assert!(
        first.contains(&"[warn] conflicting server name \"a\" on 127.0.0.1:PORT, ignored".into()),
        "{first:?}"
    );
}

/// What one server logs on reloads: to [`WARNED`], then to [`REFUSED`].
fn reload_on(bin: &str, prefix: &Path) -> Vec<String> {
    let port = free_port();
    write_config(prefix, PLAIN, prefix, port, 0);
    let server = Master(launch(bin, prefix, port, "master_process on;"));
    let pid = Pid::from_raw(server.0.0.id() as i32);
    let log = prefix.join("logs/error.log");
    let logged = |what: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(what)
    };
    write_config(prefix, WARNED, prefix, port, 0);
    kill(pid, Signal::SIGHUP).expect("SIGHUP");
    until("the reload's warnings", || {
        logged("conflicting server name")
    });
    write_config(prefix, REFUSED, prefix, port, 0);
    kill(pid, Signal::SIGHUP).expect("SIGHUP");
    until("the refused reload", || logged("no_such_directive"));
    drop(server);
    lines_of(&log, prefix, port)
        .into_iter()
        .filter(|l| !l.starts_with("[notice]") && !l.starts_with("[info]"))
        .collect()
}

#[test]
fn warnings_read_on_reload_go_to_the_running_error_log_as_nginx_s() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("reload-warnings");
    let theirs = reload_on(nginx, &base.join("nginx"));
    let ours = reload_on(env!("CARGO_BIN_EXE_ngxr"), &base.join("ngxr_"));
    assert_eq!(theirs, ours);
    assert!(
        ours.contains(&"[warn] conflicting server name \"a\" on 127.0.0.1:PORT, ignored".into()),
        "{ours:?}"
    );
}
