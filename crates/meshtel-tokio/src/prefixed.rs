//! A stream that replays bytes already read from it.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `AsyncWrite` for a wrapper whose writes go straight to its `inner` field.
macro_rules! forward_async_write {
    ($wrapper:ident) => {
        impl<S: AsyncWrite + Unpin> AsyncWrite for $wrapper<S> {
            fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.inner).poll_flush(cx)
            }

            fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.inner).poll_shutdown(cx)
            }
        }
    };
}
pub(crate) use forward_async_write;

/// A stream whose reads first return the bytes held in front of it (the application bytes
/// the exchange read past the peer's frame), then read from the inner stream. Writes go
/// straight to the inner stream.
///
/// The application sees every byte exactly once, in order, whatever the reads' sizes. If
/// the inner stream already ended while the bytes were read, reads report the end of the
/// stream after the replay without polling the inner stream again.
///
/// ```
/// use meshtel_tokio::Prefixed;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let (a, mut b) = tokio::io::duplex(64);
/// b.write_all(b" world").await?;
/// drop(b);
/// let mut s = Prefixed::new(a, b"hello".to_vec());
/// let mut text = String::new();
/// s.read_to_string(&mut text).await?;
/// assert_eq!(text, "hello world");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Prefixed<S> {
    inner: S,
    prefix: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<S> Prefixed<S> {
    /// `inner`, with `prefix` read first.
    ///
    /// ```
    /// use meshtel_tokio::Prefixed;
    /// let s = Prefixed::new(tokio::io::empty(), b"abc".to_vec());
    /// assert_eq!(s.buffered(), b"abc");
    /// ```
    #[must_use]
    pub const fn new(inner: S, prefix: Vec<u8>) -> Self {
        Self::replaying(inner, prefix, false)
    }

    /// Replays `prefix`, then the end of the stream if `eof`, ahead of the inner stream (the
    /// replay so far must be done).
    pub(crate) fn replay(&mut self, prefix: Vec<u8>, eof: bool) {
        debug_assert!(self.buffered().is_empty(), "a replay replaced before it was read");
        self.prefix = prefix;
        self.pos = 0;
        self.eof = eof;
    }

    pub(crate) const fn replaying(inner: S, prefix: Vec<u8>, eof: bool) -> Self {
        Self {
            inner,
            prefix,
            pos: 0,
            eof,
        }
    }

    /// The bytes still to replay.
    ///
    /// ```
    /// use meshtel_tokio::Prefixed;
    /// assert!(Prefixed::new(tokio::io::empty(), Vec::new()).buffered().is_empty());
    /// ```
    #[must_use]
    pub fn buffered(&self) -> &[u8] {
        &self.prefix[self.pos..]
    }

    /// Whether the inner stream already ended (reads report the end after the replay).
    ///
    /// ```
    /// use meshtel_tokio::Prefixed;
    /// assert!(!Prefixed::new(tokio::io::empty(), Vec::new()).inner_ended());
    /// ```
    #[must_use]
    pub const fn inner_ended(&self) -> bool {
        self.eof
    }

    /// The inner stream.
    ///
    /// ```
    /// use meshtel_tokio::Prefixed;
    /// let s = Prefixed::new(tokio::io::empty(), Vec::new());
    /// let _inner: &tokio::io::Empty = s.get_ref();
    /// ```
    #[must_use]
    pub const fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner stream, mutably. Reading from it directly skips the replay.
    ///
    /// ```
    /// use meshtel_tokio::Prefixed;
    /// let mut s = Prefixed::new(tokio::io::empty(), Vec::new());
    /// let _inner: &mut tokio::io::Empty = s.get_mut();
    /// ```
    pub const fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.pos);
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if this.eof {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

forward_async_write!(Prefixed);
