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

#[cfg(test)]
mod tests {
    use super::*;

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
