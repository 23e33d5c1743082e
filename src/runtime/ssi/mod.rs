//! nginx's SSI filter (`ngx_http_ssi_filter_module`): the commands `<!--# ... -->` of a
//! body of `ssi_types` carried out as the body streams — `include` (a subrequest whose
//! body takes the command's place, or a variable's value), `echo`, `set`, `config`,
//! `if`/`elif`/`else`/`endif` and `block`/`endblock`.
//!
//! [`header_filter`] decides and rewrites the head; [`Processed`] parses each piece of the
//! body as it comes ([`parse`]), writing text and command results into a queue that the
//! subrequests of `include` join in order. A waited `include` (`wait="yes"`, `set=`,
//! `file=`) stops the parsing until its subrequest is over, as nginx's filter waits. The
//! variables `set` gives, the blocks and the last regex's groups are the main request's,
//! shared with the filters of its subrequests ([`Shared`]).

mod expr;
mod parse;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::SystemTime;

use bytes::Bytes;

use super::context::OwnedRequest;
use super::error::ProxyError;
use super::gzip::weaken_etag;
use super::log::Level;
use super::response::Front;
use super::sub_filter;
use super::subrequest::{MAX_DEPTH, Subrequest};
use crate::eval::plan::{LogTarget, Ssi, SsiMatch};
use expr::Encoding;
use parse::{Command, Event, Parser};

/// What the SSI filters of a main request and of its subrequests share (nginx keeps it in
/// the main request's context).
#[derive(Debug, Default)]
pub struct Shared {
    /// `set` and `include ... set=` (and a regex's named groups), names lowercased.
    variables: Vec<(Vec<u8>, Vec<u8>)>,
    /// `block name=...`: what each holds, its commands written back as text.
    blocks: Vec<(Vec<u8>, Vec<u8>)>,
    /// The last regex that matched: `$0`...`$9`.
    captures: Vec<Vec<u8>>,
}

pub type SharedSsi = Arc<Mutex<Shared>>;

/// nginx's default `errmsg`.
const ERRMSG: &[u8] = b"[an error occurred while processing the directive]";
/// nginx's default `timefmt`.
const TIMEFMT: &[u8] = b"%A, %d-%b-%Y %H:%M:%S %Z";
/// `NGX_HTTP_SSI_MAX_PARAMS`.
const MAX_PARAMS: usize = 16;

/// `ngx_http_ssi_header_filter` on a response about to be sent (`upstream` as for
/// `gzip::header_filter`): a body of `ssi_types` that is not empty is processed, whatever
/// the status; a main request's answer then loses its length, `Accept-Ranges`, and its
/// `Last-Modified` and `ETag` (the `ETag` only made weak under `ssi_last_modified`).
/// `logs` are the error logs of the level that answers.
pub fn header_filter(
    ssi: Option<&Arc<Ssi>>,
    status: u16,
    request: &OwnedRequest,
    front: &mut Front,
    headers: &mut Vec<(Bytes, Bytes)>,
    upstream: bool,
    logs: &[(LogTarget, String)],
) -> Option<Box<Processed>> {
    let conf = ssi?;
    if front.content_length == Some(0)
        || !conf.types.matches(front.content_type.as_deref(), upstream)
    {
        return None;
    }
    if request.subrequest.is_none() {
        front.content_length = None;
        sub_filter::remove_last(headers, "accept-ranges");
        if conf.last_modified {
            weaken_etag(headers);
        } else {
            front.last_modified = None;
            sub_filter::remove_last(headers, "last-modified");
            sub_filter::remove_last(headers, "etag");
        }
        if !sub_filter::length_unknown(status, request, front) {
            return None;
        }
    }
    Some(Processed::new(conf, request, logs))
}

/// Where the commands left the body (nginx's `ngx_http_ssi_ctx_t`).
#[derive(Debug)]
struct State {
    /// Text and commands are carried out (not in a false branch or a block).
    output: bool,
    /// A branch of the `if` was taken.
    output_chosen: bool,
    /// 0 outside `if`, 1 after `if`/`elif`, 2 after `else`.
    conditional: u8,
    /// Inside `block`: what comes goes into the last block.
    block: bool,
    encoding: Encoding,
    errmsg: Vec<u8>,
    timefmt: Vec<u8>,
}

