//! Helpers for tests that run the `ngxr` binary (and nginx) as processes: free ports on
//! 127.0.0.1, bounded waits for a listener, temp dirs, processes stopped by PID on drop, nginx
//! as the oracle, and a backend that records the request heads it gets.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Debian's nginx, the reference.
pub const NGINX: &str = "/usr/sbin/nginx";

/// A process stopped by its PID when the test ends, however it ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Waits up to 10 s for something to accept connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A fresh, empty temp dir named after the test and this process.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ngxr-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// nginx's path when it is installed; otherwise `None`, after saying the test is skipped.
pub fn nginx() -> Option<&'static str> {
    if Path::new(NGINX).exists() {
        Some(NGINX)
    } else {
        eprintln!("skipped: {NGINX} is not installed");
        None
    }
}

/// Starts `bin` (nginx or ngxr) on `dir/nginx.conf` with `dir` as its prefix and waits until
/// it listens on `port`. The configuration says `daemon off; master_process off;` itself.
pub fn start_server(bin: &str, dir: &Path, port: u16) -> Running {
    let child = Command::new(bin)
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let running = Running(child);
    wait_for_port(port, bin);
    running
}

/// A backend on 127.0.0.1 that sends the head of every request it gets down the channel and
/// answers each with `answer`, then closes.
pub fn recording_backend(answer: &'static [u8]) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a backend");
    let port = listener.local_addr().expect("backend address").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { break };
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut head = Vec::new();
            let mut chunk = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = s.write_all(answer);
            if tx
                .send(String::from_utf8_lossy(&head).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    (port, rx)
}

/// An empty 200 that closes the connection.
pub const EMPTY_200: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
