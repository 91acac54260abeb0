//! The `x-envoy-peer-metadata` HTTP headers (`docs/reference/wire.md` §6).
//!
//! The header carries the **bare** workload metadata Struct (no `Any`, no wrapper),
//! deterministically serialized and base64-encoded. Decoding writes into a
//! buffer the caller owns, so nothing is allocated.
//!
//! With the `http` feature, [`peer_header_value`] and
//! [`decode_peer_header_value`] work on `http::HeaderValue`s:
//!
//! ```
//! # #[cfg(feature = "http")] {
//! use meshtel_wire::header::{peer_header_value, decode_peer_header_value};
//! use meshtel_wire::proto::Struct;
//! let mut metadata = Struct::new();
//! metadata.insert("NAMESPACE", "ns");
//! let value = peer_header_value(&metadata);
//! let mut buf = [0u8; 256];
//! let view = decode_peer_header_value(&value, &mut buf)?;
//! assert_eq!(view.get("NAMESPACE").and_then(|v| v.as_str()), Some("ns"));
//! # }
//! # Ok::<(), meshtel_wire::header::HeaderError>(())
//! ```

use crate::base64;
pub use crate::base64::Base64Error;
use crate::proto::{DecodeError, Limits, StructView};
use crate::workload::WorkloadView;

/// Header carrying the base64 workload metadata; also the outer Struct key
/// of the workload metadata in a TCP frame.
pub const PEER_METADATA: &str = "x-envoy-peer-metadata";
/// Header carrying the node id, verbatim; also the outer Struct key of the
/// node id in a TCP frame.
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

/// The most bytes a header value of `value_len` characters decodes to: a
/// large enough `buf` for the decoders here (3/4 of the value).
///
/// ```
/// use meshtel_wire::header::max_decoded_len;
/// assert_eq!(max_decoded_len(4), 3);
/// assert_eq!(max_decoded_len(6), 4);
/// ```
#[must_use]
pub const fn max_decoded_len(value_len: usize) -> usize {
    base64::data_len(value_len)
}

/// Decodes an `x-envoy-peer-metadata` value into `buf` and views the
/// workload metadata Struct, with the default size and depth limits. `buf`
/// needs [`max_decoded_len`] bytes (3/4 of the value); a stack array serves.
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

/// Decodes an `x-envoy-peer-metadata` value into `buf` and reads the peer's
/// workload metadata in the same pass that validates it (default limits):
/// the hot path of an inbound sidecar.
///
/// ```
/// use meshtel_wire::header::decode_peer_metadata;
/// let value = b"CgwKBkxBQkVMUxICKgAKEQoJTkFNRVNQQUNFEgQaAm5zChQKDVdPUktMT0FEX05BTUUSAxoBdw==";
/// let mut buf = [0u8; 1024];
/// let (metadata, _struct) = decode_peer_metadata(value, &mut buf)?;
/// assert_eq!((metadata.namespace, metadata.workload), ("ns", "w"));
/// # Ok::<(), meshtel_wire::header::HeaderError>(())
/// ```
///
/// # Errors
/// As [`decode_peer_header`].
pub fn decode_peer_metadata<'b>(
    value: &[u8],
    buf: &'b mut [u8],
) -> Result<(WorkloadView<'b>, StructView<'b>), HeaderError> {
    let n = decode_base64(value, buf, DEFAULT_MAX_DECODED)?;
    Ok(WorkloadView::parse_with(&buf[..n], &Limits::default())?)
}

/// Decodes an `x-envoy-peer-metadata` value into `buf` without reading it:
/// the serialized Struct, unvalidated (default size limit).
///
/// ```
/// use meshtel_wire::header::decode_peer_header_bytes;
/// let mut buf = [0u8; 8];
/// assert_eq!(decode_peer_header_bytes(b"+/8=", &mut buf)?, &[0xfb, 0xff]);
/// assert!(decode_peer_header_bytes(b"-_-_", &mut buf).is_err());
/// # Ok::<(), meshtel_wire::header::HeaderError>(())
/// ```
///
/// # Errors
/// [`HeaderError`]: empty value, over the limit, or bad base64 (including
/// a buffer too small for it).
pub fn decode_peer_header_bytes<'b>(value: &[u8], buf: &'b mut [u8]) -> Result<&'b [u8], HeaderError> {
    let n = decode_base64(value, buf, DEFAULT_MAX_DECODED)?;
    Ok(&buf[..n])
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

/// Encodes a workload metadata Struct (usually
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
pub fn encode_peer_header(metadata: &crate::proto::Struct) -> alloc::string::String {
    encode_peer_header_bytes(&crate::proto::encode_struct(metadata))
}

/// Encodes an already serialized Struct as an `x-envoy-peer-metadata`
/// value (padded base64).
///
/// ```
/// use meshtel_wire::header::encode_peer_header_bytes;
/// assert_eq!(encode_peer_header_bytes(&[0xfb, 0xff]), "+/8=");
/// ```
#[cfg(feature = "alloc")]
#[must_use]
pub fn encode_peer_header_bytes(serialized: &[u8]) -> alloc::string::String {
    base64::encode_to_string(serialized)
}

/// The `x-envoy-peer-metadata` value of a workload metadata Struct, as an
/// `http::HeaderValue` (feature `http`).
#[cfg(feature = "http")]
#[must_use]
pub fn peer_header_value(metadata: &crate::proto::Struct) -> http::HeaderValue {
    // Base64 is visible ASCII.
    http::HeaderValue::from_str(&encode_peer_header(metadata)).unwrap_or_else(|_| http::HeaderValue::from_static(""))
}

/// Decodes an `x-envoy-peer-metadata` `http::HeaderValue` into `buf`
/// (feature `http`).
///
/// # Errors
/// As [`decode_peer_header`].
#[cfg(feature = "http")]
pub fn decode_peer_header_value<'b>(
    value: &http::HeaderValue,
    buf: &'b mut [u8],
) -> Result<StructView<'b>, HeaderError> {
    decode_peer_header(value.as_bytes(), buf)
}
