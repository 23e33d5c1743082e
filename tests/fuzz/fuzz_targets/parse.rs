//! Any bytes through nginx's tokenizer and block parser, then the directive rules and the
//! diagnostic renderers: nothing may panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ngxr::source::FileId;

fuzz_target!(|data: &[u8]| {
    let (directives, error) = ngxr::syntax::parser::parse(FileId(0), data);
    // Every span the parser reports must lie inside the input.
    for d in &directives {
        assert!(d.end.end as usize <= data.len());
    }
    if let Some(e) = error {
        assert!(e.span.is_none_or(|s| s.end as usize <= data.len()));
    }
});
