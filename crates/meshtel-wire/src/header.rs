//! The `x-envoy-peer-metadata` HTTP headers (`docs/reference/wire.md` §6).
//!
//! The header carries the **bare** record Struct (no `Any`, no wrapper),
//! deterministically serialized and base64-encoded. Decoding writes into a
//! buffer the caller owns, so nothing is allocated.

use crate::base64::{self, Base64Error};
use crate::proto::{DecodeError, Limits, StructView};

/// Header carrying the base64 record.
pub const PEER_METADATA: &str = "x-envoy-peer-metadata";
/// Header carrying the node id, verbatim.
pub const PEER_METADATA_ID: &str = "x-envoy-peer-metadata-id";
/// W3C baggage header.
pub const BAGGAGE: &str = "baggage";
/// Origin network; when it differs from the local network, downstream
/// workload discovery is skipped.
pub const FORWARDED_NETWORK: &str = "x-forwarded-network";

/// Why an `x-envoy-peer-metadata` value yields no peer. In every case the
/// discovery method falls through to the next one (project decision W8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The value is empty: not a peer.
    #[error("empty x-envoy-peer-metadata value")]
    Empty,
    /// The value decodes to more than the limit; rejected before decoding.
    #[error("x-envoy-peer-metadata decodes to {decoded} bytes, more than the limit of {max}")]
    TooLong {
        /// Bytes the value would decode to.
        decoded: usize,
        /// The limit.
        max: usize,
    },
    /// Not strict standard base64.
    #[error("x-envoy-peer-metadata is not valid base64: {0}")]
    Base64(#[from] Base64Error),
    /// Valid base64 of bytes that are not a `Struct`.
    #[error("x-envoy-peer-metadata does not hold a Struct: {0}")]
    Malformed(#[from] DecodeError),
}

/// The default limit on the decoded size: 64 KiB, as the frame's
/// `max_payload` (`docs/reference/wire.md` §6.2).
pub const DEFAULT_MAX_DECODED: usize = 64 * 1024;

/// Decodes an `x-envoy-peer-metadata` value into `buf` and views the record
/// Struct, with the default size and depth limits. `buf` needs
/// [`base64::decoded_len`] bytes (3/4 of the value); a stack array serves.
///
/// ```
/// use meshtel_wire::header::decode_peer_header;
/// use meshtel_wire::workload::WorkloadView;
/// let value = b"CgwKBkxBQkVMUxICKgAKEQoJTkFNRVNQQUNFEgQaAm5zChQKDVdPUktMT0FEX05BTUUSAxoBdw==";
/// let mut buf = [0u8; 1024];
/// let record = WorkloadView::from_struct(decode_peer_header(value, &mut buf)?);
/// assert_eq!((record.namespace, record.workload), ("ns", "w"));
/// # Ok::<(), meshtel_wire::header::HeaderError>(())
/// ```
///
/// # Errors
/// [`HeaderError`]: empty value, over the limit, bad base64 (including a
/// buffer too small for it), or bytes that are not a `Struct`.
pub fn decode_peer_header<'b>(value: &[u8], buf: &'b mut [u8]) -> Result<StructView<'b>, HeaderError> {
    decode_peer_header_with(value, buf, DEFAULT_MAX_DECODED, &Limits::default())
}

/// [`decode_peer_header`] with explicit limits.
///
/// # Errors
/// As [`decode_peer_header`].
pub fn decode_peer_header_with<'b>(
    value: &[u8],
    buf: &'b mut [u8],
    max_decoded: usize,
    limits: &Limits,
) -> Result<StructView<'b>, HeaderError> {
    let n = decode_base64(value, buf, max_decoded)?;
    Ok(StructView::parse_with(&buf[..n], limits)?)
}

/// Decodes an `x-envoy-peer-metadata` value into `buf` and reads the peer
/// record in the same pass that validates it (default limits): the hot path
/// of an inbound sidecar.
///
/// ```
/// use meshtel_wire::header::decode_peer_record;
/// let value = b"CgwKBkxBQkVMUxICKgAKEQoJTkFNRVNQQUNFEgQaAm5zChQKDVdPUktMT0FEX05BTUUSAxoBdw==";
/// let mut buf = [0u8; 1024];
/// let (record, _view) = decode_peer_record(value, &mut buf)?;
/// assert_eq!((record.namespace, record.workload), ("ns", "w"));
/// # Ok::<(), meshtel_wire::header::HeaderError>(())
/// ```
///
/// # Errors
/// As [`decode_peer_header`].
pub fn decode_peer_record<'b>(
    value: &[u8],
    buf: &'b mut [u8],
) -> Result<(crate::workload::WorkloadView<'b>, StructView<'b>), HeaderError> {
    let n = decode_base64(value, buf, DEFAULT_MAX_DECODED)?;
    Ok(crate::workload::WorkloadView::parse_with(
        &buf[..n],
        &Limits::default(),
    )?)
}

fn decode_base64(value: &[u8], buf: &mut [u8], max_decoded: usize) -> Result<usize, HeaderError> {
    if value.is_empty() {
        return Err(HeaderError::Empty);
    }
    let decoded = base64::decoded_len(value)?;
    if decoded > max_decoded {
        return Err(HeaderError::TooLong {
            decoded,
            max: max_decoded,
        });
    }
    Ok(base64::decode(value, buf)?)
}

/// Encodes a record Struct (usually
/// [`WorkloadMetadata::to_struct`](crate::workload::WorkloadMetadata::to_struct))
/// as an `x-envoy-peer-metadata` value: deterministic bytes, padded base64.
///
/// ```
/// use meshtel_wire::proto::Struct;
/// use meshtel_wire::header::encode_peer_header;
/// let mut record = Struct::new();
/// record.insert("LABELS", Struct::new());
/// record.insert("NAMESPACE", "ns");
/// record.insert("WORKLOAD_NAME", "w");
/// assert_eq!(encode_peer_header(&record),
///     "CgwKBkxBQkVMUxICKgAKEQoJTkFNRVNQQUNFEgQaAm5zChQKDVdPUktMT0FEX05BTUUSAxoBdw==");
/// ```
#[cfg(feature = "alloc")]
#[must_use]
pub fn encode_peer_header(record: &crate::proto::Struct) -> alloc::string::String {
    base64::encode_to_string(&crate::proto::encode_struct(record))
}
