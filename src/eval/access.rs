//! The access phase (`ngx_http_core_access_phase`): the access module's `allow`/`deny`
//! (`ngx_http_access_handler`: the first rule whose address matches the client decides,
//! `all` matches everyone) and then the auth_basic module (`ngx_http_auth_basic_handler`),
//! in that order because nginx runs a phase's handlers from the last module registered.
//! Under `satisfy all` the first refusal answers; under `satisfy any` the first handler that
//! allows ends the phase, and otherwise the refusal kept (401 over 403) answers after it.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::crypt::{self, Verdict};
use super::plan::ErrorLine;
use super::request::Req;
use super::static_::Served;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::access::Rule;
use crate::config::settings::Settings;
use crate::syntax::include::os_error;

/// A level's access-phase settings, merged.
#[derive(Debug, Default)]
pub struct Access {
    pub rules: Vec<Rule>,
    /// Only when both `auth_basic` and `auth_basic_user_file` are in effect, as nginx checks.
    pub basic: Option<Basic>,
    pub satisfy_any: bool,
}

/// `auth_basic` with its user file.
#[derive(Debug)]
pub struct Basic {
    realm: Complex,
    user_file: Complex,
    /// A relative file name is taken from the configuration's directory (`conf_prefix`).
    conf_prefix: PathBuf,
}

/// What one handler said (`NGX_DECLINED`, `NGX_OK`, or a status with its headers).
enum Said {
    Declined,
    Allowed,
    Refused(u16, Vec<(Bytes, Bytes)>),
}

impl Access {
    /// Compiles a level's settings; `None` after an error (reported).
    pub fn compile(cx: &mut Cx<'_>, reg: &Registry, st: &Settings) -> Option<Access> {
        let basic = match (&st.auth_basic, &st.auth_basic_user_file) {
            (Some(realm), Some(file)) => Some(Basic {
                realm: Complex::compile(cx, reg, realm)?,
                user_file: Complex::compile(cx, reg, file)?,
                conf_prefix: cx.paths.conf_prefix.clone(),
            }),
            _ => None,
        };
        Some(Access {
            rules: st.access.clone().unwrap_or_default(),
            basic,
            satisfy_any: st.satisfy_any.unwrap_or(false),
        })
    }
}

/// The phase: `Some` status (and headers, `WWW-Authenticate`) when the request is refused,
/// with nginx's error-log lines.
pub fn check(
    access: &Access,
    req: &mut Req<'_>,
    served: &mut Served,
) -> Option<(u16, Vec<(Bytes, Bytes)>)> {
    let mut kept: Option<(u16, Vec<(Bytes, Bytes)>)> = None;
    for handler in [Handler::Rules, Handler::Basic] {
        let said = match handler {
            Handler::Rules => rules(access, req, served),
            Handler::Basic => match &access.basic {
                Some(b) => auth_basic(b, req, served),
                None => Said::Declined,
            },
        };
        match said {
            Said::Declined => {}
            Said::Allowed if access.satisfy_any => return None,
            Said::Allowed => {}
            Said::Refused(status @ (401 | 403), headers) if access.satisfy_any => {
                if kept.as_ref().is_none_or(|(s, _)| *s != 401) {
                    kept = Some((status, headers));
                }
            }
            Said::Refused(status, headers) => return Some((status, headers)),
        }
    }
    let (status, headers) = kept?;
    if status == 403 {
        served
            .errors
            .push(ErrorLine::error("access forbidden by rule".to_string()));
    }
    Some((status, headers))
}

/// The phase's handlers in nginx's order.
#[derive(Clone, Copy)]
enum Handler {
    Rules,
    Basic,
}

