//! The FastCGI module's part of routing: a level's `fastcgi_param`s compiled, the params of
//! one request evaluated as `ngx_http_fastcgi_create_request` lists them, and the
//! `$fastcgi_script_name` / `$fastcgi_path_info` pair (`fastcgi_split_path_info`,
//! `fastcgi_index`). The records themselves are the runtime's (`runtime/fastcgi.rs`).

use std::sync::Arc;

use bytes::Bytes;

use super::plan::FastCgiRequest;
use super::regex::{Captures, Regex};
use super::request::Req;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::fastcgi::FastCgi;

/// A location's params, ready to evaluate.
#[derive(Debug)]
pub struct CFastCgi {
    /// `fastcgi_param`s in order: name, value, `if_not_empty`. An `HTTP_*` param whose
    /// value is written empty is left out (it only hides the client's header).
    params: Vec<(Bytes, Complex, bool)>,
    /// The client headers the `HTTP_*` params stand for, as nginx compares them: lowercase,
    /// `-` as `_`, without `HTTP_`.
    hidden: Vec<Vec<u8>>,
    /// A param names `HTTP_IF_MODIFIED_SINCE`, `HTTP_IF_NONE_MATCH` ([`FastCgiRequest`]).
    own_validators: [bool; 2],
    pub pass_request_headers: bool,
    pub keep_conn: bool,
    pub request_buffering: bool,
    catch_stderr: Arc<[Bytes]>,
}

impl CFastCgi {
    /// `None` after an error (reported).
    pub fn compile(cx: &mut Cx<'_>, reg: &Registry, f: &FastCgi) -> Option<CFastCgi> {
        let mut params = Vec::new();
        let mut hidden = Vec::new();
        for p in f.param.as_deref().unwrap_or_default() {
            let value = Complex::compile(cx, reg, &p.value)?;
            if let Some(header) = p.name.strip_prefix("HTTP_").filter(|h| !h.is_empty()) {
                hidden.push(header.to_ascii_lowercase().into_bytes());
                if p.value.value.is_empty() {
                    continue;
                }
            }
            params.push((Bytes::from(p.name.clone()), value, p.if_not_empty));
        }
        let names = |name: &str| {
            f.param
                .iter()
                .flatten()
                .any(|p| p.name.eq_ignore_ascii_case(name))
        };
        Some(CFastCgi {
            params,
            hidden,
            own_validators: [names("HTTP_IF_MODIFIED_SINCE"), names("HTTP_IF_NONE_MATCH")],
            pass_request_headers: f.pass_request_headers.unwrap_or(true),
            keep_conn: f.keep_conn.unwrap_or(false),
            request_buffering: f.request_buffering.unwrap_or(true),
            catch_stderr: f
                .catch_stderr
                .iter()
                .flatten()
                .map(|s| Bytes::from(s.clone()))
                .collect(),
        })
    }

    /// The request's params: each `fastcgi_param` (one `if_not_empty` that came out empty
    /// left out), then, unless `fastcgi_pass_request_headers off`, each client header as
    /// `HTTP_NAME` (uppercase, `-` as `_`) but those an `HTTP_*` param names.
    pub fn request(&self, req: &mut Req<'_>) -> FastCgiRequest {
        let mut params = Vec::with_capacity(self.params.len() + req.headers.len());
        for (name, value, if_not_empty) in &self.params {
            let value = value.eval(req);
            if *if_not_empty && value.is_empty() {
                continue;
            }
            params.push((name.clone(), Bytes::from(value)));
        }
        let headers_at = params.len();
        if self.pass_request_headers {
            for (name, value) in req.headers.iter() {
                let lower: Vec<u8> = name
                    .iter()
                    .map(|&c| match c {
                        b'-' => b'_',
                        c => c.to_ascii_lowercase(),
                    })
                    .collect();
                if self.hidden.contains(&lower) {
                    continue;
                }
                let mut key = Vec::with_capacity(5 + name.len());
                key.extend_from_slice(b"HTTP_");
                key.extend(name.iter().map(|&c| match c {
                    b'-' => b'_',
                    c => c.to_ascii_uppercase(),
                }));
                params.push((Bytes::from(key), value.clone()));
            }
        }
        FastCgiRequest {
            params,
            headers_at,
            own_validators: self.own_validators,
            keep_conn: self.keep_conn,
            whole_body: self.request_buffering,
            catch_stderr: self.catch_stderr.clone(),
        }
    }
}

/// A level's `fastcgi_split_path_info` and `fastcgi_index`, for `$fastcgi_script_name` and
/// `$fastcgi_path_info`.
#[derive(Debug, Default)]
pub struct ScriptName {
    split: Option<Regex>,
    index: Vec<u8>,
}

impl ScriptName {
    /// The pattern must compile and have two captures (`ngx_http_fastcgi_split_path_info`);
    /// a problem is reported and leaves the level without one.
    pub fn compile(cx: &mut Cx<'_>, f: &FastCgi) -> ScriptName {
        let split = f.split_path_info.as_ref().and_then(|text| {
            let message = match Regex::new(&text.value, false) {
                Ok(re) if re.groups() == 2 => return Some(re),
                Ok(_) => format!("pattern \"{}\" must have 2 captures", text.value),
                Err(message) => message,
            };
            cx.late_error_at("fastcgi::split_path_info", message, text.span);
            None
        });
        ScriptName {
            split,
            index: f.index.clone().unwrap_or_default().into_bytes(),
        }
    }

    /// `(script name, path info)` of `uri` (`ngx_http_fastcgi_split`): the pattern's two
    /// captures when it matches, else the whole URI and nothing; a script name ending in
    /// `/` takes `fastcgi_index` after it.
    pub fn split(&self, uri: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut caps = Captures::default();
        let (mut script, info) = match &self.split {
            Some(re) if re.exec(uri, &mut caps) => (caps.get(1), caps.get(2)),
            _ => (uri.to_vec(), Vec::new()),
        };
        if script.ends_with(b"/") {
            script.extend_from_slice(&self.index);
        }
        (script, info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_names_split_and_take_the_index() {
        let names = ScriptName {
            split: Regex::new(r"^(.+?\.php)(/.*)$", false).ok(),
            index: b"index.php".to_vec(),
        };
        let split = |uri: &str| {
            let (s, i) = names.split(uri.as_bytes());
            (String::from_utf8(s).unwrap(), String::from_utf8(i).unwrap())
        };
        assert_eq!(split("/a.php/b/c"), ("/a.php".into(), "/b/c".into()));
        assert_eq!(split("/dir/"), ("/dir/index.php".into(), "".into()));
        assert_eq!(split("/x.html"), ("/x.html".into(), "".into()));
        assert_eq!(ScriptName::default().split(b"/d/").0, b"/d/");
    }
}
