//! The TCP prefix exchange over an async stream (`docs/reference/wire.md` §4.4, §4.5).
//!
//! [`PeerExchange`] holds this side's frame, the frame limits and the timeout;
//! [`PeerExchange::run`] drives [`meshtel_wire::exchange::Exchange`] over a stream: it writes
//! the local frame and reads the peer's **at the same time** (neither side waits for the
//! other, so two ends that both write first cannot deadlock on full buffers), and returns an
//! [`Exchanged`]: the typed [`PeerOutcome`] and the stream as a [`Prefixed`] that replays
//! every byte read past the peer's frame.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use meshtel_wire::exchange::{self as sans_io, Exchange, Received};
use meshtel_wire::frame::{EncodeError, FrameConfig, FrameErrorKind, OversizePolicy, encode_frame};
use meshtel_wire::workload::WorkloadMetadata;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{PeerStream, Prefixed, Started};

/// The first read's size: a typical frame (a few hundred bytes) and what follows it. The
/// buffer doubles while a larger frame is incomplete.
const FIRST_READ: usize = 2 * 1024;

/// Which end of the connection runs the exchange.
///
/// The protocol is the same for both (as in [`meshtel_wire::exchange::Exchange`]): each side
/// writes its frame once, ahead of any application bytes, and reads the peer's. The role
/// names the side in errors and in `Debug` output.
///
/// ```
/// use meshtel_tokio::Role;
/// assert_eq!(Role::Client.to_string(), "client");
/// assert_eq!(Role::Server.to_string(), "server");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that opened the connection (an outbound sidecar).
    Client,
    /// The end that accepted it (an inbound sidecar).
    Server,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Client => "client",
            Self::Server => "server",
        })
    }
}

/// The peer found in its frame.
///
/// ```
/// # use meshtel_tokio::{PeerExchange, PeerOutcome, Role};
/// # use meshtel_wire::workload::WorkloadMetadata;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mut record = WorkloadMetadata::default();
/// # record.workload = "ratings-v1".into();
/// # let exchange = PeerExchange::for_workload(&record, "sidecar~10.0.0.1~r.default~default.svc.cluster.local")?;
/// # let (a, b) = tokio::io::duplex(4096);
/// # let alpn = Some(&b"istio-peer-exchange"[..]);
/// # let (client, _server) = tokio::try_join!(exchange.run(Role::Client, a, alpn), exchange.run(Role::Server, b, alpn))?;
/// if let PeerOutcome::Found(peer) = &client.outcome {
///     assert_eq!(peer.metadata.workload, "ratings-v1");
///     assert_eq!(peer.id.as_deref(), Some("sidecar~10.0.0.1~r.default~default.svc.cluster.local"));
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Peer {
    /// The peer's workload metadata (`docs/reference/wire.md` §1), with the configured
    /// additional labels.
    pub metadata: WorkloadMetadata,
    /// The peer's node id (`x-envoy-peer-metadata-id`), if it sent one.
    pub id: Option<String>,
}

/// Why the peer's frame was not accepted.
///
/// ```
/// use std::time::Duration;
/// use meshtel_tokio::Rejection;
/// let r = Rejection::TimedOut { after: Duration::from_secs(10), received: 3, sent: 177 };
/// assert!(r.to_string().contains("10s"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The frame was oversize, malformed, of the wrong type, or truncated by the end of the
    /// stream (the wire crate's [`FrameErrorKind`]).
    #[error("the peer's metadata frame was rejected: {0}")]
    Frame(#[source] FrameErrorKind),
    /// The exchange did not finish within the configured timeout.
    #[error(
        "the peer metadata exchange did not finish within {after:?}: {received} bytes of the peer's frame \
         received, {sent} bytes of the local frame sent"
    )]
    TimedOut {
        /// The configured timeout.
        after: Duration,
        /// Bytes of the peer's unfinished frame held when the time ran out.
        received: usize,
        /// Bytes of the local frame written by then.
        sent: usize,
    },
}

