//! `try_files` (`ngx_http_try_files_module`, the precontent phase): the first candidate that
//! exists (a file, or a directory for `$uri/`) becomes the URI the location serves; when none
//! does, an internal redirect, a named location or a status.

use super::files;
use super::plan::ErrorLine;
use super::request::Req;
use super::route::Next;
use super::site::CLocation;
use super::static_::Served;
use super::value::Complex;
use crate::config::content::Alias;

#[derive(Debug, Clone)]
pub struct CTryFiles {
    /// Candidates; `true` for a directory (`$uri/`).
    pub files: Vec<(Complex, bool)>,
    pub fallback: CFallback,
}

#[derive(Debug, Clone)]
pub enum CFallback {
    Uri(Complex),
    Code(u16),
}

/// `ngx_http_try_files_handler`: `None` to go on to the content phase (the URI may have
/// changed to the file found), or where the request goes instead.
pub fn handler(loc: &CLocation, req: &mut Req<'_>, served: &mut Served) -> Option<Next> {
    let content = &loc.content;
    let tf = content.try_files.as_ref()?;
    let root = &content.root;
    let alias_len = match root.alias {
        Some(Alias::Prefix(n)) => Some(n),
        _ => None,
    };
    let strip_alias = |value: &mut Vec<u8>, var: bool, uri: &[u8]| {
        if let Some(n) = alias_len
            && var
            && value.len() >= n
            && uri.len() >= n
            && value[..n] == uri[..n]
        {
            value.drain(..n);
        }
    };
    for (name, test_dir) in &tf.files {
        let mut value = name.eval(req);
        strip_alias(
            &mut value,
            name.as_literal().is_none(),
            &req.target.uri.clone(),
        );
        let base = match root.map(req) {
            Ok(m) => m,
            Err(unmappable) => {
                served.errors.push(unmappable.line(&loc.name));
                return Some(Next::Special(500, Vec::new()));
            }
        };
        let mut path = base.path[..base.root_len].to_vec();
        path.extend_from_slice(&value);
        let found = match files::open(&path, true) {
            Ok(found) => found,
            Err(e) => {
                if !e.not_found() {
                    served.errors.push(ErrorLine::crit(e.line(&path).message));
                }
                continue;
            }
        };
        if found.is_dir != *test_dir {
            continue;
        }
        match root.alias {
            None => req.target.uri = value,
            Some(Alias::Whole) => {
                if !test_dir {
                    req.target.uri = value;
                    req.add_uri_to_alias = true;
                }
            }
            Some(Alias::Prefix(n)) => {
                let mut uri = req.target.uri.get(..n).unwrap_or_default().to_vec();
                uri.extend_from_slice(&value);
                req.target.uri = uri;
            }
        }
        return None;
    }
    Some(match &tf.fallback {
        CFallback::Code(code) => Next::Special(*code, Vec::new()),
        CFallback::Uri(text) => {
            let mut value = text.eval(req);
            strip_alias(
                &mut value,
                text.as_literal().is_none(),
                &req.target.uri.clone(),
            );
            Next::to(value)
        }
    })
}
