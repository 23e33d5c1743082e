//! The autoindex module (`ngx_http_autoindex_module`) in its `html` format: for a URI ending
//! in `/` that the index module declined, the directory's listing as nginx writes it —
//! directories first, names byte-sorted, hidden names left out, each name cut to 50
//! characters, its date and its size (exact or scaled). The length is not known before the
//! listing is sent (nginx sends the header first), so it goes chunked.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use bytes::Bytes;
use nix::errno::Errno;

use super::clock;
use super::plan::ErrorLine;
use super::request::Req;
use super::route::Next;
use super::site::CLocation;
use super::static_::Served;
use super::uri;

/// `autoindex on` at a level, with its `autoindex_exact_size` and `autoindex_localtime`.
#[derive(Debug, Clone, Copy)]
pub struct Autoindex {
    pub exact_size: bool,
    /// ngxr's servers keep local time as UTC (as `$time_local` does), so this changes nothing.
    pub localtime: bool,
}

/// `NGX_HTTP_AUTOINDEX_NAME_LEN`: the width of the name column.
const NAME_LEN: usize = 50;

/// One directory entry as nginx keeps it.
struct Entry {
    name: Vec<u8>,
    dir: bool,
    mtime: i64,
    size: u64,
}

/// `ngx_http_autoindex_handler` for GET and HEAD: `None` when autoindex is off here.
pub fn handler(loc: &CLocation, req: &mut Req<'_>, served: &mut Served) -> Option<Next> {
    let autoindex = loc.content.autoindex?;
    if !matches!(req.method, "GET" | "HEAD") {
        return None;
    }
    let mapped = match served.map_root(loc, req) {
        Ok(m) => m,
        Err(next) => return Some(next),
    };
    let mut path = mapped.path;
    if path.len() > 1 {
        path.pop();
    }
    let listing = match super::files::open_dir(&path) {
        Ok(l) => l,
        Err((status, line)) => {
            served.errors.push(line);
            return Some(Next::Special(status, Vec::new()));
        }
    };
    let mut entries = Vec::new();
    for item in listing {
        let Ok(item) = item else { break };
        let name = item.file_name().as_bytes().to_vec();
        if name.first() == Some(&b'.') {
            continue;
        }
        let full = item.path();
        // nginx stats the name (following links), and lstats a dangling or looping link.
        let meta = match std::fs::metadata(&full) {
            Ok(m) => m,
            Err(e)
                if matches!(
                    e.raw_os_error().map(Errno::from_raw),
                    Some(Errno::ENOENT | Errno::ELOOP)
                ) =>
            {
                match std::fs::symlink_metadata(&full) {
                    Ok(m) => m,
                    Err(_) => continue,
                }
            }
            Err(e) => {
                let os = crate::syntax::include::os_error(&e);
                served.errors.push(ErrorLine::crit(format!(
                    "stat() \"{}\" failed ({os})",
                    full.display()
                )));
                continue;
            }
        };
        // nginx drops readdir's type once it stats: a link to a directory is a directory.
        entries.push(Entry {
            name,
            dir: meta.is_dir(),
            mtime: meta.mtime(),
            size: meta.size(),
        });
    }
    entries.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
    let uri = req.target.uri.clone();
    let html_type = Some(Bytes::from_static(b"text/html"));
    Some(super::route::made_answer(
        200,
        (html_type, None),
        None,
        req,
        loc,
        |utf8| html(&uri, &entries, autoindex, utf8),
    ))
}

