//! `add_header` on the answers nginx writes itself (`return`, a rewrite's redirect): the
//! values compiled once per level, added to the statuses nginx's headers filter adds them to
//! (any status with `always`). Proxied answers carry them to the runtime in `ProxyRequest`.

use bytes::Bytes;

use super::request::Req;
use super::value::Complex;
use super::vars::Registry;
use crate::config::Cx;
use crate::config::settings::Settings;

/// A level's `add_header` lines: name, value, `always`.
pub type AddHeaders = Vec<(Bytes, Complex, bool)>;

/// Compiles the `add_header`s in effect at a level; `None` after an error (reported).
pub fn compile(cx: &mut Cx<'_>, reg: &Registry, st: &Settings) -> Option<AddHeaders> {
    let mut out = Vec::new();
    for h in st.add_header.as_deref().unwrap_or_default() {
        let value = Complex::compile(cx, reg, &h.value)?;
        out.push((Bytes::from(h.name.clone()), value, h.always));
    }
    Some(out)
}

/// Whether an `add_header` line applies to `status`.
pub fn applies(status: u16, always: bool) -> bool {
    always
        || matches!(
            status,
            200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
        )
}

/// Appends to `headers` the lines that apply to `status` (`ngx_http_headers_filter`).
pub fn apply(add: &AddHeaders, status: u16, req: &mut Req<'_>, headers: &mut Vec<(Bytes, Bytes)>) {
    for (name, value, always) in add {
        let value = value.eval(req);
        if applies(status, *always) && !value.is_empty() {
            headers.push((name.clone(), Bytes::from(value)));
        }
    }
}
