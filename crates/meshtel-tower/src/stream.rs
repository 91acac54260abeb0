//! One stream's recording state: what the request said, what the response has sent so far,
//! the gRPC reporting timer; recorded once, at the end (`docs/reference/telemetry.md` §6).

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Context;
use std::time::Duration;

use bytes::Buf;
use http::{HeaderMap, HeaderValue, Method, Uri};
use http_body::Frame;
use meshtel::{GrpcStream, Protocol, RequestFacts};
use tokio::time::{Instant, Sleep};

use crate::flags::{ResponseFlag, ResponseFlags};
use crate::layer::Connection;
use crate::peer::{Carrier, Peer, PeerCache};
use crate::size;
use meshtel::FrameCounter;

const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// What the request body reports while the inner service reads it.
#[derive(Debug, Default)]
pub(crate) struct RequestMeter {
    pub(crate) bytes: AtomicU64,
    pub(crate) messages: AtomicU64,
    pub(crate) failed: AtomicBool,
}

/// Counts the gRPC messages of one direction; gives up (keeps its count) on a `Buf` with
/// more segments than it can see without consuming.
#[derive(Debug, Default)]
pub(crate) struct MessageCounter {
    counter: FrameCounter,
    lost: bool,
}

impl MessageCounter {
    pub(crate) fn feed(&mut self, data: &impl Buf) {
        if self.lost {
            return;
        }
        let mut slices = [IoSlice::new(&[]); 64];
        let n = data.chunks_vectored(&mut slices);
        let mut seen = 0;
        for s in &slices[..n] {
            self.counter.feed(s);
            seen += s.len();
        }
        self.lost = seen < data.remaining();
    }

    pub(crate) const fn messages(&self) -> u64 {
        self.counter.messages()
    }
}

/// Bytes of a body frame: its data, or its trailer fields.
pub(crate) fn frame_len<D: Buf>(frame: &Frame<D>) -> u64 {
    if let Some(data) = frame.data_ref() {
        data.remaining() as u64
    } else {
        frame.trailers_ref().map_or(0, size::fields)
    }
}

/// The gRPC part of a stream: the plugin's periodic reporter and the layer's timer.
#[derive(Debug)]
struct Grpc {
    stream: GrpcStream,
    timer: Option<(Pin<Box<Sleep>>, Duration)>,
    messages: MessageCounter,
    /// `grpc-status` of the response headers (trailers-only) and trailers.
    header: Option<HeaderValue>,
    trailer: Option<HeaderValue>,
}

/// A stream from its request head to its end.
#[derive(Debug)]
pub(crate) struct StreamState {
    conn: Arc<Connection>,
    pub(crate) meter: Arc<RequestMeter>,
    start: Instant,
    protocol: Protocol,
    method: Method,
    uri: Uri,
    host: Option<HeaderValue>,
    request_head: u64,
    peer: Option<Arc<Peer>>,
    pending: PeerValues,
    /// Whether the peer is known: from the request (inbound) or the response head (outbound).
    resolved: bool,
    response_code: Option<u16>,
    response_bytes: u64,
    /// Whether response trailers reach the downstream: HTTP/2, or HTTP/1.1 with `te: trailers`
    /// (hyper drops them otherwise).
    trailers_sent: bool,
    /// The response body's announced length (`content-length`) and the data bytes sent.
    body_expected: Option<u64>,
    body_sent: u64,
    flags: ResponseFlags,
    /// Boxed: plain HTTP streams stay small (the state moves from the future to the body).
    grpc: Option<Box<Grpc>>,
}

/// One pass over a request head: its size and the few fields a stream needs, so that no field
/// is looked up by hashing its name.
struct HeadScan<'a> {
    size: u64,
    host: Option<&'a HeaderValue>,
    content_type: Option<&'a HeaderValue>,
    te_trailers: bool,
}

impl<'a> HeadScan<'a> {
    fn new(head: &RequestHead<'a>) -> Self {
        let mut scan = Self {
            size: size::request_pseudo(head.method, head.uri),
            host: None,
            content_type: None,
            te_trailers: false,
        };
        for (name, value) in head.headers {
            scan.size += (name.as_str().len() + value.len()) as u64;
            if *name == http::header::HOST {
                scan.host = scan.host.or(Some(value));
            } else if *name == http::header::CONTENT_TYPE {
                scan.content_type = scan.content_type.or(Some(value));
            } else if *name == http::header::TE {
                scan.te_trailers |= value
                    .to_str()
                    .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("trailers")));
            }
        }
        scan
    }
}

