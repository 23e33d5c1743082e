//! The access phase (`ngx_http_access_handler`): the first `allow`/`deny` whose address
//! matches the client decides; `all` matches everyone; no match lets the request on.

use super::plan::ErrorLine;
use super::request::Req;
use super::static_::Served;
use crate::config::access::Rule;

/// `Some(403)` when a `deny` decides, with nginx's error-log line.
pub fn check(rules: &[Rule], req: &Req<'_>, served: &mut Served) -> Option<u16> {
    let client = req.client().ip();
    let rule = rules
        .iter()
        .find(|r| r.from.as_ref().is_none_or(|net| net.contains(client)))?;
    if rule.allow {
        return None;
    }
    served
        .errors
        .push(ErrorLine::error("access forbidden by rule".to_string()));
    Some(403)
}
