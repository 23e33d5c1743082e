//! WebSocket through the proxy: the handshake passes intact, messages of every shape flow,
//! the tunnel closes on idle as nginx's proxy_read_timeout closes it.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

use crate::start;
use crate::support::backend::Backend;
use crate::support::site::{TestSite, peer};
use crate::support::{body, within};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(
    addr: std::net::SocketAddr,
) -> (
    Ws,
    tokio_tungstenite::tungstenite::handshake::client::Response,
) {
    within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}/chat"
    )))
    .await
    .expect("handshake")
}

async fn next(ws: &mut Ws) -> Message {
    within(ws.next())
        .await
        .expect("a message")
        .expect("no error")
}

#[tokio::test]
async fn messages_echo_through_the_tunnel() {
    let b = Backend::ws_echo("a").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let (mut ws, response) = connect(addr).await;
    assert_eq!(response.status(), 101);
    assert_eq!(response.headers()["server"], "nginx/1.22.1");
    assert_eq!(response.headers()["x-backend"], "a");
    assert_eq!(response.headers()["connection"], "upgrade");
    assert!(response.headers().contains_key("sec-websocket-accept"));

    ws.send(Message::text("hello")).await.expect("send");
    assert_eq!(next(&mut ws).await, Message::text("hello"));

    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).await.expect("send");
    assert_eq!(next(&mut ws).await, Message::binary(big));

    ws.send(Message::Ping(b"p".to_vec().into()))
        .await
        .expect("ping");
    assert_eq!(next(&mut ws).await, Message::Pong(b"p".to_vec().into()));
}

#[tokio::test]
async fn fragmented_messages_arrive_whole() {
    let b = Backend::ws_echo("a").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let (mut ws, _) = connect(addr).await;
    let parts = [
        Frame::message(b"frag".to_vec(), OpCode::Data(Data::Text), false),
        Frame::message(b"men".to_vec(), OpCode::Data(Data::Continue), false),
        Frame::message(b"ted".to_vec(), OpCode::Data(Data::Continue), true),
    ];
    for frame in parts {
        ws.send(Message::Frame(frame)).await.expect("send");
    }
    assert_eq!(next(&mut ws).await, Message::text("fragmented"));
}

#[tokio::test]
async fn close_codes_pass_both_ways() {
    let b = Backend::ws_echo("a").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let (mut ws, _) = connect(addr).await;
    let frame = CloseFrame {
        code: CloseCode::Library(4001),
        reason: "bye".into(),
    };
    ws.send(Message::Close(Some(frame))).await.expect("close");
    match next(&mut ws).await {
        Message::Close(Some(f)) => assert_eq!(f.code, CloseCode::Library(4001)),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn an_idle_tunnel_closes_after_proxy_read_timeout() {
    let b = Backend::ws_echo("a").await;
    let mut site = TestSite::new(vec![peer(b.addr)]);
    site.timeouts.read = Duration::from_millis(1000);
    let (_proxy, addr) = start(site);
    let (mut ws, _) = connect(addr).await;
    // Traffic keeps it open past the timeout: each message moves nginx's lazy timer, which
    // stays put for a move under 300 ms.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        ws.send(Message::text("x")).await.expect("send");
        assert_eq!(next(&mut ws).await, Message::text("x"));
    }
    let idle = Instant::now();
    let end = within(ws.next()).await;
    assert!(!matches!(end, Some(Ok(Message::Text(_)))), "{end:?}");
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_refused_upgrade_reaches_the_client_without_a_tunnel() {
    let b =
        Backend::http_with(|_| b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope".to_vec())
            .await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let req = b"GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let response = within(async {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tokio::io::AsyncWriteExt::write_all(&mut s, req)
            .await
            .expect("write");
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).ends_with("nope") {
            let n = tokio::io::AsyncReadExt::read(&mut s, &mut buf)
                .await
                .expect("read");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    })
    .await;
    assert!(
        response.starts_with("HTTP/1.1 403 Forbidden\r\n"),
        "{response}"
    );
    assert_eq!(body(&response), "nope");
    let seen = &b.requests()[0];
    assert!(
        seen.head
            .contains("Upgrade: websocket\r\nConnection: upgrade\r\n"),
        "{}",
        seen.head
    );
}

#[tokio::test]
async fn a_client_half_close_ends_the_tunnel_as_nginx_does() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let b = Backend::ws_echo("a").await;
    let (_proxy, addr) = start(TestSite::new(vec![peer(b.addr)]));
    let req = b"GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    within(async {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(req).await.expect("write");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(
                s.read(&mut byte).await.expect("read"),
                1,
                "closed before the 101"
            );
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101 "));
        // nginx finalizes the tunnel once the closed side's data is delivered.
        s.shutdown().await.expect("half-close");
        let mut rest = Vec::new();
        s.read_to_end(&mut rest)
            .await
            .expect("the proxy closes its side");
    })
    .await;
}
