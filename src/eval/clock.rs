//! Time as nginx prints it in variables: `$time_local`, `$time_iso8601`, `$msec`, the
//! `seconds.milliseconds` form of `$request_time` and `$upstream_response_time`, and the
//! error log's and syslog's timestamps. Times are printed in UTC (nginx uses the local zone; ngxr's
//! servers run in UTC).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the epoch now, for the dates `expires` writes.
pub fn now_secs() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

/// `1.234`.
pub fn seconds(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// `$msec`: `1700000000.123`.
pub fn msec(t: SystemTime) -> String {
    seconds(t.duration_since(UNIX_EPOCH).unwrap_or_default())
}

/// `$time_local`: `24/Nov/2026:02:31:31 +0000`.
pub fn time_local(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.min,
        c.sec
    )
}

/// `$time_iso8601`: `2026-11-24T02:31:31+00:00`.
pub fn iso8601(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    )
}

/// The error log's `2026/11/24 02:30:00`.
pub fn error_log(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{}/{:02}/{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    )
}

/// A syslog message's `Nov 24 02:30:00` (RFC 3164; the day padded with a space).
pub fn syslog(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{} {:2} {:02}:{:02}:{:02}",
        MONTHS[(c.month - 1) as usize],
        c.day,
        c.hour,
        c.min,
        c.sec
    )
}

/// From the epoch's weekday on.
const WEEKDAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

/// `$date_local` and `$date_gmt` in the ssi module's default `timefmt`
/// (`%A, %d-%b-%Y %H:%M:%S %Z`): `Tuesday, 14-Nov-2023 22:13:20 GMT`. `zone` is what `%Z`
/// prints: `GMT` for `gmtime`, the local zone's name (`UTC` on ngxr's servers) otherwise.
pub fn date_ssi(t: SystemTime, zone: &str) -> String {
    let c = civil(t);
    format!(
        "{}, {:02}-{}-{} {:02}:{:02}:{:02} {zone}",
        WEEKDAYS[c.weekday],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.min,
        c.sec
    )
}

/// The SSI filter's `$date_local` and `$date_gmt` under `config timefmt` (`strftime` in
/// the C locale; `%s` alone is the seconds since the epoch, as nginx prints it itself).
/// `zone` is what `%Z` prints, as for [`date_ssi`]. A conversion C does not know is
/// written as it is.
pub fn strftime(t: SystemTime, format: &[u8], zone: &str) -> Vec<u8> {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if format == b"%s" {
        return secs.to_string().into_bytes();
    }
    let c = civil(t);
    let weekday = WEEKDAYS[c.weekday];
    let month = MONTHS[(c.month - 1) as usize];
    let hour12 = match c.hour % 12 {
        0 => 12,
        h => h,
    };
    let mut out = Vec::new();
    let mut rest = format;
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'%' {
            out.push(b);
            continue;
        }
        let Some((&conv, tail)) = rest.split_first() else {
            out.push(b'%');
            break;
        };
        rest = tail;
        let text = match conv {
            b'a' => weekday[..3].to_string(),
            b'A' => weekday.to_string(),
            b'b' | b'h' => month.to_string(),
            b'B' => FULL_MONTHS[(c.month - 1) as usize].to_string(),
            b'd' => format!("{:02}", c.day),
            b'e' => format!("{:2}", c.day),
            b'H' => format!("{:02}", c.hour),
            b'I' => format!("{hour12:02}"),
            b'm' => format!("{:02}", c.month),
            b'M' => format!("{:02}", c.min),
            b'S' => format!("{:02}", c.sec),
            b'p' => (if c.hour < 12 { "AM" } else { "PM" }).to_string(),
            b'y' => format!("{:02}", c.year.rem_euclid(100)),
            b'Y' => c.year.to_string(),
            b'Z' => zone.to_string(),
            b'z' => "+0000".to_string(),
            b's' => secs.to_string(),
            b'T' => format!("{:02}:{:02}:{:02}", c.hour, c.min, c.sec),
            b'R' => format!("{:02}:{:02}", c.hour, c.min),
            b'D' => format!("{:02}/{:02}/{:02}", c.month, c.day, c.year.rem_euclid(100)),
            b'F' => format!("{}-{:02}-{:02}", c.year, c.month, c.day),
            b'n' => "\n".to_string(),
            b't' => "\t".to_string(),
            b'%' => "%".to_string(),
            other => format!("%{}", other as char),
        };
        out.extend_from_slice(text.as_bytes());
    }
    out
}

const FULL_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

