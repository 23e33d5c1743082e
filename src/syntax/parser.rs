//! One file's bytes → its directives. Structure follows `ngx_conf_parse`: a directive is words
//! ended by `;` or `{`, a block ends at `}`; a file is parsed on its own, so a `}` in an included
//! file never closes a block of the file that included it. Like nginx, parsing a file stops at
//! its first syntax error; what was read before it is kept, so later stages still check it.

use super::lexer::{self, Quoted};
use super::tree::{Body, Directive, Quote, Word};
use crate::diag::{Diagnostic, NginxAt};
use crate::source::{FileId, Span};

/// Deeper nesting than this is refused: no real configuration comes close, and it keeps every
/// recursive walk over the tree far from the stack's end.
pub const MAX_DEPTH: usize = 100;

/// Directives whose block is another language's text, kept verbatim (as crossplane does).
fn is_raw_block(name: &str) -> bool {
    name.ends_with("_by_lua_block")
}

/// A syntax error is rare and large: keep it off the happy path's stack.
type PResult<T> = Result<T, Box<Diagnostic>>;

/// What ended a run of words.
enum End {
    Semicolon(Span),
    BlockStart(Span),
    BlockDone(Span),
    FileDone,
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
    file: FileId,
    /// Reading nginx's `-g` text rather than a file.
    param: bool,
}

/// Parses `bytes` (the contents of `file`). Returns what was read and the syntax error, if any.
pub fn parse(file: FileId, bytes: &[u8]) -> (Vec<Directive>, Option<Diagnostic>) {
    parse_as(file, bytes, false)
}

/// Parses the text of nginx's `-g` option, whose errors nginx words a little differently.
pub fn parse_param(file: FileId, bytes: &[u8]) -> (Vec<Directive>, Option<Diagnostic>) {
    parse_as(file, bytes, true)
}

fn parse_as(file: FileId, bytes: &[u8], param: bool) -> (Vec<Directive>, Option<Diagnostic>) {
    let mut p = Parser {
        bytes,
        pos: 0,
        file,
        param,
    };
    let mut top = Vec::new();
    let err = p.block(&mut top, 0).err().map(|e| *e);
    (top, err)
}

