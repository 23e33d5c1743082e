//! The `ssl_*` settings of the http module (`ngx_http_ssl_srv_conf_t`): certificates, protocols
//! and how sessions are resumed. nginx keeps them per server and a server inherits whatever it
//! does not set from `http`; the session cache's builtin mode and its shared zone inherit
//! separately, as `ngx_http_ssl_merge_srv_conf` merges them. Client certificates
//! (`ssl_verify_client` and the files it reads), `ssl_reject_handshake` and the ticket keys
//! are per server too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Cx;
use super::settings::{flag, inherit_opt, set};
use super::units::parse_sec;
use crate::eval::plan::Passwords;
use crate::syntax::Directive;

/// nginx's page size on Linux: a shared zone needs at least 8 pages.
const MIN_SHARED_ZONE: u64 = 8 * 4096;

/// The server-level TLS settings; `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ssl {
    /// The deprecated `ssl on`: connections to an address whose default server has it are
    /// TLS, as if its `listen` said `ssl`.
    pub enable: Option<bool>,
    /// Every `ssl_certificate` of the level, in order (nginx can serve several: RSA and ECDSA).
    pub certificate: Option<Vec<PathBuf>>,
    /// Every `ssl_certificate_key`, paired with `certificate` by position.
    pub certificate_key: Option<Vec<PathBuf>>,
    pub protocols: Option<Vec<String>>,
    /// `ssl_session_cache`'s `off` / `none` / `builtin[:N]`.
    pub session_cache: Option<Builtin>,
    /// `ssl_session_cache shared:NAME:SIZE`.
    pub session_cache_shared: Option<SharedZone>,
    pub session_tickets: Option<bool>,
    pub session_timeout: Option<Duration>,
    /// Every `ssl_session_ticket_key` of the level, in order (the first encrypts).
    pub session_ticket_keys: Option<Vec<PathBuf>>,
    pub verify_client: Option<VerifyClient>,
    pub verify_depth: Option<u32>,
    /// `ssl_client_certificate`: trusted, and the names sent to clients.
    pub client_certificate: Option<PathBuf>,
    /// `ssl_trusted_certificate`: trusted, not sent.
    pub trusted_certificate: Option<PathBuf>,
    pub crl: Option<PathBuf>,
    pub reject_handshake: Option<bool>,
    /// `ssl_password_file`, read when the directive is (as nginx reads it).
    pub password_file: Option<Arc<Passwords>>,
}

/// `ssl_verify_client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyClient {
    Off,
    /// A verified certificate is required (nginx's 1).
    On,
    /// A certificate is asked for; one sent must verify (2).
    Optional,
    /// A certificate is asked for; one whose issuer is unknown passes too (3).
    OptionalNoCa,
}

/// What OpenSSL's own (per-context) session cache does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `off`: sessions are neither stored nor offered.
    Off,
    /// `none` (the default): the server offers session ids but stores nothing.
    None,
    /// `builtin`: OpenSSL's default size (20480 sessions).
    Default,
    /// `builtin:N` (`0`: no limit).
    Sized(u64),
    /// Only a `shared:` zone was named: no builtin store.
    NotBuiltin,
}

/// A named session cache shared by every server that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedZone {
    pub name: String,
    pub size: u64,
}

impl Ssl {
    /// Fills what this level did not set from `parent`.
    pub fn inherit(&mut self, parent: &Ssl) {
        let Ssl {
            enable,
            certificate,
            certificate_key,
            protocols,
            session_cache,
            session_cache_shared,
            session_tickets,
            session_timeout,
            session_ticket_keys,
            verify_client,
            verify_depth,
            client_certificate,
            trusted_certificate,
            crl,
            reject_handshake,
            password_file,
        } = parent;
        self.enable = self.enable.or(*enable);
        inherit_opt(&mut self.certificate, certificate);
        inherit_opt(&mut self.certificate_key, certificate_key);
        inherit_opt(&mut self.protocols, protocols);
        self.session_cache = self.session_cache.or(*session_cache);
        inherit_opt(&mut self.session_cache_shared, session_cache_shared);
        self.session_tickets = self.session_tickets.or(*session_tickets);
        self.session_timeout = self.session_timeout.or(*session_timeout);
        inherit_opt(&mut self.session_ticket_keys, session_ticket_keys);
        self.verify_client = self.verify_client.or(*verify_client);
        self.verify_depth = self.verify_depth.or(*verify_depth);
        inherit_opt(&mut self.client_certificate, client_certificate);
        inherit_opt(&mut self.trusted_certificate, trusted_certificate);
        inherit_opt(&mut self.crl, crl);
        self.reject_handshake = self.reject_handshake.or(*reject_handshake);
        inherit_opt(&mut self.password_file, password_file);
    }

