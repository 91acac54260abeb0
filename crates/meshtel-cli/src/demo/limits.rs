//! Bounds on slow and idle peers, for every listener of the demo.
//!
//! - **Header read**: an HTTP/1 request head must arrive whole within
//!   [`Limits::header_read`] of the connection's turn to read one (hyper's
//!   `header_read_timeout`).
//! - **Idle**: a connection (HTTP/1.1 keep-alive or HTTP/2) with no request in flight and no
//!   byte in either direction for [`Limits::idle`] is shut down gracefully.
//! - **Exchange**: the TLS handshake and the TCP prefix exchange must finish within
//!   [`Limits::exchange`].
//!
//! Each closed connection counts once in `meshtel_demo_timeouts_total{reason}` (reasons:
//! [`Timeout::label`]).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The configurable bounds (`meshtel demo --header-read-timeout`, `--idle-timeout`,
/// `--exchange-timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) header_read: Duration,
    pub(crate) idle: Duration,
    pub(crate) exchange: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            exchange: Duration::from_secs(10),
        }
    }
}

/// Why a connection was closed for being slow or idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timeout {
    /// A request head did not arrive in time.
    HeaderRead,
    /// No request and no byte for the idle timeout.
    Idle,
    /// The TCP prefix exchange stalled.
    Exchange,
    /// The first byte or the TLS handshake did not arrive in time.
    Handshake,
}

impl Timeout {
    pub(crate) const ALL: [Self; 4] = [Self::HeaderRead, Self::Idle, Self::Exchange, Self::Handshake];

    pub(crate) const fn label(self) -> &'static str {
        match self {
            Self::HeaderRead => "header_read",
            Self::Idle => "idle",
            Self::Exchange => "exchange",
            Self::Handshake => "handshake",
        }
    }
}

/// Timeouts counted outside a sidecar's registry (the metrics listener's).
#[derive(Debug, Default)]
pub(crate) struct TimeoutCounts([AtomicU64; 4]);

impl TimeoutCounts {
    pub(crate) fn add(&self, timeout: Timeout) {
        self.0[timeout as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self, timeout: Timeout) -> u64 {
        self.0[timeout as usize].load(Ordering::Relaxed)
    }
}

/// Parses a duration flag: `500ms`, `2s`, or plain seconds (`2.5`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        (text, 1.0)
    };
    let secs: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (500ms, 2s, 2.5)"))?;
    if !(secs > 0.0 && secs * scale <= 86_400.0) {
        return Err(format!("`{text}`: a duration must be positive and at most a day"));
    }
    Ok(Duration::from_secs_f64(secs * scale))
}

/// What a connection is doing, for the idle watchdog.
#[derive(Debug)]
pub(crate) struct Activity {
    epoch: Instant,
    /// Milliseconds since `epoch` of the last byte read or written.
    last: AtomicU64,
    /// Requests whose response has not ended.
    in_flight: AtomicUsize,
    /// A byte arrived since the last request ended (so a head is being sent).
    reading: AtomicBool,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            reading: AtomicBool::new(false),
        })
    }

    fn touch(&self) {
        self.last
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let now = self.epoch.elapsed().as_millis() as u64;
        Some(Duration::from_millis(
            now.saturating_sub(self.last.load(Ordering::Relaxed)),
        ))
    }

    /// A request started; the guard ends it (when the response body ends or is dropped).
    pub(crate) fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.reading.store(false, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }
}

/// One request in flight (see [`Activity::request`]).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.reading.store(false, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A response body that holds its request's [`InFlight`] guard until it is dropped (after
/// its end, or when the stream is reset), so that a long stream is never idle.
#[derive(Debug)]
pub(crate) struct Guarded<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> Guarded<B> {
    pub(crate) const fn new(inner: B, in_flight: InFlight) -> Self {
        Self {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// An I/O object that reports its reads and writes to an [`Activity`].
#[derive(Debug)]
pub(crate) struct Watched<IO> {
    io: IO,
    activity: Arc<Activity>,
}

impl<IO> Watched<IO> {
    pub(crate) fn new(io: IO, activity: Arc<Activity>) -> Self {
        activity.touch();
        Self { io, activity }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
            self.activity.reading.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Serves one HTTP connection, HTTP/1.1 or HTTP/2 (prior knowledge, or after ALPN `h2` /
/// `istio-h2`), under `limits`. `service` gets requests; it should hold an
/// [`Activity::request`] guard per request until its response ends. Returns the timeout
/// that closed the connection, if one did.
pub(crate) async fn serve_http<IO, S, B>(io: IO, activity: Arc<Activity>, limits: Limits, service: S) -> Option<Timeout>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<hyper::Request<Incoming>, Response = hyper::Response<B>> + Send,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection(TokioIo::new(Watched::new(io, Arc::clone(&activity))), service);
    tokio::pin!(conn);
    let mut tick = tokio::time::interval((limits.idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(1)));
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                let timed_out = r.err().is_some_and(|e| {
                    e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout)
                });
                if !timed_out {
                    return None;
                }
                // hyper's header timer also runs while a keep-alive connection waits for its
                // next request: with no byte since the last response, the peer was idle.
                return Some(if activity.reading.load(Ordering::Relaxed) {
                    Timeout::HeaderRead
                } else {
                    Timeout::Idle
                });
            }
            _ = tick.tick() => {
                if activity.idle_for().is_some_and(|d| d >= limits.idle) {
                    conn.as_mut().graceful_shutdown();
                    // HTTP/2 says GOAWAY and waits for the peer; bounded all the same.
                    let _ = tokio::time::timeout(limits.exchange, conn.as_mut()).await;
                    return Some(Timeout::Idle);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("1e9").is_err());
    }
}
