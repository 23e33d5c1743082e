//! Tokens as nginx's `ngx_conf_read_token` sees them. The rules are nginx's, traps included:
//! a bare word ends only at white space, `;` or `{` (and `{` not even right after `$`), so
//! quotes, `#` and `}` inside a word are literal; a quoted string must be followed by white
//! space, `;`, `{` or `)`; a backslash protects the next character and `\"`, `\'`, `\\`, `\t`,
//! `\r`, `\n` are unescaped in every word.

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::{tag, take_till, take_while1};
use nom::sequence::preceded;

pub(crate) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// White space between tokens.
pub(crate) fn space(input: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while1(is_space)(input)
}

/// A `#` comment up to (not including) the end of the line; only where a token may start.
pub(crate) fn comment(input: &[u8]) -> IResult<&[u8], &[u8]> {
    preceded(tag("#"), take_till(|c| c == b'\n')).parse(input)
}

/// A bare word: returns the raw bytes (escapes still in). Never empty: the caller has checked
/// that the first byte is not white space, `;`, `{`, `}`, a quote or `#`.
pub(crate) fn bare_word(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let mut i = 0;
    let mut variable = false;
    while i < input.len() {
        let c = input[i];
        if c == b'{' && variable {
            i += 1;
            continue;
        }
        variable = false;
        match c {
            b'\\' => {
                // The escaped byte is part of the word whatever it is.
                i = (i + 2).min(input.len());
                continue;
            }
            b'$' => variable = true,
            c if is_space(c) || c == b';' || c == b'{' => break,
            _ => {}
        }
        i += 1;
    }
    Ok((&input[i..], &input[..i]))
}

/// The result of scanning a quoted string starting at its opening quote.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Quoted<'a> {
    /// Raw contents between the quotes (escapes still in) and the length consumed.
    Closed(&'a [u8], usize),
    /// The file ended inside the string.
    Unterminated,
}

pub(crate) fn quoted(input: &[u8]) -> Quoted<'_> {
    let q = input[0];
    let mut i = 1;
    while i < input.len() {
        match input[i] {
            b'\\' => i += 2,
            c if c == q => return Quoted::Closed(&input[1..i], i + 1),
            _ => i += 1,
        }
    }
    Quoted::Unterminated
}

/// nginx's unescaping, applied to bare and quoted words alike.
pub(crate) fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            match raw[i + 1] {
                b'"' | b'\'' | b'\\' => {
                    out.push(raw[i + 1]);
                    i += 2;
                    continue;
                }
                b't' => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                b'r' => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// The body of a `*_by_lua_block`: the length up to (not including) the matching `}`, skipping
/// Lua strings and `--` comments, or `None` if the file ends first.
pub(crate) fn lua_block(input: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'{' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < input.len() && input[i] != q {
                    if input[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'-' if input.get(i + 1) == Some(&b'-') => {
                while i < input.len() && input[i] != b'\n' {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_word_stops_at_space_semicolon_and_brace() {
        assert_eq!(bare_word(b"abc def").map(|r| r.1), Ok(&b"abc"[..]));
        assert_eq!(bare_word(b"abc;").map(|r| r.1), Ok(&b"abc"[..]));
        assert_eq!(bare_word(b"^/a{2}$ {").map(|r| r.1), Ok(&b"^/a"[..]));
    }

    #[test]
    fn bare_word_keeps_quotes_hashes_and_closing_braces() {
        assert_eq!(bare_word(b"a\"b'c#d}e;").map(|r| r.1), Ok(&b"a\"b'c#d}e"[..]));
    }

    #[test]
    fn brace_after_dollar_continues_the_word() {
        assert_eq!(bare_word(b"${host}x;").map(|r| r.1), Ok(&b"${host}x"[..]));
    }

    #[test]
    fn backslash_protects_the_next_byte() {
        assert_eq!(bare_word(b"a\\;b\\ c;").map(|r| r.1), Ok(&b"a\\;b\\ c"[..]));
        assert_eq!(unescape(b"a\\;b\\\"c\\n"), b"a\\;b\"c\n");
    }

    #[test]
    fn quoted_strings_honour_escaped_quotes() {
        assert_eq!(quoted(b"\"a\\\"b\" x"), Quoted::Closed(&b"a\\\"b"[..], 6));
        assert_eq!(quoted(b"'abc"), Quoted::Unterminated);
    }

    #[test]
    fn lua_block_skips_strings_and_comments() {
        assert_eq!(lua_block(b" ngx.say('}') -- }\n x = {1} }"), Some(28));
        assert_eq!(lua_block(b" { "), None);
    }
}
