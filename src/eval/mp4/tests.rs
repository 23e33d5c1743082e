//! Cuts of small movies built here: one video track of ten 100 ms samples of 10 bytes, two
//! to a chunk, key frames at samples 1 and 6, its `moov` after or before `mdat`; and the
//! broken files nginx refuses, with its lines.

use super::atoms::{Conf, Fail, Movie};
use super::tables::{Cut, Processed, process};
use super::{asked, atofp};

const CONF: Conf = Conf {
    buffer_size: 512 * 1024,
    max_buffer_size: 10 * 1024 * 1024,
    start_key_frame: false,
};

fn atom(name: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut a = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    a.extend_from_slice(name);
    a.extend_from_slice(body);
    a
}

/// A full box's body: version and flags, then `fields` as 32-bit values.
fn full(fields: &[u32]) -> Vec<u8> {
    let mut b = vec![0; 4];
    for f in fields {
        b.extend_from_slice(&f.to_be_bytes());
    }
    b
}

fn moov(data_at: u32) -> Vec<u8> {
    let mut mvhd = full(&[0, 0, 1000, 1000]);
    mvhd.resize(100, 0);
    let mut tkhd = full(&[0, 0, 1, 0, 1000]);
    tkhd.resize(84, 0);
    let mut mdhd = full(&[0, 0, 1000, 1000]);
    mdhd.resize(24, 0);
    let hdlr = atom(b"hdlr", &full(&[0, u32::from_be_bytes(*b"vide"), 0, 0, 0]));
    let stsd = atom(b"stsd", &full(&[1, 12, u32::from_be_bytes(*b"avc1")]));
    let stts = atom(b"stts", &full(&[1, 10, 100]));
    let stss = atom(b"stss", &full(&[2, 1, 6]));
    let stsc = atom(b"stsc", &full(&[1, 1, 2, 1]));
    let mut sizes = vec![0, 10];
    sizes.extend([10; 10]);
    let stsz = atom(b"stsz", &full(&sizes));
    let mut offsets = vec![5];
    offsets.extend((0..5).map(|k| data_at + 20 * k));
    let stco = atom(b"stco", &full(&offsets));
    let stbl = atom(b"stbl", &[stsd, stts, stss, stsc, stsz, stco].concat());
    let vmhd = atom(b"vmhd", &full(&[0, 0]));
    let dinf = atom(b"dinf", &atom(b"dref", &full(&[0])));
    let minf = atom(b"minf", &[vmhd, dinf, stbl].concat());
    let mdia = atom(b"mdia", &[atom(b"mdhd", &mdhd), hdlr, minf].concat());
    let trak = atom(b"trak", &[atom(b"tkhd", &tkhd), mdia].concat());
    atom(b"moov", &[atom(b"mvhd", &mvhd), trak].concat())
}

fn ftyp() -> Vec<u8> {
    atom(b"ftyp", b"isom\0\0\0\0")
}

fn samples() -> Vec<u8> {
    (0..100u8).map(|i| i / 10).collect()
}

/// `ftyp`, `mdat`, `moov`: the layout a cut rewrites.
fn movie() -> Vec<u8> {
    let head = ftyp().len() as u32 + 8;
    [ftyp(), atom(b"mdat", &samples()), moov(head)].concat()
}

/// `ftyp`, `moov`, `mdat`: the layout a file asked for whole is sent as it is.
fn faststart() -> Vec<u8> {
    let head = (ftyp().len() + moov(0).len()) as u32 + 8;
    [ftyp(), moov(head), atom(b"mdat", &samples())].concat()
}

fn cut(file: &[u8], conf: Conf, start: u64, length: u64) -> Result<Processed, Fail> {
    let mut movie = Movie::new(
        file,
        "/m.mp4".into(),
        conf,
        file.len() as u64,
        start,
        length,
    );
    process(&mut movie)
}

fn cut_of(file: &[u8], conf: Conf, start: u64, length: u64) -> Cut {
    match cut(file, conf, start, length) {
        Ok(Processed::Cut(c)) => c,
        other => panic!("not cut: {other:?}"),
    }
}