impl Parser<'_> {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    fn error_at(&self, at: usize, message: String) -> Box<Diagnostic> {
        let end = (at + 1).min(self.bytes.len()).max(at);
        let span = self.span(at, end);
        Box::new(Diagnostic::emerg("syntax", message, span, span))
    }

    fn eof_error(&self, message: &str) -> Box<Diagnostic> {
        let len = self.bytes.len();
        let at = self.span(len, len);
        Box::new(Diagnostic::emerg("syntax::eof", message, at, at).at(NginxAt::EndOf(self.file)))
    }

    /// Reads directives into `out` until the block's `}` (depth > 0) or the end of the file.
    fn block(&mut self, out: &mut Vec<Directive>, depth: usize) -> PResult<Option<Span>> {
        loop {
            let mut words = Vec::new();
            let end = self.words(&mut words)?;
            match end {
                End::FileDone => {
                    if depth > 0 {
                        return Err(self.eof_error("unexpected end of file, expecting \"}\""));
                    }
                    return Ok(None);
                }
                End::BlockDone(close) => {
                    if depth == 0 {
                        return Err(self.error_at(close.start as usize, "unexpected \"}\"".into()));
                    }
                    return Ok(Some(close));
                }
                End::Semicolon(end) => {
                    let (name, args) = split_name(words);
                    out.push(Directive {
                        name,
                        args,
                        body: Body::None,
                        end,
                        includes: Vec::new(),
                    });
                }
                End::BlockStart(open) => {
                    let (name, args) = split_name(words);
                    if is_raw_block(&name.value) {
                        let body = self.raw_block(open)?;
                        out.push(Directive {
                            name,
                            args,
                            body,
                            end: open,
                            includes: Vec::new(),
                        });
                        continue;
                    }
                    if depth + 1 > MAX_DEPTH {
                        return Err(self.error_at(
                            open.start as usize,
                            format!("blocks nested deeper than {MAX_DEPTH} levels"),
                        ));
                    }
                    let mut children = Vec::new();
                    let result = self.block(&mut children, depth + 1);
                    let close = result.as_ref().ok().copied().flatten();
                    out.push(Directive {
                        name,
                        args,
                        body: Body::Block {
                            children,
                            open,
                            close,
                        },
                        end: open,
                        includes: Vec::new(),
                    });
                    result?;
                }
            }
        }
    }

    fn raw_block(&mut self, open: Span) -> PResult<Body> {
        let rest = &self.bytes[self.pos..];
        match lexer::lua_block(rest) {
            Some(len) => {
                let text = String::from_utf8_lossy(&rest[..len]).into_owned();
                self.pos += len + 1;
                Ok(Body::Raw { text, open })
            }
            None => {
                self.pos = self.bytes.len();
                Err(self.eof_error("unexpected end of file, expecting \"}\""))
            }
        }
    }

    /// Reads the words of one directive, up to what ends it.
    fn words(&mut self, words: &mut Vec<Word>) -> PResult<End> {
        loop {
            let rest = &self.bytes[self.pos..];
            if let Ok((r, _)) = lexer::space(rest) {
                self.pos += rest.len() - r.len();
                continue;
            }
            let Some(&c) = rest.first() else {
                if !words.is_empty() {
                    return Err(self.eof_error(if self.param {
                        "unexpected end of parameter, expecting \";\""
                    } else {
                        "unexpected end of file, expecting \";\" or \"}\""
                    }));
                }
                return Ok(End::FileDone);
            };
            let at = self.pos;
            match c {
                b';' | b'{' if words.is_empty() => {
                    return Err(self.error_at(at, format!("unexpected \"{}\"", c as char)));
                }
                b';' => {
                    self.pos += 1;
                    return Ok(End::Semicolon(self.span(at, at + 1)));
                }
                b'{' => {
                    self.pos += 1;
                    return Ok(End::BlockStart(self.span(at, at + 1)));
                }
                b'}' if !words.is_empty() => {
                    return Err(self.error_at(at, "unexpected \"}\"".into()));
                }
                b'}' => {
                    self.pos += 1;
                    return Ok(End::BlockDone(self.span(at, at + 1)));
                }
                b'#' => {
                    if let Ok((r, _)) = lexer::comment(rest) {
                        self.pos += rest.len() - r.len();
                    }
                }
                b'"' | b'\'' => match lexer::quoted(rest) {
                    Quoted::Closed(raw, len) => {
                        self.pos += len;
                        words.push(self.word(raw, at, self.pos, quote_of(c)));
                        if let Some(end) = self.after_quote()? {
                            return Ok(end);
                        }
                    }
                    Quoted::Unterminated => {
                        self.pos = self.bytes.len();
                        return Err(
                            self.eof_error("unexpected end of file, expecting \";\" or \"}\"")
                        );
                    }
                },
                _ => {
                    let (r, raw) = match lexer::bare_word(rest) {
                        Ok(ok) => ok,
                        Err(_) => (&rest[rest.len()..], rest),
                    };
                    self.pos += rest.len() - r.len();
                    words.push(self.word(raw, at, self.pos, Quote::Bare));
                }
            }
        }
    }

    /// After a closing quote nginx wants white space, `;`, `{` or `)` (which starts the next
    /// word: `if ($a = "x")` has the four words `($a`, `=`, `x` and `)`).
    fn after_quote(&mut self) -> PResult<Option<End>> {
        let at = self.pos;
        match self.bytes.get(at) {
            None => Ok(None),
            Some(&c) if lexer::is_space(c) => Ok(None),
            Some(b';') => {
                self.pos += 1;
                Ok(Some(End::Semicolon(self.span(at, at + 1))))
            }
            Some(b'{') => {
                self.pos += 1;
                Ok(Some(End::BlockStart(self.span(at, at + 1))))
            }
            Some(b')') => Ok(None),
            Some(&c) => Err(self.error_at(at, format!("unexpected \"{}\"", display_byte(c)))),
        }
    }

    fn word(&self, raw: &[u8], start: usize, end: usize, quote: Quote) -> Word {
        Word {
            value: String::from_utf8_lossy(&lexer::unescape(raw)).into_owned(),
            quote,
            span: self.span(start, end),
        }
    }
}

