//! The request's half of nginx's gzip decision, compiled once per level and applied per
//! request: `ngx_http_gzip_ok` reads only the request (`Accept-Encoding`, the HTTP version,
//! `User-Agent`, `Via`, `Authorization`) except for `gzip_proxied`'s response flags, which the
//! runtime checks once the answer is known (`runtime/gzip.rs` does the filter itself).

use std::sync::Arc;

use super::headers::header;
use super::plan::{Gzip, GzipClient, GzipSettings, GzipTypes, Proxied};
use super::regex::Regex;
use super::request::Req;
use crate::config::Cx;
use crate::config::gzip::{Gzip as Settings, GzipStatic};

/// A level's merged gzip settings, regexes compiled, with the filter for each of the three
/// verdicts a request can get (handed out without allocating).
#[derive(Debug)]
pub struct CGzip {
    declined: Arc<Gzip>,
    accepted: Arc<Gzip>,
    by_response: Arc<Gzip>,
    ok: Arc<GzipOk>,
}

/// What `ngx_http_gzip_ok` reads of a level: the core module's `gzip_http_version`,
/// `gzip_proxied` and `gzip_disable`, which the gzip filter and `gzip_static` both ask.
#[derive(Debug)]
pub struct GzipOk {
    http10: bool,
    proxied: Proxied,
    disable: Vec<Regex>,
    msie6: bool,
}

/// A level's `gzip_static on|always` (`ngx_http_gzip_static_handler`), with `gzip_vary`.
#[derive(Debug)]
pub struct CGzipStatic {
    /// `always`: the `.gz` file goes to every client, and no `Vary` is asked for.
    pub always: bool,
    /// `gzip_vary`: with `on`, a `.gz` file found makes the answer say
    /// `Vary: Accept-Encoding`, whichever file is sent.
    pub vary: bool,
    ok: Arc<GzipOk>,
}

/// The level's gzip and gunzip filters (`None` with `gzip off` and `gunzip off`: the filters
/// then do nothing, not even `Vary`) and its `gzip_static` (`None` when `off`).
pub fn compile(cx: &mut Cx<'_>, g: &Settings) -> (Option<Arc<CGzip>>, Option<Arc<CGzipStatic>>) {
    let filter = g.enable.unwrap_or(false);
    let gunzip = g.gunzip.unwrap_or(false);
    let static_ = g.static_.unwrap_or(GzipStatic::Off);
    if !filter && !gunzip && static_ == GzipStatic::Off {
        return (None, None);
    }
    let mut disable = Vec::new();
    for text in g.disable.iter().flatten() {
        match Regex::new(&text.value, true) {
            Ok(re) => disable.push(re),
            Err(message) => cx.late_error_at("gzip_disable::regex", message, text.span),
        }
    }
    let proxied = g.proxied.unwrap_or(Proxied::OFF);
    let ok = Arc::new(GzipOk {
        http10: g.http10.unwrap_or(false),
        proxied,
        disable,
        msie6: g.disable_msie6.unwrap_or(false),
    });
    let vary = g.vary.unwrap_or(false);
    let static_ = (static_ != GzipStatic::Off).then(|| {
        Arc::new(CGzipStatic {
            always: static_ == GzipStatic::Always,
            vary,
            ok: ok.clone(),
        })
    });
    if !filter && !gunzip {
        return (None, static_);
    }
    let settings = Arc::new(GzipSettings {
        filter,
        gunzip,
        level: g.comp_level.unwrap_or(1),
        min_length: g.min_length.unwrap_or(20),
        types: g.types.clone().unwrap_or_else(GzipTypes::html),
        vary,
    });
    let with = |client| {
        Arc::new(Gzip {
            settings: settings.clone(),
            client,
        })
    };
    let filter = Arc::new(CGzip {
        declined: with(GzipClient::Declined),
        accepted: with(GzipClient::Accepted),
        by_response: with(GzipClient::ByResponse(proxied)),
        ok,
    });
    (Some(filter), static_)
}

impl CGzip {
    /// The filter for `req`, with `ngx_http_gzip_ok`'s verdict on the request.
    pub fn for_request(&self, req: &Req<'_>) -> Arc<Gzip> {
        let verdict = match self.ok.verdict(req) {
            GzipClient::Declined => &self.declined,
            GzipClient::Accepted => &self.accepted,
            GzipClient::ByResponse(_) => &self.by_response,
        };
        verdict.clone()
    }
}

impl CGzipStatic {
    /// Whether `req` may get the `.gz` file. Under `on`, a request through a proxy whose
    /// `gzip_proxied` flags look at the response is let through: nginx asks before the
    /// response has any header those flags read.
    pub fn allows(&self, req: &Req<'_>) -> bool {
        self.always || self.ok.verdict(req) != GzipClient::Declined
    }
}

impl GzipOk {
    /// `ngx_http_gzip_ok` on `req`; each header read is the first of its name, as nginx
    /// keeps. A subrequest is declined.
    fn verdict(&self, req: &Req<'_>) -> GzipClient {
        if req.subrequest {
            return GzipClient::Declined;
        }
        let first = |name| header(&req.headers, name);
        let user_agent = first("user-agent");
        let declined = !first("accept-encoding").is_some_and(|v| accepts_gzip(&v))
            || (self.msie6 && user_agent.as_deref().is_some_and(is_msie6))
            || (!self.http10 && req.info.version == "HTTP/1.0")
            || user_agent.is_some_and(|ua| self.disable.iter().any(|re| re.is_match(&ua)));
        let p = self.proxied;
        if declined || (first("via").is_some() && p.has(Proxied::OFF)) {
            GzipClient::Declined
        } else if first("via").is_none()
            || p.has(Proxied::ANY)
            || (p.has(Proxied::AUTH) && first("authorization").is_some())
        {
            GzipClient::Accepted
        } else {
            GzipClient::ByResponse(p)
        }
    }
}

