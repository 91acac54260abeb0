//! Struct views agree with prost: on any bytes, if both accept, they read
//! the same Struct; we reject what prost accepts only for depth; we accept
//! what prost rejects only where prost departs from the reference runtime (a
//! known field with an unexpected wire type, which the reference runtime and
//! `docs/reference/wire.md` §3.4 treat as an unknown field). Whatever we
//! accept re-encodes and re-reads equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshtel_wire::proto::{Reason, Struct, StructView, encode_struct};
use meshtel_wire::workload::WorkloadView;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let ours = StructView::parse(data);
    let theirs = prost_types::Struct::decode(data);
    match (&ours, theirs) {
        (Ok(view), Ok(theirs)) => {
            let owned = Struct::from_view(view);
            assert_eq!(encode_struct(&owned), encode_struct(&Struct::from(theirs)));
            let _ = WorkloadView::from_struct(*view);
            let bytes = encode_struct(&owned);
            let again = Struct::from_view(&StructView::parse(&bytes).expect("re-encoding parses"));
            assert_eq!(encode_struct(&again), bytes);
        }
        (Ok(_), Err(e)) => assert!(
            e.to_string().contains("invalid wire type"),
            "prost rejects what we accept: {e}"
        ),
        (Err(e), Ok(_)) => assert_eq!(e.reason, Reason::TooDeep, "{e}"),
        (Err(e), Err(_)) => assert!(e.offset <= data.len()),
    }
});
