//! Hostile or broken input gets a clear error and a non-zero exit, never a panic or a hang:
//! binary garbage, a 50 MB file, 10,000 nested blocks, a quote left open at the end, an
//! include of a directory.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `ngxr ARGS`, bounded in time; returns (exit code, stderr).
fn ngxr(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ngxr"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ngxr");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "ngxr {args:?} did not finish in 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        out.status.code().expect("exited, not killed by a signal"),
        stderr,
    )
}

fn check_fails_cleanly(dir: &Path, conf: &[u8], expect: &str) {
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("write config");
    let p = path.to_str().expect("utf-8 path");
    for args in [vec!["check", "-c", p], vec!["-t", "-c", p]] {
        let (code, stderr) = ngxr(&args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(
            stderr.contains(expect),
            "{args:?}: expected {expect:?} in:\n{}",
            &stderr[..stderr.len().min(2000)]
        );
    }
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ngxr-bad-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn binary_garbage() {
    let dir = temp("garbage");
    let bytes: Vec<u8> = (0..65536u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    check_fails_cleanly(&dir, &bytes, "directive");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fifty_megabytes_of_map_entries() {
    let dir = temp("big");
    let mut conf = b"events {}\nhttp {\n map $uri $x {\n".to_vec();
    while conf.len() < 50 << 20 {
        let n = conf.len();
        conf.extend_from_slice(format!("  /path/{n} value{n};\n").as_bytes());
    }
    conf.extend_from_slice(b" }\n bogus_directive;\n}\n");
    check_fails_cleanly(&dir, &conf, "unknown directive \"bogus_directive\"");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ten_thousand_nested_blocks() {
    let dir = temp("nested");
    let conf = format!(
        "events {{}}\nhttp {{ server {{ {}",
        "location / {".repeat(10_000)
    );
    check_fails_cleanly(&dir, conf.as_bytes(), "nested deeper than");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unterminated_quote_at_end_of_file() {
    let dir = temp("quote");
    check_fails_cleanly(
        &dir,
        b"events {}\nhttp { add_header X \"open",
        "unexpected end of file",
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn include_of_a_directory() {
    let dir = temp("incdir");
    std::fs::create_dir_all(dir.join("sub")).expect("sub dir");
    check_fails_cleanly(&dir, b"events {}\ninclude sub;\n", "Is a directory");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn main_file_missing_or_a_directory() {
    let dir = temp("missing");
    let p = dir.join("nope.conf");
    let (code, stderr) = ngxr(&["-t", "-c", p.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    assert!(stderr.contains("No such file or directory"), "{stderr}");
    let (code, stderr) = ngxr(&["check", "-c", dir.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    assert!(stderr.contains("Is a directory"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
