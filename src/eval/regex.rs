//! Regular expressions as nginx runs them: PCRE (through the `pcre2` crate), `~*` caseless,
//! and after a match the captures (`$1`...) and named captures set on the request.

use pcre2::bytes::{Regex as Pcre, RegexBuilder};

#[derive(Debug, Clone)]
pub struct Regex {
    re: Pcre,
    pub pattern: String,
    /// Capture groups besides the whole match.
    groups: usize,
}

/// What the last regex with capture groups matched (nginx's `r->captures`), and the named
/// captures set so far.
#[derive(Debug, Clone, Default)]
pub struct Captures {
    subject: Vec<u8>,
    spans: Vec<Option<(usize, usize)>>,
    pub named: Vec<(String, Vec<u8>)>,
}

impl Captures {
    /// `$n`: empty when there is no such group.
    pub fn get(&self, n: usize) -> Vec<u8> {
        match self.spans.get(n).copied().flatten() {
            Some((s, e)) => self.subject[s..e].to_vec(),
            None => Vec::new(),
        }
    }

    /// No numbered captures left (named ones are variables, and stay): after a regex of the
    /// rewrite module that did not match (nginx's `r->ncaptures = 0`), or one without groups.
    pub fn forget(&mut self) {
        self.subject.clear();
        self.spans.clear();
    }

    pub fn named(&self, name: &str) -> Option<Vec<u8>> {
        self.named
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
}

impl Regex {
    /// Compiles `pattern`; the error is worded like nginx's `pcre2_compile() failed: ...`,
    /// which names the rest of the pattern from where PCRE stopped unless that is its end.
    pub fn new(pattern: &str, caseless: bool) -> Result<Regex, String> {
        let re = RegexBuilder::new()
            .caseless(caseless)
            .jit_if_available(true)
            .build(pattern)
            .map_err(|e| {
                // The crate's text is "PCRE2: error compiling pattern at offset N: WHY".
                let text = e.to_string();
                let why = text
                    .split_once("offset ")
                    .and_then(|(_, rest)| rest.split_once(": "))
                    .map_or(text.as_str(), |(_, why)| why);
                let rest = e
                    .offset()
                    .and_then(|at| pattern.as_bytes().get(at..))
                    .filter(|rest| !rest.is_empty())
                    .map(|rest| format!(" at \"{}\"", String::from_utf8_lossy(rest)));
                let rest = rest.unwrap_or_default();
                format!("pcre2_compile() failed: {why} in \"{pattern}\"{rest}")
            })?;
        let groups = re.captures_len().saturating_sub(1);
        Ok(Regex {
            re,
            pattern: pattern.to_string(),
            groups,
        })
    }

    /// How many capture groups it has, besides the whole match.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// The names of its named groups.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.re.capture_names().iter().flatten().map(String::as_str)
    }

    /// Whether `subject` matches, captures left alone (`ngx_regex_exec_array`).
    pub fn is_match(&self, subject: &[u8]) -> bool {
        matches!(self.re.is_match(subject), Ok(true))
    }

    /// Matches `subject`; on a match, stores captures in `caps` as `ngx_http_regex_exec` does:
    /// a regex without groups leaves none (nginx 1.22 counts its match as the only pair, and
    /// copies none of it), so `$1` is empty after it.
    pub fn exec(&self, subject: &[u8], caps: &mut Captures) -> bool {
        let Ok(Some(m)) = self.re.captures(subject) else {
            return false;
        };
        for (i, name) in self.re.capture_names().iter().enumerate() {
            if let (Some(name), Some(g)) = (name, m.get(i)) {
                caps.named.push((name.clone(), g.as_bytes().to_vec()));
            }
        }
        if self.groups == 0 {
            caps.forget();
            return true;
        }
        caps.subject = subject.to_vec();
        caps.spans = (0..=self.groups)
            .map(|i| m.get(i).map(|g| (g.start(), g.end())))
            .collect();
        true
    }
}

/// What an SSI `if` regex matched (`ngx_http_ssi_regex_match`): the groups up to the last
/// that took part, the whole match first (`$0`...`$9` read them), and the named ones.
#[derive(Debug, Default)]
pub struct SsiMatch {
    pub groups: Vec<Vec<u8>>,
    pub named: Vec<(String, Vec<u8>)>,
}

/// Compiles `pattern` (case counts) and matches `subject`: `Ok(None)` when it does not
/// match, `Err` with nginx's line when the pattern does not compile.
pub fn ssi_match(pattern: &str, subject: &[u8]) -> Result<Option<SsiMatch>, String> {
    let re = Regex::new(pattern, false)?;
    let Ok(Some(m)) = re.re.captures(subject) else {
        return Ok(None);
    };
    let last = (0..m.len())
        .rev()
        .find(|&i| m.get(i).is_some())
        .unwrap_or(0);
    let groups = (0..=last)
        .map(|i| m.get(i).map(|g| g.as_bytes().to_vec()).unwrap_or_default())
        .collect();
    let mut named = Vec::new();
    for (i, name) in re.re.capture_names().iter().enumerate() {
        if let Some(name) = name {
            let value = m.get(i).map(|g| g.as_bytes().to_vec()).unwrap_or_default();
            named.push((name.clone(), value));
        }
    }
    Ok(Some(SsiMatch { groups, named }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_and_names() {
        let re = Regex::new(r"^/u/(?<id>\d+)/(.*)$", false).unwrap();
        let mut caps = Captures::default();
        assert!(re.exec(b"/u/42/x", &mut caps));
        assert_eq!(caps.get(1), b"42");
        assert_eq!(caps.get(2), b"x");
        assert_eq!(caps.get(3), b"");
        assert_eq!(caps.named("id"), Some(b"42".to_vec()));
        let plain = Regex::new(r"\.php$", true).unwrap();
        assert!(plain.exec(b"/A.PHP", &mut caps));
        assert_eq!(caps.get(1), b"", "a regex without groups leaves none");
        assert_eq!(caps.named("id"), Some(b"42".to_vec()), "named ones stay");
    }

    #[test]
    fn errors_name_the_rest_of_the_pattern_as_nginx_does() {
        let err = |p: &str| Regex::new(p, true).err().unwrap_or_default();
        assert_eq!(
            err("("),
            "pcre2_compile() failed: missing closing parenthesis in \"(\""
        );
        assert_eq!(
            err("*abc"),
            "pcre2_compile() failed: quantifier does not follow a repeatable item in \"*abc\" at \"*abc\""
        );
    }
}
