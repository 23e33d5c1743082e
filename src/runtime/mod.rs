//! Serving a configuration: listening sockets, HTTP/1.1 with nginx's output, proxying with
//! nginx's balancers and retry rules, WebSocket tunnels, TLS, logs and signals. The runtime only
//! sees the compiled [`Site`](crate::eval::plan::Site) contract, never the syntax.
//!
//! Start a server with [`Server::start`]; `ngxr -c FILE` ([`run`]) does that with the site
//! [`crate::load::load`] builds, then waits for nginx's signals.
//!
//! A request goes through these phases, in nginx's order (one module each):
//!
//! ```text
//! listen (TCP, unix) ─ accept (worker_connections) ─ conn: PROXY header (proxy_protocol), TLS
//! handshake (SNI → certificate), then per request:
//!   client + parse: read the head by nginx's rules ─ bad? respond 400/414/494/505, close
//!   └ request: body framing (400/501) ─ Site::route ─ dispatch
//!       ├ Auth ─ dispatch the auth_request subrequest (no body, answer dropped, not logged)
//!       │        ─ Site::route again with its outcome ─ dispatch
//!       ├ Respond ─ respond: status, headers, nginx's page, gzip ────────────────────┐
//!       ├ File ─ static_file: head, gzip, body read on the blocking pool ────────────┤
//!       └ Proxy ─ forward: request_body (413; kept_body for $request_body: Site::route
//!                  again) ─ resolver (a name: DNS, 502) ─ balancer.get                │
//!                  ─ peer: connect/pool                                               │
//!                  ─ exchange: send head+body, read head ─ error? next upstream/502/504
//!                  │   (an error_page for it, an intercepted status, or accel: an
//!                  │    X-Accel-Redirect: Site::reroute ─ dispatch again)
//!                  └ deliver: filter headers, gzip ─ upstream_body stream ───────────┤
//!   write: head + body at hand in one write, the rest as it comes (chunked) ◄────────┘
//!   └ 101 + Upgrade ─ tunnel (own task, idle = proxy_read_timeout); else skip the rest of
//!     the body and read the next head; access_log when the body (or tunnel) ends
//! ```
//!
//! Invariants: the runtime never sees syntax or diagnostics, only [`crate::eval::plan`]; an
//! idle tunnel holds no buffer; a connection keeps the configuration it was accepted with.

mod accel;
mod access_log;
mod addition;
mod balancer;
mod body;
mod body_file;
mod cache;
mod chunked;
mod client;
mod client_auth;
mod conn;
mod context;
mod counted;
mod deliver;
mod drain;
mod error;
mod exchange;
mod fastcgi;
mod forced_ranges;
mod forward;
#[cfg(fuzzing)]
pub mod fuzzing;
mod gateway;
mod gunzip;
mod gzip;
mod http2;
mod kept_body;
mod listen;
mod listen_options;
pub mod log;
mod pages;
mod parse;
mod peer;
mod peer_stream;
mod proxy_protocol;
mod redirect;
mod request;
mod request_body;
mod resolver;
mod respond;
mod response;
mod server;
mod sessions;
mod signals;
mod signatures;
mod socket;
mod ssi;
mod startup;
mod state;
mod static_file;
mod stream;
mod sub_filter;
mod subrequest;
mod syslog;
mod throttle;
mod tls;
mod trailers;
mod tunnel;
mod upstream_body;
mod upstream_head;
mod upstream_tls;
mod workers;
mod write;

pub use error::{ProxyError, Side, Stage};
pub use server::{Prepared, Running, Server};
pub use startup::{load_site, run};