/// The peer's carriers as received: decoded (through the connection's cache, under the lock
/// the recording takes anyway) when first needed.
#[derive(Debug, Default)]
pub(crate) struct PeerValues {
    pub(crate) header: Option<HeaderValue>,
    pub(crate) baggage: Option<HeaderValue>,
}

/// Decodes `pending` (once) into `peer`: the header's peer, else the baggage's.
fn resolve_peer(pending: &mut PeerValues, peer: &mut Option<Arc<Peer>>, cache: &mut PeerCache) {
    let PeerValues { header, baggage } = std::mem::take(pending);
    if header.is_none() && baggage.is_none() {
        return;
    }
    *peer = header
        .and_then(|v| cache.get(Carrier::Header, &v))
        .or_else(|| baggage.and_then(|v| cache.get(Carrier::Baggage, &v)));
}

/// The request-head facts of a stream, read at its start.
pub(crate) struct RequestHead<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) version: http::Version,
    pub(crate) resolved: bool,
}

impl StreamState {
    pub(crate) fn new(conn: Arc<Connection>, head: &RequestHead<'_>) -> Self {
        let start = Instant::now();
        let scan = HeadScan::new(head);
        let protocol = Protocol::from_content_type(scan.content_type.and_then(|v| v.to_str().ok()));
        let telemetry = &conn.telemetry;
        let grpc = (protocol == Protocol::Grpc).then(|| {
            Box::new({
                let now = start.saturating_duration_since(telemetry.epoch);
                let period = telemetry.plugin.reporting_period();
                Grpc {
                    stream: telemetry.plugin.grpc_stream(now),
                    timer: period.map(|p| (Box::pin(tokio::time::sleep_until(start + p)), p)),
                    messages: MessageCounter::default(),
                    header: None,
                    trailer: None,
                }
            })
        });
        Self {
            meter: Arc::new(RequestMeter::default()),
            start,
            protocol,
            method: head.method.clone(),
            uri: head.uri.clone(),
            host: scan.host.cloned(),
            request_head: scan.size,
            peer: None,
            pending: PeerValues::default(),
            resolved: head.resolved,
            response_code: None,
            response_bytes: 0,
            body_expected: None,
            body_sent: 0,
            trailers_sent: head.version >= http::Version::HTTP_2 || scan.te_trailers,
            flags: ResponseFlags::default(),
            grpc,
            conn,
        }
    }

    /// The peer carriers the request's headers held (inbound).
    pub(crate) fn set_peer(&mut self, values: PeerValues) {
        self.pending = values;
    }

    /// The upstream peer carrier the response's headers held (outbound): resolution finished.
    pub(crate) fn resolve(&mut self, values: PeerValues) {
        self.pending = values;
        self.resolved = true;
    }

    pub(crate) const fn connection(&self) -> &Arc<Connection> {
        &self.conn
    }

    pub(crate) fn request_failed(&self) -> bool {
        self.meter.failed.load(Ordering::Relaxed)
    }

    pub(crate) const fn is_grpc(&self) -> bool {
        matches!(self.protocol, Protocol::Grpc)
    }

    /// The response head, as it goes downstream.
    /// One pass over the fields: the size, `content-length`, `grpc-status` (gRPC only).
    pub(crate) fn on_response_head(&mut self, parts: &http::response::Parts) {
        self.response_code = Some(parts.status.as_u16());
        let mut head = size::STATUS;
        let mut grpc_status = None;
        for (name, value) in &parts.headers {
            head += (name.as_str().len() + value.len()) as u64;
            if *name == http::header::CONTENT_LENGTH {
                self.body_expected = self.body_expected.or_else(|| value.to_str().ok()?.parse().ok());
            } else if self.grpc.is_some() && *name == GRPC_STATUS && grpc_status.is_none() {
                grpc_status = Some(value);
            }
        }
        self.response_bytes += head;
        if let Some(grpc) = &mut self.grpc {
            grpc.header = grpc_status.cloned();
        }
    }

    /// Whether the response body has sent all the bytes its `content-length` announced.
    pub(crate) fn body_complete(&self) -> bool {
        self.body_expected.is_some_and(|n| self.body_sent >= n)
    }

    /// A response body frame, as it goes downstream.
    pub(crate) fn on_response_frame<D: Buf>(&mut self, frame: &Frame<D>) {
        if frame.is_data() || self.trailers_sent {
            self.response_bytes += frame_len(frame);
        }
        if let Some(data) = frame.data_ref() {
            self.body_sent += data.remaining() as u64;
            if let Some(grpc) = &mut self.grpc {
                grpc.messages.feed(data);
            }
        } else if let (Some(trailers), Some(grpc)) = (frame.trailers_ref(), &mut self.grpc) {
            grpc.trailer = trailers.get(GRPC_STATUS).cloned();
        }
    }

