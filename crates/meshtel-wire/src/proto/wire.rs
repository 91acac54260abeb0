//! Field-level reading and whole-message validation.

use super::{DecodeError, Reason, varint};

/// Decoding limits.
///
/// ```
/// use meshtel_wire::proto::Limits;
/// let strict = Limits::default().with_max_depth(4);
/// assert_eq!(strict.max_depth(), 4);
/// assert_eq!(Limits::default().max_depth(), 32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max_depth: u32,
}

impl Limits {
    /// The default container nesting limit: 32 (W2, `docs/reference/wire.md` §3.4). Legitimate
    /// metadata needs 3.
    pub const DEFAULT_MAX_DEPTH: u32 = 32;
    /// The largest nesting limit accepted; validation recurses once per level,
    /// so this bounds stack use.
    pub const MAX_MAX_DEPTH: u32 = 100;

    /// Limits with every default.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            max_depth: Self::DEFAULT_MAX_DEPTH,
        }
    }

    /// Sets the maximum number of nested `Struct`/`ListValue` containers (the
    /// outermost `Struct` counts as 1; groups inside unknown fields count
    /// too). Values are clamped to `1..=MAX_MAX_DEPTH`.
    #[must_use]
    pub const fn with_max_depth(mut self, depth: u32) -> Self {
        self.max_depth = if depth == 0 {
            1
        } else if depth > Self::MAX_MAX_DEPTH {
            Self::MAX_MAX_DEPTH
        } else {
            depth
        };
        self
    }

    /// The container nesting limit.
    #[must_use]
    pub const fn max_depth(&self) -> u32 {
        self.max_depth
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) const VARINT: u8 = 0;
pub(crate) const I64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const SGROUP: u8 = 3;
pub(crate) const EGROUP: u8 = 4;
pub(crate) const I32: u8 = 5;

/// Field numbers of the messages here (`google/protobuf/struct.proto`,
/// `any.proto`).
pub(crate) mod field {
    /// `Struct.fields`: one map entry per occurrence.
    pub(crate) const STRUCT_FIELDS: u32 = 1;
    /// A map entry's key.
    pub(crate) const ENTRY_KEY: u32 = 1;
    /// A map entry's value.
    pub(crate) const ENTRY_VALUE: u32 = 2;
    /// `Value.null_value`.
    pub(crate) const NULL_VALUE: u32 = 1;
    /// `Value.number_value`.
    pub(crate) const NUMBER_VALUE: u32 = 2;
    /// `Value.string_value`.
    pub(crate) const STRING_VALUE: u32 = 3;
    /// `Value.bool_value`.
    pub(crate) const BOOL_VALUE: u32 = 4;
    /// `Value.struct_value`.
    pub(crate) const STRUCT_VALUE: u32 = 5;
    /// `Value.list_value`.
    pub(crate) const LIST_VALUE: u32 = 6;
    /// `ListValue.values`.
    pub(crate) const LIST_VALUES: u32 = 1;
    /// `Any.type_url`.
    pub(crate) const ANY_TYPE_URL: u32 = 1;
    /// `Any.value`.
    pub(crate) const ANY_VALUE: u32 = 2;
}

/// One-byte tags (field number and wire type) of the fields of [`field`],
/// as writers put them.
pub(crate) mod tag {
    use super::{I64, LEN, VARINT, field};

    // Every field number here is below 16, so the tag fits one byte.
    #[allow(clippy::cast_possible_truncation, reason = "field numbers below 16")]
    const fn tag(number: u32, wire_type: u8) -> u8 {
        (number << 3) as u8 | wire_type
    }

    /// `Struct.fields` (`0x0a`).
    pub(crate) const STRUCT_FIELDS: u8 = tag(field::STRUCT_FIELDS, LEN);
    /// A map entry's key (`0x0a`).
    pub(crate) const ENTRY_KEY: u8 = tag(field::ENTRY_KEY, LEN);
    /// A map entry's value (`0x12`).
    pub(crate) const ENTRY_VALUE: u8 = tag(field::ENTRY_VALUE, LEN);
    /// `Value.null_value` (`0x08`).
    pub(crate) const NULL_VALUE: u8 = tag(field::NULL_VALUE, VARINT);
    /// `Value.number_value` (`0x11`).
    pub(crate) const NUMBER_VALUE: u8 = tag(field::NUMBER_VALUE, I64);
    /// `Value.string_value` (`0x1a`).
    pub(crate) const STRING_VALUE: u8 = tag(field::STRING_VALUE, LEN);
    /// `Value.bool_value` (`0x20`).
    pub(crate) const BOOL_VALUE: u8 = tag(field::BOOL_VALUE, VARINT);
    /// `Value.struct_value` (`0x2a`).
    pub(crate) const STRUCT_VALUE: u8 = tag(field::STRUCT_VALUE, LEN);
    /// `Value.list_value` (`0x32`).
    pub(crate) const LIST_VALUE: u8 = tag(field::LIST_VALUE, LEN);
    /// `ListValue.values` (`0x0a`).
    pub(crate) const LIST_VALUES: u8 = tag(field::LIST_VALUES, LEN);
    /// `Any.type_url` (`0x0a`).
    pub(crate) const ANY_TYPE_URL: u8 = tag(field::ANY_TYPE_URL, LEN);
    /// `Any.value` (`0x12`).
    pub(crate) const ANY_VALUE: u8 = tag(field::ANY_VALUE, LEN);
}

