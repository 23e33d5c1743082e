//! `limit_rate` as nginx's write filter applies it: before a write, the bytes allowed are the
//! rate times the whole seconds since the request began, plus one, less what was sent beyond
//! `limit_rate_after` (the head counts); none allowed, the write waits until some are. After a
//! write, the next waits as long as the bytes just sent past `limit_rate_after` take at the
//! rate. The wait after the last write is not waited: the request is over. Only an answer with
//! a rate has a [`Throttle`]; every other one is written as it comes.
//!
//! While it waits, a client that closes ends the answer at once, as nginx's
//! `ngx_http_test_reading` notices it.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::body::Finish;
use super::client::Client;
use crate::eval::plan::Sending;

/// The most one write sends (nginx's `sendfile_max_chunk` default, 2m, which also caps a
/// limited write).
const MAX_CHUNK: u64 = 2 * 1024 * 1024;

#[derive(Debug)]
pub struct Throttle {
    /// Bytes per second (never 0).
    rate: u64,
    after: u64,
    /// nginx's `r->start_sec`: the wall-clock second the request began in.
    start_sec: u64,
    /// nginx's `c->sent` for this request: head and body bytes written.
    sent: u64,
    /// The last write's wait ends then.
    delayed: Option<Instant>,
}

impl Throttle {
    /// The throttle of `sending`, for a request that began `elapsed` ago; `None` when its
    /// rate is unlimited.
    pub fn of(sending: &Sending, elapsed: Duration) -> Option<Box<Throttle>> {
        if sending.limit_rate == 0 {
            return None;
        }
        let began = SystemTime::now().checked_sub(elapsed).unwrap_or(UNIX_EPOCH);
        Some(Box::new(Throttle {
            rate: sending.limit_rate,
            after: sending.limit_rate_after,
            start_sec: unix_secs(began),
            sent: 0,
            delayed: None,
        }))
    }

    /// The throttle of the request `finish` logs, which notes its rate (`$limit_rate`) as
    /// nginx's write filter sets it when the answer starts out.
    pub fn start(sending: &Sending, finish: &mut Finish) -> Option<Box<Throttle>> {
        finish.outcome.limit_rate = Some(sending.limit_rate);
        Throttle::of(sending, finish.request.started.elapsed())
    }

    /// Writes all of `out` to `client` at the rate.
    pub async fn write(&mut self, client: &mut Client, out: &[u8]) -> io::Result<()> {
        let mut at = 0;
        while at < out.len() {
            if let Some(until) = self.delayed.take() {
                wait(client, until).await?;
            }
            let allowed = self.allowed(unix_secs(SystemTime::now()));
            if allowed <= 0 {
                let ms = (-allowed) as u64 * 1000 / self.rate + 1;
                self.delayed = Some(Instant::now() + Duration::from_millis(ms));
                continue;
            }
            let n = (allowed as u64).min(MAX_CHUNK).min((out.len() - at) as u64) as usize;
            client.write(&out[at..at + n]).await?;
            at += n;
            let before = self.sent.saturating_sub(self.after);
            self.sent += n as u64;
            let now = self.sent.saturating_sub(self.after);
            let ms = (now - before) * 1000 / self.rate;
            if ms > 0 {
                self.delayed = Some(Instant::now() + Duration::from_millis(ms));
            }
        }
        Ok(())
    }

    /// Bytes the write filter lets out now (`limit` in `ngx_http_write_filter`).
    fn allowed(&self, now_sec: u64) -> i128 {
        let seconds = now_sec.saturating_sub(self.start_sec) + 1;
        i128::from(self.rate) * i128::from(seconds)
            - (i128::from(self.sent) - i128::from(self.after))
    }
}

/// Waits until `until`, or fails when the client closes meanwhile.
async fn wait(client: &Client, until: Instant) -> io::Result<()> {
    tokio::select! {
        _ = tokio::time::sleep_until(until) => Ok(()),
        gone = client.io.closed() => Err(gone.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::ConnectionAborted, "client closed connection")
        })),
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_second_allows_the_rate_and_the_bytes_after() {
        let t = Throttle {
            rate: 12288,
            after: 256,
            start_sec: 100,
            sent: 0,
            delayed: None,
        };
        assert_eq!(t.allowed(100), 12544);
        let sent = Throttle { sent: 12544, ..t };
        assert_eq!(sent.allowed(100), 0);
        assert_eq!(sent.allowed(101), 12288);
    }
}
