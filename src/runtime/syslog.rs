//! Log lines sent to syslog as nginx sends them (`ngx_syslog_send`): one datagram per line,
//! `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: message` (RFC 3164), over a socket connected when first
//! needed and again after a send failed. The socket never blocks: a line the kernel cannot
//! take now is lost, as nginx loses it.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::sync::{Mutex, OnceLock};

use crate::eval::plan::{Syslog, SyslogServer};

/// One `syslog:` target and its socket.
#[derive(Debug)]
pub struct SyslogPeer {
    spec: Syslog,
    socket: Mutex<Option<Socket>>,
}

#[derive(Debug)]
enum Socket {
    Udp(std::net::UdpSocket),
    Unix(UnixDatagram),
}

impl SyslogPeer {
    pub fn new(spec: Syslog) -> SyslogPeer {
        SyslogPeer {
            spec,
            socket: Mutex::new(None),
        }
    }

    /// Sends `message` at the target's own severity (an access-log line).
    pub fn send(&self, message: &[u8]) -> io::Result<()> {
        self.send_at(self.spec.severity, message)
    }

    /// Sends `message` at `severity` (an error-log line, at its level's).
    pub fn send_at(&self, severity: u8, message: &[u8]) -> io::Result<()> {
        let mut datagram = self.header(severity);
        datagram.extend_from_slice(message);
        let mut socket = self.socket.lock().unwrap_or_else(|e| e.into_inner());
        let sent = match &mut *socket {
            Some(s) => s.send(&datagram),
            None => connect(&self.spec.server)
                .and_then(|s| s.send(&datagram).map(|n| (n, s)))
                .map(|(n, s)| {
                    *socket = Some(s);
                    n
                }),
        };
        match sent {
            Ok(n) if n == datagram.len() => Ok(()),
            Ok(n) => Err(io::Error::other(format!(
                "send() to syslog has written only {n} of {}",
                datagram.len()
            ))),
            Err(e) => {
                // nginx closes the socket and connects again for the next line.
                *socket = None;
                Err(e)
            }
        }
    }

    /// `<PRI>TIME HOSTNAME TAG: ` (`ngx_syslog_add_header`).
    fn header(&self, severity: u8) -> Vec<u8> {
        let pri = u32::from(self.spec.facility) * 8 + u32::from(severity);
        let time = crate::eval::clock::syslog(std::time::SystemTime::now());
        let header = match self.spec.hostname {
            true => format!("<{pri}>{time} {} {}: ", hostname(), self.spec.tag),
            false => format!("<{pri}>{time} {}: ", self.spec.tag),
        };
        header.into_bytes()
    }
}

impl Socket {
    fn send(&self, datagram: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Udp(s) => s.send(datagram),
            Socket::Unix(s) => s.send(datagram),
        }
    }
}

fn connect(server: &SyslogServer) -> io::Result<Socket> {
    match server {
        SyslogServer::Udp(addr) => {
            let any: std::net::SocketAddr = match addr {
                std::net::SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
                std::net::SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            let s = std::net::UdpSocket::bind(any)?;
            s.connect(addr)?;
            s.set_nonblocking(true)?;
            Ok(Socket::Udp(s))
        }
        SyslogServer::Unix(path) => {
            let s = UnixDatagram::unbound()?;
            s.connect(path)?;
            s.set_nonblocking(true)?;
            Ok(Socket::Unix(s))
        }
    }
}

/// This host's name in lower case, as nginx reads it once (`gethostname`).
fn hostname() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        nix::unistd::gethostname()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default()
    })
}
