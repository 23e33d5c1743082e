//! The charset filter (`ngx_http_charset_filter_module`) without recoding: `charset NAME`
//! names the charset in the `Content-Type` of answers whose type is one of `charset_types`
//! and that do not name one already. Recoding (a `source_charset` other than `charset`,
//! `charset_map`, `override_charset on`) is refused at load.

use bytes::Bytes;

use crate::config::Cx;
use crate::config::settings::Settings;
use crate::diag::{Diagnostic, Severity};
use crate::syntax::{Directive, SyntaxTree};

/// `charset_types`' default (`ngx_http_charset_default_types`).
const DEFAULT_TYPES: [&str; 6] = [
    "text/html",
    "text/xml",
    "text/plain",
    "text/vnd.wap.wml",
    "application/javascript",
    "application/rss+xml",
];

/// A level's `charset`, ready to apply.
#[derive(Debug)]
pub struct Charset {
    name: Bytes,
    /// Lowercased; `None` for `charset_types *`.
    types: Option<Vec<Vec<u8>>>,
}

impl Charset {
    /// `None` where `charset` is off (its default). A `source_charset` naming another
    /// charset would need recoding: reported as unsupported, so the server refuses it.
    pub fn compile(cx: &mut Cx<'_>, st: &Settings) -> Option<Charset> {
        let name = st.charset.charset.clone().flatten()?;
        if let Some((source, span)) = &st.charset.source
            && source != "off"
            && !source.eq_ignore_ascii_case(&name)
        {
            let said = cx
                .sink
                .diagnostics()
                .iter()
                .any(|d| d.code == crate::directives::UNSUPPORTED && d.span == Some(*span));
            if !said {
                let message = format!(
                    "\"source_charset {source}\" with \"charset {name}\" needs recoding, which ngxr does not do; ngxr refuses to serve this configuration"
                );
                let unsupported = crate::directives::UNSUPPORTED;
                cx.sink.push(Diagnostic::lint(
                    Severity::Warning,
                    unsupported,
                    message,
                    *span,
                ));
            }
        }
        let types = match &st.charset.types {
            Some(list) if list.iter().any(|t| t == "*") => None,
            Some(list) => Some(list.iter().map(|t| t.as_bytes().to_vec()).collect()),
            None => Some(
                DEFAULT_TYPES
                    .iter()
                    .map(|t| t.as_bytes().to_vec())
                    .collect(),
            ),
        };
        Some(Charset {
            name: Bytes::from(name),
            types,
        })
    }

    /// `; charset=NAME` after `content_type` when the filter adds it to an answer with
    /// `status`: not to a 301 or 302 (`ngx_http_set_charset`), not to a type that names a
    /// charset, and only to a type listed whole (parameters included, as nginx compares).
    pub fn apply(&self, status: u16, content_type: &mut Bytes) {
        if matches!(status, 301 | 302) || names_charset(content_type) {
            return;
        }
        let listed = match &self.types {
            None => true,
            Some(types) => types.iter().any(|t| t.eq_ignore_ascii_case(content_type)),
        };
        if listed {
            *content_type = Bytes::from([&content_type[..], b"; charset=", &self.name].concat());
        }
    }
}

