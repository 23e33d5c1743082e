//! Cutting the sample tables of each `trak` nginx read (`atoms.rs`) to the asked time, as
//! `ngx_http_mp4_process` does: the samples from `start` (and to `start + length`) found in
//! `stts`, then `stss`, `ctts`, `stsc`, `stsz` and the chunk offsets cut to them, the
//! container atoms' sizes summed, an `edts` written for a cut that starts before the asked
//! time (a key frame's), and every chunk offset moved by what the new head changes.
//! nginx's integer widths (and their wrapping) are kept.

use super::atoms::{Fail, Movie, Read, Trak, slot};
use super::buffer::{Buf, Ptr, Source};

/// The cut: the new head (`ftyp`, `moov`, the `mdat` header) and the bytes of the file
/// that follow it.
#[derive(Debug, PartialEq, Eq)]
pub struct Cut {
    pub head: Vec<u8>,
    pub data_start: u64,
    pub data_end: u64,
}

/// What a request with `?start=` or `?end=` gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Processed {
    /// The file as it is (its `moov` first, and all of it asked for).
    Whole,
    Cut(Cut),
}

/// `ngx_http_mp4_process`.
pub fn process<S: Source + ?Sized>(mp4: &mut Movie<'_, S>) -> Result<Processed, Fail> {
    if mp4.read_file()? == Read::Declined {
        return Ok(Processed::Whole);
    }
    if mp4.traks.is_empty() {
        return Err(mp4.in_file("no mp4 trak atoms were found"));
    }
    let Some(mdat_last) = mp4.mdat else {
        return Err(mp4.in_file("no mp4 mdat atom was found"));
    };
    let mut chain: Vec<Buf> = Vec::new();
    chain.extend(mp4.ftyp);
    let moov_header = mp4.mem.alloc(vec![0; 8]);
    chain.push(Buf::new(
        Ptr {
            mem: moov_header,
            at: 0,
        },
        8,
    ));
    if let Some(mvhd) = mp4.mvhd {
        mp4.moov_size += mvhd.last.since(mvhd.pos);
        chain.push(mvhd);
    }
    let mut start_offset = mp4.end;
    let mut end_offset = 0;
    let mut traks = std::mem::take(&mut mp4.traks);
    for trak in &mut traks {
        update(mp4, trak)?;
        mp4.moov_size += trak.size;
        start_offset = start_offset.min(trak.start_offset);
        end_offset = end_offset.max(trak.end_offset);
        chain.extend(trak.out.iter().flatten());
    }
    end_offset = end_offset.max(start_offset);
    mp4.moov_size += 8;
    let moov = Ptr {
        mem: moov_header,
        at: 0,
    };
    mp4.mem.set32(moov, mp4.moov_size)?;
    mp4.mem.set_name(moov, b"moov")?;
    if start_offset > mdat_last {
        return Err(mp4.in_file("start time is out mp4 mdat atom"));
    }
    let mdat_header = mdat_header(start_offset, end_offset);
    let adjustment =
        (mp4.ftyp_size + mp4.moov_size + mdat_header.len() as u64) as i64 - start_offset;
    for trak in &traks {
        adjust(mp4, trak, adjustment)?;
    }
    let mut head = Vec::new();
    for buf in chain {
        head.extend_from_slice(mp4.mem.bytes(buf)?);
    }
    head.extend_from_slice(&mdat_header);
    Ok(Processed::Cut(Cut {
        head,
        data_start: u64::try_from(start_offset).map_err(|_| Fail::Unchecked)?,
        data_end: u64::try_from(end_offset).map_err(|_| Fail::Unchecked)?,
    }))
}

