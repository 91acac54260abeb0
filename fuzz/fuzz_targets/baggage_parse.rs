//! Baggage: parsing never panics, and emit∘parse is idempotent after one
//! round (parsing what was emitted and emitting again gives the same value),
//! for Istio's parser/order and ztunnel's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshtel_wire::baggage::{BaggageOrder, baggage_string, parse_baggage, parse_ztunnel_baggage};

fn istio(text: &str) -> String {
    parse_baggage(text)
        .map(|r| baggage_string(&r, BaggageOrder::Istio))
        .unwrap_or_default()
}

fn ztunnel(text: &str) -> String {
    parse_ztunnel_baggage(text.split('\n'))
        .map(|r| baggage_string(&r, BaggageOrder::Ztunnel))
        .unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for round in [istio, ztunnel] {
        let once = round(text);
        let twice = round(&once);
        let thrice = round(&twice);
        assert_eq!(twice, thrice, "{text:?} -> {once:?}");
    }
});
