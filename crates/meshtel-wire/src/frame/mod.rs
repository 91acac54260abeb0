//! The TCP prefix frame (`docs/reference/wire.md` §4): magic, length, `Any<Struct>`.
//! The outer Struct holds the sender's workload metadata under
//! [`PEER_METADATA`] and its node id under [`PEER_METADATA_ID`].
//!
//! [`FrameDecoder`] is sans-IO. Give it the contiguous bytes received so
//! far; it answers without copying and never looks past the frame:
//!
//! | status | bytes consumed | what the caller does |
//! |---|---|---|
//! | [`Status::NeedMore`] | 0 | hold the bytes, call again with more |
//! | [`Status::NotAFrame`] | 0 | pass every byte to the application |
//! | [`Status::Frame`] / [`Status::NoPeer`] | `consumed` | drop them, the rest is application data |
//! | [`Status::Skip`] | `consumed` | drop them (an oversize payload), call again with the next bytes |
//! | [`FrameError`] | [`FrameError::consumed`] | drop them; the rest is application data, or close |
//! | [`Status::Finished`] | 0 | the exchange is over; everything is application data |

use crate::header::{PEER_METADATA, PEER_METADATA_ID};
use crate::proto::fast::{self, EntryReader, EntryValue, FastValue, Reader, Walk};
use crate::proto::view::validated_str;
use crate::proto::wire::{Visit, split_len_field, tag, validate_struct_visit, validate_value};
use crate::proto::{AnyView, DecodeError, EntryView, Limits, STRUCT_TYPE_URL, StructView, ValueView};
use crate::workload::{RawMetadata, WorkloadView};

/// The frame magic, `0x3D230467` big-endian.
pub const MAGIC: [u8; 4] = [0x3d, 0x23, 0x04, 0x67];
/// Magic plus the 4-byte length.
pub const HEADER_LEN: usize = 8;

/// What to do with a frame whose declared payload exceeds `max_payload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OversizePolicy {
    /// Discard exactly the declared payload as it arrives, without buffering,
    /// then pass what follows to the application.
    #[default]
    Skip,
    /// Report and stop; the caller closes the connection.
    Close,
}

/// A rejected [`FrameConfig`] setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_payload` outside 1 KiB – 16 MiB.
    #[error("max_payload {0} is outside the allowed range 1024..=16777216")]
    MaxPayloadOutOfRange(u32),
}

/// Decoder settings (`docs/reference/wire.md` §4.5).
///
/// ```
/// use meshtel_wire::frame::{FrameConfig, OversizePolicy};
/// let config = FrameConfig::default().with_max_payload(4096)?.with_oversize(OversizePolicy::Close);
/// assert_eq!(config.max_payload(), 4096);
/// assert!(FrameConfig::default().with_max_payload(10).is_err());
/// # Ok::<(), meshtel_wire::frame::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameConfig {
    max_payload: u32,
    limits: Limits,
    on_oversize: OversizePolicy,
}

impl FrameConfig {
    /// Default largest accepted payload: 64 KiB.
    pub const DEFAULT_MAX_PAYLOAD: u32 = 64 * 1024;
    /// Smallest allowed `max_payload`: 1 KiB.
    pub const MIN_MAX_PAYLOAD: u32 = 1024;
    /// Largest allowed `max_payload`: 16 MiB.
    pub const MAX_MAX_PAYLOAD: u32 = 16 * 1024 * 1024;

    /// The defaults: 64 KiB payloads, depth 32, skip oversize frames.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            max_payload: Self::DEFAULT_MAX_PAYLOAD,
            limits: Limits::new(),
            on_oversize: OversizePolicy::Skip,
        }
    }

    /// Sets the largest accepted `data_size`.
    ///
    /// # Errors
    /// [`ConfigError::MaxPayloadOutOfRange`] outside 1 KiB – 16 MiB.
    pub const fn with_max_payload(mut self, max_payload: u32) -> Result<Self, ConfigError> {
        if max_payload < Self::MIN_MAX_PAYLOAD || max_payload > Self::MAX_MAX_PAYLOAD {
            return Err(ConfigError::MaxPayloadOutOfRange(max_payload));
        }
        self.max_payload = max_payload;
        Ok(self)
    }

    /// Sets the protobuf limits (nesting depth).
    #[must_use]
    pub const fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets what happens to oversize frames.
    #[must_use]
    pub const fn with_oversize(mut self, policy: OversizePolicy) -> Self {
        self.on_oversize = policy;
        self
    }

    /// The largest accepted `data_size`.
    #[must_use]
    pub const fn max_payload(&self) -> u32 {
        self.max_payload
    }

    /// The protobuf limits.
    #[must_use]
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The oversize policy.
    #[must_use]
    pub const fn oversize(&self) -> OversizePolicy {
        self.on_oversize
    }
}

