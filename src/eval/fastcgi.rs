//! The FastCGI module's own variables: `$fastcgi_script_name` / `$fastcgi_path_info`
//! (`fastcgi_split_path_info`, `fastcgi_index`). Its params are those of every gateway
//! (`gateway.rs`); the records are the runtime's (`runtime/fastcgi.rs`).

use super::regex::{Captures, Regex};
use crate::config::Cx;
use crate::config::gateway::Gateway;

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
    pub fn compile(cx: &mut Cx<'_>, f: &Gateway) -> ScriptName {
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
