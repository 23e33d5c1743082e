//! Reading an mp4 file's atoms as `ngx_http_mp4_module` reads them: the top level (`ftyp`,
//! `moov`, `mdat`) a buffer at a time, then the whole `moov` in one buffer, each `trak`'s
//! atoms down to its sample tables. Each atom nginx keeps becomes a buffer of the answer,
//! left where it lies, its header's size and name already written as nginx writes them;
//! `tables.rs` cuts them.

use super::buffer::{Arena, Buf, OutOfBounds, Ptr, Source};
use crate::eval::plan::ErrorLine;

/// `NGX_HTTP_MP4_MOOV_BUFFER_EXCESS`: room kept after a `moov` read before `mdat` for the
/// atoms that follow it.
const MOOV_BUFFER_EXCESS: u64 = 4 * 1024;

/// Why a cut failed: nginx's error-log line, or a file nginx would read past its buffers
/// on (no line); either way a 500.
#[derive(Debug)]
pub enum Fail {
    Logged(ErrorLine),
    Unchecked,
}

impl From<OutOfBounds> for Fail {
    fn from(_: OutOfBounds) -> Fail {
        Fail::Unchecked
    }
}

/// How an atom's reading ended: read, or declined (`NGX_DECLINED`: a `moov` before any
/// `mdat` when the whole file is asked for, or a `trak` that ends before `start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Done,
    Declined,
}

pub type Step = Result<Read, Fail>;

/// The slots of a `trak`'s answer, in the order they are sent (nginx's `out[]`).
pub mod slot {
    pub const TRAK: usize = 0;
    pub const TKHD: usize = 1;
    pub const EDTS: usize = 2;
    pub const ELST: usize = 3;
    pub const MDIA: usize = 4;
    pub const MDHD: usize = 5;
    pub const HDLR: usize = 6;
    pub const MINF: usize = 7;
    pub const VMHD: usize = 8;
    pub const SMHD: usize = 9;
    pub const DINF: usize = 10;
    pub const STBL: usize = 11;
    pub const STSD: usize = 12;
    pub const STTS: usize = 13;
    pub const STTS_DATA: usize = 14;
    pub const STSS: usize = 15;
    pub const STSS_DATA: usize = 16;
    pub const CTTS: usize = 17;
    pub const CTTS_DATA: usize = 18;
    pub const STSC: usize = 19;
    pub const STSC_START: usize = 20;
    pub const STSC_DATA: usize = 21;
    pub const STSC_END: usize = 22;
    pub const STSZ: usize = 23;
    pub const STSZ_DATA: usize = 24;
    pub const STCO: usize = 25;
    pub const STCO_DATA: usize = 26;
    pub const CO64: usize = 27;
    pub const CO64_DATA: usize = 28;
    pub const COUNT: usize = 29;
}

/// One `trak` being cut (`ngx_http_mp4_trak_t`), nginx's integer widths kept.
#[derive(Debug, Default)]
pub struct Trak {
    pub timescale: u32,
    pub time_to_sample_entries: u32,
    pub sample_to_chunk_entries: u32,
    pub sync_samples_entries: u32,
    pub composition_offset_entries: u32,
    pub sample_sizes_entries: u32,
    pub chunks: u32,
    pub start_sample: u64,
    pub end_sample: u64,
    pub start_chunk: u64,
    pub end_chunk: u64,
    pub start_chunk_samples: u64,
    pub end_chunk_samples: u64,
    pub start_chunk_samples_size: u64,
    pub end_chunk_samples_size: u64,
    pub duration: u64,
    pub prefix: u64,
    pub movie_duration: u64,
    pub start_offset: i64,
    pub end_offset: i64,
    pub tkhd_size: u64,
    pub mdhd_size: u64,
    pub hdlr_size: u64,
    pub vmhd_size: u64,
    pub smhd_size: u64,
    pub dinf_size: u64,
    pub size: u64,
    pub out: [Option<Buf>; slot::COUNT],
}

/// The `mp4_*` settings of the location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conf {
    pub buffer_size: u64,
    pub max_buffer_size: u64,
    pub start_key_frame: bool,
}

