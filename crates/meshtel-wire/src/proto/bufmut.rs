//! Encoding into `bytes` buffers (feature `bytes`).

use bytes::BufMut;

use super::{Struct, encode_struct};

/// Writes the deterministic serialization of `s` ([`encode_struct`]) into
/// `buf`.
///
/// ```
/// use bytes::BytesMut;
/// use meshtel_wire::proto::{Struct, encode_struct, put_struct};
/// let s: Struct = [("a", "b")].into_iter().collect();
/// let mut buf = BytesMut::new();
/// put_struct(&s, &mut buf);
/// assert_eq!(&buf[..], &encode_struct(&s)[..]);
/// ```
pub fn put_struct(s: &Struct, buf: &mut impl BufMut) {
    buf.put_slice(&encode_struct(s));
}
