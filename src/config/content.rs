//! What a location serves when it does not proxy, in nginx's words: `root` / `alias`, `index`,
//! `try_files`, `error_page`, and the conditional-request settings (`etag`,
//! `if_modified_since`). Read with `ngx_http_core_module`'s, `ngx_http_index_module`'s and
//! `ngx_http_try_files_module`'s rules and messages.

use super::{Cx, Text};
use crate::syntax::Directive;

/// `root PATH` or `alias PATH` (one slot in nginx: a level has one or the other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// As written, without a root's trailing `/`, made absolute from the prefix unless it
    /// starts with a variable (then the prefix is added per request, as nginx does).
    pub path: Text,
    pub alias: Option<Alias>,
}

/// What part of `$uri` an `alias` replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alias {
    /// The name of the (prefix or exact) location it was written in: that many leading bytes.
    Prefix(usize),
    /// In a regex location: the alias is the whole path (captures fill it in).
    Whole,
}

/// `error_page CODE... [=[RESPONSE]] URI`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPage {
    pub codes: Vec<u16>,
    pub overwrite: Overwrite,
    pub uri: Text,
}

/// The status the page is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// No `=`: the original error status.
    Keep,
    /// `=`: whatever the page's own answer is.
    Response,
    /// `=CODE`.
    Code(u16),
}

/// `if_modified_since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfModifiedSince {
    Off,
    Exact,
    Before,
}

/// `try_files FILE... URI|=CODE`: the candidates, then what to do when none exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryFiles {
    /// Each candidate; `true` when written with a trailing `/` (a directory is wanted; the
    /// slash is not part of the text).
    pub files: Vec<(Text, bool)>,
    pub fallback: Fallback,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// An internal redirect to this URI (or `@name`).
    Uri(Text),
    /// `=CODE`.
    Code(u16),
}

/// `root` or `alias` (`ngx_http_core_root`); `alias_of` is the location's name and whether it
/// is a regex location (`None` outside locations, where `alias` is not allowed).
pub fn root(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<Root>, alias_of: Option<Alias>) {
    let is_alias = d.name() == "alias";
    if let Some(earlier) = slot {
        if earlier.alias.is_some() == is_alias {
            return cx.duplicate(d);
        }
        let earlier = if earlier.alias.is_some() {
            "alias"
        } else {
            "root"
        };
        return cx.error(
            d,
            format!(
                "\"{}\" directive is duplicate, \"{earlier}\" directive was specified earlier",
                d.name()
            ),
        );
    }
    let Some(mut path) = cx.text(d, 0) else {
        return;
    };
    for var in ["document_root", "realpath_root"] {
        if path.value.contains(&format!("${var}")) || path.value.contains(&format!("${{{var}}}")) {
            return cx.error(
                d,
                format!(
                    "the ${var} variable cannot be used in the \"{}\" directive",
                    d.name()
                ),
            );
        }
    }
    if !is_alias && path.value.len() > 1 && path.value.ends_with('/') {
        path.value.pop();
    }
    if !path.value.starts_with('$') {
        path.value = cx.prefixed(&path.value).to_string_lossy().into_owned();
    }
    *slot = Some(Root {
        path,
        alias: if is_alias { alias_of } else { None },
    });
}

/// `index NAME...` (`ngx_http_index_set_index`): appends to the level's list.
pub fn index(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<Vec<Text>>) {
    let list = slot.get_or_insert_with(Vec::new);
    let last = d.args.len().saturating_sub(1);
    for i in 0..d.args.len() {
        let Some(name) = cx.text(d, i) else { return };
        if name.value.starts_with('/') && i != last {
            return cx.error(
                d,
                "only the last index in \"index\" directive should be absolute",
            );
        }
        if name.value.is_empty() {
            return cx.error(d, "index \"\" in \"index\" directive is invalid");
        }
        list.push(name);
    }
}

/// `error_page` (`ngx_http_core_error_page`): appends one entry per code.
pub fn error_page(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<Vec<ErrorPage>>) {
    let n = d.args.len();
    // Fewer than a code and a URI: the directive rules have reported the arity already.
    if n < 2 {
        return;
    }
    let Some(uri) = cx.text(d, n - 1) else {
        return;
    };
    let mut codes_end = n - 1;
    let mut overwrite = Overwrite::Keep;
    if let Some(eq) = d.arg(n - 2).and_then(|a| a.strip_prefix('=')) {
        if n - 2 == 0 {
            return cx.error(d, format!("invalid value \"={eq}\""));
        }
        overwrite = if eq.is_empty() {
            Overwrite::Response
        } else {
            match eq.parse::<u16>() {
                Ok(code) if eq.bytes().all(|b| b.is_ascii_digit()) => Overwrite::Code(code),
                _ => return cx.error(d, format!("invalid value \"={eq}\"")),
            }
        };
        codes_end = n - 2;
    }
    let mut codes = Vec::new();
    for w in &d.args[..codes_end] {
        let code = w
            .value
            .parse::<u16>()
            .ok()
            .filter(|_| w.value.bytes().all(|b| b.is_ascii_digit()));
        match code {
            None | Some(499) => return cx.error(d, format!("invalid value \"{}\"", w.value)),
            Some(c) if !(300..=599).contains(&c) => {
                return cx.error(
                    d,
                    format!("value \"{}\" must be between 300 and 599", w.value),
                );
            }
            Some(c) => codes.push(c),
        }
    }
    // nginx's own codes for TLS and header errors answer 400 unless told otherwise.
    let entry = |code: u16| ErrorPage {
        codes: vec![code],
        overwrite: match overwrite {
            Overwrite::Keep if matches!(code, 494..=497) => Overwrite::Code(400),
            o => o,
        },
        uri: uri.clone(),
    };
    slot.get_or_insert_with(Vec::new)
        .extend(codes.into_iter().map(entry));
}

/// `try_files` (`ngx_http_try_files`).
pub fn try_files(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<TryFiles>) {
    if slot.is_some() {
        return cx.duplicate(d);
    }
    let n = d.args.len();
    let mut files = Vec::new();
    for i in 0..n.saturating_sub(1) {
        let Some(mut t) = cx.text(d, i) else { return };
        let dir = t.value.ends_with('/');
        if dir {
            t.value.pop();
        }
        files.push((t, dir));
    }
    let Some(last) = cx.text(d, n.saturating_sub(1)) else {
        return;
    };
    let fallback = match last.value.strip_prefix('=') {
        Some(code) => match code.parse::<u16>() {
            Ok(c) if c <= 999 && code.bytes().all(|b| b.is_ascii_digit()) => Fallback::Code(c),
            _ => return cx.error(d, format!("invalid code \"={code}\"")),
        },
        None => Fallback::Uri(last),
    };
    *slot = Some(TryFiles { files, fallback });
}

/// `if_modified_since off|exact|before`.
pub fn if_modified_since(value: &str) -> Option<IfModifiedSince> {
    Some(match value {
        "off" => IfModifiedSince::Off,
        "exact" => IfModifiedSince::Exact,
        "before" => IfModifiedSince::Before,
        _ => return None,
    })
}
