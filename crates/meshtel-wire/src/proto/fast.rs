//! The fast path of validation: the shapes every writer produces, with the
//! UTF-8 of every string decided by one count over the whole input.
//!
//! Writers (the reference runtime, prost, Envoy, meshtel's own encoder) put
//! each message in one shape: a map entry is `0a len key 12 len value`, a
//! `Value` is one field, lengths fit in one or two bytes. A [`Walk`] checks
//! exactly that shape, and nothing else: anything it does not recognise
//! (another field order, a repeated or unknown field, a long varint, a
//! group, a field past the end, nesting past the limit) makes it give up,
//! and the caller runs the general validator of [`super::wire`], which
//! accepts every valid message and reports every error with its offset.
//! The fast path therefore never produces an error: it either proves the
//! input valid or hands it on untouched.
//!
//! UTF-8 is where it saves most. In the shapes it accepts, a byte has its
//! high bit set only in three places: a string, the first byte of a two-byte
//! length, or the eight bytes of a `number_value`. The walk counts the last
//! two as it goes ([`Walk::structural_high`]); [`count_high`] counts every
//! high byte of the input in one vectorised pass. When the two counts are
//! equal, no string holds a byte above 0x7F, so every string is ASCII and
//! valid UTF-8 without being looked at one by one. When they differ (the
//! input has non-ASCII text), the walk runs once more checking each string
//! with `simdutf8`; an invalid string sends the input to the general
//! validator, whose error carries the exact offset.

use super::Limits;
use super::wire::tag;

/// A `Value` the fast path accepted, as far as readers of strings need it.
#[derive(Clone, Copy)]
pub(crate) enum FastValue<'a> {
    /// `string_value`.
    String(&'a [u8]),
    /// Any other kind (validated, nested containers included), or none.
    Other,
}

impl<'a> FastValue<'a> {
    /// The string's bytes; empty for any other kind (as the views'
    /// `as_str().unwrap_or_default()`).
    #[inline(always)]
    pub(crate) const fn text_or_empty(self) -> &'a [u8] {
        match self {
            Self::String(text) => text,
            Self::Other => &[],
        }
    }
}

/// An entry's value, as [`Walk::entries`] hands it over.
#[derive(Clone, Copy)]
pub(crate) enum EntryValue<'a> {
    /// A `string_value` with one-byte lengths (the commonest entry of all),
    /// recognised and validated with the entry.
    String(&'a [u8]),
    /// A serialized `Value`, not validated yet.
    Serialized(&'a [u8]),
}

/// `0a L1 0a L2 key 12 L3 1a L4 text` with every length below 0x80, and
/// the lengths consistent: `(key, text, rest)`. Two four-byte words decide
/// it, where the general walk reads four fields one by one.
#[inline(always)]
fn short_string_entry(bytes: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    // Bytes 0 and 2 are tags, 1 and 3 lengths whose high bit must be clear.
    const TAGS_AND_SHORT_LENGTHS: u32 = 0x80ff_80ff;
    const ENTRY_HEAD: u32 = u32::from_le_bytes([tag::STRUCT_FIELDS, 0, tag::ENTRY_KEY, 0]);
    const VALUE_HEAD: u32 = u32::from_le_bytes([tag::ENTRY_VALUE, 0, tag::STRING_VALUE, 0]);
    let head = u32::from_le_bytes(*bytes.first_chunk::<4>()?);
    if head & TAGS_AND_SHORT_LENGTHS != ENTRY_HEAD {
        return None;
    }
    let body_len = (head >> 8 & 0xff) as usize;
    let key_len = (head >> 24) as usize;
    let (body, rest) = bytes.get(2..)?.split_at_checked(body_len)?;
    let (key, value) = body.get(2..)?.split_at_checked(key_len)?;
    let value_head = u32::from_le_bytes(*value.first_chunk::<4>()?);
    if value_head & TAGS_AND_SHORT_LENGTHS != VALUE_HEAD {
        return None;
    }
    let text = &value[4..];
    let (value_len, text_len) = ((value_head >> 8 & 0xff) as usize, (value_head >> 24) as usize);
    (text.len() == text_len && value_len == text_len + 2).then_some((key, text, rest))
}

/// Reads a whole input on the fast path ([`run`]).
pub(crate) trait Reader<'a> {
    /// Walks `input`, every byte of it, through `walk`, and sets all of
    /// `self` from what it reads. `None`: not in writers' shape or invalid.
    fn read<const CHECK: bool>(&mut self, walk: &mut Walk<CHECK>, input: &'a [u8]) -> Option<()>;
}

/// Reads the entries of a Struct ([`Walk::entries`]).
pub(crate) trait EntryReader<'a> {
    /// One entry of a Struct at nesting `depth`. Must validate `value`
    /// (through [`Walk::entry_value`]); `None` stops the walk.
    fn entry<const CHECK: bool>(
        &mut self,
        walk: &mut Walk<CHECK>,
        key: &'a [u8],
        value: EntryValue<'a>,
        depth: u32,
    ) -> Option<()>;
}

