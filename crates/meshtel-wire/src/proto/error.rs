/// What was wrong with a protobuf payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// A length-delimited or fixed-size field runs past the end of its message.
    #[error("truncated field: runs past the end of its message")]
    Truncated,
    /// A varint longer than 10 bytes, or one that overflows 64 bits.
    #[error("varint longer than 10 bytes or overflowing 64 bits")]
    BadVarint,
    /// A tag that does not fit in 32 bits.
    #[error("tag does not fit in 32 bits")]
    BadTag,
    /// Wire type 6 or 7.
    #[error("invalid wire type (6 or 7)")]
    InvalidWireType,
    /// Field number 0.
    #[error("field number 0")]
    FieldNumberZero,
    /// A `string` field (map key, `string_value`, `type_url`) that is not UTF-8.
    #[error("string field is not valid UTF-8")]
    InvalidUtf8,
    /// More nested containers (or groups) than [`Limits::max_depth`](super::Limits::max_depth).
    #[error("nesting deeper than the configured limit")]
    TooDeep,
    /// An end-group tag that closes no open group, or closes a different one.
    #[error("end-group tag without a matching start-group")]
    UnexpectedEndGroup,
    /// A start-group tag whose end-group never comes.
    #[error("start-group tag without its end-group")]
    UnterminatedGroup,
}

/// A protobuf payload was rejected.
///
/// `offset` is the byte offset, from the start of the input the caller gave
/// (for frames: from the first magic byte), of the field or byte where
/// decoding failed. The error never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("malformed protobuf at byte {offset}: {reason}")]
#[non_exhaustive]
pub struct DecodeError {
    /// Byte offset of the failure.
    pub offset: usize,
    /// What was wrong.
    pub reason: Reason,
}

impl DecodeError {
    pub(crate) const fn new(offset: usize, reason: Reason) -> Self {
        Self { offset, reason }
    }
}
