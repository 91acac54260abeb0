//! The sidecars' upstream HTTP connections (HTTP/1.1 or HTTP/2): requests go out with
//! their bodies streamed, frame by frame, trailers included (recording is the
//! `meshtel_tower` layer's, in `sidecar.rs`).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use meshtel_tower::ResponseFlag;
use tokio::io::{AsyncRead, AsyncWrite};

/// Every body the sidecars send: buffered (`Full`) or streamed (`Incoming`).
pub(crate) type Body = BoxBody<Bytes, hyper::Error>;

/// A buffered body.
pub(crate) fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
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
/// until the response head arrives. The flag of a failure: `UF` when no connection could
/// be opened, `UR` when the upstream failed the exchange, `NR` for a request that cannot be
/// forwarded (an authority that is no URI).
pub(crate) async fn send<F, Fut>(
    slot: &tokio::sync::Mutex<Option<Sender>>,
    connect: F,
    parts: &http::request::Parts,
    headers: HeaderMap,
    body: Body,
) -> Result<Response<Incoming>, ResponseFlag>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Option<Sender>>,
{
    let mut guard = slot.lock().await;
    if guard.as_ref().is_none_or(Sender::is_closed) {
        *guard = connect().await;
    }
    let reset = |_| ResponseFlag::UpstreamRemoteReset;
    match guard.as_mut().ok_or(ResponseFlag::UpstreamConnectionFailure)? {
        Sender::Http2(s) => {
            let mut s = s.clone();
            drop(guard);
            s.ready().await.map_err(reset)?;
            let req = upstream_request(parts, headers, body, true).ok_or(ResponseFlag::NoRouteFound)?;
            s.send_request(req).await.map_err(reset)
        }
        Sender::Http1(s) => {
            s.ready().await.map_err(reset)?;
            let req = upstream_request(parts, headers, body, false).ok_or(ResponseFlag::NoRouteFound)?;
            s.send_request(req).await.map_err(reset)
        }
    }
}

/// Whether a request goes to the gRPC backend: its `content-type` starts with
/// `application/grpc`.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}
