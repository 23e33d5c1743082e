//! The proxy module's own argument forms: `proxy_pass` URLs (with or without a URI part, or
//! with variables), `proxy_next_upstream` conditions and `proxy_redirect`.

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
    pub https: bool,
    /// The host part as written (an upstream name or a host name / address).
    pub host: String,
    /// The port as written, when there is one.
    pub port: Option<u16>,
    /// The URI part (`/x/` in `http://up/x/`), `None` without one.
    pub uri: Option<String>,
    pub text: Text,
}

impl StaticPass {
    /// `$proxy_host`: the host, plus `:port` when the port is not the scheme's default.
    pub fn host_header(&self) -> String {
        match self.port {
            Some(p) if p != self.default_port() => format!("{}:{p}", self.host),
            _ => self.host.clone(),
        }
    }

    /// `$proxy_port`.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(self.default_port())
    }

    fn default_port(&self) -> u16 {
        if self.https { 443 } else { 80 }
    }
}

/// Splits `http://host[:port][/uri]` the way `ngx_parse_url` with `uri_part` does. `None` with
/// nginx's message when it is not a URL nginx accepts.
pub fn parse_url(url: &str) -> Result<(bool, String, Option<u16>, Option<String>), String> {
    let lower = url.to_ascii_lowercase();
    let (https, rest) = if lower.starts_with("http://") {
        (false, &url[7..])
    } else if lower.starts_with("https://") {
        (true, &url[8..])
    } else {
        return Err("invalid URL prefix".to_string());
    };
    if rest.starts_with("unix:") {
        return Err("ngxr does not proxy to unix sockets yet".to_string());
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
    Ok((https, host, port, uri))
}

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
        Ok((https, host, port, uri)) => Some(ProxyPass::Static(StaticPass {
            https,
            host,
            port,
            uri,
            text,
        })),
        Err(message) => {
            cx.error(d, message);
            None
        }
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
    Replace(Text, Text),
}

pub fn redirect(cx: &mut Cx<'_>, d: &Directive) -> Option<Redirect> {
    match (d.arg(0), d.args.len()) {
        (Some("off"), 1) => Some(Redirect::Off),
        (Some("default"), 1) => Some(Redirect::Default),
        (Some(_), 2) => Some(Redirect::Replace(cx.text(d, 0)?, cx.text(d, 1)?)),
        _ => {
            cx.arity(d);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://websocket"),
            Ok((false, "websocket".into(), None, None))
        );
        assert_eq!(
            parse_url("http://127.0.0.1:8080/x/"),
            Ok((false, "127.0.0.1".into(), Some(8080), Some("/x/".into())))
        );
        assert_eq!(
            parse_url("HTTPS://[::1]:8443"),
            Ok((true, "[::1]".into(), Some(8443), None))
        );
        assert_eq!(parse_url("ftp://x"), Err("invalid URL prefix".into()));
        assert!(parse_url("http://x:0").is_err());
    }
}