/// How the exchange ended (`docs/reference/wire.md` §4.5, decisions W1–W7).
///
/// ```
/// use meshtel_tokio::PeerOutcome;
/// assert_eq!(PeerOutcome::NotAFrame.peer(), None);
/// assert!(!PeerOutcome::Disabled.is_found());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "one outcome per connection, moved once or twice: boxing would add an allocation and a pattern level"
)]
pub enum PeerOutcome {
    /// A valid frame with the peer's workload metadata.
    Found(Peer),
    /// A valid frame without workload metadata (W6): the exchange finished, no peer.
    NoPeer {
        /// The peer's node id, if it sent one.
        id: Option<String>,
    },
    /// The peer sent no frame: its first bytes are not the magic, or the stream ended after
    /// 0–3 bytes that are a prefix of it. Every byte received is application data and is
    /// replayed by the [`Prefixed`] stream.
    NotAFrame,
    /// The negotiated ALPN is not `istio-peer-exchange`: nothing was written or read.
    Disabled,
    /// The peer's frame was rejected. For a frame that was consumed (malformed, wrong type,
    /// oversize under [`OversizePolicy::Skip`](meshtel_wire::frame::OversizePolicy::Skip))
    /// the bytes after it are application data; after a timeout, or an oversize frame
    /// under `OversizePolicy::Close`, close the connection.
    Rejected(Rejection),
}

impl PeerOutcome {
    /// The peer's workload metadata, if found.
    ///
    /// ```
    /// use meshtel_tokio::PeerOutcome;
    /// assert!(PeerOutcome::NoPeer { id: None }.peer().is_none());
    /// ```
    #[must_use]
    pub fn peer(&self) -> Option<&WorkloadMetadata> {
        match self {
            Self::Found(peer) => Some(&peer.metadata),
            _ => None,
        }
    }

    /// The peer's workload metadata, if found, by value: what
    /// [`Metered::resolve`](crate::Metered::resolve) takes.
    ///
    /// ```
    /// use meshtel_tokio::PeerOutcome;
    /// assert!(PeerOutcome::Disabled.into_peer().is_none());
    /// ```
    #[must_use]
    pub fn into_peer(self) -> Option<WorkloadMetadata> {
        match self {
            Self::Found(peer) => Some(peer.metadata),
            _ => None,
        }
    }

    /// Whether the peer was found.
    ///
    /// ```
    /// use meshtel_tokio::PeerOutcome;
    /// assert!(!PeerOutcome::NotAFrame.is_found());
    /// ```
    #[must_use]
    pub const fn is_found(&self) -> bool {
        matches!(self, Self::Found(_))
    }
}

/// The result of [`PeerExchange::run`]: the outcome, and the stream to use from now on.
///
/// ```
/// # use meshtel_tokio::{Exchanged, PeerExchange, PeerOutcome, Role};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), meshtel_tokio::ExchangeError> {
/// let (a, _b) = tokio::io::duplex(64);
/// let exchange = PeerExchange::new(Vec::new());
/// // Without the `istio-peer-exchange` ALPN the exchange does not run.
/// let Exchanged { outcome, stream, .. } = exchange.run(Role::Client, a, Some(b"h2")).await?;
/// assert_eq!(outcome, PeerOutcome::Disabled);
/// assert!(stream.buffered().is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Exchanged<S> {
    /// How the exchange ended.
    pub outcome: PeerOutcome,
    /// The stream, replaying the application bytes read past the peer's frame first.
    pub stream: Prefixed<S>,
}

/// An I/O failure during the exchange, or a local frame that cannot be encoded.
///
/// ```
/// use meshtel_tokio::{ExchangeError, Role};
/// let e = ExchangeError::Read { role: Role::Server, received: 5, source: std::io::ErrorKind::ConnectionReset.into() };
/// assert_eq!(e.to_string(), "server-side peer exchange: reading the peer's metadata frame failed after 5 bytes");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// Writing or flushing the local frame failed.
    #[error("{role}-side peer exchange: writing the local metadata frame failed after {written} of {len} bytes")]
    Write {
        /// The side that failed.
        role: Role,
        /// Bytes of the frame written before the failure.
        written: usize,
        /// The frame's length.
        len: usize,
        /// The stream's error.
        #[source]
        source: io::Error,
    },
    /// Reading the peer's frame failed.
    #[error("{role}-side peer exchange: reading the peer's metadata frame failed after {received} bytes")]
    Read {
        /// The side that failed.
        role: Role,
        /// Bytes received before the failure.
        received: usize,
        /// The stream's error.
        #[source]
        source: io::Error,
    },
    /// The local workload metadata does not fit in a frame ([`PeerExchange::for_workload`]).
    #[error("peer exchange configuration: encoding the local metadata frame failed")]
    Encode(#[source] EncodeError),
}

