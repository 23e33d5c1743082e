//! The userid filter (`ngx_http_userid_filter_module`): the visitor's identifier read from
//! its cookie (`$uid_got`), and for `userid on` or `v1` one made for a visitor without it
//! (or whose `$uid_reset` asks for a new one, or whose cookie lacks the `userid_mark`),
//! sent as a `Set-Cookie` after `add_header`'s lines (`$uid_set`). An identifier is four
//! 32-bit words in the host's byte order, the cookie their 16 bytes in base64.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;

use super::plan::ErrorLine;
use crate::config::listen::ListenAddr;
use crate::config::userid::{Enable, MAX_EXPIRES, Userid};

/// A level's compiled userid settings.
#[derive(Debug, Clone)]
pub struct CUserid {
    pub enable: Enable,
    service: Option<u32>,
    name: Vec<u8>,
    domain: Vec<u8>,
    path: Vec<u8>,
    p3p: Vec<u8>,
    expires: i64,
    flags: u32,
    mark: u8,
    /// `$uid_reset` as the configuration defines it (a `map` may).
    pub reset: super::vars::Var,
}

/// What one request learned of its identifier (nginx's module context).
#[derive(Debug, Clone, Default)]
pub struct UidState {
    /// The cookie's value as sent.
    cookie: Vec<u8>,
    /// The identifier it carried (zeros when none, or it was not valid).
    got: [u8; 16],
    /// The identifier to set (zeros: none).
    set: [u8; 16],
    /// The identifier is set anew although one came (`$uid_reset`).
    reset: bool,
}

/// The process's part of new identifiers: the start's microseconds and the pid
/// (`ngx_http_userid_init_worker`).
static START_VALUE: LazyLock<u32> = LazyLock::new(|| {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros());
    ((micros / 20) << 16) | std::process::id()
});
static SEQUENCER_V1: AtomicU32 = AtomicU32::new(1);
static SEQUENCER_V2: AtomicU32 = AtomicU32::new(0x0303_0302);

impl CUserid {
    pub fn compile(u: &Userid, reg: &super::vars::Registry) -> CUserid {
        CUserid {
            enable: u.enable.unwrap_or(Enable::Off),
            service: u.service.and_then(|s| u32::try_from(s).ok()),
            name: u.name.as_deref().unwrap_or("uid").as_bytes().to_vec(),
            domain: u.domain.as_deref().unwrap_or("").as_bytes().to_vec(),
            path: u.path.as_deref().unwrap_or("; path=/").as_bytes().to_vec(),
            p3p: u.p3p.as_deref().unwrap_or("").as_bytes().to_vec(),
            expires: u.expires.unwrap_or(0),
            flags: u.flags.unwrap_or(0),
            mark: u.mark.unwrap_or(0),
            reset: reg
                .resolve("uid_reset")
                .unwrap_or(super::vars::Var::UidReset),
        }
    }

