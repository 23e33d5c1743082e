//! Any bytes as a main configuration file through the whole load pipeline that `check`, `-t`
//! and a reload run: the parser, nginx's directive rules, the lints, lowering and compiling,
//! then every renderer of the diagnostics. Nothing may panic, whatever the input.
//!
//! The file lives in a directory of its own under /dev/shm, so relative includes and
//! certificate paths in the input find nothing rather than the fuzzer's own files.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ngxr::cli::Paths;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(format!("/dev/shm/ngxr-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let conf = dir().join("nginx.conf");
    std::fs::write(&conf, data).expect("the scratch file");
    let paths = Paths::resolve(Some(dir()), Some(&conf));
    let Ok(loaded) = ngxr::load::load(&paths) else {
        return;
    };
    let sources = &loaded.tree.sources;
    let _ = ngxr::check::render_human(&loaded.diagnostics, sources, false);
    let _ = ngxr::check::dump_json(&loaded.tree, &loaded.diagnostics);
    let _ = loaded.refusal();
    for d in &loaded.diagnostics {
        let _ = d.nginx_text(sources);
    }
});