/// One side's exchange settings: its frame, the limits on the peer's, and the timeout.
/// Cheap to clone (the frame is shared).
///
/// ```
/// use std::time::Duration;
/// use meshtel_tokio::PeerExchange;
/// use meshtel_wire::frame::FrameConfig;
/// use meshtel_wire::workload::WorkloadMetadata;
/// let exchange = PeerExchange::for_workload(&WorkloadMetadata::default(), "node-id")?
///     .with_timeout(Some(Duration::from_secs(3)))
///     .with_frame_config(FrameConfig::default().with_max_payload(4096).unwrap());
/// assert_eq!(exchange.timeout(), Some(Duration::from_secs(3)));
/// # Ok::<(), meshtel_tokio::ExchangeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PeerExchange {
    frame: Arc<[u8]>,
    config: FrameConfig,
    timeout: Option<Duration>,
    additional_labels: Arc<[String]>,
}

impl PeerExchange {
    /// The default timeout for the whole exchange: 10 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// An exchange sending `local_frame` (encoded once, e.g. with
    /// [`meshtel_wire::frame::encode_frame`]), with the default frame limits
    /// ([`FrameConfig::default`]: 64 KiB, depth 32, oversize frames skipped) and
    /// [`PeerExchange::DEFAULT_TIMEOUT`].
    ///
    /// ```
    /// use meshtel_tokio::PeerExchange;
    /// let exchange = PeerExchange::new(vec![0x3d, 0x23, 0x04, 0x67, 0, 0, 0, 0]);
    /// assert_eq!(exchange.local_frame().len(), 8);
    /// ```
    #[must_use]
    pub fn new(local_frame: impl Into<Arc<[u8]>>) -> Self {
        Self {
            frame: local_frame.into(),
            config: FrameConfig::default(),
            timeout: Some(Self::DEFAULT_TIMEOUT),
            additional_labels: Arc::new([]),
        }
    }

    /// An exchange sending `record` and `node_id` as this side's frame
    /// (`docs/reference/wire.md` §1.2, §4.1).
    ///
    /// ```
    /// use meshtel_tokio::PeerExchange;
    /// use meshtel_wire::workload::WorkloadMetadata;
    /// let exchange = PeerExchange::for_workload(&WorkloadMetadata::default(), "a~b~c~d")?;
    /// assert_eq!(&exchange.local_frame()[..4], &[0x3d, 0x23, 0x04, 0x67]);
    /// # Ok::<(), meshtel_tokio::ExchangeError>(())
    /// ```
    ///
    /// # Errors
    /// [`ExchangeError::Encode`] when the encoded record exceeds the default 64 KiB payload.
    pub fn for_workload(record: &WorkloadMetadata, node_id: &str) -> Result<Self, ExchangeError> {
        let frame =
            encode_frame(&record.to_struct(), node_id, &FrameConfig::default()).map_err(ExchangeError::Encode)?;
        Ok(Self::new(frame))
    }

