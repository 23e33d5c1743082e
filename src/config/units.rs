//! Typed views of nginx's value parsers (`crate::units` holds `ngx_parse_size`/`_offset`/
//! `_time`): times as `Duration`, sizes as `u64`, and `on`/`off` as `ngx_conf_set_flag_slot`
//! reads them.

use std::time::Duration;

/// `ngx_parse_size`: a number with an optional `k` or `m` suffix (any case).
pub fn parse_size(text: &str) -> Option<usize> {
    crate::units::parse_size(text).and_then(|n| usize::try_from(n).ok())
}

/// `ngx_parse_offset`: a number with an optional `k`, `m` or `g` suffix (any case).
pub fn parse_offset(text: &str) -> Option<u64> {
    crate::units::parse_offset(text).and_then(|n| u64::try_from(n).ok())
}

/// `ngx_parse_time(text, 0)`: units `M w d h m s ms`, a bare number being seconds.
pub fn parse_msec(text: &str) -> Option<Duration> {
    let ms = crate::units::parse_time(text, false)?;
    u64::try_from(ms).ok().map(Duration::from_millis)
}

/// `ngx_parse_time(text, 1)`: seconds; `ms` is not allowed.
pub fn parse_sec(text: &str) -> Option<Duration> {
    let s = crate::units::parse_time(text, true)?;
    u64::try_from(s).ok().map(Duration::from_secs)
}

/// `on`/`off`, case-insensitive.
pub fn parse_flag(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("on") {
        Some(true)
    } else if text.eq_ignore_ascii_case("off") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values() {
        assert_eq!(parse_msec("300s"), Some(Duration::from_secs(300)));
        assert_eq!(parse_msec("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_msec("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_sec("500ms"), None);
        assert_eq!(parse_sec("1y"), Some(Duration::from_secs(31_536_000)));
        assert_eq!(parse_offset("1m"), Some(1 << 20));
        assert_eq!(parse_offset("80m"), Some(80 << 20));
        assert_eq!(parse_flag("ON"), Some(true));
        assert_eq!(parse_flag("yes"), None);
    }
}