/// The body of the first atom named `name` in `bytes`, searched depth-first through the
/// containers a cut writes.
fn find<'a>(bytes: &'a [u8], name: &[u8; 4]) -> Option<&'a [u8]> {
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().ok()?) as usize;
        let body = bytes.get(at + 8..at + size)?;
        if &bytes[at + 4..at + 8] == name {
            return Some(body);
        }
        let container = [&b"moov"[..], b"trak", b"mdia", b"minf", b"stbl", b"edts"];
        if container.contains(&&bytes[at + 4..at + 8])
            && let Some(found) = find(body, name)
        {
            return Some(found);
        }
        at += size;
    }
    None
}

fn words(body: &[u8]) -> Vec<u32> {
    body[4..]
        .chunks(4)
        .map(|w| u32::from_be_bytes(w.try_into().unwrap_or_default()))
        .collect()
}

fn message(fail: Fail) -> String {
    match fail {
        Fail::Logged(line) => line.message,
        Fail::Unchecked => "unchecked".into(),
    }
}

#[test]
fn start_and_end_are_read_as_nginx_reads_them() {
    assert_eq!(atofp(b"7.1", 3), Some(7100));
    assert_eq!(atofp(b"2", 3), Some(2000));
    assert_eq!(atofp(b"3.123456", 3), Some(3123));
    assert_eq!(atofp(b".5", 3), Some(500));
    assert_eq!(atofp(b"1.2.3", 3), None);
    assert_eq!(atofp(b"", 3), None);
    assert_eq!(atofp(b"-1", 3), None);
    assert_eq!(atofp(b"99999999999999999999", 3), None);
    assert_eq!(asked(b""), None);
    assert_eq!(asked(b"a=1"), None);
    assert_eq!(asked(b"start=2"), Some((2000, 0)));
    assert_eq!(asked(b"start=2&end=5.5"), Some((2000, 3500)));
    assert_eq!(asked(b"end=3"), Some((0, 3000)));
    assert_eq!(asked(b"start=x&end=3"), Some((0, 3000)));
    assert_eq!(asked(b"start=4&end=3"), Some((4000, 0)));
    assert_eq!(asked(b"end=0"), None);
}

#[test]
fn a_cut_starts_at_the_sample_of_its_start() {
    let file = movie();
    let c = cut_of(&file, CONF, 500, 0);
    // Sample 6 (index 5) starts 5 samples of 10 bytes into the data, at 24 + 50.
    assert_eq!((c.data_start, c.data_end), (74, 124));
    let moov = find(&c.head, b"moov").expect("moov");
    assert_eq!(words(find(moov, b"stts").expect("stts")), [1, 5, 100]);
    // The start chunk keeps one sample: nginx's own first entry, then the rest.
    assert_eq!(
        words(find(moov, b"stsc").expect("stsc")),
        [2, 1, 1, 1, 2, 2, 1]
    );
    assert_eq!(words(find(moov, b"stss").expect("stss")), [1, 1]);
    let stsz = words(find(moov, b"stsz").expect("stsz"));
    assert_eq!(&stsz[..2], [0, 5]);
    // The first chunk's offset is where the data now starts: right after the head.
    let stco = words(find(moov, b"stco").expect("stco"));
    let head = c.head.len() as u32;
    assert_eq!(stco, [3, head, head + 10, head + 30]);
    assert_eq!(
        &c.head[c.head.len() - 8..],
        [&58u32.to_be_bytes()[..], b"mdat"].concat()
    );
    let mut mvhd = find(moov, b"mvhd").expect("mvhd").to_vec();
    mvhd.truncate(20);
    assert_eq!(words(&mvhd)[3], 500);
}

#[test]
fn an_end_cuts_the_tables_too() {
    let c = cut_of(&movie(), CONF, 200, 500);
    // Samples 3 to 7 (indexes 2 to 6): bytes 44 to 94.
    assert_eq!((c.data_start, c.data_end), (44, 94));
    let moov = find(&c.head, b"moov").expect("moov");
    assert_eq!(words(find(moov, b"stts").expect("stts")), [1, 5, 100]);
    assert_eq!(words(find(moov, b"stsz").expect("stsz"))[1], 5);
    assert_eq!(words(find(moov, b"stss").expect("stss")), [1, 4]);
    let head = c.head.len() as u32;
    assert_eq!(
        words(find(moov, b"stco").expect("stco")),
        [3, head, head + 20, head + 40]
    );
}