impl Default for FrameConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A successful step of [`FrameDecoder::decode`].
#[derive(Debug, Clone, Copy)]
#[must_use = "the status says how many bytes belong to the frame"]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "the metadata is returned by value so decoding allocates nothing"
)]
pub enum Status<'a> {
    /// The input is a strict prefix of a possible frame; nothing consumed.
    NeedMore {
        /// At least this many more bytes are needed.
        needed: usize,
    },
    /// The input does not start with the magic; nothing consumed, every
    /// byte is application data.
    NotAFrame,
    /// A complete frame carrying the peer's workload metadata.
    Frame {
        /// The peer's workload metadata, read from `metadata_struct` while
        /// the frame was validated.
        metadata: WorkloadView<'a>,
        /// The Struct under `x-envoy-peer-metadata` (node-metadata shape),
        /// for additional labels or other keys.
        metadata_struct: StructView<'a>,
        /// The node id (`x-envoy-peer-metadata-id`), if a string.
        id: Option<&'a str>,
        /// Frame length (8 + payload); bytes after it are application data.
        consumed: usize,
    },
    /// A complete, valid frame whose Struct has no struct under
    /// `x-envoy-peer-metadata` (W6): the exchange finished without a peer.
    NoPeer {
        /// The node id, if present.
        id: Option<&'a str>,
        /// Frame length.
        consumed: usize,
    },
    /// Part of an oversize payload to discard (after [`FrameErrorKind::TooLarge`]).
    Skip {
        /// Bytes at the start of the input to discard.
        consumed: usize,
        /// Payload bytes still to come and be discarded; 0 means done.
        remaining: usize,
    },
    /// The decoder already finished; the input is application data.
    Finished,
}

/// What was wrong with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameErrorKind {
    /// `data_size` above `max_payload`.
    #[error("frame declares a {declared}-byte payload, more than the limit of {max}")]
    TooLarge {
        /// The declared payload size.
        declared: u32,
        /// The configured limit.
        max: u32,
    },
    /// The payload is not a valid `Any<Struct>` (offset from the first magic byte).
    #[error("{0}")]
    Malformed(#[source] DecodeError),
    /// The `Any` does not hold a `google.protobuf.Struct`.
    #[error("frame payload's type URL is not google.protobuf.Struct")]
    UnexpectedTypeUrl,
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame: {have} of {need} bytes")]
    Truncated {
        /// Bytes of the frame received.
        have: usize,
        /// Bytes the frame needs (8 while the header is incomplete).
        need: usize,
    },
}

/// A rejected frame, with how many input bytes belong to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("peer metadata frame rejected: {kind}")]
#[non_exhaustive]
pub struct FrameError {
    /// What was wrong.
    #[source]
    pub kind: FrameErrorKind,
    /// Bytes at the start of the input that belong to the rejected frame:
    /// discard them; the rest is application data.
    pub consumed: usize,
}

impl FrameError {
    const fn new(kind: FrameErrorKind, consumed: usize) -> Self {
        Self { kind, consumed }
    }

    /// Bytes to discard; see the field.
    #[must_use]
    pub const fn consumed(&self) -> usize {
        self.consumed
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Skipping { declared: u32, remaining: usize },
    Finished,
}

/// Incremental, sans-IO decoder of the peer's prefix frame.
///
/// The result never depends on how the input was split: until the frame is
/// complete the decoder only looks at the header, and it decides
/// `NotAFrame` at the first byte that differs from the magic (W3).
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    config: FrameConfig,
    state: State,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(FrameConfig::default())
    }
}

impl FrameDecoder {
    /// A decoder waiting for the first byte.
    #[must_use]
    pub const fn new(config: FrameConfig) -> Self {
        Self {
            config,
            state: State::Reading,
        }
    }

