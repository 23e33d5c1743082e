//! The values of SSI commands as nginx reads them: `$name` and `${name}` replaced
//! (`ngx_http_ssi_evaluate_string`), `\` escapes, the `if` command's expression
//! (`ngx_http_ssi_if`), and `echo`'s encodings.

/// A variable's value by its name (lowercased): `None` when nginx finds none.
pub type Lookup<'a> = dyn FnMut(&[u8]) -> Option<Vec<u8>> + 'a;

/// `text` with its variables replaced, in parts (a variable without a value gives none):
/// `Err` is the line nginx logs.
pub fn evaluate(text: &[u8], lookup: &mut Lookup<'_>) -> Result<Vec<Vec<u8>>, String> {
    let shown = || String::from_utf8_lossy(text).into_owned();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'$' {
            let mut part = Vec::new();
            let mut quoted = false;
            while i < text.len() {
                let ch = text[i];
                if quoted {
                    quoted = false;
                    if !matches!(ch, b'\\' | b'\'' | b'"' | b'$') {
                        part.push(b'\\');
                    }
                } else if ch == b'\\' {
                    quoted = true;
                    i += 1;
                    continue;
                } else if ch == b'$' {
                    break;
                }
                part.push(ch);
                i += 1;
            }
            parts.push(part);
            continue;
        }
        i += 1;
        let invalid = || format!("invalid variable name in \"{}\"", shown());
        if i == text.len() {
            return Err(invalid());
        }
        let mut bracket = text[i] == b'{';
        if bracket {
            i += 1;
            if i == text.len() {
                return Err(invalid());
            }
        }
        let start = i;
        let mut end = i;
        while i < text.len() {
            let ch = text[i];
            if ch == b'}' && bracket {
                end = i;
                i += 1;
                bracket = false;
                break;
            }
            if !(ch.is_ascii_alphanumeric() || ch == b'_') {
                break;
            }
            i += 1;
            end = i;
        }
        let name = text[start..end].to_ascii_lowercase();
        if bracket {
            return Err(format!(
                "the closing bracket in \"{}\" variable is missing",
                String::from_utf8_lossy(&name)
            ));
        }
        if name.is_empty() {
            return Err(invalid());
        }
        if let Some(value) = lookup(&name) {
            parts.push(value);
        }
    }
    Ok(parts)
}

/// Whether `text` has a variable in it (`ngx_http_script_variables_count`).
pub fn has_variables(text: &[u8]) -> bool {
    text.contains(&b'$')
}

/// An `if`/`elif` expression's verdict: a string (true unless empty), `A = B`, `A != B`,
/// or `A = /regex/` (`matched` gets what the regex matched, for `$0`...`$9` and its
/// named groups). The left side is read up to the first byte that cannot be in a
/// variable or quoted name, its letters lowercased. `Err` is the line nginx logs.
pub fn condition(
    expr: &[u8],
    lookup: &mut Lookup<'_>,
    matched: &mut dyn FnMut(crate::eval::plan::SsiMatch),
) -> Result<bool, String> {
    let mut expr = expr.to_vec();
    let mut p = 0;
    while p < expr.len() {
        let ch = expr[p];
        if ch.is_ascii_uppercase() {
            expr[p] = ch.to_ascii_lowercase();
        } else if !(ch.is_ascii_lowercase()
            || ch.is_ascii_digit()
            || matches!(ch, b'$' | b'{' | b'}' | b'_' | b'"' | b'\''))
        {
            break;
        }
        p += 1;
    }
    let left = evaluate(&expr[..p], lookup)?.concat();
    while p < expr.len() && expr[p] == b' ' {
        p += 1;
    }
    let last = expr.len();
    if p == last {
        return Ok(!left.is_empty());
    }
    let invalid = || {
        format!(
            "invalid expression in \"{}\"",
            String::from_utf8_lossy(&expr)
        )
    };
    let negative = if expr[p] == b'=' {
        p += 1;
        false
    } else if p + 1 < last && expr[p] == b'!' && expr[p + 1] == b'=' {
        p += 2;
        true
    } else {
        return Err(invalid());
    };
    while p < last && expr[p] == b' ' {
        p += 1;
    }
    let equal = if p + 1 < last && expr[p] == b'/' {
        if expr[last - 1] != b'/' {
            return Err(invalid());
        }
        let pattern = evaluate(&expr[p + 1..last - 1], lookup)?.concat();
        let pattern = String::from_utf8_lossy(&pattern).into_owned();
        match crate::eval::plan::ssi_match(&pattern, &left)? {
            Some(m) => {
                matched(m);
                true
            }
            None => false,
        }
    } else {
        if p + 1 < last && expr[p] == b'\\' && expr[p + 1] == b'/' {
            p += 1;
        }
        left == evaluate(&expr[p..], lookup)?.concat()
    };
    Ok(equal != negative)
}

