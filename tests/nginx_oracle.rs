//! nginx as the oracle: `ngxr -t` and `nginx -t` must give the same verdict and the same first
//! `[emerg]` message (position included) on every fixture. Skipped, with a note, where nginx is
//! not installed (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const NGINX: &str = "/usr/sbin/nginx";

fn fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for group in ["seeds", "syntax", "lint"] {
        let Ok(entries) = std::fs::read_dir(root.join(group)) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let conf = e.path().join("nginx.conf");
            if conf.is_file() {
                out.push(conf);
            }
        }
    }
    out.sort();
    out
}

/// Runs a `-t` command with a time limit; `None` when it did not exit normally (nginx crashes
/// on an include cycle, for one).
fn run(bin: &str, conf: &Path) -> Option<(bool, String)> {
    let dir = conf.parent()?;
    let mut child = Command::new(bin)
        .arg("-t")
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .arg("-c")
        .arg(conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().ok()? {
            let out = child.wait_with_output().ok()?;
            let code = status.code()?;
            let text = String::from_utf8_lossy(&out.stderr).into_owned();
            return Some((code == 0, first_problem(&text)));
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The first `[emerg]`/`[crit]` message without nginx's timestamp, pid or program name.
fn first_problem(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| {
            ["[emerg] ", "[crit] "].iter().find_map(|tag| {
                let rest = l.split_once(tag)?.1;
                // nginx writes `PID#TID: ` before the message when it logs with a timestamp.
                Some(match rest.split_once(": ") {
                    Some((pid, msg)) if pid.contains('#') => msg.to_string(),
                    _ => rest.to_string(),
                })
            })
        })
        .unwrap_or_default()
}

#[test]
fn ngxr_t_agrees_with_nginx_t_on_every_fixture() {
    if !Path::new(NGINX).exists() {
        eprintln!("skipped: {NGINX} is not installed");
        return;
    }
    let ngxr = env!("CARGO_BIN_EXE_ngxr");
    let mut compared = 0;
    let mut differences = Vec::new();
    for conf in fixtures() {
        let Some(nginx) = run(NGINX, &conf) else {
            eprintln!("nginx did not finish on {} (not compared)", conf.display());
            continue;
        };
        let ours = run(ngxr, &conf).expect("ngxr -t exits normally");
        compared += 1;
        if nginx != ours {
            differences.push(format!(
                "{}\n  nginx: {nginx:?}\n  ngxr:  {ours:?}",
                conf.display()
            ));
        }
    }
    assert!(compared >= 30, "only {compared} fixtures compared");
    assert!(
        differences.is_empty(),
        "{} differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