/// One trak's tables cut and its atoms' sizes summed, in nginx's order.
fn update<S: Source + ?Sized>(mp4: &mut Movie<'_, S>, trak: &mut Trak) -> Result<(), Fail> {
    update_stts(mp4, trak)?;
    update_stss(mp4, trak)?;
    update_ctts(mp4, trak)?;
    update_stsc(mp4, trak)?;
    update_stsz(mp4, trak)?;
    if trak.out[slot::CO64_DATA].is_some() {
        update_offsets(mp4, trak, Width::Co64)?;
    } else {
        update_offsets(mp4, trak, Width::Stco)?;
    }
    // stbl
    trak.size += 8;
    set_size(mp4, trak, slot::STBL)?;
    // minf
    trak.size += 8 + trak.vmhd_size + trak.smhd_size + trak.dinf_size;
    set_size(mp4, trak, slot::MINF)?;
    // mdhd
    if let Some(mdhd) = trak.out[slot::MDHD] {
        if mp4.mem.byte(mdhd.pos.add(8))? == 0 {
            mp4.mem.set32(mdhd.pos.add(24), trak.duration)?;
        } else {
            mp4.mem.set64(mdhd.pos.add(32), trak.duration)?;
        }
        trak.size += trak.mdhd_size;
    }
    trak.size += trak.hdlr_size;
    // mdia
    trak.size += 8;
    set_size(mp4, trak, slot::MDIA)?;
    trak.size += trak.tkhd_size;
    update_edts(mp4, trak);
    // trak
    trak.size += 8;
    set_size(mp4, trak, slot::TRAK)
}

/// A container's header takes the size summed so far.
fn set_size<S: Source + ?Sized>(
    mp4: &mut Movie<'_, S>,
    trak: &Trak,
    at: usize,
) -> Result<(), Fail> {
    let atom = trak.out[at].ok_or(Fail::Unchecked)?;
    mp4.mem.set32(atom.pos, trak.size)?;
    Ok(())
}

/// A header of 16 bytes (size, name, version and flags, entry count) given its new size
/// and count.
fn set_header<S: Source + ?Sized>(
    mp4: &mut Movie<'_, S>,
    atom: Option<Buf>,
    size: u64,
    entries: u64,
) -> Result<(), Fail> {
    let atom = atom.ok_or(Fail::Unchecked)?;
    mp4.mem.set32(atom.pos, size)?;
    mp4.mem.set32(atom.pos.add(12), entries)?;
    Ok(())
}

/// `ngx_http_mp4_update_edts_atom`: a cut that starts before the asked time (at a key
/// frame) plays from it with an edit list.
fn update_edts<S: Source + ?Sized>(mp4: &mut Movie<'_, S>, trak: &mut Trak) {
    if trak.prefix == 0 {
        return;
    }
    let mut edts = Vec::with_capacity(8);
    edts.extend_from_slice(&44u32.to_be_bytes());
    edts.extend_from_slice(b"edts");
    let mut elst = Vec::with_capacity(36);
    elst.extend_from_slice(&36u32.to_be_bytes());
    elst.extend_from_slice(b"elst");
    elst.extend_from_slice(&[1, 0, 0, 0]);
    elst.extend_from_slice(&1u32.to_be_bytes());
    elst.extend_from_slice(&trak.movie_duration.to_be_bytes());
    elst.extend_from_slice(&trak.prefix.to_be_bytes());
    elst.extend_from_slice(&1u16.to_be_bytes());
    elst.extend_from_slice(&0u16.to_be_bytes());
    let edts = mp4.mem.alloc(edts);
    let elst = mp4.mem.alloc(elst);
    trak.out[slot::EDTS] = Some(Buf::new(Ptr { mem: edts, at: 0 }, 8));
    trak.out[slot::ELST] = Some(Buf::new(Ptr { mem: elst, at: 0 }, 36));
    trak.size += 44;
}

fn data(trak: &Trak, at: usize) -> Result<Buf, Fail> {
    trak.out[at].ok_or(Fail::Unchecked)
}