impl Default for State {
    fn default() -> State {
        State {
            output: true,
            output_chosen: false,
            conditional: 0,
            block: false,
            encoding: Encoding::Entity,
            errmsg: ERRMSG.to_vec(),
            timefmt: TIMEFMT.to_vec(),
        }
    }
}

/// What goes out next, in order.
#[derive(Debug)]
enum Item {
    Data(Bytes),
    /// An `include` met in the piece of the body being parsed: started once the piece is
    /// parsed (nginx runs a subrequest once the filter returns, so it sees the variables
    /// the rest of the piece sets).
    Include(Include),
    Running(Box<Running>),
}

#[derive(Debug)]
struct Include {
    uri: Bytes,
    args: Vec<u8>,
    /// `set=`: the variable its body goes into, instead of out.
    set: Option<Vec<u8>>,
    stub: Option<Bytes>,
}

/// An `include`'s subrequest, served beside the others (as nginx's run in parallel), what
/// it sent before its turn to be written kept.
#[derive(Debug)]
struct Running {
    sub: Subrequest,
    /// `set=`: the variable and what the body gave so far.
    set: Option<(Vec<u8>, Vec<u8>)>,
    kept: VecDeque<Bytes>,
    kept_size: usize,
    /// Its body ended (or failed: the error waits for its turn).
    over: bool,
    failed: Option<ProxyError>,
}

/// How much of a subrequest's body is kept before its turn: beyond it, it waits.
const KEPT_MAX: usize = 256 * 1024;

impl Running {
    /// Serves the subrequest until it waits, ends, or has sent as much as is kept.
    fn advance(&mut self, cx: &mut Context<'_>) {
        while !self.over && self.kept_size < KEPT_MAX {
            match self.sub.poll_next(cx) {
                Poll::Ready(Some(Ok(data))) => self.take(data),
                Poll::Ready(Some(Err(e))) => {
                    self.failed = Some(e);
                    self.over = true;
                }
                Poll::Ready(None) => self.over = true,
                Poll::Pending => return,
            }
        }
    }

    fn take(&mut self, data: Bytes) {
        match &mut self.set {
            Some((_, value)) => value.extend_from_slice(&data),
            None => {
                self.kept_size += data.len();
                self.kept.push_back(data);
            }
        }
    }
}

/// A body whose SSI commands are carried out.
#[derive(Debug)]
pub struct Processed {
    /// The request whose body this is (its subrequests' main request, for them), sharing
    /// [`Shared`] with them.
    request: OwnedRequest,
    conf: Arc<Ssi>,
    shared: SharedSsi,
    logs: Vec<(LogTarget, String)>,
    parser: Parser,
    state: State,
    /// Text and command output not yet queued.
    out: Vec<u8>,
    queue: VecDeque<Item>,
    /// Body read but not parsed yet: a waited `include` stopped the parsing.
    held: Bytes,
    /// The body's source has ended.
    ended: bool,
}

/// One command nginx knows: its parameters (name, mandatory), whether it is `endblock`
/// (carried out inside a block), and the `if` context it needs (1: after `if`/`elif`, 2:
/// after `else` too).
struct Spec {
    name: &'static [u8],
    params: &'static [(&'static [u8], bool)],
    block: bool,
    conditional: u8,
}

