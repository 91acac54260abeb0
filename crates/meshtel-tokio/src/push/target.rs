//! A push target and the loop that pushes to it: encode, send, retry, flush.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use tokio::sync::watch;

use super::client::{Connection, Endpoint};
use super::config::{Jitter, PushConfig};
use super::error::{BoxError, PushError, UrlError};
use super::health::Health;

/// Produces a request body: a snapshot of the metrics taken now, encoded for the
/// target's protocol (a snappy-compressed remote-write `WriteRequest`, an OTLP
/// `ExportMetricsServiceRequest`).
///
/// `out` is empty on entry and is the target's one reused buffer: an encoder that writes
/// straight into it allocates nothing once the buffer has grown to the snapshot's size.
/// Any `FnMut(i64, &mut Vec<u8>) -> Result<(), E>` closure is an encoder.
///
/// ```
/// use meshtel_tokio::push::Encoder;
/// let mut encoder = |timestamp_ms: i64, out: &mut Vec<u8>| -> Result<(), std::io::Error> {
///     out.extend_from_slice(&timestamp_ms.to_be_bytes());
///     Ok(())
/// };
/// let mut out = Vec::new();
/// Encoder::encode(&mut encoder, 7, &mut out)?;
/// assert_eq!(out, 7i64.to_be_bytes());
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub trait Encoder: Send + 'static {
    /// Appends the body for a snapshot stamped `timestamp_ms` (milliseconds since the Unix
    /// epoch) to `out`.
    ///
    /// # Errors
    /// Whatever the encoding can fail with; the push is then given up as
    /// [`PushError::Encode`] (not retried: the next interval tries a new snapshot).
    fn encode(&mut self, timestamp_ms: i64, out: &mut Vec<u8>) -> Result<(), BoxError>;
}

impl<F, E> Encoder for F
where
    F: FnMut(i64, &mut Vec<u8>) -> Result<(), E> + Send + 'static,
    E: Into<BoxError>,
{
    fn encode(&mut self, timestamp_ms: i64, out: &mut Vec<u8>) -> Result<(), BoxError> {
        self(timestamp_ms, out).map_err(Into::into)
    }
}

/// The wire protocol of a target, which fixes the request headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// Prometheus remote write 1.0: `Content-Encoding: snappy`,
    /// `Content-Type: application/x-protobuf`, `X-Prometheus-Remote-Write-Version: 0.1.0`.
    RemoteWrite,
    /// OTLP/HTTP with a protobuf body: `Content-Type: application/x-protobuf`.
    Otlp,
}

/// One receiver: a name (the `target` label of the `meshtel_push_*` metrics), a URL, a
/// protocol and the encoder of its bodies.
///
/// ```
/// use meshtel_tokio::push::PushTarget;
/// let target = PushTarget::otlp("collector", "http://127.0.0.1:4318", |_ts: i64, _out: &mut Vec<u8>| Ok::<_, std::io::Error>(()))?;
/// assert_eq!(target.url(), "http://127.0.0.1:4318/v1/metrics");
/// assert!(PushTarget::remote_write("rw", "https://mimir/api/v1/push", |_ts: i64, _out: &mut Vec<u8>| Ok::<_, std::io::Error>(())).is_err());
/// # Ok::<(), meshtel_tokio::push::UrlError>(())
/// ```
pub struct PushTarget {
    pub(crate) name: String,
    pub(crate) endpoint: Endpoint,
    protocol: Protocol,
    headers: Vec<(HeaderName, HeaderValue)>,
    encoder: Box<dyn Encoder>,
}

impl std::fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushTarget")
            .field("name", &self.name)
            .field("url", &self.endpoint.uri)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl PushTarget {
    /// A target speaking `protocol` at `url` (`http://host[:port]/path`).
    ///
    /// # Errors
    /// [`UrlError`] when `url` is not an `http` URL with a host.
    pub fn new(
        name: impl Into<String>,
        protocol: Protocol,
        url: &str,
        encoder: impl Encoder,
    ) -> Result<Self, UrlError> {
        Ok(Self {
            name: name.into(),
            endpoint: parse_url(url, protocol)?,
            protocol,
            headers: Vec::new(),
            encoder: Box::new(encoder),
        })
    }

    /// A Prometheus remote-write target, for example
    /// `http://prometheus:9090/api/v1/write` (Prometheus with
    /// `--web.enable-remote-write-receiver`) or a Mimir/Cortex/Thanos receive/VictoriaMetrics
    /// write endpoint.
    ///
    /// # Errors
    /// As [`PushTarget::new`].
    pub fn remote_write(name: impl Into<String>, url: &str, encoder: impl Encoder) -> Result<Self, UrlError> {
        Self::new(name, Protocol::RemoteWrite, url, encoder)
    }

    /// An OTLP/HTTP target. A URL with no path (`http://collector:4318`) gets the standard
    /// `/v1/metrics`; any other path is used as given.
    ///
    /// # Errors
    /// As [`PushTarget::new`].
    pub fn otlp(name: impl Into<String>, url: &str, encoder: impl Encoder) -> Result<Self, UrlError> {
        Self::new(name, Protocol::Otlp, url, encoder)
    }

    /// Adds a header to every request (a tenant such as Mimir's `X-Scope-OrgID`, an
    /// `Authorization`).
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The target's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL requests go to.
    pub fn url(&self) -> String {
        self.endpoint.uri.to_string()
    }
}

