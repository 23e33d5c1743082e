//! Static files, `index`, `try_files`, `error_page` and `internal` against nginx: both serve
//! one directory of files with the same configuration (each from its own prefix, on its own
//! port), every probe goes to both, and the answers (status line, headers but `Date`, body)
//! and the error-log lines must be the same. Skipped when nginx is not installed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Running, free_port, temp_dir, wait_for_port};

const NGINX: &str = "/usr/sbin/nginx";

/// `ROOT`, `PORT`, `DEAD` (a port nothing listens on) and `SELF` (the server's own port)
/// are filled in per server.
const CONFIG: &str = r#"
error_log logs/error.log info;
events { worker_connections 64; }
http {
    root ROOT;
    access_log off;
    types { text/plain txt; text/html html; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:PORT;
        server_name localhost;
        location / { add_header X-Loc root; }
        location /e/ { error_page 404 /404.html; }
        location /eq/ { error_page 404 =200 /404.html; }
        location /tf/ { try_files $uri $uri/ /404.html; }
        location /tfc/ { try_files /nothing =418; error_page 418 = @named; }
        location /al/ { alias ROOT/idx/; }
        location ~ ^/re/(.+)$ { alias ROOT/$1; }
        location /int { internal; }
        location /ret { error_page 418 = @named; return 418; }
        location @named { return 200 "named $request_method $uri\n"; }
        location /ext { error_page 404 =301 http://example.com/moved; }
        location /extq { error_page 404 /ext?from=$uri; }
        location /ix/ { index missing.html /idx/index.html; }
        location /dead { proxy_pass http://127.0.0.1:DEAD; error_page 502 /404.html; }
        location /up {
            proxy_pass http://127.0.0.1:SELF/back;
            proxy_intercept_errors on;
            error_page 404 = /intercepted;
        }
        location /back { return 404 "from upstream\n"; }
        location = /intercepted { return 200 "intercepted $request_method\n"; }
        location /loop { error_page 404 /loop/x; recursive_error_pages on; }
        location /noetag { etag off; if_modified_since before; }
        location /quiet { server_tokens off; alias ROOT; }
        location /small { client_max_body_size 10; alias ROOT/a.txt; error_page 413 /404.html; }
        location /tfa/ { alias ROOT/idx/; try_files $uri $uri/ =404; }
        location /ixa/ { alias ROOT/idx; }
        location /np/ { error_page 404 = @proxy; }
        location @proxy { rewrite ^/np/(.*)$ /b2/$1 break; proxy_pass http://127.0.0.1:SELF; }
        location /b2 { return 200 "b2 $request_method $uri $args\n"; }
    }
}
"#;

/// Each probe is sent on its own connection.
const PROBES: &[&str] = &[
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "HEAD /a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /a.txt HTTP/1.0\r\n",
    "POST /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n",
    "PUT /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n",
    "POST /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello",
    "POST /missing HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n",
    "GET /missing HTTP/1.1\r\nHost: localhost\r\nReferer: http://localhost/from\r\n",
    "GET /dir HTTP/1.1\r\nHost: localhost\r\n",
    "GET /dir?x=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /dir/ HTTP/1.1\r\nHost: localhost\r\n",
    "GET /idx/ HTTP/1.1\r\nHost: localhost\r\n",
    "GET /nodir/ HTTP/1.1\r\nHost: localhost\r\n",
    "GET /e/x HTTP/1.1\r\nHost: localhost\r\n",
    "POST /e/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n",
    "GET /eq/x HTTP/1.1\r\nHost: localhost\r\n",
    "GET /tf/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /tf/ HTTP/1.1\r\nHost: localhost\r\n",
    "GET /tf/nope?q=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /tfc/x HTTP/1.1\r\nHost: localhost\r\n",
    "GET /al/ HTTP/1.1\r\nHost: localhost\r\n",
    "GET /al/index.html HTTP/1.1\r\nHost: localhost\r\n",
    "GET /re/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /int HTTP/1.1\r\nHost: localhost\r\n",
    "GET /ret HTTP/1.1\r\nHost: localhost\r\n",
    "POST /ret HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n",
    "GET /ix/ HTTP/1.1\r\nHost: localhost\r\n",
    "GET /extq HTTP/1.1\r\nHost: localhost\r\n",
    "GET /ext HTTP/1.1\r\nHost: localhost\r\n",
    "GET /dead HTTP/1.1\r\nHost: localhost\r\n",
    "GET /up HTTP/1.1\r\nHost: localhost\r\n",
    "GET /loop/y HTTP/1.1\r\nHost: localhost\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-3\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=-4\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-1,4-5\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=50-\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-0,0-20\r\n",
    "GET /big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=65530-65545,200000-\r\n",
    "GET /big.bin HTTP/1.1\r\nHost: localhost\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: ETAG\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: \"other\", ETAG\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: MTIME\r\n",
    // nginx reads no weekday and no zone.
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: XMTIME\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: BAREMTIME\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nIf-Match: \"nope\"\r\n",
    "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-1\r\nIf-Range: \"nope\"\r\n",
    "GET /quiet/a.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /quiet/none HTTP/1.1\r\nHost: localhost\r\n",
    "HEAD /e/x HTTP/1.1\r\nHost: localhost\r\n",
    "POST /small HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n\r\n01234567890123456789",
    "GET /tfa/index.html HTTP/1.1\r\nHost: localhost\r\n",
    "GET /tfa/ HTTP/1.1\r\nHost: localhost\r\n",
    "GET /tfa/none HTTP/1.1\r\nHost: localhost\r\n",
    "GET /ixa/ HTTP/1.1\r\nHost: localhost\r\n",
    "GET /np/b2?z=1 HTTP/1.1\r\nHost: localhost\r\n",
    "GET /%61.txt HTTP/1.1\r\nHost: localhost\r\n",
    "GET /dir%20x HTTP/1.1\r\nHost: localhost\r\n",
    "GET /noetag/b.txt HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n",
];

/// The files both servers serve; `big.bin` spans several of ngxr's reads.
fn populate(www: &Path) {
    let write = |name: &str, body: &[u8]| {
        let path = www.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, body).expect("write file");
    };
    write("a.txt", b"hello world\n");
    write("idx/index.html", b"<p>index</p>\n");
    write("404.html", b"the 404 page\n");
    write("noetag/b.txt", b"b\n");
    std::fs::create_dir_all(www.join("dir")).expect("mkdir");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    write("big.bin", &big);
}

/// Sends `request` (its head, then its body if any, plus `Connection: close`) and reads the
/// answer to the end. Each [`PAUSE`] in it is a wait of 200 ms before the rest is sent.
pub(crate) fn exchange(port: u16, request: &str) -> Vec<u8> {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    exchange_on(s, b"", request)
}

/// [`exchange`] on a connected stream, after writing `preface` (a PROXY protocol header).
pub(crate) fn exchange_on<S: Read + Write + Timed>(
    mut s: S,
    preface: &[u8],
    request: &str,
) -> Vec<u8> {
    s.read_timeout(Duration::from_secs(5));
    let request = match request.split_once("\r\n\r\n") {
        Some((head, body)) => format!("{head}\r\nConnection: close\r\n\r\n{body}"),
        None => format!("{request}Connection: close\r\n\r\n"),
    };
    for (i, part) in request.split(PAUSE).enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut sent = if i == 0 { preface.to_vec() } else { Vec::new() };
        sent.extend_from_slice(part.as_bytes());
        s.write_all(&sent).expect("send");
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Marks where [`exchange`] waits before sending the rest of a request: what came before
/// is what the server reads with the head.
pub(crate) const PAUSE: &str = "<pause>";

/// A stream whose reads can be bounded.
pub(crate) trait Timed {
    fn read_timeout(&self, timeout: Duration);
}

impl Timed for TcpStream {
    fn read_timeout(&self, timeout: Duration) {
        self.set_read_timeout(Some(timeout)).expect("timeout");
    }
}

impl Timed for UnixStream {
    fn read_timeout(&self, timeout: Duration) {
        self.set_read_timeout(Some(timeout)).expect("timeout");
    }
}

impl Timed for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn read_timeout(&self, timeout: Duration) {
        Timed::read_timeout(&self.sock, timeout);
    }
}

/// One request to send to each server: by its TCP port, or another way ([`Via`]).
pub(crate) trait Probe {
    /// Sends it to the server started from `prefix` and listening on `port`; the answer.
    fn send(&self, prefix: &Path, port: u16) -> Vec<u8>;
}

impl<T: AsRef<str>> Probe for T {
    fn send(&self, _prefix: &Path, port: u16) -> Vec<u8> {
        exchange(port, self.as_ref())
    }
}

/// How a [`Sent`] probe reaches the server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Via {
    /// Its TCP port, with these bytes (a PROXY protocol header) before the request.
    Preface(&'static [u8]),
    /// The same, then TLS (TLS 1.2, nginx 1.22's default, any certificate accepted) for the
    /// request.
    Tls(&'static [u8]),
    /// The unix-domain socket at this path under the server's prefix.
    Unix(&'static str),
}

/// A request sent [`Via`] something other than the plain TCP port.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub via: Via,
    pub request: String,
}

impl Probe for Sent {
    fn send(&self, prefix: &Path, port: u16) -> Vec<u8> {
        match self.via {
            Via::Preface(bytes) => {
                let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                exchange_on(s, bytes, &self.request)
            }
            Via::Tls(preface) => {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                s.write_all(preface).expect("send the preface");
                let schemes = rustls::crypto::ring::default_provider()
                    .signature_verification_algorithms
                    .supported_schemes();
                let config = crate::tls::client_config(&rustls::version::TLS12, &schemes);
                let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
                let tls = rustls::ClientConnection::new(config, name).expect("client");
                exchange_on(rustls::StreamOwned::new(tls, s), b"", &self.request)
            }
            Via::Unix(path) => {
                let s = UnixStream::connect(prefix.join(path)).expect("connect to the unix socket");
                exchange_on(s, b"", &self.request)
            }
        }
    }
}

/// What may differ between the servers: their port, `Date`.
pub(crate) fn normalize(answer: &[u8], port: u16) -> String {
    String::from_utf8_lossy(answer)
        .replace(&port.to_string(), "PORT")
        .split("\r\n")
        .filter(|l| !l.starts_with("Date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Each probe's answers from nginx and ngxr (after `tidy`) that still differ after three tries,
/// as a report; a probe whose answers agree once (in the same second, dates move) is dropped.
pub(crate) fn probe_differences(
    probes: impl IntoIterator<Item = String>,
    nginx_port: u16,
    ngxr_port: u16,
    tidy: impl Fn(String) -> String,
) -> Vec<String> {
    let mut differences = Vec::new();
    for probe in probes {
        let mut tries = Vec::new();
        let same = (0..3).any(|_| {
            let theirs = tidy(normalize(&exchange(nginx_port, &probe), nginx_port));
            let ours = tidy(normalize(&exchange(ngxr_port, &probe), ngxr_port));
            theirs == ours || {
                tries.push(format!("{probe}\n--- nginx:\n{theirs}\n--- ngxr:\n{ours}"));
                false
            }
        });
        if !same {
            differences.append(&mut tries);
        }
    }
    differences
}

/// The messages of an error log's lines (after `: *` and the connection number), with `prefix`
/// (when given) as `PREFIX` and each of `ports` as `PORT`.
pub(crate) fn log_messages(log_dir: &Path, prefix: Option<&Path>, ports: &[u16]) -> Vec<String> {
    file_messages(&log_dir.join("logs/error.log"), prefix, ports)
}

/// [`log_messages`] of the error log at `file`.
pub(crate) fn file_messages(file: &Path, prefix: Option<&Path>, ports: &[u16]) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(": *").map(|(_, rest)| rest.to_string()))
        .map(|l| {
            l.split_once(' ').map_or(l.clone(), |(_, m)| {
                let mut m = match prefix {
                    Some(dir) => m.replace(&dir.display().to_string(), "PREFIX"),
                    None => m.to_string(),
                };
                for port in ports {
                    m = m.replace(&port.to_string(), "PORT");
                }
                m
            })
        })
        .collect()
}

/// The `[error]`-and-worse lines of an error log, without time, pid and connection number.
fn error_lines(prefix: &Path, port: u16) -> Vec<String> {
    let log = std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("[error]") || l.contains("[crit]") || l.contains("[alert]"))
        // The proxy module's lines are the proxy tests' concern.
        .filter(|l| !l.contains("upstream"))
        .map(|l| {
            let from_level = l.find('[').map_or(l, |i| &l[i..]);
            let (level, rest) = from_level.split_once(' ').unwrap_or((from_level, ""));
            let message = rest.split_once(' ').map_or(rest, |(_, m)| m);
            let message = message.split_once(' ').map_or(message, |(_, m)| m);
            format!("{level} {}", message.replace(&port.to_string(), "PORT"))
        })
        .collect()
}

/// What one server made of `probes` under `config` (served from `base/NAME`): each answer
/// normalised, then its access log and its error log's messages, the server's prefix in any
/// of them written `PREFIX` (and its port `PORT`).
pub(crate) type Seen = (Vec<String>, String, Vec<String>);

/// Runs `probes` through nginx (`nginx`) and then ngxr, each on its own prefix and port.
pub(crate) fn through_both<P: Probe>(
    nginx: &str,
    config: &str,
    base: &Path,
    probes: &[P],
) -> [Seen; 2] {
    // nginx's access-log lines, which ngxr's log is given time to reach.
    let mut logged = 0;
    // Prefixes of one length, so a text naming its prefix is as long from both.
    [(nginx, "nginx"), (env!("CARGO_BIN_EXE_ngxr"), "ngxr_")].map(|(bin, name)| {
        let (prefix, port) = (base.join(name), crate::common::free_port());
        let server = start(bin, &prefix, config, base, port, 0);
        let shown = prefix.display().to_string();
        let answers = probes
            .iter()
            .map(|probe| normalize(&probe.send(&prefix, port), port).replace(&shown, "PREFIX"))
            .collect();
        settle_logs(&prefix, logged);
        server.quit();
        let access = std::fs::read_to_string(prefix.join("logs/access.log")).unwrap_or_default();
        logged = access.lines().count();
        let errors = file_messages(&prefix.join("logs/error.log"), Some(&prefix), &[port]);
        let access = access.replace(&shown, "PREFIX");
        (answers, access.replace(&port.to_string(), "PORT"), errors)
    })
}

/// Waits, up to 5 s, until the files in `prefix/logs` have not grown for 300 ms and the access
/// log holds at least `lines` lines. A request's line is written as it ends, which can be a
/// while after its answer was read: on a loaded machine, or after a lingering close that
/// waits for the client to go (and nginx without a master process exits at once on QUIT).
pub(crate) fn settle_logs(prefix: &Path, lines: usize) {
    let logs = prefix.join("logs");
    let read = || {
        let access = std::fs::read_to_string(logs.join("access.log")).unwrap_or_default();
        let all: u64 = std::fs::read_dir(&logs)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        (access, all)
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut seen, mut since) = (read(), Instant::now());
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let now = read();
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() >= Duration::from_millis(300) && seen.0.lines().count() >= lines {
            return;
        }
    }
}

/// Asserts that nginx and ngxr (`seen`, from [`through_both`]) gave the same answer to each
/// of `probes`, and wrote the same access and error logs.
pub(crate) fn assert_same<P: AsRef<str>>(seen: &[Seen; 2], probes: &[P]) {
    assert_same_by(seen, |i| probes[i].as_ref().to_string(), <[String]>::to_vec);
}

/// [`assert_same`] with probe `i` named by `describe(i)` in a failure, and the error logs
/// compared as `errors` keeps them.
pub(crate) fn assert_same_by(
    seen: &[Seen; 2],
    describe: impl Fn(usize) -> String,
    errors: impl Fn(&[String]) -> Vec<String>,
) {
    for (i, (theirs, ours)) in seen[0].0.iter().zip(&seen[1].0).enumerate() {
        assert_eq!(theirs, ours, "probe {i}: {}", describe(i));
    }
    assert_eq!(seen[0].1, seen[1].1, "access log");
    assert_eq!(errors(&seen[0].2), errors(&seen[1].2), "error log");
}

/// Drops from nginx's error log (`seen[0]`) the line about the connection with which the
/// harness waited for its port, a line ngxr does not write.
pub(crate) fn drop_nginx_port_wait(seen: &mut [Seen; 2]) {
    seen[0]
        .2
        .retain(|m| !m.starts_with("client closed connection while waiting for request"));
}

/// Error-log lines but those about the connection with which the harness waited for the
/// port (a connection of its own, closed while waiting for a request).
pub(crate) fn without_port_waits(lines: &[String]) -> Vec<String> {
    let waiting = |l: &&String| l.contains("while waiting for request");
    lines.iter().filter(|l| !waiting(l)).cloned().collect()
}

/// Starts `bin` from `prefix` with `config` (its placeholders filled in by [`write_config`]),
/// `master_process off`.
pub(crate) fn start(
    bin: &str,
    prefix: &Path,
    config: &str,
    www: &Path,
    port: u16,
    dead: u16,
) -> Running {
    write_config(prefix, config, www, port, dead);
    launch(bin, prefix, port, "master_process off;")
}

/// Writes `prefix/nginx.conf`: `config` with `PREFIX`, `ROOT` (`www`), `SELF` and `PORT`,
/// `DEAD` filled in.
pub(crate) fn write_config(prefix: &Path, config: &str, www: &Path, port: u16, dead: u16) {
    std::fs::create_dir_all(prefix.join("logs")).expect("logs dir");
    let conf = config
        .replace("PREFIX", &prefix.display().to_string())
        .replace("ROOT", &www.display().to_string())
        .replace("SELF", &port.to_string())
        .replace("PORT", &port.to_string())
        .replace("DEAD", &dead.to_string());
    std::fs::write(prefix.join("nginx.conf"), conf).expect("config");
}

/// The command that runs `bin` from `prefix` on its `nginx.conf`, not as a daemon, with
/// `globals` (the `master_process` setting), its output discarded.
pub(crate) fn command(bin: &str, prefix: &Path, globals: &str) -> Command {
    let mut command = Command::new(bin);
    command
        .arg("-p")
        .arg(format!("{}/", prefix.display()))
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .arg("-g")
        .arg(format!(
            "daemon off; {globals} pid {}/run.pid;",
            prefix.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Starts [`command`] and waits until it listens on `port`.
pub(crate) fn launch(bin: &str, prefix: &Path, port: u16, globals: &str) -> Running {
    let child = command(bin, prefix, globals).spawn().expect("start server");
    let running = Running(child);
    wait_for_port(port, bin);
    running
}

#[test]
fn files_index_try_files_and_error_pages_as_nginx() {
    if !Path::new(NGINX).exists() {
        eprintln!("skipped: {NGINX} is not installed");
        return;
    }
    let base = temp_dir("files");
    let www = base.join("www");
    populate(&www);
    let (nginx_dir, ngxr_dir) = (base.join("nginx"), base.join("ngxr"));
    let (nginx_port, ngxr_port, dead) = (free_port(), free_port(), free_port());
    let _nginx = start(NGINX, &nginx_dir, CONFIG, &www, nginx_port, dead);
    let ngxr = env!("CARGO_BIN_EXE_ngxr");
    let _ngxr = start(ngxr, &ngxr_dir, CONFIG, &www, ngxr_port, dead);

    // The validators of a.txt, as nginx announces them.
    let head =
        String::from_utf8_lossy(&exchange(nginx_port, "HEAD /a.txt HTTP/1.1\r\nHost: x\r\n"))
            .into_owned();
    let field = |name: &str| {
        head.split("\r\n")
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_default()
            .to_string()
    };
    let (etag, mtime) = (field("ETag: "), field("Last-Modified: "));
    assert!(!etag.is_empty() && !mtime.is_empty(), "{head}");

    let mut differences = Vec::new();
    for probe in PROBES {
        let probe = probe
            .replace("ETAG", &etag)
            .replace(
                "XMTIME",
                &format!("Xyz{}", mtime.get(3..).unwrap_or_default()),
            )
            .replace("BAREMTIME", mtime.trim_end_matches(" GMT"))
            .replace("MTIME", &mtime);
        let theirs = normalize(&exchange(nginx_port, &probe), nginx_port);
        let ours = normalize(&exchange(ngxr_port, &probe), ngxr_port);
        if theirs != ours {
            differences.push(format!("{probe}\n--- nginx:\n{theirs}\n--- ngxr:\n{ours}"));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} probes differ:\n{}",
        differences.len(),
        PROBES.len(),
        differences.join("\n=====\n")
    );
    // nginx writes its error log as it goes; ngxr's is written as each request ends.
    settle_logs(&ngxr_dir, 0);
    assert_eq!(
        error_lines(&ngxr_dir, ngxr_port),
        error_lines(&nginx_dir, nginx_port)
    );
}
