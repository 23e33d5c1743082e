//! `nginx -t` opens every listening socket it would serve (`ngx_open_listening_sockets`) and
//! fails on an address the system refuses (`bind() to [fe80::1]:80 failed (22: Invalid
//! argument)`), though not on one already in use. ngxr's check does the same: bind with
//! `SO_REUSEADDR`, close at once.

use socket2::{Domain, Socket, Type};

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
    let socket = Socket::new(Domain::for_address(l.addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if l.addr.is_ipv6() {
        socket.set_only_v6(l.ipv6only)?;
    }
    socket.bind(&l.addr.into())
}