fn parse_url(url: &str, protocol: Protocol) -> Result<Endpoint, UrlError> {
    let uri: Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| UrlError::Invalid {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    let scheme = uri.scheme_str().unwrap_or_default();
    if scheme != "http" {
        return Err(UrlError::Scheme {
            url: url.to_owned(),
            scheme: scheme.to_owned(),
        });
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| UrlError::NoHost { url: url.to_owned() })?;
    let authority = format!("{host}:{}", uri.port_u16().unwrap_or(80));
    let path = match uri.path_and_query().map(hyper::http::uri::PathAndQuery::as_str) {
        None | Some("" | "/") if protocol == Protocol::Otlp => "/v1/metrics",
        None => "/",
        Some(p) => p,
    };
    let invalid = |e: hyper::http::uri::InvalidUri| UrlError::Invalid {
        url: url.to_owned(),
        reason: e.to_string(),
    };
    let host_header = uri.authority().map_or(host, hyper::http::uri::Authority::as_str);
    let host_header = HeaderValue::from_str(host_header).map_err(|e| UrlError::Invalid {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Endpoint {
        uri: format!("http://{}{path}", host_header.to_str().unwrap_or(host))
            .parse()
            .map_err(invalid)?,
        // HTTP/1.1 requests to an origin server carry the origin form (RFC 9112 §3.2.1).
        path: path.parse().map_err(invalid)?,
        host: host_header,
        authority,
    })
}

/// A target with its connection, body buffer and jitter: what one push task owns.
pub(crate) struct Runner {
    target: PushTarget,
    config: Arc<PushConfig>,
    health: Health,
    connection: Connection,
    body: Vec<u8>,
    jitter: Jitter,
}

impl Runner {
    pub(crate) fn new(target: PushTarget, config: Arc<PushConfig>, health: Health) -> Self {
        health.add_target(&target.name);
        let jitter = Jitter::seeded(&target.name);
        Self {
            target,
            config,
            health,
            connection: Connection::default(),
            body: Vec::new(),
            jitter,
        }
    }

    /// Pushes every `interval` until `stop` changes or its sender is dropped, then flushes
    /// once (one attempt, no retries) and returns that attempt's result. Stopped before
    /// its (spread) first push, it pushes nothing.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<(), PushError> {
        if self.config.spread_first {
            let offset = self.config.interval.mul_f64(self.jitter.next_unit());
            tokio::select! {
                biased;
                _ = stop.changed() => return Ok(()),
                () = tokio::time::sleep(offset) => {}
            }
        }
        let mut ticks = tokio::time::interval(self.config.interval);
        // A push that overran the interval (retries) delays the next; none piles up.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                _ = ticks.tick() => {
                    // Failures are counted in `meshtel_push_failures_total`; the next tick
                    // pushes a newer snapshot.
                    let _ = self.push(&mut stop).await;
                    // A stop during the push's backoff consumed the change notification.
                    if stopped(&stop) {
                        break;
                    }
                }
            }
        }
        let flushed = self.attempt().await;
        if let Err(e) = &flushed {
            self.health.failure(e);
        }
        flushed
    }

    /// One push: the first attempt and up to `max_retries` retries with backoff, each
    /// re-encoding the latest snapshot. A stop during a backoff wait ends the push.
    async fn push(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), PushError> {
        let mut retry = 0;
        loop {
            let error = match self.attempt().await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            self.health.failure(&error);
            if !error.is_retryable() || retry >= self.config.backoff.max_retries {
                self.health.gave_up(&self.target.name);
                return Err(error);
            }
            let wait = self.config.backoff.delay(retry, self.jitter.next_unit());
            retry += 1;
            tokio::select! {
                biased;
                _ = stop.changed() => return Err(error),
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Encodes a snapshot stamped now and sends it once.
    async fn attempt(&mut self) -> Result<(), PushError> {
        let name = &self.target.name;
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        if let Err(source) = self.target.encoder.encode(unix_millis(), &mut body) {
            self.body = body;
            return Err(PushError::Encode {
                target: name.clone(),
                source,
            });
        }
        let size = body.len();
        if size > self.config.max_body_bytes {
            // Release an oversized buffer rather than keep it for the next snapshot.
            return Err(PushError::TooLarge {
                target: name.clone(),
                size,
                limit: self.config.max_body_bytes,
            });
        }
        self.health.encoded(name, size, body.capacity());
        let bytes = Bytes::from(body);
        let request = self.request(bytes.clone());
        let started = Instant::now();
        let limits = (self.config.timeout, self.config.max_response_bytes);
        let answer = self
            .connection
            .exchange(name, &self.target.endpoint, request, limits)
            .await;
        let elapsed = started.elapsed().as_secs_f64();
        // hyper has dropped its handle on the body by now (unless a timeout cut the
        // exchange short): take the allocation back for the next snapshot.
        self.body = bytes.try_into_mut().map(Vec::from).unwrap_or_default();
        self.health.attempt(name, size, answer.is_ok().then_some(elapsed));
        let answer = answer?;
        if (200..300).contains(&answer.status) {
            self.health.success(name, unix_seconds());
            return Ok(());
        }
        Err(PushError::Status {
            target: name.clone(),
            status: answer.status,
            body: String::from_utf8_lossy(&answer.body).into_owned(),
        })
    }

    fn request(&self, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.target.endpoint.path.clone();
        let headers = request.headers_mut();
        headers.insert(header::HOST, self.target.endpoint.host.clone());
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"));
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("meshtel/", env!("CARGO_PKG_VERSION"))),
        );
        if self.target.protocol == Protocol::RemoteWrite {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
            headers.insert(
                HeaderName::from_static("x-prometheus-remote-write-version"),
                HeaderValue::from_static("0.1.0"),
            );
        }
        for (name, value) in &self.target.headers {
            headers.append(name, value.clone());
        }
        request
    }
}

/// Whether the handle asked to stop or is gone.
fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
