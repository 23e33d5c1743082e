//! The PROXY protocol header (v1 text, v2 binary) that clients of a `listen ...
//! proxy_protocol` socket send before anything else, read as nginx reads it
//! (`ngx_proxy_protocol_read`): from what its first read (plain sockets) or first peek (`ssl`
//! sockets, before the handshake) brings, with nginx's limits and error-log lines. A
//! connection without a valid header is closed.

use bytes::BytesMut;
use tokio::io::AsyncReadExt;

use super::socket::Socket;
use crate::eval::plan::{ProxyProtocol, ip_text};

/// What nginx peeks at on an `ssl` socket (`NGX_PROXY_PROTOCOL_MAX_HEADER + 1`).
const SSL_PEEK: usize = 108;

/// The v2 signature (`\r\n\r\n\0\r\nQUIT\n`).
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// The v2 header before its addresses.
const V2_HEAD: usize = 16;

/// Why a header was refused: nginx's error-log message, `None` where nginx closes without
/// a word.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub Option<Vec<u8>>);

/// A header read: its length, and what it said when it named addresses.
type Header = (usize, Option<ProxyProtocol>);

/// `ngx_proxy_protocol_read` over the bytes at hand.
pub fn parse(buf: &[u8]) -> Result<Header, Refused> {
    if buf.len() >= V2_HEAD && buf.starts_with(V2_SIGNATURE) {
        return parse_v2(buf);
    }
    parse_v1(buf).ok_or_else(|| {
        let mut message = b"broken header: \"".to_vec();
        message.extend_from_slice(buf);
        message.push(b'"');
        Refused(Some(message))
    })
}

/// `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or `PROXY UNKNOWN...\r\n`; `None` is a broken
/// header.
fn parse_v1(buf: &[u8]) -> Option<Header> {
    if buf.len() < 8 || !buf.starts_with(b"PROXY ") {
        return None;
    }
    let rest = &buf[6..];
    if let Some(after) = rest.strip_prefix(b"UNKNOWN") {
        let end = after.windows(2).position(|w| w == b"\r\n")?;
        return Some((6 + 7 + end + 2, None));
    }
    let family = rest.get(..5)?;
    if !family.starts_with(b"TCP") || !matches!(family[3], b'4' | b'6') || family[4] != b' ' {
        return None;
    }
    let mut at = 6 + 5;
    let src_addr = address(buf, &mut at)?;
    let dst_addr = address(buf, &mut at)?;
    let src_port = port(buf, &mut at, b' ')?;
    let dst_port = port(buf, &mut at, b'\r')?;
    if *buf.get(at)? != b'\n' {
        return None;
    }
    let pp = ProxyProtocol {
        src_addr: src_addr.into(),
        dst_addr: dst_addr.into(),
        src_port,
        dst_port,
    };
    Some((at + 1, Some(pp)))
}

/// An address up to its space, kept as sent (hex digits, `:` and `.` only).
fn address<'b>(buf: &'b [u8], at: &mut usize) -> Option<&'b [u8]> {
    let rest = &buf[*at..];
    let len = rest.iter().position(|&c| c == b' ')?;
    let text = &rest[..len];
    if !text
        .iter()
        .all(|&c| c == b':' || c == b'.' || c.is_ascii_hexdigit())
    {
        return None;
    }
    *at += len + 1;
    Some(text)
}

/// A port up to `sep` (`ngx_atoi`: digits only, 0 to 65535).
fn port(buf: &[u8], at: &mut usize, sep: u8) -> Option<u16> {
    let rest = &buf[*at..];
    let len = rest.iter().position(|&c| c == sep)?;
    let digits = &rest[..len];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let port = std::str::from_utf8(digits).ok()?.parse::<u16>().ok()?;
    *at += len + 1;
    Some(port)
}

