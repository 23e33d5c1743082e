//! The sub filter's settings (`ngx_http_sub_loc_conf_t`): the `sub_filter` pairs, inherited
//! only by a level that writes none, and `sub_filter_types`, `sub_filter_once`,
//! `sub_filter_last_modified`, each inherited alone.

use super::gzip::GzipTypes;
use super::settings::{flag, inherit_opt};
use super::{Cx, Text};
use crate::syntax::Directive;

/// nginx keeps at most this many `sub_filter` pairs at a level (its tables index them in a
/// byte).
const MAX_PAIRS: usize = 255;

/// One level's sub filter settings; `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubFilter {
    /// `sub_filter STRING REPLACEMENT`, in order; both may hold variables.
    pub pairs: Option<Vec<(Text, Text)>>,
    /// `sub_filter_types` (default `text/html`), read as `gzip_types` is.
    pub types: Option<GzipTypes>,
    /// `sub_filter_once` (default on).
    pub once: Option<bool>,
    /// `sub_filter_last_modified` (default off).
    pub last_modified: Option<bool>,
}

impl SubFilter {
    /// Fills what this level did not set from `parent`.
    pub fn inherit(&mut self, parent: &SubFilter) {
        let SubFilter {
            pairs,
            types,
            once,
            last_modified,
        } = parent;
        inherit_opt(&mut self.pairs, pairs);
        inherit_opt(&mut self.types, types);
        self.once = self.once.or(*once);
        self.last_modified = self.last_modified.or(*last_modified);
    }

    /// Reads `d` if it is one of the settings here; `false` otherwise.
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive) -> bool {
        match d.name() {
            "sub_filter" => self.pair(cx, d),
            "sub_filter_once" => flag(cx, d, &mut self.once),
            "sub_filter_last_modified" => flag(cx, d, &mut self.last_modified),
            "sub_filter_types" => {
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

    /// `ngx_http_sub_filter`: the search string may not be empty, a level holds at most
    /// 255 pairs.
    fn pair(&mut self, cx: &mut Cx<'_>, d: &Directive) {
        if d.arg(0).is_some_and(str::is_empty) {
            return cx.error(d, "empty search pattern");
        }
        let pairs = self.pairs.get_or_insert_with(Vec::new);
        if pairs.len() == MAX_PAIRS {
            return cx.error(d, "number of search patterns exceeds 255");
        }
        if let (Some(search), Some(replacement)) = (cx.text(d, 0), cx.text(d, 1)) {
            pairs.push((search, replacement));
        }
    }
}
