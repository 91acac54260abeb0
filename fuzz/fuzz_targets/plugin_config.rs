//! `PluginConfig` parsing: never panics; JSON that parses reads the same through a JSON value
//! and re-serialised; what parses builds a plugin that records, or fails with the loader's
//! typed error (`meshtel::fuzzing::plugin_config`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshtel::fuzzing::plugin_config(data));