/// `ngx_proxy_protocol_v2_read`: only the PROXY command over a stream of IPv4 or IPv6 gives
/// addresses; other commands, transports and families are skipped whole.
fn parse_v2(buf: &[u8]) -> Result<Header, Refused> {
    let refused = |message: String| Refused(Some(message.into_bytes()));
    let version = buf[12] >> 4;
    if version != 2 {
        return Err(refused(format!(
            "unknown PROXY protocol version: {version}"
        )));
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if buf.len() - V2_HEAD < len {
        return Err(refused("header is too large".to_string()));
    }
    let end = V2_HEAD + len;
    let (command, transport, family) = (buf[12] & 0x0f, buf[13] & 0x0f, buf[13] >> 4);
    if command != 1 || transport != 1 {
        return Ok((end, None));
    }
    let body = &buf[V2_HEAD..end];
    let (src, dst, ports): (Vec<u8>, Vec<u8>, &[u8]) = match family {
        1 if body.len() >= 12 => {
            let octets = |at: usize| [body[at], body[at + 1], body[at + 2], body[at + 3]];
            let (src, dst) = (octets(0), octets(4));
            (ip_text(src.into()), ip_text(dst.into()), &body[8..12])
        }
        2 if body.len() >= 36 => {
            let octets = |at: usize| -> [u8; 16] {
                let mut o = [0; 16];
                o.copy_from_slice(&body[at..at + 16]);
                o
            };
            let (src, dst) = (octets(0), octets(16));
            (ip_text(src.into()), ip_text(dst.into()), &body[32..36])
        }
        // Too short for its family: nginx closes without a word.
        1 | 2 => return Err(Refused(None)),
        _ => return Ok((end, None)),
    };
    let pp = ProxyProtocol {
        src_addr: src.into(),
        dst_addr: dst.into(),
        src_port: u16::from_be_bytes([ports[0], ports[1]]),
        dst_port: u16::from_be_bytes([ports[2], ports[3]]),
    };
    Ok((end, Some(pp)))
}

/// Why reading a header failed.
#[derive(Debug)]
pub enum Failed {
    /// The client closed or the socket failed (nginx logs those at `info`, as ngxr does
    /// not for connections before a request).
    Gone,
    Refused(Refused),
}

/// Reads the header on a plain socket from its first read, as nginx does: of
/// `client_header_buffer_size` (`first_read`), so a header longer than that is "too large".
/// What came after the header is left in `ahead` for the request; the header's length comes
/// with what it says (the request begins after it in nginx's buffer).
pub async fn read_plain(
    socket: &mut Socket,
    ahead: &mut BytesMut,
    first_read: usize,
) -> Result<(Option<ProxyProtocol>, usize), Failed> {
    let mut first = vec![0u8; first_read];
    let n = match socket.read(&mut first).await {
        Ok(0) | Err(_) => return Err(Failed::Gone),
        Ok(n) => n,
    };
    let (len, pp) = parse(&first[..n]).map_err(Failed::Refused)?;
    ahead.extend_from_slice(&first[len..n]);
    Ok((pp, len))
}

/// Reads the header on an `ssl` socket before the handshake: nginx peeks, then takes the
/// header's bytes alone, leaving the TLS records to the handshake.
pub async fn read_before_tls(socket: &mut Socket) -> Result<Option<ProxyProtocol>, Failed> {
    let mut peeked = [0u8; SSL_PEEK];
    let n = socket.peek(&mut peeked).await.map_err(|_| Failed::Gone)?;
    // An empty peek (the client closed) is a broken header to nginx here.
    let (len, pp) = parse(&peeked[..n]).map_err(Failed::Refused)?;
    socket
        .read_exact(&mut peeked[..len])
        .await
        .map_err(|_| Failed::Gone)?;
    Ok(pp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(buf: &[u8]) -> (usize, Option<(String, u16, String, u16)>) {
        let (len, pp) = parse(buf).expect("a header");
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        let pp = pp.map(|p| (text(&p.src_addr), p.src_port, text(&p.dst_addr), p.dst_port));
        (len, pp)
    }

    fn refused(buf: &[u8]) -> Option<String> {
        match parse(buf) {
            Err(Refused(message)) => message.map(|m| String::from_utf8_lossy(&m).into_owned()),
            Ok(header) => panic!("accepted: {header:?}"),
        }
    }

    #[test]
    fn v1_addresses_are_kept_as_sent() {
        let h = b"PROXY TCP4 192.0.2.1 192.0.2.2 123 5678\r\nGET /";
        let want = ("192.0.2.1".into(), 123, "192.0.2.2".into(), 5678);
        assert_eq!(addrs(h), (h.len() - 5, Some(want)));
        let h = b"PROXY TCP6 2001:Db8::1 2001:Db8::2 1 65535\r\n";
        let want = ("2001:Db8::1".into(), 1, "2001:Db8::2".into(), 65535);
        assert_eq!(addrs(h), (h.len(), Some(want)));
        // nginx checks the characters, not the family.
        let h = b"PROXY TCP4 ::1 1.2.3 0 0\r\n";
        assert_eq!(addrs(h).1.map(|a| a.0), Some("::1".into()));
        assert_eq!(addrs(b"PROXY UNKNOWN\r\n"), (15, None));
        assert_eq!(addrs(b"PROXY UNKNOWN 1 2 3 4 5 6\r\nGET"), (27, None));
    }

    #[test]
    fn broken_v1_headers() {
        let broken = |h: &[u8]| {
            let quoted = format!("broken header: \"{}\"", String::from_utf8_lossy(h));
            assert_eq!(refused(h), Some(quoted), "{}", String::from_utf8_lossy(h));
        };
        broken(b"");
        broken(b"PROXY ");
        broken(b"GET / HTTP/1.0\r\n\r\n");
        broken(b"PROXY TCP4 192.0.2.1 192.0.2.2 123 5678\nGET / HTTP/1.0\r\n\r\n");
        broken(b"PROXY TCP4 192.0.2.1 192.0.2.2 123 5678\r");
        broken(b"PROXY TCP4 192.0.2.1 192.0.2.2 123 65536\r\n");
        broken(b"PROXY TCP4 192.0.2.1 192.0.2.2 123 +5\r\n");
        broken(b"PROXY TCP4 192.0.2.1 192.0.2.2  5\r\n");
        broken(b"PROXY TCP4 x.0.2.1 192.0.2.2 1 5\r\n");
        broken(b"PROXY TCP5 192.0.2.1 192.0.2.2 1 5\r\n");
        broken(b"PROXY UNKNOWN");
        broken(b"PROXY UNKNOWN\n");
    }

    fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(ver_cmd);
        h.push(fam);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    #[test]
    fn v2_addresses_print_as_nginx_prints_them() {
        let tcp4 = [192, 0, 2, 1, 192, 0, 2, 2, 0, 123, 0x16, 0x2e];
        let want = ("192.0.2.1".into(), 123, "192.0.2.2".into(), 5678);
        let h = v2(0x21, 0x11, &tcp4);
        assert_eq!(addrs(&h), (28, Some(want.clone())));
        // TLVs after the addresses are skipped.
        let mut with_tlv = tcp4.to_vec();
        with_tlv.extend_from_slice(&[0; 9]);
        assert_eq!(addrs(&v2(0x21, 0x11, &with_tlv)), (37, Some(want)));
        let mut tcp6 = [0u8; 36];
        tcp6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        tcp6[15] = 1;
        tcp6[16..20].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        tcp6[31] = 2;
        tcp6[32..].copy_from_slice(&[0, 123, 0x16, 0x2e]);
        let want = ("2001:db8::1".into(), 123, "2001:db8::2".into(), 5678);
        assert_eq!(addrs(&v2(0x21, 0x21, &tcp6)), (52, Some(want)));
    }

    #[test]
    fn v2_headers_without_addresses_are_skipped() {
        // LOCAL command, UNSPEC family, UDP transport, unix family.
        assert_eq!(addrs(&v2(0x20, 0x11, &[0; 12])), (28, None));
        assert_eq!(addrs(&v2(0x21, 0x01, &[])), (16, None));
        assert_eq!(addrs(&v2(0x21, 0x12, &[0; 12])), (28, None));
        assert_eq!(addrs(&v2(0x21, 0x41, &[1, 2, 3, 4])), (20, None));
    }

    #[test]
    fn v2_refusals() {
        assert_eq!(
            refused(&v2(0x11, 0x11, &[0; 12])),
            Some("unknown PROXY protocol version: 1".into())
        );
        let mut cut = v2(0x21, 0x11, &[0; 12]);
        cut.pop();
        assert_eq!(refused(&cut), Some("header is too large".into()));
        assert_eq!(refused(&v2(0x21, 0x11, &[0; 11])), None);
        assert_eq!(refused(&v2(0x21, 0x21, &[0; 35])), None);
        // Less than a v2 head is read as v1.
        let short = &v2(0x21, 0x11, &[])[..15];
        assert!(refused(short).is_some_and(|m| m.starts_with("broken header")));
    }
}