fn update_stts<S: Source + ?Sized>(mp4: &mut Movie<'_, S>, trak: &mut Trak) -> Result<(), Fail> {
    if trak.out[slot::STTS_DATA].is_none() {
        return Err(mp4.in_file("no mp4 stts atoms were found"));
    }
    crop_stts(mp4, trak, true)?;
    crop_stts(mp4, trak, false)?;
    let data = data(trak, slot::STTS_DATA)?;
    let atom_size = 16 + data.last.since(data.pos);
    trak.size += atom_size;
    let entries = u64::from(trak.time_to_sample_entries);
    set_header(mp4, trak.out[slot::STTS], atom_size, entries)
}

/// `ngx_http_mp4_crop_stts_data`: the sample at `start` (or at the end), its entry's
/// count cut.
fn crop_stts<S: Source + ?Sized>(
    mp4: &mut Movie<'_, S>,
    trak: &mut Trak,
    start: bool,
) -> Result<(), Fail> {
    let start_sec = if start {
        mp4.start
    } else if mp4.length != 0 {
        mp4.length
    } else {
        return Ok(());
    };
    let mut data = data(trak, slot::STTS_DATA)?;
    let mut start_time =
        (start_sec.wrapping_mul(u64::from(trak.timescale)) / 1000).wrapping_add(trak.prefix);
    let mut entries = u64::from(trak.time_to_sample_entries);
    let mut start_sample: u64 = 0;
    let mut entry = data.pos;
    let (mut count, mut duration) = (0u32, 0u32);
    let mut rest = 0u32;
    let mut found = false;
    while entry.at < data.last.at {
        count = mp4.mem.get32(entry)?;
        duration = mp4.mem.get32(entry.add(4))?;
        if start_time < u64::from(count) * u64::from(duration) {
            start_sample = start_sample.wrapping_add(start_time / u64::from(duration));
            rest = (start_time / u64::from(duration)) as u32;
            found = true;
            break;
        }
        start_sample = start_sample.wrapping_add(u64::from(count));
        start_time = start_time.wrapping_sub(u64::from(count.wrapping_mul(duration)));
        entries = entries.wrapping_sub(1);
        entry = entry.add(8);
    }
    if !found {
        if start {
            return Err(mp4.in_file("start time is out mp4 stts samples"));
        }
        trak.end_sample = trak.start_sample.wrapping_add(start_sample);
        return Ok(());
    }
    if start {
        let mut key_prefix = seek_key_frame(mp4, trak, start_sample as u32)?;
        start_sample = start_sample.wrapping_sub(u64::from(key_prefix));
        while rest < key_prefix {
            trak.prefix = trak
                .prefix
                .wrapping_add(u64::from(rest.wrapping_mul(duration)));
            key_prefix -= rest;
            entry = entry
                .sub(8)
                .filter(|e| e.at >= data.pos.at)
                .ok_or(Fail::Unchecked)?;
            entries = entries.wrapping_add(1);
            count = mp4.mem.get32(entry)?;
            duration = mp4.mem.get32(entry.add(4))?;
            rest = count;
        }
        trak.prefix = trak
            .prefix
            .wrapping_add(u64::from(key_prefix.wrapping_mul(duration)));
        trak.duration = trak.duration.wrapping_add(trak.prefix);
        rest -= key_prefix;
        mp4.mem.set32(entry, u64::from(count.wrapping_sub(rest)))?;
        data.pos = entry;
        trak.time_to_sample_entries = entries as u32;
        trak.start_sample = start_sample;
    } else {
        mp4.mem.set32(entry, u64::from(rest))?;
        data.last = entry.add(8);
        trak.time_to_sample_entries = trak
            .time_to_sample_entries
            .wrapping_sub((entries as u32).wrapping_sub(1));
        trak.end_sample = trak.start_sample.wrapping_add(start_sample);
    }
    trak.out[slot::STTS_DATA] = Some(data);
    Ok(())
}