    /// Whether a terminal outcome was reached (and any oversize payload
    /// skipped): every later byte is application data.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Examines the bytes received so far (all of them, from the first byte
    /// of the stream, minus any that an earlier call said to discard).
    ///
    /// # Errors
    /// A [`FrameError`] for an oversize, malformed or wrongly-typed frame;
    /// its `consumed` bytes belong to the frame and the decoder is finished
    /// (or, for an oversize frame under [`OversizePolicy::Skip`], keeps
    /// returning [`Status::Skip`] until the payload is gone).
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Status<'a>, FrameError> {
        match self.state {
            State::Finished => Ok(Status::Finished),
            State::Skipping { declared, remaining } => {
                let consumed = input.len().min(remaining);
                let remaining = remaining - consumed;
                self.state = if remaining == 0 {
                    State::Finished
                } else {
                    State::Skipping { declared, remaining }
                };
                Ok(Status::Skip { consumed, remaining })
            }
            State::Reading => self.read(input),
        }
    }

    fn read<'a>(&mut self, input: &'a [u8]) -> Result<Status<'a>, FrameError> {
        let known = input.len().min(MAGIC.len());
        if input[..known] != MAGIC[..known] {
            self.state = State::Finished;
            return Ok(Status::NotAFrame);
        }
        let Some(&[_, _, _, _, a, b, c, d]) = input.first_chunk::<HEADER_LEN>() else {
            return Ok(Status::NeedMore {
                needed: HEADER_LEN - input.len(),
            });
        };
        let declared = u32::from_be_bytes([a, b, c, d]);
        if declared > self.config.max_payload {
            return Err(self.too_large(declared, input.len() - HEADER_LEN));
        }
        let total = HEADER_LEN + declared as usize;
        let Some(frame) = input.get(..total) else {
            return Ok(Status::NeedMore {
                needed: total - input.len(),
            });
        };
        self.state = State::Finished;
        let payload = &frame[HEADER_LEN..];
        let mut fast_frame = FastFrame::default();
        if fast::run(payload, &self.config.limits, &mut fast_frame) {
            let status = fast_frame.to_status(total);
            // Tests and fuzzing hold the fast path to the general one.
            #[cfg(any(debug_assertions, fuzzing))]
            assert_same_status(&status, &self.read_general(frame));
            return Ok(status);
        }
        self.read_general(frame)
    }

    /// The general path of [`FrameDecoder::read`]: every valid frame, and
    /// errors with their offsets.
    #[cold]
    #[inline(never)]
    pub(crate) fn read_general<'a>(&self, frame: &'a [u8]) -> Result<Status<'a>, FrameError> {
        let total = frame.len();
        let malformed = |e| FrameError::new(FrameErrorKind::Malformed(e), total);
        let any = AnyView::parse_at(&frame[HEADER_LEN..], HEADER_LEN).map_err(malformed)?;
        if !any.is_struct() {
            return Err(FrameError::new(FrameErrorKind::UnexpectedTypeUrl, total));
        }
        // One pass validates the outer Struct and the record inside it and
        // reads the record's fields.
        let mut outer = OuterStruct::default();
        validate_struct_visit(any.value(), any.value_offset(), 1, &self.config.limits, &mut outer)
            .map_err(malformed)?;
        let id = outer.id.and_then(|v| v.as_str());
        let peer = match outer.peer {
            Some(Peer::Read(metadata, metadata_struct)) => Some((metadata, metadata_struct)),
            Some(Peer::Value(value)) => value.as_struct().map(|s| (WorkloadView::from_struct(s), s)),
            None => None,
        };
        Ok(match peer {
            Some((metadata, metadata_struct)) => Status::Frame {
                metadata,
                metadata_struct,
                id,
                consumed: total,
            },
            None => Status::NoPeer { id, consumed: total },
        })
    }

    fn too_large(&mut self, declared: u32, available: usize) -> FrameError {
        let kind = FrameErrorKind::TooLarge {
            declared,
            max: self.config.max_payload,
        };
        match self.config.on_oversize {
            OversizePolicy::Close => {
                self.state = State::Finished;
                FrameError::new(kind, HEADER_LEN)
            }
            OversizePolicy::Skip => {
                let skipped = available.min(declared as usize);
                let remaining = declared as usize - skipped;
                self.state = if remaining == 0 {
                    State::Finished
                } else {
                    State::Skipping { declared, remaining }
                };
                FrameError::new(kind, HEADER_LEN + skipped)
            }
        }
    }

    /// Reports the end of the stream, with the bytes still held.
    ///
    /// A complete frame decodes as in [`FrameDecoder::decode`]; 0–3 bytes
    /// that are a prefix of the magic are [`Status::NotAFrame`] (pass them
    /// on); anything else inside a frame is [`FrameErrorKind::Truncated`].
    ///
    /// # Errors
    /// As [`FrameDecoder::decode`], plus [`FrameErrorKind::Truncated`].
    pub fn finish<'a>(&mut self, input: &'a [u8]) -> Result<Status<'a>, FrameError> {
        let status = self.decode(input)?;
        let truncated = |have, need| Err(FrameError::new(FrameErrorKind::Truncated { have, need }, input.len()));
        match (status, self.state) {
            (Status::NeedMore { .. }, _) if input.len() < MAGIC.len() => {
                self.state = State::Finished;
                Ok(Status::NotAFrame)
            }
            (Status::NeedMore { needed }, _) => {
                self.state = State::Finished;
                let need = input.len() + needed;
                truncated(input.len(), need)
            }
            (Status::Skip { .. }, State::Skipping { declared, remaining }) => {
                self.state = State::Finished;
                let need = HEADER_LEN + declared as usize;
                truncated(need - remaining, need)
            }
            (status, _) => Ok(status),
        }
    }
}

