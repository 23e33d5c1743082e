//! What `fastcgi_pass`, `scgi_pass` and `uwsgi_pass` write in place of an HTTP request: the
//! params (evaluated by routing, `eval/gateway.rs`) in each protocol's framing, then the
//! body. FastCGI wraps everything in records (`fastcgi.rs`, which also unwraps the answer);
//! SCGI and uwsgi send a head and then the body as it is, and answer with plain bytes that
//! the exchange reads as an HTTP upstream's, their head as
//! [`super::exchange::parse_gateway_head`] reads it.

use bytes::Bytes;

use crate::eval::plan::{Gateway, GatewayRequest};

use super::fastcgi;

/// The bytes before the body; `body_length` is the client's body's, sent or not (SCGI's
/// `CONTENT_LENGTH`).
pub fn request_head(request: &GatewayRequest, body_length: u64) -> Vec<u8> {
    match request.protocol {
        Gateway::FastCgi { keep_conn, .. } => fastcgi::request_head(request, keep_conn),
        Gateway::Scgi => scgi_head(&request.params, body_length),
        Gateway::Uwsgi {
            modifier1,
            modifier2,
        } => uwsgi_head(&request.params, modifier1, modifier2),
    }
}

/// A piece of the body, appended to `out` as the protocol carries it.
pub fn body(out: &mut Vec<u8>, request: &GatewayRequest, data: &[u8]) {
    match request.protocol {
        Gateway::FastCgi { .. } => fastcgi::stdin(out, data),
        Gateway::Scgi | Gateway::Uwsgi { .. } => out.extend_from_slice(data),
    }
}

/// A piece of a body streamed as it arrives, as the protocol carries it (SCGI's and uwsgi's
/// as it came).
pub fn framed(request: &GatewayRequest, data: Bytes) -> Bytes {
    match request.protocol {
        Gateway::FastCgi { .. } => {
            let mut records = Vec::with_capacity(data.len() + 16);
            fastcgi::stdin(&mut records, &data);
            Bytes::from(records)
        }
        Gateway::Scgi | Gateway::Uwsgi { .. } => data,
    }
}

/// What says the body is over (FastCGI's empty STDIN record; SCGI and uwsgi announced its
/// length before it).
pub fn end_body(out: &mut Vec<u8>, request: &GatewayRequest) {
    if let Gateway::FastCgi { .. } = request.protocol {
        fastcgi::end_stdin(out);
    }
}

/// SCGI's head (`ngx_http_scgi_create_request`): one netstring, `LENGTH:` then each param's
/// name and value ended by a NUL, `CONTENT_LENGTH` first (the body's length, whatever
/// `scgi_pass_request_body` says), then `,`.
fn scgi_head(params: &[(Bytes, Bytes)], body_length: u64) -> Vec<u8> {
    let length = body_length.to_string();
    let len = "CONTENT_LENGTH".len()
        + length.len()
        + 2
        + params
            .iter()
            .map(|(n, v)| n.len() + v.len() + 2)
            .sum::<usize>();
    let mut out = Vec::with_capacity(len + 24);
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b":CONTENT_LENGTH\0");
    out.extend_from_slice(length.as_bytes());
    out.push(0);
    for (name, value) in params {
        out.extend_from_slice(name);
        out.push(0);
        out.extend_from_slice(value);
        out.push(0);
    }
    out.push(b',');
    out
}

/// uwsgi's head (`ngx_http_uwsgi_create_request`): `modifier1`, the params' size in two bytes
/// little-endian, `modifier2`, then each name and value after its two-byte length. Routing
/// refused params over 65535 bytes.
fn uwsgi_head(params: &[(Bytes, Bytes)], modifier1: u8, modifier2: u8) -> Vec<u8> {
    let len: usize = params.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    let mut out = Vec::with_capacity(len + 4);
    out.push(modifier1);
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.push(modifier2);
    for (name, value) in params {
        // Internal: nginx writes the low 16 bits of each length, as here.
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        out.extend_from_slice(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(Bytes, Bytes)> {
        vec![
            (Bytes::from_static(b"SCGI"), Bytes::from_static(b"1")),
            (Bytes::from_static(b"HTTP_HOST"), Bytes::from_static(b"a")),
        ]
    }

    #[test]
    fn scgi_head_is_one_netstring_with_the_length_first() {
        let head = scgi_head(&params(), 12);
        assert_eq!(
            head,
            b"37:CONTENT_LENGTH\x0012\x00SCGI\x001\x00HTTP_HOST\x00a\x00,"
        );
    }

    #[test]
    fn uwsgi_head_has_little_endian_sizes_between_the_modifiers() {
        let head = uwsgi_head(&params(), 5, 7);
        assert_eq!(
            head,
            b"\x05\x17\x00\x07\x04\x00SCGI\x01\x001\x09\x00HTTP_HOST\x01\x00a"
        );
    }
}
