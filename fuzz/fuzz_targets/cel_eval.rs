//! Agreement of compiled CEL programs with the reference evaluator over nested namespace
//! maps: see `meshtel_expr::fuzzing::cel_eval`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshtel_expr::fuzzing::cel_eval(data));