    /// Reads `d` if it is one of the settings here; `false` otherwise.
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive) -> bool {
        match d.name() {
            "ssl_certificate" | "ssl_certificate_key" => {
                let Some(path) = d.arg(0) else {
                    cx.arity(d);
                    return true;
                };
                let list = if d.name() == "ssl_certificate" {
                    &mut self.certificate
                } else {
                    &mut self.certificate_key
                };
                list.get_or_insert_with(Vec::new)
                    .push(cx.conf_prefixed(path));
            }
            "ssl" => flag(cx, d, &mut self.enable),
            "ssl_protocols" => {
                self.protocols = Some(d.args.iter().map(|w| w.value.clone()).collect());
            }
            "ssl_session_cache" => self.session_cache(cx, d),
            "ssl_session_tickets" => flag(cx, d, &mut self.session_tickets),
            "ssl_session_timeout" => set(cx, d, &mut self.session_timeout, parse_sec),
            "ssl_session_ticket_key" => {
                let Some(path) = d.arg(0) else {
                    cx.arity(d);
                    return true;
                };
                self.session_ticket_keys
                    .get_or_insert_with(Vec::new)
                    .push(cx.conf_prefixed(path));
            }
            "ssl_verify_client" => set(cx, d, &mut self.verify_client, |v| match v {
                "off" => Some(VerifyClient::Off),
                "on" => Some(VerifyClient::On),
                "optional" => Some(VerifyClient::Optional),
                "optional_no_ca" => Some(VerifyClient::OptionalNoCa),
                _ => None,
            }),
            "ssl_verify_depth" => set(cx, d, &mut self.verify_depth, |v| v.parse().ok()),
            "ssl_client_certificate" => path(cx, d, &mut self.client_certificate),
            "ssl_trusted_certificate" => path(cx, d, &mut self.trusted_certificate),
            "ssl_crl" => path(cx, d, &mut self.crl),
            "ssl_reject_handshake" => flag(cx, d, &mut self.reject_handshake),
            "ssl_password_file" => password_file(cx, d, &mut self.password_file),
            _ => return false,
        }
        true
    }

    /// `ngx_http_ssl_session_cache`: each argument in turn, the last builtin mode winning.
    fn session_cache(&mut self, cx: &mut Cx<'_>, d: &Directive) {
        let mut builtin = None;
        for arg in d.args.iter().map(|w| w.as_str()) {
            match parse_cache(arg) {
                Some(Cache::Builtin(mode)) => builtin = Some(mode),
                Some(Cache::Shared(zone)) if zone.size < MIN_SHARED_ZONE => {
                    return cx.error(d, format!("session cache \"{arg}\" is too small"));
                }
                Some(Cache::Shared(zone)) => self.session_cache_shared = Some(zone),
                None => return cx.error(d, format!("invalid session cache \"{arg}\"")),
            }
        }
        if builtin.is_none() && self.session_cache_shared.is_some() {
            builtin = Some(Builtin::NotBuiltin);
        }
        if builtin.is_some() {
            self.session_cache = builtin;
        }
    }

    /// The effective builtin mode (nginx's default is `none`).
    pub fn builtin(&self) -> Builtin {
        self.session_cache.unwrap_or(Builtin::None)
    }
}

/// `ssl_password_file` and `proxy_ssl_password_file`: the file is read when the directive is,
/// as nginx reads it.
pub(super) fn password_file(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<Arc<Passwords>>) {
    if slot.is_some() {
        return cx.duplicate(d);
    }
    if let Some(file) = d.arg(0) {
        match read_passwords(&cx.conf_prefixed(file)) {
            Ok(passwords) => *slot = Some(Arc::new(passwords)),
            Err(message) => cx.error(d, message),
        }
    }
}

