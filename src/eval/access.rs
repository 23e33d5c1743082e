//! The access phase (`ngx_http_core_access_phase`): the access module's `allow`/`deny`
//! (`ngx_http_access_handler`: the first rule whose address matches the client decides,
//! `all` matches everyone), then the auth_basic module (`ngx_http_auth_basic_handler`), then
//! the auth_request module (`ngx_http_auth_request_handler`), in that order because nginx
//! runs a phase's handlers from the last module registered. The auth_request module asks a
//! subrequest: the phase stops with [`Decision::Ask`], the runtime serves the subrequest and
//! routes the request again with its outcome (`RequestInfo::auth`), which then decides.
//! Under `satisfy all` the first refusal answers; under `satisfy any` the first handler that
//! allows ends the phase, and otherwise the refusal kept (401 over 403) answers after it.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

use super::crypt::{self, Verdict};
use super::plan::{ErrorLine, Outcome};
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
    /// `auth_delay`: a 401 the phase ends in is answered this much later (nginx's
    /// `ngx_http_core_auth_delay`, which hides how long checking a password took).
    pub delay: Duration,
    /// `auth_request` (not `off`) with the level's `auth_request_set`s.
    pub auth: Option<AuthRequest>,
}

/// `auth_request URI` and the variables set from its subrequest's answer.
#[derive(Debug)]
pub struct AuthRequest {
    /// The subrequest's URI, routed in the same server as an internal GET.
    pub uri: Vec<u8>,
    /// `auth_request_set`: each variable and its value.
    sets: Vec<(Assigned, Complex)>,
}

/// A variable `auth_request_set` gives a value.
#[derive(Debug)]
enum Assigned {
    /// `$args`, whose set handler replaces the request's arguments.
    Args,
    /// A variable of the configuration's own (its name lowercase), kept as `set` keeps it.
    Var(String),
}

/// How the access phase ended, when it did not let the request through.
#[derive(Debug)]
pub enum Decision<'c> {
    /// The request is refused with this status and headers (`WWW-Authenticate`).
    Refused(u16, Vec<(Bytes, Bytes)>),
    /// The auth_request module needs its subrequest's answer first.
    Ask(&'c AuthRequest),
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
        let auth = match st.auth_request.as_ref().and_then(Option::as_ref) {
            Some(uri) => {
                let mut sets = Vec::new();
                for set in st.auth_request_set.iter().flatten() {
                    if !super::vars::definable(&set.variable) {
                        let message = format!("the duplicate \"{}\" variable", set.variable);
                        super::script::at(cx, &set.value, message);
                        return None;
                    }
                    let value = Complex::compile(cx, reg, &set.value)?;
                    let name = set.variable.to_ascii_lowercase();
                    let assigned = match name.as_str() {
                        "args" => Assigned::Args,
                        _ => Assigned::Var(name),
                    };
                    sets.push((assigned, value));
                }
                Some(AuthRequest {
                    uri: uri.value.as_bytes().to_vec(),
                    sets,
                })
            }
            None => None,
        };
        Some(Access {
            rules: st.access.clone().unwrap_or_default(),
            basic,
            satisfy_any: st.satisfy_any.unwrap_or(false),
            delay: st.auth_delay.unwrap_or(Duration::ZERO),
            auth,
        })
    }
}

/// The phase: `Some` when the request is refused (a status, and headers such as
/// `WWW-Authenticate`) or waits for its auth subrequest, with nginx's error-log lines.
pub fn check<'c, 'a>(
    access: &'c Access,
    req: &mut Req<'a>,
    served: &mut Served,
) -> Option<Decision<'c>> {
    let mut kept: Option<(u16, Vec<(Bytes, Bytes)>)> = None;
    for handler in [Handler::Rules, Handler::Basic, Handler::Request] {
        let said = match handler {
            Handler::Rules => rules(access, req, served),
            Handler::Basic => match &access.basic {
                Some(b) => auth_basic(b, req, served),
                None => Said::Declined,
            },
            Handler::Request => match (&access.auth, req.info.auth.get(req.auth_used)) {
                (None, _) => Said::Declined,
                (Some(auth), None) => return Some(Decision::Ask(auth)),
                (Some(auth), Some(outcome)) => {
                    req.auth_used += 1;
                    auth_request(auth, outcome, req, served)
                }
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
            Said::Refused(status, headers) => return Some(Decision::Refused(status, headers)),
        }
    }
    let (status, headers) = kept?;
    if status == 403 {
        served
            .errors
            .push(ErrorLine::error("access forbidden by rule".to_string()));
    }
    Some(Decision::Refused(status, headers))
}

/// The phase's handlers in nginx's order.
#[derive(Clone, Copy)]
enum Handler {
    Rules,
    Basic,
    Request,
}

/// `ngx_http_auth_request_handler` once the subrequest is done: its `auth_request_set`s
/// are evaluated whatever it answered; a 2xx allows, a 401 (with the subrequest's
/// `WWW-Authenticate`) or 403 refuses, anything else is a 500.
fn auth_request<'a>(
    auth: &AuthRequest,
    outcome: &'a Outcome,
    req: &mut Req<'a>,
    served: &mut Served,
) -> Said {
    auth_sets(auth, outcome, req);
    match outcome.status {
        200..=299 => Said::Allowed,
        401 => {
            let challenge = outcome
                .upstream_headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(b"www-authenticate"))
                .map(|(_, v)| (Bytes::from_static(b"WWW-Authenticate"), v.clone()));
            Said::Refused(401, challenge.into_iter().collect())
        }
        403 => Said::Refused(403, Vec::new()),
        status => {
            served.errors.push(ErrorLine::error(format!(
                "auth request unexpected status: {status} while sending to client"
            )));
            Said::Refused(500, Vec::new())
        }
    }
}

/// `auth_request_set`: each value evaluated in the subrequest's context (its upstream's
/// `$upstream_http_*`), kept in the request's variables.
pub fn auth_sets<'a>(auth: &AuthRequest, outcome: &'a Outcome, req: &mut Req<'a>) {
    if auth.sets.is_empty() {
        return;
    }
    let main = req.outcome.replace(outcome);
    for (assigned, value) in &auth.sets {
        let v = value.eval(req);
        match assigned {
            Assigned::Args => req.set_args(v),
            Assigned::Var(name) => req.sets.push((name.clone(), v)),
        }
    }
    req.outcome = main;
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