/// The payload of one field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Payload<'a> {
    Varint(u64),
    I64(u64),
    /// Bytes, and the absolute offset of their first byte.
    Len(&'a [u8], usize),
    I32,
    Group,
}

/// One field: its number, payload, and the offset of its tag inside the
/// cursor's buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    pub(crate) number: u32,
    pub(crate) payload: Payload<'a>,
    pub(crate) at: usize,
}

/// Reads fields one by one from a message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute offset of `buf[0]`, for error offsets.
    base: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) const EMPTY: Cursor<'static> = Cursor {
        buf: &[],
        pos: 0,
        base: 0,
    };

    #[inline]
    pub(crate) const fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    #[inline]
    pub(crate) const fn at(buf: &'a [u8], pos: usize) -> Self {
        Self { buf, pos, base: 0 }
    }

    /// The bytes not read yet.
    #[inline]
    pub(crate) fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Moves past `n` bytes the caller has read from [`Cursor::remaining`].
    #[inline]
    pub(crate) fn skip(&mut self, n: usize) {
        self.pos += n;
    }

    /// Reads the next field. `group_budget` is how many more levels of
    /// nested groups may be entered while skipping one.
    #[inline(always)]
    pub(crate) fn next(&mut self, group_budget: u32) -> Result<Option<Field<'a>>, DecodeError> {
        let at = self.pos;
        let Some(&first) = self.buf.get(at) else {
            return Ok(None);
        };
        // Tags of the messages here are single bytes; longer ones go the slow way.
        let (number, wire_type) = if (8..0x80).contains(&first) {
            self.pos += 1;
            (u32::from(first >> 3), first & 7)
        } else {
            self.read_tag()?
        };
        let payload = match wire_type {
            LEN => {
                let len = varint::read(self.buf, &mut self.pos, self.base)?;
                let start = self.pos;
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|len| start.checked_add(len))
                    .filter(|&end| end <= self.buf.len())
                    .ok_or_else(|| DecodeError::new(self.base + at, Reason::Truncated))?;
                self.pos = end;
                Payload::Len(&self.buf[start..end], self.base + start)
            }
            VARINT => Payload::Varint(varint::read(self.buf, &mut self.pos, self.base)?),
            I64 => Payload::I64(u64::from_le_bytes(self.take_array::<8>(at)?)),
            I32 => {
                self.take_array::<4>(at)?;
                Payload::I32
            }
            _ => self.unusual(number, wire_type, at, group_budget)?,
        };
        Ok(Some(Field { number, payload, at }))
    }

    /// Groups and invalid wire types: rare, kept out of the hot loop.
    #[cold]
    #[inline(never)]
    fn unusual(
        &mut self,
        number: u32,
        wire_type: u8,
        at: usize,
        group_budget: u32,
    ) -> Result<Payload<'a>, DecodeError> {
        match wire_type {
            SGROUP => {
                self.skip_group(number, at, group_budget)?;
                Ok(Payload::Group)
            }
            EGROUP => Err(DecodeError::new(self.base + at, Reason::UnexpectedEndGroup)),
            _ => Err(DecodeError::new(self.base + at, Reason::InvalidWireType)),
        }
    }

    /// Reads the next field of a message that was validated before; stops
    /// (rather than erring) on anything unexpected, which cannot happen then.
    #[inline]
    pub(crate) fn next_valid(&mut self) -> Option<Field<'a>> {
        self.next(Limits::MAX_MAX_DEPTH).ok().flatten()
    }

    #[cold]
    fn read_tag(&mut self) -> Result<(u32, u8), DecodeError> {
        let at = self.pos;
        let tag = varint::read(self.buf, &mut self.pos, self.base)?;
        let tag = u32::try_from(tag).map_err(|_| DecodeError::new(self.base + at, Reason::BadTag))?;
        let number = tag >> 3;
        if number == 0 {
            return Err(DecodeError::new(self.base + at, Reason::FieldNumberZero));
        }
        // `tag & 7` is below 8.
        Ok((number, (tag & 7) as u8))
    }

    #[inline]
    fn take_array<const N: usize>(&mut self, at: usize) -> Result<[u8; N], DecodeError> {
        let bytes = self
            .buf
            .get(self.pos..self.pos + N)
            .ok_or_else(|| DecodeError::new(self.base + at, Reason::Truncated))?;
        self.pos += N;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Skips fields up to and including the end-group of `number`.
    fn skip_group(&mut self, number: u32, at: usize, budget: u32) -> Result<(), DecodeError> {
        if budget == 0 {
            return Err(DecodeError::new(self.base + at, Reason::TooDeep));
        }
        loop {
            if self.pos >= self.buf.len() {
                return Err(DecodeError::new(self.base + at, Reason::UnterminatedGroup));
            }
            let inner_at = self.pos;
            let (inner, wire_type) = self.read_tag()?;
            if wire_type == EGROUP {
                if inner == number {
                    return Ok(());
                }
                return Err(DecodeError::new(self.base + inner_at, Reason::UnexpectedEndGroup));
            }
            // Rewind to the tag and let `next` skip the field (recursing for groups).
            self.pos = inner_at;
            self.next(budget - 1)?;
        }
    }
}

