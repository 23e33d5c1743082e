//! A server's `ssl_*` settings as the runtime needs them: certificate pairs, protocols, what
//! nginx's session cache modes amount to (how many sessions are kept where, for how long),
//! client certificates and refused handshakes; and `ngx_http_ssl_init`'s check that every
//! `ssl` address can answer a handshake.

use std::sync::Arc;
use std::time::Duration;

use super::plan::{CertificatePair, ClientAuth, ListenAddr, SessionSpec, SharedSessions, TlsSpec};
use super::site::CServer;
use super::vhost;
use crate::config::Cx;
use crate::config::ssl::{Builtin, Ssl, VerifyClient};
use crate::defaults;
use crate::diag::{AfterParse, Diagnostic, NginxAt};

/// OpenSSL's default session cache size (`SSL_SESSION_CACHE_MAX_SIZE_DEFAULT`).
const BUILTIN_DEFAULT: usize = 20 * 1024;

/// nginx's default `ssl_session_timeout`.
const SESSION_TIMEOUT: Duration = Duration::from_secs(300);

/// nginx's default `ssl_verify_depth`.
const VERIFY_DEPTH: u32 = 1;

/// The TLS settings of a server that has certificates or refuses handshakes (the checks
/// already refused a certificate without its key).
pub fn spec(ssl: &Ssl) -> Option<Arc<TlsSpec>> {
    let reject = ssl.reject_handshake.unwrap_or(false);
    let certificates: Vec<CertificatePair> = match (&ssl.certificate, &ssl.certificate_key) {
        (Some(certificates), Some(keys)) => certificates
            .iter()
            .zip(keys)
            .map(|(certificate, key)| CertificatePair {
                certificate: certificate.clone(),
                key: key.clone(),
                passwords: ssl.password_file.clone(),
            })
            .collect(),
        _ if reject => Vec::new(),
        _ => return None,
    };
    let protocols = ssl.protocols.clone().unwrap_or_else(|| {
        defaults::SSL_PROTOCOLS
            .iter()
            .map(|p| p.to_string())
            .collect()
    });
    Some(Arc::new(TlsSpec {
        certificates,
        protocols,
        sessions: sessions(ssl),
        reject,
        client_auth: client_auth(ssl),
    }))
}

/// nginx loads each certificate key when it merges the server: one sealed with a passphrase
/// must open with `ssl_password_file`'s passwords.
pub fn check_keys(cx: &mut Cx<'_>, server: crate::source::Span, spec: Option<&TlsSpec>) {
    for pair in spec.map_or(&[][..], |s| &s.certificates) {
        let Ok(pem) = std::fs::read_to_string(&pair.key) else {
            continue;
        };
        let passwords = pair.passwords.as_ref().map_or(&[][..], |p| &p.0);
        if let Err(why) = crate::x509::private_key::open(&pem, passwords) {
            let message = format!(
                "cannot load certificate key \"{}\": PEM_read_bio_PrivateKey() failed ({})",
                pair.key.display(),
                why.0
            );
            cx.late_error("ssl::key_password", message, server);
        }
    }
}

/// `ssl_verify_client`'s setting (`off` by default).
pub fn verify_client(ssl: &Ssl) -> VerifyClient {
    ssl.verify_client.unwrap_or(VerifyClient::Off)
}

/// What the handshake asks of clients when `ssl_verify_client` is not `off`.
fn client_auth(ssl: &Ssl) -> Option<Arc<ClientAuth>> {
    if verify_client(ssl) == VerifyClient::Off {
        return None;
    }
    Some(Arc::new(ClientAuth {
        client_certificate: ssl.client_certificate.clone(),
        trusted_certificate: ssl.trusted_certificate.clone(),
        crl: ssl.crl.clone(),
        depth: ssl.verify_depth.unwrap_or(VERIFY_DEPTH),
    }))
}

/// `ngx_http_ssl_init`: on each `ssl` address the default server needs a certificate unless
/// it refuses handshakes, and then every other server there needs one or refuses too. nginx
/// names the `server` block's line.
pub fn check_certificates(cx: &mut Cx<'_>, servers: &[CServer]) {
    let mut addrs: Vec<&ListenAddr> = Vec::new();
    for l in servers.iter().flat_map(|s| &s.listens).filter(|l| l.ssl) {
        if !addrs.contains(&&l.addr) {
            addrs.push(&l.addr);
        }
    }
    let answers = |s: &CServer| s.tls.as_ref().is_some_and(|t| !t.certificates.is_empty());
    let rejects = |s: &CServer| s.tls.as_ref().is_some_and(|t| t.reject);
    for (i, addr) in addrs.into_iter().enumerate() {
        let on = vhost::on_socket(servers, addr, addr);
        let Some(default) = vhost::default(&on, addr) else {
            continue;
        };
        let missing = if answers(default) {
            None
        } else if !rejects(default) {
            Some(default)
        } else {
            on.iter().copied().find(|s| !answers(s) && !rejects(s))
        };
        if let Some(server) = missing {
            let pos = cx.tree.sources.nginx_pos(server.span);
            let message = format!(
                "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in {pos}"
            );
            let mut d = Diagnostic::emerg("ssl::no_certificate", message, server.span, server.span)
                .at(NginxAt::Nowhere);
            d.order = AfterParse::InitModules.order(i as u64);
            cx.sink.push(d);
        }
    }
}

/// `off` and `none` store nothing, whatever else is named; `builtin` and `shared:` may both
/// hold sessions.
fn sessions(ssl: &Ssl) -> SessionSpec {
    let builtin = ssl.builtin();
    let stores = !matches!(builtin, Builtin::Off | Builtin::None);
    SessionSpec {
        builtin: match builtin {
            Builtin::Default => Some(BUILTIN_DEFAULT),
            // OpenSSL reads a size of 0 as "no limit".
            Builtin::Sized(0) => Some(usize::MAX),
            Builtin::Sized(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            Builtin::Off | Builtin::None | Builtin::NotBuiltin => None,
        },
        shared: ssl
            .session_cache_shared
            .as_ref()
            .filter(|_| stores)
            .map(|z| SharedSessions {
                name: z.name.clone(),
                size: z.size,
            }),
        tickets: ssl.session_tickets.unwrap_or(true),
        timeout: ssl.session_timeout.unwrap_or(SESSION_TIMEOUT),
        ticket_keys: ssl.session_ticket_keys.clone().unwrap_or_default(),
    }
}
