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

impl Running {
    /// Stops the process gracefully (QUIT, as `nginx -s quit`) and waits up to 10 s for it
    /// to exit, so that every line it was to log is in its files; killed if it does not.
    pub fn quit(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT).is_err() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.0.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

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
/// answers each with `answer`, then closes. Where `answer` holds [`ANSWER_PAUSE`], it waits
/// 300ms before sending the rest.
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
            let pause = answer
                .windows(ANSWER_PAUSE.len())
                .position(|w| w == ANSWER_PAUSE);
            let (now, later) = match pause {
                Some(at) => (&answer[..at], &answer[at + ANSWER_PAUSE.len()..]),
                None => (answer, &b""[..]),
            };
            let _ = s.write_all(now);
            if !later.is_empty() {
                std::thread::sleep(Duration::from_millis(300));
                let _ = s.write_all(later);
            }
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

/// Marks where [`recording_backend`] pauses in its answer.
pub const ANSWER_PAUSE: &[u8] = b"<pause>";

/// An empty 200 that closes the connection.
pub const EMPTY_200: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// A backend on 127.0.0.1 that answers every request with a 200 whose body is the request
/// as it arrived (head, then as many body bytes as its `Content-Length` says), after a
/// `Set-Cookie` line for each `X-Set-Cookie` header it was sent (and a `Name` line for each
/// `X-Answer-Name`), and after the request, for an `X-Read-File: PATH` header, that file's
/// bytes as it found them (`no file` when there is none); a HEAD gets the head alone.
/// What a proxy sent it is thus what the client gets back. Stops when dropped.
pub struct Mirror {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Mirror {
    pub fn start() -> Mirror {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a backend");
        let port = listener.local_addr().expect("backend address").port();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(s) = conn else { break };
                std::thread::spawn(move || mirror(s));
            }
        });
        Mirror { port, stop }
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // Wakes the accept loop, which then sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Serves one connection for [`Mirror`]: one request, then close.
fn mirror(mut s: TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    let lines: Vec<&str> = head.split("\r\n").collect();
    let field = |name: &'static str| {
        lines.iter().skip(1).filter_map(move |l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    // `X-Mirror-Now`: answer at once, for a request announcing a body it does not send.
    let length: usize = field("content-length")
        .next()
        .and_then(|v| v.parse().ok())
        .filter(|_| field("x-mirror-now").next().is_none())
        .unwrap_or(0);
    while got.len() < head_end + length {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    let mut answer = b"HTTP/1.1 200 OK\r\n".to_vec();
    for cookie in field("x-set-cookie") {
        answer.extend_from_slice(format!("Set-Cookie: {cookie}\r\n").as_bytes());
    }
    // `X-Answer-Name: value` asks for a `Name: value` line.
    for line in lines.iter().skip(1) {
        if let Some((name, value)) = line.split_once(':')
            && name.len() > 9
            && name.is_char_boundary(9)
            && name[..9].eq_ignore_ascii_case("x-answer-")
        {
            answer.extend_from_slice(format!("{}: {}\r\n", &name[9..], value.trim()).as_bytes());
        }
    }
    // `X-Read-File: PATH`: what a file the proxy named holds while the request is served.
    if let Some(path) = field("x-read-file").next() {
        got.extend_from_slice(b"[file: ");
        got.extend(std::fs::read(path).unwrap_or_else(|_| b"no file".to_vec()));
        got.extend_from_slice(b"]");
    }
    answer.extend_from_slice(
        format!("Content-Length: {}\r\nConnection: close\r\n\r\n", got.len()).as_bytes(),
    );
    if !head.starts_with("HEAD ") {
        answer.extend_from_slice(&got);
    }
    let _ = s.write_all(&answer);
}