/// Splits a leading one-byte-tag, length-delimited field (length of one or
/// two bytes) off `bytes`: `(tag, payload, rest)`.
#[inline(always)]
pub(crate) fn split_len_field(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (len, body) = match *bytes {
        [_, len, ref body @ ..] if len < 0x80 => (usize::from(len), body),
        [_, lo, hi, ref body @ ..] if lo >= 0x80 && hi < 0x80 => (usize::from(lo & 0x7f) | usize::from(hi) << 7, body),
        _ => return None,
    };
    let (payload, rest) = body.split_at_checked(len)?;
    Some((bytes[0], payload, rest))
}

/// Whether every byte is below 0x80; guards `proto::view::validated_str`'s
/// unchecked conversion, so a property test holds it to `<[u8]>::is_ascii`.
#[inline(always)]
pub(crate) fn is_ascii_short(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |w: &[u8]| w.try_into().map_or(HIGH, u64::from_ne_bytes);
    if bytes.len() < 8 {
        return bytes.iter().fold(0u8, |acc, &b| acc | b) < 0x80;
    }
    let words = bytes.chunks_exact(8);
    let tail = word(&bytes[bytes.len() - 8..]);
    words.fold(tail, |acc, w| acc | word(w)) & HIGH == 0
}

#[inline]
fn check_utf8(bytes: &[u8], offset: usize) -> Result<(), DecodeError> {
    // Keys and values are short ASCII: OR the bytes eight at a time (the
    // tail as one overlapping word) and test the high bits once.
    if is_ascii_short(bytes) {
        return Ok(());
    }
    core::str::from_utf8(bytes)
        .map(drop)
        .map_err(|e| DecodeError::new(offset + e.valid_up_to(), Reason::InvalidUtf8))
}

/// Sees a `Struct`'s entries while it is validated, so a reader can pick
/// what it needs in the same pass.
pub(crate) trait Visit<'a> {
    /// An entry of the common shape, `key` → one `Value` message, before the
    /// value is validated. Return `Ok(true)` after validating `value`
    /// yourself (then [`Visit::entry`] is not called for it).
    ///
    /// # Errors
    /// Those of validating `value`.
    #[inline]
    fn simple(
        &mut self,
        key: &'a [u8],
        value: &'a [u8],
        at: usize,
        depth: u32,
        limits: &Limits,
    ) -> Result<bool, DecodeError> {
        let _ = (key, value, at, depth, limits);
        Ok(false)
    }

    /// An entry (the serialized map entry), validated.
    #[inline]
    fn entry(&mut self, entry: &'a [u8]) {
        let _ = entry;
    }
}

/// Validation alone.
pub(crate) struct NoVisit;

impl Visit<'_> for NoVisit {}

/// Validates a serialized `Struct` at nesting `depth` (the outermost is 1).
#[inline]
pub(crate) fn validate_struct(buf: &[u8], base: usize, depth: u32, limits: &Limits) -> Result<(), DecodeError> {
    validate_struct_visit(buf, base, depth, limits, &mut NoVisit)
}

