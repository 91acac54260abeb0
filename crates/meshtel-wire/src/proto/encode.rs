//! Deterministic `Struct` serialization, written back to front.
//!
//! Every nested message is length-prefixed, so a front-to-back writer must
//! size each level first (prost recomputes sizes at every level). Writing
//! from the end towards the front knows each length right after writing the
//! content, so one pass suffices.

use alloc::vec;
use alloc::vec::Vec;

use super::wire::tag;
use super::{Struct, Value};

/// Room for typical node metadata; larger output grows the buffer. Sizing
/// exactly would need a pass over the Struct that costs more than the one
/// move of the finished bytes to the front.
pub(crate) const INITIAL_CAPACITY: usize = 1024;

/// A buffer filled from the back: `buf[start..]` holds what was written.
#[derive(Debug)]
pub(crate) struct RevBuf {
    buf: Vec<u8>,
    start: usize,
}

impl RevBuf {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: vec![0; capacity],
            start: capacity,
        }
    }

    /// Bytes written so far.
    #[inline]
    pub(crate) const fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// What was written.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    #[inline]
    fn reserve(&mut self, additional: usize) {
        if self.start < additional {
            self.grow(additional);
        }
    }

    #[cold]
    fn grow(&mut self, additional: usize) {
        let len = self.len();
        let capacity = (self.buf.len() * 2).max(len + additional).max(64);
        let mut buf = vec![0; capacity];
        buf[capacity - len..].copy_from_slice(&self.buf[self.start..]);
        self.buf = buf;
        self.start = capacity - len;
    }

    #[inline(always)]
    pub(crate) fn put_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        self.start -= bytes.len();
        let dst = &mut self.buf[self.start..self.start + bytes.len()];
        // Keys and values are short: a byte loop beats a call into memmove.
        if bytes.len() <= 16 {
            for (d, s) in dst.iter_mut().zip(bytes) {
                *d = *s;
            }
        } else {
            dst.copy_from_slice(bytes);
        }
    }

    #[inline(always)]
    pub(crate) fn put_u8(&mut self, byte: u8) {
        self.reserve(1);
        self.start -= 1;
        self.buf[self.start] = byte;
    }

    #[inline(always)]
    pub(crate) fn put_varint(&mut self, v: u64) {
        // Lengths in metadata fit one or two bytes.
        if v < 0x80 {
            self.put_u8(v as u8);
        } else if v < 0x4000 {
            self.reserve(2);
            self.start -= 2;
            self.buf[self.start] = (v as u8) | 0x80;
            self.buf[self.start + 1] = (v >> 7) as u8;
        } else {
            self.put_varint_long(v);
        }
    }

    #[cold]
    fn put_varint_long(&mut self, mut v: u64) {
        let mut tmp = [0u8; 10];
        let mut n = 0;
        loop {
            // Truncation intended: the low seven bits.
            let low = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                tmp[n] = low;
                n += 1;
                break;
            }
            tmp[n] = low | 0x80;
            n += 1;
        }
        self.put_slice(&tmp[..n]);
    }

    /// Prefixes what was written since `mark` (a previous [`RevBuf::len`])
    /// with its length and `tag`.
    #[inline(always)]
    pub(crate) fn put_len_prefix(&mut self, mark: usize, tag: u8) {
        self.put_varint((self.len() - mark) as u64);
        self.put_u8(tag);
    }

    /// Writes a string field: `tag`, length, bytes.
    #[inline(always)]
    pub(crate) fn put_bytes_field(&mut self, tag: u8, bytes: &[u8]) {
        self.put_slice(bytes);
        self.put_varint(bytes.len() as u64);
        self.put_u8(tag);
    }

    /// Writes `0a L 0a k key 12 v 1a s text` in one step when every length
    /// fits one byte — the shape of nearly every metadata entry — and
    /// returns whether it did.
    #[inline]
    #[must_use]
    pub(crate) fn put_short_string_entry(&mut self, key: &[u8], text: &[u8]) -> bool {
        let value_len = 2 + text.len();
        let entry_len = 2 + key.len() + 2 + value_len;
        if entry_len >= 0x80 {
            return false;
        }
        let total = 2 + entry_len;
        self.reserve(total);
        let start = self.start - total;
        let out = &mut self.buf[start..self.start];
        // Every length is below 0x80, checked above.
        let (head, rest) = out.split_at_mut(4);
        head.copy_from_slice(&[tag::STRUCT_FIELDS, entry_len as u8, tag::ENTRY_KEY, key.len() as u8]);
        let (k, rest) = rest.split_at_mut(key.len());
        k.copy_from_slice(key);
        let (mid, t) = rest.split_at_mut(4);
        mid.copy_from_slice(&[tag::ENTRY_VALUE, value_len as u8, tag::STRING_VALUE, text.len() as u8]);
        t.copy_from_slice(text);
        self.start = start;
        true
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        let mut buf = self.buf;
        buf.drain(..self.start);
        buf
    }
}