/// `ngx_http_mp4_seek_key_frame` (`mp4_start_key_frame on`): how many samples before
/// `start_sample` the key frame before it is.
fn seek_key_frame<S: Source + ?Sized>(
    mp4: &Movie<'_, S>,
    trak: &Trak,
    start_sample: u32,
) -> Result<u32, Fail> {
    if !mp4.conf.start_key_frame {
        return Ok(0);
    }
    let Some(data) = trak.out[slot::STSS_DATA] else {
        return Ok(0);
    };
    // Sync samples count from 1.
    let start_sample = start_sample.wrapping_add(1);
    let mut key_prefix = 0;
    let mut entry = data.pos;
    while entry.at < data.last.at {
        let sample = mp4.mem.get32(entry)?;
        if sample > start_sample {
            break;
        }
        key_prefix = start_sample - sample;
        entry = entry.add(4);
    }
    Ok(key_prefix)
}

fn update_stss<S: Source + ?Sized>(mp4: &mut Movie<'_, S>, trak: &mut Trak) -> Result<(), Fail> {
    let Some(_) = trak.out[slot::STSS_DATA] else {
        return Ok(());
    };
    crop_stss(mp4, trak, true)?;
    crop_stss(mp4, trak, false)?;
    let data = data(trak, slot::STSS_DATA)?;
    if trak.sync_samples_entries != 0 {
        let start_sample = trak.start_sample as u32;
        let mut entry = data.pos;
        while entry.at < data.last.at {
            let sample = mp4.mem.get32(entry)?.wrapping_sub(start_sample);
            mp4.mem.set32(entry, u64::from(sample))?;
            entry = entry.add(4);
        }
    } else {
        trak.out[slot::STSS_DATA] = None;
    }
    let atom_size = 16 + data.last.since(data.pos);
    trak.size += atom_size;
    let entries = u64::from(trak.sync_samples_entries);
    set_header(mp4, trak.out[slot::STSS], atom_size, entries)
}

/// `ngx_http_mp4_crop_stss_data`: the sync samples from the start (or to the end).
fn crop_stss<S: Source + ?Sized>(
    mp4: &mut Movie<'_, S>,
    trak: &mut Trak,
    start: bool,
) -> Result<(), Fail> {
    // Sync samples count from 1.
    let start_sample = if start {
        (trak.start_sample as u32).wrapping_add(1)
    } else if mp4.length != 0 {
        (trak.end_sample as u32).wrapping_add(1)
    } else {
        return Ok(());
    };
    let mut data = data(trak, slot::STSS_DATA)?;
    let mut entries = trak.sync_samples_entries;
    let mut entry = data.pos;
    while entry.at < data.last.at {
        if mp4.mem.get32(entry)? >= start_sample {
            break;
        }
        entries = entries.wrapping_sub(1);
        entry = entry.add(4);
    }
    if start {
        data.pos = entry;
        trak.sync_samples_entries = entries;
    } else {
        data.last = entry;
        trak.sync_samples_entries = trak.sync_samples_entries.wrapping_sub(entries);
    }
    trak.out[slot::STSS_DATA] = Some(data);
    Ok(())
}

fn update_ctts<S: Source + ?Sized>(mp4: &mut Movie<'_, S>, trak: &mut Trak) -> Result<(), Fail> {
    if trak.out[slot::CTTS_DATA].is_none() {
        return Ok(());
    }
    crop_ctts(mp4, trak, true)?;
    crop_ctts(mp4, trak, false)?;
    if trak.composition_offset_entries == 0 {
        trak.out[slot::CTTS] = None;
        trak.out[slot::CTTS_DATA] = None;
        return Ok(());
    }
    let data = data(trak, slot::CTTS_DATA)?;
    let atom_size = 16 + data.last.since(data.pos);
    trak.size += atom_size;
    let entries = u64::from(trak.composition_offset_entries);
    set_header(mp4, trak.out[slot::CTTS], atom_size, entries)
}