/// nginx's longest password line (`NGX_SSL_PASSWORD_BUFFER_SIZE`).
const PASSWORD_LINE: usize = 4096;

/// `ngx_ssl_read_password_file`: one password a line (a `\r` before the `\n` dropped, empty
/// lines skipped); a file with none gives one empty password.
fn read_passwords(path: &std::path::Path) -> Result<Passwords, String> {
    let bytes = std::fs::read(path).map_err(|e| crate::syntax::include::open_failed(path, &e))?;
    let mut passwords = Vec::new();
    for line in bytes.split(|&b| b == b'\n') {
        if line.len() >= PASSWORD_LINE {
            return Err(format!("too long line in \"{}\"", path.display()));
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.is_empty() {
            passwords.push(line.to_vec());
        }
    }
    if passwords.is_empty() {
        passwords.push(Vec::new());
    }
    Ok(Passwords(passwords))
}

/// A file of a `str` slot: read from the configuration's directory when relative.
fn path(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<PathBuf>) {
    let prefixed = d.arg(0).map(|p| cx.conf_prefixed(p));
    set(cx, d, slot, |_| prefixed.clone());
}

/// One argument of `ssl_session_cache`.
enum Cache {
    Builtin(Builtin),
    Shared(SharedZone),
}

fn parse_cache(arg: &str) -> Option<Cache> {
    let mode = match arg {
        "off" => Builtin::Off,
        "none" => Builtin::None,
        "builtin" => Builtin::Default,
        _ => {
            if let Some(n) = arg.strip_prefix("builtin:").filter(|n| !n.is_empty()) {
                return n.parse().ok().map(|n| Cache::Builtin(Builtin::Sized(n)));
            }
            let rest = arg.strip_prefix("shared:")?;
            let (name, size) = rest.split_once(':')?;
            if name.is_empty() {
                return None;
            }
            let size = crate::units::parse_size(size).and_then(|n| u64::try_from(n).ok())?;
            return Some(Cache::Shared(SharedZone {
                name: name.to_string(),
                size,
            }));
        }
    };
    Some(Cache::Builtin(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(arg: &str) -> Option<Builtin> {
        match parse_cache(arg)? {
            Cache::Builtin(b) => Some(b),
            Cache::Shared(_) => None,
        }
    }

    #[test]
    fn password_files_are_read_line_by_line() {
        let dir = std::env::temp_dir().join(format!("ngxr-passwords-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("passwords");
        std::fs::write(&file, "wrong\r\n\n\nsecret").expect("write");
        let read = read_passwords(&file).expect("read");
        assert_eq!(read.0, vec![b"wrong".to_vec(), b"secret".to_vec()]);
        std::fs::write(&file, "\n\r\n").expect("write");
        assert_eq!(
            read_passwords(&file).expect("read").0,
            vec![Vec::<u8>::new()]
        );
        std::fs::write(&file, "").expect("write");
        assert_eq!(
            read_passwords(&file).expect("read").0,
            vec![Vec::<u8>::new()]
        );
        std::fs::write(&file, vec![b'x'; 5000]).expect("write");
        assert!(read_passwords(&file).is_err());
        assert!(read_passwords(&dir.join("none")).is_err());
    }

    #[test]
    fn session_cache_arguments() {
        assert_eq!(builtin("off"), Some(Builtin::Off));
        assert_eq!(builtin("none"), Some(Builtin::None));
        assert_eq!(builtin("builtin"), Some(Builtin::Default));
        assert_eq!(builtin("builtin:1000"), Some(Builtin::Sized(1000)));
        assert!(parse_cache("builtin:").is_none());
        assert!(parse_cache("builtin:x").is_none());
        match parse_cache("shared:SSL:1m") {
            Some(Cache::Shared(z)) => assert_eq!((z.name.as_str(), z.size), ("SSL", 1 << 20)),
            _ => panic!("shared:SSL:1m is a shared zone"),
        }
        assert!(parse_cache("shared::1m").is_none());
        assert!(parse_cache("shared:SSL").is_none());
        assert!(parse_cache("shared:SSL:1x").is_none());
        assert!(parse_cache("on").is_none());
    }
}
