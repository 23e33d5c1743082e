//! The proxy module's own argument forms: `proxy_pass` URLs (with or without a URI part, or
//! with variables), `proxy_next_upstream` conditions and `proxy_redirect`.

use std::path::PathBuf;

use super::gateway::Protocol;
use super::proxy_rewrite::{Rewrite, regex_or_value};
use super::{Cx, Text};
use crate::syntax::Directive;

pub use crate::eval::plan::NextUpstream;

/// `proxy_pass URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyPass {
    /// A URL without variables: its upstream is known at load.
    Static(StaticPass),
    /// A URL with variables, evaluated per request (`ngx_http_proxy_eval`).
    Variables(Text),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPass {
    pub url: Url,
    pub text: Text,
}

/// A `proxy_pass` URL as `ngx_parse_url` splits it (with `uri_part`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    pub target: Target,
    /// The URI part (`/x/` in `http://up/x/`), `None` without one.
    pub uri: Option<String>,
}

/// Where a URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An upstream name or a host name / address, with the port as written.
    Host { name: String, port: Option<u16> },
    /// `unix:/path`: a unix-domain socket.
    Unix(PathBuf),
}

impl Url {
    /// `$proxy_host`: the host, plus `:port` when the port is not the scheme's default;
    /// `localhost` for a unix socket (`ngx_http_proxy_set_vars`).
    pub fn host_header(&self) -> String {
        match &self.target {
            Target::Host {
                name,
                port: Some(p),
            } if *p != self.default_port() => {
                format!("{name}:{p}")
            }
            Target::Host { name, .. } => name.clone(),
            Target::Unix(_) => "localhost".to_string(),
        }
    }

    /// `$proxy_port`: empty for a unix socket.
    pub fn proxy_port(&self) -> String {
        match &self.target {
            Target::Host { port, .. } => port.unwrap_or(self.default_port()).to_string(),
            Target::Unix(_) => String::new(),
        }
    }

    /// The port connected to when none is written.
    pub fn default_port(&self) -> u16 {
        if self.https { 443 } else { 80 }
    }
}

/// Splits `http://host[:port][/uri]` or `http://unix:/path[:uri]` the way `ngx_parse_url`
/// with `uri_part` does; the error is nginx's message when it is not a URL nginx accepts.
pub fn parse_url(url: &str) -> Result<Url, String> {
    let lower = url.to_ascii_lowercase();
    let (https, rest) = if lower.starts_with("http://") {
        (false, &url[7..])
    } else if lower.starts_with("https://") {
        (true, &url[8..])
    } else {
        return Err("invalid URL prefix".to_string());
    };
    if let Some(after) = strip_unix(rest) {
        let (path, uri) = match after.split_once(':') {
            Some((path, uri)) => (path, Some(uri)),
            None => (after, None),
        };
        let path = unix_path(path).map_err(|e| format!("{e} in upstream \"{rest}\""))?;
        return Ok(Url {
            https,
            target: Target::Unix(path),
            uri: uri.filter(|u| !u.is_empty()).map(str::to_string),
        });
    }
    let (authority, uri) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], Some(rest[i..].to_string())),
        None => (rest, None),
    };
    let (host, port) =
        split_host_port(authority).ok_or_else(|| format!("invalid port in upstream \"{rest}\""))?;
    if host.is_empty() {
        return Err(format!("no host in upstream \"{rest}\""));
    }
    Ok(Url {
        https,
        target: Target::Host { name: host, port },
        uri,
    })
}

/// What follows a `unix:` prefix, which nginx matches in any case.
pub fn strip_unix(target: &str) -> Option<&str> {
    let head = target.get(..5)?;
    head.eq_ignore_ascii_case("unix:").then(|| &target[5..])
}

/// The path of a `unix:` address, checked as `ngx_parse_unix_domain_url` checks it (it must
/// fit `sockaddr_un`'s 108 bytes with its terminating NUL).
pub fn unix_path(path: &str) -> Result<PathBuf, &'static str> {
    if path.is_empty() {
        return Err("no path in the unix domain socket");
    }
    if path.len() + 1 > SUN_PATH_LEN {
        return Err("too long path in the unix domain socket");
    }
    Ok(PathBuf::from(path))
}

