//! DNS messages as nginx's resolver writes and reads them (RFC 1035 §4): a query is one
//! question with recursion desired; from an answer only A, AAAA and CNAME records of class IN
//! matter. Hand-written because those few fields are all nginx looks at.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;
const TYPE_CNAME: u16 = 5;
const CLASS_IN: u16 = 1;
/// Recursion desired, in the query's flags.
const FLAG_RD: u16 = 0x0100;
/// The answer flag (QR).
const FLAG_QR: u16 = 0x8000;
/// The truncation flag (TC).
const FLAG_TC: u16 = 0x0200;
const HEADER_LEN: usize = 12;
/// Compression pointers followed in one name before it is taken for a loop.
const MAX_POINTERS: usize = 64;

/// Why a message could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("invalid name \"{0}\"")]
    BadName(String),
    #[error("short DNS response")]
    Short,
    #[error("invalid DNS response")]
    Invalid,
    #[error("unexpected RR class {0} in DNS response")]
    Class(u16),
}

/// A query for `name`'s records of `qtype`.
pub fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(HEADER_LEN + name.len() + 6);
    for word in [id, FLAG_RD, 1, 0, 0, 0] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    let bad = || WireError::BadName(name.to_string());
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    // No limit on the whole name: nginx asks for longer ones than RFC 1035 allows.
    if trimmed.is_empty() {
        return Err(bad());
    }
    for label in trimmed.split('.') {
        let len = u8::try_from(label.len()).map_err(|_| bad())?;
        if len == 0 || len > 63 {
            return Err(bad());
        }
        out.push(len);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

/// What an answer says about the name asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub id: u16,
    pub qtype: u16,
    /// The response code: 0, or nginx's 1 to 5 (format error ... refused) and beyond.
    pub rcode: u8,
    /// TC: the server had more to say than UDP carries.
    pub truncated: bool,
    /// The records of the type asked, in the answer's order.
    pub addrs: Vec<IpAddr>,
    /// The first CNAME's target, lowercased.
    pub cname: Option<String>,
    /// The smallest TTL among the answer records (a negative one counts as 0, as nginx
    /// counts it); `None` without records.
    pub ttl: Option<u32>,
}

/// Reads an answer to a question for `name` (compared without case, as nginx compares).
pub fn parse(msg: &[u8], name: &str) -> Result<Answer, WireError> {
    let word = |at: usize| -> Result<u16, WireError> {
        let bytes = msg.get(at..at + 2).ok_or(WireError::Short)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    };
    let id = word(0)?;
    let flags = word(2)?;
    // An answer (QR) to a standard query, its reserved bits clear, with one question.
    if flags & 0xf870 != FLAG_QR || word(4)? != 1 {
        return Err(WireError::Invalid);
    }
    let answers = word(6)?;
    let (asked, mut at) = read_name(msg, HEADER_LEN)?;
    let wanted = name.strip_suffix('.').unwrap_or(name);
    if !asked.eq_ignore_ascii_case(wanted) {
        return Err(WireError::Invalid);
    }
    let qtype = word(at)?;
    at += 4;
    let mut answer = Answer {
        id,
        qtype,
        rcode: (flags & 0x000f) as u8,
        truncated: flags & FLAG_TC != 0,
        addrs: Vec::new(),
        cname: None,
        ttl: None,
    };
    for _ in 0..answers {
        let (_, after) = read_name(msg, at)?;
        let rtype = word(after)?;
        let class = word(after + 2)?;
        let high = word(after + 4)?;
        let low = word(after + 6)?;
        let len = usize::from(word(after + 8)?);
        let start = after + 10;
        let data = msg.get(start..start + len).ok_or(WireError::Short)?;
        if class != CLASS_IN {
            return Err(WireError::Class(class));
        }
        let ttl = (u32::from(high) << 16) | u32::from(low);
        let ttl = if ttl > i32::MAX as u32 { 0 } else { ttl };
        answer.ttl = Some(answer.ttl.map_or(ttl, |t| t.min(ttl)));
        match (rtype, data.len()) {
            (TYPE_A, 4) if qtype == TYPE_A => {
                let v4 = Ipv4Addr::new(data[0], data[1], data[2], data[3]);
                answer.addrs.push(IpAddr::V4(v4));
            }
            (TYPE_AAAA, 16) if qtype == TYPE_AAAA => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(data);
                answer.addrs.push(IpAddr::V6(Ipv6Addr::from(octets)));
            }
            (TYPE_A | TYPE_AAAA, _) => return Err(WireError::Invalid),
            (TYPE_CNAME, _) if answer.cname.is_none() => {
                answer.cname = Some(read_name(msg, start)?.0.to_ascii_lowercase());
            }
            _ => {}
        }
        at = start + len;
    }
    Ok(answer)
}

