//! `grammar/directives.md`, rendered from the table so the document cannot drift from the code
//! (a test compares the two; `UPDATE_EXPECT=1 cargo test` rewrites the file).

use super::context::{arity_text, context_names};
use super::support::by_name;

/// The whole document.
pub fn render() -> String {
    let mut out = String::from(
        "# nginx directives known to ngxr\n\n\
         Generated from `src/directives/table.rs` (nginx 1.22.1, the static modules of Debian's\n\
         build). *Contexts*: where nginx allows the directive. *Args*: how many arguments\n\
         (`on/off` = a flag). *Value*: nginx's standard handler that parses it (`custom` = the\n\
         module's own). *Unique*: a second one in the same block is an error. *ngxr*: `served`\n\
         (implemented as nginx does it), `inert` (safe to ignore for a proxy), `unsupported`\n\
         (`check` warns; the server refuses to start). A few depend on their arguments\n\
         (a `charset` from a variable is not served): `support.rs`.\n\n\
         | directive | module | contexts | args | value | unique | ngxr |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for s in super::all() {
        let block = if s.flags & super::flags::BLOCK != 0 {
            " `{}`"
        } else {
            ""
        };
        out.push_str(&format!(
            "| `{}`{} | {} | {} | {} | {} | {} | {} |\n",
            s.name,
            block,
            s.module.as_str(),
            context_names(s.module, s.flags).join(", "),
            arity_text(s.flags),
            s.slot.as_str(),
            if s.unique { "yes" } else { "" },
            by_name(s.name).as_str(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn grammar_directives_md_is_the_rendered_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/grammar/directives.md");
        let want = super::render();
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(path, &want).expect("write grammar/directives.md");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "grammar/directives.md is stale: run UPDATE_EXPECT=1 cargo test"
        );
    }
}