/// The `x-envoy-peer-metadata` value, read during validation when it has
/// the common shape, or kept to read afterwards.
#[derive(Clone, Copy)]
#[allow(clippy::large_enum_variant, reason = "lives on the stack for one decode")]
enum Peer<'a> {
    Read(WorkloadView<'a>, StructView<'a>),
    Value(ValueView<'a>),
}

/// Picks the workload metadata and the id out of the outer Struct as it is validated.
#[derive(Default)]
struct OuterStruct<'a> {
    peer: Option<Peer<'a>>,
    id: Option<ValueView<'a>>,
}

impl<'a> Visit<'a> for OuterStruct<'a> {
    fn simple(
        &mut self,
        key: &'a [u8],
        value: &'a [u8],
        at: usize,
        depth: u32,
        limits: &Limits,
    ) -> Result<bool, DecodeError> {
        // `2a len record`: one struct_value, the shape every writer produces.
        if key == PEER_METADATA.as_bytes()
            && let Some((tag::STRUCT_VALUE, record, [])) = split_len_field(value)
        {
            let record_at = at + (value.len() - record.len());
            let (read, view) = WorkloadView::parse_general(record, record_at, depth + 1, limits)?;
            self.peer = Some(Peer::Read(read, view));
            return Ok(true);
        }
        if key == PEER_METADATA_ID.as_bytes() {
            validate_value(value, at, depth, limits)?;
            self.id = Some(ValueView::validated(value));
            return Ok(true);
        }
        Ok(false)
    }

    fn entry(&mut self, entry: &'a [u8]) {
        let (key, value) = EntryView::validated(entry).split();
        if key == PEER_METADATA.as_bytes() {
            self.peer = Some(Peer::Value(value));
        } else if key == PEER_METADATA_ID.as_bytes() {
            self.id = Some(value);
        }
    }
}

/// What the `x-envoy-peer-metadata` entry of a frame read on the fast path
/// held.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum FastPeer {
    /// No such entry.
    #[default]
    Absent,
    /// A struct: the workload metadata.
    Metadata,
    /// Another kind of value.
    NotAStruct,
}

/// A frame's payload read on the fast path: `Any` with the standard type
/// URL, then the outer Struct with the workload metadata inside, in one walk.
#[derive(Default)]
struct FastFrame<'a> {
    peer: FastPeer,
    metadata: RawMetadata<'a>,
    metadata_bytes: &'a [u8],
    id: Option<&'a [u8]>,
}

impl<'a> Reader<'a> for FastFrame<'a> {
    #[inline(always)]
    fn read<const CHECK: bool>(&mut self, walk: &mut Walk<CHECK>, payload: &'a [u8]) -> Option<()> {
        const TYPE_URL: &[u8; STRUCT_TYPE_URL.len()] = STRUCT_TYPE_URL.as_bytes().first_chunk().unwrap();
        self.peer = FastPeer::Absent;
        self.id = None;
        let (type_url, rest) = walk.field(payload, tag::ANY_TYPE_URL)?;
        if !fast::is(type_url, TYPE_URL) {
            return None;
        }
        let outer = walk.only_field(rest, tag::ANY_VALUE)?;
        walk.entries(outer, 1, self)
    }
}

