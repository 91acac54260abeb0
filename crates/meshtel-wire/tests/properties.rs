//! Property tests: round trips, no panics on hostile bytes, agreement with
//! prost, and split-feeding equivalence of the frame
//! decoder.

use meshtel_wire::frame::{FrameConfig, FrameDecoder, FrameError, Status, encode_frame};
use meshtel_wire::proto::{Reason, Struct, StructView, Value, encode_struct};
use proptest::prelude::*;
use prost::Message as _;

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Unset),
        Just(Value::Null),
        any::<f64>()
            .prop_filter("NaN breaks ==", |n| !n.is_nan())
            .prop_map(Value::Number),
        ".{0,12}".prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::btree_map(".{0,8}", inner.clone(), 0..6)
                .prop_map(|fields| Value::Struct(Struct { fields })),
            prop::collection::vec(inner, 0..6).prop_map(Value::List),
        ]
    })
}

fn a_struct() -> impl Strategy<Value = Struct> {
    prop::collection::btree_map(".{0,10}", value(), 0..8).prop_map(|fields| Struct { fields })
}

/// Compares through the deterministic encoding, so -0.0 and 0.0 differ and
/// everything else compares as protobuf would.
fn same(a: &Struct, b: &Struct) -> bool {
    encode_struct(a) == encode_struct(b)
}