    pub(crate) fn add_flags(&mut self, flags: ResponseFlags) {
        self.flags.extend(flags);
    }

    /// Reports the gRPC message deltas of every reporting period that has ended, and arms the
    /// timer (with `cx`'s waker) for the next.
    pub(crate) fn poll_tick(&mut self, cx: &mut Context<'_>) {
        let Some((sleep, period)) = self.grpc.as_deref_mut().and_then(|g| g.timer.as_mut()) else {
            return;
        };
        let mut fired = false;
        while sleep.as_mut().poll(cx).is_ready() {
            let next = sleep.deadline() + *period;
            sleep.as_mut().reset(next.max(Instant::now()));
            fired = true;
        }
        if fired && self.resolved {
            self.report_tick();
        }
    }

    fn report_tick(&mut self) {
        let Some(mut grpc) = self.grpc.take() else {
            return;
        };
        let telemetry = &self.conn.telemetry;
        let now = Instant::now().saturating_duration_since(telemetry.epoch);
        let mut state = self.conn.lock();
        resolve_peer(&mut self.pending, &mut self.peer, &mut state.cache);
        self.conn.apply_peer(&mut state, self.peer.as_ref());
        let mut codes = [""; ResponseFlags::MAX];
        let req = self.facts(&mut codes, None, [None, None]);
        grpc.stream
            .set_message_counts(self.meter.messages.load(Ordering::Relaxed), grpc.messages.messages());
        grpc.stream.tick(&telemetry.plugin, &mut state.http, &req, now);
        drop(state);
        self.grpc = Some(grpc);
    }

    /// The facts of the stream; `end` is the completion time (`None` for a periodic report,
    /// which has no response facts).
    /// `grpc_status` holds the `grpc-status` values of the response headers and trailers.
    fn facts<'a>(
        &'a self,
        codes: &'a mut [&'static str; ResponseFlags::MAX],
        end: Option<Instant>,
        grpc_status: [Option<&'a HeaderValue>; 2],
    ) -> RequestFacts<'a> {
        let mut req = RequestFacts::default();
        req.protocol = self.protocol;
        req.host = self
            .host
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .or_else(|| self.uri.authority().map(http::uri::Authority::as_str));
        req.method = Some(self.method.as_str());
        req.path = self.uri.path_and_query().map(http::uri::PathAndQuery::as_str);
        req.routing = self.conn.telemetry.route.as_routing();
        if let Some(end) = end {
            let mut flags = self.flags;
            if self.meter.failed.load(Ordering::Relaxed) {
                flags.insert(ResponseFlag::DownstreamConnectionTermination);
            }
            req.response_flags = flags.codes(codes);
            req.response_code = self.response_code;
            req.grpc_status_header = grpc_status[0].and_then(|v| v.to_str().ok());
            req.grpc_status_trailer = grpc_status[1].and_then(|v| v.to_str().ok());
            req.duration_ms = Some(end.saturating_duration_since(self.start).as_millis() as u64);
            req.request_bytes = Some(self.request_head + self.meter.bytes.load(Ordering::Relaxed));
            req.response_bytes = Some(self.response_bytes);
        }
        req
    }

    /// Records the stream: the final gRPC deltas and the request metrics.
    pub(crate) fn finish(mut self, flags: ResponseFlags) {
        let end = Instant::now();
        self.flags.extend(flags);
        let mut grpc = self.grpc.take();
        let (header, trailer) = grpc
            .as_deref_mut()
            .map(|g| (g.header.take(), g.trailer.take()))
            .unwrap_or_default();
        let mut state = self.conn.lock();
        resolve_peer(&mut self.pending, &mut self.peer, &mut state.cache);
        self.conn.apply_peer(&mut state, self.peer.as_ref());
        let mut codes = [""; ResponseFlags::MAX];
        let req = self.facts(&mut codes, Some(end), [header.as_ref(), trailer.as_ref()]);
        let plugin = &self.conn.telemetry.plugin;
        match grpc {
            Some(mut grpc) => {
                grpc.stream
                    .set_message_counts(self.meter.messages.load(Ordering::Relaxed), grpc.messages.messages());
                grpc.stream.finish(plugin, &mut state.http, &req);
            }
            None => plugin.record_request(&mut state.http, &req),
        }
    }
}