/// `sizeof(sockaddr_un.sun_path)` on Linux.
const SUN_PATH_LEN: usize = 108;

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
pub fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        (format!("[{ip}]"), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    match port {
        Some(p) => {
            let p = p.parse::<u16>().ok().filter(|p| *p != 0)?;
            Some((host, Some(p)))
        }
        None => Some((host, None)),
    }
}

/// Reads `proxy_pass`.
pub fn pass(cx: &mut Cx<'_>, d: &Directive) -> Option<ProxyPass> {
    let text = cx.text(d, 0)?;
    if text.value.contains('$') {
        return Some(ProxyPass::Variables(text));
    }
    match parse_url(&text.value) {
        Ok(url) => Some(ProxyPass::Static(StaticPass { url, text })),
        Err(message) => {
            cx.error(d, message);
            None
        }
    }
}

/// `fastcgi_pass ADDRESS` (`ngx_http_fastcgi_pass`), `scgi_pass` and `uwsgi_pass`: a
/// `host:port`, an upstream's name or a `unix:` path, without a scheme (`uwsgi_pass` may
/// write `uwsgi://`), held as the URL `proxy_pass` would have for it (no URI part). A host's
/// problems (no port, unknown name) are reported with the other passes'
/// (`eval::unserved::check_passes`), a unix path's here. uwsgi over TLS (`suwsgi://`) is held
/// as an `https://` URL.
pub fn gateway_pass(cx: &mut Cx<'_>, d: &Directive, protocol: Protocol) -> Option<ProxyPass> {
    let text = cx.text(d, 0)?;
    if text.value.contains('$') {
        return Some(ProxyPass::Variables(text));
    }
    let url = match protocol {
        Protocol::Uwsgi => gateway_url(&text.value),
        _ => format!("http://{}", text.value),
    };
    match parse_url(&url) {
        Ok(url) => Some(ProxyPass::Static(StaticPass {
            url: Url { uri: None, ..url },
            text,
        })),
        Err(message) if strip_unix(&text.value).is_some() => {
            cx.error(d, message);
            None
        }
        Err(_) => None,
    }
}

/// A `uwsgi_pass` address as the URL `proxy_pass` would have for it: `uwsgi://` (nginx's test
/// ignores case) or none as `http://`, `suwsgi://`, uwsgi over TLS, as `https://`.
pub fn gateway_url(address: &str) -> String {
    let scheme = |s: &str| {
        address
            .get(..s.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(s))
    };
    if scheme("suwsgi://") {
        format!("https://{}", &address[9..])
    } else if scheme("uwsgi://") {
        format!("http://{}", &address[8..])
    } else {
        format!("http://{address}")
    }
}

/// `proxy_next_upstream error timeout ...` (`ngx_conf_set_bitmask_slot`).
pub fn next_upstream(cx: &mut Cx<'_>, d: &Directive) -> Option<NextUpstream> {
    let mut n = NextUpstream::default();
    for w in &d.args {
        let flag = match w.as_str() {
            "error" => &mut n.error,
            "timeout" => &mut n.timeout,
            "invalid_header" => &mut n.invalid_header,
            "http_500" => &mut n.http_500,
            "http_502" => &mut n.http_502,
            "http_503" => &mut n.http_503,
            "http_504" => &mut n.http_504,
            "http_403" => &mut n.http_403,
            "http_404" => &mut n.http_404,
            "http_429" => &mut n.http_429,
            "non_idempotent" => &mut n.non_idempotent,
            "off" => &mut n.off,
            "updating" => continue,
            other => {
                cx.error(d, format!("invalid value \"{other}\""));
                return None;
            }
        };
        *flag = true;
    }
    Some(n)
}

/// nginx's default `proxy_next_upstream error timeout`.
pub fn default_next_upstream() -> NextUpstream {
    NextUpstream {
        error: true,
        timeout: true,
        tries: crate::defaults::http::NEXT_UPSTREAM_TRIES,
        ..NextUpstream::default()
    }
}