/// A valid encoding with some damage done to it.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        a_struct(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 0..4),
    )
        .prop_map(|(s, edits)| {
            let mut bytes = encode_struct(&s);
            for (at, byte, op) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => bytes.truncate(i),
                    2 => bytes.insert(i, byte),
                    _ => {
                        // Duplicate a tail: repeated fields and keys.
                        let tail = bytes[i..].to_vec();
                        bytes.extend_from_slice(&tail);
                    }
                }
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_view_round_trips(s in a_struct()) {
        let bytes = encode_struct(&s);
        prop_assert_eq!(bytes.len(), meshtel_wire::proto::encoded_struct_len(&s));
        let view = StructView::parse(&bytes).unwrap();
        prop_assert!(same(&Struct::from_view(&view), &s));
        // prost reads our bytes as the same Struct, and writes the same bytes.
        let theirs = prost_types::Struct::decode(bytes.as_slice()).unwrap();
        prop_assert!(same(&Struct::from(theirs), &s));
    }

    #[test]
    fn frames_round_trip(s in a_struct(), id in ".{0,20}") {
        let frame = encode_frame(&s, &id, &FrameConfig::default()).unwrap();
        prop_assert_eq!(frame.len(), meshtel_wire::frame::encoded_frame_len(&s, &id));
        let mut decoder = FrameDecoder::new(FrameConfig::default());
        let Ok(Status::Frame { metadata: record, metadata_struct: peer, id: got, consumed }) = decoder.decode(&frame) else {
            return Err(TestCaseError::fail("not a frame"));
        };
        // The record read during validation is the record read afterwards.
        let two_pass = meshtel_wire::workload::WorkloadView::from_struct(peer);
        prop_assert_eq!(
            meshtel_wire::workload::WorkloadMetadata::from_view(&record, &["a", ""]),
            meshtel_wire::workload::WorkloadMetadata::from_view(&two_pass, &["a", ""])
        );
        prop_assert_eq!(consumed, frame.len());
        prop_assert_eq!(got, if id.is_empty() { None } else { Some(id.as_str()) });
        prop_assert!(same(&Struct::from_view(&peer), &s));
    }

    #[test]
    fn fused_record_read_agrees_with_two_passes(bytes in mutated()) {
        let fused = meshtel_wire::workload::WorkloadView::parse(&bytes);
        let view = StructView::parse(&bytes);
        match (fused, view) {
            (Ok(fused), Ok(view)) => {
                let two_pass = meshtel_wire::workload::WorkloadView::from_struct(view);
                prop_assert_eq!(
                    meshtel_wire::workload::WorkloadMetadata::from_view(&fused, &["a"]),
                    meshtel_wire::workload::WorkloadMetadata::from_view(&two_pass, &["a"])
                );
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "{:?} vs {:?}", a.is_ok(), b.is_ok()),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(view) = StructView::parse(&bytes) {
            let _ = Struct::from_view(&view);
            let _ = format!("{view:?}");
            let _ = meshtel_wire::workload::WorkloadView::from_struct(view);
        }
        let _ = meshtel_wire::frame::decode_frame(&bytes, &FrameConfig::default());
        let mut buf = [0u8; 256];
        let _ = meshtel_wire::header::decode_peer_header(&bytes, &mut buf);
    }

    #[test]
    fn view_agrees_with_prost(bytes in mutated()) {
        let ours = StructView::parse(&bytes);
        let theirs = prost_types::Struct::decode(bytes.as_slice());
        match (ours, theirs) {
            (Ok(view), Ok(theirs)) => prop_assert!(same(&Struct::from_view(&view), &Struct::from(theirs)), "{:02x?}", bytes),
            (Err(e), Err(_)) => prop_assert!(e.offset <= bytes.len()),
            // prost allows about 100 message levels, we allow 32 containers.
            (Err(e), Ok(_)) => prop_assert_eq!(e.reason, Reason::TooDeep, "{:02x?}", bytes),
            // prost rejects a known field with an unexpected wire type; the
            // reference runtime (and `docs/reference/wire.md` §3.4) skips it as unknown.
            (Ok(_), Err(e)) => prop_assert!(e.to_string().contains("invalid wire type"), "prost rejects what we accept: {e} {:02x?}", bytes),
        }
    }

    #[test]
    fn split_feeding_is_equivalent(
        s in a_struct(),
        trailing in prop::collection::vec(any::<u8>(), 0..16),
        damage in prop::option::of((any::<prop::sample::Index>(), any::<u8>())),
        cuts in prop::collection::vec(1usize..64, 1..32),
    ) {
        let mut input = encode_frame(&s, "id", &FrameConfig::default()).unwrap();
        if let Some((at, byte)) = damage {
            let i = at.index(input.len());
            input[i] = byte;
        }
        input.extend_from_slice(&trailing);
        let whole = outcome(&mut FrameDecoder::new(FrameConfig::default().with_max_payload(1024).unwrap()), &input, &[input.len()]);
        let split = outcome(&mut FrameDecoder::new(FrameConfig::default().with_max_payload(1024).unwrap()), &input, &cuts);
        prop_assert_eq!(whole, split);
    }
}

/// What a caller that holds bytes and feeds them as they arrive ends up
/// with: the decoder's last status (as text), the bytes it consumed, and the
/// application bytes it passed on.
fn outcome(decoder: &mut FrameDecoder, input: &[u8], cuts: &[usize]) -> (String, usize, Vec<u8>) {
    let mut arrived = 0;
    let mut held_from = 0; // bytes before this were consumed or passed on
    let mut consumed = 0;
    let mut app = Vec::new();
    let mut last = String::from("NeedMore");
    let mut cuts = cuts.iter().cycle();
    let mut done = false;
    while arrived < input.len() {
        arrived = (arrived + cuts.next().copied().unwrap_or(1)).min(input.len());
        let held = &input[held_from..arrived];
        if done {
            app.extend_from_slice(held);
            held_from = arrived;
            continue;
        }
        let result: Result<Status<'_>, FrameError> = decoder.decode(held);
        match result {
            Ok(Status::NeedMore { .. }) => {}
            Ok(Status::NotAFrame) => {
                last = "NotAFrame".into();
                done = true;
                app.extend_from_slice(held);
                held_from = arrived;
            }
            Ok(Status::Frame {
                metadata_struct: peer,
                id,
                consumed: n,
                ..
            }) => {
                last = format!("Frame {:?} {id:?}", encode_struct(&Struct::from_view(&peer)));
                consumed += n;
                done = true;
                app.extend_from_slice(&held[n..]);
                held_from = arrived;
            }
            Ok(Status::NoPeer { id, consumed: n }) => {
                last = format!("NoPeer {id:?}");
                consumed += n;
                done = true;
                app.extend_from_slice(&held[n..]);
                held_from = arrived;
            }
            Ok(Status::Skip { consumed: n, .. }) => {
                consumed += n;
                held_from += n;
                if decoder.is_finished() {
                    done = true;
                    app.extend_from_slice(&input[held_from..arrived]);
                    held_from = arrived;
                }
            }
            Ok(Status::Finished) => unreachable!("finished is tracked by `done`"),
            Ok(_) => unreachable!("no other status"),
            Err(e) => {
                last = format!("Err {:?}", e.kind);
                consumed += e.consumed;
                held_from += e.consumed;
                if decoder.is_finished() {
                    done = true;
                    app.extend_from_slice(&input[held_from..arrived]);
                    held_from = arrived;
                }
            }
        }
    }
    if !done {
        last = match decoder.finish(&input[held_from..]) {
            Ok(s) => format!("eof {s:?}"),
            Err(e) => format!("eof Err {:?}", e.kind),
        };
    }
    (last, consumed, app)
}
