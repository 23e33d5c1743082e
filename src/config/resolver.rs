//! `resolver ADDRESS[:port] ... [valid=time] [ipv6=on|off]` (`ngx_resolver_create`): the DNS
//! servers a `proxy_pass` with variables asks for a name no upstream block has. nginx 1.22
//! knows no other parameter (`ipv4=` came in 1.23.1, `status_zone=` is commercial): like any
//! word it is taken for an address, and is a host not found.

use super::Cx;
use super::units::parse_sec;
use crate::eval::plan::ResolverSpec;
use crate::syntax::Directive;

/// The port of an address written without one.
const DNS_PORT: u16 = 53;

/// Reads one `resolver` directive; `None` after an error.
pub fn lower(cx: &mut Cx<'_>, d: &Directive) -> Option<ResolverSpec> {
    let mut spec = ResolverSpec {
        servers: Vec::new(),
        valid: None,
        ipv6: true,
    };
    for arg in d.args.iter().map(|a| a.value.as_str()) {
        if let Some(time) = arg.strip_prefix("valid=") {
            match parse_sec(time) {
                Some(t) => spec.valid = Some(t),
                None => return invalid(cx, d, arg),
            }
        } else if let Some(flag) = arg.strip_prefix("ipv6=") {
            match flag {
                "on" => spec.ipv6 = true,
                "off" => spec.ipv6 = false,
                _ => return invalid(cx, d, arg),
            }
        } else {
            // Names are resolved now, as `nginx -t` resolves them.
            match super::upstream::resolve(arg, DNS_PORT) {
                Ok(addrs) => spec.servers.extend(addrs),
                Err(e) => {
                    cx.error(d, format!("{e} in resolver \"{arg}\""));
                    return None;
                }
            }
        }
    }
    if spec.servers.is_empty() {
        cx.error(d, "no name servers defined");
        return None;
    }
    Some(spec)
}

/// `invalid parameter: ARG`.
fn invalid(cx: &mut Cx<'_>, d: &Directive, arg: &str) -> Option<ResolverSpec> {
    cx.error(d, format!("invalid parameter: {arg}"));
    None
}
