//! The fast path against the general validator, on arbitrary input: the
//! public decoders (fast path first) give exactly the verdict, error offset
//! and reading of the general path alone; the trusting walk with the
//! high-byte counts and the checking walk reach the same verdict.

use alloc::string::String;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::{Reader, Unread, Walk, WholeStruct, count_high};
use crate::frame::{FrameConfig, FrameDecoder, Status, encode_frame};
use crate::header::{PEER_METADATA, PEER_METADATA_ID};
use crate::proto::wire::validate_struct;
use crate::proto::{Limits, Struct, StructView, Value, encode_struct};
use crate::workload::{RawMetadata, WorkloadView};

/// Keys the record reader dispatches on, and others.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "NAME",
                "NAMESPACE",
                "WORKLOAD_NAME",
                "OWNER",
                "CLUSTER_ID",
                "IDENTITY",
                "REGION",
                "AVAILABILITY_ZONE",
                "LABELS",
                "app",
                "version",
                "app.kubernetes.io/name",
                "service.istio.io/canonical-name",
                PEER_METADATA,
                PEER_METADATA_ID,
            ][..]
        )
        .prop_map(String::from),
        // Non-ASCII and long keys too.
        "[a-zé€-]{0,6}",
        "[a-z]{120,140}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.-]{0,16}",
        "[a-zéü€𝄞]{0,8}",
        // Past one-byte lengths.
        "[a-z]{126,200}",
        Just(String::from("kubernetes://apis/apps/v1/namespaces/ns/deployments/w")),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Unset),
        Just(Value::Null),
        prop_oneof![Just(0.5), Just(-0.0), Just(f64::MAX), Just(1e-300)].prop_map(Value::Number),
        text().prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::btree_map(key(), inner.clone(), 0..6).prop_map(|fields| Value::Struct(Struct { fields })),
            prop::collection::vec(inner, 0..5).prop_map(Value::List),
        ]
    })
}

fn a_struct() -> impl Strategy<Value = Struct> {
    prop::collection::btree_map(key(), value(), 0..8).prop_map(|fields| Struct { fields })
}

/// Edits that keep most of the shape: a byte replaced (often by a high or
/// invalid UTF-8 byte), a cut, an insertion, a duplicated tail.
fn damage(mut bytes: Vec<u8>, edits: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
    for &(at, byte, op) in edits {
        if bytes.is_empty() {
            bytes.push(byte);
            continue;
        }
        let i = at.index(bytes.len());
        match op {
            0 => bytes[i] = byte,
            1 => bytes[i] = 0x80 | byte,
            2 => bytes.truncate(i),
            3 => bytes.insert(i, byte),
            _ => {
                let tail = bytes[i..].to_vec();
                bytes.extend_from_slice(&tail);
            }
        }
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, u8)>> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..5), 0..3)
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (1u32..5).prop_map(|d| Limits::default().with_max_depth(d))
    ]
}

/// The trusting walk (`Some(counts equal)` if the shape was accepted) and
/// the checking walk (accepted or not) over one input.
fn both_walks<'a>(reader: &mut impl Reader<'a>, input: &'a [u8], limits: &Limits) -> (Option<bool>, bool) {
    let mut trusting = Walk::<false>::new(limits);
    let trusted = reader
        .read(&mut trusting, input)
        .map(|()| count_high(input) == trusting.structural_high);
    let mut checking = Walk::<true>::new(limits);
    (trusted, reader.read(&mut checking, input).is_some())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn structs_same_verdict_and_offset(s in a_struct(), edits in edits(), limits in limits()) {
        let bytes = damage(encode_struct(&s), &edits);
        let general = validate_struct(&bytes, 0, 1, &limits);
        let public = StructView::parse_with(&bytes, &limits).map(drop);
        prop_assert_eq!(public, general);
        let (trusted, checked) = both_walks(&mut WholeStruct { entries: Unread, depth: 1 }, &bytes, &limits);
        if let Some(counts_equal) = trusted {
            // The shape is valid: only UTF-8 can fail, and the checking
            // walk decides it as the general validator does.
            prop_assert_eq!(checked, general.is_ok());
            prop_assert!(!counts_equal || general.is_ok(), "the counts vouched for invalid UTF-8");
        } else {
            prop_assert!(!checked);
        }
    }

    #[test]
    fn records_same_verdict_offset_and_reading(s in a_struct(), edits in edits(), limits in limits()) {
        let bytes = damage(encode_struct(&s), &edits);
        let public = WorkloadView::parse_at(&bytes, 0, 1, &limits);
        let general = WorkloadView::parse_general(&bytes, 0, 1, &limits);
        match (&public, &general) {
            (Ok((a, _)), Ok((b, _))) => prop_assert!(a.same_as(b), "{:?} vs {:?}", a, b),
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            _ => prop_assert!(false, "{:?} vs {:?}", public.is_ok(), general.is_ok()),
        }
        let (trusted, checked) = both_walks(&mut WholeStruct { entries: RawMetadata::default(), depth: 1 }, &bytes, &limits);
        if trusted.is_some() {
            prop_assert_eq!(checked, general.is_ok());
        }
    }

    #[test]
    fn frames_same_status(record in a_struct(), id in text(), edits in edits()) {
        let frame = encode_frame(&record, &id, &FrameConfig::default()).unwrap();
        let frame = damage(frame, &edits);
        let Some(total) = frame.get(4..8).map(|n| 8 + u32::from_be_bytes(n.try_into().unwrap()) as usize) else {
            return Ok(());
        };
        let Some(whole) = frame.get(..total).filter(|_| frame.starts_with(&crate::frame::MAGIC) && total <= 8 + 65536) else {
            return Ok(());
        };
        let public = FrameDecoder::new(FrameConfig::default()).decode(whole);
        let general = FrameDecoder::new(FrameConfig::default()).read_general(whole);
        prop_assert_eq!(summary(&public), summary(&general));
    }
}

/// What a caller sees of a decoded frame, comparable.
fn summary(status: &Result<Status<'_>, crate::frame::FrameError>) -> String {
    use core::fmt::Write as _;
    let mut out = String::new();
    match status {
        Ok(Status::Frame {
            metadata: record,
            metadata_struct: peer,
            id,
            consumed,
        }) => {
            let keys: Vec<&str> = peer.entries().map(|e| e.key()).collect();
            write!(out, "Frame {record:?} {keys:?} {id:?} {consumed}").unwrap();
        }
        other => write!(out, "{other:?}").unwrap(),
    }
    out
}
