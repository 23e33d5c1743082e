//! nginx's value parsers for sizes, times and flags (`ngx_parse_size`, `ngx_parse_offset`,
//! `ngx_parse_time`, `ngx_conf_set_flag_slot`), so `16k`, `1h30m` and `500ms` mean exactly what
//! they mean to nginx and bad values are refused where nginx refuses them.

use std::time::Duration;

/// The largest value nginx's signed machine integers hold (`NGX_MAX_INT_T_VALUE` on 64 bits).
const MAX: i64 = i64::MAX;

fn atoi(digits: &str) -> Option<i64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok()
}

/// `ngx_parse_offset`: a number with an optional `k`, `m` or `g` suffix (any case).
pub fn parse_offset(text: &str) -> Option<u64> {
    let (digits, scale) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 1024),
        b'm' | b'M' => (&text[..text.len() - 1], 1024 * 1024),
        b'g' | b'G' => (&text[..text.len() - 1], 1024 * 1024 * 1024),
        _ => (text, 1),
    };
    let n = atoi(digits)?;
    if n > MAX / scale {
        return None;
    }
    u64::try_from(n * scale).ok()
}

/// `ngx_parse_size`: like [`parse_offset`] without the `g` suffix.
pub fn parse_size(text: &str) -> Option<u64> {
    if matches!(text.as_bytes().last(), Some(b'g' | b'G')) {
        return None;
    }
    parse_offset(text)
}

/// `ngx_parse_time(text, 0)`: milliseconds; units `y M w d h m s ms` in that order, a bare
/// number is seconds.
pub fn parse_msec(text: &str) -> Option<Duration> {
    parse_time(text, false).map(Duration::from_millis)
}

/// `ngx_parse_time(text, 1)`: seconds; `ms` is not allowed.
pub fn parse_sec(text: &str) -> Option<Duration> {
    parse_time(text, true).map(Duration::from_secs)
}

fn parse_time(text: &str, is_sec: bool) -> Option<u64> {
    // Steps in nginx's order; each unit may appear once and only after larger ones.
    const START: u8 = 0;
    const YEAR: u8 = 1;
    const MONTH: u8 = 2;
    const WEEK: u8 = 3;
    const DAY: u8 = 4;
    const HOUR: u8 = 5;
    const MIN: u8 = 6;
    const SEC: u8 = 7;
    const MSEC: u8 = 8;
    const LAST: u8 = 9;
    let bytes = text.as_bytes();
    let (mut valid, mut value, mut total): (bool, i64, i64) = (false, 0, 0);
    let mut step = if is_sec { START } else { MONTH };
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        i += 1;
        if c.is_ascii_digit() {
            value = value.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
            valid = true;
            continue;
        }
        let (next, mut scale): (u8, i64) = match c {
            b'y' if step == START => (YEAR, 60 * 60 * 24 * 365),
            b'M' if step < MONTH => (MONTH, 60 * 60 * 24 * 30),
            b'w' if step < WEEK => (WEEK, 60 * 60 * 24 * 7),
            b'd' if step < DAY => (DAY, 60 * 60 * 24),
            b'h' if step < HOUR => (HOUR, 60 * 60),
            b'm' if bytes.get(i) == Some(&b's') => {
                if is_sec || step >= MSEC {
                    return None;
                }
                i += 1;
                (MSEC, 1)
            }
            b'm' if step < MIN => (MIN, 60),
            b's' if step < SEC => (SEC, 1),
            b' ' if step < SEC => (LAST, 1),
            _ => return None,
        };
        step = next;
        let mut max = MAX / scale;
        if step != MSEC && !is_sec {
            scale *= 1000;
            max /= 1000;
        }
        if value > max {
            return None;
        }
        total = total.checked_add(value * scale)?;
        value = 0;
        while bytes.get(i) == Some(&b' ') {
            i += 1;
        }
    }
    if !valid {
        return None;
    }
    if !is_sec {
        value = value.checked_mul(1000)?;
    }
    u64::try_from(total.checked_add(value)?).ok()
}

/// `on`/`off` as `ngx_conf_set_flag_slot` reads them (case-insensitive).
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
    fn sizes_as_nginx() {
        assert_eq!(parse_size("16k"), Some(16 * 1024));
        assert_eq!(parse_size("1M"), Some(1024 * 1024));
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("1g"), None);
        assert_eq!(parse_offset("1g"), Some(1 << 30));
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("1.5m"), None);
    }

    #[test]
    fn times_as_nginx() {
        assert_eq!(parse_msec("300s"), Some(Duration::from_secs(300)));
        assert_eq!(parse_msec("60"), Some(Duration::from_secs(60)));
        assert_eq!(parse_msec("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_msec("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_msec("1h 30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_msec("1m1h"), None);
        assert_eq!(
            parse_msec("1y"),
            None,
            "years are not allowed for msec values"
        );
        assert_eq!(parse_sec("1y"), Some(Duration::from_secs(31_536_000)));
        assert_eq!(parse_sec("500ms"), None);
        assert_eq!(parse_msec("s"), None);
        assert_eq!(parse_msec("10x"), None);
        assert_eq!(parse_msec("1s500ms"), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn flags() {
        assert_eq!(parse_flag("ON"), Some(true));
        assert_eq!(parse_flag("off"), Some(false));
        assert_eq!(parse_flag("yes"), None);
    }
}
