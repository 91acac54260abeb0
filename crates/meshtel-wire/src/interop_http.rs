//! `http::HeaderValue` helpers (feature `http`).
//!
//! ```
//! use meshtel_wire::interop_http::{peer_header_value, decode_peer_header_value};
//! use meshtel_wire::proto::Struct;
//! let mut record = Struct::new();
//! record.insert("NAMESPACE", "ns");
//! let value = peer_header_value(&record);
//! let mut buf = [0u8; 256];
//! let view = decode_peer_header_value(&value, &mut buf)?;
//! assert_eq!(view.get("NAMESPACE").and_then(|v| v.as_str()), Some("ns"));
//! # Ok::<(), meshtel_wire::header::HeaderError>(())
//! ```

use http::HeaderValue;

use crate::header::{self, HeaderError};
use crate::proto::{Struct, StructView};
use crate::workload::WorkloadView;

/// The `x-envoy-peer-metadata` value of a record Struct.
#[must_use]
pub fn peer_header_value(record: &Struct) -> HeaderValue {
    // Base64 is visible ASCII.
    HeaderValue::from_str(&header::encode_peer_header(record)).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Decodes an `x-envoy-peer-metadata` header value into `buf`.
///
/// # Errors
/// As [`header::decode_peer_header`].
pub fn decode_peer_header_value<'b>(value: &HeaderValue, buf: &'b mut [u8]) -> Result<StructView<'b>, HeaderError> {
    header::decode_peer_header(value.as_bytes(), buf)
}

/// The `baggage` value of a record in Istio's proxy order; `None` when it
/// would be empty (not sent, W11).
#[must_use]
pub fn baggage_header_value(record: &WorkloadView<'_>) -> Option<HeaderValue> {
    let value = crate::baggage::baggage_string(record, crate::baggage::BaggageOrder::Istio);
    if value.is_empty() {
        return None;
    }
    HeaderValue::from_str(&value).ok()
}
