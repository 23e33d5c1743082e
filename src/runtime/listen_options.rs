//! The options nginx sets on a listening socket once it is bound (`ngx_configure_listening_sockets`):
//! SO_RCVBUF, SO_SNDBUF, SO_KEEPALIVE with TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT,
//! TCP_FASTOPEN, the backlog again and TCP_DEFER_ACCEPT. Linux copies the buffer sizes and
//! the keepalive settings to every socket `accept()` returns, which is how clients get them.
//! A failure is logged at `alert` and ignored, as nginx does.

use std::io;
use std::os::fd::AsFd;

use nix::sys::socket::{setsockopt, sockopt};
// `sockopt_impl!` expands to the other two.
use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};

use crate::eval::plan::{ListenAddr, SoKeepalive, SocketOptions};

sockopt_impl!(
    /// TCP_FASTOPEN on a listening socket: the length of the queue of connections whose SYN
    /// carried data (nix only names the client side's TCP_FASTOPEN_CONNECT).
    TcpFastOpen,
    Both,
    libc::IPPROTO_TCP,
    libc::TCP_FASTOPEN,
    i32
);

sockopt_impl!(
    /// TCP_DEFER_ACCEPT: `accept()` waits until the client has sent data (nginx asks for 1s).
    TcpDeferAccept,
    Both,
    libc::IPPROTO_TCP,
    libc::TCP_DEFER_ACCEPT,
    i32
);

/// Applies `options` to the listening socket `fd` bound to `addr`. `before` is what a socket
/// kept across a reload was configured with (`None` for one just opened, whose backlog
/// `listen()` already set): the backlog is set again only when it changed, and deferred
/// accept is switched off when it is no longer asked for.
pub fn configure(
    fd: &impl AsFd,
    addr: &ListenAddr,
    options: &SocketOptions,
    before: Option<&SocketOptions>,
) {
    // nginx's alert: what failed, then the error.
    let failed = |what: String, e: nix::Error| {
        let os = crate::syntax::include::os_error(&io::Error::from(e));
        super::log::write(super::log::Level::Alert, format_args!("{what} ({os})"));
    };
    let set = |name: &str, value: i32, r: nix::Result<()>| {
        if let Err(e) = r {
            failed(
                format!("setsockopt({name}, {value}) {addr} failed, ignored"),
                e,
            );
        }
    };
    if let Some(size) = options.rcvbuf {
        set(
            "SO_RCVBUF",
            size,
            setsockopt(fd, sockopt::RcvBuf, &(size as usize)),
        );
    }
    if let Some(size) = options.sndbuf {
        set(
            "SO_SNDBUF",
            size,
            setsockopt(fd, sockopt::SndBuf, &(size as usize)),
        );
    }
    if let Some(keepalive) = options.so_keepalive {
        let on = matches!(keepalive, SoKeepalive::On { .. });
        set(
            "SO_KEEPALIVE",
            on as i32,
            setsockopt(fd, sockopt::KeepAlive, &on),
        );
    }
    if let Some(SoKeepalive::On {
        idle,
        interval,
        count,
    }) = options.so_keepalive
    {
        if idle != 0 {
            let r = setsockopt(fd, sockopt::TcpKeepIdle, &(idle as u32));
            set("TCP_KEEPIDLE", idle, r);
        }
        if interval != 0 {
            let r = setsockopt(fd, sockopt::TcpKeepInterval, &(interval as u32));
            set("TCP_KEEPINTVL", interval, r);
        }
        if count != 0 {
            set(
                "TCP_KEEPCNT",
                count,
                setsockopt(fd, sockopt::TcpKeepCount, &(count as u32)),
            );
        }
    }
    if let Some(queue) = options.fastopen {
        set("TCP_FASTOPEN", queue, setsockopt(fd, TcpFastOpen, &queue));
    }
    if before.is_some_and(|b| b.backlog != options.backlog) {
        let backlog = backlog(options);
        let listen =
            nix::sys::socket::Backlog::new(backlog).and_then(|b| nix::sys::socket::listen(fd, b));
        if let Err(e) = listen {
            failed(
                format!("listen() to {addr}, backlog {backlog} failed, ignored"),
                e,
            );
        }
    }
    let was_deferred = before.is_some_and(|b| b.deferred);
    if options.deferred != was_deferred {
        let value = options.deferred as i32;
        if let Err(e) = setsockopt(fd, TcpDeferAccept, &value) {
            let what = format!("setsockopt(TCP_DEFER_ACCEPT, {value}) for {addr} failed, ignored");
            failed(what, e);
        }
    }
}