const COMMANDS: &[Spec] = &[
    Spec {
        name: b"include",
        params: &[
            (b"virtual", false),
            (b"file", false),
            (b"wait", false),
            (b"set", false),
            (b"stub", false),
        ],
        block: false,
        conditional: 0,
    },
    Spec {
        name: b"echo",
        params: &[(b"var", true), (b"default", false), (b"encoding", false)],
        block: false,
        conditional: 0,
    },
    Spec {
        name: b"config",
        params: &[(b"errmsg", false), (b"timefmt", false)],
        block: false,
        conditional: 0,
    },
    Spec {
        name: b"set",
        params: &[(b"var", true), (b"value", true)],
        block: false,
        conditional: 0,
    },
    Spec {
        name: b"if",
        params: &[(b"expr", true)],
        block: false,
        conditional: 0,
    },
    Spec {
        name: b"elif",
        params: &[(b"expr", true)],
        block: false,
        conditional: 1,
    },
    Spec {
        name: b"else",
        params: &[],
        block: false,
        conditional: 1,
    },
    Spec {
        name: b"endif",
        params: &[],
        block: false,
        conditional: 2,
    },
    Spec {
        name: b"block",
        params: &[(b"name", true)],
        block: false,
        conditional: 0,
    },
    Spec {
        name: b"endblock",
        params: &[],
        block: true,
        conditional: 0,
    },
];

