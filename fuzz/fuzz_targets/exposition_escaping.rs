//! Exposition escaping: any help text and label values, recorded and rendered in both
//! formats, read back exactly (`meshtel_metrics::fuzzing::exposition_escaping`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshtel_metrics::fuzzing::exposition_escaping(data));
