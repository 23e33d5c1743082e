//! Decoding `Transfer-Encoding: chunked` from an upstream response, incrementally over a
//! buffer that fills as bytes arrive: nginx de-chunks upstream bodies and re-frames them for
//! the client, so ngxr does too.

use bytes::{Bytes, BytesMut};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting `HEX[;ext]\r\n`.
    Size,
    /// Inside a chunk, this many bytes left.
    Data(u64),
    /// The `\r\n` after a chunk's data.
    DataEnd,
    /// Trailer lines up to the empty line.
    Trailers,
    Done,
}

/// What one decoding step produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Data(Bytes),
    /// The buffer holds no complete next piece.
    NeedMore,
    /// The last chunk and trailers are consumed.
    Done,
}

#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// Data bytes decoded so far.
    data: u64,
    /// The latest chunk: data bytes before it, and its size.
    chunk: (u64, u64),
}

/// The upstream's chunked framing is broken.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidChunk;

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size,
            data: 0,
            chunk: (0, 0),
        }
    }
}

impl ChunkedDecoder {
    /// The latest chunk read: the data bytes before it and its size (nginx's `too large
    /// chunked body: BEFORE+SIZE bytes`).
    pub fn chunk(&self) -> (u64, u64) {
        self.chunk
    }

    /// Consumes from `buf` up to the next piece of data (or the end).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, InvalidChunk> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::Done),
                State::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    let hex = line
                        .split(|&c| c == b';')
                        .next()
                        .unwrap_or_default()
                        .trim_ascii();
                    let size = std::str::from_utf8(hex)
                        .ok()
                        .filter(|h| !h.is_empty())
                        .and_then(|h| u64::from_str_radix(h, 16).ok())
                        .ok_or(InvalidChunk)?;
                    self.chunk = (self.data, size);
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let n = (buf.len() as u64).min(left) as usize;
                    let data = buf.split_to(n).freeze();
                    self.data += n as u64;
                    self.state = if n as u64 == left {
                        State::DataEnd
                    } else {
                        State::Data(left - n as u64)
                    };
                    return Ok(Decoded::Data(data));
                }
                State::DataEnd => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if !line.is_empty() {
                        return Err(InvalidChunk);
                    }
                    self.state = State::Size;
                }
                State::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if line.is_empty() {
                        self.state = State::Done;
                    }
                }
            }
        }
    }
}

/// One line without its `\r\n` (a bare `\n` is accepted, as nginx does).
fn take_line(buf: &mut BytesMut) -> Result<Option<Bytes>, InvalidChunk> {
    let Some(end) = buf.iter().position(|&c| c == b'\n') else {
        return if buf.len() > 4096 {
            Err(InvalidChunk)
        } else {
            Ok(None)
        };
    };
    let mut line = buf.split_to(end + 1).freeze();
    line.truncate(end);
    if line.last() == Some(&b'\r') {
        line.truncate(end - 1);
    }
    Ok(Some(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], step: usize) -> (Vec<u8>, bool) {
        let mut d = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                match d.decode(&mut buf).expect("valid chunks") {
                    Decoded::Data(b) => out.extend_from_slice(&b),
                    Decoded::NeedMore => break,
                    Decoded::Done => return (out, true),
                }
            }
        }
        (out, false)
    }

    #[test]
    fn decodes_across_any_split() {
        let input = b"5;x=1\r\nhello\r\nb\r\n, chunked!!\r\n0\r\nTrailer: x\r\n\r\n";
        for step in 1..input.len() {
            assert_eq!(
                decode_all(input, step),
                (b"hello, chunked!!".to_vec(), true),
                "step {step}"
            );
        }
    }

    #[test]
    fn rejects_garbage_sizes() {
        let mut buf = BytesMut::from(&b"zz\r\n"[..]);
        assert_eq!(
            ChunkedDecoder::default().decode(&mut buf),
            Err(InvalidChunk)
        );
    }
}