struct Civil {
    /// An index into [`WEEKDAYS`].
    weekday: usize,
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    min: u64,
    sec: u64,
}

/// An HTTP date as `ngx_http_time` writes one (`Thu, 01 Jan 1970 00:00:01 GMT`), for any
/// second since the epoch: `expires` may point before it or far past 9999's calendars.
pub fn http_date(secs: i64) -> String {
    let c = civil_secs(secs);
    format!(
        "{}, {:02} {} {:4} {:02}:{:02}:{:02} GMT",
        &WEEKDAYS[c.weekday][..3],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.min,
        c.sec
    )
}

/// `ngx_http_cookie_time`: `Thu, 31-Dec-2037 23:55:55 GMT`, the year in two digits only
/// in 2037.
pub fn cookie_time(secs: i64) -> String {
    let c = civil_secs(secs);
    let year = if c.year == 2037 {
        format!("{:02}", c.year % 100)
    } else {
        c.year.to_string()
    };
    format!(
        "{}, {:02}-{}-{year} {:02}:{:02}:{:02} GMT",
        &WEEKDAYS[c.weekday][..3],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.hour,
        c.min,
        c.sec
    )
}

/// A date in an autoindex listing: `14-Nov-2023 22:13`.
pub fn autoindex(secs: i64) -> String {
    let c = civil_secs(secs);
    format!(
        "{:02}-{}-{} {:02}:{:02}",
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.min
    )
}

/// A certificate's time as OpenSSL's `ASN1_TIME_print` writes it (`Nov 14 22:13:20 2023 GMT`,
/// the day padded with a space).
pub fn asn1_time(secs: i64) -> String {
    let c = civil_secs(secs);
    format!(
        "{} {:2} {:02}:{:02}:{:02} {} GMT",
        MONTHS[(c.month - 1) as usize],
        c.day,
        c.hour,
        c.min,
        c.sec,
        c.year
    )
}

