//! Frame encoder (`alloc`).

use alloc::vec::Vec;

use super::{FrameConfig, HEADER_LEN, MAGIC};
use crate::header::{PEER_METADATA, PEER_METADATA_ID};
use crate::proto::encode::INITIAL_CAPACITY;
use crate::proto::wire::tag;
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

/// The length of the frame [`encode_frame`] writes.
#[must_use]
pub fn encoded_frame_len(record: &Struct, id: &str) -> usize {
    let len_prefixed = |len: usize| 1 + varint_len(len as u64) + len;
    let mut outer =
        len_prefixed(len_prefixed(PEER_METADATA.len()) + len_prefixed(len_prefixed(encoded_struct_len(record))));
    if !id.is_empty() {
        outer += len_prefixed(len_prefixed(PEER_METADATA_ID.len()) + len_prefixed(len_prefixed(id.len())));
    }
    HEADER_LEN + len_prefixed(STRUCT_TYPE_URL.len()) + len_prefixed(outer)
}

/// Encodes the prefix frame carrying the workload metadata `record` (the Struct of `docs/reference/wire.md` §1.2,
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
    write(record, id, config).map(RevBuf::into_vec)
}

/// [`encode_frame`], appending to `out`.
///
/// # Errors
/// As [`encode_frame`]; `out` is unchanged then.
pub fn encode_frame_into(
    record: &Struct,
    id: &str,
    config: &FrameConfig,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    out.extend_from_slice(write(record, id, config)?.as_slice());
    Ok(())
}

/// Writes the frame of [`encode_frame`] into `buf` (feature `bytes`).
///
/// ```
/// use bytes::BytesMut;
/// use meshtel_wire::frame::{FrameConfig, MAGIC, put_frame};
/// use meshtel_wire::proto::Struct;
/// let mut buf = BytesMut::new();
/// put_frame(&Struct::new(), "", &FrameConfig::default(), &mut buf)?;
/// assert_eq!(&buf[..4], &MAGIC);
/// # Ok::<(), meshtel_wire::frame::EncodeError>(())
/// ```
///
/// # Errors
/// As [`encode_frame`]; `buf` is unchanged then.
#[cfg(feature = "bytes")]
pub fn put_frame(
    record: &Struct,
    id: &str,
    config: &FrameConfig,
    buf: &mut impl bytes::BufMut,
) -> Result<(), EncodeError> {
    buf.put_slice(write(record, id, config)?.as_slice());
    Ok(())
}

fn write(record: &Struct, id: &str, config: &FrameConfig) -> Result<RevBuf, EncodeError> {
    let mut w = RevBuf::with_capacity(INITIAL_CAPACITY);
    // Outer Struct, entries in key order: "...-metadata" < "...-metadata-id".
    if !id.is_empty() {
        crate::proto::encode::put_entry(&mut w, PEER_METADATA_ID.as_bytes(), |w| {
            w.put_bytes_field(tag::STRING_VALUE, id.as_bytes());
        });
    }
    crate::proto::encode::put_entry(&mut w, PEER_METADATA.as_bytes(), |w| {
        let mark = w.len();
        crate::proto::encode::put_struct(w, record);
        w.put_len_prefix(mark, tag::STRUCT_VALUE);
    });
    // Any { type_url = 1; value = 2 }.
    w.put_len_prefix(0, tag::ANY_VALUE);
    w.put_bytes_field(tag::ANY_TYPE_URL, STRUCT_TYPE_URL.as_bytes());
    let payload = w.len();
    let max = config.max_payload();
    if payload > max as usize {
        return Err(EncodeError::PayloadTooLarge { len: payload, max });
    }
    // At most 16 MiB, checked above.
    w.put_slice(&(payload as u32).to_be_bytes());
    w.put_slice(&MAGIC);
    Ok(w)
}
