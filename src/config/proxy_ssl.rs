//! The `proxy_ssl_*` settings: how nginx talks TLS to an `https://` upstream (and the
//! `uwsgi_ssl_*` ones, the same for `suwsgi://`). Each is a
//! location-level value inherited from the enclosing level when not set, as
//! `ngx_http_proxy_merge_loc_conf` merges them; the defaults (no verification, no SNI,
//! sessions reused) are applied where they are compiled (`eval::proxy_conf`).

use std::sync::Arc;

use super::settings::{flag, inherit_opt, set};
use super::{Cx, Text};
use crate::eval::plan::Passwords;
use crate::syntax::Directive;

/// One level's `proxy_ssl_*`; `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySsl {
    /// Paths as written (nginx's messages quote them so); relative ones are read from the
    /// configuration's directory.
    pub certificate: Option<String>,
    pub certificate_key: Option<String>,
    /// `proxy_ssl_password_file`: what opens a `proxy_ssl_certificate_key` sealed with a
    /// passphrase.
    pub password_file: Option<Arc<Passwords>>,
    /// `proxy_ssl_name`: the name to send and verify (default: the `proxy_pass` host).
    pub name: Option<Text>,
    pub protocols: Option<Vec<String>>,
    pub server_name: Option<bool>,
    pub session_reuse: Option<bool>,
    pub trusted_certificate: Option<String>,
    pub verify: Option<bool>,
    pub verify_depth: Option<u32>,
}

impl ProxySsl {
    /// Fills what this level did not set from `parent`.
    pub fn inherit(&mut self, parent: &ProxySsl) {
        let ProxySsl {
            certificate,
            certificate_key,
            password_file,
            name,
            protocols,
            server_name,
            session_reuse,
            trusted_certificate,
            verify,
            verify_depth,
        } = parent;
        // nginx merges the certificate and its key as one pair of pointers each, so a level
        // that sets only one of them still takes the other from above.
        inherit_opt(&mut self.certificate, certificate);
        inherit_opt(&mut self.certificate_key, certificate_key);
        inherit_opt(&mut self.password_file, password_file);
        inherit_opt(&mut self.name, name);
        inherit_opt(&mut self.protocols, protocols);
        self.server_name = self.server_name.or(*server_name);
        self.session_reuse = self.session_reuse.or(*session_reuse);
        inherit_opt(&mut self.trusted_certificate, trusted_certificate);
        self.verify = self.verify.or(*verify);
        self.verify_depth = self.verify_depth.or(*verify_depth);
    }

    /// Reads `d` if it is one of the settings here; `false` otherwise.
    /// Reads `d` if it is one of the settings under `prefix` (`"proxy_"`, `"uwsgi_"`).
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive, prefix: &str) -> bool {
        let Some(name) = d.name().strip_prefix(prefix) else {
            return false;
        };
        match name {
            "ssl_certificate" => path(cx, d, &mut self.certificate),
            "ssl_certificate_key" => path(cx, d, &mut self.certificate_key),
            "ssl_trusted_certificate" => path(cx, d, &mut self.trusted_certificate),
            "ssl_password_file" => super::ssl::password_file(cx, d, &mut self.password_file),
            "ssl_name" => {
                if self.name.is_some() {
                    cx.duplicate(d);
                } else {
                    self.name = cx.text(d, 0);
                }
            }
            "ssl_protocols" => {
                self.protocols = Some(d.args.iter().map(|w| w.value.clone()).collect());
            }
            "ssl_server_name" => flag(cx, d, &mut self.server_name),
            "ssl_session_reuse" => flag(cx, d, &mut self.session_reuse),
            "ssl_verify" => flag(cx, d, &mut self.verify),
            "ssl_verify_depth" => set(cx, d, &mut self.verify_depth, |s| s.parse().ok()),
            _ => return false,
        }
        true
    }
}

/// A file path. nginx 1.22 also takes variables in `proxy_ssl_certificate` (loading the pair
/// per request); ngxr refuses those rather than read `$name` as a file name.
fn path(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<String>) {
    if slot.is_some() {
        return cx.duplicate(d);
    }
    let Some(w) = d.args.first() else {
        return cx.arity(d);
    };
    if w.value.contains('$') {
        let what = format!("\"{}\" with variables", d.name());
        return cx.unsupported(d, w.span, &what);
    }
    *slot = Some(w.value.clone());
}