/// The backlog `listen()` is given: `backlog=`, or nginx's 511 on Linux (`NGX_LISTEN_BACKLOG`).
pub fn backlog(options: &SocketOptions) -> i32 {
    const DEFAULT_BACKLOG: i32 = 511;
    options.backlog.unwrap_or(DEFAULT_BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::getsockopt;
    use socket2::{Domain, Socket, Type};

    fn listening() -> Socket {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
        s.listen(16).unwrap();
        s
    }

    fn addr() -> ListenAddr {
        ListenAddr::Inet("127.0.0.1:0".parse().unwrap())
    }

    #[test]
    fn every_option_reads_back() {
        let s = listening();
        let mut o = SocketOptions::default();
        for p in [
            "rcvbuf=64k",
            "sndbuf=32k",
            "so_keepalive=30m:15:4",
            "fastopen=7",
            "deferred",
        ] {
            o.parse(p);
        }
        configure(&s, &addr(), &o, None);
        // Linux doubles the buffer sizes it is given.
        assert_eq!(getsockopt(&s, sockopt::RcvBuf).unwrap(), 2 * 65536);
        assert_eq!(getsockopt(&s, sockopt::SndBuf).unwrap(), 2 * 32768);
        assert!(getsockopt(&s, sockopt::KeepAlive).unwrap());
        assert_eq!(getsockopt(&s, sockopt::TcpKeepIdle).unwrap(), 1800);
        assert_eq!(getsockopt(&s, sockopt::TcpKeepInterval).unwrap(), 15);
        assert_eq!(getsockopt(&s, sockopt::TcpKeepCount).unwrap(), 4);
        assert_eq!(getsockopt(&s, TcpFastOpen).unwrap(), 7);
        assert!(getsockopt(&s, TcpDeferAccept).unwrap() > 0);
    }

    #[test]
    fn unset_options_keep_the_system_values() {
        let s = listening();
        let idle = getsockopt(&s, sockopt::TcpKeepIdle).unwrap();
        let mut o = SocketOptions::default();
        o.parse("so_keepalive=::3");
        configure(&s, &addr(), &o, None);
        assert!(getsockopt(&s, sockopt::KeepAlive).unwrap());
        assert_eq!(getsockopt(&s, sockopt::TcpKeepIdle).unwrap(), idle);
        assert_eq!(getsockopt(&s, sockopt::TcpKeepCount).unwrap(), 3);
        assert_eq!(getsockopt(&s, TcpDeferAccept).unwrap(), 0);
        o.parse("so_keepalive=off");
        configure(&s, &addr(), &o, None);
        assert!(!getsockopt(&s, sockopt::KeepAlive).unwrap());
    }

    #[test]
    fn a_reload_switches_deferred_accept_off() {
        let s = listening();
        let mut deferred = SocketOptions::default();
        deferred.parse("deferred");
        configure(&s, &addr(), &deferred, None);
        assert!(getsockopt(&s, TcpDeferAccept).unwrap() > 0);
        configure(&s, &addr(), &SocketOptions::default(), Some(&deferred));
        assert_eq!(getsockopt(&s, TcpDeferAccept).unwrap(), 0);
    }
}
