//! Distinguished names printed as OpenSSL prints them for nginx: `X509_NAME_print_ex` with
//! `XN_FLAG_RFC2253` (`$ssl_client_s_dn`: last attribute first, `,` and `+` separators,
//! short names, RFC 2253 escapes, bytes past ASCII as `\XX`, unknown attributes as `#` and
//! their DER in hex) and `X509_NAME_oneline` (the `_legacy` variables: `/C=../CN=..`).

use super::der::{Reader, Tlv, tag};

/// One attribute of a name with the index of the RDN (`SET`) it belongs to.
struct Attribute<'a> {
    set: usize,
    oid: &'a [u8],
    value: Tlv<'a>,
}

/// `Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }`, flattened in order.
fn attributes(name: &[u8]) -> Option<Vec<Attribute<'_>>> {
    let mut rdns = Reader::of(name, tag::SEQUENCE)?;
    let mut out = Vec::new();
    let mut set = 0;
    while !rdns.is_empty() {
        let mut avas = Reader::new(rdns.expect(tag::SET)?.body);
        while !avas.is_empty() {
            let mut ava = Reader::new(avas.expect(tag::SEQUENCE)?.body);
            let oid = ava.expect(tag::OID)?.body;
            let value = ava.next()?;
            out.push(Attribute { set, oid, value });
        }
        set += 1;
    }
    Some(out)
}

/// `X509_NAME_print_ex(.., XN_FLAG_RFC2253)`; empty for a name that does not parse.
pub fn rfc2253(name: &[u8]) -> String {
    let Some(attributes) = attributes(name) else {
        return String::new();
    };
    let mut out = String::new();
    let mut previous = None;
    for a in attributes.iter().rev() {
        if let Some(set) = previous {
            out.push(if set == a.set { '+' } else { ',' });
        }
        previous = Some(a.set);
        match short_name(a.oid) {
            Some(sn) => {
                out.push_str(sn);
                out.push('=');
                match chars(a.value) {
                    Some(text) => escape_2253(&text, &mut out),
                    None => dump(a.value, &mut out),
                }
            }
            None => {
                out.push_str(&dotted(a.oid));
                out.push('=');
                dump(a.value, &mut out);
            }
        }
    }
    out
}

/// `X509_NAME_oneline`: `/SN=value` per attribute in order, bytes outside printable ASCII
/// as `\xXX`.
pub fn oneline(name: &[u8]) -> String {
    let Some(attributes) = attributes(name) else {
        return String::new();
    };
    let mut out = String::new();
    for a in &attributes {
        out.push('/');
        match short_name(a.oid) {
            Some(sn) => out.push_str(sn),
            None => out.push_str(&dotted(a.oid)),
        }
        out.push('=');
        for &b in a.value.body {
            if (b' '..=b'~').contains(&b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("\\x{b:02X}"));
            }
        }
    }
    out
}

/// The characters of a string type OpenSSL knows (`tag2nbyte`), `None` for the others,
/// which are dumped.
fn chars(value: Tlv<'_>) -> Option<Vec<u32>> {
    let body = value.body;
    match value.tag {
        // UTF8String
        0x0c => std::str::from_utf8(body)
            .ok()
            .map(|s| s.chars().map(u32::from).collect()),
        // Numeric, Printable, T61, IA5, UTCTime, GeneralizedTime, Visible: a byte a char.
        0x12 | 0x13 | 0x14 | 0x16 | 0x17 | 0x18 | 0x1a => {
            Some(body.iter().map(|&b| u32::from(b)).collect())
        }
        // UniversalString
        0x1c if body.len().is_multiple_of(4) => Some(
            body.chunks(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        // BMPString
        0x1e if body.len().is_multiple_of(2) => Some(
            body.chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .collect(),
        ),
        _ => None,
    }
}

/// `do_buf` with `ASN1_STRFLGS_RFC2253`: each character as UTF-8, every byte past ASCII and
/// every control as `\XX`, `,+"\<>;` after a backslash, and a leading `#` or space and a
/// trailing space after a backslash.
fn escape_2253(text: &[u32], out: &mut String) {
    let last = text.len().saturating_sub(1);
    for (i, &c) in text.iter().enumerate() {
        let Some(ch) = char::from_u32(c) else {
            out.push_str(&format!("\\W{c:08X}"));
            continue;
        };
        let mut utf8 = [0u8; 4];
        for &b in ch.encode_utf8(&mut utf8).as_bytes() {
            let edge = (i == 0 && (b == b'#' || b == b' ')) || (i == last && b == b' ');
            if !(0x20..0x7f).contains(&b) {
                out.push_str(&format!("\\{b:02X}"));
            } else if edge || matches!(b, b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';') {
                out.push('\\');
                out.push(char::from(b));
            } else {
                out.push(char::from(b));
            }
        }
    }
}

/// `#` and the value's whole DER in upper-case hex.
fn dump(value: Tlv<'_>, out: &mut String) {
    out.push('#');
    for b in value.raw {
        out.push_str(&format!("{b:02X}"));
    }
}

/// OpenSSL's short names of the attributes names are made of (`OBJ_nid2sn`).
fn short_name(oid: &[u8]) -> Option<&'static str> {
    const PKCS9: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09];
    const PILOT: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01];
    const JURISDICTION: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01];
    if let [0x55, 0x04, n] = oid {
        return Some(match n {
            3 => "CN",
            4 => "SN",
            5 => "serialNumber",
            6 => "C",
            7 => "L",
            8 => "ST",
            9 => "street",
            10 => "O",
            11 => "OU",
            12 => "title",
            13 => "description",
            15 => "businessCategory",
            16 => "postalAddress",
            17 => "postalCode",
            18 => "postOfficeBox",
            20 => "telephoneNumber",
            41 => "name",
            42 => "GN",
            43 => "initials",
            44 => "generationQualifier",
            45 => "x500UniqueIdentifier",
            46 => "dnQualifier",
            65 => "pseudonym",
            72 => "role",
            97 => "organizationIdentifier",
            _ => return None,
        });
    }
    let (prefix, last) = oid.split_last().map(|(l, p)| (p, *l))?;
    match (prefix, last) {
        (PKCS9, 1) => Some("emailAddress"),
        (PKCS9, 2) => Some("unstructuredName"),
        (PILOT, 1) => Some("UID"),
        (PILOT, 25) => Some("DC"),
        (JURISDICTION, 1) => Some("jurisdictionL"),
        (JURISDICTION, 2) => Some("jurisdictionST"),
        (JURISDICTION, 3) => Some("jurisdictionC"),
        _ => None,
    }
}

