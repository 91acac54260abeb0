//! The exchange that does not wait for the peer's frame ([`PeerExchange::start`]): the
//! stream strips the frame from the first inbound bytes whenever they arrive.
//!
//! [`PeerExchange::start`]: crate::PeerExchange::start

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use meshtel_wire::frame::FrameErrorKind;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use tokio::time::Sleep;

use crate::exchange::Inbound;
use crate::prefixed::forward_async_write;
use crate::{ExchangeError, PeerOutcome, Prefixed, Rejection, Role};

/// The result of [`PeerExchange::start`](crate::PeerExchange::start): the stream to use
/// from now on, and a handle that receives the peer's outcome once the stream knows it.
///
/// ```
/// # use meshtel_tokio::{PeerExchange, PeerOutcome, Role, Started};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), meshtel_tokio::ExchangeError> {
/// let (a, _b) = tokio::io::duplex(64);
/// // Without the `istio-peer-exchange` ALPN the exchange does not run: settled at once.
/// let Started { stream, peer, .. } = PeerExchange::new(Vec::new()).start(Role::Client, a, Some(b"h2")).await?;
/// assert_eq!(stream.outcome(), Some(&PeerOutcome::Disabled));
/// assert_eq!(peer.await, Some(PeerOutcome::Disabled));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Started<S> {
    /// The stream: writes go straight through, reads take the peer's frame off first.
    pub stream: PeerStream<S>,
    /// Receives the peer's outcome when the stream's reads settle it.
    pub peer: PeerHandle,
}

/// Receives the peer's outcome of a [`PeerStream`], as a future: `Some(outcome)` once the
/// stream's reads settled it, `None` if the stream was dropped before (the peer sent
/// nothing the application read, or a read failed inside its frame). Polling it registers
/// the task, so a proxy can poll it next to its copy loop and label the connection as soon
/// as the frame arrives.
///
/// ```
/// # use meshtel_tokio::{PeerExchange, Role, Started};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), meshtel_tokio::ExchangeError> {
/// let (a, _b) = tokio::io::duplex(4096);
/// let exchange = PeerExchange::new(vec![0x3d, 0x23, 0x04, 0x67, 0, 0, 0, 0]);
/// let Started { stream, mut peer, .. } = exchange.start(Role::Client, a, Some(b"istio-peer-exchange")).await?;
/// assert_eq!(peer.try_outcome(), None); // nothing received yet
/// drop(stream);
/// assert_eq!(peer.await, None);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a handle does nothing unless polled"]
pub struct PeerHandle {
    receiver: oneshot::Receiver<PeerOutcome>,
}

impl PeerHandle {
    /// The outcome, if the stream settled it and it was not taken yet; does not wait.
    ///
    /// ```
    /// # use meshtel_tokio::{PeerExchange, PeerOutcome, Role};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), meshtel_tokio::ExchangeError> {
    /// let (a, _b) = tokio::io::duplex(64);
    /// let mut started = PeerExchange::new(Vec::new()).start(Role::Client, a, None).await?;
    /// assert_eq!(started.peer.try_outcome(), Some(PeerOutcome::Disabled));
    /// assert_eq!(started.peer.try_outcome(), None); // taken
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_outcome(&mut self) -> Option<PeerOutcome> {
        self.receiver.try_recv().ok()
    }
}

impl Future for PeerHandle {
    type Output = Option<PeerOutcome>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver).poll(cx).map(Result::ok)
    }
}

