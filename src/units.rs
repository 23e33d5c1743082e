//! Sizes, offsets and times written the way nginx reads them (`ngx_parse_size`,
//! `ngx_parse_offset`, `ngx_parse_time`): `16k`, `1m`, `300s`, `1h 30m`, `500ms`, a bare number
//! being bytes or seconds. Values nginx rejects are `None` here, so the same configs fail.

/// `ngx_atoi` / `ngx_atosz`: decimal digits only, no sign, no overflow.
pub fn atoi(digits: &str) -> Option<i64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn scaled(s: &str, units: &[(u8, i64)]) -> Option<i64> {
    let last = *s.as_bytes().last()?;
    let (digits, scale) = match units.iter().find(|(u, _)| last.eq_ignore_ascii_case(u)) {
        Some(&(_, scale)) => (&s[..s.len() - 1], scale),
        None => (s, 1),
    };
    atoi(digits)?.checked_mul(scale)
}

/// A size: bytes, `k`/`K` or `m`/`M`.
pub fn parse_size(s: &str) -> Option<i64> {
    scaled(s, &[(b'k', 1 << 10), (b'm', 1 << 20)])
}

/// An offset: like a size, and `g`/`G` too.
pub fn parse_offset(s: &str) -> Option<i64> {
    scaled(s, &[(b'k', 1 << 10), (b'm', 1 << 20), (b'g', 1 << 30)])
}

/// A time in milliseconds (`is_sec == false`) or seconds. Units must come in decreasing order
/// (`y M w d h m s ms`), each at most once; a bare number is seconds; `y` and `M` are
/// accepted only where nginx takes seconds.
pub fn parse_time(s: &str, is_sec: bool) -> Option<i64> {
    // Steps in nginx's order; a unit must come after every unit already seen.
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
    let b = s.as_bytes();
    let mut step = if is_sec { START } else { MONTH };
    let (mut value, mut total, mut valid) = (0i64, 0i64, false);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        i += 1;
        if c.is_ascii_digit() {
            value = value.checked_mul(10)?.checked_add((c - b'0') as i64)?;
            valid = true;
            continue;
        }
        let (next, mut scale) = match c {
            b'y' if step == START => (YEAR, 365 * 86400),
            b'M' if step < MONTH => (MONTH, 30 * 86400),
            b'w' if step < WEEK => (WEEK, 7 * 86400),
            b'd' if step < DAY => (DAY, 86400),
            b'h' if step < HOUR => (HOUR, 3600),
            b'm' if b.get(i) == Some(&b's') => {
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
        if step != MSEC && !is_sec {
            scale *= 1000;
        }
        total = total.checked_add(value.checked_mul(scale)?)?;
        value = 0;
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
    }
    if !valid {
        return None;
    }
    if !is_sec {
        value = value.checked_mul(1000)?;
    }
    total.checked_add(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16k"), Some(16384));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("80m"), Some(80 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("1g"), None);
        assert_eq!(parse_offset("7g"), Some(7 << 30));
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size("-1"), None);
    }

    #[test]
    fn times_in_milliseconds() {
        assert_eq!(parse_time("300s", false), Some(300_000));
        assert_eq!(parse_time("60", false), Some(60_000));
        assert_eq!(parse_time("1h30m", false), Some(5_400_000));
        assert_eq!(parse_time("1h 30m", false), Some(5_400_000));
        assert_eq!(parse_time("500ms", false), Some(500));
        assert_eq!(parse_time("1s500ms", false), Some(1500));
        assert_eq!(parse_time("1y", false), None);
        assert_eq!(parse_time("30m1h", false), None);
        assert_eq!(parse_time("5x", false), None);
        assert_eq!(parse_time("s", false), None);
    }

    #[test]
    fn times_in_seconds() {
        assert_eq!(parse_time("5d", true), Some(432_000));
        assert_eq!(parse_time("1y", true), Some(31_536_000));
        assert_eq!(parse_time("10ms", true), None);
    }
}