/// `ngx_http_access_handler`.
fn rules(access: &Access, req: &Req<'_>, served: &mut Served) -> Said {
    let client = req.client().ip();
    let Some(rule) = access
        .rules
        .iter()
        .find(|r| r.from.as_ref().is_none_or(|net| net.matches(client)))
    else {
        return Said::Declined;
    };
    if rule.allow {
        return Said::Allowed;
    }
    // Under `satisfy any` the line is written once the whole phase has refused.
    if !access.satisfy_any {
        served
            .errors
            .push(ErrorLine::error("access forbidden by rule".to_string()));
    }
    Said::Refused(403, Vec::new())
}

/// `ngx_http_auth_basic_handler`.
fn auth_basic(basic: &Basic, req: &mut Req<'_>, served: &mut Served) -> Said {
    let realm = basic.realm.eval(req);
    if realm == b"off" {
        return Said::Declined;
    }
    let challenge = || {
        let mut value = b"Basic realm=\"".to_vec();
        value.extend_from_slice(&realm);
        value.push(b'"');
        Said::Refused(
            401,
            vec![(Bytes::from_static(b"WWW-Authenticate"), Bytes::from(value))],
        )
    };
    let Some((user, passwd)) = super::headers::basic_credentials(&req.headers) else {
        served.errors.push(ErrorLine::info(
            "no user/password was provided for basic authentication".to_string(),
        ));
        return challenge();
    };
    let file = basic.user_file.eval(req);
    let file = until_nul(&file);
    let path = Path::new(std::ffi::OsStr::from_bytes(file));
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        basic.conf_prefix.join(path)
    };
    let shown = path.display().to_string();
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) => {
            let line = format!("open() \"{shown}\" failed ({})", os_error(&e));
            if e.kind() == std::io::ErrorKind::NotFound {
                served.errors.push(ErrorLine::error(line));
                return Said::Refused(403, Vec::new());
            }
            served.errors.push(ErrorLine::crit(line));
            return Said::Refused(500, Vec::new());
        }
    };
    let user_shown = String::from_utf8_lossy(&user);
    let Some(stored) = find_user(&text, &user) else {
        served.errors.push(ErrorLine::error(format!(
            "user \"{user_shown}\" was not found in \"{shown}\""
        )));
        return challenge();
    };
    match crypt::verify(&passwd, stored) {
        Verdict::Match => Said::Allowed,
        Verdict::Mismatch => {
            served.errors.push(ErrorLine::error(format!(
                "user \"{user_shown}\": password mismatch"
            )));
            challenge()
        }
        Verdict::Unsupported => {
            served.errors.push(ErrorLine::crit(format!(
                "crypt() failed: ngxr does not compute the scheme of user \"{user_shown}\" \
                 in \"{shown}\""
            )));
            Said::Refused(500, Vec::new())
        }
    }
}

fn until_nul(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| b == 0).map_or(s, |i| &s[..i])
}

/// The stored password of `user` as nginx's scan finds it: lines `user:password[:rest]`, a
/// line beginning with `#` or CR skipped, the password ending at `:`, CR or LF.
fn find_user<'t>(text: &'t [u8], user: &[u8]) -> Option<&'t [u8]> {
    text.split(|&b| b == b'\n').find_map(|line| {
        if line.first().is_some_and(|&b| b == b'#' || b == b'\r') {
            return None;
        }
        let rest = line.strip_prefix(user)?.strip_prefix(b":")?;
        let end = rest
            .iter()
            .position(|&b| b == b':' || b == b'\r')
            .unwrap_or(rest.len());
        Some(&rest[..end])
    })
}

#[cfg(test)]
mod tests {
    use super::find_user;

    #[test]
    fn the_user_file_is_scanned_as_nginx_does() {
        let text = b"# alice:{PLAIN}no\nbob:{PLAIN}b:comment\r\n\n\ralice:x\nalice:{PLAIN}a\r\n";
        assert_eq!(find_user(text, b"bob"), Some(&b"{PLAIN}b"[..]));
        assert_eq!(find_user(text, b"alice"), Some(&b"{PLAIN}a"[..]));
        assert_eq!(find_user(text, b"bo"), None);
        assert_eq!(find_user(b"carol:", b"carol"), Some(&b""[..]));
    }
}