/// The file being cut (`ngx_http_mp4_file_t`).
#[derive(Debug)]
pub struct Movie<'a, S: Source + ?Sized> {
    pub src: &'a S,
    /// The file's path, as nginx's lines name it.
    pub name: String,
    pub conf: Conf,
    pub mem: Arena,
    /// The read buffer (`None` before the first read, or when a new one is due).
    buffer: Option<usize>,
    buffer_start: usize,
    buffer_pos: usize,
    buffer_end: usize,
    buffer_size: u64,
    pub offset: i64,
    pub end: i64,
    /// `?start=` and the length `?end=` gives, in milliseconds.
    pub start: u64,
    pub length: u64,
    timescale: u32,
    pub traks: Vec<Trak>,
    pub ftyp: Option<Buf>,
    pub ftyp_size: u64,
    pub moov_size: u64,
    moov: bool,
    pub mvhd: Option<Buf>,
    /// Where the `mdat` atom's data ends in the file (`mdat_data`'s `file_last`).
    pub mdat: Option<i64>,
}

/// A handler of one atom name, given the atom's data size.
type Handler<'a, S> = fn(&mut Movie<'a, S>, u64) -> Step;

impl<'a, S: Source + ?Sized> Movie<'a, S> {
    pub fn new(src: &'a S, name: String, conf: Conf, size: u64, start: u64, length: u64) -> Self {
        Movie {
            src,
            name,
            conf,
            mem: Arena::default(),
            buffer: None,
            buffer_start: 0,
            buffer_pos: 0,
            buffer_end: 0,
            buffer_size: conf.buffer_size,
            offset: 0,
            end: i64::try_from(size).unwrap_or(i64::MAX),
            start,
            length,
            timescale: 0,
            traks: Vec::new(),
            ftyp: None,
            ftyp_size: 0,
            moov_size: 0,
            moov: false,
            mvhd: None,
            mdat: None,
        }
    }

    /// An `[error]` line naming the file as nginx's do: `"PATH" mp4 ...`.
    pub fn quoted(&self, what: &str) -> Fail {
        Fail::Logged(ErrorLine::error(format!("\"{}\" mp4 {what}", self.name)))
    }

    /// An `[error]` line ending with ` in "PATH"`.
    pub fn in_file(&self, what: &str) -> Fail {
        Fail::Logged(ErrorLine::error(format!("{what} in \"{}\"", self.name)))
    }

    /// The top level: `ftyp`, `moov`, `mdat`.
    pub fn read_file(&mut self) -> Step {
        let size = u64::try_from(self.end).unwrap_or(0);
        self.read_atom(
            &[
                (b"ftyp", Self::read_ftyp),
                (b"moov", Self::read_moov),
                (b"mdat", Self::read_mdat),
            ],
            size,
        )
    }

    fn pos(&self) -> Ptr {
        Ptr {
            mem: self.buffer.unwrap_or(usize::MAX),
            at: self.buffer_pos,
        }
    }

    /// `ngx_mp4_atom_header`: the 8 bytes before the data.
    fn header(&self) -> Result<Ptr, Fail> {
        self.pos().sub(8).ok_or(Fail::Unchecked)
    }

    /// `ngx_mp4_atom_next`.
    fn next(&mut self, n: u64) {
        let room = self.buffer_end.saturating_sub(self.buffer_pos) as u64;
        if n > room {
            self.buffer_pos = self.buffer_end;
        } else {
            self.buffer_pos += n as usize;
        }
        self.offset = self.offset.wrapping_add(n as i64);
    }

    fn last_trak(&mut self) -> Result<&mut Trak, Fail> {
        self.traks.last_mut().ok_or(Fail::Unchecked)
    }