fn civil(t: SystemTime) -> Civil {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    civil_secs(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Seconds from the epoch to a Gregorian date (Howard Hinnant's algorithm).
fn civil_secs(secs: i64) -> Civil {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u64);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        weekday: days.rem_euclid(7) as usize,
        year,
        month,
        day,
        hour: rem / 3600,
        min: rem % 3600 / 60,
        sec: rem % 60,
    }
}

/// An HTTP date as seconds since the epoch, read as `ngx_parse_http_time` reads it: RFC 822
/// (`Tue, 10 Nov 2002 23:50:13`), RFC 850 (`Tuesday, 10-Nov-02 23:50:13`) or asctime
/// (`Tue Nov 10 23:50:13 2002`). The weekday is skipped unread, what follows the time (the
/// zone) is ignored, a month is told by as few letters as tell it apart, and a date before
/// 1970 comes out negative, as nginx's unsigned arithmetic makes it.
pub fn parse_time(value: &[u8]) -> Option<i64> {
    const MDAY: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    #[derive(PartialEq)]
    enum Fmt {
        Rfc822,
        Rfc850,
        Isoc,
    }
    let end = value.len();
    let at = |p: usize| value.get(p).copied().unwrap_or(0);
    let digit = |p: usize| at(p).is_ascii_digit().then(|| u64::from(at(p) - b'0'));
    let two = |p: usize| Some(digit(p)? * 10 + digit(p + 1)?);
    let four = |p: usize| Some(two(p)? * 100 + two(p + 2)?);
    let mut fmt = None;
    let mut p = 0;
    while p < end {
        match at(p) {
            b',' => break,
            b' ' => {
                fmt = Some(Fmt::Isoc);
                break;
            }
            _ => p += 1,
        }
    }
    p += 1;
    while p < end && at(p) == b' ' {
        p += 1;
    }
    if end.saturating_sub(p) < 18 {
        return None;
    }
    let mut day = 0;
    if fmt != Some(Fmt::Isoc) {
        day = two(p)?;
        p += 2;
        fmt = match at(p) {
            b' ' if end.saturating_sub(p) >= 18 => Some(Fmt::Rfc822),
            b'-' => Some(Fmt::Rfc850),
            _ => return None,
        };
        p += 1;
    }
    let month: i64 = match at(p) {
        b'J' if at(p + 1) == b'a' => 0,
        b'J' if at(p + 2) == b'n' => 5,
        b'J' => 6,
        b'F' => 1,
        b'M' if at(p + 2) == b'r' => 2,
        b'M' => 4,
        b'A' if at(p + 1) == b'p' => 3,
        b'A' => 7,
        b'S' => 8,
        b'O' => 9,
        b'N' => 10,
        b'D' => 11,
        _ => return None,
    };
    p += 3;
    match fmt {
        Some(Fmt::Rfc822) if at(p) != b' ' => return None,
        Some(Fmt::Rfc850) if at(p) != b'-' => return None,
        _ => {}
    }
    p += 1;
    let mut year = 0;
    match fmt {
        Some(Fmt::Rfc822) => {
            year = four(p)?;
            p += 4;
        }
        Some(Fmt::Rfc850) => {
            year = two(p)?;
            year += if year < 70 { 2000 } else { 1900 };
            p += 2;
        }
        _ => {
            if at(p) == b' ' {
                p += 1;
            }
            day = digit(p)?;
            p += 1;
            if at(p) != b' ' {
                day = day * 10 + digit(p)?;
                p += 1;
            }
            if end.saturating_sub(p) < 14 {
                return None;
            }
        }
    }
    if at(p) != b' ' {
        return None;
    }
    let hour = two(p + 1)?;
    if at(p + 3) != b':' {
        return None;
    }
    let min = two(p + 4)?;
    if at(p + 6) != b':' {
        return None;
    }
    let sec = two(p + 7)?;
    if fmt == Some(Fmt::Isoc) {
        if at(p + 9) != b' ' {
            return None;
        }
        year = four(p + 10)?;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    if day == 29 && month == 1 {
        if !leap {
            return None;
        }
    } else if day > MDAY[month as usize] {
        return None;
    }
    // Gauss' formula from March 1, 1 BC, with nginx's wrapping arithmetic.
    let (mut month, mut year) = (month - 1, year);
    if month <= 0 {
        month += 12;
        year = year.wrapping_sub(1);
    }
    let month = month as u64;
    let days = (365u64.wrapping_mul(year))
        .wrapping_add(year / 4)
        .wrapping_sub(year / 100)
        .wrapping_add(year / 400)
        .wrapping_add(367 * month / 12)
        .wrapping_sub(30)
        .wrapping_add(day)
        .wrapping_sub(1)
        .wrapping_sub(719_527 - 31 - 28);
    let time = days
        .wrapping_mul(86_400)
        .wrapping_add(hour * 3600 + min * 60 + sec);
    Some(time as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_as_the_ssi_filter_formats_dates() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let default = strftime(t, b"%A, %d-%b-%Y %H:%M:%S %Z", "GMT");
        assert_eq!(default, date_ssi(t, "GMT").into_bytes());
        assert_eq!(strftime(t, b"%s", "UTC"), b"1700000000");
        assert_eq!(
            strftime(t, b"%a %e %B %y %I%p %T %D %F %% %Q", "UTC"),
            b"Tue 14 November 23 10PM 22:13:20 11/14/23 2023-11-14 % %Q"
        );
    }

    #[test]
    fn http_dates_are_read_as_nginx_reads_them() {
        let t = 784_111_777;
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            // The weekday is not read, nor what follows the time.
            "Fri, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37",
            "x, 06 Nov 1994 08:49:37 UTC+5",
            // Months are told apart by as few letters as nginx looks at.
            "Sun, 06 Nxx 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_time(text.as_bytes()), Some(t), "{text}");
        }
        assert_eq!(parse_time(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_time(b"Wed, 31 Dec 1969 23:59:59 GMT"), Some(-1));
        assert_eq!(
            parse_time(b"Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(1_709_164_800)
        );
        for bad in [
            "Wed, 29 Feb 2023 00:00:00 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Xov 1994 08:49:37 GMT",
            "06 Nov 1994",
            "",
        ] {
            assert_eq!(parse_time(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn formats() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(time_local(t), "14/Nov/2023:22:13:20 +0000");
        assert_eq!(iso8601(t), "2023-11-14T22:13:20+00:00");
        assert_eq!(msec(t), "1700000000.123");
        assert_eq!(error_log(t), "2023/11/14 22:13:20");
        assert_eq!(date_ssi(t, "GMT"), "Tuesday, 14-Nov-2023 22:13:20 GMT");
        assert_eq!(seconds(Duration::from_millis(5)), "0.005");
        assert_eq!(http_date(1), "Thu, 01 Jan 1970 00:00:01 GMT");
        assert_eq!(http_date(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(http_date(-86_400), "Wed, 31 Dec 1969 00:00:00 GMT");
        assert_eq!(asn1_time(1_700_000_000), "Nov 14 22:13:20 2023 GMT");
        assert_eq!(asn1_time(1_699_000_000), "Nov  3 08:26:40 2023 GMT");
    }
}
