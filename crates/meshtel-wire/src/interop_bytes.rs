//! Encoding into `bytes` buffers (feature `bytes`).
//!
//! ```
//! use bytes::BytesMut;
//! use meshtel_wire::frame::FrameConfig;
//! use meshtel_wire::proto::Struct;
//! let mut buf = BytesMut::new();
//! meshtel_wire::interop_bytes::put_frame(&Struct::new(), "", &FrameConfig::default(), &mut buf)?;
//! assert_eq!(&buf[..4], &meshtel_wire::frame::MAGIC);
//! # Ok::<(), meshtel_wire::frame::EncodeError>(())
//! ```

use bytes::BufMut;

use crate::frame::{EncodeError, FrameConfig, encode_frame};
use crate::proto::{Struct, encode_struct};

/// Writes the frame of [`encode_frame`] into `buf`.
///
/// # Errors
/// As [`encode_frame`]; `buf` is unchanged then.
pub fn put_frame(record: &Struct, id: &str, config: &FrameConfig, buf: &mut impl BufMut) -> Result<(), EncodeError> {
    buf.put_slice(&encode_frame(record, id, config)?);
    Ok(())
}

/// Writes the deterministic serialization of `s` into `buf`.
pub fn put_struct(s: &Struct, buf: &mut impl BufMut) {
    buf.put_slice(&encode_struct(s));
}
