//! The settings of the modules that pass a request to an application server instead of an
//! HTTP one: FastCGI (`fastcgi_*`), SCGI (`scgi_*`) and uwsgi (`uwsgi_*`). The three keep the
//! same upstream settings under their own prefix (`ngx_http_fastcgi_loc_conf_t` and its
//! siblings), each inherited as their merge functions do: single values by themselves, the
//! arrays (`*_param`, `*_hide_header`, `*_pass_header`, `fastcgi_catch_stderr`) whole, a
//! level that sets any of one kind inheriting none of it. A few belong to one module only
//! (`fastcgi_index`, `uwsgi_modifier1`...): the directive table keeps the others from
//! naming them. `fastcgi_pass` and its siblings are the location's content handler, read
//! with `proxy_pass` (`location.rs`). The `fastcgi_cache*` ones are the file cache's
//! (`cache.rs`), FastCGI's alone.

use std::time::Duration;

use super::cache::{Cache, Module};
use super::proxy::{self, NextUpstream};
use super::settings::{flag, ignore_headers, set};
use super::units::{parse_msec, parse_size};
use super::{Cx, Text};
use crate::diag::Severity;
use crate::eval::plan::IgnoreHeaders;
use crate::syntax::Directive;

/// The protocol a `*_pass` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    FastCgi,
    Scgi,
    Uwsgi,
}

impl Protocol {
    /// The pass directive's name.
    pub fn pass(self) -> &'static str {
        match self {
            Protocol::FastCgi => "fastcgi_pass",
            Protocol::Scgi => "scgi_pass",
            Protocol::Uwsgi => "uwsgi_pass",
        }
    }
}

/// One `fastcgi_param NAME VALUE [if_not_empty]` (or `scgi_param`, `uwsgi_param`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Text,
    /// Not sent when the value comes out empty.
    pub if_not_empty: bool,
}

/// One level's `fastcgi_*` (or `scgi_*`, `uwsgi_*`) settings; `None`: the enclosing level's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gateway {
    pub param: Option<Vec<Param>>,
    pub index: Option<String>,
    /// `fastcgi_split_path_info`: the pattern, compiled by eval.
    pub split_path_info: Option<Text>,
    pub pass_request_headers: Option<bool>,
    pub pass_request_body: Option<bool>,
    pub hide_header: Option<Vec<String>>,
    pub pass_header: Option<Vec<String>>,
    pub catch_stderr: Option<Vec<String>>,
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub send_timeout: Option<Duration>,
    pub next_upstream: Option<NextUpstream>,
    pub next_upstream_tries: Option<u32>,
    pub next_upstream_timeout: Option<Duration>,
    pub intercept_errors: Option<bool>,
    pub keep_conn: Option<bool>,
    pub buffering: Option<bool>,
    pub request_buffering: Option<bool>,
    pub ignore_client_abort: Option<bool>,
    pub ignore_headers: Option<IgnoreHeaders>,
    pub buffer_size: Option<usize>,
    pub limit_rate: Option<usize>,
    pub force_ranges: Option<bool>,
    /// `uwsgi_modifier1` and `uwsgi_modifier2`: the packet header's two bytes.
    pub modifier1: Option<u8>,
    pub modifier2: Option<u8>,
    /// The `fastcgi_cache*` settings.
    pub cache: Cache,
    /// `fastcgi_bind` (as `proxy_bind`): `None` inside for `off`.
    pub bind: Option<Option<super::proxy_bind::Bind>>,
}

macro_rules! inherit {
    ($self:ident, $parent:ident, $($field:ident),*) => {
        $(if $self.$field.is_none() { $self.$field = $parent.$field.clone(); })*
    };
}

impl Gateway {
    pub fn inherit(&mut self, parent: &Gateway) {
        inherit!(
            self,
            parent,
            param,
            index,
            split_path_info,
            pass_request_headers,
            pass_request_body,
            hide_header,
            pass_header,
            catch_stderr,
            connect_timeout,
            read_timeout,
            send_timeout,
            next_upstream,
            next_upstream_tries,
            next_upstream_timeout,
            intercept_errors,
            keep_conn,
            buffering,
            request_buffering,
            ignore_client_abort,
            ignore_headers,
            buffer_size,
            limit_rate,
            force_ranges,
            modifier1,
            modifier2,
            bind
        );
        self.cache.inherit(&parent.cache);
    }