/// [`validate_struct`], showing each entry to `visit`.
pub(crate) fn validate_struct_visit<'a>(
    buf: &'a [u8],
    base: usize,
    depth: u32,
    limits: &Limits,
    visit: &mut impl Visit<'a>,
) -> Result<(), DecodeError> {
    if depth > limits.max_depth {
        return Err(DecodeError::new(base, Reason::TooDeep));
    }
    let budget = limits.max_depth - depth;
    let mut cursor = Cursor::new(buf, base);
    loop {
        // Fast path: an entry of the shape every writer produces.
        let rest = cursor.remaining();
        if let Some((tag::STRUCT_FIELDS, entry, after)) = split_len_field(rest)
            && let Some((tag::ENTRY_KEY, key, value_field)) = split_len_field(entry)
            && let Some((tag::ENTRY_VALUE, value, [])) = split_len_field(value_field)
        {
            let entry_at = base + cursor.pos + (rest.len() - after.len() - entry.len());
            let key_at = entry_at + (entry.len() - value_field.len() - key.len());
            check_utf8(key, key_at)?;
            let value_at = entry_at + (entry.len() - value.len());
            if !visit.simple(key, value, value_at, depth, limits)? {
                validate_value(value, value_at, depth, limits)?;
                visit.entry(entry);
            }
            cursor.skip(rest.len() - after.len());
            continue;
        }
        let Some(field) = cursor.next(budget)? else { break };
        if let (field::STRUCT_FIELDS, Payload::Len(entry, at)) = (field.number, field.payload) {
            validate_entry(entry, at, depth, limits)?;
            visit.entry(entry);
        }
    }
    Ok(())
}

fn validate_entry(buf: &[u8], base: usize, depth: u32, limits: &Limits) -> Result<(), DecodeError> {
    let budget = limits.max_depth - depth;
    let mut cursor = Cursor::new(buf, base);
    while let Some(field) = cursor.next(budget)? {
        match (field.number, field.payload) {
            (field::ENTRY_KEY, Payload::Len(key, at)) => check_utf8(key, at)?,
            (field::ENTRY_VALUE, Payload::Len(value, at)) => validate_value(value, at, depth, limits)?,
            _ => {}
        }
    }
    Ok(())
}

/// Validates a serialized `Value` found inside a container at `depth`.
pub(crate) fn validate_value(buf: &[u8], base: usize, depth: u32, limits: &Limits) -> Result<(), DecodeError> {
    // Fast path: one string field.
    if let Some((tag::STRING_VALUE, s, [])) = split_len_field(buf) {
        return check_utf8(s, base + (buf.len() - s.len()));
    }
    let budget = limits.max_depth - depth;
    let mut cursor = Cursor::new(buf, base);
    while let Some(field) = cursor.next(budget)? {
        match (field.number, field.payload) {
            (field::STRING_VALUE, Payload::Len(s, at)) => check_utf8(s, at)?,
            (field::STRUCT_VALUE, Payload::Len(s, at)) => validate_struct(s, at, depth + 1, limits)?,
            (field::LIST_VALUE, Payload::Len(l, at)) => validate_list(l, at, depth + 1, limits)?,
            _ => {}
        }
    }
    Ok(())
}

fn validate_list(buf: &[u8], base: usize, depth: u32, limits: &Limits) -> Result<(), DecodeError> {
    if depth > limits.max_depth {
        return Err(DecodeError::new(base, Reason::TooDeep));
    }
    let budget = limits.max_depth - depth;
    let mut cursor = Cursor::new(buf, base);
    while let Some(field) = cursor.next(budget)? {
        if let (field::LIST_VALUES, Payload::Len(value, at)) = (field.number, field.payload) {
            validate_value(value, at, depth, limits)?;
        }
    }
    Ok(())
}

/// Validates a serialized `Any`: structure and `type_url` UTF-8 (the
/// `value` bytes are opaque here).
pub(crate) fn validate_any(buf: &[u8], base: usize) -> Result<(), DecodeError> {
    let mut cursor = Cursor::new(buf, base);
    while let Some(field) = cursor.next(Limits::DEFAULT_MAX_DEPTH)? {
        if let (field::ANY_TYPE_URL, Payload::Len(url, at)) = (field.number, field.payload) {
            check_utf8(url, at)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        // The UTF-8 fast path guards an unchecked conversion: it must agree
        // with the standard library on every input.
        #[test]
        fn ascii_fast_path_matches_std(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(is_ascii_short(&bytes), bytes.is_ascii());
        }

        #[test]
        fn one_high_byte_anywhere_is_caught(len in 1usize..40, at in any::<prop::sample::Index>(), high in 0x80u8..=0xff) {
            let mut bytes = vec![b'a'; len];
            bytes[at.index(len)] = high;
            prop_assert!(!is_ascii_short(&bytes));
        }
    }
}