/// `echo`'s `encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    None,
    Url,
    Entity,
}

impl Encoding {
    /// `value` as `echo` writes it: `url` as `ngx_escape_uri(NGX_ESCAPE_HTML)` escapes,
    /// `entity` as `ngx_escape_html` does.
    pub fn apply(self, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(value.len());
        for &b in value {
            match self {
                Encoding::None => out.push(b),
                Encoding::Url if url_escaped(b) => {
                    const HEX: &[u8; 16] = b"0123456789ABCDEF";
                    out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
                }
                Encoding::Entity if matches!(b, b'<' | b'>' | b'&' | b'"') => {
                    out.extend_from_slice(match b {
                        b'<' => b"&lt;",
                        b'>' => b"&gt;",
                        b'&' => b"&amp;",
                        _ => b"&quot;",
                    });
                }
                _ => out.push(b),
            }
        }
        out
    }
}

/// nginx's `html` escape table: controls, space, `"#%'<>\^` and backquote, `{|}`, DEL and
/// every byte above it.
fn url_escaped(b: u8) -> bool {
    !(0x20..0x7f).contains(&b) || b"\"#%'<>\\^`{|} ".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &[u8]) -> Option<Vec<u8>> {
        match name {
            b"a" => Some(b"AB".to_vec()),
            b"empty" => Some(Vec::new()),
            _ => None,
        }
    }

    fn eval(text: &str) -> Result<String, String> {
        let parts = evaluate(text.as_bytes(), &mut vars)?;
        Ok(String::from_utf8_lossy(&parts.concat()).into_owned())
    }

    #[test]
    fn variables_and_escapes() {
        assert_eq!(eval("x$a.${a}y$none-"), Ok("xAB.ABy-".into()));
        assert_eq!(eval(r#"\$a \" \n \\"#), Ok(r#"$a " \n \"#.into()));
        assert!(eval("x$").is_err());
        assert!(eval("${a").is_err());
        assert!(eval("$-").is_err());
    }

    fn cond(expr: &str) -> Result<bool, String> {
        condition(expr.as_bytes(), &mut vars, &mut |_| {})
    }

    #[test]
    fn expressions() {
        assert_eq!(cond("$a"), Ok(true));
        assert_eq!(cond("$empty"), Ok(false));
        assert_eq!(cond("$A = AB"), Ok(true));
        assert_eq!(cond("$a != AB"), Ok(false));
        assert_eq!(cond("$a = /^A/"), Ok(true));
        assert_eq!(cond("$a = /^B/"), Ok(false));
        assert_eq!(cond("$a != /^B/"), Ok(true));
        assert_eq!(cond(r"$a = \/x"), Ok(false));
        assert!(cond("$a == x").is_ok());
        assert!(cond("$a ~ x").is_err());
        assert!(cond("$a = /x").is_err());
    }

    #[test]
    fn encodings() {
        assert_eq!(
            Encoding::Entity.apply(b"<a href=\"x\">&"),
            b"&lt;a href=&quot;x&quot;&gt;&amp;"
        );
        assert_eq!(Encoding::Url.apply(b"a b/c?d#e"), b"a%20b/c?d%23e");
    }
}