    /// `ngx_http_fastcgi_merge_loc_conf`'s warning for a merged level under `fastcgi_cache`
    /// without `fastcgi_cache_key` (whose key is then empty: every request shares one entry).
    pub fn check_key(&self, cx: &mut Cx<'_>) {
        if self.cache.key.is_none()
            && let Some(span) = self.cache.zone_span()
        {
            let message = "no \"fastcgi_cache_key\" for \"fastcgi_cache\"";
            cx.merge_errors.push((span, message, Severity::Warning));
        }
    }

    /// Reads `d` into this level if it is one of the settings under `prefix` (`"fastcgi_"`,
    /// `"scgi_"`, `"uwsgi_"`); `false` otherwise.
    pub fn apply(&mut self, cx: &mut Cx<'_>, d: &Directive, prefix: &str) -> bool {
        if prefix == "fastcgi_" && self.cache.apply(cx, d, Module::FastCgi) {
            return true;
        }
        let Some(name) = d.name().strip_prefix(prefix) else {
            return false;
        };
        match name {
            "param" => param(cx, d, &mut self.param),
            "index" => set(cx, d, &mut self.index, |s| Some(s.to_string())),
            // The last one of a level counts (nginx has no duplicate check for it).
            "split_path_info" => self.split_path_info = cx.text(d, 0),
            "pass_request_headers" => flag(cx, d, &mut self.pass_request_headers),
            "pass_request_body" => flag(cx, d, &mut self.pass_request_body),
            "hide_header" => push(cx, d, &mut self.hide_header),
            "pass_header" => push(cx, d, &mut self.pass_header),
            "catch_stderr" => push(cx, d, &mut self.catch_stderr),
            "connect_timeout" => set(cx, d, &mut self.connect_timeout, parse_msec),
            "read_timeout" => set(cx, d, &mut self.read_timeout, parse_msec),
            "send_timeout" => set(cx, d, &mut self.send_timeout, parse_msec),
            "next_upstream" => self.next_upstream = proxy::next_upstream(cx, d),
            "next_upstream_tries" => set(cx, d, &mut self.next_upstream_tries, |s| s.parse().ok()),
            "next_upstream_timeout" => set(cx, d, &mut self.next_upstream_timeout, parse_msec),
            "intercept_errors" => flag(cx, d, &mut self.intercept_errors),
            "keep_conn" => flag(cx, d, &mut self.keep_conn),
            "buffering" => flag(cx, d, &mut self.buffering),
            "request_buffering" => flag(cx, d, &mut self.request_buffering),
            "ignore_client_abort" => flag(cx, d, &mut self.ignore_client_abort),
            "ignore_headers" => ignore_headers(d, &mut self.ignore_headers),
            "buffer_size" => set(cx, d, &mut self.buffer_size, parse_size),
            "limit_rate" => set(cx, d, &mut self.limit_rate, parse_size),
            "force_ranges" => flag(cx, d, &mut self.force_ranges),
            "modifier1" => modifier(cx, d, &mut self.modifier1),
            "modifier2" => modifier(cx, d, &mut self.modifier2),
            "bind" => super::proxy_bind::lower(cx, d, &mut self.bind),
            _ => return false,
        }
        true
    }
}

/// `uwsgi_modifier1`/`uwsgi_modifier2`: a number (the directive table has checked that it is
/// one) from 0 to 255 (`ngx_conf_check_num_bounds`).
fn modifier(cx: &mut Cx<'_>, d: &Directive, slot: &mut Option<u8>) {
    match d.arg(0).map(str::parse::<u8>) {
        Some(Ok(n)) => *slot = Some(n),
        Some(Err(_)) => cx.error(d, "value must be between 0 and 255"),
        None => cx.arity(d),
    }
}

/// `fastcgi_param` (`ngx_http_upstream_param_set_slot`): appended to the level's list.
fn param(cx: &mut Cx<'_>, d: &Directive, list: &mut Option<Vec<Param>>) {
    let (Some(name), Some(value)) = (d.arg(0), cx.text(d, 1)) else {
        return;
    };
    let if_not_empty = match d.arg(2) {
        None => false,
        Some("if_not_empty") => true,
        Some(p) => return cx.error(d, format!("invalid parameter \"{p}\"")),
    };
    list.get_or_insert_with(Vec::new).push(Param {
        name: name.to_string(),
        value,
        if_not_empty,
    });
}

/// A string-array directive (`ngx_conf_set_str_array_slot`): appended to the level's list.
fn push(cx: &mut Cx<'_>, d: &Directive, list: &mut Option<Vec<String>>) {
    match d.arg(0) {
        Some(v) => list.get_or_insert_with(Vec::new).push(v.to_string()),
        None => cx.arity(d),
    }
}
