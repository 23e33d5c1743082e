//! `mp4` against nginx, on small movies and broken files written here, and on files ffmpeg
//! makes (that test skipped without ffmpeg, as nginx's own mp4 tests are): the whole file without `?start=`/`?end=`,
//! cuts by start, end and both (integers, decimals, a zero or negative range, times past a
//! track's or the file's end) of a file whose `moov` comes after `mdat` and of one whose
//! `moov` comes first, with `mp4_start_key_frame`, a small `mp4_buffer_size`, the
//! `mp4_max_buffer_size` refusal, ranges of a cut (one only), HEAD, 405, and the broken
//! files' 500s with nginx's error-log lines. Bodies are compared byte for byte.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{nginx, temp_dir};
use crate::files::{Probe, assert_same_by, exchange, through_both};

const CONFIG: &str = r#"
error_log logs/error.log;
events {}
http {
    log_format t '$remote_addr "$request" $status $body_bytes_sent';
    access_log logs/access.log t;
    root ROOT/www;
    server {
        listen 127.0.0.1:PORT;
        location / { mp4; }
        location /key/ { mp4; mp4_start_key_frame on; alias ROOT/www/; }
        location /small/ { mp4; mp4_buffer_size 64; alias ROOT/www/; }
        location /limited/ { mp4; mp4_buffer_size 64; mp4_max_buffer_size 128; alias ROOT/www/; }
        location /err/ { mp4; error_page 500 =200 /ok.txt; alias ROOT/www/; }
    }
}
"#;

/// A request whose answer's body is shown as its length, its first bytes and a hash of
/// each kilobyte, so that two binary bodies compare exactly and a difference shows where.
struct Binary(String);

impl Probe for Binary {
    fn send(&self, _prefix: &Path, port: u16) -> Vec<u8> {
        let answer = exchange(port, &self.0);
        let Some(at) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
            return answer;
        };
        let (head, body) = answer.split_at(at + 4);
        let mut shown = head.to_vec();
        let first: String = body.iter().take(64).map(|b| format!("{b:02x}")).collect();
        shown.extend_from_slice(format!("<{} bytes> {first}", body.len()).as_bytes());
        for block in body.chunks(1024) {
            let hash = block.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
            });
            shown.extend_from_slice(format!(" {hash:016x}").as_bytes());
        }
        shown
    }
}

fn ffmpeg(out: &Path, faststart: bool) -> bool {
    let mut args = vec![
        "-nostdin",
        "-loglevel",
        "quiet",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=10:size=160x100:rate=15",
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=20:size=160x100:rate=15",
        "-map",
        "0:0",
        "-map",
        "1:0",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "15",
        "-c:v",
        "h264",
        "-bf",
        "2",
    ];
    if faststart {
        args.extend(["-movflags", "+faststart"]);
    }
    let out = out.to_string_lossy().into_owned();
    args.push(&out);
    Command::new("ffmpeg")
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// nginx's own `bad.mp4` (mp4.t): a `co64` chunk offset past the file's end.
const BAD: &str = "\
0000001c6674797069736f6d0000020069736f6d69736f326d70343100000009\
6d64617400000000946d6f6f760000008c7472616b000000846d646961000000\
7c6d696e66000000747374626c00000018737474730000000000000001000003\
3a0000040000000028737473630000000000000002000000010000030f000000\
01000000020000002b00000001000000147374737a00000000000005a9000003\
3b00000018636f36340000000000000001fffffffff00ffbe7";

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap_or("00"), 16).unwrap_or(0))
        .collect()
}

/// A movie `src/eval/mp4/tests.rs` builds (its `movie()`): one track of ten 100 ms
/// samples, key frames at 1 and 6, `moov` after `mdat`.
const MOVIE: &str = "\
000000106674797069736f6d000000000000006c6d646174000000000000000000000101010101010101010102020202\
020202020202030303030303030303030404040404040404040405050505050505050505060606060606060606060707\
07070707070707070808080808080808080809090909090909090909000002206d6f6f760000006c6d76686400000000\
0000000000000000000003e8000003e80000000000000000000000000000000000000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
000001ac7472616b0000005c746b68640000000000000000000000000000000100000000000003e80000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
00000000000001486d646961000000206d646864000000000000000000000000000003e8000003e80000000000000020\
68646c72000000000000000076696465000000000000000000000000000001006d696e6600000014766d686400000000\
00000000000000000000001864696e6600000010647265660000000000000000000000cc7374626c0000001873747364\
00000000000000010000000c61766331000000187374747300000000000000010000000a000000640000001873747373\
000000000000000200000001000000060000001c7374736300000000000000010000000100000002000000010000003c\
7374737a00000000000000000000000a0000000a0000000a0000000a0000000a0000000a0000000a0000000a0000000a\
0000000a0000000a000000247374636f0000000000000005000000180000002c000000400000005400000068";

/// The same movie with its `moov` first (`faststart()` there).
const FASTSTART: &str = "\
000000106674797069736f6d00000000000002206d6f6f760000006c6d766864000000000000000000000000000003e8\
000003e80000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000000001ac7472616b0000005c\
746b68640000000000000000000000000000000100000000000003e80000000000000000000000000000000000000000\
00000000000000000000000000000000000000000000000000000000000000000000000000000000000001486d646961\
000000206d646864000000000000000000000000000003e8000003e8000000000000002068646c720000000000000000\
76696465000000000000000000000000000001006d696e6600000014766d686400000000000000000000000000000018\
64696e6600000010647265660000000000000000000000cc7374626c000000187374736400000000000000010000000c\
61766331000000187374747300000000000000010000000a000000640000001873747373000000000000000200000001\
000000060000001c7374736300000000000000010000000100000002000000010000003c7374737a0000000000000000\
0000000a0000000a0000000a0000000a0000000a0000000a0000000a0000000a0000000a0000000a0000000a00000024\
7374636f0000000000000005000002380000024c0000026000000274000002880000006c6d6461740000000000000000\
000001010101010101010101020202020202020202020303030303030303030304040404040404040404050505050505\
0505050506060606060606060606070707070707070707070808080808080808080809090909090909090909";

