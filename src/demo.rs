//! `ngxr demo`: the articles' setup in one command. Starts two WebSocket echo backends like
//! the articles' Node server (each reply is `Server received from client: <msg>`) on
//! 127.0.0.1:8010 and :8011, serves `examples/websocket.conf` on 127.0.0.1:8020 through the
//! normal load pipeline, makes one round trip through the proxy and prints it, then serves
//! until Ctrl-C (or exits at once with `--once`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use crate::cli::{DemoArgs, Paths};
use crate::runtime::{self, Server};

/// The configuration served, as shipped in `examples/`.
const CONFIG: &str = include_str!("../examples/websocket.conf");
const BACKENDS: [&str; 2] = ["127.0.0.1:8010", "127.0.0.1:8011"];
const PROXY: &str = "127.0.0.1:8020";

pub fn run(args: &DemoArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start: {e}")),
    };
    match rt.block_on(demo(args.once)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(message),
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("ngxr demo: {message}");
    ExitCode::FAILURE
}

async fn demo(once: bool) -> Result<(), String> {
    for addr in BACKENDS {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        tokio::spawn(echo_backend(listener));
        println!("backend: WebSocket echo server on ws://{addr}");
    }
    let paths = write_config()?;
    let loaded = runtime::load_site(&paths, None);
    // The files were only needed for loading (the pid file, if any, is not written by demo).
    let _ = std::fs::remove_dir_all(&paths.prefix);
    let site = loaded.map_err(|m| format!("{}: {m}", paths.conf.display()))?;
    let mut proxy = Server::start(site).map_err(|e| e.to_string())?;
    println!("proxy:   ngxr serving {} on {PROXY}", paths.conf.display());
    let reply = round_trip().await?;
    println!("client:  sent \"Hello from the ngxr demo\", got \"{reply}\"");
    if once {
        proxy.shutdown_now();
        return Ok(());
    }
    println!("\nTry it yourself:  wscat --connect ws://{PROXY}\nPress Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    proxy.shutdown_now();
    Ok(())
}

/// Writes the embedded configuration into a fresh directory, which is also the prefix (so its
/// relative pid file lands there).
fn write_config() -> Result<Paths, String> {
    let dir: PathBuf = std::env::temp_dir().join(format!("ngxr-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, CONFIG).map_err(|e| format!("{}: {e}", conf.display()))?;
    Ok(Paths::resolve(Some(&dir), Some(&conf)))
}

/// One WebSocket round trip through the proxy, bounded in time.
async fn round_trip() -> Result<String, String> {
    let exchange = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{PROXY}/"))
            .await
            .map_err(|e| format!("handshake through the proxy failed: {e}"))?;
        ws.send(Message::text("Hello from the ngxr demo"))
            .await
            .map_err(|e| e.to_string())?;
        let reply = match ws.next().await {
            Some(Ok(Message::Text(text))) => text.to_string(),
            other => return Err(format!("unexpected answer: {other:?}")),
        };
        let _ = ws.close(None).await;
        Ok(reply)
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "no answer within 10 seconds".to_string())?
}

/// The articles' Node echo server, in Rust: answers each text message with
/// `Server received from client: <msg>`. Also the seed tests' backend.
pub async fn echo_backend(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(text) = msg {
                    let reply = format!("Server received from client: {text}");
                    if ws.send(Message::text(reply)).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
}