/// An OID's contents in dotted decimal (`OBJ_obj2txt` with numbers only).
fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut n: u128 = 0;
    for &b in oid {
        n = (n << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(n);
            n = 0;
        }
    }
    let Some(&first) = arcs.first() else {
        return String::new();
    };
    let (a, b) = match first {
        0..40 => (0, first),
        40..80 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut out = format!("{a}.{b}");
    for arc in &arcs[1..] {
        out.push_str(&format!(".{arc}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One attribute: OID contents, value tag, value.
    type Attribute<'a> = (&'a [u8], u8, &'a [u8]);

    /// A `Name` of attributes, each RDN a list.
    fn name(rdns: &[&[Attribute<'_>]]) -> Vec<u8> {
        fn element(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut out = vec![tag, u8::try_from(body.len()).expect("short")];
            out.extend_from_slice(body);
            out
        }
        let sets: Vec<u8> = rdns
            .iter()
            .flat_map(|rdn| {
                let avas: Vec<u8> = rdn
                    .iter()
                    .flat_map(|(oid, t, v)| {
                        element(0x30, &[element(0x06, oid), element(*t, v)].concat())
                    })
                    .collect();
                element(0x31, &avas)
            })
            .collect();
        element(0x30, &sets)
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const C: &[u8] = &[0x55, 0x04, 0x06];

    #[test]
    fn names_print_last_attribute_first_with_rfc2253_escapes() {
        let n = name(&[
            &[(C, 0x13, b"US")],
            &[(O, 0x0c, b"Org, Inc.")],
            &[(CN, 0x0c, "client \u{e9}".as_bytes())],
        ]);
        assert_eq!(rfc2253(&n), "CN=client \\C3\\A9,O=Org\\, Inc.,C=US");
        assert_eq!(oneline(&n), "/C=US/O=Org, Inc./CN=client \\xC3\\xA9");
        let edges = name(&[&[(CN, 0x0c, b"#a\"b<c>d;e+f\\g ")]]);
        assert_eq!(rfc2253(&edges), "CN=\\#a\\\"b\\<c\\>d\\;e\\+f\\\\g\\ ");
        let middle = name(&[&[(CN, 0x13, b" a b")]]);
        assert_eq!(rfc2253(&middle), "CN=\\ a b");
    }

    #[test]
    fn multi_valued_rdns_and_unknown_attributes() {
        let n = name(&[&[(CN, 0x0c, b"a"), (O, 0x0c, b"b")], &[(C, 0x13, b"FR")]]);
        assert_eq!(rfc2253(&n), "C=FR,O=b+CN=a");
        let odd = name(&[&[(&[0x2a, 0x03], 0x0c, b"x")], &[(CN, 0x04, b"\x01")]]);
        assert_eq!(rfc2253(&odd), "CN=#040101,1.2.3=#0C0178");
        let email = name(&[&[(
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
            0x16,
            b"a@b.c",
        )]]);
        assert_eq!(rfc2253(&email), "emailAddress=a@b.c");
        let bmp = name(&[&[(CN, 0x1e, &[0x00, 0x61, 0x00, 0xe9])]]);
        assert_eq!(rfc2253(&bmp), "CN=a\\C3\\A9");
        assert_eq!(rfc2253(b"\x30\x00"), "");
        assert_eq!(rfc2253(b"junk"), "");
        assert_eq!(dotted(&[0x55, 0x04, 0x03]), "2.5.4.3");
        assert_eq!(
            dotted(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37]),
            "1.3.6.1.4.1.311"
        );
    }
}
