//! What nginx holds of a request body in memory, where `$request_body` reads it
//! (`ngx_http_read_client_request_body` and its save filter). The body bytes read with the
//! head stay in the head's buffer; the rest goes to a buffer of `client_body_buffer_size`
//! (of the rest's size, when that is under a quarter more), and a body that fills that
//! buffer is written to a temporary file, where the variable does not read it. Unbuffered
//! (`proxy_request_buffering off`), nginx hands the body on as it comes, and the variable
//! holds what was read when the request went upstream.

/// A body as it came on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wire {
    /// Sent chunked (else with `Content-Length`).
    pub chunked: bool,
    /// Its bytes, chunked framing included.
    pub raw: u64,
    /// Of those, the ones at hand when nginx began reading it (read with the head, or
    /// waiting).
    pub raw_at_hand: u64,
    /// The room left after the head in nginx's header buffer: what the body's first bytes
    /// ("preread") may take.
    pub room: u64,
}

/// How much of a body `$request_body` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Whole,
    /// Its first bytes on the connection (unbuffered, the rest still coming).
    Start(u64),
    /// Nothing: it went to a file, or nothing of it had come.
    Nothing,
}

impl Wire {
    /// The preread part, and the room left after it in the head's buffer.
    fn preread(&self) -> (u64, u64) {
        let room = self.room;
        let preread = self.raw_at_hand.min(room).min(self.raw);
        (preread, room - preread)
    }

    /// The size of the buffer nginx reads the rest into (`buffer`: client_body_buffer_size),
    /// or `None` when the rest fits the head's buffer, which nginx then reads it into.
    fn body_buffer(&self, buffer: u64) -> Option<u64> {
        let (preread, room) = self.preread();
        let rest = self.raw - preread;
        if !self.chunked && preread > 0 && rest <= room {
            return None;
        }
        if !self.chunked && rest < buffer + buffer / 4 {
            return Some(rest);
        }
        Some(buffer)
    }

    /// Read whole before the request goes upstream: is the body in memory?
    pub fn in_memory(&self, buffer: u64) -> bool {
        let (preread, _) = self.preread();
        let rest = self.raw - preread;
        rest == 0 || self.body_buffer(buffer).is_none_or(|size| rest <= size)
    }

    /// What `$request_body` holds with the body read `buffered`, or sent on as it comes.
    pub fn held(&self, buffer: u64, buffered: bool) -> Held {
        if buffered || self.raw_at_hand >= self.raw {
            return match self.in_memory(buffer) {
                true => Held::Whole,
                false => Held::Nothing,
            };
        }
        // The preread part, and what the body buffer took of what was waiting, went into
        // `r->request_body->bufs` before the request went upstream.
        let (preread, room) = self.preread();
        let size = self.body_buffer(buffer).unwrap_or(room);
        match self.raw_at_hand.min(preread + size) {
            0 => Held::Nothing,
            n => Held::Start(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(chunked: bool, raw: u64, raw_at_hand: u64) -> Wire {
        Wire {
            chunked,
            raw,
            raw_at_hand,
            // A head of 50 bytes in nginx's 1k buffer.
            room: 974,
        }
    }

    /// The cases measured against nginx 1.22 with `client_body_buffer_size 100`.
    #[test]
    fn where_nginx_keeps_a_body() {
        let memory = |w: Wire| w.in_memory(100);
        // Read with the head, whatever its size.
        assert!(memory(wire(false, 500, 500)));
        assert!(memory(wire(false, 950, 950)));
        // After the head: under 125 bytes.
        assert!(memory(wire(false, 124, 0)));
        assert!(!memory(wire(false, 125, 0)));
        assert!(!memory(wire(false, 500, 0)));
        // Some with the head: the rest under 125, or fitting the head's buffer.
        assert!(memory(wire(false, 130, 10)));
        assert!(memory(wire(false, 510, 10)));
        assert!(!memory(wire(false, 2000, 10)));
        // The head's buffer holds 974 body bytes: the rest past that counts.
        assert!(!memory(wire(false, 1200, 1200)));
        assert!(memory(wire(false, 1000, 1000)));
        // Chunked after the head: the bytes with framing must fit the buffer.
        assert!(memory(wire(true, 100, 0)));
        assert!(!memory(wire(true, 101, 0)));
    }

    #[test]
    fn unbuffered_bodies_hold_what_came_first() {
        let held = |w: Wire| w.held(8192, false);
        assert_eq!(held(wire(false, 10, 5)), Held::Start(5));
        assert_eq!(held(wire(false, 10, 0)), Held::Nothing);
        assert_eq!(held(wire(false, 10, 10)), Held::Whole);
        assert_eq!(held(wire(false, 3000, 3000)), Held::Whole);
        assert_eq!(held(wire(false, 3000, 100)), Held::Start(100));
        assert_eq!(wire(false, 20_000, 0).held(8192, true), Held::Nothing);
    }
}