/// `proxy_redirect default` needs the `proxy_pass` above it in the same location, without
/// variables (`ngx_http_proxy_redirect`); `false` (and nginx's error) otherwise.
pub fn default_redirect_allowed(cx: &mut Cx<'_>, d: &Directive, pass: Option<&ProxyPass>) -> bool {
    if d.arg(0) != Some("default") {
        return true;
    }
    let problem = match pass {
        None => "\"proxy_redirect default\" should be placed after the \"proxy_pass\" directive",
        Some(ProxyPass::Variables(_)) => {
            "\"proxy_redirect default\" cannot be used with \"proxy_pass\" directive with variables"
        }
        Some(ProxyPass::Static(_)) => return true,
    };
    cx.error(d, problem);
    false
}

/// `proxy_redirect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    Off,
    Default,
    /// A value (with variables) that must start the URL, or a `~`/`~*` regex found anywhere
    /// in it.
    Replace(Rewrite),
}

pub fn redirect(cx: &mut Cx<'_>, d: &Directive) -> Option<Redirect> {
    match (d.arg(0), d.args.len()) {
        (Some("off"), 1) => Some(Redirect::Off),
        (Some("default"), 1) => Some(Redirect::Default),
        (Some(_), 2) => Some(Redirect::Replace(Rewrite {
            pattern: regex_or_value(cx.text(d, 0)?, true),
            replacement: cx.text(d, 1)?,
        })),
        _ => {
            cx.arity(d);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(https: bool, name: &str, port: Option<u16>, uri: Option<&str>) -> Url {
        Url {
            https,
            target: Target::Host {
                name: name.into(),
                port,
            },
            uri: uri.map(str::to_string),
        }
    }

    #[test]
    fn uwsgi_addresses_take_their_scheme_as_a_url_s() {
        assert_eq!(gateway_url("127.0.0.1:9"), "http://127.0.0.1:9");
        assert_eq!(gateway_url("UWSGI://a:1"), "http://a:1");
        assert_eq!(gateway_url("suwsgi://a:1"), "https://a:1");
        assert_eq!(gateway_url("unix:/run/u.sock"), "http://unix:/run/u.sock");
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://websocket"),
            Ok(host(false, "websocket", None, None))
        );
        assert_eq!(
            parse_url("http://127.0.0.1:8080/x/"),
            Ok(host(false, "127.0.0.1", Some(8080), Some("/x/")))
        );
        assert_eq!(
            parse_url("HTTPS://[::1]:8443"),
            Ok(host(true, "[::1]", Some(8443), None))
        );
        assert_eq!(parse_url("ftp://x"), Err("invalid URL prefix".into()));
        assert!(parse_url("http://x:0").is_err());
    }

    #[test]
    fn unix_urls_take_the_uri_after_the_path() {
        let unix = |path: &str, uri: Option<&str>| Url {
            https: false,
            target: Target::Unix(path.into()),
            uri: uri.map(str::to_string),
        };
        assert_eq!(
            parse_url("http://unix:/run/a.sock"),
            Ok(unix("/run/a.sock", None))
        );
        assert_eq!(
            parse_url("http://UNIX:/run/a.sock:/x?y"),
            Ok(unix("/run/a.sock", Some("/x?y")))
        );
        assert_eq!(
            parse_url("http://unix:/run/a.sock:"),
            Ok(unix("/run/a.sock", None))
        );
        let url = parse_url("http://unix:/run/a.sock").expect("valid");
        assert_eq!(
            (url.host_header().as_str(), url.proxy_port().as_str()),
            ("localhost", "")
        );
        assert_eq!(
            parse_url("http://unix::/x"),
            Err("no path in the unix domain socket in upstream \"unix::/x\"".into())
        );
        let long = format!("http://unix:/{}", "a".repeat(107));
        assert!(parse_url(&long).is_err_and(|e| e.starts_with("too long path")));
    }
}
