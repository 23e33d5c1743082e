//! What peers send, through the parsers that read it: a client's request head (with nginx's
//! buffer rules at default and small sizes), an upstream's response head and a chunked
//! body, a PROXY protocol header. Nothing may panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ngxr::runtime::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::client_head(data);
    fuzzing::upstream_answer(data);
    fuzzing::proxy_protocol(data);
});
