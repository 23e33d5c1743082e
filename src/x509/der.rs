//! Reading DER (X.690): single-byte tags, definite lengths, and the two time types of
//! X.509 turned into seconds since the epoch.

/// The tags X.509 uses.
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OID: u8 = 0x06;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;

    /// `[n]`, constructed (an explicit tag or an implicit constructed one).
    pub const fn context(n: u8) -> u8 {
        0xa0 | n
    }
}

/// One element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    /// The contents.
    pub body: &'a [u8],
    /// The whole element: tag, length and contents.
    pub raw: &'a [u8],
}

/// The element at the start of `der` and what follows it.
pub fn read(der: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *der.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *der.get(1)?;
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = der.get(2..2 + n)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (2 + n, len)
    };
    let end = header.checked_add(len)?;
    let tlv = Tlv {
        tag,
        body: der.get(header..end)?,
        raw: der.get(..end)?,
    };
    Some((tlv, der.get(end..)?))
}

/// The elements of a constructed value, one after another.
#[derive(Debug, Clone)]
pub struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    pub fn new(body: &'a [u8]) -> Reader<'a> {
        Reader(body)
    }

    /// The contents of `der`'s first element, which must be tagged `tag`.
    pub fn of(der: &'a [u8], tag: u8) -> Option<Reader<'a>> {
        let (element, _) = read(der)?;
        (element.tag == tag).then_some(Reader(element.body))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.0.first().copied()
    }

    pub fn next(&mut self) -> Option<Tlv<'a>> {
        let (element, rest) = read(self.0)?;
        self.0 = rest;
        Some(element)
    }

    /// The next element, which must be tagged `tag`.
    pub fn expect(&mut self, tag: u8) -> Option<Tlv<'a>> {
        self.optional(tag)
    }

    /// The next element if it is tagged `tag`; otherwise nothing is consumed.
    pub fn optional(&mut self, tag: u8) -> Option<Tlv<'a>> {
        if self.peek_tag()? != tag {
            return None;
        }
        self.next()
    }
}

/// A non-negative INTEGER that fits in 64 bits.
pub fn unsigned(body: &[u8]) -> Option<u64> {
    if body.first().is_none_or(|&b| b & 0x80 != 0) || body.len() > 9 {
        return None;
    }
    let n = body
        .iter()
        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
    u64::try_from(n).ok()
}

/// `UTCTime` (`YYMMDDHHMMSSZ`, years 1950–2049) or `GeneralizedTime` (`YYYYMMDDHHMMSSZ`) in
/// seconds since the epoch.
pub fn time(element: Tlv<'_>) -> Option<i64> {
    let text = std::str::from_utf8(element.body).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match element.tag {
        tag::UTC_TIME if digits.len() == 12 => {
            let yy: i64 = digits[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        tag::GENERALIZED_TIME if digits.len() == 14 => (digits[..4].parse().ok()?, &digits[4..]),
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_seconds_since_the_epoch() {
        let utc = |s: &str| {
            time(Tlv {
                tag: tag::UTC_TIME,
                body: s.as_bytes(),
                raw: &[],
            })
        };
        assert_eq!(utc("700101000000Z"), Some(0));
        assert_eq!(utc("000229120000Z"), Some(951_825_600));
        assert_eq!(utc("491231235959Z"), Some(2_524_607_999));
        assert_eq!(utc("0001010000Z"), None);
        assert_eq!(utc("700101000000+0100"), None);
        let generalized = time(Tlv {
            tag: tag::GENERALIZED_TIME,
            body: b"20500101000000Z",
            raw: &[],
        });
        assert_eq!(generalized, Some(2_524_608_000));
    }

    #[test]
    fn elements_and_lengths() {
        let (t, rest) = read(&[0x02, 0x01, 0x05, 0xff]).expect("short form");
        assert_eq!((t.tag, t.body, rest), (0x02, &[5u8][..], &[0xffu8][..]));
        let long = [&[0x04, 0x81, 0x80][..], &[7u8; 128]].concat();
        assert_eq!(read(&long).expect("long form").0.body.len(), 128);
        assert!(read(&[0x04, 0x05, 1]).is_none(), "truncated");
        assert!(read(&[0x1f, 0x01, 0]).is_none(), "multi-byte tag");
        assert_eq!(unsigned(&[0x00, 0xff]), Some(255));
        assert_eq!(unsigned(&[0x80]), None);
    }
}
