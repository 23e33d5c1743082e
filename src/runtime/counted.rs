//! Where one client connection stands in nginx's `stub_status` counters. nginx moves a
//! connection between them at fixed points (`ngx_reusable_connection`, `ngx_http_create_request`,
//! `ngx_http_process_request`, `ngx_http_free_request`); the connection loop and the head reader
//! call [`Counted::to`] at the same points, and dropping the value takes the connection out of
//! whichever counter holds it. Each move is two relaxed atomic additions.

use std::sync::Arc;

use crate::eval::plan::{ConnectionCounts, Counter};

/// The counter a connection is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// In none: a TLS handshake under way (nginx counts it nowhere).
    Handshake,
    /// Waiting for a request's first byte.
    Waiting,
    /// A request has begun: its head is being read.
    Reading,
    /// The head is read: the request is being handled and answered (or tunnelled).
    Writing,
}

#[derive(Debug)]
pub struct Counted {
    counts: Arc<ConnectionCounts>,
    stage: Stage,
}

impl Counted {
    /// A connection just accepted, counted as handled and active (its `active` count is
    /// given back by [`super::conn::Live`]), and waiting for its first byte.
    pub fn accepted(counts: Arc<ConnectionCounts>) -> Counted {
        counts.handled.add();
        counts.waiting.add();
        Counted {
            counts,
            stage: Stage::Waiting,
        }
    }

    /// An HTTP/2 stream, served as a connection of its own: counted nowhere until its head
    /// is read (the connection it came on is counted already).
    pub fn stream(counts: Arc<ConnectionCounts>) -> Counted {
        Counted {
            counts,
            stage: Stage::Handshake,
        }
    }

    /// Moves the connection to `stage`; entering `Reading` begins a request.
    pub fn to(&mut self, stage: Stage) {
        if self.stage == stage {
            return;
        }
        if let Some(c) = self.counter(self.stage) {
            c.sub();
        }
        if let Some(c) = self.counter(stage) {
            c.add();
        }
        if stage == Stage::Reading {
            self.counts.requests.add();
        }
        self.stage = stage;
    }

    fn counter(&self, stage: Stage) -> Option<&Counter> {
        match stage {
            Stage::Handshake => None,
            Stage::Waiting => Some(&self.counts.waiting),
            Stage::Reading => Some(&self.counts.reading),
            Stage::Writing => Some(&self.counts.writing),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(c) = self.counter(self.stage) {
            c.sub();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_moves_through_the_counters_and_leaves_none_behind() {
        let counts = Arc::new(ConnectionCounts::default());
        let mut c = Counted::accepted(counts.clone());
        assert_eq!(counts.waiting.get(), 1);
        c.to(Stage::Reading);
        c.to(Stage::Reading);
        assert_eq!((counts.waiting.get(), counts.reading.get()), (0, 1));
        assert_eq!(counts.requests.get(), 1);
        c.to(Stage::Writing);
        assert_eq!((counts.reading.get(), counts.writing.get()), (0, 1));
        drop(c);
        assert_eq!(counts.writing.get(), 0);
        assert_eq!((counts.handled.get(), counts.requests.get()), (1, 1));
    }
}
