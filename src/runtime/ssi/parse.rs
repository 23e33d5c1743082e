//! `ngx_http_ssi_parse`: the state machine that finds `<!--# command param="value" -->` in
//! a body as it streams, one byte at a time, whatever the pieces it comes in. Text passes
//! through; the bytes that may begin a command (`<!--`) are held until the next byte says
//! whether they do. A body that ends inside one loses them, as nginx's does.

/// nginx's limits (`ngx_http_ssi_filter_module.h`).
const COMMAND_LEN: usize = 32;
const PARAM_LEN: usize = 32;

/// What the parser found, in the body's order.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole command, its parameters in the order written.
    Command(Command),
    /// A command that broke the syntax, up to its `-->`; the line nginx logs (at `error`)
    /// was written when the error was found, and the filter writes the `errmsg` for it.
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub name: Vec<u8>,
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Tag,
    Comment0,
    Comment1,
    Sharp,
    Precommand,
    Command,
    Preparam,
    Param,
    Preequal,
    Prevalue,
    DoubleQuoted,
    Quoted,
    /// After a `\` in a value: the next byte is kept whatever it is.
    QuotedSymbol {
        double: bool,
    },
    Postparam,
    CommentEnd0,
    CommentEnd1,
    Error,
    ErrorEnd0,
    ErrorEnd1,
}

/// The parser between two pieces of the body.
#[derive(Debug)]
pub struct Parser {
    state: State,
    command: Command,
    /// `ssi_value_length`.
    value_len: usize,
}

/// `<!--`: how much of it is held in each state that may still begin a command.
const OPENING: &[u8] = b"<!--";

fn space(ch: u8) -> bool {
    matches!(ch, b' ' | b'\r' | b'\n' | b'\t')
}

impl Parser {
    pub fn new(value_len: usize) -> Parser {
        Parser {
            state: State::Start,
            command: Command {
                name: Vec::new(),
                params: Vec::new(),
            },
            value_len,
        }
    }

    /// Reads `data` from its start; stops after a command or an error (returning the bytes
    /// read) so the filter can act on it before reading on. `text` gets the body's bytes
    /// outside commands; `errors` the lines nginx logs.
    pub fn feed(
        &mut self,
        data: &[u8],
        text: &mut Vec<u8>,
        errors: &mut Vec<String>,
    ) -> (usize, Option<Event>) {
        for (i, &ch) in data.iter().enumerate() {
            if let Some(event) = self.step(ch, text, errors) {
                return (i + 1, Some(event));
            }
        }
        (data.len(), None)
    }

    /// The bytes held as the start of a command that `ch` shows is none: they are text, and
    /// `ch` is read again from the start state.
    fn not_a_command(&mut self, held: usize, ch: u8, text: &mut Vec<u8>) {
        text.extend_from_slice(&OPENING[..held]);
        if ch == b'<' {
            self.state = State::Tag;
        } else {
            text.push(ch);
            self.state = State::Start;
        }
    }

