//! The Content-Type nginx gives a response it writes itself (`return 200 text`), as
//! `ngx_http_set_content_type` picks it: the `types` entry for the URI's extension, else
//! `default_type` (none at all when that is `""`).

use std::collections::HashMap;

use bytes::Bytes;

use crate::config::settings::Settings;
use crate::defaults::http as dflt;

#[derive(Debug, Clone)]
pub struct ContentTypes {
    /// Lowercased extension to type; where `types` names an extension twice, the later
    /// entry won when the map was collected.
    by_extension: HashMap<String, Bytes>,
    default: Bytes,
}

impl ContentTypes {
    /// The merged `types` and `default_type` of a level, with nginx's compiled-in defaults.
    pub fn of(st: &Settings) -> ContentTypes {
        let by_extension = match &st.types {
            Some(types) => types
                .iter()
                .map(|(e, t)| (e.clone(), Bytes::from(t.clone())))
                .collect(),
            None => dflt::TYPES
                .iter()
                .map(|(t, e)| (e.to_string(), Bytes::from_static(t.as_bytes())))
                .collect(),
        };
        let default = match &st.default_type {
            Some(t) => Bytes::from(t.clone()),
            None => Bytes::from_static(dflt::DEFAULT_TYPE.as_bytes()),
        };
        ContentTypes {
            by_extension,
            default,
        }
    }

    /// The type for a response to `uri`; `None` when no header is sent.
    pub fn for_uri(&self, uri: &[u8]) -> Option<Bytes> {
        let found = extension(uri).and_then(|ext| {
            let ext = String::from_utf8_lossy(ext).to_ascii_lowercase();
            self.by_extension.get(&ext).cloned()
        });
        found
            .or_else(|| Some(self.default.clone()))
            .filter(|t| !t.is_empty())
    }
}

/// `ngx_http_set_exten`: what follows the last `.` of the last path segment, unless the
/// segment starts with it.
fn extension(uri: &[u8]) -> Option<&[u8]> {
    for i in (2..uri.len()).rev() {
        match uri[i] {
            b'.' if uri[i - 1] != b'/' => return Some(&uri[i + 1..]),
            b'/' => return None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_then_default_type() {
        let mut st = Settings::default();
        let c = ContentTypes::of(&st);
        assert_eq!(c.for_uri(b"/a.HTML").as_deref(), Some(&b"text/html"[..]));
        assert_eq!(c.for_uri(b"/a.css").as_deref(), Some(&b"text/plain"[..]));
        assert_eq!(c.for_uri(b"/d.x/.jpg").as_deref(), Some(&b"text/plain"[..]));
        st.types = Some(vec![("css".into(), "text/css".into())]);
        st.default_type = Some(String::new());
        let c = ContentTypes::of(&st);
        assert_eq!(c.for_uri(b"/a.css").as_deref(), Some(&b"text/css"[..]));
        assert_eq!(c.for_uri(b"/a.html"), None);
    }
}
