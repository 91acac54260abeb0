//! Frame encoder (`alloc`).

use alloc::vec::Vec;

use super::{FrameConfig, HEADER_LEN, MAGIC, PEER_METADATA_ID_KEY, PEER_METADATA_KEY};
use crate::proto::{RevBuf, STRUCT_TYPE_URL, Struct, encoded_struct_len, varint_len};

/// The frame encoder refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The payload would exceed `max_payload`, so a peer would reject it.
    #[error("frame payload of {len} bytes exceeds max_payload {max}")]
    PayloadTooLarge {
        /// The payload size.
        len: usize,
        /// The limit.
        max: u32,
    },
}

const fn len_prefixed(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// Sizes of the nested messages of a frame, innermost first.
struct Sizes {
    record: usize,
    outer: usize,
    payload: usize,
}

fn sizes(record: &Struct, id: &str) -> Sizes {
    let record_len = encoded_struct_len(record);
    let mut outer = len_prefixed(len_prefixed(PEER_METADATA_KEY.len()) + len_prefixed(len_prefixed(record_len)));
    if !id.is_empty() {
        outer += len_prefixed(len_prefixed(PEER_METADATA_ID_KEY.len()) + len_prefixed(len_prefixed(id.len())));
    }
    Sizes { record: record_len, outer, payload: len_prefixed(STRUCT_TYPE_URL.len()) + len_prefixed(outer) }
}

/// The length of the frame [`encode_frame`] writes.
#[must_use]
pub fn encoded_frame_len(record: &Struct, id: &str) -> usize {
    HEADER_LEN + sizes(record, id).payload
}

/// Encodes the prefix frame carrying `record` (the Struct of wire spec 1.2,
/// usually [`WorkloadMetadata::to_struct`](crate::workload::WorkloadMetadata::to_struct))
/// and the node `id` (omitted when empty): magic, length, deterministic
/// `Any<Struct>`.
///
/// ```
/// use meshtel_wire::frame::{encode_frame, FrameConfig};
/// use meshtel_wire::proto::Struct;
/// let mut record = Struct::new();
/// record.insert("LABELS", Struct::new());
/// record.insert("NAMESPACE", "ns");
/// record.insert("WORKLOAD_NAME", "w");
/// let frame = encode_frame(&record, "a~b~c~d", &FrameConfig::default())?;
/// assert_eq!(frame, meshtel_wire::__doc_example_frame());
/// # Ok::<(), meshtel_wire::frame::EncodeError>(())
/// ```
///
/// # Errors
/// [`EncodeError::PayloadTooLarge`] if the payload exceeds the config's
/// `max_payload`.
pub fn encode_frame(record: &Struct, id: &str, config: &FrameConfig) -> Result<Vec<u8>, EncodeError> {
    let sizes = sizes(record, id);
    check(&sizes, config)?;
    Ok(write(record, id, &sizes).into_vec())
}

/// [`encode_frame`], appending to `out`.
///
/// # Errors
/// As [`encode_frame`]; `out` is unchanged then.
pub fn encode_frame_into(record: &Struct, id: &str, config: &FrameConfig, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let sizes = sizes(record, id);
    check(&sizes, config)?;
    out.extend_from_slice(write(record, id, &sizes).as_slice());
    Ok(())
}

fn check(sizes: &Sizes, config: &FrameConfig) -> Result<(), EncodeError> {
    if sizes.payload > config.max_payload() as usize {
        return Err(EncodeError::PayloadTooLarge { len: sizes.payload, max: config.max_payload() });
    }
    Ok(())
}

fn write(record: &Struct, id: &str, sizes: &Sizes) -> RevBuf {
    let mut w = RevBuf::with_capacity(HEADER_LEN + sizes.payload);
    // Outer Struct, entries in key order: "...-metadata" < "...-metadata-id".
    if !id.is_empty() {
        crate::proto::encode::put_entry(&mut w, PEER_METADATA_ID_KEY.as_bytes(), |w| w.put_bytes_field(0x1a, id.as_bytes()));
    }
    crate::proto::encode::put_entry(&mut w, PEER_METADATA_KEY.as_bytes(), |w| {
        let mark = w.len();
        crate::proto::encode::put_struct(w, record);
        debug_assert_eq!(w.len() - mark, sizes.record);
        w.put_len_prefix(mark, 0x2a);
    });
    debug_assert_eq!(w.len(), sizes.outer);
    // Any { type_url = 1; value = 2 }.
    w.put_len_prefix(0, 0x12);
    w.put_bytes_field(0x0a, STRUCT_TYPE_URL.as_bytes());
    let payload = w.len() as u32;
    w.put_slice(&payload.to_be_bytes());
    w.put_slice(&MAGIC);
    w
}