/// The cuts asked of each built file (nginx's mp4.t's, in tenths).
const CUTS: [&str; 17] = [
    "",
    "?start=0.0",
    "?start=0.2",
    "?start=0.71",
    "?start=0.3&end=0.9",
    "?start=0.27&end=0.56",
    "?end=0.9",
    "?end=0.56",
    "?start=0.1&end=0.1",
    "?start=0.1&end=0",
    "?end=1.1",
    "?end=2.1",
    "?start=1",
    "?start=2.1",
    "?start=x&end=0.3",
    "?start=0.312345",
    "?start=1.2.3",
];

fn get(target: &str, more: &str) -> Binary {
    Binary(format!("GET {target} HTTP/1.1\r\nHost: a\r\n{more}"))
}

/// Runs `probes` through nginx and ngxr on the files in `base/www`; the error-log lines.
fn compare(nginx: &str, base: &Path, probes: &[Binary]) -> String {
    std::fs::write(base.join("www/ok.txt"), "ok\n").expect("file");
    let seen = through_both(nginx, CONFIG, base, probes);
    assert_same_by(&seen, |i| probes[i].0.clone(), <[String]>::to_vec);
    seen[1].2.join("\n")
}

#[test]
fn mp4_cuts_built_movies_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("mp4-built");
    let www = base.join("www");
    std::fs::create_dir_all(www.join("dir.mp4")).expect("www");
    let movie = unhex(MOVIE);
    std::fs::write(www.join("m.mp4"), &movie).expect("file");
    std::fs::write(www.join("first.mp4"), unhex(FASTSTART)).expect("file");
    std::fs::write(www.join("cut.mp4"), &movie[..movie.len() - 3]).expect("file");
    std::fs::write(www.join("short.mp4"), &movie[..130]).expect("file");
    std::fs::write(www.join("bad.mp4"), unhex(BAD)).expect("file");
    std::fs::write(www.join("junk.mp4"), b"\x00\x00\x00\x05abcdefgh").expect("file");
    let mut probes = Vec::new();
    for file in [
        "/m.mp4",
        "/first.mp4",
        "/key/m.mp4",
        "/small/m.mp4",
        "/small/first.mp4",
    ] {
        for args in CUTS {
            probes.push(get(&format!("{file}{args}"), ""));
        }
    }
    for more in [
        "Range: bytes=0-99\r\n",
        "Range: bytes=-10\r\n",
        "Range: bytes=0-1,5-9\r\n",
    ] {
        probes.push(get("/m.mp4?start=0.3", more));
        probes.push(get("/m.mp4", more));
    }
    probes.push(get("/m.mp4?start=0.3", "If-None-Match: *\r\n"));
    probes.push(Binary(
        "HEAD /m.mp4?start=0.3 HTTP/1.1\r\nHost: a\r\n".into(),
    ));
    probes.push(Binary(
        "POST /m.mp4 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n".into(),
    ));
    for target in [
        "/bad.mp4?start=0.5",
        "/bad.mp4",
        "/limited/m.mp4?start=0.1",
        "/limited/first.mp4",
        "/cut.mp4?start=0.1",
        "/short.mp4?start=0.1",
        "/junk.mp4?start=1",
        "/dir.mp4",
        "/dir.mp4/",
        "/missing.mp4?start=1",
        "/err/bad.mp4?start=1",
    ] {
        probes.push(get(target, ""));
    }
    let errors = compare(nginx, &base, &probes);
    for line in [
        "mp4 start time exceeds file duration",
        "too large chunk offset",
        "mp4 moov atom is too large:",
        "mp4 atom too large:",
        "mp4 file truncated",
        "mp4 atom is too small:5",
    ] {
        assert!(errors.contains(line), "{line} in {errors}");
    }
}

#[test]
fn mp4_cuts_ffmpeg_movies_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("mp4-ffmpeg");
    let www = base.join("www");
    std::fs::create_dir_all(&www).expect("www");
    if !ffmpeg(&www.join("test.mp4"), false) || !ffmpeg(&www.join("first.mp4"), true) {
        eprintln!("skipped: no ffmpeg with lavfi");
        return;
    }
    let mut probes = Vec::new();
    for file in [
        "/test.mp4",
        "/first.mp4",
        "/key/test.mp4",
        "/key/first.mp4",
        "/small/test.mp4",
    ] {
        for args in [
            "",
            "?start=0.0",
            "?start=2",
            "?start=7.1",
            "?start=6&end=9",
            "?start=2.7&end=5.6",
            "?end=9",
            "?end=5.6",
            "?start=1&end=1",
            "?start=1&end=0",
            "?end=11",
            "?end=21",
            "?start=11",
            "?start=21",
        ] {
            probes.push(get(&format!("{file}{args}"), ""));
        }
    }
    probes.push(get("/test.mp4?start=3", "Range: bytes=-10\r\n"));
    probes.push(get("/limited/test.mp4?start=1", ""));
    let errors = compare(nginx, &base, &probes);
    assert!(errors.contains("mp4 moov atom is too large:"), "{errors}");
}
