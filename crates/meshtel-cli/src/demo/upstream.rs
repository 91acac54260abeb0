//! The sidecars' upstream HTTP connections (HTTP/1.1 or HTTP/2) and the streaming proxy for
//! gRPC: request and response bodies pass through frame by frame, trailers included, and
//! the request is recorded when the response body ends (or the stream is reset).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use meshtel_wire::workload::WorkloadMetadata;
use tokio::io::{AsyncRead, AsyncWrite};

use super::limits::InFlight;
use super::sidecar::{HttpState, Sidecar, head_len, record_facts, request_facts, status_line_len};

/// Every body the sidecars send: buffered (`Full`) or streamed (`Incoming`).
pub(crate) type Body = BoxBody<Bytes, hyper::Error>;

/// A buffered body.
pub(crate) fn full(bytes: Bytes) -> Body {
    boxed(Full::new(bytes))
}

/// A `Full` body as a [`Body`].
pub(crate) fn boxed(body: Full<Bytes>) -> Body {
    body.map_err(|never| match never {}).boxed()
}

/// An upstream connection.
#[derive(Debug)]
pub(crate) enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Body>),
    Http2(hyper::client::conn::http2::SendRequest<Body>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Self::Http1(s) => s.is_closed(),
            Self::Http2(s) => s.is_closed(),
        }
    }
}

/// A TCP connection to `addr`, without Nagle's delay (small gRPC and HTTP/2 frames).
pub(crate) async fn connect(addr: std::net::SocketAddr) -> Option<tokio::net::TcpStream> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    Some(stream)
}

/// Opens an HTTP/1.1 or (`h2`) HTTP/2 client connection over `io`.
pub(crate) async fn http_sender<IO>(io: IO, h2: bool) -> Option<Sender>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if h2 {
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(io))
            .await
            .ok()?;
        tokio::spawn(conn);
        Some(Sender::Http2(sender))
    } else {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.ok()?;
        tokio::spawn(conn);
        Some(Sender::Http1(sender))
    }
}

/// Fields that belong to one connection and are not forwarded.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// The upstream request for the downstream `parts`, in the form the upstream's version
/// wants: HTTP/1.1 origin form with `Host`, or HTTP/2 absolute form (`:authority`).
fn upstream_request(
    parts: &http::request::Parts,
    mut headers: HeaderMap,
    body: Body,
    h2: bool,
) -> Option<Request<Body>> {
    let authority = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str))
        .unwrap_or("ratings:9080")
        .to_owned();
    let path = parts.uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if headers.get("te").is_some_and(|v| v != "trailers") {
        headers.remove("te");
    }
    let uri: Uri = if h2 {
        format!("http://{authority}{path}").parse().ok()?
    } else {
        headers.insert("host", HeaderValue::from_str(&authority).ok()?);
        path.parse().ok()?
    };
    let mut req = Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .body(body)
        .ok()?;
    *req.headers_mut() = headers;
    Some(req)
}

/// Sends a request upstream through `slot` (connecting with `connect` when it is empty or
/// closed). An HTTP/2 connection is shared by concurrent requests; an HTTP/1.1 one is held
/// until the response head arrives.
pub(crate) async fn send<F, Fut>(
    slot: &tokio::sync::Mutex<Option<Sender>>,
    connect: F,
    parts: &http::request::Parts,
    headers: HeaderMap,
    body: Body,
) -> Option<Response<Incoming>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Option<Sender>>,
{
    let mut guard = slot.lock().await;
    if guard.as_ref().is_none_or(Sender::is_closed) {
        *guard = connect().await;
    }
    match guard.as_mut()? {
        Sender::Http2(s) => {
            let mut s = s.clone();
            drop(guard);
            s.ready().await.ok()?;
            s.send_request(upstream_request(parts, headers, body, true)?).await.ok()
        }
        Sender::Http1(s) => {
            s.ready().await.ok()?;
            s.send_request(upstream_request(parts, headers, body, false)?)
                .await
                .ok()
        }
    }
}

/// A body that counts the bytes of its data frames into a shared counter.
pub(crate) struct Counted {
    inner: Body,
    bytes: Arc<AtomicU64>,
}

impl Counted {
    pub(crate) fn new(inner: Body, bytes: Arc<AtomicU64>) -> Self {
        Self { inner, bytes }
    }
}

impl hyper::body::Body for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &r {
            self.bytes.fetch_add(frame_len(frame), Ordering::Relaxed);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Wire bytes of a frame: its data, or its trailer fields as HTTP/1.1 would write them.
fn frame_len(frame: &Frame<Bytes>) -> u64 {
    if let Some(data) = frame.data_ref() {
        data.len() as u64
    } else if let Some(trailers) = frame.trailers_ref() {
        trailers
            .iter()
            .map(|(k, v)| (k.as_str().len() + 2 + v.len() + 2) as u64)
            .sum()
    } else {
        0
    }
}

/// What a streamed request's record needs once its response ends.
pub(crate) struct Pending {
    pub(crate) sc: Arc<Sidecar>,
    pub(crate) state: Arc<Mutex<HttpState>>,
    pub(crate) parts: http::request::Parts,
    pub(crate) start: Instant,
    pub(crate) request_bytes: Arc<AtomicU64>,
    pub(crate) peer: Option<WorkloadMetadata>,
    pub(crate) cluster: &'static str,
    pub(crate) in_flight: InFlight,
}

/// A response body that passes every frame through and records the request when it ends:
/// the `grpc-status` of its trailers (or headers), the bytes sent.
struct Recorded {
    inner: Body,
    status: http::StatusCode,
    header_grpc_status: Option<String>,
    trailer_grpc_status: Option<String>,
    response_bytes: u64,
    pending: Option<Pending>,
}

impl Recorded {
    fn finish(&mut self) {
        let Some(p) = self.pending.take() else { return };
        let mut req = request_facts(
            &p.parts,
            Some(self.status),
            p.start.elapsed(),
            (p.request_bytes.load(Ordering::Relaxed), self.response_bytes),
            p.cluster,
        );
        req.grpc_status_header = self.header_grpc_status.as_deref();
        req.grpc_status_trailer = self.trailer_grpc_status.as_deref();
        record_facts(&p.sc, &p.state, &req, p.peer.clone());
        drop(p.in_flight);
    }
}

impl Drop for Recorded {
    fn drop(&mut self) {
        self.finish();
    }
}

impl hyper::body::Body for Recorded {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(frame))) => {
                self.response_bytes += frame_len(frame);
                if let Some(t) = frame.trailers_ref() {
                    self.trailer_grpc_status = t.get("grpc-status").and_then(|v| v.to_str().ok()).map(str::to_owned);
                }
            }
            Poll::Ready(None | Some(Err(_))) => self.finish(),
            Poll::Pending => {}
        }
        if self.inner.is_end_stream() {
            self.finish();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The downstream response for an upstream one whose request is `pending`: the body
/// streams through and the request is recorded when it ends.
pub(crate) fn recorded(head: http::response::Parts, body: Incoming, pending: Pending) -> Response<Body> {
    let header_grpc_status = head
        .headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = Recorded {
        inner: body.boxed(),
        status: head.status,
        header_grpc_status,
        trailer_grpc_status: None,
        response_bytes: head_len(status_line_len(head.status), &head.headers),
        pending: Some(pending),
    };
    Response::from_parts(head, body.boxed())
}

/// Whether a request goes to the gRPC backend: its `content-type` starts with
/// `application/grpc`.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}
