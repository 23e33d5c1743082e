//! The mirror module (`mirror`, `mirror_request_body`): at the precontent phase, after
//! `try_files`, the main request starts a background subrequest to each mirror URI with its
//! own method and arguments. Each is routed with the request (`route::mirror`); the runtime
//! serves them beside it, drops their answers, and lets the connection go on (its next
//! request, the main request's log line) only once they are over, as nginx counts them on
//! the main request.

use std::sync::Arc;

use bytes::Bytes;

use crate::config::settings::Settings;

/// A level's mirrors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CMirror {
    /// The subrequests' URIs, as written (nginx does not evaluate them).
    pub uris: Vec<Bytes>,
    /// `mirror_request_body` (on by default): the body is read before the subrequests
    /// start, and they send it.
    pub request_body: bool,
}

/// The level's `mirror` list as merged (`ngx_conf_merge_ptr_value`); `None` without one, or
/// with `mirror off`.
pub fn compile(st: &Settings) -> Option<Arc<CMirror>> {
    let uris = st.mirror.as_ref().filter(|u| !u.is_empty())?;
    Some(Arc::new(CMirror {
        uris: uris.iter().map(|u| Bytes::from(u.clone())).collect(),
        request_body: st.mirror_request_body.unwrap_or(true),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mirror: Option<&[&str]>, body: Option<bool>) -> Settings {
        Settings {
            mirror: mirror.map(|m| m.iter().map(|s| s.to_string()).collect()),
            mirror_request_body: body,
            ..Settings::default()
        }
    }

    #[test]
    fn off_and_unset_start_none() {
        assert_eq!(compile(&settings(None, Some(false))), None);
        assert_eq!(compile(&settings(Some(&[]), None)), None);
    }

    #[test]
    fn uris_keep_their_order_and_the_body_goes_by_default() {
        let m = compile(&settings(Some(&["/m/1", "/m/2"]), None)).unwrap();
        assert_eq!(m.uris, vec![Bytes::from("/m/1"), Bytes::from("/m/2")]);
        assert!(m.request_body);
        let m = compile(&settings(Some(&["/m"]), Some(false))).unwrap();
        assert!(!m.request_body);
    }

    #[test]
    fn a_level_inherits_the_list_unless_it_sets_its_own() {
        let parent = settings(Some(&["/m"]), Some(false));
        let mut child = settings(None, None);
        child.inherit(&parent);
        assert_eq!(compile(&child).unwrap().uris, vec![Bytes::from("/m")]);
        let mut off = settings(Some(&[]), None);
        off.inherit(&parent);
        assert_eq!(compile(&off), None);
    }
}
