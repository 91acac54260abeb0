//! Exposition round trip: any label names, values and help texts, recorded and rendered in
//! both formats, read back exactly by a strict parser; the registry refuses exactly the
//! names the grammar does (`meshtel_metrics::fuzzing::exposition_escaping`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshtel_metrics::fuzzing::exposition_escaping(data));
