//! Backends on 127.0.0.1:0: an HTTP/1.1 server that records every request it receives (raw
//! head and body) and answers what a test asks, a WebSocket echo server, and a server that
//! accepts and never answers. Each stops when dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// One request as the backend read it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub head: String,
    pub body: Vec<u8>,
}

type Responder = dyn Fn(&Recorded) -> Vec<u8> + Send + Sync;

#[derive(Debug)]
pub struct Backend {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Recorded>>>,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `200 OK` naming the backend in `X-Backend` and the body.
pub fn ok(name: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nServer: backend\r\nX-Backend: {name}\r\nContent-Length: {}\r\n\r\n{name}",
        name.len()
    )
    .into_bytes()
}

impl Backend {
    /// An HTTP backend answering every request with `ok(name)`.
    pub async fn http(name: &str) -> Backend {
        let name = name.to_string();
        Backend::http_with(move |_| ok(&name)).await
    }

    /// An HTTP backend answering with `respond(request)` (raw bytes, keep-alive allowed; an
    /// empty answer closes the connection instead, and `Connection: close` closes after it).
    pub async fn http_with(
        respond: impl Fn(&Recorded) -> Vec<u8> + Send + Sync + 'static,
    ) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let streams = futures_util::stream::unfold(listener, |l| async move {
            let (stream, _) = l.accept().await.ok()?;
            Some((stream, l))
        });
        Backend::recording(addr, streams, respond)
    }

    /// Like [`Backend::http_with`], on a unix-domain socket at `path` (`addr` is then
    /// 0.0.0.0:0, which nothing connects to). The socket is open to every user, so an nginx
    /// worker running as `nobody` can connect too.
    pub async fn unix_with(
        path: &std::path::Path,
        respond: impl Fn(&Recorded) -> Vec<u8> + Send + Sync + 'static,
    ) -> Backend {
        use std::os::unix::fs::PermissionsExt;
        let listener = tokio::net::UnixListener::bind(path).expect("bind unix socket");
        let open = std::fs::Permissions::from_mode(0o777);
        std::fs::set_permissions(path, open).expect("chmod unix socket");
        let streams = futures_util::stream::unfold(listener, |l| async move {
            let (stream, _) = l.accept().await.ok()?;
            Some((stream, l))
        });
        Backend::recording(SocketAddr::from(([0, 0, 0, 0], 0)), streams, respond)
    }

    /// Serves every connection `streams` yields, recording and answering with `respond`.
    pub fn recording<S>(
        addr: SocketAddr,
        streams: impl futures_util::Stream<Item = S> + Send + 'static,
        respond: impl Fn(&Recorded) -> Vec<u8> + Send + Sync + 'static,
    ) -> Backend
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Responder> = Arc::new(respond);
        let record = seen.clone();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let task = tokio::spawn(async move {
            let mut streams = std::pin::pin!(streams);
            while let Some(stream) = streams.next().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve_http(stream, record.clone(), respond.clone()));
            }
        });
        Backend {
            addr,
            seen,
            connections,
            task,
        }
    }

    /// A WebSocket server echoing every data message; its handshake names it in `X-Backend`.
    pub async fn ws_echo(name: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let name = name.to_string();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let name = name.clone();
                tokio::spawn(async move {
                    #[allow(clippy::result_large_err)] // tungstenite's callback type
                    let tag = |_: &Request, mut resp: Response| {
                        resp.headers_mut()
                            .insert("x-backend", HeaderValue::from_str(&name).expect("name"));
                        Ok(resp)
                    };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, tag).await else {
                        return;
                    };
                    while let Some(Ok(msg)) = ws.next().await {
                        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Backend {
            addr,
            seen: Arc::new(Mutex::new(Vec::new())),
            connections: Arc::new(AtomicUsize::new(0)),
            task,
        }
    }

    /// Accepts connections and never answers.
    pub async fn silent() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        Backend {
            addr,
            seen: Arc::new(Mutex::new(Vec::new())),
            connections: Arc::new(AtomicUsize::new(0)),
            task,
        }
    }

    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn serve_http(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    seen: Arc<Mutex<Vec<Recorded>>>,
    respond: Arc<Responder>,
) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let length = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        let recorded = Recorded { head, body };
        let response = respond(&recorded);
        seen.lock().expect("lock").push(recorded);
        // An empty answer means: hang up without answering.
        if response.is_empty() || stream.write_all(&response).await.is_err() {
            return;
        }
        let head =
            String::from_utf8_lossy(&response[..response.len().min(1024)]).to_ascii_lowercase();
        if head.contains("\r\nconnection: close\r\n") {
            return;
        }
    }
}
