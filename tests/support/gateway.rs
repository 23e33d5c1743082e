//! A small SCGI or uwsgi application server on 127.0.0.1:0 for `scgi_pass` and `uwsgi_pass`
//! tests, one thread per connection, every read bounded. The two protocols differ only in
//! how the request's head is framed; the answers are the same bytes. Each request's answer
//! is chosen by the `do=` argument of its `REQUEST_URI` param; by default it lists what it
//! received: the head's framing, every param in order and the body. It may listen behind
//! TLS (for `suwsgi://`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// The protocol a [`Server`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Scgi,
    Uwsgi,
}

/// A running server; its thread ends with the test process.
#[derive(Debug)]
pub struct Server {
    pub port: u16,
}

impl Server {
    pub fn start(protocol: Protocol) -> Server {
        Server::listen(protocol, None)
    }

    /// The server behind TLS, with a self-signed certificate for `localhost`.
    pub fn start_tls(protocol: Protocol) -> Server {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
        let cert = params.self_signed(&key).expect("self-signed");
        let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], der)
            .expect("server config");
        Server::listen(protocol, Some(Arc::new(config)))
    }

    fn listen(protocol: Protocol, tls: Option<Arc<ServerConfig>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the gateway server");
        let port = listener.local_addr().expect("server address").port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let tls = tls.clone();
                std::thread::spawn(move || match tls {
                    None => serve(conn, protocol),
                    Some(config) => {
                        let Ok(server) = ServerConnection::new(config) else {
                            return;
                        };
                        let mut stream = StreamOwned::new(server, conn);
                        serve(&mut stream, protocol);
                        stream.conn.send_close_notify();
                        stream.flush().ok();
                    }
                });
            }
        });
        Server { port }
    }
}

/// A connection to the server, TCP or TLS, and its socket for read timeouts.
trait Conn: Read + Write {
    fn socket(&self) -> &TcpStream;
}

impl Conn for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl Conn for &mut StreamOwned<ServerConnection, TcpStream> {
    fn socket(&self) -> &TcpStream {
        &self.sock
    }
}

/// Serves the one request of the connection, then closes it (nginx keeps neither).
fn serve(mut s: impl Conn, protocol: Protocol) {
    let Some((framing, params)) = (match protocol {
        Protocol::Scgi => read_scgi(&mut s),
        Protocol::Uwsgi => read_uwsgi(&mut s),
    }) else {
        return;
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let body = read_body(&mut s, param("CONTENT_LENGTH").parse().unwrap_or(0));
    let listing = listing(&framing, &params, &body);
    let uri = param("REQUEST_URI");
    let action = uri
        .split_once("do=")
        .map(|(_, a)| a.split('&').next().unwrap_or_default().to_string())
        .unwrap_or_default();
    s.write_all(&answer(&action, listing)).ok();
}

/// SCGI's netstring: `LENGTH:` then NUL-ended names and values, then `,`.
fn read_scgi(s: &mut impl Conn) -> Option<(String, Vec<(String, String)>)> {
    let mut digits = Vec::new();
    loop {
        let mut b = [0u8];
        s.read_exact(&mut b).ok()?;
        if b[0] == b':' {
            break;
        }
        digits.push(b[0]);
    }
    let len: usize = String::from_utf8_lossy(&digits).parse().ok()?;
    let mut head = vec![0u8; len + 1];
    s.read_exact(&mut head).ok()?;
    let comma = head.pop() == Some(b',');
    let mut fields = head.split(|&b| b == 0);
    let mut params = Vec::new();
    while let (Some(n), Some(v)) = (fields.next(), fields.next()) {
        params.push((text(n), text(v)));
    }
    Some((format!("netstring {len} comma={comma}"), params))
}

/// uwsgi's packet: modifier1, the size (two bytes, little-endian), modifier2, then each name
/// and value after its two-byte length.
fn read_uwsgi(s: &mut impl Conn) -> Option<(String, Vec<(String, String)>)> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).ok()?;
    let len = u16::from_le_bytes([h[1], h[2]]) as usize;
    let mut data = vec![0u8; len];
    s.read_exact(&mut data).ok()?;
    let mut rest = &data[..];
    let mut take = || -> Option<String> {
        let n = u16::from_le_bytes([*rest.first()?, *rest.get(1)?]) as usize;
        let field = rest.get(2..2 + n)?;
        rest = &rest[2 + n..];
        Some(text(field))
    };
    let mut params = Vec::new();
    while let (Some(n), Some(v)) = (take(), take()) {
        params.push((n, v));
    }
    Some((format!("packet {} {len} {}", h[0], h[3]), params))
}

/// Up to `length` bytes of body; what has not come within half a second is not coming (a
/// body nginx does not pass still has its length announced).
fn read_body(s: &mut impl Conn, length: usize) -> Vec<u8> {
    s.socket()
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok();
    let mut body = vec![0u8; length];
    let mut got = 0;
    while got < length {
        match s.read(&mut body[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    body.truncate(got);
    body
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn listing(framing: &str, params: &[(String, String)], body: &[u8]) -> String {
    let mut out = format!("{framing}\n");
    for (n, v) in params {
        out.push_str(&format!("{n}={v}\n"));
    }
    if body.len() > 64 {
        let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
        out.push_str(&format!("body={} bytes, sum {sum}\n", body.len()));
    } else {
        out.push_str(&format!("body={}\n", text(body)));
    }
    out
}

/// The bytes of the answer `action` names.
fn answer(action: &str, listing: String) -> Vec<u8> {
    let text = |head: &str, body: &str| format!("{head}\r\n{body}").into_bytes();
    let plain = "Content-Type: text/plain\r\n";
    match action {
        "line" => text(
            &format!("HTTP/1.1 201 Created\r\n{plain}"),
            "with a status line\n",
        ),
        "line_status" => text(
            &format!("HTTP/1.0 202 Accepted\r\nStatus: 404 Not Found\r\n{plain}"),
            "both\n",
        ),
        "noreason" => text(&format!("HTTP/1.1 203\r\n{plain}"), "no reason\n"),
        "404" => text("Status: 404 Not Found\r\n", "missing\n"),
        // A tunnel's first bytes after the head; the server then closes.
        "upgrade" => text(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: probe\r\nConnection: upgrade\r\n",
            "tunnelled\n",
        ),
        "badstatus" => text("Status: x1\r\n", "bad\n"),
        "badheader" => text("X-Bad\x01: 1\r\n", "bad\n"),
        "local" => text("Location: /local/x?y=1\r\n", ""),
        "abs" => text("Location: http://example.com/x\r\n", ""),
        "headers" => text(
            &format!(
                "{plain}X-Extra: 1\r\nX-Accel-Expires: 5\r\nSet-Cookie: a=b\r\n\
                 Server: app\r\nX-Powered-By: py\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\n"
            ),
            "with headers\n",
        ),
        "accel" => text("X-Accel-Redirect: /ret\r\n", ""),
        "big" => text(plain, &"0123456789abcdef".repeat(20_000)),
        "bigcl" => {
            let body = "x".repeat(100_000);
            text(&format!("{plain}Content-Length: {}\r\n", body.len()), &body)
        }
        "short" => text(&format!("{plain}Content-Length: 10\r\n"), "12345"),
        "500" => text("Status: 500\r\n", "oops\n"),
        // No end to the head before the close.
        "unfinished" => b"BAD".to_vec(),
        _ => text(plain, &listing),
    }
}