/// A stream after [`PeerExchange::start`](crate::PeerExchange::start): the local frame
/// is written; the peer's is taken off the first inbound bytes by the reads, bounded by
/// the exchange's [`FrameConfig`](meshtel_wire::frame::FrameConfig).
///
/// - Writes go straight to the inner stream, from the start.
/// - Reads first read until the peer's side is settled (at most the frame is held; an
///   oversize payload is skipped as it arrives, never buffered), then return the bytes
///   that followed the frame, then read from the inner stream. The application sees every
///   byte after the frame exactly once, in order, whatever the reads' sizes.
/// - A first byte that is not the magic settles [`PeerOutcome::NotAFrame`]: every byte is
///   the application's. A rejected frame ([`PeerOutcome::Rejected`]) is dropped and what
///   follows is the application's, except an oversize frame under
///   [`OversizePolicy::Close`](meshtel_wire::frame::OversizePolicy::Close): reads then
///   fail with [`io::ErrorKind::InvalidData`], close the connection.
/// - A read error inside the frame is returned with its kind, the exchange's context as
///   its message ([`ExchangeError::Read`]); the held bytes stay held for a retry.
/// - Once the peer's first byte has arrived, the rest of its frame must follow within the
///   exchange's timeout ([`PeerExchange::timeout`](crate::PeerExchange::timeout)); waiting
///   for that first byte is the application's own business (a client-first protocol may
///   wait long for its answer). A frame still unfinished then settles
///   [`Rejection::TimedOut`], its partial bytes are dropped (they are not the
///   application's), and reads fail with [`io::ErrorKind::TimedOut`]: close the
///   connection.
///
/// ```
/// use meshtel_tokio::{PeerExchange, PeerOutcome, Role};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (a, mut b) = tokio::io::duplex(4096);
/// let exchange = PeerExchange::new(vec![0x3d, 0x23, 0x04, 0x67, 0, 0, 0, 0]);
/// let mut started = exchange.start(Role::Client, a, Some(b"istio-peer-exchange")).await?;
/// // A peer outside the mesh answers with plain bytes: they pass untouched.
/// b.write_all(b"hello").await?;
/// let mut buf = [0; 5];
/// started.stream.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hello");
/// assert_eq!(started.stream.outcome(), Some(&PeerOutcome::NotAFrame));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PeerStream<S> {
    /// The stream; once settled, replaying the bytes that followed the frame.
    inner: Prefixed<S>,
    /// The exchange's settings that apply after `start` returned.
    settings: Settings,
    /// The peer's side while it is not settled.
    inbound: Option<Inbound>,
    outcome: Option<PeerOutcome>,
    notify: Option<oneshot::Sender<PeerOutcome>>,
    /// Reads fail: an oversize frame under the close policy, or the frame timed out.
    refused: Option<Refusal>,
    /// The frame's deadline, armed at its first byte.
    deadline: Option<Pin<Box<Sleep>>>,
}

/// Why a [`PeerStream`]'s reads fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Oversize,
    /// The frame timed out: the rejection the outcome holds.
    TimedOut(Rejection),
}

/// How a [`PeerStream`] handles the peer's frame: the exchange's settings that apply after
/// `start` returned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) role: Role,
    /// Reads fail after an oversize frame (`OversizePolicy::Close`).
    pub(crate) close_oversize: bool,
    /// How long the peer's frame may take once its first byte arrived.
    pub(crate) timeout: Option<Duration>,
    /// Bytes of the local frame written (the whole frame: `start` flushed it).
    pub(crate) sent: usize,
}

impl<S: AsyncRead + Unpin> PeerStream<S> {
    pub(crate) fn started(inner: S, inbound: Inbound, settings: Settings) -> Started<S> {
        let (sender, receiver) = oneshot::channel();
        let mut stream = Self {
            inner: Prefixed::new(inner, Vec::new()),
            settings,
            inbound: None,
            outcome: None,
            notify: Some(sender),
            refused: None,
            deadline: None,
        };
        if inbound.is_enabled() {
            if inbound.outcome.is_some() {
                // Settled while the local frame was being written.
                stream.settle(inbound);
            } else {
                stream.inbound = Some(inbound);
            }
        } else {
            stream.settled_as(PeerOutcome::Disabled);
        }
        Started {
            stream,
            peer: PeerHandle { receiver },
        }
    }

    /// Reads until the peer's side is settled; the outcome (a copy of
    /// [`PeerStream::outcome`]). Bytes read past the frame are kept for the application's
    /// reads: calling it never loses a byte.
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use meshtel_tokio::{PeerExchange, PeerOutcome, Role};
    /// use tokio::io::AsyncWriteExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (a, mut b) = tokio::io::duplex(4096);
    /// let exchange = PeerExchange::new(vec![0x3d, 0x23, 0x04, 0x67, 0, 0, 0, 0]);
    /// let mut started = exchange.start(Role::Client, a, Some(b"istio-peer-exchange")).await?;
    /// b.write_all(b"hi").await?;
    /// let outcome = poll_fn(|cx| started.stream.poll_peer(cx)).await?;
    /// assert_eq!(outcome, PeerOutcome::NotAFrame);
    /// assert_eq!(started.stream.buffered(), b"hi");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// A read error of the inner stream inside the frame, with its kind and the
    /// exchange's context ([`ExchangeError::Read`]).
    pub fn poll_peer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<PeerOutcome>> {
        std::task::ready!(self.poll_settle(cx))?;
        // Settled: `settle` or `settled_as` set the outcome.
        Poll::Ready(Ok(self.outcome.clone().unwrap_or(PeerOutcome::NotAFrame)))
    }