fn quote_of(c: u8) -> Quote {
    if c == b'"' {
        Quote::Double
    } else {
        Quote::Single
    }
}

/// nginx prints the offending byte as it is; show non-ASCII bytes as `\xNN` instead.
fn display_byte(c: u8) -> String {
    if c.is_ascii_graphic() {
        (c as char).to_string()
    } else {
        format!("\\x{c:02X}")
    }
}

fn split_name(mut words: Vec<Word>) -> (Word, Vec<Word>) {
    // `words` is never empty here: `;` and `{` with no words are errors above.
    let name = words.remove(0);
    (name, words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ds: &[Directive]) -> Vec<String> {
        ds.iter()
            .map(|d| {
                let mut s = d.name().to_string();
                for a in &d.args {
                    s.push('|');
                    s.push_str(&a.value);
                }
                if !d.children().is_empty() {
                    s.push_str(&format!("{{{}}}", names(d.children()).join(" ")));
                }
                s
            })
            .collect()
    }

    fn ok(src: &str) -> Vec<String> {
        let (ds, err) = parse(FileId(0), src.as_bytes());
        assert_eq!(err, None, "{src}");
        names(&ds)
    }

    fn err(src: &str) -> String {
        parse(FileId(0), src.as_bytes())
            .1
            .map(|d| d.message)
            .unwrap_or_default()
    }

    #[test]
    fn simple_and_block_directives() {
        assert_eq!(ok("a b c; d { e; }"), ["a|b|c", "d{e}"]);
    }

    #[test]
    fn comments_anywhere_between_words() {
        assert_eq!(ok("a # x\n b # y ;\n ;"), ["a|b"]);
        assert_eq!(ok("a b#c;"), ["a|b#c"]);
    }

    #[test]
    fn text_glued_to_a_closing_quote_is_an_error() {
        assert_eq!(err("a \"a\"-b;"), "unexpected \"-\"");
        assert_eq!(ok("if ($a = \"b\") { x; }"), ["if|($a|=|b|){x}"]);
    }

    #[test]
    fn unquoted_brace_in_regex_ends_the_word() {
        // nginx reads `location ~ ^/a {` and then a directive named `2}$`.
        assert_eq!(ok("location ~ ^/a{2}$ { } }"), ["location|~|^/a{2}$}"]);
        assert_eq!(ok("location ~ \"^/a{2}$\" { }"), ["location|~|^/a{2}$"]);
    }

    #[test]
    fn structure_errors_use_nginx_wording() {
        assert_eq!(err("a {"), "unexpected end of file, expecting \"}\"");
        assert_eq!(
            err("a b"),
            "unexpected end of file, expecting \";\" or \"}\""
        );
        assert_eq!(err("}"), "unexpected \"}\"");
        assert_eq!(err("a }"), "unexpected \"}\"");
        assert_eq!(err(";"), "unexpected \";\"");
        assert_eq!(
            err("a 'b"),
            "unexpected end of file, expecting \";\" or \"}\""
        );
    }

    #[test]
    fn no_newline_at_end_and_crlf() {
        assert_eq!(ok("a;\r\nb {\r\n c;\r\n}"), ["a", "b{c}"]);
    }

    #[test]
    fn lua_blocks_are_raw() {
        let (ds, e) = parse(FileId(0), b"content_by_lua_block { ngx.say('}') } x;");
        assert_eq!(e, None);
        assert!(matches!(&ds[0].body, Body::Raw { text, .. } if text == " ngx.say('}') "));
        assert_eq!(ds[1].name(), "x");
    }

    #[test]
    fn deep_nesting_is_refused_not_crashed() {
        let src = "a {".repeat(10_000);
        assert!(err(&src).contains("nested deeper"));
    }
}