/// Writes the fields of `s` (without an outer length prefix).
pub(crate) fn put_struct(w: &mut RevBuf, s: &Struct) {
    for (key, value) in s.fields.iter().rev() {
        if let Value::String(text) = value
            && w.put_short_string_entry(key.as_bytes(), text.as_bytes())
        {
            continue;
        }
        put_entry(w, key.as_bytes(), |w| put_value(w, value));
    }
}

/// Writes one `Struct.fields` entry whose value is written by `value`.
#[inline]
pub(crate) fn put_entry(w: &mut RevBuf, key: &[u8], value: impl FnOnce(&mut RevBuf)) {
    let entry_mark = w.len();
    let value_mark = w.len();
    value(w);
    w.put_len_prefix(value_mark, tag::ENTRY_VALUE);
    w.put_bytes_field(tag::ENTRY_KEY, key);
    w.put_len_prefix(entry_mark, tag::STRUCT_FIELDS);
}

/// Writes the fields of a `Value`.
pub(crate) fn put_value(w: &mut RevBuf, value: &Value) {
    match value {
        Value::Unset => {}
        Value::Null => w.put_slice(&[tag::NULL_VALUE, 0x00]),
        Value::Number(n) => {
            w.put_slice(&n.to_le_bytes());
            w.put_u8(tag::NUMBER_VALUE);
        }
        Value::String(s) => w.put_bytes_field(tag::STRING_VALUE, s.as_bytes()),
        Value::Bool(b) => w.put_slice(&[tag::BOOL_VALUE, u8::from(*b)]),
        Value::Struct(s) => {
            let mark = w.len();
            put_struct(w, s);
            w.put_len_prefix(mark, tag::STRUCT_VALUE);
        }
        Value::List(items) => {
            let mark = w.len();
            for item in items.iter().rev() {
                let item_mark = w.len();
                put_value(w, item);
                w.put_len_prefix(item_mark, tag::LIST_VALUES);
            }
            w.put_len_prefix(mark, tag::LIST_VALUE);
        }
    }
}

/// Serializes `s` deterministically (`docs/reference/wire.md` §3.3): byte-identical to the
/// reference protobuf runtime's deterministic mode.
///
/// ```
/// use meshtel_wire::proto::{Struct, encode_struct};
/// let s: Struct = [("s", "hi")].into_iter().collect();
/// assert_eq!(encode_struct(&s), [0x0a, 0x09, 0x0a, 0x01, b's', 0x12, 0x04, 0x1a, 0x02, b'h', b'i']);
/// ```
#[must_use]
pub fn encode_struct(s: &Struct) -> Vec<u8> {
    let mut w = RevBuf::with_capacity(INITIAL_CAPACITY);
    put_struct(&mut w, s);
    w.into_vec()
}

/// Appends the deterministic serialization of `s` to `out`.
pub fn encode_struct_into(s: &Struct, out: &mut Vec<u8>) {
    let mut w = RevBuf::with_capacity(INITIAL_CAPACITY);
    put_struct(&mut w, s);
    out.extend_from_slice(w.as_slice());
}

/// The length of [`encode_struct`]'s output.
#[must_use]
pub fn encoded_struct_len(s: &Struct) -> usize {
    s.fields
        .iter()
        .map(|(k, v)| len_prefixed(entry_len(k.as_bytes(), value_len(v))))
        .sum()
}

fn entry_len(key: &[u8], value: usize) -> usize {
    len_prefixed(key.len()) + len_prefixed(value)
}

/// Tag byte, length varint, content.
fn len_prefixed(len: usize) -> usize {
    1 + super::varint_len(len as u64) + len
}

fn value_len(v: &Value) -> usize {
    match v {
        Value::Unset => 0,
        Value::Null | Value::Bool(_) => 2,
        Value::Number(_) => 9,
        Value::String(s) => len_prefixed(s.len()),
        Value::Struct(s) => len_prefixed(encoded_struct_len(s)),
        Value::List(items) => len_prefixed(items.iter().map(|i| len_prefixed(value_len(i))).sum()),
    }
}
