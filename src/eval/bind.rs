//! `nginx -t` opens every listening socket it would serve (`ngx_open_listening_sockets`) and
//! fails on an address the system refuses (`bind() to [fe80::1]:80 failed (22: Invalid
//! argument)`, `bind() to unix:/no/dir.sock failed (2: No such file or directory)`), though
//! not on one already in use. ngxr's check does the same: bind with `SO_REUSEADDR`, close at
//! once, and delete the file a unix-domain socket's bind created, as `nginx -t` deletes it.

use socket2::{Domain, SockAddr, Socket, Type};

use super::plan::ListenAddr;

use super::plan::ListenSpec;
use super::site::CServer;
use crate::config::Cx;
use crate::diag::{AfterParse, Diagnostic, NginxAt};
use crate::syntax::include::os_error;

/// Tries each socket of `listens`; the error points at the first `listen` of the address.
pub fn check(cx: &mut Cx<'_>, listens: &[ListenSpec], servers: &[CServer]) {
    for (i, l) in listens.iter().enumerate() {
        let Some(span) = servers
            .iter()
            .flat_map(|s| &s.listens)
            .find(|w| w.addr == l.addr)
            .map(|w| w.span)
        else {
            continue;
        };
        let Err(e) = try_bind(l) else { continue };
        if e.kind() == std::io::ErrorKind::AddrInUse {
            continue;
        }
        let message = format!("bind() to {} failed ({})", l.addr, os_error(&e));
        let mut d = Diagnostic::emerg("listen::bind", message, span, span).at(NginxAt::Nowhere);
        d.order = AfterParse::Listen.order(i as u64);
        cx.sink.push(d);
    }
}

fn try_bind(l: &ListenSpec) -> std::io::Result<()> {
    match &l.addr {
        ListenAddr::Inet(addr) => {
            let socket = Socket::new(Domain::for_address(*addr), Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            if addr.is_ipv6() {
                socket.set_only_v6(l.socket.ipv6only)?;
            }
            socket.bind(&(*addr).into())
        }
        ListenAddr::Unix(path) => {
            let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
            socket.bind(&SockAddr::unix(&**path)?)?;
            let _ = std::fs::remove_file(&**path);
            Ok(())
        }
    }
}
