//! `meshtel-wire`: the bytes that Istio proxies exchange to learn who is on
//! the other side of a connection.
//!
//! Everything here is sans-IO and, for decoding, allocation-free: decoders
//! take the bytes received so far and hand back views that borrow from them.
//! The crate is `#![no_std]`; the `alloc` feature adds owned values and the
//! encoders, `std` (default) adds nothing but `alloc` and std-only interop.
//!
//! | carrier | decode | encode (`alloc`) |
//! |---|---|---|
//! | TCP prefix frame (magic `0x3D230467`) | [`frame::FrameDecoder`], [`exchange::Exchange`] | [`frame::encode_frame`] |
//! | `x-envoy-peer-metadata` header | [`header::decode_peer_header`] | [`header::encode_peer_header`] |
//! | `baggage` header | [`baggage::parse_baggage`], [`baggage::parse_ztunnel_baggage`] | [`baggage::write_baggage`] |
//! | protobuf `Struct` / `Value` / `ListValue` / `Any` | [`proto::StructView`], [`proto::AnyView`] | [`proto::encode_struct`] |
//!
//! The peer's workload metadata itself is [`workload::WorkloadView`]
//! (borrowed) and [`workload::WorkloadMetadata`] (owned); [`alpn`] says when
//! the TCP exchange runs.
//!
//! The behaviour implemented, with the project decisions W1–W12 that the
//! item docs cite, is described in `docs/reference/wire.md` of the
//! repository.
//!
//! # Example
//!
//! Decoding a peer's frame as it arrives, then reading its workload metadata:
//!
//! ```
//! use meshtel_wire::frame::{FrameDecoder, FrameConfig, Status};
//! use meshtel_wire::workload::WorkloadView;
//!
//! // Example A of `docs/reference/wire.md` §4.2: 177 bytes, then application data.
//! # let frame = meshtel_wire::__doc_example_frame();
//! let mut received = frame.to_vec();
//! received.extend_from_slice(b"GET / HTTP/1.1\r\n");
//!
//! let mut decoder = FrameDecoder::new(FrameConfig::default());
//! // The first 5 bytes alone are not enough.
//! assert!(matches!(decoder.decode(&received[..5]), Ok(Status::NeedMore { .. })));
//! match decoder.decode(&received)? {
//!     Status::Frame { metadata, metadata_struct, id, consumed } => {
//!         assert_eq!(metadata.namespace, "ns");
//!         // The whole Struct is there too, e.g. for additional labels.
//!         assert_eq!(WorkloadView::from_struct(metadata_struct).workload, "w");
//!         assert_eq!(metadata.workload, "w");
//!         assert_eq!(id, Some("a~b~c~d"));
//!         assert_eq!(&received[consumed..], b"GET / HTTP/1.1\r\n");
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok::<(), meshtel_wire::frame::FrameError>(())
//! ```
#![no_std]
// One unsafe call exists, in `proto::view::as_str`, where a benchmark showed
// the need; everything else is safe, and `deny` keeps it that way.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Keep no_std honest for contributors who never build for a bare target.
#![warn(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::alloc_instead_of_core
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod alpn;
pub mod baggage;
mod base64;
pub mod exchange;
pub mod frame;
pub mod header;
pub mod proto;
pub mod workload;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Example A of `docs/reference/wire.md` (§4.2), used by doc examples.
#[doc(hidden)]
#[must_use]
pub fn __doc_example_frame() -> &'static [u8] {
    &EXAMPLE_A
}

const EXAMPLE_A: [u8; 177] = [
    0x3d, 0x23, 0x04, 0x67, 0x00, 0x00, 0x00, 0xa9, 0x0a, 0x2a, b't', b'y', b'p', b'e', b'.', b'g', b'o', b'o', b'g',
    b'l', b'e', b'a', b'p', b'i', b's', b'.', b'c', b'o', b'm', b'/', b'g', b'o', b'o', b'g', b'l', b'e', b'.', b'p',
    b'r', b'o', b't', b'o', b'b', b'u', b'f', b'.', b'S', b't', b'r', b'u', b'c', b't', 0x12, 0x7b, 0x0a, 0x52, 0x0a,
    0x15, b'x', b'-', b'e', b'n', b'v', b'o', b'y', b'-', b'p', b'e', b'e', b'r', b'-', b'm', b'e', b't', b'a', b'd',
    b'a', b't', b'a', 0x12, 0x39, 0x2a, 0x37, 0x0a, 0x0c, 0x0a, 0x06, b'L', b'A', b'B', b'E', b'L', b'S', 0x12, 0x02,
    0x2a, 0x00, 0x0a, 0x11, 0x0a, 0x09, b'N', b'A', b'M', b'E', b'S', b'P', b'A', b'C', b'E', 0x12, 0x04, 0x1a, 0x02,
    b'n', b's', 0x0a, 0x14, 0x0a, 0x0d, b'W', b'O', b'R', b'K', b'L', b'O', b'A', b'D', b'_', b'N', b'A', b'M', b'E',
    0x12, 0x03, 0x1a, 0x01, b'w', 0x0a, 0x25, 0x0a, 0x18, b'x', b'-', b'e', b'n', b'v', b'o', b'y', b'-', b'p', b'e',
    b'e', b'r', b'-', b'm', b'e', b't', b'a', b'd', b'a', b't', b'a', b'-', b'i', b'd', 0x12, 0x09, 0x1a, 0x07, b'a',
    b'~', b'b', b'~', b'c', b'~', b'd',
];
