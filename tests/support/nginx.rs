//! The installed nginx as an oracle: started on a free 127.0.0.1 port with a given `http`
//! block body (or the articles' location), stopped (master and worker) when dropped. `None` when nginx is not installed.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug)]
pub struct Nginx {
    child: Child,
    pub addr: SocketAddr,
    /// The prefix: `nginx.conf`, `logs/`.
    pub dir: std::path::PathBuf,
}

impl Nginx {
    /// Serves `location / { LOCATION }` with `upstream backend { UPSTREAM }` and the articles'
    /// `$connection_upgrade` map.
    pub fn start(upstream: &str, location: &str) -> Option<Nginx> {
        Nginx::serve(|port| {
            format!(
                "access_log off;\n\
                 map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
                 upstream backend {{ {upstream} }}\n\
                 server {{ listen 127.0.0.1:{port}; location / {{ {location} }} }}\n"
            )
        })
    }

    /// Serves the `http` block body `http(port)`, which listens on 127.0.0.1:`port`; the
    /// prefix directory is the `dir` field.
    pub fn serve(http: impl FnOnce(u16) -> String) -> Option<Nginx> {
        let port = crate::common::free_port();
        let dir = std::env::temp_dir().join(format!("ngxr-oracle-{}-{port}", std::process::id()));
        Nginx::serve_at(&dir, &http(port), port)
    }

    /// Serves `http { HTTP }` with `dir` as the prefix, where `HTTP` listens on
    /// 127.0.0.1:`port`.
    pub fn serve_at(dir: &std::path::Path, http: &str, port: u16) -> Option<Nginx> {
        let nginx = std::path::Path::new("/usr/sbin/nginx");
        if !nginx.exists() {
            eprintln!("skipped: no /usr/sbin/nginx");
            return None;
        }
        std::fs::create_dir_all(dir.join("logs")).ok()?;
        let conf = format!(
            "worker_processes 1; daemon off; error_log stderr crit; pid nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{ {http} }}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).ok()?;
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..100 {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Some(Nginx {
                    child,
                    addr,
                    dir: dir.to_path_buf(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let master = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(master, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}