/// `ngx_http_mp4_crop_ctts_data`: the composition offsets from the start (or to the end).
fn crop_ctts<S: Source + ?Sized>(
    mp4: &mut Movie<'_, S>,
    trak: &mut Trak,
    start: bool,
) -> Result<(), Fail> {
    let mut start_sample = if start {
        (trak.start_sample as u32).wrapping_add(1)
    } else if mp4.length != 0 {
        ((trak.end_sample - trak.start_sample) as u32).wrapping_add(1)
    } else {
        return Ok(());
    };
    let mut data = data(trak, slot::CTTS_DATA)?;
    let mut entries = trak.composition_offset_entries;
    let mut entry = data.pos;
    while entry.at < data.last.at {
        let count = mp4.mem.get32(entry)?;
        if start_sample <= count {
            let rest = start_sample - 1;
            if start {
                mp4.mem.set32(entry, u64::from(count - rest))?;
                data.pos = entry;
                trak.composition_offset_entries = entries;
            } else {
                mp4.mem.set32(entry, u64::from(rest))?;
                data.last = entry.add(8);
                trak.composition_offset_entries = trak
                    .composition_offset_entries
                    .wrapping_sub(entries.wrapping_sub(1));
            }
            trak.out[slot::CTTS_DATA] = Some(data);
            return Ok(());
        }
        start_sample -= count;
        entries = entries.wrapping_sub(1);
        entry = entry.add(8);
    }
    if start {
        data.pos = data.last;
        trak.composition_offset_entries = 0;
        trak.out[slot::CTTS_DATA] = Some(data);
    }
    Ok(())
}

fn update_stsc<S: Source + ?Sized>(mp4: &mut Movie<'_, S>, trak: &mut Trak) -> Result<(), Fail> {
    if trak.out[slot::STSC_DATA].is_none() {
        return Err(mp4.in_file("no mp4 stsc atoms were found"));
    }
    if trak.sample_to_chunk_entries == 0 {
        return Err(mp4.in_file("zero number of entries in stsc atom"));
    }
    crop_stsc(mp4, trak, true)?;
    crop_stsc(mp4, trak, false)?;
    let data = data(trak, slot::STSC_DATA)?;
    let mut entry = data.pos;
    while entry.at < data.last.at {
        let chunk = mp4.mem.get32(entry)?.wrapping_sub(trak.start_chunk as u32);
        mp4.mem.set32(entry, u64::from(chunk))?;
        entry = entry.add(12);
    }
    let atom_size = 16 + u64::from(trak.sample_to_chunk_entries) * 12;
    trak.size += atom_size;
    let entries = u64::from(trak.sample_to_chunk_entries);
    set_header(mp4, trak.out[slot::STSC], atom_size, entries)
}

/// A new sample-to-chunk entry of nginx's own (the first chunk's, or the last's).
fn stsc_entry<S: Source + ?Sized>(
    mp4: &mut Movie<'_, S>,
    chunk: u64,
    samples: u32,
    id: u32,
) -> Buf {
    let mut bytes = Vec::with_capacity(12);
    bytes.extend_from_slice(&(chunk as u32).to_be_bytes());
    bytes.extend_from_slice(&samples.to_be_bytes());
    bytes.extend_from_slice(&id.to_be_bytes());
    let mem = mp4.mem.alloc(bytes);
    Buf::new(Ptr { mem, at: 0 }, 12)
}

