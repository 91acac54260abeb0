//! The TCP exchange as a connection filter drives it (`docs/reference/wire.md` §4.4, §4.5).
//!
//! [`Exchange`] is a sans-IO state machine for one connection and one side;
//! client and server use it alike, whichever writes first. It emits the
//! local frame once, ahead of any application bytes, and reads the peer's
//! frame from the received bytes, telling the caller how many of them belong
//! to the exchange. Neither side waits for the other before writing.
//!
//! ```
//! use meshtel_wire::frame::FrameConfig;
//! use meshtel_wire::exchange::{Exchange, PeerOutcome, Received};
//! # let frame = meshtel_wire::__doc_example_frame();
//! let mut client = Exchange::new(Some(b"istio-peer-exchange"), frame, FrameConfig::default());
//! let mut server = Exchange::new(Some(b"istio-peer-exchange"), frame, FrameConfig::default());
//!
//! // The client writes its frame and a request; the server reads them.
//! let mut wire = client.poll_transmit().unwrap().to_vec();
//! wire.extend_from_slice(b"ping");
//! match server.on_received(&wire) {
//!     Received::Done { consume, outcome: PeerOutcome::Found { id, .. } } => {
//!         assert_eq!(id, Some("a~b~c~d"));
//!         assert_eq!(&wire[consume..], b"ping");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! // Afterwards everything the client sends is application data.
//! assert!(matches!(server.on_received(b"pong"), Received::Passthrough));
//! ```

use crate::alpn;
use crate::frame::{FrameConfig, FrameDecoder, FrameError, Status};
use crate::proto::StructView;
use crate::workload::WorkloadView;

/// How the exchange ended for this side.
#[derive(Debug, Clone, Copy)]
#[must_use]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "the metadata is returned by value so the exchange allocates nothing"
)]
pub enum PeerOutcome<'a> {
    /// The peer's workload metadata and node id.
    Found {
        /// The peer's workload metadata, read while the frame was validated.
        metadata: WorkloadView<'a>,
        /// The Struct it was read from (node-metadata shape), for additional
        /// labels or other keys.
        metadata_struct: StructView<'a>,
        /// The peer's node id.
        id: Option<&'a str>,
    },
    /// A valid frame without workload metadata (W6): exchange finished, no
    /// peer.
    NoPeer {
        /// The peer's node id, if sent.
        id: Option<&'a str>,
    },
    /// The peer sent no frame: every byte is application data.
    NotAFrame,
    /// The peer's frame was rejected; its bytes are dropped.
    Rejected(FrameError),
}

/// What to do with received bytes.
#[derive(Debug, Clone, Copy)]
#[must_use = "says which received bytes belong to the exchange and which are application data"]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "the metadata is returned by value so the exchange allocates nothing"
)]
pub enum Received<'a> {
    /// Hold the bytes (they are not yet application data); call again with
    /// more.
    NeedMore,
    /// The exchange is over: discard the first `consume` bytes; the rest is
    /// application data. After a [`PeerOutcome::Rejected`] oversize frame
    /// under the skip policy, later calls may return [`Received::Discard`].
    Done {
        /// Bytes that belonged to the exchange.
        consume: usize,
        /// The result.
        outcome: PeerOutcome<'a>,
    },
    /// Discard the first `consume` bytes (an oversize payload being
    /// skipped); pass the rest, if any, back in the next call.
    Discard {
        /// Bytes to discard.
        consume: usize,
    },
    /// The exchange is disabled or over: every byte is application data.
    Passthrough,
}

/// One side of a connection's peer-metadata exchange.
#[derive(Debug, Clone)]
pub struct Exchange<'f> {
    to_send: Option<&'f [u8]>,
    decoder: FrameDecoder,
    enabled: bool,
}

impl<'f> Exchange<'f> {
    /// Starts the exchange for a connection whose TLS handshake negotiated
    /// `alpn`. Unless that is exactly `istio-peer-exchange` the exchange is
    /// disabled: nothing is written and every byte passes through.
    /// `local_frame` is this side's frame, encoded once at configuration
    /// time ([`crate::frame::encode_frame`]).
    #[must_use]
    pub fn new(alpn: Option<&[u8]>, local_frame: &'f [u8], config: FrameConfig) -> Self {
        let enabled = alpn::runs_exchange(alpn);
        Self {
            to_send: enabled.then_some(local_frame),
            decoder: FrameDecoder::new(config),
            enabled,
        }
    }

    /// Whether the exchange runs on this connection.
    #[must_use]
    pub const fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether the peer's side is settled (frame read, rejected, absent, or
    /// exchange disabled).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        !self.enabled || self.decoder.is_finished()
    }

    /// The bytes to write before any application bytes in this direction:
    /// the local frame, exactly once. Call it at the first read or write
    /// event; later calls return `None`.
    #[must_use]
    pub const fn poll_transmit(&mut self) -> Option<&'f [u8]> {
        self.to_send.take()
    }

    /// Examines the bytes received and held so far.
    pub fn on_received<'a>(&mut self, held: &'a [u8]) -> Received<'a> {
        if !self.enabled {
            return Received::Passthrough;
        }
        let result = self.decoder.decode(held);
        Self::translate(result)
    }

    /// The peer half-closed (or the connection ended) with `held` bytes
    /// still held: a partial frame is rejected as truncated, a short prefix
    /// of the magic passes through.
    pub fn on_end_of_stream<'a>(&mut self, held: &'a [u8]) -> Received<'a> {
        if !self.enabled {
            return Received::Passthrough;
        }
        let result = self.decoder.finish(held);
        Self::translate(result)
    }

    #[allow(
        clippy::large_types_passed_by_value,
        reason = "consumed: the status moves into the outcome"
    )]
    fn translate(result: Result<Status<'_>, FrameError>) -> Received<'_> {
        let done = |consume, outcome| Received::Done { consume, outcome };
        match result {
            Ok(Status::NeedMore { .. }) => Received::NeedMore,
            Ok(Status::NotAFrame) => done(0, PeerOutcome::NotAFrame),
            Ok(Status::Frame {
                metadata,
                metadata_struct,
                id,
                consumed,
            }) => done(
                consumed,
                PeerOutcome::Found {
                    metadata,
                    metadata_struct,
                    id,
                },
            ),
            Ok(Status::NoPeer { id, consumed }) => done(consumed, PeerOutcome::NoPeer { id }),
            Ok(Status::Skip { consumed, .. }) => Received::Discard { consume: consumed },
            Ok(Status::Finished) => Received::Passthrough,
            Err(e) => done(e.consumed, PeerOutcome::Rejected(e)),
        }
    }
}
