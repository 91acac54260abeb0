//! Agreement of compiled programs with the reference evaluator: see
//! `meshtel_expr::fuzzing::eval`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshtel_expr::fuzzing::eval(data));
