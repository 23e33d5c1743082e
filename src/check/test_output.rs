//! `ngxr -t`, `-T`, `-v` and `-V` in nginx's own words, so scripts written around nginx
//! (deploy hooks, nginx's test suite) keep working.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{NginxFlags, Paths};
use crate::defaults;
use crate::diag::{AFTER_PARSE, Diagnostic, Origin, Severity};
use crate::load;
use crate::source::SourceMap;

fn line(level: &str, d: &Diagnostic, sources: &SourceMap) -> String {
    format!("ngxr: [{level}] {}", d.nginx_text(sources))
}

/// `ngxr -t` / `ngxr -T`.
pub fn run_test(paths: &Paths, flags: &NginxFlags) -> ExitCode {
    let conf = paths.conf.display();
    let failed = || {
        eprintln!("ngxr: configuration file {conf} test failed");
        ExitCode::FAILURE
    };
    let loaded = match load::load_with_globals(paths, flags.globals.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ngxr: [emerg] {e}");
            return failed();
        }
    };
    let sources = &loaded.tree.sources;
    let first_error = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .min_by_key(|d| (d.origin != Origin::Nginx, d.order));
    let syntax_ok = || {
        if !flags.quiet {
            eprintln!("ngxr: the configuration file {conf} syntax is ok");
        }
    };
    if let Some(err) = first_error {
        if err.order >= AFTER_PARSE {
            syntax_ok();
        }
        for w in loaded.nginx_warnings(err.order) {
            eprintln!("{}", line(w.nginx_level.unwrap_or("warn"), w, sources));
        }
        eprintln!("{}", line("emerg", err, sources));
        return failed();
    }
    if !flags.quiet {
        let mut warnings: Vec<&Diagnostic> = loaded
            .diagnostics
            .iter()
            // nginx's own warnings, and the one ngxr adds: what it will refuse to serve.
            .filter(|d| d.severity == Severity::Warning)
            .filter(|d| d.origin == Origin::Nginx || d.code == crate::directives::UNSUPPORTED)
            .collect();
        warnings.sort_by_key(|d| d.order);
        for w in warnings {
            eprintln!("{}", line(w.nginx_level.unwrap_or("warn"), w, sources));
        }
    }
    syntax_ok();
    if !flags.quiet {
        eprintln!("ngxr: configuration file {conf} test is successful");
    }
    if flags.test_dump {
        let mut out = std::io::stdout().lock();
        for (_, f) in sources.files().filter(|(_, f)| !f.command_line) {
            let _ = writeln!(out, "# configuration file {}:", f.path.display());
            let _ = out.write_all(&f.bytes);
            let _ = writeln!(out);
        }
    }
    ExitCode::SUCCESS
}

/// nginx modules built by default that ngxr does not implement: `-V` lists them as
/// `--without-...`, which is how nginx's test suite decides what to skip. The charset module
/// is here although `charset` is served: its recoding (`charset_map`) is not; so is the
/// autoindex module: its html listing is served, its `autoindex_format` is not.
const WITHOUT: &[&str] = &[
    "http_charset_module",
    "http_autoindex_module",
    "http_grpc_module",
    "http_memcached_module",
];

/// `ngxr -v` / `ngxr -V` (on stderr, as nginx prints them).
pub fn run_version(configure: bool) -> ExitCode {
    eprintln!(
        "nginx version: nginx/{} (ngxr {})",
        defaults::NGINX_VERSION,
        env!("CARGO_PKG_VERSION")
    );
    if configure {
        eprintln!("built with rustls");
        eprintln!("TLS SNI support enabled");
        let without: Vec<String> = WITHOUT.iter().map(|m| format!("--without-{m}")).collect();
        eprintln!(
            "configure arguments: --prefix={} --conf-path={} --error-log-path={} --pid-path={} --with-http_ssl_module --with-http_realip_module --with-http_auth_request_module --with-http_stub_status_module --with-http_sub_module --with-http_addition_module --with-http_v2_module --with-http_secure_link_module --with-http_random_index_module --with-http_flv_module --with-http_mp4_module --with-http_gunzip_module --with-http_gzip_static_module {}",
            defaults::PREFIX.trim_end_matches('/'),
            defaults::CONF_PATH,
            defaults::ERROR_LOG_PATH,
            defaults::PID_PATH,
            without.join(" ")
        );
    }
    ExitCode::SUCCESS
}
