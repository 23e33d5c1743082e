//! Settings of the filters that rewrite a response's head on its way out: `expires`
//! (`ngx_http_headers_filter_module`) and `charset` (`ngx_http_charset_filter_module`, as far
//! as naming the charset in `Content-Type` goes: ngxr does not recode).
//! `expires` is parsed here once at load, and again per request when its value holds
//! variables (nginx parses the evaluated text with the same rules then).

use super::{Cx, Text};
use crate::source::Span;
use crate::syntax::Directive;

/// The charset module's settings of one level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Charset {
    /// `charset NAME`, `None` for `charset off`.
    pub charset: Option<Option<String>>,
    /// `source_charset NAME` and where it is written.
    pub source: Option<(String, Span)>,
    /// `charset_types`, lowercased, `text/html` first; `*` matches every type.
    pub types: Option<Vec<String>>,
}

impl Charset {
    pub fn inherit(&mut self, parent: &Charset) {
        super::settings::inherit_opt(&mut self.charset, &parent.charset);
        super::settings::inherit_opt(&mut self.source, &parent.source);
        super::settings::inherit_opt(&mut self.types, &parent.types);
    }

    /// Reads `d` if it is one of the module's directives (`override_charset` is read by
    /// `directives::support`: only `off`, its default, is served).
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive) -> bool {
        match d.name() {
            "charset" => match d.arg(0) {
                _ if self.charset.is_some() => cx.duplicate(d),
                Some(name) => self.charset = Some((name != "off").then(|| name.to_string())),
                None => cx.arity(d),
            },
            "source_charset" => match d.args.first() {
                _ if self.source.is_some() => cx.duplicate(d),
                Some(w) => self.source = Some((w.value.clone(), w.span)),
                None => cx.arity(d),
            },
            // `text/html` first, as `ngx_http_types_slot` puts the module's default type.
            "charset_types" => {
                let mut list = match self.types.take() {
                    None => Some(vec!["text/html".to_string()]),
                    Some(list) if list.iter().any(|t| t == "*") => None,
                    Some(list) => Some(list),
                };
                cx.types_slot(d, &mut list);
                self.types = Some(list.unwrap_or_else(|| vec!["*".to_string()]));
            }
            _ => return false,
        }
        true
    }
}

/// When a response expires, as `expires` says (`ngx_http_expires_t` and its time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// `off`: the filter leaves `Expires` and `Cache-Control` alone.
    Off,
    /// `epoch`: `Expires` at 1970-01-01 00:00:01, `Cache-Control: no-cache`.
    Epoch,
    /// `max`: `Expires` in 2037, ten years of `max-age`.
    Max,
    /// Seconds after the request (before it when negative).
    Access(i64),
    /// `modified`: seconds after the response's `Last-Modified` (after the request when the
    /// response has none).
    Modified(i64),
    /// `@time`: the next time this second of the day comes.
    Daily(i64),
}

/// `expires` as written: its value known at load, or text with variables to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expires {
    Fixed(Expiry),
    Variable { modified: bool, value: Text },
}

/// `ngx_http_parse_expires`: `value` after the optional `modified`. The error is nginx's
/// wording after `"expires" directive `.
pub fn parse_expiry(value: &str, modified: bool) -> Result<Expiry, &'static str> {
    if !modified {
        match value {
            "epoch" => return Ok(Expiry::Epoch),
            "max" => return Ok(Expiry::Max),
            "off" => return Ok(Expiry::Off),
            _ => {}
        }
    }
    let (daily, minus, time) = match value.as_bytes().first() {
        Some(b'@') if modified => {
            return Err("daily time cannot be used with \"modified\" parameter");
        }
        Some(b'@') => (true, false, &value[1..]),
        Some(b'+') => (false, false, &value[1..]),
        Some(b'-') => (false, true, &value[1..]),
        _ => (false, false, value),
    };
    let secs = crate::units::parse_time(time, true).ok_or("invalid value")?;
    if daily {
        return if secs > 24 * 60 * 60 {
            Err("daily time value must be less than 24 hours")
        } else {
            Ok(Expiry::Daily(secs))
        };
    }
    let secs = if minus { -secs } else { secs };
    Ok(if modified {
        Expiry::Modified(secs)
    } else {
        Expiry::Access(secs)
    })
}

/// Reads `expires [modified] VALUE` into `slot`.
pub fn expires(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<Expires>) {
    if slot.is_some() {
        return cx.duplicate(d);
    }
    let (modified, at) = match d.args.len() {
        1 => (false, 0),
        2 if d.arg(0) == Some("modified") => (true, 1),
        2 => return cx.invalid_value(d),
        _ => return cx.arity(d),
    };
    let Some(value) = cx.text(d, at) else { return };
    if value.value.contains('$') {
        *slot = Some(Expires::Variable { modified, value });
        return;
    }
    match parse_expiry(&value.value, modified) {
        Ok(e) => *slot = Some(Expires::Fixed(e)),
        Err(why) => cx.error(d, format!("\"expires\" directive {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_as_nginx_reads_it() {
        assert_eq!(parse_expiry("epoch", false), Ok(Expiry::Epoch));
        assert_eq!(parse_expiry("max", false), Ok(Expiry::Max));
        assert_eq!(parse_expiry("off", false), Ok(Expiry::Off));
        assert_eq!(parse_expiry("1h", false), Ok(Expiry::Access(3600)));
        assert_eq!(parse_expiry("+30", false), Ok(Expiry::Access(30)));
        assert_eq!(parse_expiry("-1d", false), Ok(Expiry::Access(-86_400)));
        assert_eq!(parse_expiry("0", false), Ok(Expiry::Access(0)));
        assert_eq!(parse_expiry("2d", true), Ok(Expiry::Modified(172_800)));
        assert_eq!(parse_expiry("@15h30m", false), Ok(Expiry::Daily(55_800)));
        // `modified` takes a time, never a keyword.
        assert_eq!(parse_expiry("max", true), Err("invalid value"));
        assert_eq!(
            parse_expiry("@1h", true),
            Err("daily time cannot be used with \"modified\" parameter")
        );
        assert_eq!(
            parse_expiry("@25h", false),
            Err("daily time value must be less than 24 hours")
        );
        assert_eq!(parse_expiry("500ms", false), Err("invalid value"));
        assert_eq!(parse_expiry("", false), Err("invalid value"));
    }
}