    fn step(&mut self, ch: u8, text: &mut Vec<u8>, errors: &mut Vec<String>) -> Option<Event> {
        let name = |c: &Command| String::from_utf8_lossy(&c.name).into_owned();
        match self.state {
            State::Start => {
                if ch == b'<' {
                    self.state = State::Tag;
                } else {
                    text.push(ch);
                }
            }
            State::Tag => match ch {
                b'!' => self.state = State::Comment0,
                _ => self.not_a_command(1, ch, text),
            },
            State::Comment0 => match ch {
                b'-' => self.state = State::Comment1,
                _ => self.not_a_command(2, ch, text),
            },
            State::Comment1 => match ch {
                b'-' => self.state = State::Sharp,
                _ => self.not_a_command(3, ch, text),
            },
            State::Sharp => match ch {
                b'#' => self.state = State::Precommand,
                _ => self.not_a_command(4, ch, text),
            },
            State::Precommand => {
                if !space(ch) {
                    self.command.name.clear();
                    self.command.name.push(ch);
                    self.command.params.clear();
                    self.state = State::Command;
                }
            }
            State::Command => match ch {
                _ if space(ch) => self.state = State::Preparam,
                b'-' => self.state = State::CommentEnd0,
                _ if self.command.name.len() == COMMAND_LEN => {
                    errors.push(format!(
                        "the \"{}{}...\" SSI command is too long",
                        name(&self.command),
                        ch as char
                    ));
                    self.state = State::Error;
                }
                _ => self.command.name.push(ch),
            },
            State::Preparam => match ch {
                _ if space(ch) => {}
                b'-' => self.state = State::CommentEnd0,
                _ => {
                    self.command.params.push((vec![ch], Vec::new()));
                    self.state = State::Param;
                }
            },
            State::Param => {
                let key = self.param_key();
                match ch {
                    _ if space(ch) => self.state = State::Preequal,
                    b'=' => self.state = State::Prevalue,
                    b'-' => {
                        errors.push(format!(
                            "unexpected \"-\" symbol after \"{key}\" parameter in \"{}\" SSI command",
                            name(&self.command)
                        ));
                        self.state = State::ErrorEnd0;
                    }
                    _ if key.len() == PARAM_LEN => {
                        errors.push(format!(
                            "too long \"{key}{}...\" parameter in \"{}\" SSI command",
                            ch as char,
                            name(&self.command)
                        ));
                        self.state = State::Error;
                    }
                    _ => self.last_param().0.push(ch),
                }
            }
            State::Preequal => match ch {
                _ if space(ch) => {}
                b'=' => self.state = State::Prevalue,
                _ => {
                    errors.push(format!(
                        "unexpected \"{}\" symbol after \"{}\" parameter in \"{}\" SSI command",
                        ch as char,
                        self.param_key(),
                        name(&self.command)
                    ));
                    self.state = if ch == b'-' {
                        State::ErrorEnd0
                    } else {
                        State::Error
                    };
                }
            },
            State::Prevalue => match ch {
                _ if space(ch) => {}
                b'"' => self.state = State::DoubleQuoted,
                b'\'' => self.state = State::Quoted,
                _ => {
                    errors.push(format!(
                        "unexpected \"{}\" symbol before value of \"{}\" parameter in \"{}\" SSI command",
                        ch as char,
                        self.param_key(),
                        name(&self.command)
                    ));
                    self.state = if ch == b'-' {
                        State::ErrorEnd0
                    } else {
                        State::Error
                    };
                }
            },
            State::DoubleQuoted | State::Quoted => {
                let double = self.state == State::DoubleQuoted;
                match ch {
                    b'"' if double => self.state = State::Postparam,
                    b'\'' if !double => self.state = State::Postparam,
                    _ => {
                        // A `\` is kept, and so is the byte after it, whatever it is.
                        if ch == b'\\' {
                            self.state = State::QuotedSymbol { double };
                        }
                        self.push_value(ch, errors);
                    }
                }
            }
            State::QuotedSymbol { double } => {
                self.state = if double {
                    State::DoubleQuoted
                } else {
                    State::Quoted
                };
                self.push_value(ch, errors);
            }
            State::Postparam => match ch {
                _ if space(ch) => self.state = State::Preparam,
                b'-' => self.state = State::CommentEnd0,
                _ => {
                    let (key, value) = self.command.params.last().cloned().unwrap_or_default();
                    errors.push(format!(
                        "unexpected \"{}\" symbol after \"{}\" value of \"{}\" parameter in \"{}\" SSI command",
                        ch as char,
                        String::from_utf8_lossy(&value),
                        String::from_utf8_lossy(&key),
                        name(&self.command)
                    ));
                    self.state = State::Error;
                }
            },
            State::CommentEnd0 | State::CommentEnd1 => {
                let end = self.state == State::CommentEnd1;
                match ch {
                    b'-' if !end => self.state = State::CommentEnd1,
                    b'>' if end => {
                        self.state = State::Start;
                        return Some(Event::Command(self.command.clone()));
                    }
                    _ => {
                        errors.push(format!(
                            "unexpected \"{}\" symbol in \"{}\" SSI command",
                            ch as char,
                            name(&self.command)
                        ));
                        self.state = State::Error;
                    }
                }
            }
            State::Error => {
                if ch == b'-' {
                    self.state = State::ErrorEnd0;
                }
            }
            State::ErrorEnd0 => {
                self.state = if ch == b'-' {
                    State::ErrorEnd1
                } else {
                    State::Error
                };
            }
            State::ErrorEnd1 => {
                if ch == b'>' {
                    self.state = State::Start;
                    return Some(Event::Error);
                }
                self.state = State::Error;
            }
        }
        None
    }