    /// `ngx_http_mp4_read_atom`: the atoms in the next `atom_data_size` bytes, each known
    /// name to its handler.
    fn read_atom(&mut self, table: &[(&[u8; 4], Handler<'a, S>)], atom_data_size: u64) -> Step {
        let end = self.offset.wrapping_add(atom_data_size as i64);
        while self.offset < end {
            self.read(4)?;
            let mut atom_size = u64::from(self.mem.get32(self.pos())?);
            let mut header_size = 8;
            if atom_size == 0 {
                return Ok(Read::Done);
            }
            if atom_size < 8 {
                if atom_size != 1 {
                    return Err(self.quoted_small(atom_size));
                }
                self.read(16)?;
                atom_size = self.mem.get64(self.pos().add(8))?;
                header_size = 16;
                if atom_size < 16 {
                    return Err(self.quoted_small(atom_size));
                }
            }
            self.read(8)?;
            let name = self.mem.get32(self.pos().add(4))?.to_be_bytes();
            let room = (i64::MAX - self.offset) as u64;
            if atom_size > room || self.offset + atom_size as i64 > end {
                return Err(Fail::Logged(ErrorLine::error(format!(
                    "\"{}\" mp4 atom too large:{atom_size}",
                    self.name
                ))));
            }
            match table.iter().find(|(n, _)| **n == name) {
                Some((_, handler)) => {
                    self.next(header_size);
                    if handler(self, atom_size - header_size)? == Read::Declined {
                        return Ok(Read::Declined);
                    }
                }
                None => self.next(atom_size),
            }
        }
        Ok(Read::Done)
    }

    fn quoted_small(&self, atom_size: u64) -> Fail {
        Fail::Logged(ErrorLine::error(format!(
            "\"{}\" mp4 atom is too small:{atom_size}",
            self.name
        )))
    }

    /// `ngx_http_mp4_read`: `size` bytes at the buffer's position, the buffer refilled
    /// from the file's `offset` when it holds fewer.
    fn read(&mut self, size: u64) -> Result<(), Fail> {
        if self.buffer.is_some() && self.buffer_pos as u64 + size <= self.buffer_end as u64 {
            return Ok(());
        }
        if self.offset.wrapping_add(self.buffer_size as i64) > self.end {
            self.buffer_size = self.end.wrapping_sub(self.offset) as u64;
        }
        if self.buffer_size < size {
            return Err(self.quoted("file truncated"));
        }
        let n = usize::try_from(self.buffer_size).map_err(|_| Fail::Unchecked)?;
        let mem = match self.buffer {
            Some(mem) => mem,
            None => {
                let mem = self.mem.alloc(vec![0; n]);
                self.buffer = Some(mem);
                self.buffer_start = 0;
                mem
            }
        };
        let start = Ptr {
            mem,
            at: self.buffer_start,
        };
        let offset = u64::try_from(self.offset).map_err(|_| Fail::Unchecked)?;
        let src = self.src;
        let read = src.read_at(self.mem.slice_mut(start, n as u64)?, offset);
        match read {
            Err(e) => {
                return Err(Fail::Logged(ErrorLine::crit(format!(
                    "pread() \"{}\" failed ({})",
                    self.name,
                    crate::syntax::include::os_error(&e)
                ))));
            }
            Ok(got) if got != n => {
                return Err(Fail::Logged(ErrorLine::crit(format!(
                    "pread() read only {got} of {n} from \"{}\"",
                    self.name
                ))));
            }
            Ok(_) => {}
        }
        self.buffer_pos = self.buffer_start;
        self.buffer_end = self.buffer_start + n;
        Ok(())
    }

    fn read_ftyp(&mut self, size: u64) -> Step {
        if size > 1024 || self.buffer_pos as u64 + size > self.buffer_end as u64 {
            return Err(Fail::Logged(ErrorLine::error(format!(
                "\"{}\" mp4 ftyp atom is too large:{size}",
                self.name
            ))));
        }
        if self.ftyp.is_some() {
            return Err(self.in_file("duplicate mp4 ftyp atom"));
        }
        let atom_size = 8 + size;
        let mut atom = Vec::with_capacity(atom_size as usize);
        atom.extend_from_slice(&(atom_size as u32).to_be_bytes());
        atom.extend_from_slice(b"ftyp");
        atom.extend_from_slice(self.mem.slice(self.pos(), size)?);
        let mem = self.mem.alloc(atom);
        self.ftyp = Some(Buf::new(Ptr { mem, at: 0 }, atom_size));
        self.ftyp_size = atom_size;
        self.next(size);
        Ok(Read::Done)
    }

    fn read_moov(&mut self, size: u64) -> Step {
        let no_mdat = self.mdat.is_none();
        if no_mdat && self.start == 0 && self.length == 0 {
            // The file as it is: its `moov` comes first and all of it is asked for.
            return Ok(Read::Declined);
        }
        if self.moov {
            return Err(self.in_file("duplicate mp4 moov atom"));
        }
        if size > self.buffer_size {
            if size > self.conf.max_buffer_size {
                return Err(Fail::Logged(ErrorLine::error(format!(
                    "\"{}\" mp4 moov atom is too large:{size}, you may want to increase mp4_max_buffer_size",
                    self.name
                ))));
            }
            self.buffer = None;
            self.buffer_pos = 0;
            self.buffer_end = 0;
            self.buffer_size = size + MOOV_BUFFER_EXCESS * u64::from(no_mdat);
        }
        self.read(size)?;
        self.moov = true;
        let rc = self.read_atom(
            &[
                (b"mvhd", Self::read_mvhd),
                (b"trak", Self::read_trak),
                (b"cmov", Self::read_cmov),
            ],
            size,
        );
        if no_mdat {
            self.buffer_start = self.buffer_pos;
            self.buffer_size = MOOV_BUFFER_EXCESS;
            if (self.buffer_start as u64) + self.buffer_size > self.buffer_end as u64 {
                self.buffer = None;
                self.buffer_pos = 0;
                self.buffer_end = 0;
            }
        } else {
            // The atoms after `moov` are skipped.
            self.offset = self.end;
        }
        rc
    }

    fn read_mdat(&mut self, size: u64) -> Step {
        if self.mdat.is_some() {
            return Err(self.in_file("duplicate mp4 mdat atom"));
        }
        self.mdat = Some(self.offset.wrapping_add(size as i64));
        if self.traks.is_empty() {
            self.next(size);
        } else {
            // The atoms after `mdat` are skipped.
            self.offset = self.end;
        }
        Ok(Read::Done)
    }

    /// The start and the length in a timescale's units.
    fn times(&self, timescale: u32) -> (u64, u64) {
        let scale = |ms: u64| ms.wrapping_mul(u64::from(timescale)) / 1000;
        (scale(self.start), scale(self.length))
    }

    fn read_mvhd(&mut self, size: u64) -> Step {
        if self.mvhd.is_some() {
            return Err(self.in_file("duplicate mp4 mvhd atom"));
        }
        let header = self.header()?;
        self.mem.set_name(header, b"mvhd")?;
        if 100 > size {
            return Err(self.quoted("mvhd atom too small"));
        }
        let v0 = self.mem.byte(header.add(8))? == 0;
        let (timescale, mut duration) = if v0 {
            let timescale = self.mem.get32(header.add(20))?;
            (timescale, u64::from(self.mem.get32(header.add(24))?))
        } else {
            if 112 > size {
                return Err(self.quoted("mvhd atom too small"));
            }
            (
                self.mem.get32(header.add(28))?,
                self.mem.get64(header.add(32))?,
            )
        };
        self.timescale = timescale;
        let (start_time, length_time) = self.times(timescale);
        if duration < start_time {
            return Err(self.quoted("start time exceeds file duration"));
        }
        duration -= start_time;
        if self.length != 0 && duration > length_time {
            duration = length_time;
        }
        let atom_size = 8 + size;
        self.mem.set32(header, atom_size)?;
        if v0 {
            self.mem.set32(header.add(24), duration)?;
        } else {
            self.mem.set64(header.add(32), duration)?;
        }
        self.mvhd = Some(Buf::new(header, atom_size));
        self.next(size);
        Ok(Read::Done)
    }

    fn read_trak(&mut self, size: u64) -> Step {
        self.traks.push(Trak::default());
        let header = self.header()?;
        self.mem.set_name(header, b"trak")?;
        self.last_trak()?.out[slot::TRAK] = Some(Buf::new(header, 8));
        let atom_end = self.buffer_pos.saturating_add(size as usize);
        let atom_file_end = self.offset.wrapping_add(size as i64);
        let rc = self.read_atom(
            &[(b"tkhd", Self::read_tkhd), (b"mdia", Self::read_mdia)],
            size,
        )?;
        if rc == Read::Declined {
            // The track ends before the start: it is left out.
            self.traks.pop();
            self.buffer_pos = atom_end;
            self.offset = atom_file_end;
        }
        Ok(Read::Done)
    }

    fn read_cmov(&mut self, _size: u64) -> Step {
        Err(self.quoted("compressed moov atom (cmov) is not supported"))
    }

    fn read_tkhd(&mut self, size: u64) -> Step {
        let header = self.header()?;
        self.mem.set_name(header, b"tkhd")?;
        if 84 > size {
            return Err(self.quoted("tkhd atom too small"));
        }
        let v0 = self.mem.byte(header.add(8))? == 0;
        let mut duration = if v0 {
            u64::from(self.mem.get32(header.add(28))?)
        } else {
            if 96 > size {
                return Err(self.quoted("tkhd atom too small"));
            }
            self.mem.get64(header.add(36))?
        };
        let (start_time, length_time) = self.times(self.timescale);
        if duration <= start_time {
            return Ok(Read::Declined);
        }
        duration -= start_time;
        if self.length != 0 && duration > length_time {
            duration = length_time;
        }
        let atom_size = 8 + size;
        if self.last_trak()?.out[slot::TKHD].is_some() {
            return Err(self.in_file("duplicate mp4 tkhd atom"));
        }
        let trak = self.last_trak()?;
        trak.tkhd_size = atom_size;
        trak.movie_duration = duration;
        self.mem.set32(header, atom_size)?;
        if v0 {
            self.mem.set32(header.add(28), duration)?;
        } else {
            self.mem.set64(header.add(36), duration)?;
        }
        self.last_trak()?.out[slot::TKHD] = Some(Buf::new(header, atom_size));
        self.next(size);
        Ok(Read::Done)
    }

    /// A container atom: its 8-byte header kept in `at`, then its children.
    fn container(
        &mut self,
        name: &[u8; 4],
        at: usize,
        children: &[(&[u8; 4], Handler<'a, S>)],
        size: u64,
    ) -> Step {
        let header = self.header()?;
        self.mem.set_name(header, name)?;
        if self.last_trak()?.out[at].is_some() {
            let name = String::from_utf8_lossy(name).into_owned();
            return Err(self.in_file(&format!("duplicate mp4 {name} atom")));
        }
        self.last_trak()?.out[at] = Some(Buf::new(header, 8));
        self.read_atom(children, size)
    }

    fn read_mdia(&mut self, size: u64) -> Step {
        let children: [(&[u8; 4], Handler<'a, S>); 3] = [
            (b"mdhd", Self::read_mdhd),
            (b"hdlr", Self::read_hdlr),
            (b"minf", Self::read_minf),
        ];
        self.container(b"mdia", slot::MDIA, &children, size)
    }

    fn read_mdhd(&mut self, size: u64) -> Step {
        let header = self.header()?;
        self.mem.set_name(header, b"mdhd")?;
        if 24 > size {
            return Err(self.quoted("mdhd atom too small"));
        }
        let (timescale, mut duration) = if self.mem.byte(header.add(8))? == 0 {
            let timescale = self.mem.get32(header.add(20))?;
            (timescale, u64::from(self.mem.get32(header.add(24))?))
        } else {
            if 36 > size {
                return Err(self.quoted("mdhd atom too small"));
            }
            (
                self.mem.get32(header.add(28))?,
                self.mem.get64(header.add(32))?,
            )
        };
        let (start_time, length_time) = self.times(timescale);
        if duration <= start_time {
            return Ok(Read::Declined);
        }
        duration -= start_time;
        if self.length != 0 && duration > length_time {
            duration = length_time;
        }
        let atom_size = 8 + size;
        if self.last_trak()?.out[slot::MDHD].is_some() {
            return Err(self.in_file("duplicate mp4 mdhd atom"));
        }
        let trak = self.last_trak()?;
        trak.mdhd_size = atom_size;
        trak.timescale = timescale;
        trak.duration = duration;
        trak.out[slot::MDHD] = Some(Buf::new(header, atom_size));
        self.mem.set32(header, atom_size)?;
        self.next(size);
        Ok(Read::Done)
    }

    /// An atom kept whole (`hdlr`, `vmhd`, `smhd`, `dinf`): its size written, a second one
    /// refused (`vmhd` and `smhd` count as one); returns its size.
    fn whole(&mut self, name: &[u8; 4], at: &[usize], size: u64) -> Result<u64, Fail> {
        let header = self.header()?;
        let atom_size = 8 + size;
        self.mem.set32(header, atom_size)?;
        self.mem.set_name(header, name)?;
        let trak = self.last_trak()?;
        if at.iter().any(|a| trak.out[*a].is_some()) {
            let name = if at.len() > 1 {
                "vmhd/smhd".to_string()
            } else {
                String::from_utf8_lossy(name).into_owned()
            };
            return Err(self.in_file(&format!("duplicate mp4 {name} atom")));
        }
        trak.out[at[0]] = Some(Buf::new(header, atom_size));
        self.next(size);
        Ok(atom_size)
    }

    fn read_hdlr(&mut self, size: u64) -> Step {
        let atom_size = self.whole(b"hdlr", &[slot::HDLR], size)?;
        self.last_trak()?.hdlr_size = atom_size;
        Ok(Read::Done)
    }

    fn read_minf(&mut self, size: u64) -> Step {
        let children: [(&[u8; 4], Handler<'a, S>); 4] = [
            (b"vmhd", Self::read_vmhd),
            (b"smhd", Self::read_smhd),
            (b"dinf", Self::read_dinf),
            (b"stbl", Self::read_stbl),
        ];
        self.container(b"minf", slot::MINF, &children, size)
    }

    fn read_vmhd(&mut self, size: u64) -> Step {
        let atom_size = self.whole(b"vmhd", &[slot::VMHD, slot::SMHD], size)?;
        self.last_trak()?.vmhd_size += atom_size;
        Ok(Read::Done)
    }

    fn read_smhd(&mut self, size: u64) -> Step {
        let atom_size = self.whole(b"smhd", &[slot::SMHD, slot::VMHD], size)?;
        self.last_trak()?.smhd_size += atom_size;
        Ok(Read::Done)
    }

    fn read_dinf(&mut self, size: u64) -> Step {
        let atom_size = self.whole(b"dinf", &[slot::DINF], size)?;
        self.last_trak()?.dinf_size += atom_size;
        Ok(Read::Done)
    }

    fn read_stbl(&mut self, size: u64) -> Step {
        let children: [(&[u8; 4], Handler<'a, S>); 8] = [
            (b"stsd", Self::read_stsd),
            (b"stts", Self::read_stts),
            (b"stss", Self::read_stss),
            (b"ctts", Self::read_ctts),
            (b"stsc", Self::read_stsc),
            (b"stsz", Self::read_stsz),
            (b"stco", Self::read_stco),
            (b"co64", Self::read_co64),
        ];
        self.container(b"stbl", slot::STBL, &children, size)
    }

    fn read_stsd(&mut self, size: u64) -> Step {
        let header = self.header()?;
        let atom_size = 8 + size;
        self.mem.set32(header, atom_size)?;
        self.mem.set_name(header, b"stsd")?;
        if 16 > size {
            return Err(self.quoted("stsd atom too small"));
        }
        if self.last_trak()?.out[slot::STSD].is_some() {
            return Err(self.in_file("duplicate mp4 stsd atom"));
        }
        let trak = self.last_trak()?;
        trak.out[slot::STSD] = Some(Buf::new(header, atom_size));
        trak.size += atom_size;
        self.next(size);
        Ok(Read::Done)
    }

    /// A table atom (`stts`, `stss`, `ctts`, `stsc`, `stco`, `co64`): a 16-byte header
    /// with its entry count, then `entry`-byte entries, kept in the trak's `slots`; a second
    /// one (in any of `dup`) refused, before the table's size is checked when `dup_first`.
    /// Returns the entry count.
    fn table(
        &mut self,
        name: &str,
        (entry, slots): (u64, (usize, usize)),
        (dup, dup_first): (&[usize], bool),
        size: u64,
    ) -> Result<u32, Fail> {
        let header = self.header()?;
        let name4: [u8; 4] = name.as_bytes().try_into().map_err(|_| Fail::Unchecked)?;
        self.mem.set_name(header, &name4)?;
        let too_small = |m: &Self| m.quoted(&format!("{name} atom too small"));
        if 8 > size {
            return Err(too_small(self));
        }
        let entries = self.mem.get32(header.add(12))?;
        let duplicate = |m: &mut Self| -> Result<(), Fail> {
            let trak = m.last_trak()?;
            if !dup.iter().any(|d| trak.out[*d].is_some()) {
                return Ok(());
            }
            let name = if dup.len() > 1 { "stco/co64" } else { name };
            Err(m.in_file(&format!("duplicate mp4 {name} atom")))
        };
        if dup_first {
            duplicate(self)?;
        }
        let table_size = u64::from(entries) * entry;
        if 8 + table_size > size {
            return Err(too_small(self));
        }
        if !dup_first {
            duplicate(self)?;
        }
        let trak = self.last_trak()?;
        trak.out[slots.0] = Some(Buf::new(header, 16));
        trak.out[slots.1] = Some(Buf::new(header.add(16), table_size));
        self.next(size);
        Ok(entries)
    }

    fn read_stts(&mut self, size: u64) -> Step {
        let slots = (slot::STTS, slot::STTS_DATA);
        let entries = self.table("stts", (8, slots), (&[slot::STTS], false), size)?;
        self.last_trak()?.time_to_sample_entries = entries;
        Ok(Read::Done)
    }

    fn read_stss(&mut self, size: u64) -> Step {
        let slots = (slot::STSS, slot::STSS_DATA);
        let entries = self.table("stss", (4, slots), (&[slot::STSS], true), size)?;
        self.last_trak()?.sync_samples_entries = entries;
        Ok(Read::Done)
    }

    fn read_ctts(&mut self, size: u64) -> Step {
        let slots = (slot::CTTS, slot::CTTS_DATA);
        let entries = self.table("ctts", (8, slots), (&[slot::CTTS], true), size)?;
        self.last_trak()?.composition_offset_entries = entries;
        Ok(Read::Done)
    }

    fn read_stsc(&mut self, size: u64) -> Step {
        let slots = (slot::STSC, slot::STSC_DATA);
        let entries = self.table("stsc", (12, slots), (&[slot::STSC], false), size)?;
        self.last_trak()?.sample_to_chunk_entries = entries;
        Ok(Read::Done)
    }

    fn read_stco(&mut self, size: u64) -> Step {
        let slots = (slot::STCO, slot::STCO_DATA);
        let dup = [slot::STCO, slot::CO64];
        let entries = self.table("stco", (4, slots), (&dup, false), size)?;
        self.last_trak()?.chunks = entries;
        Ok(Read::Done)
    }

    fn read_co64(&mut self, size: u64) -> Step {
        let slots = (slot::CO64, slot::CO64_DATA);
        let dup = [slot::STCO, slot::CO64];
        let entries = self.table("co64", (8, slots), (&dup, false), size)?;
        self.last_trak()?.chunks = entries;
        Ok(Read::Done)
    }

    /// `stsz`: a uniform size (no table, the atom kept as it is), or a size per sample.
    fn read_stsz(&mut self, size: u64) -> Step {
        let header = self.header()?;
        self.mem.set_name(header, b"stsz")?;
        if 12 > size {
            return Err(self.quoted("stsz atom too small"));
        }
        let uniform = self.mem.get32(header.add(12))?;
        let entries = self.mem.get32(header.add(16))?;
        if self.last_trak()?.out[slot::STSZ].is_some() {
            return Err(self.in_file("duplicate mp4 stsz atom"));
        }
        let trak = self.last_trak()?;
        trak.sample_sizes_entries = entries;
        trak.out[slot::STSZ] = Some(Buf::new(header, 20));
        if uniform == 0 {
            let table_size = u64::from(entries) * 4;
            if 12 + table_size > size {
                return Err(self.quoted("stsz atom too small"));
            }
            self.last_trak()?.out[slot::STSZ_DATA] = Some(Buf::new(header.add(20), table_size));
        } else {
            let atom_size = 8 + size;
            self.mem.set32(header, atom_size)?;
            self.last_trak()?.size += atom_size;
        }
        self.next(size);
        Ok(Read::Done)
    }
}