/// `ngx_http_mp4_crop_stsc_data`: the chunk the start (or the end) falls in, and how many
/// of its samples are before it.
fn crop_stsc<S: Source + ?Sized>(
    mp4: &mut Movie<'_, S>,
    trak: &mut Trak,
    start: bool,
) -> Result<(), Fail> {
    let mut entries = u64::from(trak.sample_to_chunk_entries.wrapping_sub(1));
    let mut start_sample: u32;
    if start {
        start_sample = trak.start_sample as u32;
    } else if mp4.length != 0 {
        start_sample = (trak.end_sample - trak.start_sample) as u32;
        if let Some(first) = trak.out[slot::STSC_START] {
            let mut samples = mp4.mem.get32(first.pos.add(4))?;
            entries = entries.wrapping_sub(1);
            if samples > start_sample {
                samples = start_sample;
                mp4.mem.set32(first.pos.add(4), u64::from(samples))?;
            }
            start_sample -= samples;
        }
    } else {
        return Ok(());
    }
    let mut data = data(trak, slot::STSC_DATA)?;
    let mut entry = data.pos;
    let mut chunk = mp4.mem.get32(entry)?;
    let mut samples = mp4.mem.get32(entry.add(4))?;
    let mut id = mp4.mem.get32(entry.add(8))?;
    let mut prev_samples = 0;
    entry = entry.add(12);
    let mut next_chunk = 0u32;
    let mut found = false;
    while entry.at < data.last.at {
        next_chunk = mp4.mem.get32(entry)?;
        let n = next_chunk.wrapping_sub(chunk).wrapping_mul(samples);
        if start_sample < n {
            found = true;
            break;
        }
        start_sample -= n;
        prev_samples = samples;
        chunk = next_chunk;
        samples = mp4.mem.get32(entry.add(4))?;
        id = mp4.mem.get32(entry.add(8))?;
        entries = entries.wrapping_sub(1);
        entry = entry.add(12);
    }
    if !found {
        next_chunk = trak.chunks.wrapping_add(1);
        let n = next_chunk.wrapping_sub(chunk).wrapping_mul(samples);
        if start_sample > n {
            let which = if start { "start" } else { "end" };
            return Err(mp4.in_file(&format!("{which} time is out mp4 stsc chunks")));
        }
    }
    entries = entries.wrapping_add(1);
    entry = entry.sub(12).ok_or(Fail::Unchecked)?;
    if samples == 0 {
        return Err(mp4.in_file("zero number of samples"));
    }
    let target_chunk = u64::from(chunk.wrapping_sub(1)) + u64::from(start_sample / samples);
    let chunk_samples = u64::from(start_sample % samples);
    if start {
        data.pos = entry;
        trak.sample_to_chunk_entries = entries as u32;
        trak.start_chunk = target_chunk;
        trak.start_chunk_samples = chunk_samples;
        mp4.mem.set32(entry, trak.start_chunk + 1)?;
        samples = samples.wrapping_sub(chunk_samples as u32);
    } else {
        if start_sample != 0 {
            data.last = entry.add(12);
            trak.sample_to_chunk_entries = trak
                .sample_to_chunk_entries
                .wrapping_sub((entries as u32).wrapping_sub(1));
            trak.end_chunk_samples = u64::from(samples);
        } else {
            data.last = entry;
            trak.sample_to_chunk_entries =
                trak.sample_to_chunk_entries.wrapping_sub(entries as u32);
            trak.end_chunk_samples = u64::from(prev_samples);
        }
        if chunk_samples != 0 {
            trak.end_chunk = target_chunk + 1;
            trak.end_chunk_samples = chunk_samples;
        } else {
            trak.end_chunk = target_chunk;
        }
        samples = chunk_samples as u32;
        next_chunk = chunk.wrapping_add(1);
    }
    trak.out[slot::STSC_DATA] = Some(data);
    if chunk_samples != 0 && u64::from(next_chunk).wrapping_sub(target_chunk) == 2 {
        mp4.mem.set32(entry.add(4), u64::from(samples))?;
    } else if chunk_samples != 0 && start {
        trak.out[slot::STSC_START] = Some(stsc_entry(mp4, 1, samples, id));
        mp4.mem.set32(entry, trak.start_chunk + 2)?;
        trak.sample_to_chunk_entries = trak.sample_to_chunk_entries.wrapping_add(1);
    } else if chunk_samples != 0 {
        let chunk = trak.end_chunk.wrapping_sub(trak.start_chunk);
        trak.out[slot::STSC_END] = Some(stsc_entry(mp4, chunk, samples, id));
        trak.sample_to_chunk_entries = trak.sample_to_chunk_entries.wrapping_add(1);
    }
    Ok(())
}