/// A Struct whose entries are validated and not read.
#[derive(Default)]
pub(crate) struct Unread;

impl<'a> EntryReader<'a> for Unread {
    #[inline(always)]
    fn entry<const CHECK: bool>(
        &mut self,
        walk: &mut Walk<CHECK>,
        _: &'a [u8],
        value: EntryValue<'a>,
        depth: u32,
    ) -> Option<()> {
        walk.entry_value(value, depth).map(drop)
    }
}

/// An input that is one Struct at nesting `depth`, read by `entries`.
pub(crate) struct WholeStruct<E> {
    pub(crate) entries: E,
    pub(crate) depth: u32,
}

impl<'a, E: EntryReader<'a> + Default> Reader<'a> for WholeStruct<E> {
    #[inline(always)]
    fn read<const CHECK: bool>(&mut self, walk: &mut Walk<CHECK>, input: &'a [u8]) -> Option<()> {
        self.entries = E::default();
        walk.entries(input, self.depth, &mut self.entries)
    }
}

/// One walk over a message in writers' shape. With `CHECK`, strings are
/// checked one by one (the second walk, after the counts differed).
pub(crate) struct Walk<const CHECK: bool> {
    /// High-bit bytes seen outside strings: the first byte of every
    /// two-byte length and the high bytes of every `number_value`.
    structural_high: usize,
    max_depth: u32,
}

/// Runs `reader` over `input` on the fast path: first trusting the counts,
/// then, if `input` has high bytes in its strings, checking each string.
/// `false`: not in writers' shape, or not valid; use the general validator
/// (and disregard `reader`).
///
/// Readers fill themselves in place rather than returning a value because
/// the workload metadata is a few hundred bytes, and moving it cost more than the
/// walk's string checks.
#[inline(always)]
#[must_use]
pub(crate) fn run<'a>(input: &'a [u8], limits: &Limits, reader: &mut impl Reader<'a>) -> bool {
    let mut trusting = Walk::<false>::new(limits);
    if reader.read(&mut trusting, input).is_none() {
        return false;
    }
    count_high(input) == trusting.structural_high || non_ascii(input, limits, reader)
}

/// The second walk, for input with non-ASCII text.
#[cold]
#[inline(never)]
fn non_ascii<'a>(input: &'a [u8], limits: &Limits, reader: &mut impl Reader<'a>) -> bool {
    let mut checking = Walk::<true>::new(limits);
    reader.read(&mut checking, input).is_some()
}

/// Whether `bytes` is `expected` (a compare of constant size, which the
/// compiler inlines, where `==` on slices calls `memcmp`).
#[inline(always)]
pub(crate) fn is<const N: usize>(bytes: &[u8], expected: &[u8; N]) -> bool {
    bytes.len() == N && bytes.first_chunk::<N>() == Some(expected)
}

