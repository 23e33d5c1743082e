//! The SSI filter's settings (`ngx_http_ssi_loc_conf_t`): `ssi`, `ssi_types`,
//! `ssi_silent_errors`, `ssi_value_length` and `ssi_last_modified`, each inherited alone.
//! (`ssi_min_file_chunk` and `ssi_ignore_recycled_buffers` only change how nginx buffers
//! the body: inert.)

use super::Cx;
use super::gzip::GzipTypes;
use super::settings::{flag, inherit_opt};
use super::units::parse_size;
use crate::syntax::Directive;

/// One level's SSI settings; `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ssi {
    /// `ssi` (default off).
    pub enable: Option<bool>,
    /// `ssi_silent_errors` (default off).
    pub silent_errors: Option<bool>,
    /// `ssi_last_modified` (default off).
    pub last_modified: Option<bool>,
    /// `ssi_value_length` (default 256).
    pub value_length: Option<usize>,
    /// `ssi_types` (default `text/html`), read as `gzip_types` is.
    pub types: Option<GzipTypes>,
}

impl Ssi {
    /// Fills what this level did not set from `parent`.
    pub fn inherit(&mut self, parent: &Ssi) {
        self.enable = self.enable.or(parent.enable);
        self.silent_errors = self.silent_errors.or(parent.silent_errors);
        self.last_modified = self.last_modified.or(parent.last_modified);
        self.value_length = self.value_length.or(parent.value_length);
        inherit_opt(&mut self.types, &parent.types);
    }

    /// Reads `d` if it is one of the settings here; `false` otherwise.
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive) -> bool {
        match d.name() {
            "ssi" => flag(cx, d, &mut self.enable),
            "ssi_silent_errors" => flag(cx, d, &mut self.silent_errors),
            "ssi_last_modified" => flag(cx, d, &mut self.last_modified),
            // The walk checked the size and that the level sets it once.
            "ssi_value_length" => self.value_length = d.arg(0).and_then(parse_size),
            "ssi_types" => {
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
