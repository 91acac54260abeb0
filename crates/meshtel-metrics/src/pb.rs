//! Protobuf wire writing for the hand-written streaming encoders (remote
//! write, the Prometheus protobuf exposition): fields written straight into
//! the output buffer with prost's encoding helpers, message lengths computed
//! before their fields so that nothing is staged in owned structs.

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

/// Bytes of a length-delimited field of `len` payload bytes.
#[inline]
pub(crate) fn len_field(field: u32, len: usize) -> usize {
    key_len(field) + encoded_len_varint(len as u64) + len
}

/// Bytes of a string field made of `pieces`.
#[inline]
pub(crate) fn str_field(field: u32, pieces: &[&str]) -> usize {
    len_field(field, pieces.iter().map(|p| p.len()).sum())
}

/// Bytes of a double field.
#[inline]
pub(crate) fn double_field(field: u32) -> usize {
    key_len(field) + 8
}

/// Bytes of a varint field.
#[inline]
pub(crate) fn varint_field(field: u32, v: u64) -> usize {
    key_len(field) + encoded_len_varint(v)
}

/// Zigzag encoding of a signed value (`sint32`, `sint64`).
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Writes the key and length of a length-delimited field; the payload follows.
#[inline]
pub(crate) fn put_len(out: &mut Vec<u8>, field: u32, len: usize) {
    encode_key(field, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

/// Writes a string field made of `pieces` (a name and its suffix, say).
#[inline]
pub(crate) fn put_str(out: &mut Vec<u8>, field: u32, pieces: &[&str]) {
    put_len(out, field, pieces.iter().map(|p| p.len()).sum());
    for p in pieces {
        out.extend_from_slice(p.as_bytes());
    }
}

/// Writes a double field.
#[inline]
pub(crate) fn put_double(out: &mut Vec<u8>, field: u32, v: f64) {
    encode_key(field, WireType::SixtyFourBit, out);
    out.extend_from_slice(&v.to_le_bytes());
}

/// Writes a varint field.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, field: u32, v: u64) {
    encode_key(field, WireType::Varint, out);
    encode_varint(v, out);
}

/// Bytes of the `BucketSpan {sint32 offset = 1; uint32 length = 2}` message.
pub(crate) fn span(offset: i32, length: u32) -> usize {
    varint_field(1, zigzag(i64::from(offset))) + varint_field(2, u64::from(length))
}

/// Writes repeated spans (field `field`) and their packed `sint64` deltas
/// (field `deltas_field`) of one side of a native histogram.
pub(crate) fn put_side(out: &mut Vec<u8>, spans_field: u32, deltas_field: u32, side: &crate::native::Side) {
    for (offset, length) in side.spans() {
        put_len(out, spans_field, span(offset, length));
        put_varint(out, 1, zigzag(i64::from(offset)));
        put_varint(out, 2, u64::from(length));
    }
    let packed: usize = side.deltas().map(|d| encoded_len_varint(zigzag(d))).sum();
    if packed > 0 {
        put_len(out, deltas_field, packed);
        for d in side.deltas() {
            encode_varint(zigzag(d), out);
        }
    }
}

/// Bytes [`put_side`] writes.
#[cfg(feature = "remote-write")]
pub(crate) fn side_len(spans_field: u32, deltas_field: u32, side: &crate::native::Side) -> usize {
    let spans: usize = side.spans().map(|(o, l)| len_field(spans_field, span(o, l))).sum();
    let packed: usize = side.deltas().map(|d| encoded_len_varint(zigzag(d))).sum();
    spans + if packed > 0 { len_field(deltas_field, packed) } else { 0 }
}
