//! The checks `nginx -t` makes against the machine rather than the text: the `user` exists,
//! modules, certificates and log directories are there (`resolver` names are
//! `config::resolver`'s, which needs their addresses). Like nginx's, these verdicts depend on
//! where the check runs.

use std::path::{Path, PathBuf};

use crate::cli::Paths;
use crate::diag::{AfterParse, Diagnostic, NginxAt, Severity, Sink};
use crate::syntax::include::full_name;
use crate::syntax::{Directive, SyntaxTree};
use crate::x509::Certificate;

fn emerg(tree: &SyntaxTree, d: &Directive, code: &'static str, message: String) -> Diagnostic {
    let mut diag = Diagnostic::emerg(code, message, d.span(), d.end);
    diag.order = tree.order_of(d);
    diag
}

/// An error nginx finds without a position, at `order`.
fn emerg_nowhere(
    tree: &SyntaxTree,
    d: &Directive,
    code: &'static str,
    message: String,
    order: u64,
) -> Diagnostic {
    let mut diag = emerg(tree, d, code, message).at(NginxAt::Nowhere);
    diag.order = order;
    diag
}

/// OpenSSL 3's words for a certificate or key file that is not there.
fn bio_missing(path: &Path) -> String {
    format!(
        "BIO_new_file() failed (SSL: error:80000002:system library::No such file or directory:calling fopen({}, r) error:10000080:BIO routines::no such file)",
        path.display()
    )
}

/// Per-directive machine checks, made when the directive is read.
pub(super) fn check_directive(tree: &SyntaxTree, paths: &Paths, d: &Directive, sink: &mut Sink) {
    match d.name() {
        "user" => user(tree, d, sink),
        "load_module" => {
            let Some(arg) = d.arg(0) else { return };
            let path = full_name(&paths.prefix, arg);
            if !path.exists() {
                let p = path.display();
                let msg = format!(
                    "dlopen() \"{p}\" failed ({p}: cannot open shared object file: No such file or directory)"
                );
                sink.push(emerg(tree, d, "file::module", msg));
            }
        }
        "error_log" | "access_log" => {
            let Some(arg) = d.arg(0) else { return };
            if arg == "off" || arg == "stderr" || arg.contains(':') || arg.contains('$') {
                return;
            }
            let step = AfterParse::LogFiles;
            missing_dir(tree, d, &full_name(&paths.prefix, arg), "open", step, sink);
        }
        "pid" => {
            // nginx -t opens (creates) the pid file, so its directory must exist.
            let Some(arg) = d.arg(0).filter(|a| *a != "off") else {
                return;
            };
            let step = AfterParse::PidFile;
            missing_dir(tree, d, &full_name(&paths.prefix, arg), "open", step, sink);
        }
        name if name.ends_with("_temp_path") => {
            let Some(arg) = d.arg(0) else { return };
            let path = full_name(&paths.prefix, arg);
            if !path.is_dir() {
                missing_dir(tree, d, &path, "mkdir", AfterParse::TempPaths, sink);
            }
        }
        _ => {}
    }
}

/// nginx creates `path` (a file it opens, or a directory) after parsing: its parent must be
/// there, or `call() "path" failed (2: No such file or directory)`.
fn missing_dir(
    tree: &SyntaxTree,
    d: &Directive,
    path: &Path,
    call: &str,
    step: AfterParse,
    sink: &mut Sink,
) {
    if path.parent().is_some_and(Path::is_dir) {
        return;
    }
    let msg = format!(
        "{call}() \"{}\" failed (2: No such file or directory)",
        path.display()
    );
    let order = step.order(tree.order_of(d));
    sink.push(emerg_nowhere(tree, d, "file::missing_dir", msg, order));
}

/// `user USER [GROUP]`: as root, nginx looks both up (and ignores the directive otherwise).
fn user(tree: &SyntaxTree, d: &Directive, sink: &mut Sink) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let Some(name) = d.arg(0) else { return };
    if !matches!(nix::unistd::User::from_name(name), Ok(Some(_))) {
        sink.push(emerg(
            tree,
            d,
            "user::unknown",
            format!("getpwnam(\"{name}\") failed"),
        ));
        return;
    }
    let group = d.arg(1).unwrap_or(name);
    if !matches!(nix::unistd::Group::from_name(group), Ok(Some(_))) {
        sink.push(emerg(
            tree,
            d,
            "user::unknown_group",
            format!("getgrnam(\"{group}\") failed"),
        ));
    }
}

