//! The runtime end to end: real sockets on 127.0.0.1:0, real backends, real clients.

#[path = "../support/mod.rs"]
mod support;

mod balance;
mod proxy;
mod tls;
mod tunnel;

use std::net::SocketAddr;
use std::sync::Arc;

use ngxr::runtime::{Running, Server};
use support::site::TestSite;

/// Starts ngxr serving `site`; returns the handle and the address it listens on.
pub fn start(site: TestSite) -> (Running, SocketAddr) {
    let running = Server::start(Arc::new(site)).expect("server starts");
    let addr = running.local_addrs()[0];
    (running, addr)
}
