//! nginx's directive table and the rules `ngx_conf_handler` applies with it: is the directive
//! known, allowed where it stands, given the right number of arguments, ended the right way;
//! plus what nginx's standard value handlers reject (`on`/`off`, numbers, sizes, times, enums,
//! duplicates). Each directive also carries ngxr's own [`Support`] for it.

mod context;
mod env;
pub mod flags;
pub mod markdown;
mod support;
mod table;
mod walk;

pub use context::Context;
pub use support::{Support, support};
pub use walk::check_tree;

/// The code of the warning for a directive ngxr does not implement; the server refuses to
/// start on it.
pub const UNSUPPORTED: &str = "ngxr::unsupported";

/// The kind of module a directive belongs to; nginx only looks for a directive among modules
/// of the kind the current block belongs to (`include` is everywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    Conf,
    Core,
    Event,
    Http,
}

impl Module {
    pub fn as_str(self) -> &'static str {
        match self {
            Module::Conf => "conf",
            Module::Core => "core",
            Module::Event => "event",
            Module::Http => "http",
        }
    }
}

/// Which of nginx's standard handlers parses the value, which decides what is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Flag,
    Str,
    StrArray,
    KeyVal,
    Num,
    Size,
    Off,
    Msec,
    Sec,
    Bufs,
    Path,
    Access,
    Enum(&'static [&'static str]),
    Bitmask(&'static [&'static str]),
    /// The module's own handler.
    Custom,
}

impl Slot {
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Flag => "flag",
            Slot::Str => "str",
            Slot::StrArray => "str_array",
            Slot::KeyVal => "keyval",
            Slot::Num => "num",
            Slot::Size => "size",
            Slot::Off => "off",
            Slot::Msec => "msec",
            Slot::Sec => "sec",
            Slot::Bufs => "bufs",
            Slot::Path => "path",
            Slot::Access => "access",
            Slot::Enum(_) => "enum",
            Slot::Bitmask(_) => "bitmask",
            Slot::Custom => "custom",
        }
    }
}

/// One row of nginx's command tables.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub module: Module,
    /// nginx's `NGX_*_CONF` context bits and `NGX_CONF_*` argument bits, as in its source.
    pub flags: u32,
    pub slot: Slot,
    /// A second occurrence in the same block is `"x" directive is duplicate`.
    pub unique: bool,
}

/// Every row named `name` (a few names exist in more than one module, e.g. `server`).
pub fn lookup(name: &str) -> &'static [Spec] {
    let t = table::TABLE;
    let start = t.partition_point(|s| s.name < name);
    let end = start + t[start..].partition_point(|s| s.name == name);
    &t[start..end]
}

/// The whole table, sorted by name.
pub fn all() -> &'static [Spec] {
    table::TABLE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_lookup() {
        assert!(table::TABLE.windows(2).all(|w| w[0].name <= w[1].name));
    }

    #[test]
    fn lookup_finds_every_module_of_a_name() {
        assert_eq!(lookup("server").len(), 2);
        assert_eq!(lookup("proxy_pass").len(), 1);
        assert!(lookup("no_such_directive").is_empty());
    }
}
