//! The real-world corpus (`../shared/corpus`, 110 checked configs from 24 projects): `ngxr check`
//! must accept and reject what `nginx -t` does. Two oracles: `ORACLE.tsv` (Debian's nginx
//! 1.22.1 in a sandbox with /etc/nginx hidden and no DNS) and, where nginx is installed, nginx
//! itself run on the same prepared copy on this machine. Skipped when the corpus is absent.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Disagreements with each oracle that are known and explained in README.md; the test fails
/// if there are more (and prints every one).
const KNOWN_ORACLE_DIFFERENCES: usize = 2;
const KNOWN_LIVE_DIFFERENCES: usize = 0;

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    dir.join("ORACLE.tsv").is_file().then_some(dir)
}

/// Exit status of a command, with a time limit; `None` for a timeout or a crash.
fn status(cmd: &mut Command, limit: Duration) -> Option<i32> {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().ok()? {
            return s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh copy of the file's source folder, prepared as the oracle was (corpus-lib.sh).
fn prepare(corpus: &Path, path: &str, tmp: &Path) -> Option<PathBuf> {
    let script = format!(
        ". '{}/corpus-lib.sh'; corpus_prepare '{}' '{}' '{}'",
        corpus.display(),
        corpus.display(),
        path,
        tmp.display()
    );
    let out = Command::new("bash").arg("-c").arg(script).output().ok()?;
    let conf = String::from_utf8(out.stdout).ok()?;
    out.status.success().then(|| PathBuf::from(conf.trim()))
}

#[test]
fn check_agrees_with_nginx_t_on_the_corpus() {
    let Some(corpus) = corpus() else {
        eprintln!("skipped: ../shared/corpus is not present");
        return;
    };
    let ngxr = env!("CARGO_BIN_EXE_ngxr");
    let nginx = Path::new("/usr/sbin/nginx")
        .exists()
        .then_some("/usr/sbin/nginx");
    let oracle = std::fs::read_to_string(corpus.join("ORACLE.tsv")).expect("ORACLE.tsv");
    let (mut total, mut oracle_diffs, mut live_total, mut live_diffs) =
        (0, Vec::new(), 0, Vec::new());
    for row in oracle.lines().skip(1) {
        let mut cols = row.split('\t');
        let (Some(path), Some(class)) = (cols.next(), cols.next()) else {
            continue;
        };
        let tmp = std::env::temp_dir().join(format!("ngxr-corpus-{}-{total}", std::process::id()));
        let Some(conf) = prepare(&corpus, path, &tmp) else {
            panic!("could not prepare {path}");
        };
        let prefix = format!("{}/", conf.parent().expect("conf dir").display());
        let limit = Duration::from_secs(30);
        let ours = status(
            Command::new(ngxr)
                .args(["check", "-p", &prefix, "-c"])
                .arg(&conf),
            limit,
        ) == Some(0);
        total += 1;
        if ours != (class == "ok") {
            oracle_diffs.push(format!(
                "{path}: ORACLE.tsv says {class}, ngxr {}",
                verdict(ours)
            ));
        }
        if let Some(nginx) = nginx {
            let theirs = status(
                Command::new(nginx)
                    .args(["-t", "-q", "-p", &prefix, "-c"])
                    .arg(&conf),
                limit,
            );
            if let Some(code) = theirs {
                live_total += 1;
                if ours != (code == 0) {
                    live_diffs.push(format!(
                        "{path}: nginx -t {}, ngxr {}",
                        verdict(code == 0),
                        verdict(ours)
                    ));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
    eprintln!(
        "corpus: ngxr check agrees with ORACLE.tsv on {}/{total}{}",
        total - oracle_diffs.len(),
        if nginx.is_some() {
            format!(
                ", with nginx -t on this machine on {}/{live_total}",
                live_total - live_diffs.len()
            )
        } else {
            String::new()
        }
    );
    for d in oracle_diffs.iter().chain(&live_diffs) {
        eprintln!("  {d}");
    }
    assert!(total >= 100, "only {total} corpus files read");
    assert!(
        oracle_diffs.len() <= KNOWN_ORACLE_DIFFERENCES,
        "new disagreements with ORACLE.tsv"
    );
    #[allow(
        clippy::absurd_extreme_comparisons,
        reason = "the known count may be zero"
    )]
    let within = live_diffs.len() <= KNOWN_LIVE_DIFFERENCES;
    assert!(within, "new disagreements with nginx -t");
}

fn verdict(accept: bool) -> &'static str {
    if accept { "accepts" } else { "rejects" }
}
