//! nginx's `ngx_http_proxy_rewrite_t` as written: a pattern (a value, possibly with variables,
//! or a `~` regex) and its replacement. `proxy_redirect` and `proxy_cookie_domain`/`_path`
//! share it, as they share nginx's handlers; `eval::proxy_rewrite` compiles it.

use super::Text;

/// What a rule compares with: a value (with variables), or a regex (`~`, `~*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Value(Text),
    /// The pattern without its `~` or `~*`.
    Regex {
        text: Text,
        caseless: bool,
    },
}

/// One rule of `proxy_redirect`, `proxy_cookie_domain` or `proxy_cookie_path`: `pattern` →
/// `replacement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub pattern: Pattern,
    pub replacement: Text,
}

/// `~re` (and, when `star`, `~*re` caseless) is a regex, anything else a value; without
/// `star`, a `~` regex is caseless (`proxy_cookie_flags`).
pub fn regex_or_value(text: Text, star: bool) -> Pattern {
    let Some(regex) = text.value.strip_prefix('~') else {
        return Pattern::Value(text);
    };
    let (regex, caseless) = match regex.strip_prefix('*') {
        Some(rest) if star => (rest, true),
        _ => (regex, !star),
    };
    Pattern::Regex {
        text: with_value(&text, regex),
        caseless,
    }
}

/// `text` with another value, its span kept (for a pattern stripped of its marks).
pub fn with_value(text: &Text, value: &str) -> Text {
    Text {
        value: value.to_string(),
        ..text.clone()
    }
}
