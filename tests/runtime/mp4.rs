//! `mp4` against nginx, on files ffmpeg makes (skipped without ffmpeg, as nginx's own mp4
//! tests are) and on broken ones written here: the whole file without `?start=`/`?end=`,
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
        location /small/ { mp4; mp4_buffer_size 1k; alias ROOT/www/; }
        location /limited/ { mp4; mp4_buffer_size 1k; mp4_max_buffer_size 2k; alias ROOT/www/; }
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

#[test]
fn mp4_answers_as_nginx() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("mp4");
    let www = base.join("www");
    std::fs::create_dir_all(&www).expect("www");
    if !ffmpeg(&www.join("test.mp4"), false) || !ffmpeg(&www.join("first.mp4"), true) {
        eprintln!("skipped: no ffmpeg with lavfi");
        return;
    }
    std::fs::write(www.join("ok.txt"), "ok\n").expect("file");
    std::fs::write(www.join("bad.mp4"), unhex(BAD)).expect("file");
    let whole = std::fs::read(www.join("test.mp4")).expect("mp4");
    std::fs::write(www.join("cut.mp4"), &whole[..whole.len() - 3000]).expect("file");
    std::fs::write(www.join("junk.mp4"), b"\x00\x00\x00\x05abcdefgh").expect("file");
    std::fs::create_dir_all(www.join("dir.mp4")).expect("dir");
    let get = |target: &str, more: &str| format!("GET {target} HTTP/1.1\r\nHost: a\r\n{more}");
    let mut probes = Vec::new();
    for file in [
        "/test.mp4",
        "/first.mp4",
        "/key/test.mp4",
        "/small/first.mp4",
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
            "?start=x&end=3",
            "?start=3.12345",
            "?start=1.2.3",
        ] {
            probes.push(get(&format!("{file}{args}"), ""));
        }
    }
    for more in [
        "Range: bytes=0-99\r\n",
        "Range: bytes=-10\r\n",
        "Range: bytes=0-1,5-9\r\n",
        "If-None-Match: *\r\n",
    ] {
        probes.push(get("/test.mp4?start=3", more));
        probes.push(get("/test.mp4", more));
    }
    probes.push("HEAD /test.mp4?start=3 HTTP/1.1\r\nHost: a\r\n".to_string());
    probes.push("POST /test.mp4 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n".to_string());
    for target in [
        "/bad.mp4?start=0.5",
        "/bad.mp4",
        "/limited/test.mp4?start=1",
        "/limited/first.mp4",
        "/limited/first.mp4?start=1",
        "/cut.mp4?start=1",
        "/junk.mp4?start=1",
        "/dir.mp4",
        "/missing.mp4?start=1",
        "/err/bad.mp4?start=1",
    ] {
        probes.push(get(target, ""));
    }
    let probes: Vec<Binary> = probes.into_iter().map(Binary).collect();
    let seen = through_both(nginx, CONFIG, &base, &probes);
    assert_same_by(&seen, |i| probes[i].0.clone(), <[String]>::to_vec);
    let answers = &seen[1].0;
    assert!(answers[3].starts_with("HTTP/1.1 200"), "{}", answers[3]);
    let errors = seen[1].2.join("\n");
    for line in [
        "mp4 start time exceeds file duration",
        "too large chunk offset",
        "mp4 moov atom is too large:",
        "mp4 atom too large:",
        "mp4 atom is too small:5",
    ] {
        assert!(errors.contains(line), "{line} in {errors}");
    }
}
