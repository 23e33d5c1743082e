//! A server's `ssl_*` settings as the runtime needs them: certificate pairs, protocols, and
//! what nginx's session cache modes amount to (how many sessions are kept where, for how long).

use std::sync::Arc;
use std::time::Duration;

use super::plan::{CertificatePair, SessionSpec, SharedSessions, TlsSpec};
use crate::config::ssl::{Builtin, Ssl};
use crate::defaults;

/// OpenSSL's default session cache size (`SSL_SESSION_CACHE_MAX_SIZE_DEFAULT`).
const BUILTIN_DEFAULT: usize = 20 * 1024;

/// nginx's default `ssl_session_timeout`.
const SESSION_TIMEOUT: Duration = Duration::from_secs(300);

/// The TLS settings of a server that has certificates (the checks already refused a
/// certificate without its key).
pub fn spec(ssl: &Ssl) -> Option<Arc<TlsSpec>> {
    let certificates: Vec<CertificatePair> = ssl
        .certificate
        .as_deref()?
        .iter()
        .zip(ssl.certificate_key.as_deref()?)
        .map(|(certificate, key)| CertificatePair {
            certificate: certificate.clone(),
            key: key.clone(),
        })
        .collect();
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
    }))
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
    }
}