    /// `ngx_http_userid_get_uid`: reads the cookie named here from the request's `Cookie`
    /// lines; a value too short or not base64 is logged and ignored.
    pub fn read(&self, headers: &[(Bytes, Bytes)], errors: &mut Vec<ErrorLine>) -> UidState {
        let mut state = UidState::default();
        let found = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"cookie"))
            .find_map(|(_, line)| {
                let one = [(Bytes::from_static(b"Cookie"), line.clone())];
                super::headers::cookie(&one, &self.name).map(|v| (v, line))
            });
        let Some((cookie, line)) = found else {
            return state;
        };
        let shown = String::from_utf8_lossy(line);
        if cookie.len() < 22 {
            errors.push(ErrorLine::error(format!(
                "client sent too short userid cookie \"{shown}\""
            )));
        } else if let Some(got) = decode_base64(&cookie[..22]) {
            state.got[..got.len()].copy_from_slice(&got);
        } else {
            errors.push(ErrorLine::error(format!(
                "client sent invalid userid cookie \"{shown}\""
            )));
        }
        state.cookie = cookie;
        state
    }

    /// `ngx_http_userid_create_uid`: decides the identifier to set, once; `reset` is
    /// `$uid_reset`'s value, read only when a cookie came.
    pub fn create(
        &self,
        state: &mut UidState,
        reset: impl FnOnce() -> Vec<u8>,
        local: &ListenAddr,
        errors: &mut Vec<ErrorLine>,
    ) {
        if word(&state.set, 3) != 0 {
            return;
        }
        if word(&state.got, 3) != 0 {
            let reset = reset();
            if reset.is_empty() || reset == b"0" {
                let c = &state.cookie;
                let marked = c.len() > 23 && c[22] == self.mark && c[23] == b'=';
                if self.mark != 0 && !marked {
                    state.set = state.got;
                }
                return;
            }
            state.reset = true;
            if reset == b"log" {
                let name = String::from_utf8_lossy(&self.name);
                errors.push(ErrorLine::at(
                    super::plan::Severity::Notice,
                    format!("userid cookie \"{name}={}\" was reset", hex(&state.got)),
                ));
            }
        }
        let now = u32::try_from(super::clock::now_secs()).unwrap_or(u32::MAX);
        let words: [[u8; 4]; 4] = if self.enable == Enable::V1 {
            let seq = SEQUENCER_V1.fetch_add(0x100, Ordering::Relaxed);
            [
                self.service.unwrap_or(0).to_le_bytes(),
                now.to_le_bytes(),
                START_VALUE.to_le_bytes(),
                seq.to_le_bytes(),
            ]
        } else {
            let seq = SEQUENCER_V2
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                    Some(s.wrapping_add(0x100).max(0x0303_0302))
                })
                .unwrap_or(0x0303_0302);
            let first = match (self.service, local) {
                (Some(s), _) => s.to_be_bytes(),
                (None, ListenAddr::Inet(a)) => match a.ip() {
                    std::net::IpAddr::V4(ip) => ip.octets(),
                    std::net::IpAddr::V6(ip) => {
                        let o = ip.octets();
                        [o[12], o[13], o[14], o[15]]
                    }
                },
                (None, ListenAddr::Unix(_)) => [0; 4],
            };
            [
                first,
                now.to_be_bytes(),
                START_VALUE.to_be_bytes(),
                seq.to_be_bytes(),
            ]
        };
        for (i, w) in words.iter().enumerate() {
            state.set[i * 4..i * 4 + 4].copy_from_slice(w);
        }
    }

    /// `$uid_got` and `$uid_set`: `NAME=` and the four words in hex; `None` for zeros.
    pub fn shown(&self, uid: &[u8; 16]) -> Option<Vec<u8>> {
        (word(uid, 3) != 0).then(|| [&self.name[..], b"=", hex(uid).as_bytes()].concat())
    }

    /// `ngx_http_userid_set_uid`: the `Set-Cookie` (and `P3P`) lines for the identifier
    /// decided, none when there is none to set.
    pub fn lines(&self, state: &UidState, now: i64) -> Vec<(Bytes, Bytes)> {
        if word(&state.set, 3) == 0 {
            return Vec::new();
        }
        let mut cookie = self.name.clone();
        cookie.push(b'=');
        if word(&state.got, 3) == 0 || state.reset {
            let mut encoded = encode_base64(&state.set);
            if self.mark != 0 {
                let at = encoded.len() - 2;
                encoded[at] = self.mark;
            }
            cookie.extend_from_slice(&encoded);
        } else {
            cookie.extend_from_slice(&state.cookie[..22]);
            cookie.extend_from_slice(&[self.mark, b'=']);
        }
        if self.expires == MAX_EXPIRES {
            cookie.extend_from_slice(b"; expires=Thu, 31-Dec-37 23:55:55 GMT");
        } else if self.expires != 0 {
            cookie.extend_from_slice(b"; expires=");
            let at = now.saturating_add(self.expires);
            cookie.extend_from_slice(super::clock::cookie_time(at).as_bytes());
        }
        cookie.extend_from_slice(&self.domain);
        cookie.extend_from_slice(&self.path);
        for (bit, text) in [
            (0x04, "; secure"),
            (0x08, "; httponly"),
            (0x20, "; samesite=strict"),
            (0x40, "; samesite=lax"),
            (0x80, "; samesite=none"),
        ] {
            if self.flags & bit != 0 {
                cookie.extend_from_slice(text.as_bytes());
            }
        }
        let mut lines = vec![(Bytes::from_static(b"Set-Cookie"), Bytes::from(cookie))];
        if !self.p3p.is_empty() {
            lines.push((Bytes::from_static(b"P3P"), Bytes::from(self.p3p.clone())));
        }
        lines
    }
}

