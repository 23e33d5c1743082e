//! Why a proxied request failed, and what follows from it: the status the client gets (502,
//! 504, 413, 400), which side is to blame, whether `proxy_next_upstream` may try another
//! server, and the line nginx would write to error.log.

use std::fmt;
use std::io;

use super::log::Level;
use super::resolver::ResolveError;
use crate::eval::plan::NextUpstream;

/// Where in the upstream exchange an error happened (nginx's "while ..." context).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connecting,
    /// The TLS handshake with an `https://` upstream.
    Handshaking,
    Sending,
    ReadingHeader,
    ReadingBody,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Connecting => "connecting to upstream",
            Stage::Handshaking => "SSL handshaking to upstream",
            Stage::Sending => "sending request to upstream",
            Stage::ReadingHeader => "reading response header from upstream",
            Stage::ReadingBody => "reading upstream",
        }
    }
}

/// Which side of the proxy caused an error (pingora's `ErrorSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Upstream,
    Downstream,
    Internal,
}

#[derive(Debug)]
pub enum ProxyError {
    /// `connect()`/`send()`/`recv()` failed.
    Io(Stage, io::Error),
    /// proxy_connect_timeout, proxy_send_timeout or proxy_read_timeout expired.
    TimedOut(Stage),
    /// The TLS handshake failed (a refused certificate among others).
    Handshake(io::Error),
    /// The location's TLS client could not be built (a `proxy_ssl_*` file unreadable).
    TlsSetup(String),
    /// The upstream closed before a complete response header.
    PrematureClose(Stage),
    /// A header line of the upstream's response nginx refuses: its log text.
    InvalidHeader(String),
    /// The upstream's chunked body broke its framing.
    InvalidChunked,
    /// A FastCGI application's STDERR said what `fastcgi_catch_stderr` looks for: nginx
    /// takes its answer for an invalid one (and logs nothing more than the STDERR line).
    CaughtStderr,
    /// The upstream's response head did not end within `proxy_buffer_size` bytes (nginx
    /// counts it `invalid_header` for `proxy_next_upstream`).
    TooBigHeader,
    /// Every server is down or failed.
    NoLiveUpstreams,
    /// The name `proxy_pass` gave could not be resolved.
    Unresolved(String, ResolveError),
    /// The client's body is larger than `client_max_body_size`.
    BodyTooLarge(u64),
    /// A chunk of the client's chunked body takes it past `client_max_body_size`: the data
    /// bytes before the chunk, and its size.
    ChunkedTooLarge(u64, u64),
    /// The client sent a body that could not be read: nginx's message.
    ClientBody(String),
    /// The client closed (or reset) its connection before its body was in: nginx ends the
    /// request with 400 and closes without an answer, saying so at `info`. The read's error,
    /// if one and not an end of stream.
    ClientClosed(Option<io::Error>),
    /// `client_body_timeout` passed between two reads of the body: nginx ends the request
    /// with 408 and closes without an answer or an error-log line.
    ClientBodyTimedOut,
    /// A file being sent could not be read.
    FileRead(io::Error),
    /// `proxy_bind`: the call that failed on the upstream socket before it connected
    /// (`bind(NAME)`, `setsockopt(IP_TRANSPARENT)`): nginx answers 500.
    Bind(String, io::Error),
    /// The file a request body goes to could not be written: nginx's message.
    BodyFile(String),
    /// `gunzip`: zlib refused the upstream's gzip stream, or it ended unfinished: nginx's
    /// message.
    Inflate(String),
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ProxyError {
    /// Where in the exchange with a server it happened (errors that are not an exchange's
    /// are the connect's, as nginx's context says then).
    pub fn stage(&self) -> Stage {
        match self {
            ProxyError::Io(stage, _)
            | ProxyError::TimedOut(stage)
            | ProxyError::PrematureClose(stage) => *stage,
            ProxyError::Handshake(_) => Stage::Handshaking,
            ProxyError::InvalidHeader(_) | ProxyError::TooBigHeader | ProxyError::CaughtStderr => {
                Stage::ReadingHeader
            }
            ProxyError::InvalidChunked | ProxyError::Inflate(_) => Stage::ReadingBody,
            _ => Stage::Connecting,
        }
    }

    /// The status nginx answers with.
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::TimedOut(_) => 504,
            ProxyError::BodyTooLarge(_) | ProxyError::ChunkedTooLarge(..) => 413,
            ProxyError::ClientBody(_) | ProxyError::ClientClosed(_) => 400,
            ProxyError::ClientBodyTimedOut => 408,
            ProxyError::FileRead(_)
            | ProxyError::TlsSetup(_)
            | ProxyError::BodyFile(_)
            | ProxyError::Bind(..) => 500,
            _ => 502,
        }
    }

    pub fn side(&self) -> Side {
        match self {
            ProxyError::BodyTooLarge(_)
            | ProxyError::ChunkedTooLarge(..)
            | ProxyError::ClientBody(_)
            | ProxyError::ClientClosed(_)
            | ProxyError::ClientBodyTimedOut => Side::Downstream,
            ProxyError::NoLiveUpstreams
            | ProxyError::FileRead(_)
            | ProxyError::TlsSetup(_)
            | ProxyError::Bind(..)
            | ProxyError::BodyFile(_)
            | ProxyError::Unresolved(..) => Side::Internal,
            _ => Side::Upstream,
        }
    }

    /// Whether it happened before any byte of the request was sent (another server may then
    /// take even a non-idempotent request).
    pub fn before_sending(&self) -> bool {
        matches!(
            self,
            ProxyError::Io(Stage::Connecting, _)
                | ProxyError::TimedOut(Stage::Connecting | Stage::Handshaking)
                | ProxyError::Handshake(_)
                | ProxyError::TlsSetup(_)
                | ProxyError::Bind(..)
        )
    }

    /// The level nginx logs a failed exchange with a server at: a failed `bind()` is
    /// `crit`, a failed `setsockopt()` `alert`.
    pub fn level(&self) -> Level {
        match self {
            ProxyError::Bind(call, _) if call.starts_with("setsockopt") => Level::Alert,
            ProxyError::Bind(..) => Level::Crit,
            _ => Level::Error,
        }
    }

    /// Whether the server that caused it counts a failure (`max_fails`).
    pub fn counts_as_failure(&self) -> bool {
        self.side() == Side::Upstream
    }

    /// Whether `proxy_next_upstream` allows another server after this error.
    pub fn retryable(&self, rules: &NextUpstream) -> bool {
        if rules.off {
            return false;
        }
        match self {
            ProxyError::Io(..) | ProxyError::PrematureClose(_) | ProxyError::Handshake(_) => {
                rules.error
            }
            ProxyError::TimedOut(_) => rules.timeout,
            ProxyError::InvalidHeader(_) | ProxyError::TooBigHeader | ProxyError::CaughtStderr => {
                rules.invalid_header
            }
            _ => false,
        }
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Io(stage, e) => {
                let call = match stage {
                    Stage::Connecting => "connect()",
                    Stage::Sending => "writev()",
                    _ => "recv()",
                };
                let os = crate::syntax::include::os_error(e);
                write!(f, "{call} failed ({os}) while {}", stage.as_str())
            }
            ProxyError::TimedOut(stage) => write!(
                f,
                "upstream timed out (110: Connection timed out) while {}",
                stage.as_str()
            ),
            ProxyError::PrematureClose(stage) => {
                write!(
                    f,
                    "upstream prematurely closed connection while {}",
                    stage.as_str()
                )
            }
            ProxyError::Handshake(e) => write!(
                f,
                "{} while {}",
                super::upstream_tls::describe(e),
                Stage::Handshaking.as_str()
            ),
            ProxyError::TlsSetup(e) | ProxyError::BodyFile(e) => write!(f, "{e}"),
            // The gunzip filter runs as the body goes to the client.
            ProxyError::Inflate(e) => write!(f, "{e} while sending to client"),
            ProxyError::InvalidHeader(line) => {
                write!(f, "{line} while reading response header from upstream")
            }
            ProxyError::InvalidChunked => write!(
                f,
                "upstream sent invalid chunked response while {}",
                Stage::ReadingBody.as_str()
            ),
            ProxyError::CaughtStderr => write!(
                f,
                "FastCGI sent in stderr a line fastcgi_catch_stderr looks for \
                 while reading response header from upstream"
            ),
            ProxyError::TooBigHeader => write!(
                f,
                "upstream sent too big header while reading response header from upstream"
            ),
            ProxyError::NoLiveUpstreams => {
                write!(f, "no live upstreams while connecting to upstream")
            }
            ProxyError::Unresolved(name, e) => write!(f, "{name} could not be resolved ({e})"),
            ProxyError::BodyTooLarge(n) => {
                write!(f, "client intended to send too large body: {n} bytes")
            }
            ProxyError::ChunkedTooLarge(before, size) => write!(
                f,
                "client intended to send too large chunked body: {before}+{size} bytes"
            ),
            ProxyError::ClientBody(e) => f.write_str(e),
            ProxyError::ClientClosed(None) => f.write_str("client prematurely closed connection"),
            ProxyError::ClientClosed(Some(e)) => {
                let os = crate::syntax::include::os_error(e);
                write!(f, "recv() failed ({os})")
            }
            ProxyError::ClientBodyTimedOut => write!(f, "client timed out"),
            ProxyError::Bind(call, e) => {
                let os = crate::syntax::include::os_error(e);
                write!(f, "{call} failed ({os}) while connecting to upstream")
            }
            ProxyError::FileRead(e) => {
                let os = crate::syntax::include::os_error(e);
                write!(f, "pread() failed ({os}) while sending response to client")
            }
        }
    }
}

impl std::error::Error for ProxyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_retry_rules_follow_nginx() {
        let rules = NextUpstream {
            error: true,
            timeout: true,
            ..NextUpstream::default()
        };
        let refused = ProxyError::Io(Stage::Connecting, io::Error::from_raw_os_error(111));
        assert_eq!(refused.status(), 502);
        assert!(refused.retryable(&rules));
        assert_eq!(
            refused.to_string(),
            "connect() failed (111: Connection refused) while connecting to upstream"
        );
        assert_eq!(ProxyError::TimedOut(Stage::ReadingHeader).status(), 504);
        assert!(!ProxyError::InvalidHeader(String::new()).retryable(&rules));
        assert_eq!(ProxyError::BodyTooLarge(9).side(), Side::Downstream);
    }
}