/// A command's parameters by the index of their name in its [`Spec`].
type Params = Vec<Option<Vec<u8>>>;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Processed {
    /// The filter of `request`'s body, sharing what its main request's filter keeps.
    pub fn new(
        conf: &Arc<Ssi>,
        request: &OwnedRequest,
        logs: &[(LogTarget, String)],
    ) -> Box<Processed> {
        let mut request = request.clone();
        let shared = request.ssi.get_or_insert_with(SharedSsi::default).clone();
        Box::new(Processed {
            parser: Parser::new(conf.value_length),
            conf: conf.clone(),
            request,
            shared,
            logs: logs.to_vec(),
            state: State::default(),
            out: Vec::new(),
            queue: VecDeque::new(),
            held: Bytes::new(),
            ended: false,
        })
    }

    /// The next piece of the processed body, pulling the body from `source` (a body's own
    /// filtered poll): Pending only when the source or an `include` is.
    pub fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        mut source: impl FnMut(&mut Context<'_>) -> Poll<Option<Result<Bytes, ProxyError>>>,
    ) -> Poll<Option<Result<Bytes, ProxyError>>> {
        loop {
            // The subrequests after the first make progress too, as nginx's do.
            for item in self.queue.iter_mut().skip(1) {
                if let Item::Running(run) = item {
                    run.advance(cx);
                }
            }
            match self.queue.front_mut() {
                None => {}
                Some(Item::Data(_)) => {
                    if let Some(Item::Data(data)) = self.queue.pop_front()
                        && !data.is_empty()
                    {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Some(Item::Include(_)) => self.start_includes(),
                Some(Item::Running(run)) => {
                    if let Some(data) = run.kept.pop_front() {
                        run.kept_size -= data.len();
                        return Poll::Ready(Some(Ok(data)));
                    }
                    if !run.over {
                        match ready!(run.sub.poll_next(cx)) {
                            Some(Ok(data)) => {
                                run.take(data);
                                continue;
                            }
                            Some(Err(e)) => run.failed = Some(e),
                            None => {}
                        }
                        run.over = true;
                    }
                    if let Some(Item::Running(run)) = self.queue.pop_front() {
                        let run = *run;
                        if let Some(e) = run.failed {
                            return Poll::Ready(Some(Err(e)));
                        }
                        if let Some((name, value)) = run.set
                            && run.sub.status().is_some_and(|s| s < 300)
                            && !value.is_empty()
                        {
                            set_variable(&mut self.lock(), name, value);
                        }
                    }
                }
            }
            if !self.queue.is_empty() {
                continue;
            }
            if !self.held.is_empty() {
                let data = std::mem::take(&mut self.held);
                self.process(data);
                continue;
            }
            if self.ended {
                return Poll::Ready(None);
            }
            match ready!(source(cx)) {
                Some(Ok(data)) => self.process(data),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => self.ended = true,
            }
        }
    }

    /// What this filter shares with its main request's and subrequests' filters.
    pub fn shared(&self) -> SharedSsi {
        self.shared.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Parses `data`, carrying out each command as it is found; a waited `include` keeps
    /// the rest for when its subrequest is over.
    fn process(&mut self, data: Bytes) {
        let mut found = Vec::new();
        let mut errors = Vec::new();
        let mut at = 0;
        while at < data.len() {
            let (read, event) = self.parser.feed(&data[at..], &mut found, &mut errors);
            at += read;
            self.text(&mut found);
            for e in errors.drain(..) {
                self.log(&e);
            }
            let waited = match event {
                Some(Event::Command(c)) => self.command(c),
                Some(Event::Error) => {
                    self.error();
                    false
                }
                None => false,
            };
            if waited {
                self.held = data.slice(at..);
                break;
            }
        }
        self.flush();
        self.start_includes();
    }

    /// Starts the subrequests of the `include`s met so far.
    fn start_includes(&mut self) {
        for at in 0..self.queue.len() {
            let Some(Item::Include(i)) = self.queue.get_mut(at) else {
                continue;
            };
            if self.request.depth >= MAX_DEPTH {
                let line = format!("subrequests cycle while processing \"{}\"", text(&i.uri));
                let errmsg = match self.conf.silent_errors {
                    true => Bytes::new(),
                    false => Bytes::from(self.state.errmsg.clone()),
                };
                self.queue[at] = Item::Data(errmsg);
                self.log(&line);
                continue;
            }
            if let Some(Item::Include(i)) = self.queue.get_mut(at) {
                let stub = i.stub.take();
                let sub = Subrequest::start(&self.request, &i.uri, &i.args, stub);
                let set = i.set.take().map(|name| (name, Vec::new()));
                self.queue[at] = Item::Running(Box::new(Running {
                    sub,
                    set,
                    kept: VecDeque::new(),
                    kept_size: 0,
                    over: false,
                    failed: None,
                }));
            }
        }
    }

    /// Body text outside commands: out, into the block being defined, or dropped (a
    /// false branch).
    fn text(&mut self, found: &mut Vec<u8>) {
        if found.is_empty() {
            return;
        }
        if self.state.output {
            self.out.append(found);
        } else if self.state.block {
            if let Some((_, body)) = self.lock().blocks.last_mut() {
                body.extend_from_slice(found);
            }
            found.clear();
        } else {
            found.clear();
        }
    }

    fn flush(&mut self) {
        if !self.out.is_empty() {
            let data = Bytes::from(std::mem::take(&mut self.out));
            self.queue.push_back(Item::Data(data));
        }
    }

    /// A command that failed: the `errmsg`, unless `ssi_silent_errors`.
    fn error(&mut self) {
        if !self.conf.silent_errors {
            self.out.extend_from_slice(&self.state.errmsg);
        }
    }

    /// An `[error]` line about the request, in nginx's context.
    fn log(&self, message: &str) {
        let request = &self.request;
        let site = &request.conn.state.site;
        let server = site
            .variable(&request.info(), "server_name")
            .unwrap_or_default();
        let host =
            super::request::host_and_referrer(request.header("host"), request.header("referer"));
        super::log::write_in(
            &self.logs,
            Level::Error,
            format_args!(
                "*{} {message}, client: {}, server: {}, request: \"{} {} {}\"{}{host}",
                request.conn.id,
                request.conn.remote,
                text(&server),
                request.method,
                text(&request.target),
                request.version,
                request.subrequest_context()
            ),
        );
    }

    /// Carries out `c` as `ngx_http_ssi_body_filter` does; `true` when the parsing is to
    /// wait for the subrequest it started.
    fn command(&mut self, c: Command) -> bool {
        let name = text(&c.name);
        let Some(spec) = COMMANDS.iter().find(|s| s.name == c.name.as_slice()) else {
            if self.state.output {
                self.log(&format!("invalid SSI command: \"{name}\""));
                self.error();
            }
            return false;
        };
        if !self.state.output && !spec.block {
            if self.state.block {
                self.write_back(&c);
                return false;
            }
            if spec.conditional == 0 {
                return false;
            }
        }
        if spec.conditional != 0
            && (self.state.conditional == 0 || self.state.conditional > spec.conditional)
        {
            self.log(&format!("invalid context of SSI command: \"{name}\""));
            self.error();
            return false;
        }
        let params = match self.params(spec, &c, &name) {
            Ok(params) => params,
            Err(line) => {
                self.log(&line);
                self.error();
                return false;
            }
        };
        self.flush();
        let done = match spec.name {
            b"include" => self.include(params),
            b"echo" => self.echo(params),
            b"config" => {
                let mut params = params.into_iter();
                if let Some(Some(errmsg)) = params.next() {
                    self.state.errmsg = errmsg;
                }
                if let Some(Some(timefmt)) = params.next() {
                    self.state.timefmt = timefmt;
                }
                Ok(false)
            }
            b"set" => self.set(params),
            b"if" | b"elif" => self.condition(params, spec.name == b"if"),
            b"else" => {
                self.state.output = !self.state.output_chosen;
                self.state.conditional = 2;
                Ok(false)
            }
            b"endif" => {
                self.state.output = true;
                self.state.output_chosen = false;
                self.state.conditional = 0;
                Ok(false)
            }
            b"block" => {
                let name = params.into_iter().next().flatten().unwrap_or_default();
                self.lock().blocks.push((name, Vec::new()));
                self.state.output = false;
                self.state.block = true;
                Ok(false)
            }
            _ => {
                self.state.output = true;
                self.state.block = false;
                Ok(false)
            }
        };
        match done {
            Ok(waited) => waited,
            Err(line) => {
                self.log(&line);
                self.error();
                false
            }
        }
    }

    /// The command's parameters checked against its spec: each known, none twice, the
    /// mandatory ones there.
    fn params(&self, spec: &Spec, c: &Command, name: &str) -> Result<Params, String> {
        if c.params.len() > MAX_PARAMS {
            return Err(format!("too many SSI command parameters: \"{name}\""));
        }
        let mut params: Params = vec![None; spec.params.len()];
        for (key, value) in &c.params {
            let Some(i) = spec.params.iter().position(|(n, _)| n == key) else {
                return Err(format!(
                    "invalid parameter name: \"{}\" in \"{name}\" SSI command",
                    text(key)
                ));
            };
            if params[i].is_some() {
                return Err(format!(
                    "duplicate \"{}\" parameter in \"{name}\" SSI command",
                    text(key)
                ));
            }
            params[i] = Some(value.clone());
        }
        for ((n, mandatory), p) in spec.params.iter().zip(&params) {
            if *mandatory && p.is_none() {
                return Err(format!(
                    "mandatory \"{}\" parameter is absent in \"{name}\" SSI command",
                    text(n)
                ));
            }
        }
        Ok(params)
    }

    /// A command met inside a block, written back into it as text.
    fn write_back(&mut self, c: &Command) {
        let mut line = b"<!--#".to_vec();
        line.extend_from_slice(&c.name);
        for (key, value) in &c.params {
            line.push(b' ');
            line.extend_from_slice(key);
            line.extend_from_slice(b"=\"");
            line.extend_from_slice(value);
            line.push(b'"');
        }
        line.extend_from_slice(b" -->");
        if let Some((_, body)) = self.lock().blocks.last_mut() {
            body.extend_from_slice(&line);
        }
    }

    /// A variable's value by its lowercased name: `set`'s (`$0`...`$9` for the last regex's
    /// groups first), `$date_local` and `$date_gmt` in this body's `timefmt`, else the
    /// request's.
    fn variable(&self, name: &[u8]) -> Option<Vec<u8>> {
        {
            let shared = self.lock();
            if let [digit @ b'0'..=b'9'] = name
                && let Some(group) = shared.captures.get(usize::from(digit - b'0'))
            {
                return Some(group.clone());
            }
            if let Some((_, value)) = shared.variables.iter().find(|(n, _)| n == name) {
                return Some(value.clone());
            }
        }
        let zone = match name {
            b"date_local" => "UTC",
            b"date_gmt" => "GMT",
            _ => {
                let site = &self.request.conn.state.site;
                return site.variable(&self.request.info(), &text(name));
            }
        };
        let now = SystemTime::now();
        Some(crate::eval::clock::strftime(now, &self.state.timefmt, zone))
    }

    fn evaluate(&self, value: &[u8]) -> Result<Vec<u8>, String> {
        Ok(expr::evaluate(value, &mut |n| self.variable(n))?.concat())
    }

    /// `ngx_http_ssi_include`.
    fn include(&mut self, params: Params) -> Result<bool, String> {
        let [virtual_, file, wait, set, stub] = <[Option<Vec<u8>>; 5]>::try_from(params)
            .map_err(|_| "no parameter in \"include\" SSI command".to_string())?;
        let uri = match (virtual_, &file) {
            (Some(v), Some(f)) => {
                return Err(format!(
                    "inclusion may be either virtual=\"{}\" or file=\"{}\"",
                    text(&v),
                    text(f)
                ));
            }
            (None, None) => return Err("no parameter in \"include\" SSI command".into()),
            (Some(v), None) => v,
            (None, Some(f)) => f.clone(),
        };
        if set.is_some() && stub.is_some() {
            return Err(
                "\"set\" and \"stub\" cannot be used together in \"include\" SSI command".into(),
            );
        }
        let waited = match wait {
            Some(w) => {
                if let Some(f) = &file {
                    return Err(format!("\"wait\" cannot be used with file=\"{}\"", text(f)));
                }
                if w.eq_ignore_ascii_case(b"no") {
                    false
                } else if w.eq_ignore_ascii_case(b"yes") {
                    true
                } else {
                    return Err(format!(
                        "invalid value \"{}\" in the \"wait\" parameter",
                        text(&w)
                    ));
                }
            }
            None => file.is_some(),
        };
        let uri = self.with_prefix(&uri)?;
        let (uri, args) = unsafe_uri(&uri)?;
        let stub = match stub {
            None => None,
            Some(name) => {
                let shared = self.lock();
                let found = shared.blocks.iter().find(|(n, _)| *n == name);
                let Some((_, body)) = found else {
                    return Err(format!(
                        "\"stub\"=\"{}\" for \"include\" not found",
                        text(&name)
                    ));
                };
                Some(Bytes::from(body.clone()))
            }
        };
        let set = set.map(|name| name.to_ascii_lowercase());
        if let Some(name) = &set {
            let mut shared = self.lock();
            if !shared.variables.iter().any(|(n, _)| n == name) {
                shared.variables.push((name.clone(), Vec::new()));
            }
        }
        let waited = waited || set.is_some();
        self.queue.push_back(Item::Include(Include {
            uri: Bytes::from(uri),
            args,
            set,
            stub,
        }));
        Ok(waited)
    }

    /// The URI evaluated, made absolute from the request's `$uri` (up to its last `/`)
    /// when it is not (`NGX_HTTP_SSI_ADD_PREFIX`).
    fn with_prefix(&self, uri: &[u8]) -> Result<Vec<u8>, String> {
        let parts = expr::evaluate(uri, &mut |n| self.variable(n))?;
        let relative = if expr::has_variables(uri) {
            parts
                .iter()
                .find(|p| !p.is_empty())
                .is_some_and(|p| p[0] != b'/')
        } else {
            uri.first() != Some(&b'/')
        };
        let mut out = Vec::new();
        if relative {
            let site = &self.request.conn.state.site;
            let current = site.variable(&self.request.info(), "uri");
            let current = current.unwrap_or_default();
            if let Some(slash) = current.iter().rposition(|&b| b == b'/') {
                out.extend_from_slice(&current[..=slash]);
            }
        }
        out.extend_from_slice(&parts.concat());
        Ok(out)
    }

    /// `ngx_http_ssi_echo`.
    fn echo(&mut self, params: Params) -> Result<bool, String> {
        let mut params = params.into_iter();
        let var = params
            .next()
            .flatten()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let default = params.next().flatten();
        let encoding = params.next().flatten();
        let value = match self.variable(&var) {
            Some(value) => value,
            None => default.unwrap_or_else(|| b"(none)".to_vec()),
        };
        if value.is_empty() {
            return Ok(false);
        }
        if let Some(enc) = encoding {
            match enc.as_slice() {
                b"none" => self.state.encoding = Encoding::None,
                b"url" => self.state.encoding = Encoding::Url,
                b"entity" => self.state.encoding = Encoding::Entity,
                _ => self.log(&format!(
                    "unknown encoding \"{}\" in the \"echo\" command",
                    text(&enc)
                )),
            }
        }
        let shown = self.state.encoding.apply(&value);
        self.out.extend_from_slice(&shown);
        Ok(false)
    }

    /// `ngx_http_ssi_set`.
    fn set(&mut self, params: Params) -> Result<bool, String> {
        let mut params = params.into_iter();
        let name = params
            .next()
            .flatten()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let value = params.next().flatten().unwrap_or_default();
        let value = self.evaluate(&value)?;
        set_variable(&mut self.lock(), name, value);
        Ok(false)
    }

    /// `ngx_http_ssi_if`, for `if` and `elif`.
    fn condition(&mut self, params: Params, is_if: bool) -> Result<bool, String> {
        if is_if && self.state.conditional != 0 {
            return Err("the \"if\" command inside the \"if\" command".into());
        }
        if self.state.output_chosen {
            self.state.output = false;
            return Ok(false);
        }
        let expr = params.into_iter().next().flatten().unwrap_or_default();
        let mut matched = None;
        let holds = expr::condition(&expr, &mut |n| self.variable(n), &mut |m: SsiMatch| {
            matched = Some(m)
        })?;
        if let Some(m) = matched {
            let mut shared = self.lock();
            shared.captures = m.groups;
            for (name, value) in m.named {
                set_variable(&mut shared, name.to_ascii_lowercase().into_bytes(), value);
            }
        }
        self.state.output = holds;
        self.state.output_chosen = holds;
        self.state.conditional = 1;
        Ok(false)
    }
}

fn set_variable(shared: &mut Shared, name: Vec<u8>, value: Vec<u8>) {
    match shared.variables.iter_mut().find(|(n, _)| *n == name) {
        Some((_, v)) => *v = value,
        None => shared.variables.push((name, value)),
    }
}

/// `ngx_http_parse_unsafe_uri`: the URI and its arguments (after `?`), `%XX` decoded; `Err`
/// for one nginx refuses (empty, `..` as a segment, a NUL).
fn unsafe_uri(uri: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let unsafe_line = |u: &[u8]| format!("unsafe URI \"{}\" was detected", text(u));
    if uri.is_empty() || uri[0] == b'?' {
        return Err(unsafe_line(uri));
    }
    let (path, args) = match uri.iter().position(|&b| b == b'?') {
        Some(q) => (&uri[..q], uri[q + 1..].to_vec()),
        None => (uri, Vec::new()),
    };
    let dotdot = |p: &[u8]| {
        let starts = p.starts_with(b"..") && (p.len() == 2 || p[2] == b'/');
        let inside = (0..p.len()).any(|i| {
            p[i] == b'/'
                && p[i + 1..].starts_with(b"..")
                && (p.len() == i + 3 || p.get(i + 3) == Some(&b'/'))
        });
        starts || inside || p.contains(&0)
    };
    if dotdot(path) {
        return Err(unsafe_line(uri));
    }
    if !path.contains(&b'%') {
        return Ok((path.to_vec(), args));
    }
    let decoded = unescape(path);
    if dotdot(&decoded) {
        return Err(unsafe_line(&decoded));
    }
    Ok((decoded, args))
}

/// `%XX` decoded (a `%` not followed by two hex digits is kept).
fn unescape(path: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%'
            && let (Some(h), Some(l)) = (
                path.get(i + 1).and_then(|&b| hex(b)),
                path.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(path[i]);
        i += 1;
    }
    out
}