    /// Sets the limits applied to the peer's frame (`max_payload`, depth, oversize policy).
    ///
    /// ```
    /// use meshtel_tokio::PeerExchange;
    /// use meshtel_wire::frame::{FrameConfig, OversizePolicy};
    /// let config = FrameConfig::default().with_oversize(OversizePolicy::Close);
    /// let exchange = PeerExchange::new(Vec::new()).with_frame_config(config);
    /// assert_eq!(exchange.frame_config().oversize(), OversizePolicy::Close);
    /// ```
    #[must_use]
    pub fn with_frame_config(mut self, config: FrameConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the timeout of the whole exchange (writing the local frame and reading the
    /// peer's); `None` waits for ever.
    ///
    /// ```
    /// use meshtel_tokio::PeerExchange;
    /// assert_eq!(PeerExchange::new(Vec::new()).with_timeout(None).timeout(), None);
    /// ```
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the pod labels, beyond the four standard ones, copied from the peer's
    /// metadata into [`Peer::metadata`] (`docs/reference/wire.md` §1.1).
    ///
    /// ```
    /// use meshtel_tokio::PeerExchange;
    /// let exchange = PeerExchange::new(Vec::new()).with_additional_labels(["team"]);
    /// assert_eq!(exchange.additional_labels(), ["team".to_owned()]);
    /// ```
    #[must_use]
    pub fn with_additional_labels<I, L>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = L>,
        L: Into<String>,
    {
        self.additional_labels = labels.into_iter().map(Into::into).collect();
        self
    }

    /// This side's frame.
    ///
    /// ```
    /// use meshtel_tokio::PeerExchange;
    /// assert!(PeerExchange::new(Vec::new()).local_frame().is_empty());
    /// ```
    #[must_use]
    pub fn local_frame(&self) -> &[u8] {
        &self.frame
    }

    /// The limits applied to the peer's frame.
    ///
    /// ```
    /// use meshtel_tokio::PeerExchange;
    /// assert_eq!(PeerExchange::new(Vec::new()).frame_config().max_payload(), 65536);
    /// ```
    #[must_use]
    pub const fn frame_config(&self) -> &FrameConfig {
        &self.config
    }

    /// The timeout of the whole exchange.
    ///
    /// ```
    /// use meshtel_tokio::PeerExchange;
    /// assert_eq!(PeerExchange::new(Vec::new()).timeout(), Some(PeerExchange::DEFAULT_TIMEOUT));
    /// ```
    #[must_use]
    pub const fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The additional labels read from the peer's metadata.
    ///
    /// ```
    /// use meshtel_tokio::PeerExchange;
    /// assert!(PeerExchange::new(Vec::new()).additional_labels().is_empty());
    /// ```
    #[must_use]
    pub fn additional_labels(&self) -> &[String] {
        &self.additional_labels
    }

    /// Runs this side of the exchange on `stream`, whose TLS handshake negotiated
    /// `negotiated_alpn`. Unless that is exactly `istio-peer-exchange` nothing is written or
    /// read and the outcome is [`PeerOutcome::Disabled`].
    ///
    /// The local frame is written (and flushed) while the peer's is read; the future
    /// completes when both are done, or at the timeout ([`Rejection::TimedOut`]). Bytes
    /// read past the peer's frame are replayed by [`Exchanged::stream`]. Cancel-safe only
    /// in the sense that dropping the future drops the stream.
    ///
    /// ```
    /// use meshtel_tokio::{PeerExchange, PeerOutcome, Role};
    /// use meshtel_wire::workload::WorkloadMetadata;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut server_record = WorkloadMetadata::default();
    /// server_record.workload = "ratings-v1".into();
    /// let client = PeerExchange::for_workload(&WorkloadMetadata::default(), "client-id")?;
    /// let server = PeerExchange::for_workload(&server_record, "server-id")?;
    ///
    /// let (a, b) = tokio::io::duplex(64);
    /// let alpn = Some(&b"istio-peer-exchange"[..]);
    /// let (c, s) = tokio::try_join!(client.run(Role::Client, a, alpn), server.run(Role::Server, b, alpn))?;
    /// assert_eq!(c.outcome.peer().map(|p| p.workload.as_str()), Some("ratings-v1"));
    /// assert!(matches!(s.outcome, PeerOutcome::Found(_)));
    ///
    /// // Afterwards the streams carry application bytes.
    /// let (mut c, mut s) = (c.stream, s.stream);
    /// c.write_all(b"ping").await?;
    /// let mut buf = [0; 4];
    /// s.read_exact(&mut buf).await?;
    /// assert_eq!(&buf, b"ping");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ExchangeError::Write`] or [`ExchangeError::Read`] when the stream fails (a write
    /// returning `Ok(0)` counts as [`io::ErrorKind::WriteZero`]).
    pub async fn run<S>(
        &self,
        role: Role,
        stream: S,
        negotiated_alpn: Option<&[u8]>,
    ) -> Result<Exchanged<S>, ExchangeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut driver = Driver::new(self, role, stream, negotiated_alpn);
        if !driver.inbound.is_enabled() {
            return Ok(driver.finish(PeerOutcome::Disabled));
        }
        let progress = poll_fn(|cx| driver.poll(cx));
        let done = match self.timeout {
            Some(after) => tokio::time::timeout(after, progress).await.map_err(|_| after),
            None => Ok(progress.await),
        };
        match done {
            Ok(Ok(())) => {
                let outcome = driver.inbound.outcome.take().unwrap_or(PeerOutcome::NotAFrame);
                Ok(driver.finish(outcome))
            }
            Ok(Err(e)) => Err(e),
            Err(after) => {
                let rejection = Rejection::TimedOut {
                    after,
                    received: driver.inbound.held(),
                    sent: driver.written,
                };
                // Part of a frame: not application data.
                driver.inbound.drop_partial();
                Ok(driver.finish(PeerOutcome::Rejected(rejection)))
            }
        }
    }
}

impl PeerExchange {
    /// Runs this side of the exchange without waiting for the peer's frame: the client mode
    /// of Istio's own filter. Unless the negotiated ALPN is exactly `istio-peer-exchange`
    /// nothing is written or read and the outcome is [`PeerOutcome::Disabled`] at once.
    ///
    /// The future writes (and flushes) the local frame, reading whatever the peer sends
    /// meanwhile, and completes as soon as the frame is flushed. The returned
    /// [`PeerStream`] carries the application's bytes both ways: its reads take the peer's
    /// frame off the first inbound bytes whenever they arrive (under the same
    /// [`FrameConfig`] limits as [`PeerExchange::run`]) and return only what follows. The
    /// outcome is known once the first inbound bytes settle it:
    /// [`PeerStream::outcome`], [`PeerStream::poll_peer`], or [`Started::peer`] for another
    /// part of the program (the metering of the downstream connection, say).
    ///
    /// Use it on the side that speaks first when the peer answers only after it has heard
    /// the application, as a proxy-wasm server filter does: such a server can send its
    /// frame only in front of its first response bytes, so [`PeerExchange::run`] would wait
    /// for it until the timeout.
    ///
    /// The timeout ([`PeerExchange::timeout`]) bounds the write of the local frame, and the
    /// peer's frame once its first byte has arrived: reading it advances with the
    /// application's reads, waiting for that first byte is left to the application's own
    /// idle limits, and a frame unfinished at the deadline is
    /// [`Rejection::TimedOut`] (the stream's reads then fail, [`PeerStream`]).
    ///
    /// ```
    /// use meshtel_tokio::{PeerExchange, PeerOutcome, Role, Started};
    /// use meshtel_wire::workload::WorkloadMetadata;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut server_record = WorkloadMetadata::default();
    /// server_record.workload = "ratings-v1".into();
    /// let client = PeerExchange::for_workload(&WorkloadMetadata::default(), "client-id")?;
    /// let server = PeerExchange::for_workload(&server_record, "server-id")?;
    ///
    /// let (a, mut b) = tokio::io::duplex(4096);
    /// let alpn = Some(&b"istio-peer-exchange"[..]);
    /// // Completes with nothing from the server yet.
    /// let Started { mut stream, peer, .. } = client.start(Role::Client, a, alpn).await?;
    /// stream.write_all(b"ping").await?;
    /// assert!(stream.outcome().is_none());
    ///
    /// // The server reads the client's frame and the request, then answers with its own
    /// // frame in front of the response.
    /// let mut request = vec![0; client.local_frame().len() + 4];
    /// b.read_exact(&mut request).await?;
    /// b.write_all(server.local_frame()).await?;
    /// b.write_all(b"pong").await?;
    ///
    /// let mut response = [0; 4];
    /// stream.read_exact(&mut response).await?;
    /// assert_eq!(&response, b"pong");
    /// let outcome = peer.await.expect("settled before the stream was dropped");
    /// assert_eq!(outcome.peer().map(|p| p.workload.as_str()), Some("ratings-v1"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ExchangeError::Write`] when writing the local frame fails or does not finish
    /// within the timeout (its source is then [`io::ErrorKind::TimedOut`]);
    /// [`ExchangeError::Read`] when the stream fails while the frame is being written.
    pub async fn start<S>(
        &self,
        role: Role,
        stream: S,
        negotiated_alpn: Option<&[u8]>,
    ) -> Result<Started<S>, ExchangeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut driver = Driver::new(self, role, stream, negotiated_alpn);
        if driver.inbound.is_enabled() {
            let writing = poll_fn(|cx| driver.poll_write_first(cx));
            let done = match self.timeout {
                Some(after) => tokio::time::timeout(after, writing).await.map_err(|_| after),
                None => Ok(writing.await),
            };
            match done {
                Ok(written) => written?,
                Err(after) => {
                    let message = format!("not written within {after:?}");
                    return Err(ExchangeError::Write {
                        role,
                        written: driver.written,
                        len: driver.frame.len(),
                        source: io::Error::new(io::ErrorKind::TimedOut, message),
                    });
                }
            }
        }
        let settings = crate::lazy::Settings {
            role,
            close_oversize: self.config.oversize() == OversizePolicy::Close,
            timeout: self.timeout,
            sent: driver.written,
        };
        Ok(PeerStream::started(driver.stream, driver.inbound, settings))
    }
}