impl UidState {
    pub fn got(&self) -> &[u8; 16] {
        &self.got
    }

    pub fn set(&self) -> &[u8; 16] {
        &self.set
    }
}

/// Word `i` of an identifier, as nginx reads it from memory (little-endian here).
fn word(uid: &[u8; 16], i: usize) -> u32 {
    u32::from_le_bytes([uid[i * 4], uid[i * 4 + 1], uid[i * 4 + 2], uid[i * 4 + 3]])
}

/// `%08XD%08XD%08XD%08XD` of the four words.
fn hex(uid: &[u8; 16]) -> String {
    (0..4).map(|i| format!("{:08X}", word(uid, i))).collect()
}

/// `ngx_encode_base64`, padded.
fn encode_base64(bytes: &[u8]) -> Vec<u8> {
    use base64ct::Encoding as _;
    base64ct::Base64::encode_string(bytes).into_bytes()
}

/// `ngx_decode_base64` of the cookie's first 22 characters: 16 bytes at most.
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = super::base64::decode(text, super::base64::Alphabet::Standard)?;
    bytes.truncate(16);
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(mark: u8) -> CUserid {
        let userid = Userid {
            enable: Some(Enable::On),
            mark: Some(mark),
            ..Userid::default()
        };
        CUserid::compile(&userid, &Default::default())
    }

    fn with_cookie(c: &CUserid, value: &str) -> UidState {
        let headers = [(
            Bytes::from_static(b"Cookie"),
            Bytes::from(format!("a=b; uid={value}")),
        )];
        c.read(&headers, &mut Vec::new())
    }

    #[test]
    fn a_cookie_is_four_words_in_memory_order() {
        let c = conf(0);
        let state = with_cookie(&c, "CgAAAWdDnr4ZqYhxAwMDAg==");
        assert_eq!(
            c.shown(state.got()).as_deref(),
            Some(&b"uid=0100000ABE9E43677188A91902030303"[..])
        );
        let mut errors = Vec::new();
        let short = conf(0).read(
            &[(
                Bytes::from_static(b"Cookie"),
                Bytes::from_static(b"uid=abc"),
            )],
            &mut errors,
        );
        assert_eq!(c.shown(short.got()), None);
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn marks_and_resets() {
        let local = ListenAddr::Inet("127.0.0.1:80".parse().unwrap());
        let c = conf(b'x');
        let mut state = with_cookie(&c, "CgAAAWdDnr4ZqYhxAwMDAg==");
        c.create(&mut state, Vec::new, &local, &mut Vec::new());
        let lines = c.lines(&state, 0);
        assert_eq!(&lines[0].1[..], b"uid=CgAAAWdDnr4ZqYhxAwMDAgx=; path=/");
        let mut marked = with_cookie(&c, "CgAAAWdDnr4ZqYhxAwMDAgx=");
        c.create(&mut marked, Vec::new, &local, &mut Vec::new());
        assert!(c.lines(&marked, 0).is_empty());
        let mut reset = with_cookie(&c, "CgAAAWdDnr4ZqYhxAwMDAgx=");
        let mut errors = Vec::new();
        c.create(&mut reset, || b"log".to_vec(), &local, &mut errors);
        assert_eq!(errors.len(), 1);
        let set = c.lines(&reset, 0);
        let value = String::from_utf8_lossy(&set[0].1).into_owned();
        assert!(
            value.starts_with("uid=fwAAA") && value.ends_with("x=; path=/"),
            "{value}"
        );
    }

    #[test]
    fn base64_both_ways() {
        assert_eq!(encode_base64(b"ab"), b"YWI=");
        assert_eq!(
            decode_base64(b"CgAAAWdDnr4ZqYhxAwMDAg").map(|b| b.len()),
            Some(16)
        );
        assert_eq!(
            super::super::clock::cookie_time(0),
            "Thu, 01-Jan-1970 00:00:00 GMT"
        );
    }
}