    fn last_param(&mut self) -> &mut (Vec<u8>, Vec<u8>) {
        if self.command.params.is_empty() {
            self.command.params.push(Default::default());
        }
        let last = self.command.params.len() - 1;
        &mut self.command.params[last]
    }

    fn param_key(&self) -> String {
        let key = self.command.params.last().map(|(k, _)| &k[..]);
        String::from_utf8_lossy(key.unwrap_or_default()).into_owned()
    }

    /// A byte of a value, which may be no longer than `ssi_value_length`.
    fn push_value(&mut self, ch: u8, errors: &mut Vec<String>) {
        let value_len = self.value_len;
        let command = String::from_utf8_lossy(&self.command.name).into_owned();
        let (key, value) = self.last_param();
        if value.len() == value_len {
            errors.push(format!(
                "too long \"{}{}...\" value of \"{}\" parameter in \"{command}\" SSI command",
                String::from_utf8_lossy(value),
                ch as char,
                String::from_utf8_lossy(key),
            ));
            self.state = State::Error;
            return;
        }
        value.push(ch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Got {
        Text(Vec<u8>),
        Found(Event),
    }

    /// The events of a body fed in `pieces`, text joined between commands.
    fn events(pieces: &[&str]) -> Vec<Got> {
        let mut parser = Parser::new(256);
        let mut out = Vec::new();
        let mut text = Vec::new();
        let mut errors = Vec::new();
        for piece in pieces {
            let mut data = piece.as_bytes();
            while !data.is_empty() {
                let (read, event) = parser.feed(data, &mut text, &mut errors);
                data = &data[read..];
                if let Some(event) = event {
                    if !text.is_empty() {
                        out.push(Got::Text(std::mem::take(&mut text)));
                    }
                    out.push(Got::Found(event));
                }
            }
        }
        if !text.is_empty() {
            out.push(Got::Text(text));
        }
        out
    }

    fn command(name: &str, params: &[(&str, &str)]) -> Got {
        Got::Found(Event::Command(Command {
            name: name.into(),
            params: params
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }))
    }

    #[test]
    fn finds_commands_in_any_pieces() {
        let want = vec![
            Got::Text(b"a".to_vec()),
            command("echo", &[("var", "x"), ("default", "d e")]),
            Got::Text(b"b".to_vec()),
        ];
        assert_eq!(events(&["a<!--#echo var=\"x\" default='d e' -->b"]), want);
        assert_eq!(
            events(&["a<", "!-", "-#echo var=\"", "x\" default='d e' --", ">b"]),
            want
        );
    }

    #[test]
    fn comments_and_lone_brackets_are_text() {
        let body = "<<!-- c --><!x<!-<a<!--<!--#e-->";
        let got = events(&[body]);
        assert_eq!(
            got,
            vec![
                Got::Text(b"<<!-- c --><!x<!-<a<!--".to_vec()),
                command("e", &[])
            ]
        );
        // A body ending in what may begin a command loses it.
        assert_eq!(events(&["ab<!-"]), vec![Got::Text(b"ab".to_vec())]);
    }

    #[test]
    fn escapes_are_kept_and_errors_skip_to_the_end() {
        assert_eq!(
            events(&[r#"<!--#set value="a\"b" -->"#]),
            vec![command("set", &[("value", r#"a\"b"#)])]
        );
        assert_eq!(
            events(&["<!--#echo var x -->after"]),
            vec![Got::Found(Event::Error), Got::Text(b"after".to_vec())]
        );
    }
}
