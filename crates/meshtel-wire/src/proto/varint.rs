//! Base-128 varints.

use super::{DecodeError, Reason};

/// Reads a varint at `buf[*pos..]`, advancing `pos`. `base` is added to
/// offsets in errors.
#[inline]
pub(crate) fn read(buf: &[u8], pos: &mut usize, base: usize) -> Result<u64, DecodeError> {
    // Fast path: almost every tag and length in metadata is one byte.
    match *buf.get(*pos..).unwrap_or_default() {
        [b, ..] if b < 0x80 => {
            *pos += 1;
            Ok(u64::from(b))
        }
        [lo, hi, ..] if hi < 0x80 => {
            *pos += 2;
            Ok(u64::from(lo & 0x7f) | u64::from(hi) << 7)
        }
        _ => read_slow(buf, pos, base),
    }
}

#[cold]
fn read_slow(buf: &[u8], pos: &mut usize, base: usize) -> Result<u64, DecodeError> {
    let start = *pos;
    let mut value = 0u64;
    for i in 0..10 {
        let Some(&b) = buf.get(start + i) else {
            return Err(DecodeError::new(base + start, Reason::Truncated));
        };
        if i == 9 && b > 1 {
            return Err(DecodeError::new(base + start, Reason::BadVarint));
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *pos = start + i + 1;
            return Ok(value);
        }
    }
    Err(DecodeError::new(base + start, Reason::BadVarint))
}

/// Number of bytes of the minimal encoding of `v`.
#[cfg(feature = "alloc")]
#[inline]
pub(crate) const fn encoded_len(v: u64) -> usize {
    // 1 byte per started 7 bits, at least one.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<(u64, usize), DecodeError> {
        let mut pos = 0;
        read(bytes, &mut pos, 0).map(|v| (v, pos))
    }

    #[test]
    fn lengths_and_values() {
        assert_eq!(decode(&[0x00]), Ok((0, 1)));
        assert_eq!(decode(&[0x96, 0x01]), Ok((150, 2)));
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Ok((u64::MAX, 10))
        );
        #[cfg(feature = "alloc")]
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let expected = if v == 0 {
                1
            } else {
                (64 - v.leading_zeros() as usize).div_ceil(7)
            };
            assert_eq!(encoded_len(v), expected, "{v}");
        }
    }

    #[test]
    fn rejects_overlong_and_overflowing() {
        let eleven = [0x80u8; 10];
        assert_eq!(decode(&eleven).unwrap_err().reason, Reason::BadVarint);
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(decode(&overflow).unwrap_err().reason, Reason::BadVarint);
        assert_eq!(decode(&[0x80]).unwrap_err(), DecodeError::new(0, Reason::Truncated));
    }
}
