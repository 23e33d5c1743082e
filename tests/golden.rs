//! Golden tests over `fixtures/`: for every `nginx.conf`, what `ngxr check` prints (colour off,
//! paths relative to the repository) and what `ngxr dump` prints must equal the `expected.*`
//! files beside it, and so must what `ngxr explain` says of the requests in `explain.requests`
//! where a fixture has one. `UPDATE_EXPECT=1 cargo test --test golden` rewrites them; every mismatch
//! is listed before the test fails.

use std::path::{Path, PathBuf};

use ngxr::cli::Paths;

fn fixtures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().is_some_and(|n| n == "nginx.conf") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"),
        &mut out,
    );
    out
}

/// The fixture's paths relative to the repository (cargo runs tests from there), so messages
/// that quote a path are the same length, and wrap the same way, in every checkout.
fn relative_paths(conf: &Path) -> Paths {
    let conf = conf
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .expect("fixture inside the repository")
        .to_path_buf();
    let dir = conf.parent().expect("fixture dir").to_path_buf();
    Paths {
        prefix: dir.clone(),
        conf,
        conf_prefix: dir,
    }
}

fn compare(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(path, actual).expect("write expected file");
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{}\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        )),
        Err(_) => failures.push(format!(
            "{} is missing (UPDATE_EXPECT=1 creates it)",
            path.display()
        )),
    }
}

#[test]
fn fixtures_check_and_dump_match_expected_files() {
    let mut failures = Vec::new();
    let confs = fixtures();
    assert!(confs.len() >= 30, "fixtures not found: {confs:?}");
    for conf in &confs {
        let dir = conf.parent().expect("fixture dir");
        let paths = relative_paths(conf);
        let loaded = ngxr::load::load(&paths).expect("fixture readable");
        let mut ds = loaded.diagnostics.clone();
        ds.sort_by_key(|d| (d.span.map(|s| (s.file, s.start)), d.severity));
        let check = ngxr::check::render_human(&ds, &loaded.tree.sources, false);
        compare(&dir.join("expected.check"), &check, &mut failures);
        let dump = ngxr::check::dump_json(&loaded.tree, &loaded.diagnostics);
        let dump = serde_json::to_string_pretty(&dump).expect("json") + "\n";
        compare(&dir.join("expected.dump.json"), &dump, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The requests of a fixture's `explain.requests`: blocks separated by a blank line, each a
/// request line (`GET /path`) then `Name: value` header lines.
fn explain_requests(text: &str) -> Vec<(String, Vec<String>)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut lines = block.lines().filter(|l| !l.trim().is_empty());
            let request = lines.next()?.to_string();
            Some((request, lines.map(str::to_string).collect()))
        })
        .collect()
}

#[test]
fn fixtures_explain_match_expected_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    let mut explained = 0;
    for conf in fixtures() {
        let dir = conf.parent().expect("fixture dir");
        let Ok(text) = std::fs::read_to_string(dir.join("explain.requests")) else {
            continue;
        };
        let mut out = String::new();
        for (request, headers) in explain_requests(&text) {
            let args = ngxr::cli::ExplainArgs {
                conf: Some(conf.clone()),
                prefix: Some(dir.to_path_buf()),
                listen: None,
                remote_addr: "127.0.0.1".into(),
                headers,
                format: ngxr::cli::Format::Human,
                request: request.clone(),
            };
            let report = ngxr::explain::explain(&args).unwrap_or_else(|e| format!("error: {e}"));
            out.push_str(&format!("$ explain '{request}'\n{report}\n\n"));
            explained += 1;
        }
        let out = out.replace(&format!("{}/", root.display()), "");
        compare(&dir.join("expected.explain"), &out, &mut failures);
    }
    assert!(explained >= 10, "explain.requests not found");
    assert!(
        failures.is_empty(),
        "{} golden mismatches:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