impl<const CHECK: bool> Walk<CHECK> {
    /// A walk from the start of an input, under `limits`.
    #[inline(always)]
    pub(crate) const fn new(limits: &Limits) -> Self {
        Self {
            structural_high: 0,
            max_depth: limits.max_depth(),
        }
    }

    /// Splits off a leading field with the one-byte `tag` and a one- or
    /// two-byte length: `(payload, rest)`.
    #[inline(always)]
    pub(crate) fn field<'a>(&mut self, bytes: &'a [u8], tag: u8) -> Option<(&'a [u8], &'a [u8])> {
        let (len, body) = match *bytes {
            [t, len, ref body @ ..] if t == tag && len < 0x80 => (usize::from(len), body),
            [t, lo, hi, ref body @ ..] if t == tag && lo >= 0x80 && hi < 0x80 => {
                self.structural_high += 1;
                (usize::from(lo & 0x7f) | usize::from(hi) << 7, body)
            }
            _ => return None,
        };
        body.split_at_checked(len)
    }

    /// A field that must be the whole of `bytes`.
    #[inline(always)]
    pub(crate) fn only_field<'a>(&mut self, bytes: &'a [u8], tag: u8) -> Option<&'a [u8]> {
        match self.field(bytes, tag)? {
            (payload, []) => Some(payload),
            _ => None,
        }
    }

    /// A string's bytes: trusted on the first walk (the counts decide),
    /// checked on the second.
    #[inline(always)]
    fn string(bytes: &[u8]) -> Option<&[u8]> {
        if CHECK && !is_utf8(bytes) {
            return None;
        }
        Some(bytes)
    }

    /// Walks a serialized `Struct` at nesting `depth` (the outermost is 1),
    /// handing each entry to `entries`.
    #[inline(always)]
    pub(crate) fn entries<'a>(
        &mut self,
        mut bytes: &'a [u8],
        depth: u32,
        entries: &mut impl EntryReader<'a>,
    ) -> Option<()> {
        if depth > self.max_depth {
            return None;
        }
        while !bytes.is_empty() {
            if let Some((key, text, rest)) = short_string_entry(bytes) {
                let value = EntryValue::String(Self::string(text)?);
                entries.entry(self, Self::string(key)?, value, depth)?;
                bytes = rest;
                continue;
            }
            let (body, rest) = self.field(bytes, tag::STRUCT_FIELDS)?;
            let (key, value) = self.field(body, tag::ENTRY_KEY)?;
            let value = self.only_field(value, tag::ENTRY_VALUE)?;
            entries.entry(self, Self::string(key)?, EntryValue::Serialized(value), depth)?;
            bytes = rest;
        }
        Some(())
    }

    /// Validates an entry's value found in a container at `depth`.
    #[inline(always)]
    pub(crate) fn entry_value<'a>(&mut self, value: EntryValue<'a>, depth: u32) -> Option<FastValue<'a>> {
        match value {
            EntryValue::String(text) => Some(FastValue::String(text)),
            EntryValue::Serialized(bytes) => self.value(bytes, depth),
        }
    }

    /// Validates a serialized `Value` found in a container at `depth`.
    #[inline]
    fn value<'a>(&mut self, bytes: &'a [u8], depth: u32) -> Option<FastValue<'a>> {
        match *bytes {
            [tag::STRING_VALUE, ..] => {
                let text = self.only_field(bytes, tag::STRING_VALUE)?;
                Some(FastValue::String(Self::string(text)?))
            }
            [tag::STRUCT_VALUE, ..] => {
                let inner = self.only_field(bytes, tag::STRUCT_VALUE)?;
                self.entries(inner, depth + 1, &mut Unread)?;
                Some(FastValue::Other)
            }
            [tag::LIST_VALUE, ..] => {
                let inner = self.only_field(bytes, tag::LIST_VALUE)?;
                self.list(inner, depth + 1)?;
                Some(FastValue::Other)
            }
            // No kind, null_value or bool_value with a one-byte varint.
            [] | [tag::NULL_VALUE | tag::BOOL_VALUE, 0..0x80] => Some(FastValue::Other),
            [tag::NUMBER_VALUE, ref bits @ ..] if bits.len() == 8 => {
                self.structural_high += bits.iter().filter(|&&b| b >= 0x80).count();
                Some(FastValue::Other)
            }
            _ => None,
        }
    }

    fn list(&mut self, mut bytes: &[u8], depth: u32) -> Option<()> {
        if depth > self.max_depth {
            return None;
        }
        while !bytes.is_empty() {
            let (item, rest) = self.field(bytes, tag::LIST_VALUES)?;
            self.value(item, depth)?;
            bytes = rest;
        }
        Some(())
    }
}

