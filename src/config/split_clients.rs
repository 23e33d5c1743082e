//! `split_clients KEY $variable { PERCENT VALUE; ... }` read as
//! `ngx_conf_split_clients_block` reads it: each line's percentage (two decimals at most, or
//! `*` for the rest), totalled to at most 100%, then turned into the cumulative bounds on the
//! 32-bit MurmurHash2 of the key that `eval::split_clients` compares with.

use super::{Cx, Text};
use crate::source::Span;
use crate::syntax::Directive;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitClients {
    /// The key, a value with variables.
    pub key: Text,
    /// The variable it defines, without `$`.
    pub variable: Text,
    pub span: Span,
    /// In file order: a hash below the bound takes the value; a bound of 0 (`*`) takes any.
    pub parts: Vec<(u32, String)>,
}

/// 100% in hundredths of a percent.
const WHOLE: u32 = 10_000;

/// Lowers `split_clients KEY $variable { ... }`.
pub fn lower(cx: &mut Cx<'_>, d: &Directive) -> Option<SplitClients> {
    let key = cx.text(d, 0)?;
    let var = cx.text(d, 1)?;
    let Some(name) = var.value.strip_prefix('$').filter(|v| !v.is_empty()) else {
        cx.error(d, format!("invalid variable name \"{}\"", var.value));
        return None;
    };
    let variable = Text {
        value: name.to_string(),
        ..var
    };
    // nginx reads each line's value as the second word of its argument array, which keeps
    // the words of earlier lines: a line without a value takes the last one given, and the
    // first such line the block's key, as written.
    let mut last_value = key.value.clone();
    let mut parts = Vec::new();
    // Not `expand`ed: nginx's handler takes an `include` line for a percentage.
    // A line in error is reported and left out: the variable stays known, so what uses it
    // is checked too (nginx stops at the first error; the load fails either way).
    for c in d.children() {
        if c.is_block() {
            cx.error(c, "unexpected \"{\"");
            continue;
        }
        let percent = if c.name() == "*" {
            0
        } else {
            match percent(c.name()) {
                Some(p) => p,
                None => {
                    cx.error(c, format!("invalid percent value \"{}\"", c.name()));
                    continue;
                }
            }
        };
        if let Some(value) = c.arg(0) {
            last_value = value.to_string();
        }
        parts.push((percent, last_value.clone()));
    }
    // 32-bit sums, as nginx's.
    let mut sum: u32 = 0;
    let mut bound: u32 = 0;
    for (percent, _) in &mut parts {
        sum = if *percent == 0 {
            WHOLE
        } else {
            sum.wrapping_add(*percent)
        };
        if sum > WHOLE {
            let message = "percent total is greater than 100%";
            cx.at_close(d, d.span(), message, crate::diag::Severity::Error);
            break;
        }
        if *percent > 0 {
            // nginx's arithmetic: each share of 0xffffffff rounded down, then added up.
            let share = u64::from(*percent) * u64::from(u32::MAX) / u64::from(WHOLE);
            bound = bound.wrapping_add(share as u32);
            *percent = bound;
        }
    }
    Some(SplitClients {
        key,
        variable,
        span: d.span(),
        parts,
    })
}

/// `N%` with at most two decimals, in hundredths (`ngx_atofp(..., 2)`), cut to 32 bits as
/// nginx stores it (so 4294967296% is 0, which then stands for `*`); `None` for what nginx
/// calls an invalid percent value (0 included).
fn percent(word: &str) -> Option<u32> {
    let digits = word.strip_suffix('%')?;
    let n = atofp(digits.as_bytes(), 2)?;
    (n != 0).then_some(n as u32)
}

/// `ngx_atofp`: a decimal with at most `point` digits after its dot, scaled by 10^`point`;
/// `None` past `NGX_MAX_INT_T_VALUE` or for anything else.
fn atofp(line: &[u8], mut point: u32) -> Option<i64> {
    if line.is_empty() {
        return None;
    }
    let (cutoff, cutlim) = (i64::MAX / 10, i64::MAX % 10);
    let mut value: i64 = 0;
    let mut dot = false;
    for &c in line {
        if point == 0 {
            return None;
        }
        if c == b'.' {
            if dot {
                return None;
            }
            dot = true;
            continue;
        }
        if !c.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(c - b'0');
        if value >= cutoff && (value > cutoff || digit > cutlim) {
            return None;
        }
        value = value * 10 + digit;
        point -= u32::from(dot);
    }
    for _ in 0..point {
        if value > cutoff {
            return None;
        }
        value *= 10;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_read_as_ngx_atofp_reads_them() {
        assert_eq!(percent("50%"), Some(5000));
        assert_eq!(percent("0.5%"), Some(50));
        assert_eq!(percent(".5%"), Some(50));
        assert_eq!(percent("5.%"), Some(500));
        assert_eq!(percent("51.2%"), Some(5120));
        assert_eq!(percent("100.00%"), Some(10_000));
        assert_eq!(percent("4294967297%"), Some(100), "cut to 32 bits");
        for invalid in [
            "0%", "00.00%", "1.234%", "1.2.3%", "+1%", "-5%", "%", "1", "1%%",
        ] {
            assert_eq!(percent(invalid), None, "{invalid}");
        }
        assert_eq!(percent("4294967296%"), Some(0), "reads as `*`");
    }
}