fn update_stsz<S: Source + ?Sized>(mp4: &mut Movie<'_, S>, trak: &mut Trak) -> Result<(), Fail> {
    let Some(mut data) = trak.out[slot::STSZ_DATA] else {
        return Ok(());
    };
    let mut entries = trak.sample_sizes_entries;
    if trak.start_sample > u64::from(entries) {
        return Err(mp4.in_file("start time is out mp4 stsz samples"));
    }
    entries -= trak.start_sample as u32;
    data.pos = data.pos.add(trak.start_sample * 4);
    trak.start_chunk_samples_size = sum_before(mp4, data.pos, trak.start_chunk_samples)?;
    if trak.start_chunk_samples_size > mp4.end as u64 {
        return Err(mp4.in_file("too large mp4 start samples size"));
    }
    if mp4.length != 0 {
        if trak.end_sample - trak.start_sample > u64::from(entries) {
            return Err(mp4.in_file("end time is out mp4 stsz samples"));
        }
        entries = (trak.end_sample - trak.start_sample) as u32;
        data.last = data.pos.add(u64::from(entries) * 4);
        trak.end_chunk_samples_size = sum_before(mp4, data.last, trak.end_chunk_samples)?;
        if trak.end_chunk_samples_size > mp4.end as u64 {
            return Err(mp4.in_file("too large mp4 end samples size"));
        }
    }
    trak.out[slot::STSZ_DATA] = Some(data);
    let atom_size = 20 + data.last.since(data.pos);
    trak.size += atom_size;
    let atom = trak.out[slot::STSZ].ok_or(Fail::Unchecked)?;
    mp4.mem.set32(atom.pos, atom_size)?;
    mp4.mem.set32(atom.pos.add(16), u64::from(entries))?;
    Ok(())
}

/// The sizes of the `n` samples before `end`.
fn sum_before<S: Source + ?Sized>(mp4: &Movie<'_, S>, end: Ptr, n: u64) -> Result<u64, Fail> {
    let mut pos = end.sub(n.wrapping_mul(4)).ok_or(Fail::Unchecked)?;
    let mut sum = 0u64;
    while pos.at < end.at {
        sum += u64::from(mp4.mem.get32(pos)?);
        pos = pos.add(4);
    }
    Ok(sum)
}

/// The chunk-offset table's width: `stco`'s 32 bits or `co64`'s 64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Width {
    Stco,
    Co64,
}

impl Width {
    fn name(self) -> &'static str {
        match self {
            Width::Stco => "stco",
            Width::Co64 => "co64",
        }
    }

    fn bytes(self) -> u64 {
        match self {
            Width::Stco => 4,
            Width::Co64 => 8,
        }
    }

    fn slots(self) -> (usize, usize) {
        match self {
            Width::Stco => (slot::STCO, slot::STCO_DATA),
            Width::Co64 => (slot::CO64, slot::CO64_DATA),
        }
    }

    fn get<S: Source + ?Sized>(self, mp4: &Movie<'_, S>, p: Ptr) -> Result<u64, Fail> {
        Ok(match self {
            Width::Stco => u64::from(mp4.mem.get32(p)?),
            Width::Co64 => mp4.mem.get64(p)?,
        })
    }

    fn set<S: Source + ?Sized>(self, mp4: &mut Movie<'_, S>, p: Ptr, v: u64) -> Result<(), Fail> {
        match self {
            Width::Stco => mp4.mem.set32(p, v)?,
            Width::Co64 => mp4.mem.set64(p, v)?,
        }
        Ok(())
    }

    /// nginx's check of a chunk offset plus the samples before the cut in its chunk.
    fn too_large(self, end: i64, offset: u64, samples_size: u64) -> bool {
        let beyond = offset > (end as u64).wrapping_sub(samples_size);
        match self {
            Width::Stco => beyond || offset + samples_size > u64::from(u32::MAX),
            Width::Co64 => beyond,
        }
    }
}

