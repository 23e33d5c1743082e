//! What the measuring examples share: the proxy under test in its own process (ngxr serving a
//! test site, or the installed nginx with the articles' configuration), and readings of its
//! memory and CPU time from /proc. Each example uses part of it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::support::site::{TestSite, peer};

/// The integration tests' process helpers, which the shared test support expects here.
#[path = "../../tests/common/mod.rs"]
mod tests_common;
pub use tests_common::free_port;

/// A proxy process; `pid` is the process doing the work (nginx's worker).
#[derive(Debug)]
pub struct Proxy {
    pub name: &'static str,
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
}

/// If the example was started as `EXAMPLE proxy BACKEND`, serves as ngxr until stdin closes
/// and returns true.
pub fn serve_if_asked() -> bool {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some("proxy") {
        return false;
    }
    let backend: SocketAddr = args[2].parse().expect("backend address");
    let mut site = TestSite::new(vec![peer(backend)]);
    site.workers = 1;
    let running = ngxr::runtime::Server::start(Arc::new(site)).expect("start");
    println!("{}", running.local_addrs()[0]);
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    true
}

impl Proxy {
    /// ngxr, one worker thread, in front of `backend`.
    pub fn ngxr(backend: SocketAddr) -> Proxy {
        let exe = std::env::current_exe().expect("exe");
        let mut child = Command::new(exe)
            .arg("proxy")
            .arg(backend.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn proxy");
        let mut first = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("address");
        let addr = first.trim().parse().expect("address");
        let pid = child.id();
        Proxy {
            name: "ngxr",
            child,
            pid,
            addr,
        }
    }

    /// The installed nginx, one worker, with the articles' configuration.
    pub fn nginx(backend: SocketAddr) -> Option<Proxy> {
        let nginx = std::path::Path::new("/usr/sbin/nginx");
        if !nginx.exists() {
            return None;
        }
        let port = crate::support::refusing_addr().port();
        let dir = std::env::temp_dir().join(format!("ngxr-bench-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("logs")).ok()?;
        let conf = format!(
            "worker_processes 1; daemon off; error_log stderr; pid nginx.pid;\n\
             events {{ worker_connections 4096; }}\n\
             http {{ access_log off;\n\
               map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
               upstream websocket {{ server {backend}; }}\n\
               server {{ listen 127.0.0.1:{port};\n\
                 location / {{ proxy_pass http://websocket; proxy_read_timeout 300s;\n\
                   proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr;\n\
                   proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                   proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade;\n\
                   proxy_set_header Connection $connection_upgrade; }} }} }}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).ok()?;
        let child = Command::new(nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        std::thread::sleep(Duration::from_millis(500));
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).ok()?;
        let pid = children.split_whitespace().next()?.parse().ok()?;
        Some(Proxy {
            name: "nginx",
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }

    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// User + system CPU time so far, in clock ticks (1/100 s).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        field(11) + field(12)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // ngxr stops when its stdin closes; nginx's master stops its worker on TERM.
        drop(self.child.stdin.take());
        let master = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(master, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}