/// `ngx_http_autoindex_html`; `utf8` when the answer's charset is UTF-8 (names are then cut
/// by characters).
fn html(uri: &[u8], entries: &[Entry], autoindex: Autoindex, utf8: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(256 + entries.len() * 128);
    let title = escape_html(uri);
    b.extend_from_slice(b"<html>\r\n<head><title>Index of ");
    b.extend_from_slice(&title);
    b.extend_from_slice(b"</title></head>\r\n<body>\r\n<h1>Index of ");
    b.extend_from_slice(&title);
    b.extend_from_slice(b"</h1><hr><pre><a href=\"../\">../</a>\r\n");
    for e in entries {
        b.extend_from_slice(b"<a href=\"");
        b.extend_from_slice(&uri::escape_component(&e.name));
        if e.dir {
            b.push(b'/');
        }
        b.extend_from_slice(b"\">");
        let mut len = if utf8 {
            utf8_length(&e.name)
        } else {
            e.name.len()
        };
        let long = len > NAME_LEN;
        let shown = if len != e.name.len() {
            utf8_prefix(&e.name, if long { NAME_LEN - 3 } else { NAME_LEN })
        } else {
            &e.name[..e.name.len().min(if long { NAME_LEN - 3 } else { NAME_LEN })]
        };
        b.extend_from_slice(&escape_html(shown));
        if long {
            b.extend_from_slice(b"..&gt;</a>");
        } else {
            if e.dir && len < NAME_LEN {
                b.push(b'/');
                len += 1;
            }
            b.extend_from_slice(b"</a>");
            b.resize(b.len() + (NAME_LEN - len), b' ');
        }
        b.push(b' ');
        b.extend_from_slice(clock::autoindex(e.mtime).as_bytes());
        b.push(b' ');
        b.extend_from_slice(size_column(e, autoindex.exact_size).as_bytes());
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(b"</pre><hr></body>\r\n</html>\r\n");
    b
}

/// The size column: 19 wide exact, or 7 wide scaled to K, M or G with nginx's rounding.
fn size_column(e: &Entry, exact: bool) -> String {
    if exact {
        return if e.dir {
            format!("{:>19}", "-")
        } else {
            format!("{:>19}", e.size)
        };
    }
    if e.dir {
        return format!("{:>7}", "-");
    }
    const K: u64 = 1024;
    let n = e.size;
    let scaled = |unit: u64| n / unit + u64::from(n % unit > unit / 2 - 1);
    if n > K * K * K - 1 {
        format!("{:>6}G", scaled(K * K * K))
    } else if n > K * K - 1 {
        format!("{:>6}M", scaled(K * K))
    } else if n > 9999 {
        format!("{:>6}K", scaled(K))
    } else {
        format!(" {n:>6}")
    }
}

/// `ngx_escape_html`: `<`, `>`, `&` and `"` as entities.
fn escape_html(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &c in text {
        match c {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// `ngx_utf8_decode`: the length of the sequence at the start of `p` (its first byte not
/// ASCII), or `None` where nginx finds it invalid. Its checks are nginx's: continuation
/// bytes need only the high bit, and a value must be above the range of a shorter form.
fn utf8_decode(p: &[u8]) -> Option<usize> {
    let u = u32::from(*p.first()?);
    let (mut u, valid, len) = match u {
        0xf0.. => (u & 0x07, 0xffff, 3),
        0xe0.. => (u & 0x0f, 0x7ff, 2),
        0xc2.. => (u & 0x1f, 0x7f, 1),
        _ => return None,
    };
    let rest = p.get(1..=len)?;
    for &i in rest {
        if i < 0x80 {
            return None;
        }
        u = (u << 6) | u32::from(i & 0x3f);
    }
    (u > valid && u <= 0x10ffff).then_some(len + 1)
}

/// `ngx_utf8_length`: characters in `name`, or its byte length when it is not valid UTF-8.
fn utf8_length(name: &[u8]) -> usize {
    let (mut at, mut chars) = (0, 0);
    while at < name.len() {
        if name[at] < 0x80 {
            at += 1;
        } else {
            match utf8_decode(&name[at..]) {
                Some(n) => at += n,
                None => return name.len(),
            }
        }
        chars += 1;
    }
    chars
}

/// `ngx_utf8_cpystrn`: at most `chars` characters of `name`, stopping at invalid UTF-8.
fn utf8_prefix(name: &[u8], chars: usize) -> &[u8] {
    let mut at = 0;
    for _ in 0..chars {
        match name.get(at) {
            None => break,
            Some(&c) if c < 0x80 => at += 1,
            Some(_) => match utf8_decode(&name[at..]) {
                Some(n) => at += n,
                None => break,
            },
        }
    }
    &name[..at]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, dir: bool, size: u64) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            dir,
            mtime: 1_700_000_000,
            size,
        }
    }

    #[test]
    fn scales_sizes_as_nginx_rounds() {
        let at = |size| size_column(&entry("f", false, size), false);
        assert_eq!(at(9999), "   9999");
        assert_eq!(at(10000), "    10K");
        assert_eq!(at(10 * 1024 + 511), "    10K");
        assert_eq!(at(10 * 1024 + 512), "    11K");
        assert_eq!(at(1024 * 1024), "     1M");
        assert_eq!(at(3 * 1024 * 1024 * 1024 / 2), "     2G");
        assert_eq!(size_column(&entry("d", true, 0), false), "      -");
        assert_eq!(size_column(&entry("f", false, 42), true).len(), 19);
    }

    #[test]
    fn cuts_long_names_and_pads_short_ones() {
        let long = "a".repeat(60);
        let out = html(
            b"/d/",
            &[entry("sub", true, 0), entry(&long, false, 1)],
            Autoindex {
                exact_size: true,
                localtime: false,
            },
            false,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(&format!(
            "<a href=\"sub/\">sub/</a>{} 14-Nov-2023 22:13 ",
            " ".repeat(46)
        )));
        assert!(text.contains(&format!(">{}..&gt;</a> 14-Nov-2023", "a".repeat(47))));
    }

    #[test]
    fn counts_utf8_characters_as_nginx() {
        assert_eq!(utf8_length("héllo".as_bytes()), 5);
        assert_eq!(utf8_length(b"h\xffllo"), 5);
        assert_eq!(utf8_prefix("ééé".as_bytes(), 2), "éé".as_bytes());
        // Overlong forms are nginx's invalid ones.
        assert_eq!(utf8_decode(b"\xe0\x80\x80"), None);
    }
}
