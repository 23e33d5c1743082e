//! The runtime end to end: real sockets on 127.0.0.1:0, real backends, real clients.

#[path = "../common/mod.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;

mod accel_redirect;
mod access;
mod access_log;
mod addition;
mod auth_basic;
mod auth_delay;
mod auth_request;
mod autoindex;
mod balance;
mod body_file;
mod body_timeout;
mod browser;
mod buffer_size;
mod client_abort;
mod client_certs;
mod content_handlers;
mod error_logs;
mod fastcgi;
mod fastcgi_bind;
mod fastcgi_cache;
mod files;
mod flv;
mod force_ranges;
mod gateway;
mod geo;
mod gunzip;
mod gzip;
mod gzip_static;
mod header_buffers;
mod headers;
mod http2;
mod if_blocks;
mod lifecycle;
mod limit_except;
mod limits;
mod listen;
mod listen_options;
mod mirror;
mod mp4;
mod oracle;
mod output;
mod post_action;
mod proxied_requests;
mod proxy;
mod proxy_bind;
mod proxy_cache;
mod proxy_cache_lock;
mod proxy_cookie;
mod proxy_method;
mod proxy_protocol;
mod proxy_redirect;
mod redefined_variables;
mod redirect_log;
mod referer;
mod refused_heads;
mod refused_log;
mod request_body;
mod resolver;
mod root_variables;
mod secure_link;
mod shutdown_timeout;
mod split_clients;
mod ssi;
mod startup_warnings;
mod sub_filter;
mod syslog;
mod tls;
mod trailers;
mod tunnel;
mod tunnel_oracle;
mod unbuffered_body;
mod unix_listen;
mod upstream;
mod upstream_answers;
mod upstream_tls;
mod userid;
mod variables;

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

/// The shipped example must be a configuration nginx itself accepts (checked with the
/// installed nginx when there is one).
#[test]
fn the_websocket_example_passes_nginx_t() {
    let nginx = std::path::Path::new("/usr/sbin/nginx");
    if !nginx.exists() {
        eprintln!("skipped: no /usr/sbin/nginx");
        return;
    }
    let prefix = std::env::temp_dir().join(format!("ngxr-example-{}", std::process::id()));
    std::fs::create_dir_all(&prefix).expect("prefix");
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/websocket.conf");
    let out = std::process::Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(conf)
        .output()
        .expect("run nginx -t");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