    /// Reads until the peer's side is settled, or its frame's deadline passes.
    fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(inbound) = &mut self.inbound else {
            return Poll::Ready(Ok(()));
        };
        match inbound.poll_settle(cx, self.inner.get_mut(), self.settings.role) {
            Poll::Ready(Err(e)) => return Poll::Ready(Err(into_io(e))),
            Poll::Ready(Ok(())) => {
                if let Some(inbound) = self.inbound.take() {
                    self.settle(inbound);
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Pending => {}
        }
        let (Some(after), true) = (self.settings.timeout, inbound.started()) else {
            return Poll::Pending;
        };
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
        std::task::ready!(deadline.as_mut().poll(cx));
        self.deadline = None;
        // What is held is part of a frame (or of an oversize payload being skipped), not
        // application data: it is dropped with the peer's side, and the reads fail from now on.
        if let Some(inbound) = self.inbound.take() {
            let rejection = Rejection::TimedOut {
                after,
                received: inbound.held(),
                sent: self.settings.sent,
            };
            self.refused = Some(Refusal::TimedOut(rejection));
            self.settled_as(PeerOutcome::Rejected(rejection));
        }
        Poll::Ready(Ok(()))
    }

    fn settle(&mut self, mut inbound: Inbound) {
        let outcome = inbound.outcome.take().unwrap_or(PeerOutcome::NotAFrame);
        let (replay, eof) = inbound.into_replay();
        self.inner.replay(replay, eof);
        let oversize = matches!(
            outcome,
            PeerOutcome::Rejected(Rejection::Frame(FrameErrorKind::TooLarge { .. }))
        );
        if self.settings.close_oversize && oversize {
            self.refused = Some(Refusal::Oversize);
        }
        self.deadline = None;
        self.settled_as(outcome);
    }

    fn settled_as(&mut self, outcome: PeerOutcome) {
        if let Some(notify) = self.notify.take() {
            // The handle may be gone: nobody is waiting.
            let _ = notify.send(outcome.clone());
        }
        self.outcome = Some(outcome);
    }
}

impl<S> PeerStream<S> {
    /// The peer's outcome, once the reads settled it.
    ///
    /// ```
    /// # use meshtel_tokio::{PeerExchange, PeerOutcome, Role};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), meshtel_tokio::ExchangeError> {
    /// let (a, _b) = tokio::io::duplex(4096);
    /// let exchange = PeerExchange::new(vec![0x3d, 0x23, 0x04, 0x67, 0, 0, 0, 0]);
    /// let started = exchange.start(Role::Client, a, Some(b"istio-peer-exchange")).await?;
    /// assert_eq!(started.stream.outcome(), None);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn outcome(&self) -> Option<&PeerOutcome> {
        self.outcome.as_ref()
    }

    /// The application bytes read past the peer's frame and not yet returned (empty while
    /// the frame is not settled: the bytes held then may still be the frame's).
    ///
    /// ```
    /// # use meshtel_tokio::{PeerExchange, Role};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), meshtel_tokio::ExchangeError> {
    /// let (a, _b) = tokio::io::duplex(64);
    /// let started = PeerExchange::new(Vec::new()).start(Role::Client, a, None).await?;
    /// assert!(started.stream.buffered().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn buffered(&self) -> &[u8] {
        self.inner.buffered()
    }

    /// The inner stream.
    ///
    /// ```
    /// # use meshtel_tokio::{PeerExchange, Role};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), meshtel_tokio::ExchangeError> {
    /// let started = PeerExchange::new(Vec::new()).start(Role::Client, tokio::io::empty(), None).await?;
    /// let _inner: &tokio::io::Empty = started.stream.get_ref();
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }
}

/// A read failure inside the frame as an I/O error of the same kind, with the exchange's
/// context.
fn into_io(e: ExchangeError) -> io::Error {
    let kind = match &e {
        ExchangeError::Read { source, .. } | ExchangeError::Write { source, .. } => source.kind(),
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

impl<S: AsyncRead + Unpin> AsyncRead for PeerStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        std::task::ready!(this.poll_settle(cx))?;
        match this.refused {
            None => Pin::new(&mut this.inner).poll_read(cx, buf),
            Some(Refusal::Oversize) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}-side peer exchange: the peer's metadata frame is over the limit and the policy is to close",
                    this.settings.role
                ),
            ))),
            Some(Refusal::TimedOut(rejection)) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{}-side peer exchange: {rejection}", this.settings.role),
            ))),
        }
    }
}

forward_async_write!(PeerStream);
