//! The charset filter (`ngx_http_charset_filter_module`) without recoding: `charset NAME`
//! names the charset in the `Content-Type` of answers whose type is one of `charset_types`
//! and that do not name one already. Recoding (a `source_charset` other than `charset`,
//! `charset_map`, `override_charset on`) is refused at load.

use bytes::Bytes;

use crate::config::Cx;
use crate::config::settings::Settings;
use crate::diag::{Diagnostic, Severity};

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
}
