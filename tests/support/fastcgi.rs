//! A small FastCGI responder on 127.0.0.1:0 for `fastcgi_pass` tests, one thread per
//! connection, every read bounded. Each request's answer is chosen by the `do=` argument of
//! its `REQUEST_URI` param; by default it lists what it received: the records' framing
//! (type/length/padding), the keep-conn flag, which request of its connection this is, the
//! address the connection came from, every param in order and the body. Every request's params are kept, in the order they came, for
//! tests that check which requests reached it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The params of each request the responder got.
type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A running responder; its thread ends with the test process.
#[derive(Debug)]
pub struct Responder {
    pub port: u16,
    pub seen: Seen,
}

impl Responder {
    pub fn start() -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the FastCGI responder");
        let port = listener.local_addr().expect("responder address").port();
        let seen = Seen::default();
        let kept = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let seen = kept.clone();
                std::thread::spawn(move || serve(conn, &seen));
            }
        });
        Responder { port, seen }
    }
}

/// One record as read: type, content, padding length.
struct Record {
    kind: u8,
    content: Vec<u8>,
    padding: u8,
}

fn read_record(s: &mut TcpStream) -> Option<Record> {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).ok()?;
    let len = u16::from_be_bytes([h[4], h[5]]) as usize;
    let mut content = vec![0u8; len + h[6] as usize];
    s.read_exact(&mut content).ok()?;
    content.truncate(len);
    Some(Record {
        kind: h[1],
        content,
        padding: h[6],
    })
}

/// Serves requests on `s` until it closes (or, without the keep-conn flag, after one).
fn serve(mut s: TcpStream, seen: &Seen) {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let peer = s
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let mut served = 0;
    loop {
        let mut framing = Vec::new();
        let mut keep = false;
        let mut params = Vec::new();
        let mut stdin = Vec::new();
        loop {
            let Some(r) = read_record(&mut s) else { return };
            framing.push(format!("{}/{}/{}", r.kind, r.content.len(), r.padding));
            match r.kind {
                1 => keep = r.content.get(2) == Some(&1),
                4 => params.extend_from_slice(&r.content),
                5 if r.content.is_empty() => break,
                5 => stdin.extend_from_slice(&r.content),
                _ => {}
            }
        }
        served += 1;
        let pairs = decode_params(&params);
        if let Ok(mut seen) = seen.lock() {
            seen.push(pairs.clone());
        }
        let listing = listing(&framing, (keep, served, &peer), &pairs, &stdin);
        let uri = pairs
            .iter()
            .find(|(n, _)| n == "REQUEST_URI")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let action = uri
            .split_once("do=")
            .map(|(_, a)| a.split('&').next().unwrap_or_default().to_string())
            .unwrap_or_default();
        let param = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let (stderr, stdout) = match action.as_str() {
            // Validators, and a 304 when the request's match them.
            "lm" if param("HTTP_IF_NONE_MATCH") == Some("\"abc\"") => {
                (None, b"Status: 304 Not Modified\r\n\r\n".to_vec())
            }
            "lm" => {
                let head = "Content-Type: text/plain\r\nETag: \"abc\"\r\n\
                            Last-Modified: Mon, 02 Jan 2023 00:00:00 GMT\r\n\r\n";
                (None, format!("{head}{listing}").into_bytes())
            }
            "nocache" => {
                let head = "Content-Type: text/plain\r\nCache-Control: no-cache\r\n\r\n";
                (None, format!("{head}{listing}").into_bytes())
            }
            _ => answer(&action, listing),
        };
        let mut out = Vec::new();
        if let Some(text) = stderr {
            record(&mut out, 7, text.as_bytes());
        }
        if action == "late" {
            // STDERR between two pieces of the body.
            record(&mut out, 6, b"Content-Type: text/plain\r\n\r\nfirst\n");
            record(&mut out, 7, b"late warning...\n");
        }
        // STDOUT in records of various sizes, as applications cut it.
        let sizes = [7usize, 1000, 8192, 65535];
        let mut rest = &stdout[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            record(&mut out, 6, &rest[..n]);
            rest = &rest[n..];
            i += 1;
        }
        record(&mut out, 6, b"");
        record(&mut out, 3, &[0, 0, 0, 0, 0, 0, 0, 0]);
        if s.write_all(&out).is_err() || !keep {
            return;
        }
    }
}

