//! The addition filter's settings (`ngx_http_addition_conf_t`): `add_before_body`,
//! `add_after_body` and `addition_types`, each inherited alone.

use super::Cx;
use super::gzip::GzipTypes;
use super::settings::inherit_opt;
use crate::syntax::Directive;

/// One level's addition settings; `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addition {
    /// `add_before_body URI`: an empty URI adds nothing (nginx's unset value).
    pub before: Option<String>,
    /// `add_after_body URI`.
    pub after: Option<String>,
    /// `addition_types` (default `text/html`), read as `gzip_types` is.
    pub types: Option<GzipTypes>,
}

impl Addition {
    /// Fills what this level did not set from `parent`.
    pub fn inherit(&mut self, parent: &Addition) {
        inherit_opt(&mut self.before, &parent.before);
        inherit_opt(&mut self.after, &parent.after);
        inherit_opt(&mut self.types, &parent.types);
    }

    /// Reads `d` if it is one of the settings here; `false` otherwise.
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive) -> bool {
        match d.name() {
            "add_before_body" => uri(cx, d, &mut self.before),
            "add_after_body" => uri(cx, d, &mut self.after),
            "addition_types" => {
                let mut list = match self.types.take().unwrap_or_else(GzipTypes::html) {
                    GzipTypes::Any => None,
                    GzipTypes::Listed(list) => Some(list),
                };
                cx.types_slot(d, &mut list);
                self.types = Some(list.map_or(GzipTypes::Any, GzipTypes::Listed));
            }
            _ => return false,
        }
        true
    }
}

/// `ngx_conf_set_str_slot`: a second one at the same level is a duplicate.
fn uri(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<String>) {
    if slot.is_some() {
        return cx.duplicate(d);
    }
    if let Some(uri) = d.arg(0) {
        *slot = Some(uri.to_string());
    }
}
