//! The memory nginx's mp4 module works in: the read buffer it fills from the file a chunk
//! at a time, the small buffers it allocates for the atoms it writes itself, and the
//! big-endian fields it reads and rewrites in place. Atoms are rewritten where they lie in
//! the buffer they were read into, and what is sent is those buffers' final bytes, so a
//! buffer here is never moved or freed while the cut is made: each is a slot of an arena,
//! and a position is a slot and an index (`Ptr`), as a pointer is in nginx.

use std::io;

/// Where the file's bytes come from: the opened file, or bytes in a test.
pub trait Source {
    /// Fills `buf` from `offset` as far as the file goes; how many bytes were read.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl Source for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match std::os::unix::fs::FileExt::read_at(
                self,
                &mut buf[filled..],
                offset + filled as u64,
            ) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

impl Source for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let at = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let n = buf.len().min(self.len() - at);
        buf[..n].copy_from_slice(&self[at..at + n]);
        Ok(n)
    }
}

/// A position in one of the arena's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ptr {
    pub mem: usize,
    pub at: usize,
}

impl Ptr {
    pub fn add(self, n: u64) -> Ptr {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        Ptr {
            mem: self.mem,
            at: self.at.saturating_add(n),
        }
    }

    /// `self - n`; `None` before the buffer's start.
    pub fn sub(self, n: u64) -> Option<Ptr> {
        let n = usize::try_from(n).ok()?;
        Some(Ptr {
            mem: self.mem,
            at: self.at.checked_sub(n)?,
        })
    }

    /// Bytes from `from` to here (nginx's pointer difference); 0 if `from` is past it.
    pub fn since(self, from: Ptr) -> u64 {
        self.at.saturating_sub(from.at) as u64
    }
}

/// One of nginx's memory `ngx_buf_t`s: bytes `pos..last` of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buf {
    pub pos: Ptr,
    pub last: Ptr,
}

impl Buf {
    pub fn new(pos: Ptr, len: u64) -> Buf {
        Buf {
            pos,
            last: pos.add(len),
        }
    }
}

/// A read or write outside the buffers, where nginx, not checking, would touch memory that
/// is not the file's: the request fails without nginx's say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBounds;

/// Every buffer allocated for one request's cut.
#[derive(Debug, Default)]
pub struct Arena {
    mems: Vec<Vec<u8>>,
}

impl Arena {
    /// A new buffer holding `bytes`.
    pub fn alloc(&mut self, bytes: Vec<u8>) -> usize {
        self.mems.push(bytes);
        self.mems.len() - 1
    }

    pub fn slice(&self, p: Ptr, n: u64) -> Result<&[u8], OutOfBounds> {
        let n = usize::try_from(n).map_err(|_| OutOfBounds)?;
        let mem = self.mems.get(p.mem).ok_or(OutOfBounds)?;
        mem.get(p.at..p.at.checked_add(n).ok_or(OutOfBounds)?)
            .ok_or(OutOfBounds)
    }

    pub fn slice_mut(&mut self, p: Ptr, n: u64) -> Result<&mut [u8], OutOfBounds> {
        let n = usize::try_from(n).map_err(|_| OutOfBounds)?;
        let mem = self.mems.get_mut(p.mem).ok_or(OutOfBounds)?;
        mem.get_mut(p.at..p.at.checked_add(n).ok_or(OutOfBounds)?)
            .ok_or(OutOfBounds)
    }

    /// A buffer's bytes.
    pub fn bytes(&self, b: Buf) -> Result<&[u8], OutOfBounds> {
        if b.pos.mem != b.last.mem || b.last.at < b.pos.at {
            return Err(OutOfBounds);
        }
        self.slice(b.pos, b.last.since(b.pos))
    }

    pub fn byte(&self, p: Ptr) -> Result<u8, OutOfBounds> {
        Ok(self.slice(p, 1)?[0])
    }

    pub fn get32(&self, p: Ptr) -> Result<u32, OutOfBounds> {
        let s = self.slice(p, 4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    pub fn get64(&self, p: Ptr) -> Result<u64, OutOfBounds> {
        let s = self.slice(p, 8)?;
        let mut b = [0; 8];
        b.copy_from_slice(s);
        Ok(u64::from_be_bytes(b))
    }

    pub fn put(&mut self, p: Ptr, bytes: &[u8]) -> Result<(), OutOfBounds> {
        self.slice_mut(p, bytes.len() as u64)?
            .copy_from_slice(bytes);
        Ok(())
    }

    /// `ngx_mp4_set_32value`: the low 32 bits of `v`.
    pub fn set32(&mut self, p: Ptr, v: u64) -> Result<(), OutOfBounds> {
        self.put(p, &(v as u32).to_be_bytes())
    }

    pub fn set64(&mut self, p: Ptr, v: u64) -> Result<(), OutOfBounds> {
        self.put(p, &v.to_be_bytes())
    }

    /// `ngx_mp4_set_atom_name`: the four bytes after an atom's size.
    pub fn set_name(&mut self, header: Ptr, name: &[u8; 4]) -> Result<(), OutOfBounds> {
        self.put(header.add(4), name)
    }
}
