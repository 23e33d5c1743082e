//! The part of routing that `fastcgi_pass`, `scgi_pass` and `uwsgi_pass` share: a level's
//! `*_param`s compiled, and the params of one request evaluated as their
//! `ngx_http_*_create_request` list them (the params, then the client's headers as
//! `HTTP_*`). How each protocol writes them is the runtime's (`runtime/gateway.rs`).

use bytes::Bytes;

use super::plan::{Gateway as Protocol, GatewayRequest};
use super::request::Req;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::gateway::{Gateway, Protocol as Pass};

/// A location's params, ready to evaluate.
#[derive(Debug)]
pub struct CGateway {
    /// `*_param`s in order: name, value, `if_not_empty`. An `HTTP_*` param whose
    /// value is written empty is left out (it only hides the client's header).
    params: Vec<(Bytes, Complex, bool)>,
    /// The client headers the `HTTP_*` params stand for, as nginx compares them: lowercase,
    /// `-` as `_`, without `HTTP_`.
    hidden: Vec<Vec<u8>>,
    /// A param names `HTTP_IF_MODIFIED_SINCE`, `HTTP_IF_NONE_MATCH` ([`GatewayRequest`]).
    own_validators: [bool; 2],
    pass_request_headers: bool,
    request_buffering: bool,
    protocol: Protocol,
}

impl CGateway {
    /// The params of a `pass` under its module's settings `f`; `None` after an error
    /// (reported).
    pub fn compile(cx: &mut Cx<'_>, reg: &Registry, pass: Pass, f: &Gateway) -> Option<CGateway> {
        let mut params = Vec::new();
        let mut hidden = Vec::new();
        for p in f.param.as_deref().unwrap_or_default() {
            let value = Complex::compile(cx, reg, &p.value)?;
            if let Some(header) = p.name.strip_prefix("HTTP_").filter(|h| !h.is_empty()) {
                hidden.push(header.to_ascii_lowercase().into_bytes());
                if p.value.value.is_empty() {
                    continue;
                }
            }
            params.push((Bytes::from(p.name.clone()), value, p.if_not_empty));
        }
        let names = |name: &str| {
            f.param
                .iter()
                .flatten()
                .any(|p| p.name.eq_ignore_ascii_case(name))
        };
        Some(CGateway {
            params,
            hidden,
            own_validators: [names("HTTP_IF_MODIFIED_SINCE"), names("HTTP_IF_NONE_MATCH")],
            pass_request_headers: f.pass_request_headers.unwrap_or(true),
            request_buffering: f.request_buffering.unwrap_or(true),
            protocol: match pass {
                Pass::FastCgi => Protocol::FastCgi {
                    keep_conn: f.keep_conn.unwrap_or(false),
                    catch_stderr: f
                        .catch_stderr
                        .iter()
                        .flatten()
                        .map(|s| Bytes::from(s.clone()))
                        .collect(),
                },
                Pass::Scgi => Protocol::Scgi,
                Pass::Uwsgi => Protocol::Uwsgi {
                    modifier1: f.modifier1.unwrap_or(0),
                    modifier2: f.modifier2.unwrap_or(0),
                },
            },
        })
    }

    /// The URL `proxy_pass` would have for the `address` a pass with variables gave (see
    /// [`crate::config::proxy::gateway_url`]).
    pub fn url(&self, address: &str) -> String {
        match self.protocol {
            Protocol::Uwsgi { .. } => crate::config::proxy::gateway_url(address),
            _ => format!("http://{address}"),
        }
    }

    /// The request's params: each `*_param` (one `if_not_empty` that came out empty left
    /// out), then, unless `*_pass_request_headers off`, each client header as
    /// `HTTP_NAME` (uppercase, `-` as `_`) but those an `HTTP_*` param names.
    pub fn request(&self, req: &mut Req<'_>) -> GatewayRequest {
        let mut params = Vec::with_capacity(self.params.len() + req.headers.len());
        for (name, value, if_not_empty) in &self.params {
            let value = value.eval(req);
            if *if_not_empty && value.is_empty() {
                continue;
            }
            params.push((name.clone(), Bytes::from(value)));
        }
        let headers_at = params.len();
        if self.pass_request_headers {
            for (name, value) in req.headers.iter() {
                let lower: Vec<u8> = name
                    .iter()
                    .map(|&c| match c {
                        b'-' => b'_',
                        c => c.to_ascii_lowercase(),
                    })
                    .collect();
                if self.hidden.contains(&lower) {
                    continue;
                }
                let mut key = Vec::with_capacity(5 + name.len());
                key.extend_from_slice(b"HTTP_");
                key.extend(name.iter().map(|&c| match c {
                    b'-' => b'_',
                    c => c.to_ascii_uppercase(),
                }));
                params.push((Bytes::from(key), value.clone()));
            }
        }
        GatewayRequest {
            params,
            headers_at,
            own_validators: self.own_validators,
            whole_body: self.request_buffering,
            protocol: self.protocol.clone(),
        }
    }
}