/// The outer Struct's entries.
impl<'a> EntryReader<'a> for FastFrame<'a> {
    #[inline(always)]
    fn entry<const CHECK: bool>(
        &mut self,
        walk: &mut Walk<CHECK>,
        key: &'a [u8],
        value: EntryValue<'a>,
        depth: u32,
    ) -> Option<()> {
        const PEER: &[u8; PEER_METADATA.len()] = PEER_METADATA.as_bytes().first_chunk().unwrap();
        const ID: &[u8; PEER_METADATA_ID.len()] = PEER_METADATA_ID.as_bytes().first_chunk().unwrap();
        if fast::is(key, PEER) {
            if let EntryValue::Serialized(value @ [tag::STRUCT_VALUE, ..]) = value {
                let metadata = walk.only_field(value, tag::STRUCT_VALUE)?;
                self.metadata = RawMetadata::default();
                walk.entries(metadata, depth + 1, &mut self.metadata)?;
                self.metadata_bytes = metadata;
                self.peer = FastPeer::Metadata;
            } else {
                walk.entry_value(value, depth)?;
                self.peer = FastPeer::NotAStruct;
            }
        } else if fast::is(key, ID) {
            self.id = match walk.entry_value(value, depth)? {
                FastValue::String(id) => Some(id),
                FastValue::Other => None,
            };
        } else {
            walk.entry_value(value, depth)?;
        }
        Some(())
    }
}

impl<'a> FastFrame<'a> {
    /// The status, once [`fast::run`] has returned `true` for this value.
    #[inline(always)]
    fn to_status(&self, consumed: usize) -> Status<'a> {
        let id = self.id.map(validated_str);
        match self.peer {
            FastPeer::Metadata => Status::Frame {
                metadata: self.metadata.to_view(),
                metadata_struct: StructView::validated(self.metadata_bytes),
                id,
                consumed,
            },
            FastPeer::Absent | FastPeer::NotAStruct => Status::NoPeer { id, consumed },
        }
    }
}

/// Panics unless the general path read what the fast path read.
#[cfg(any(debug_assertions, fuzzing))]
fn assert_same_status(fast: &Status<'_>, general: &Result<Status<'_>, FrameError>) {
    match (fast, general) {
        (
            Status::Frame {
                metadata,
                metadata_struct,
                id,
                consumed,
                ..
            },
            Ok(Status::Frame {
                metadata: r,
                metadata_struct: p,
                id: i,
                consumed: c,
            }),
        ) => {
            assert!(
                metadata.same_as(r) && id == i && consumed == c,
                "fast and general paths disagree"
            );
            assert!(
                metadata_struct
                    .entries()
                    .map(|e| e.key())
                    .eq(p.entries().map(|e| e.key()))
            );
        }
        (Status::NoPeer { id, consumed }, Ok(Status::NoPeer { id: i, consumed: c })) => {
            assert!(id == i && consumed == c, "fast and general paths disagree");
        }
        _ => panic!("fast path {fast:?}, general path {general:?}"),
    }
}

/// Decodes `bytes` as a whole stream: a fresh decoder's
/// [`FrameDecoder::decode`], then [`FrameDecoder::finish`] if more was needed.
///
/// ```
/// use meshtel_wire::frame::{decode_frame, FrameConfig, Status};
/// # let frame = meshtel_wire::__doc_example_frame();
/// assert!(matches!(decode_frame(frame, &FrameConfig::default()), Ok(Status::Frame { consumed: 177, .. })));
/// assert!(decode_frame(&frame[..100], &FrameConfig::default()).is_err());
/// ```
///
/// # Errors
/// As [`FrameDecoder::finish`].
pub fn decode_frame<'a>(bytes: &'a [u8], config: &FrameConfig) -> Result<Status<'a>, FrameError> {
    FrameDecoder::new(*config).finish(bytes)
}

#[cfg(feature = "alloc")]
mod encode;
#[cfg(feature = "bytes")]
pub use encode::put_frame;
#[cfg(feature = "alloc")]
pub use encode::{EncodeError, encode_frame, encode_frame_into, encoded_frame_len};
