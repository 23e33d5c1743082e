//! A location's `proxy_ssl_*` (or `uwsgi_ssl_*`) compiled for `https://` (`suwsgi://`)
//! upstreams (`ngx_http_proxy_set_ssl`):
//! nginx's defaults applied, its load-time refusals, and per request the name to send as SNI
//! and to verify (`ngx_http_upstream_ssl_name`).

use std::sync::Arc;

use super::plan::{CertificatePair, TlsTarget, UpstreamTls, VerifySpec};
use super::request::Req;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::proxy_ssl::ProxySsl;
use crate::source::Span;

/// nginx's `proxy_ssl_verify_depth` default.
const VERIFY_DEPTH: u32 = 1;

/// The compiled settings, shared by every request of the location.
#[derive(Debug)]
pub struct CTls {
    settings: Arc<UpstreamTls>,
    /// `proxy_ssl_name`; `None`: the `proxy_pass` host.
    name: Option<Complex>,
}

/// Compiles `ssl` for a location whose `proxy_pass` (at `pass`) may be https; `None` after an
/// error nginx stops at.
///
/// `prefix` (`"proxy_"`, `"uwsgi_"`) names the settings in nginx's messages.
pub fn compile(
    cx: &mut Cx<'_>,
    reg: &Registry,
    ssl: &ProxySsl,
    pass: Span,
    prefix: &str,
) -> Option<CTls> {
    let certificate = match (&ssl.certificate, &ssl.certificate_key) {
        (Some(certificate), Some(key)) => Some(CertificatePair {
            certificate: cx.conf_prefixed(certificate),
            key: cx.conf_prefixed(key),
            passwords: ssl.password_file.clone(),
        }),
        (Some(certificate), None) => {
            let message = format!(
                "no \"{prefix}ssl_certificate_key\" is defined for certificate \"{certificate}\""
            );
            cx.late_error("proxy_ssl::no_key", message, pass);
            return None;
        }
        // nginx loads a key only together with a certificate.
        (None, _) => None,
    };
    let verify = match (ssl.verify.unwrap_or(false), &ssl.trusted_certificate) {
        (false, _) => None,
        (true, Some(trusted)) => Some(VerifySpec {
            trusted: cx.conf_prefixed(trusted),
            depth: ssl.verify_depth.unwrap_or(VERIFY_DEPTH),
        }),
        (true, None) => {
            let message = format!("no {prefix}ssl_trusted_certificate for {prefix}ssl_verify");
            cx.late_error("proxy_ssl::no_trusted", message, pass);
            return None;
        }
    };
    let name = match &ssl.name {
        Some(text) => Some(Complex::compile(cx, reg, text)?),
        None => None,
    };
    let protocols = ssl.protocols.clone().unwrap_or_else(|| {
        crate::defaults::SSL_PROTOCOLS
            .iter()
            .map(|p| p.to_string())
            .collect()
    });
    Some(CTls {
        settings: Arc::new(UpstreamTls {
            protocols,
            server_name: ssl.server_name.unwrap_or(false),
            verify,
            certificate,
            session_reuse: ssl.session_reuse.unwrap_or(true),
        }),
        name,
    })
}

impl CTls {
    /// What this request's handshake needs: `proxy_ssl_name` evaluated, else `host` (the
    /// `proxy_pass` host, `$proxy_host`), without a port.
    pub fn target(&self, req: &mut Req<'_>, host: &[u8]) -> TlsTarget {
        let name = match &self.name {
            Some(value) => value.eval(req),
            None => host.to_vec(),
        };
        TlsTarget {
            settings: self.settings.clone(),
            name: String::from_utf8_lossy(without_port(&name)).into_owned(),
        }
    }
}

/// `name` up to its port, if any: the name may come from `$proxy_host` or `$http_host`
/// (nginx looks for `:` after a bracketed IPv6 address).
fn without_port(name: &[u8]) -> &[u8] {
    let from = match name.first() {
        Some(b'[') => name.iter().position(|&b| b == b']').unwrap_or(0),
        _ => 0,
    };
    match name[from..].iter().position(|&b| b == b':') {
        Some(i) => &name[..from + i],
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::without_port;

    #[test]
    fn the_port_is_cut_off_the_name() {
        assert_eq!(without_port(b"example.com"), b"example.com");
        assert_eq!(without_port(b"example.com:8443"), b"example.com");
        assert_eq!(without_port(b"[::1]:8443"), b"[::1]");
        assert_eq!(without_port(b"[::1]"), b"[::1]");
        assert_eq!(without_port(b""), b"");
    }
}