#[test]
fn a_key_frame_start_adds_an_edit_list() {
    let conf = Conf {
        start_key_frame: true,
        ..CONF
    };
    let c = cut_of(&movie(), conf, 700, 0);
    // Sample 8 is asked for; the cut starts at the key frame, sample 6, 200 ms before.
    assert_eq!(c.data_start, 74);
    let moov = find(&c.head, b"moov").expect("moov");
    let elst = find(moov, b"elst").expect("elst");
    assert_eq!(&elst[..8], [1, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(&elst[16..24], 200u64.to_be_bytes());
    assert_eq!(words(find(moov, b"stts").expect("stts")), [1, 5, 100]);
}

#[test]
fn a_movie_with_its_moov_first_is_sent_whole_when_all_of_it_is_asked_for() {
    assert_eq!(cut(&faststart(), CONF, 0, 0).ok(), Some(Processed::Whole));
    let c = cut_of(&faststart(), CONF, 500, 0);
    let data_at = (ftyp().len() + moov(0).len() + 8) as u64;
    assert_eq!(c.data_start, data_at + 50);
    // The same cut as of the other layout, but for where the data was.
    let other = cut_of(&movie(), CONF, 500, 0);
    assert_eq!(c.head, other.head);
}

#[test]
fn small_buffers_read_the_same_cut() {
    let conf = Conf {
        buffer_size: 16,
        ..CONF
    };
    assert_eq!(
        cut_of(&movie(), conf, 500, 0),
        cut_of(&movie(), CONF, 500, 0)
    );
    assert_eq!(
        cut_of(&faststart(), conf, 300, 200),
        cut_of(&faststart(), CONF, 300, 200)
    );
}

#[test]
fn broken_files_fail_with_nginx_lines() {
    let fails = |file: &[u8], conf: Conf, start: u64| match cut(file, conf, start, 0) {
        Err(fail) => message(fail),
        Ok(other) => panic!("not refused: {other:?}"),
    };
    assert_eq!(
        fails(&movie(), CONF, 1500),
        "\"/m.mp4\" mp4 start time exceeds file duration"
    );
    let limited = Conf {
        buffer_size: 64,
        max_buffer_size: 128,
        ..CONF
    };
    let moov_size = moov(0).len() - 8;
    assert_eq!(
        fails(&movie(), limited, 100),
        format!(
            "\"/m.mp4\" mp4 moov atom is too large:{moov_size}, you may want to increase mp4_max_buffer_size"
        )
    );
    let file = movie();
    assert_eq!(
        fails(&file[..file.len() - 3], CONF, 100),
        format!("\"/m.mp4\" mp4 atom too large:{}", moov_size + 8)
    );
    assert_eq!(
        fails(&file[..file.len() - moov_size - 5], CONF, 100),
        "\"/m.mp4\" mp4 file truncated"
    );
    assert_eq!(
        fails(b"\0\0\0\x05abcd", CONF, 100),
        "\"/m.mp4\" mp4 atom is too small:5"
    );
    let cmov = [ftyp(), atom(b"moov", &atom(b"cmov", b""))].concat();
    assert_eq!(
        fails(&cmov, CONF, 100),
        "\"/m.mp4\" mp4 compressed moov atom (cmov) is not supported"
    );
    assert_eq!(
        fails(&ftyp(), CONF, 100),
        "no mp4 trak atoms were found in \"/m.mp4\""
    );
    let twice = [ftyp(), ftyp()].concat();
    assert_eq!(
        fails(&twice, CONF, 100),
        "duplicate mp4 ftyp atom in \"/m.mp4\""
    );
    let no_mdat = [ftyp(), moov(0)].concat();
    assert_eq!(
        fails(&no_mdat, CONF, 100),
        "no mp4 mdat atom was found in \"/m.mp4\""
    );
}