/// `ngx_http_mp4_update_stco_atom` and `ngx_http_mp4_update_co64_atom`: the chunks from the
/// start chunk (to the end chunk), the first moved to the first sample sent; the file's
/// bytes the trak needs.
fn update_offsets<S: Source + ?Sized>(
    mp4: &mut Movie<'_, S>,
    trak: &mut Trak,
    width: Width,
) -> Result<(), Fail> {
    let name = width.name();
    let (atom_slot, data_slot) = width.slots();
    let Some(mut data) = trak.out[data_slot] else {
        return Err(mp4.in_file(&format!("no mp4 {name} atoms were found")));
    };
    if trak.start_chunk > u64::from(trak.chunks) {
        return Err(mp4.in_file(&format!("start time is out mp4 {name} chunks")));
    }
    data.pos = data.pos.add(trak.start_chunk * width.bytes());
    let chunk_offset = width.get(mp4, data.pos)?;
    let samples_size = trak.start_chunk_samples_size;
    if width.too_large(mp4.end, chunk_offset, samples_size) {
        return Err(mp4.in_file("too large chunk offset"));
    }
    trak.start_offset = (chunk_offset + samples_size) as i64;
    width.set(mp4, data.pos, trak.start_offset as u64)?;
    let entries;
    if mp4.length != 0 {
        if trak.end_chunk > u64::from(trak.chunks) {
            return Err(mp4.in_file(&format!("end time is out mp4 {name} chunks")));
        }
        entries = trak.end_chunk.wrapping_sub(trak.start_chunk);
        data.last = data.pos.add(entries.wrapping_mul(width.bytes()));
        if entries != 0 {
            let last = data.last.sub(width.bytes()).ok_or(Fail::Unchecked)?;
            let chunk_offset = width.get(mp4, last)?;
            let samples_size = trak.end_chunk_samples_size;
            if width.too_large(mp4.end, chunk_offset, samples_size) {
                return Err(mp4.in_file("too large chunk offset"));
            }
            trak.end_offset = (chunk_offset + samples_size) as i64;
        }
    } else {
        entries = u64::from(trak.chunks) - trak.start_chunk;
        trak.end_offset = mp4.mdat.unwrap_or(0);
    }
    if entries == 0 {
        trak.start_offset = mp4.end;
        trak.end_offset = 0;
    }
    trak.out[data_slot] = Some(data);
    let atom_size = 16 + data.last.since(data.pos);
    trak.size += atom_size;
    set_header(mp4, trak.out[atom_slot], atom_size, entries)
}

/// `ngx_http_mp4_adjust_stco_atom` and `..._co64_atom`: each offset moved by what the new
/// head before the data changes (32-bit offsets by a 32-bit amount, as nginx does).
fn adjust<S: Source + ?Sized>(
    mp4: &mut Movie<'_, S>,
    trak: &Trak,
    adjustment: i64,
) -> Result<(), Fail> {
    let width = if trak.out[slot::CO64_DATA].is_some() {
        Width::Co64
    } else {
        Width::Stco
    };
    let data = trak.out[width.slots().1].ok_or(Fail::Unchecked)?;
    let mut entry = data.pos;
    while entry.at < data.last.at {
        let offset = width.get(mp4, entry)?;
        let moved = match width {
            Width::Stco => u64::from((offset as u32).wrapping_add(adjustment as i32 as u32)),
            Width::Co64 => offset.wrapping_add(adjustment as u64),
        };
        width.set(mp4, entry, moved)?;
        entry = entry.add(width.bytes());
    }
    Ok(())
}

/// `ngx_http_mp4_update_mdat_atom`: the header of the data sent, 64-bit when the data
/// needs it.
fn mdat_header(start_offset: i64, end_offset: i64) -> Vec<u8> {
    let atom_data_size = (end_offset - start_offset) as u64;
    let mut header = Vec::with_capacity(16);
    if atom_data_size > 0xffff_ffff - 8 {
        header.extend_from_slice(&1u32.to_be_bytes());
        header.extend_from_slice(b"mdat");
        header.extend_from_slice(&(16 + atom_data_size).to_be_bytes());
    } else {
        header.extend_from_slice(&((8 + atom_data_size) as u32).to_be_bytes());
        header.extend_from_slice(b"mdat");
    }
    header
}
