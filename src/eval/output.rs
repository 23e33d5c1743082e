//! The write side of a level, compiled once: `chunked_transfer_encoding`, `keepalive_disable`,
//! `keepalive_timeout`'s header value, `limit_rate`, `limit_rate_after`, `proxy_limit_rate`,
//! and how a body no one read is discarded (`lingering_timeout`, `lingering_time`). Per request it becomes the
//! [`Sending`] the runtime writes the answer by. A level that sets none of the rates costs a
//! request nothing: `rate` is `None` and no value is evaluated.

use std::sync::{Arc, Weak};

use super::headers::header;
use super::plan::{AddedTrailers, ErrorLine, Lingering, Sending};
use super::request::Req;
use super::site::Inner;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::settings::{KeepaliveDisable, Settings};
use crate::config::units::parse_size;

/// A level's settings of nginx's chunked and write filters.
#[derive(Debug, Clone)]
pub struct COutput {
    pub chunked: bool,
    pub keepalive_disable: KeepaliveDisable,
    /// `limit_rate` and `limit_rate_after`, when the level has either.
    pub rate: Option<Arc<CRate>>,
    pub proxy_limit_rate: u64,
    /// `keepalive_timeout`'s second value, seconds (0: none).
    pub keepalive_header: u64,
    pub lingering: Lingering,
    /// `msie_padding`.
    pub msie_padding: bool,
    /// `add_trailer`, which the chunked filter serves.
    pub trailers: Option<Arc<dyn AddedTrailers>>,
}

impl Default for COutput {
    fn default() -> COutput {
        COutput {
            chunked: true,
            // nginx's default is `keepalive_disable msie6`.
            keepalive_disable: KeepaliveDisable {
                msie6: true,
                safari: false,
            },
            rate: None,
            proxy_limit_rate: 0,
            keepalive_header: 0,
            lingering: Lingering::default(),
            msie_padding: true,
            trailers: None,
        }
    }
}

/// `limit_rate` and `limit_rate_after` (each 0 when not set).
#[derive(Debug)]
pub struct CRate {
    rate: Size,
    after: Size,
}

/// A size known at load, or one with variables (`ngx_http_complex_value_size`).
#[derive(Debug)]
enum Size {
    Fixed(u64),
    Evaluated(Complex),
}

impl COutput {
    /// The level's settings; `None` after an error (reported).
    pub fn compile(
        cx: &mut Cx<'_>,
        reg: &Registry,
        st: &Settings,
        site: &Weak<Inner>,
    ) -> Option<COutput> {
        let default = COutput::default();
        let rate = if st.limit_rate.is_some() || st.limit_rate_after.is_some() {
            let mut size = |text: &Option<crate::config::Text>| -> Option<Size> {
                let Some(text) = text else {
                    return Some(Size::Fixed(0));
                };
                let value = Complex::compile(cx, reg, text)?;
                // A size without variables was checked while the configuration was read.
                Some(match value.as_literal().and_then(literal_size) {
                    Some(n) => Size::Fixed(n),
                    None => Size::Evaluated(value),
                })
            };
            let rate = size(&st.limit_rate)?;
            let after = size(&st.limit_rate_after)?;
            Some(Arc::new(CRate { rate, after }))
        } else {
            None
        };
        Some(COutput {
            chunked: st.chunked_transfer_encoding.unwrap_or(default.chunked),
            keepalive_disable: st.keepalive_disable.unwrap_or(default.keepalive_disable),
            rate,
            proxy_limit_rate: st.proxy_limit_rate.map_or(0, |n| n as u64),
            keepalive_header: st.keepalive_header.unwrap_or(default.keepalive_header),
            lingering: Lingering {
                timeout: st.lingering_timeout.unwrap_or(default.lingering.timeout),
                time: st.lingering_time.unwrap_or(default.lingering.time),
            },
            msie_padding: st.msie_padding.unwrap_or(true),
            trailers: super::trailers::compile(cx, reg, st, site),
        })
    }

