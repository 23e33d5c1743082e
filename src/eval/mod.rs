//! Compiled evaluators: what nginx decides per request, prepared once at load. (Being written.)

pub mod plan;

use crate::cli::Paths;
use crate::diag::Sink;
use crate::syntax::SyntaxTree;

/// A configuration compiled for serving.
#[derive(Debug)]
pub struct Compiled {}

/// Lowers and compiles a parsed configuration; problems go to `sink` (nginx's wording, with
/// `order` from `SyntaxTree::order_of`). `None` when nothing usable could be built.
pub fn compile(_tree: &SyntaxTree, _paths: &Paths, _sink: &mut Sink) -> Option<Compiled> {
    None
}

impl plan::Site for Compiled {
    fn listens(&self) -> Vec<plan::ListenSpec> {
        Vec::new()
    }
    fn route(&self, _request: &plan::RequestInfo<'_>) -> plan::Route {
        plan::Route::Respond(plan::Response {
            status: 404,
            log: Default::default(),
            headers: Vec::new(),
            body: None,
        })
    }
    fn certificate(
        &self,
        _listen: std::net::SocketAddr,
        _sni: Option<&str>,
    ) -> Option<std::sync::Arc<plan::CertificateSpec>> {
        None
    }
    fn upstreams(&self) -> Vec<std::sync::Arc<plan::UpstreamGroup>> {
        Vec::new()
    }
    fn process(&self) -> plan::ProcessSpec {
        plan::ProcessSpec {
            worker_processes: 1,
            worker_connections: 512,
            pid: None,
            error_logs: Vec::new(),
            daemon: false,
        }
    }
}
