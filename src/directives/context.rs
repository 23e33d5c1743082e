//! The block a directive stands in, as nginx's `cf->cmd_type` and `cf->module_type` see it.

use super::Module;
use super::flags::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Main,
    Events,
    Http,
    Server,
    Location,
    Upstream,
    /// `if` inside `server`.
    IfServer,
    /// `if` inside `location`.
    IfLocation,
    LimitExcept,
    /// Blocks whose lines are data read by the block's own handler (`map`, `types`, `geo`,
    /// `split_clients`, `charset_map`): not directives.
    Data,
}

impl Context {
    /// The context bit a directive must have to stand here.
    pub fn cmd_type(self) -> u32 {
        match self {
            Context::Main => MAIN,
            Context::Events => EVENT,
            Context::Http => HTTP_MAIN,
            Context::Server => HTTP_SRV,
            Context::Location => HTTP_LOC,
            Context::Upstream => HTTP_UPS,
            Context::IfServer => HTTP_SIF,
            Context::IfLocation => HTTP_LIF,
            Context::LimitExcept => HTTP_LMT,
            Context::Data => 0,
        }
    }

    /// The module kind nginx searches here.
    pub fn module(self) -> Module {
        match self {
            Context::Main => Module::Core,
            Context::Events => Module::Event,
            _ => Module::Http,
        }
    }

    /// The context a block directive opens, seen from this one.
    pub fn enter(self, name: &str) -> Context {
        match (self, name) {
            (_, "events") => Context::Events,
            (_, "http") => Context::Http,
            (Context::Http, "server") => Context::Server,
            (_, "location") => Context::Location,
            (_, "upstream") => Context::Upstream,
            (Context::Server, "if") => Context::IfServer,
            (_, "if") => Context::IfLocation,
            (_, "limit_except") => Context::LimitExcept,
            _ => Context::Data,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Context::Main => "main",
            Context::Events => "events",
            Context::Http => "http",
            Context::Server => "server",
            Context::Location => "location",
            Context::Upstream => "upstream",
            Context::IfServer | Context::IfLocation => "if",
            Context::LimitExcept => "limit_except",
            Context::Data => "data",
        }
    }
}

/// Contexts named in `grammar/directives.md`, from a row's flags.
pub fn context_names(module: Module, flags: u32) -> Vec<&'static str> {
    if flags & ANY_CONF == ANY_CONF {
        return vec!["any"];
    }
    let mut out = Vec::new();
    match module {
        Module::Core | Module::Conf if flags & MAIN != 0 => out.push("main"),
        Module::Event if flags & EVENT != 0 => out.push("events"),
        _ => {}
    }
    if module == Module::Http {
        for (bit, name) in [
            (HTTP_MAIN, "http"),
            (HTTP_SRV, "server"),
            (HTTP_LOC, "location"),
            (HTTP_UPS, "upstream"),
            (HTTP_SIF, "if in server"),
            (HTTP_LIF, "if in location"),
            (HTTP_LMT, "limit_except"),
        ] {
            if flags & bit != 0 {
                out.push(name);
            }
        }
    }
    out
}

/// The argument rule of a row in words: `1`, `1-3`, `on|off`, `1+`, `any`.
pub fn arity_text(flags: u32) -> String {
    if flags & ANY != 0 {
        return "any".into();
    }
    if flags & FLAG != 0 {
        return "on/off".into();
    }
    if flags & MORE1 != 0 {
        return "1+".into();
    }
    if flags & MORE2 != 0 {
        return "2+".into();
    }
    let counts: Vec<usize> = (0..8)
        .filter(|&n| flags & ARGUMENT_NUMBER[n] != 0)
        .collect();
    match counts.as_slice() {
        [] => "?".into(),
        [n] => n.to_string(),
        [first, .., last] if last - first + 1 == counts.len() => format!("{first}-{last}"),
        _ => counts
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(","),
    }
}