/// Whether an `Accept-Encoding` value lets nginx send gzip: `gzip,` at the start, or a `gzip`
/// token (after the start, a `,` or a space) with no `q` or a nonzero one as
/// `ngx_http_gzip_accept_encoding` reads it, quirks included (`xgzipgzip` counts, and the
/// digits after `q=0.` are added up rather than read as a fraction).
pub fn accepts_gzip(value: &[u8]) -> bool {
    if value.len() < 4 {
        return false;
    }
    if value.starts_with(b"gzip,") {
        return true;
    }
    let mut start = 0;
    let at = loop {
        let Some(i) = find_caseless(&value[start..], b"gzip") else {
            return false;
        };
        let p = start + i;
        if p == start || matches!(value[p - 1], b',' | b' ') {
            break p + 4;
        }
        start = p + 4;
    };
    let mut rest = value[at..].iter();
    // After the token: `,` ends it, `;` starts parameters, spaces are skipped.
    loop {
        match rest.next() {
            None | Some(b',') => return true,
            Some(b';') => break,
            Some(b' ') => {}
            Some(_) => return false,
        }
    }
    // Only `q` may follow, after spaces.
    loop {
        match rest.next() {
            None => return true,
            Some(b'q' | b'Q') => break,
            Some(b' ') => {}
            Some(_) => return false,
        }
    }
    let rest = rest.as_slice();
    rest.len() >= 2 && rest[0] == b'=' && quantity(&rest[1..]) > 0
}

/// `ngx_http_gzip_quantity`: `0` or `1`, then optionally `.` and at most three digits, which
/// nginx adds up; anything above 100 or malformed is 0.
fn quantity(text: &[u8]) -> u32 {
    let mut bytes = text.iter();
    let mut q = match bytes.next() {
        Some(b'0') => 0,
        Some(b'1') => 100,
        _ => return 0,
    };
    match bytes.next() {
        None | Some(b',' | b' ') => return q,
        Some(b'.') => {}
        Some(_) => return 0,
    }
    let mut digits = 0;
    for &c in bytes {
        match c {
            b',' | b' ' => break,
            b'0'..=b'9' => {
                q += u32::from(c - b'0');
                digits += 1;
            }
            _ => return 0,
        }
    }
    if q > 100 || digits > 3 { 0 } else { q }
}

/// nginx's `msie6` test on `User-Agent` (`ngx_http_process_user_agent`): `MSIE 4.`, `MSIE 5.`,
/// or `MSIE 6.` without `SV1` after it, and not Opera.
pub fn is_msie6(ua: &[u8]) -> bool {
    let Some(at) = find(ua, b"MSIE ") else {
        return false;
    };
    if at + 7 >= ua.len() || ua[at + 6] != b'.' || find(ua, b"Opera").is_some() {
        return false;
    }
    match ua[at + 5] {
        b'4' | b'5' => true,
        b'6' => find(&ua[at + 8..], b"SV1").is_none(),
        _ => false,
    }
}

/// `$gzip_ratio`: bytes in over bytes out of deflate, two decimals rounded half up as nginx
/// rounds them; not found when nothing came out.
pub fn ratio(zin: u64, zout: u64) -> Option<String> {
    if zout == 0 {
        return None;
    }
    let hundredths = zin * 100 / zout + u64::from((zin * 1000 / zout) % 10 > 4);
    Some(format!("{}.{:02}", hundredths / 100, hundredths % 100))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn find_caseless(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_reads_as_nginx_reads_it() {
        let yes: &[&[u8]] = &[
            b"gzip",
            b"gzip, deflate, br",
            b"gzip,x",
            b"deflate, gzip",
            b"br,GZIP",
            b"gzip;q=0.5, br",
            b"gzip; q=1.0",
            b"gzip;q=0.001",
            b"x, gzip ;q=1 ",
            b"xgzipgzip",
            b"gzip ",
            b"gzip;q=1",
        ];
        let no: &[&[u8]] = &[
            b"",
            b"gzi",
            b"deflate",
            b"xgzip",
            b"gzip;q=0",
            b"gzip;q=0.000",
            b"gzip;q=",
            b"gzip;q=1.5",
            b"gzip;q=0.0001",
            b"gzip;level=1",
            b"gzipx",
            b"x-gzip",
            b"identity;q=1, *;q=0",
        ];
        for v in yes {
            assert!(accepts_gzip(v), "{}", String::from_utf8_lossy(v));
        }
        for v in no {
            assert!(!accepts_gzip(v), "{}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn ratio_rounds_as_nginx() {
        assert_eq!(ratio(53, 40).as_deref(), Some("1.33"));
        assert_eq!(ratio(2125, 1000).as_deref(), Some("2.13"));
        assert_eq!(ratio(1999, 1000).as_deref(), Some("2.00"));
        assert_eq!(ratio(10, 0), None);
    }

    #[test]
    fn msie6_is_old_msie_only() {
        assert!(is_msie6(
            b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"
        ));
        assert!(is_msie6(b"Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)"));
        assert!(!is_msie6(
            b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"
        ));
        assert!(!is_msie6(
            b"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)"
        ));
        assert!(!is_msie6(b"Opera/9.0 (compatible; MSIE 6.0)"));
        assert!(!is_msie6(b"curl/8"));
    }
}