/// Certificates as nginx loads them when it merges each `server` with `http`.
pub(super) fn check_http(tree: &SyntaxTree, paths: &Paths, sink: &mut Sink) {
    for http in tree
        .expand(&tree.main().directives)
        .into_iter()
        .filter(|d| d.name() == "http")
    {
        // nginx loads certificates when it merges servers, as the `http` block closes.
        let merge = tree.order_after(http.children());
        let http_level = tree.expand(http.children());
        for server in http_level
            .iter()
            .filter(|d| d.name() == "server" && d.is_block())
        {
            let level = tree.expand(server.children());
            let pick = |name: &str| -> Vec<&Directive> {
                let own: Vec<&Directive> =
                    level.iter().copied().filter(|d| d.name() == name).collect();
                if own.is_empty() {
                    http_level
                        .iter()
                        .copied()
                        .filter(|d| d.name() == name)
                        .collect()
                } else {
                    own
                }
            };
            let certs = pick("ssl_certificate");
            let keys = pick("ssl_certificate_key");
            let last = |name: &str| pick(name).last().and_then(|d| d.arg(0));
            let rejects = last("ssl_reject_handshake") == Some("on");
            if let Some(msg) = ssl_on_without_pair(tree, &pick("ssl"), &certs, &keys, rejects) {
                sink.push(emerg_nowhere(
                    tree,
                    server,
                    "ssl::no_certificate",
                    msg,
                    merge,
                ));
                continue;
            }
            if certs.is_empty() && !rejects {
                continue;
            }
            if keys.len() < certs.len() {
                if let Some(c) = certs.last().and_then(|c| c.arg(0)) {
                    let msg =
                        format!("no \"ssl_certificate_key\" is defined for certificate \"{c}\"");
                    sink.push(emerg_nowhere(tree, server, "ssl::no_key", msg, merge));
                }
                continue;
            }
            for (cert, key) in certs.iter().zip(&keys) {
                load_pem(tree, paths, cert, "certificate", sink, merge);
                load_pem(tree, paths, key, "certificate key", sink, merge);
            }
            let at = Loading {
                tree,
                paths,
                order: merge,
            };
            let verify = last("ssl_verify_client").unwrap_or("off");
            if verify != "off" {
                match pick("ssl_client_certificate").last() {
                    Some(file) => at.verify_locations(file, "SSL_CTX_load_verify_locations", sink),
                    None if verify != "optional_no_ca" => {
                        let msg = "no ssl_client_certificate for ssl_verify_client".to_string();
                        sink.push(emerg_nowhere(tree, server, "ssl::no_client_ca", msg, merge));
                    }
                    None => {}
                }
            }
            if let Some(file) = pick("ssl_trusted_certificate").last() {
                at.verify_locations(file, "SSL_CTX_load_verify_locations", sink);
            }
            if let Some(file) = pick("ssl_crl").last() {
                at.verify_locations(file, "X509_LOOKUP_load_file", sink);
            }
            let closed = match &http.body {
                crate::syntax::Body::Block {
                    close: Some(close), ..
                } => *close,
                _ => http.end,
            };
            for key in pick("ssl_session_ticket_key") {
                at.ticket_key(key, closed, sink);
            }
            let on = |name: &str| last(name).is_some_and(|v| v.eq_ignore_ascii_case("on"));
            if on("ssl_stapling") && pick("ssl_stapling_file").is_empty() {
                let mut trusted = pick("ssl_trusted_certificate");
                if verify != "off" {
                    trusted.extend(pick("ssl_client_certificate"));
                }
                let responder = !pick("ssl_stapling_responder").is_empty();
                for msg in stapling_ignored(paths, &certs, &trusted, responder) {
                    let warning = emerg_nowhere(tree, server, "ssl::stapling", msg, merge)
                        .with_severity(Severity::Warning);
                    sink.push_repeated(warning);
                }
            }
        }
    }
}

/// `ngx_http_ssl_merge_srv_conf` for a server with `ssl on` (its own or `http`'s): it needs a
/// certificate (unless it refuses handshakes) and a key for each, and nginx names the `ssl`
/// directive's place.
fn ssl_on_without_pair(
    tree: &SyntaxTree,
    ssl: &[&Directive],
    certs: &[&Directive],
    keys: &[&Directive],
    rejects: bool,
) -> Option<String> {
    let on = ssl
        .last()
        .filter(|d| d.arg(0).is_some_and(|v| v.eq_ignore_ascii_case("on")))?;
    let pos = tree.sources.nginx_pos(on.end);
    match certs.last().and_then(|c| c.arg(0)) {
        None if rejects => None,
        None => Some(format!(
            "no \"ssl_certificate\" is defined for the \"ssl\" directive in {pos}"
        )),
        Some(_) if keys.is_empty() => Some(format!(
            "no \"ssl_certificate_key\" is defined for the \"ssl\" directive in {pos}"
        )),
        Some(c) if keys.len() < certs.len() => Some(format!(
            "no \"ssl_certificate_key\" is defined for certificate \"{c}\" and the \"ssl\" directive in {pos}"
        )),
        Some(_) => None,
    }
}