/// UTF-8 validation of one string of non-ASCII input: the word-at-a-time
/// ASCII test first (most strings of such input are still ASCII), then
/// `simdutf8`.
#[inline]
fn is_utf8(bytes: &[u8]) -> bool {
    super::wire::is_ascii_short(bytes) || simdutf8::basic::from_utf8(bytes).is_ok()
}

/// The number of bytes of `bytes` with the high bit set, in one pass that
/// the compiler vectorises: a byte lane per byte of a 32-byte block, each
/// lane subtracting the byte's sign mask (0 or -1), which is one compare
/// and one subtraction per 16 bytes on SSE2. The tail is counted as one
/// more block, padded with zeros.
#[inline]
pub(crate) fn count_high(bytes: &[u8]) -> usize {
    const LANES: usize = 32;
    // A lane adds at most 1 per block: flush before it could wrap.
    const BLOCKS_PER_FLUSH: usize = 255;
    #[inline(always)]
    fn add(lanes: &mut [u8; LANES], block: &[u8]) {
        for (lane, &byte) in lanes.iter_mut().zip(block) {
            // `as` reinterprets the bits: the sign of the byte is its high bit.
            #[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
            let sign_mask = ((byte as i8) >> 7) as u8;
            *lane = lane.wrapping_sub(sign_mask);
        }
    }
    let sum = |lanes: [u8; LANES]| lanes.iter().map(|&n| usize::from(n)).sum::<usize>();
    let count = |blocks: &mut core::slice::ChunksExact<'_, u8>, lanes: &mut [u8; LANES]| {
        for block in blocks {
            add(lanes, block);
        }
    };
    let mut total = 0;
    let mut flushes = bytes.chunks_exact(LANES * BLOCKS_PER_FLUSH);
    for flush in flushes.by_ref() {
        let mut lanes = [0u8; LANES];
        count(&mut flush.chunks_exact(LANES), &mut lanes);
        total += sum(lanes);
    }
    let mut lanes = [0u8; LANES];
    let mut blocks = flushes.remainder().chunks_exact(LANES);
    count(&mut blocks, &mut lanes);
    let mut tail = [0u8; LANES];
    tail[..blocks.remainder().len()].copy_from_slice(blocks.remainder());
    add(&mut lanes, &tail);
    total + sum(lanes)
}

// Too slow for Miri's interpreter (minutes per case); Miri covers the fast
// path through the spec-vector and allocation tests, which decode through it.
#[cfg(all(test, feature = "alloc", not(miri)))]
mod agreement;

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        #[cfg_attr(miri, ignore = "slow in Miri; count_high is safe code")]
        fn count_high_counts(bytes in prop::collection::vec(any::<u8>(), 0..9000)) {
            prop_assert_eq!(count_high(&bytes), bytes.iter().filter(|&&b| b >= 0x80).count());
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "slow in Miri; count_high is safe code")]
    fn count_high_at_flush_boundaries() {
        for len in [0, 31, 32, 33, 255 * 32 - 1, 255 * 32, 255 * 32 + 1, 2 * 255 * 32 + 7] {
            let all: Vec<u8> = (0..len).map(|_| 0xff).collect();
            assert_eq!(count_high(&all), len, "{len}");
        }
    }
}