/// The name at `at` (following compression pointers) and where the bytes after it start.
fn read_name(msg: &[u8], mut at: usize) -> Result<(String, usize), WireError> {
    let mut name = String::new();
    let mut end = None;
    let mut pointers = 0;
    loop {
        let len = *msg.get(at).ok_or(WireError::Short)?;
        match len {
            0 => break,
            l if l & 0xc0 == 0xc0 => {
                let low = *msg.get(at + 1).ok_or(WireError::Short)?;
                end.get_or_insert(at + 2);
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err(WireError::Invalid);
                }
                at = (usize::from(l & 0x3f) << 8) | usize::from(low);
            }
            l if l & 0xc0 != 0 => return Err(WireError::Invalid),
            l => {
                let label = msg
                    .get(at + 1..at + 1 + usize::from(l))
                    .ok_or(WireError::Short)?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(&String::from_utf8_lossy(label));
                at += 1 + usize::from(l);
            }
        }
    }
    Ok((name, end.unwrap_or(at + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer to `question` (a query as built above) with `records` (type, ttl, rdata)
    /// whose owner is a pointer to the question's name.
    fn reply(question: &[u8], rcode: u8, records: &[(u16, u32, &[u8])]) -> Vec<u8> {
        let mut out = question.to_vec();
        out[2] = 0x81;
        out[3] = 0x80 | rcode;
        out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        for (rtype, ttl, data) in records {
            out.extend_from_slice(&[0xc0, 0x0c]);
            out.extend_from_slice(&rtype.to_be_bytes());
            out.extend_from_slice(&CLASS_IN.to_be_bytes());
            out.extend_from_slice(&ttl.to_be_bytes());
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn a_query_is_one_question_with_recursion_desired() {
        let q = query(0x1234, "api.internal", TYPE_AAAA).unwrap();
        assert_eq!(
            q,
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03api\x08internal\x00\x00\x1c\x00\x01"
        );
        assert_eq!(
            query(1, "a.", TYPE_A).unwrap(),
            query(1, "a", TYPE_A).unwrap()
        );
    }

    #[test]
    fn names_dns_cannot_carry_are_refused() {
        for bad in ["", "a..b", ".a", &"x".repeat(64)] {
            assert!(
                matches!(query(1, bad, TYPE_A), Err(WireError::BadName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn addresses_of_the_type_asked_with_the_smallest_ttl() {
        let q = query(7, "Example.COM", TYPE_A).unwrap();
        let r = reply(
            &q,
            0,
            &[(TYPE_A, 300, &[10, 0, 0, 1]), (TYPE_A, 60, &[10, 0, 0, 2])],
        );
        let a = parse(&r, "example.com").unwrap();
        assert_eq!(a.id, 7);
        assert_eq!(a.qtype, TYPE_A);
        assert_eq!(a.rcode, 0);
        assert_eq!(
            a.addrs,
            [
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "10.0.0.2".parse().unwrap()
            ]
        );
        assert_eq!(a.ttl, Some(60));
    }

    #[test]
    fn aaaa_records_and_negative_ttls() {
        let q = query(9, "v6.test", TYPE_AAAA).unwrap();
        let mut one = [0u8; 16];
        one[15] = 1;
        let r = reply(&q, 0, &[(TYPE_AAAA, 0x8000_0000, &one)]);
        let a = parse(&r, "v6.test").unwrap();
        assert_eq!(a.addrs, ["::1".parse::<IpAddr>().unwrap()]);
        assert_eq!(a.ttl, Some(0));
    }

    #[test]
    fn a_cname_target_is_read_through_compression() {
        let q = query(3, "www.test", TYPE_A).unwrap();
        // "real" + pointer to "test" at offset 16 (after "\x03www").
        let r = reply(&q, 0, &[(TYPE_CNAME, 30, b"\x04REAL\xc0\x10")]);
        let a = parse(&r, "www.test").unwrap();
        assert_eq!(a.cname.as_deref(), Some("real.test"));
        assert!(a.addrs.is_empty());
    }

    #[test]
    fn error_codes_and_broken_messages() {
        let q = query(5, "gone.test", TYPE_A).unwrap();
        assert_eq!(parse(&reply(&q, 3, &[]), "gone.test").unwrap().rcode, 3);
        assert_eq!(
            parse(&q, "gone.test"),
            Err(WireError::Invalid),
            "not an answer"
        );
        assert_eq!(
            parse(&reply(&q, 0, &[]), "other.test"),
            Err(WireError::Invalid)
        );
        let r = reply(&q, 0, &[(TYPE_A, 1, &[1, 2, 3, 4])]);
        assert_eq!(parse(&r[..r.len() - 1], "gone.test"), Err(WireError::Short));
        let mut looped = reply(&q, 0, &[(TYPE_CNAME, 1, b"\xc0\x00")]);
        let n = looped.len();
        looped[n - 2..].copy_from_slice(&[0xc0, (n - 2) as u8]);
        assert!(parse(&looped, "gone.test").is_err());
        let mut chaos = reply(&q, 0, &[(TYPE_A, 1, &[1, 2, 3, 4])]);
        let class_at = q.len() + 4;
        chaos[class_at + 1] = 3;
        assert_eq!(parse(&chaos, "gone.test"), Err(WireError::Class(3)));
    }
}
