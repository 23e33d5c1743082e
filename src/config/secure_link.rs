//! The secure_link module's settings (`ngx_http_secure_link_conf_t`): `secure_link` and
//! `secure_link_md5` are inherited one by one; `secure_link_secret` (the old form) is
//! inherited only by a level left with neither of them, and a level may not write it beside
//! either (`ngx_http_secure_link_merge_conf`, which says so as the `http` block closes).

use super::settings::inherit_opt;
use super::{Cx, Text};
use crate::syntax::Directive;

/// One level's secure_link settings; `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecureLink {
    /// `secure_link`: the link's hash, then `,expires`.
    pub variable: Option<Text>,
    /// `secure_link_md5`: what the hash must be the MD5 of.
    pub md5: Option<Text>,
    /// `secure_link_secret`: `/prefix/HEX-MD5/link` checked against `link` and the secret.
    pub secret: Option<String>,
}

impl SecureLink {
    /// Reads `d` if it is one of the settings here; `false` otherwise.
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive) -> bool {
        let mixed = self.mixed();
        let slot = match d.name() {
            "secure_link" => &mut self.variable,
            "secure_link_md5" => &mut self.md5,
            "secure_link_secret" => {
                match (&self.secret, d.arg(0)) {
                    (Some(_), _) => cx.duplicate(d),
                    (None, Some(s)) => self.secret = Some(s.to_string()),
                    (None, None) => cx.arity(d),
                }
                self.check_mixed(cx, d, mixed);
                return true;
            }
            _ => return false,
        };
        if slot.is_some() {
            cx.duplicate(d);
        } else {
            *slot = cx.text(d, 0);
        }
        self.check_mixed(cx, d, mixed);
        true
    }

    /// The level writes `secure_link_secret` beside `secure_link` or `secure_link_md5`.
    fn mixed(&self) -> bool {
        self.secret.is_some() && (self.variable.is_some() || self.md5.is_some())
    }

    fn check_mixed(&self, cx: &mut Cx<'_>, d: &Directive, before: bool) {
        if !before && self.mixed() {
            let message = "\"secure_link_secret\" cannot be mixed with \"secure_link\" and \
                           \"secure_link_md5\"";
            let error = crate::diag::Severity::Error;
            cx.merge_errors.push((d.span(), message, error));
        }
    }

    /// Fills what this level did not set from `parent`, as nginx merges them.
    pub fn inherit(&mut self, parent: &SecureLink) {
        if self.secret.is_some() {
            return;
        }
        inherit_opt(&mut self.variable, &parent.variable);
        inherit_opt(&mut self.md5, &parent.md5);
        if self.variable.is_none() && self.md5.is_none() {
            self.secret.clone_from(&parent.secret);
        }
    }
}
