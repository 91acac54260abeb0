//! Protobuf wire format for `google.protobuf.{Struct, Value, ListValue, Any}`.
//!
//! Decoding is two-phase: [`StructView::parse`] (or [`AnyView::parse`])
//! validates the whole message once — lengths, wire types, UTF-8, nesting
//! depth — and returns a view whose accessors are then infallible and
//! allocation-free. Parsing follows protobuf's reader rules (`docs/reference/wire.md` §3.4):
//! fields in any order, last scalar wins, repeated message fields merge,
//! unknown fields of every wire type are skipped.
//!
//! Encoding (`alloc`) is deterministic and byte-identical to the reference
//! runtime's deterministic mode: map entries sorted by key bytes.

mod error;
pub(crate) mod fast;
mod varint;
pub(crate) mod view;
pub(crate) mod wire;

#[cfg(feature = "bytes")]
mod bufmut;
#[cfg(feature = "alloc")]
pub(crate) mod encode;
#[cfg(feature = "alloc")]
mod owned;
#[cfg(feature = "prost")]
mod prost_conv;

pub use error::{DecodeError, Reason};
pub use view::{AnyView, Entries, EntryView, Kind, ListIter, ListView, StructView, ValueView};
pub use wire::Limits;

#[cfg(feature = "bytes")]
pub use bufmut::put_struct;
#[cfg(feature = "alloc")]
pub use encode::{encode_struct, encode_struct_into, encoded_struct_len};
#[cfg(feature = "alloc")]
pub use owned::{Struct, Value};
#[cfg(feature = "prost")]
pub use prost_conv::view_to_prost;

#[cfg(feature = "alloc")]
pub(crate) use encode::RevBuf;
#[cfg(feature = "alloc")]
pub(crate) use varint::encoded_len as varint_len;

/// The type URL of a `google.protobuf.Struct` packed in an `Any`.
pub const STRUCT_TYPE_URL: &str = "type.googleapis.com/google.protobuf.Struct";