    /// How `req`'s answer is written; `errors` gets nginx's line for a value that is not a
    /// size. `set_rate` is what `set $limit_rate` gave, which nginx keeps over the
    /// directive.
    pub fn sending(&self, req: &mut Req<'_>, errors: &mut Vec<ErrorLine>) -> Sending {
        let mut sending = Sending {
            chunked: self.chunked,
            proxy_limit_rate: self.proxy_limit_rate,
            keepalive_header: self.keepalive_header,
            lingering: Some(self.lingering),
            msie_padding: self.msie_padding,
            ..Sending::default()
        };
        if let Some(set) = req.limit_rate {
            sending.limit_rate = set;
        }
        let Some(rate) = &self.rate else {
            return sending;
        };
        if req.limit_rate.is_none() {
            sending.limit_rate = rate.rate.eval(req, errors);
        }
        sending.limit_rate_after = rate.after.eval(req, errors);
        sending
    }

    /// `keepalive_disable`'s verdict on `req` (`ngx_http_update_location_config`): old MSIE
    /// after a POST, or Safari on macOS, gets no keep-alive.
    pub fn disables_keepalive(&self, req: &Req<'_>) -> bool {
        let KeepaliveDisable { msie6, safari } = self.keepalive_disable;
        if !(safari || (msie6 && req.info.method == "POST")) {
            return false;
        }
        let Some(ua) = header(&req.headers, "user-agent") else {
            return false;
        };
        (msie6 && req.info.method == "POST" && super::gzip::is_msie6(&ua))
            || (safari && is_safari(&ua))
    }
}

impl Size {
    fn eval(&self, req: &mut Req<'_>, errors: &mut Vec<ErrorLine>) -> u64 {
        match self {
            Size::Fixed(n) => *n,
            Size::Evaluated(value) => {
                let text = value.eval(req);
                match literal_size(&text) {
                    Some(n) => n,
                    None => {
                        errors.push(ErrorLine::error(format!(
                            "invalid size \"{}\" while sending response to client",
                            String::from_utf8_lossy(&text)
                        )));
                        0
                    }
                }
            }
        }
    }
}

/// `ngx_parse_size` of bytes: a number with an optional `k` or `m`.
pub fn literal_size(text: &[u8]) -> Option<u64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(parse_size)
        .map(|n| n as u64)
}

/// nginx's `safari` flag (`ngx_http_process_user_agent`): `Safari/` and `Mac OS X`, in an
/// agent that is not MSIE, Opera, Gecko or Chrome.
fn is_safari(ua: &[u8]) -> bool {
    let has = |needle: &[u8]| ua.windows(needle.len()).any(|w| w == needle);
    let msie = ua
        .windows(5)
        .position(|w| w == b"MSIE ")
        .is_some_and(|at| at + 7 < ua.len());
    !msie
        && !has(b"Opera")
        && !has(b"Gecko/")
        && !has(b"Chrome/")
        && has(b"Safari/")
        && has(b"Mac OS X")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safari_is_told_apart_as_nginx_does() {
        assert!(is_safari(b"Mac OS X Safari/7534.48.3"));
        assert!(!is_safari(b"Safari/7534.48.3"));
        assert!(!is_safari(
            b"Mozilla/5.0 (Macintosh; Intel Mac OS X) Chrome/120.0 Safari/537.36"
        ));
        assert!(!is_safari(b"Mac OS X Gecko/2010 Safari/1"));
        assert!(!is_safari(b"MSIE 5.0; Mac OS X Safari/1"));
    }

    #[test]
    fn sizes_are_bytes_kilobytes_or_megabytes() {
        assert_eq!(literal_size(b"40k"), Some(40960));
        assert_eq!(literal_size(b"1M"), Some(1 << 20));
        assert_eq!(literal_size(b"15"), Some(15));
        assert_eq!(literal_size(b""), None);
        assert_eq!(literal_size(b"1g"), None);
        assert_eq!(literal_size(b"1x"), None);
    }
}
