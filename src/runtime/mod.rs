//! Serving a configuration: listening sockets, HTTP/1.1 with nginx's output, proxying with
//! nginx's balancers and retry rules, WebSocket tunnels, TLS, logs and signals. The runtime only
//! sees the compiled [`Site`](crate::eval::plan::Site) contract, never the syntax.
//!
//! Start a server with [`Server::start`]; `ngxr -c FILE` ([`run`]) does that with the site
//! [`crate::load::load`] builds, then waits for nginx's signals.

mod access_log;
mod balancer;
mod body;
mod chunked;
mod conn;
mod context;
mod deliver;
mod error;
mod exchange;
mod forward;
mod listen;
pub mod log;
mod pages;
mod peer;
mod request;
mod respond;
mod response;
mod server;
mod signals;
mod startup;
mod state;
mod stream;
mod tls;
mod tunnel;
mod upstream_body;

pub use error::{ProxyError, Side, Stage};
pub use server::{Prepared, Running, Server};
pub use startup::{load_site, run};
