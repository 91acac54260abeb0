//! CEL parser round trip: see `meshtel_expr::fuzzing::cel_parse`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshtel_expr::fuzzing::cel_parse(data));