/// `ngx_ssl_stapling` as a server with `ssl_stapling on` (and no `ssl_stapling_file`) runs it
/// when nginx merges it: each certificate, the last loaded first, needs its issuer (after it
/// in its file, or among the trusted certificates) and, unless `ssl_stapling_responder` names
/// one, an OCSP responder in the certificate; otherwise stapling is ignored with a warning.
fn stapling_ignored(
    paths: &Paths,
    certs: &[&Directive],
    trusted: &[&Directive],
    responder: bool,
) -> Vec<String> {
    let read = |d: &Directive| -> Option<(PathBuf, Vec<Vec<u8>>)> {
        let arg = d
            .arg(0)
            .filter(|a| !a.contains('$') && !a.starts_with("data:"))?;
        let path = full_name(&paths.conf_prefix, arg);
        let pem = std::fs::read_to_string(&path).ok()?;
        Some((path, crate::x509::pem_certificates(&pem)))
    };
    let store: Vec<Vec<u8>> = trusted
        .iter()
        .filter_map(|d| read(d))
        .flat_map(|(_, ders)| ders)
        .collect();
    let mut out = Vec::new();
    for (path, ders) in certs.iter().rev().filter_map(|d| read(d)) {
        let Some(leaf) = ders.first().and_then(|der| Certificate::parse(der)) else {
            continue;
        };
        let issued = |der: &Vec<u8>| Certificate::parse(der).is_some_and(|c| c.issued(&leaf));
        let path = path.display();
        if !ders[1..].iter().chain(&store).any(issued) {
            out.push(format!(
                "\"ssl_stapling\" ignored, issuer certificate not found for certificate \"{path}\""
            ));
        } else if !responder && !leaf.extensions.ocsp_responder {
            out.push(format!(
                "\"ssl_stapling\" ignored, no OCSP responder URL in the certificate \"{path}\""
            ));
        }
    }
    out
}

/// Where a server's TLS files are loaded: when nginx merges it, in `http`'s place.
struct Loading<'t> {
    tree: &'t SyntaxTree,
    paths: &'t Paths,
    order: u64,
}

impl Loading<'_> {
    /// `ssl_client_certificate`, `ssl_trusted_certificate`, `ssl_crl`: a PEM file with at
    /// least one certificate or CRL, as OpenSSL's `call` loads it.
    fn verify_locations(&self, d: &Directive, call: &str, sink: &mut Sink) {
        let Some(arg) = d.arg(0) else { return };
        let path = full_name(&self.paths.conf_prefix, arg);
        let p = path.display();
        let why = match std::fs::read(&path) {
            Err(_) => format!(
                "SSL: error:80000002:system library::No such file or directory:calling fopen({p}, r) error:10000080:BIO routines::no such file error:05880002:x509 certificate routines::system lib"
            ),
            Ok(bytes) if !has_certificate_or_crl(&bytes) => {
                "SSL: error:05800088:x509 certificate routines::no certificate or crl found"
                    .to_string()
            }
            Ok(_) => return,
        };
        let msg = format!("{call}(\"{p}\") failed ({why})");
        sink.push(emerg_nowhere(self.tree, d, "ssl::load", msg, self.order));
    }

    /// `ssl_session_ticket_key`: a file of 48 or 80 bytes. nginx reports it at the line its
    /// reading stopped at, the end of `http` (`end`).
    fn ticket_key(&self, d: &Directive, end: crate::source::Span, sink: &mut Sink) {
        let Some(arg) = d.arg(0) else { return };
        let path = full_name(&self.paths.conf_prefix, arg);
        let msg = match std::fs::metadata(&path) {
            Err(e) => crate::syntax::include::open_failed(&path, &e),
            Ok(m) if m.len() != 48 && m.len() != 80 => {
                format!("\"{}\" must be 48 or 80 bytes", path.display())
            }
            Ok(_) => return,
        };
        let mut diag = Diagnostic::emerg("ssl::ticket_key", msg, d.span(), end);
        diag.order = self.order;
        sink.push(diag);
    }
}

/// Whether a PEM file holds a certificate or a CRL (what `X509_load_cert_crl_file` needs).
fn has_certificate_or_crl(pem: &[u8]) -> bool {
    [
        &b"-----BEGIN CERTIFICATE-----"[..],
        b"-----BEGIN X509 CERTIFICATE-----",
        b"-----BEGIN TRUSTED CERTIFICATE-----",
        b"-----BEGIN X509 CRL-----",
    ]
    .iter()
    .any(|begin| pem.windows(begin.len()).any(|w| w == *begin))
}

fn load_pem(
    tree: &SyntaxTree,
    paths: &Paths,
    d: &Directive,
    what: &str,
    sink: &mut Sink,
    merge: u64,
) {
    let Some(arg) = d.arg(0) else { return };
    if arg.contains('$') || arg.starts_with("data:") || arg.starts_with("engine:") {
        return;
    }
    let path: PathBuf = full_name(&paths.conf_prefix, arg);
    let msg = match std::fs::read(&path) {
        Err(_) => format!(
            "cannot load {what} \"{}\": {}",
            path.display(),
            bio_missing(&path)
        ),
        Ok(bytes) if !bytes.windows(11).any(|w| w == b"-----BEGIN ") => {
            let call = if what == "certificate" {
                "PEM_read_bio_X509_AUX"
            } else {
                "PEM_read_bio_PrivateKey"
            };
            format!(
                "cannot load {what} \"{}\": {call}() failed (SSL: error:0480006C:PEM routines::no start line)",
                path.display()
            )
        }
        Ok(_) => return,
    };
    sink.push(emerg_nowhere(tree, d, "ssl::load", msg, merge));
}