/// A record with `content`, padded to 8 bytes.
fn record(out: &mut Vec<u8>, kind: u8, content: &[u8]) {
    let pad = (8 - content.len() % 8) % 8;
    out.extend_from_slice(&[1, kind, 0, 1]);
    out.extend_from_slice(&(content.len() as u16).to_be_bytes());
    out.extend_from_slice(&[pad as u8, 0]);
    out.extend_from_slice(content);
    out.extend(std::iter::repeat_n(0, pad));
}

fn decode_params(mut data: &[u8]) -> Vec<(String, String)> {
    let length = |data: &mut &[u8]| -> Option<usize> {
        let first = *data.first()?;
        if first & 0x80 == 0 {
            *data = &data[1..];
            return Some(first as usize);
        }
        let b = data.get(..4)?;
        let n = u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]) as usize;
        *data = &data[4..];
        Some(n)
    };
    let mut out = Vec::new();
    while let (Some(n), Some(v)) = (length(&mut data), length(&mut data)) {
        let (Some(name), Some(value)) = (data.get(..n), data.get(n..n + v)) else {
            break;
        };
        out.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
        data = &data[n + v..];
    }
    out
}

fn listing(
    framing: &[String],
    (keep, served, peer): (bool, usize, &str),
    pairs: &[(String, String)],
    stdin: &[u8],
) -> String {
    let mut out = format!(
        "records {}\nkeep={keep} request={served} peer={peer}\n",
        framing.join(" ")
    );
    for (n, v) in pairs {
        out.push_str(&format!("{n}={v}\n"));
    }
    if stdin.len() > 64 {
        let sum: u64 = stdin.iter().map(|&b| u64::from(b)).sum();
        out.push_str(&format!("stdin={} bytes, sum {sum}\n", stdin.len()));
    } else {
        out.push_str(&format!("stdin={}\n", String::from_utf8_lossy(stdin)));
    }
    out
}

/// The STDERR text (if any) and STDOUT of the answer `action` names.
fn answer(action: &str, listing: String) -> (Option<&'static str>, Vec<u8>) {
    let text = |head: &str, body: &str| format!("{head}\r\n{body}").into_bytes();
    let plain = "Content-Type: text/plain\r\n";
    match action {
        "404" => (None, text("Status: 404 Not Found\r\n", "missing\n")),
        "status3" => (None, text(&format!("Status: 403\r\n{plain}"), "no\n")),
        "badstatus" => (None, text("Status: x1\r\n", "bad\n")),
        "local" => (None, text("Location: /local/x?y=1\r\n", "")),
        "abs" => (None, text("Location: http://example.com/x\r\n", "")),
        "headers" => (
            None,
            text(
                &format!(
                    "{plain}X-Extra: 1\r\nX-Accel-Expires: 5\r\nSet-Cookie: a=b\r\n\
                     Server: app\r\nX-Powered-By: PHP\r\n"
                ),
                "with headers\n",
            ),
        ),
        "accel" => (None, text("X-Accel-Redirect: /ret\r\n", "")),
        "stderr" => (
            Some("PHP Warning: something odd.\n"),
            text(plain, "after stderr\n"),
        ),
        "big" => (None, text(plain, &"0123456789abcdef".repeat(20_000))),
        "bigcl" => {
            let body = "x".repeat(100_000);
            let head = format!("{plain}Content-Length: {}\r\n", body.len());
            (None, text(&head, &body))
        }
        "500" => (None, text("Status: 500\r\n", "oops\n")),
        "late" => (None, b"second\n".to_vec()),
        // No end to the head: nginx refuses the empty STDOUT record that follows.
        "unfinished" => (None, b"BAD".to_vec()),
        _ => (None, text(plain, &listing)),
    }
}