/// The state of one run: the local frame still to write, and the peer's side ([`Inbound`]).
struct Driver<'a, S> {
    inbound: Inbound,
    role: Role,
    stream: S,
    frame: &'a [u8],
    written: usize,
    flushed: bool,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Driver<'a, S> {
    fn new(config: &'a PeerExchange, role: Role, stream: S, alpn: Option<&[u8]>) -> Self {
        let inbound = Inbound::new(config, alpn);
        let frame: &[u8] = if inbound.exchange.is_enabled() {
            &config.frame
        } else {
            &[]
        };
        Self {
            inbound,
            role,
            stream,
            frame,
            written: 0,
            flushed: frame.is_empty(),
        }
    }

    fn finish(self, outcome: PeerOutcome) -> Exchanged<S> {
        let (buf, eof) = self.inbound.into_replay();
        Exchanged {
            outcome,
            stream: Prefixed::replaying(self.stream, buf, eof),
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ExchangeError>> {
        let wrote = self.poll_write_frame(cx)?;
        let read = self.inbound.poll_settle(cx, &mut self.stream, self.role)?;
        if wrote.is_ready() && read.is_ready() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// Writes and flushes the local frame, reading the peer's meanwhile as far as it has
    /// arrived (a peer that also writes first over small buffers makes progress); ready
    /// when the frame is flushed, whether or not the peer's side is settled.
    fn poll_write_first(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ExchangeError>> {
        let wrote = self.poll_write_frame(cx)?;
        if let Poll::Ready(Err(e)) = self.inbound.poll_settle(cx, &mut self.stream, self.role) {
            return Poll::Ready(Err(e));
        }
        wrote.map(Ok)
    }

    /// Writes and flushes the local frame.
    fn poll_write_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ExchangeError>> {
        let fail = |this: &Self, source| ExchangeError::Write {
            role: this.role,
            written: this.written,
            len: this.frame.len(),
            source,
        };
        while self.written < self.frame.len() {
            match ready!(Pin::new(&mut self.stream).poll_write(cx, &self.frame[self.written..])) {
                Ok(0) => return Poll::Ready(Err(fail(self, io::ErrorKind::WriteZero.into()))),
                Ok(n) => self.written += n,
                Err(e) => return Poll::Ready(Err(fail(self, e))),
            }
        }
        if !self.flushed {
            ready!(Pin::new(&mut self.stream).poll_flush(cx)).map_err(|e| fail(self, e))?;
            self.flushed = true;
        }
        Poll::Ready(Ok(()))
    }
}

/// The peer's side of an exchange: the sans-IO exchange and the bytes received
/// (`buf[start..end]` not yet given to the exchange or, once settled, to replay). Owned (the
/// exchange reads only; the local frame is written by the caller), so that a
/// [`PeerStream`](crate::PeerStream) can keep it past the future that wrote the frame.
#[derive(Debug)]
pub(crate) struct Inbound {
    exchange: Exchange<'static>,
    labels: Arc<[String]>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// A byte of the peer's side arrived.
    started: bool,
    /// The peer's side is settled with this outcome (an oversize frame may still be being
    /// skipped when `exchange` is not finished).
    pub(crate) outcome: Option<PeerOutcome>,
}

impl Inbound {
    pub(crate) fn new(config: &PeerExchange, alpn: Option<&[u8]>) -> Self {
        // The local frame is written from `config.frame` by the caller: the exchange here
        // only decodes, so it is given none.
        let mut exchange = Exchange::new(alpn, &[], config.config);
        let _ = exchange.poll_transmit();
        Self {
            exchange,
            labels: Arc::clone(&config.additional_labels),
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            started: false,
            outcome: None,
        }
    }

    pub(crate) const fn is_enabled(&self) -> bool {
        self.exchange.is_enabled()
    }

    /// Bytes of an unsettled frame held (0 once settled).
    pub(crate) fn held(&self) -> usize {
        if self.outcome.is_some() {
            0
        } else {
            self.end - self.start
        }
    }

    /// Whether any byte of the peer's side arrived.
    pub(crate) const fn started(&self) -> bool {
        self.started
    }

    /// Drops an unsettled partial frame: it is not application data.
    pub(crate) fn drop_partial(&mut self) {
        if self.outcome.is_none() {
            self.start = self.end;
        }
    }

    /// The bytes to replay and whether the stream already ended.
    pub(crate) fn into_replay(mut self) -> (Vec<u8>, bool) {
        self.buf.truncate(self.end);
        self.buf.drain(..self.start);
        (self.buf, self.eof)
    }

    /// Reads from `stream` until the peer's side is settled (and any oversize payload
    /// skipped).
    pub(crate) fn poll_settle<S: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        stream: &mut S,
        role: Role,
    ) -> Poll<Result<(), ExchangeError>> {
        loop {
            if self.step() {
                return Poll::Ready(Ok(()));
            }
            // The exchange needs more bytes: room for at least as many again.
            if self.buf.len() == self.end {
                let len = (2 * self.buf.len()).max(FIRST_READ);
                self.buf.resize(len, 0);
            }
            let mut read = ReadBuf::new(&mut self.buf[self.end..]);
            match ready!(Pin::new(&mut *stream).poll_read(cx, &mut read)) {
                Ok(()) => {
                    let n = read.filled().len();
                    self.end += n;
                    self.eof = n == 0;
                    self.started |= n > 0;
                }
                Err(source) => {
                    return Poll::Ready(Err(ExchangeError::Read {
                        role,
                        received: self.end - self.start,
                        source,
                    }));
                }
            }
        }
    }

    /// Gives the held bytes to the exchange; whether the peer's side is settled.
    fn step(&mut self) -> bool {
        loop {
            if self.exchange.is_finished() {
                return true;
            }
            let held = &self.buf[self.start..self.end];
            let received = if self.eof {
                self.exchange.on_end_of_stream(held)
            } else {
                self.exchange.on_received(held)
            };
            let consume = match received {
                Received::NeedMore => return false,
                Received::Done { consume, outcome } => {
                    let labels: Vec<&str> = self.labels.iter().map(String::as_str).collect();
                    let outcome = owned(&outcome, &labels);
                    // After an oversize frame, the first rejection stands (a later end of
                    // stream while skipping would report the payload truncated).
                    self.outcome.get_or_insert(outcome);
                    consume
                }
                Received::Discard { consume } => consume,
                // Passthrough, and whatever a later wire version adds: application data.
                _ => {
                    self.outcome.get_or_insert(PeerOutcome::NotAFrame);
                    return true;
                }
            };
            self.start += consume.min(self.end - self.start);
            if self.start == self.end {
                (self.start, self.end) = (0, 0);
                if !self.exchange.is_finished() && !self.eof {
                    return false;
                }
            }
        }
    }
}

/// The owned form of the sans-IO outcome.
fn owned(outcome: &sans_io::PeerOutcome<'_>, labels: &[&str]) -> PeerOutcome {
    match *outcome {
        sans_io::PeerOutcome::Found { ref metadata, id, .. } => PeerOutcome::Found(Peer {
            metadata: WorkloadMetadata::from_view(metadata, labels),
            id: id.map(str::to_owned),
        }),
        sans_io::PeerOutcome::NoPeer { id } => PeerOutcome::NoPeer {
            id: id.map(str::to_owned),
        },
        sans_io::PeerOutcome::Rejected(e) => PeerOutcome::Rejected(Rejection::Frame(e.kind)),
        // NotAFrame, and whatever a later wire version adds.
        _ => PeerOutcome::NotAFrame,
    }
}