/// The charsets the configuration names (`charset`, `source_charset`: nginx's charset
/// module knows only those), lowercased, each once.
pub fn known(tree: &SyntaxTree, directives: &[Directive]) -> Vec<Bytes> {
    let mut out: Vec<Bytes> = Vec::new();
    for d in tree.expand(directives) {
        if matches!(d.name(), "charset" | "source_charset")
            && let Some(name) = d.arg(0).filter(|n| *n != "off" && !n.starts_with('$'))
        {
            let name = Bytes::from(name.to_ascii_lowercase());
            if !out.contains(&name) {
                out.push(name);
            }
        }
        for name in known(tree, d.children()) {
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// The charset filter on a proxied answer whose upstream named a charset in
/// `X-Accel-Charset` (nginx's `override_charset`, which takes the level's `charset` over):
/// `content_type` names it when the configuration knows it (`known`) and the answer's own
/// charset, or else the level's `source_charset` (`source`), is none or the same one. Any
/// other pair would need recoding, and nginx leaves the type as it is (with an error line).
pub fn overridden(
    name: &[u8],
    known: &[Bytes],
    source: Option<&[u8]>,
    status: u16,
    content_type: &mut Bytes,
) {
    if content_type.is_empty() || !known.iter().any(|k| k.eq_ignore_ascii_case(name)) {
        return;
    }
    // `ngx_http_set_charset` names none in a redirect.
    let named = |base: &[u8]| match status {
        301 | 302 => Bytes::copy_from_slice(base),
        _ => Bytes::from([base, b"; charset=", name].concat()),
    };
    match charset_param(content_type) {
        Some((cut, own)) if own.eq_ignore_ascii_case(name) => {
            *content_type = named(&content_type[..cut]);
        }
        Some(_) => {}
        None if source.is_some_and(|s| !s.eq_ignore_ascii_case(name)) => {}
        None => *content_type = named(content_type),
    }
}

/// Where the `;` before a `charset=` parameter of `content_type` is, and the charset it
/// names without quotes (`ngx_http_upstream_copy_content_type`).
fn charset_param(content_type: &[u8]) -> Option<(usize, &[u8])> {
    let cut = content_type.iter().enumerate().find_map(|(i, &c)| {
        let rest = content_type[i + 1..].trim_ascii_start();
        let named = rest.len() >= 8 && rest[..8].eq_ignore_ascii_case(b"charset=");
        (c == b';' && named).then_some(i)
    })?;
    let rest = content_type[cut + 1..].trim_ascii_start();
    let value = &rest[8..];
    let value = value.strip_prefix(b"\"").unwrap_or(value);
    Some((cut, value.strip_suffix(b"\"").unwrap_or(value)))
}

/// Whether a parameter of `content_type` is `charset=` (`ngx_http_upstream_copy_content_type`:
/// after a `;` and spaces).
fn names_charset(content_type: &[u8]) -> bool {
    content_type.split(|&c| c == b';').skip(1).any(|p| {
        let p = p.trim_ascii_start();
        p.len() >= 8 && p[..8].eq_ignore_ascii_case(b"charset=")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(c: &Charset, status: u16, ct: &'static str) -> String {
        let mut ct = Bytes::from_static(ct.as_bytes());
        c.apply(status, &mut ct);
        String::from_utf8_lossy(&ct).into_owned()
    }

    #[test]
    fn which_types_get_the_charset() {
        let types = Some(
            DEFAULT_TYPES
                .iter()
                .map(|t| t.as_bytes().to_vec())
                .collect(),
        );
        let c = Charset {
            name: Bytes::from_static(b"UTF-8"),
            types,
        };
        assert_eq!(applied(&c, 200, "text/html"), "text/html; charset=UTF-8");
        assert_eq!(applied(&c, 404, "Text/HTML"), "Text/HTML; charset=UTF-8");
        assert_eq!(applied(&c, 200, "image/png"), "image/png");
        assert_eq!(applied(&c, 302, "text/html"), "text/html");
        assert_eq!(applied(&c, 200, "text/html; q=1"), "text/html; q=1");
        assert_eq!(
            applied(&c, 200, "text/html;  Charset=koi8-r"),
            "text/html;  Charset=koi8-r"
        );
        let all = Charset {
            name: Bytes::from_static(b"utf-8"),
            types: None,
        };
        assert_eq!(applied(&all, 200, "image/png"), "image/png; charset=utf-8");
    }

    #[test]
    fn x_accel_charset_names_a_charset_nginx_knows() {
        let known = [Bytes::from_static(b"utf-8"), Bytes::from_static(b"koi8-r")];
        let over = |name: &str, source: Option<&str>, status, ct: &'static str| {
            let mut ct = Bytes::from_static(ct.as_bytes());
            let source = source.map(str::as_bytes);
            overridden(name.as_bytes(), &known, source, status, &mut ct);
            String::from_utf8_lossy(&ct).into_owned()
        };
        assert_eq!(
            over("UTF-8", None, 200, "text/blah"),
            "text/blah; charset=UTF-8"
        );
        assert_eq!(over("latin1", None, 200, "text/html"), "text/html");
        assert_eq!(over("utf-8", None, 302, "text/html"), "text/html");
        assert_eq!(
            over("utf-8", None, 200, "text/html; charset=\"UTF-8\""),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            over("utf-8", None, 200, "text/html; charset=koi8-r"),
            "text/html; charset=koi8-r"
        );
        assert_eq!(over("utf-8", Some("koi8-r"), 200, "text/html"), "text/html");
        assert_eq!(
            over("utf-8", Some("UTF-8"), 200, "a/b"),
            "a/b; charset=utf-8"
        );
    }
}
