//! The layer in real hyper servers over loopback TCP: HTTP/1.1 and HTTP/2 (prior knowledge,
//! hyper-util's auto builder), streaming bodies, trailers, resets, gRPC.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use meshtel::PluginConfig;
use meshtel_metrics::Registry;
use meshtel_tower::{RequestBody, Telemetry, size};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;

/// What the application saw of each request: its head as received by the layer's inner
/// service (the exchange headers already stripped).
type Seen = Arc<Mutex<Vec<(http::Method, http::Uri, HeaderMap)>>>;

/// The echo application: streams the request body back, frame by frame, then trailers
/// `x-echoed` (dropped by HTTP/1.1, which has no trailers here).
fn echo(
    req: Request<RequestBody<Incoming>>,
    seen: &Seen,
) -> std::future::Ready<Result<Response<ChannelBody>, std::convert::Infallible>> {
    seen.lock()
        .unwrap()
        .push((req.method().clone(), req.uri().clone(), req.headers().clone()));
    let grpc = req
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/grpc");
    let (tx, body) = channel();
    let mut incoming = req.into_body();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = incoming.frame().await {
            if let Ok(data) = frame.into_data()
                && tx.send(Ok(Frame::data(data))).is_err()
            {
                return;
            }
        }
        let mut t = HeaderMap::new();
        t.insert(if grpc { "grpc-status" } else { "x-echoed" }, "0".parse().unwrap());
        let _ = tx.send(Ok(Frame::trailers(t)));
    });
    let content_type = if grpc {
        "application/grpc"
    } else {
        "application/octet-stream"
    };
    let response = Response::builder()
        .header("content-type", content_type)
        .body(body)
        .unwrap();
    std::future::ready(Ok(response))
}

/// Serves `telemetry` + echo on a loopback port: one layer (and connection state) per
/// accepted connection.
async fn serve(telemetry: Arc<Telemetry>) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Seen::default();
    let s = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = Arc::clone(&s);
            let service = ServiceBuilder::new()
                .layer(layer(&telemetry))
                .service_fn(move |req| echo(req, &seen));
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                    .await;
            });
        }
    });
    (addr, seen)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    Http1,
    Http2,
}

/// A client connection; requests go through `send`.
enum Client {
    H1(hyper::client::conn::http1::SendRequest<ChannelBody>),
    H2(hyper::client::conn::http2::SendRequest<ChannelBody>),
}

impl Client {
    async fn connect(addr: SocketAddr, version: Version) -> Self {
        let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
        match version {
            Version::Http1 => {
                let (send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
                tokio::spawn(conn);
                Self::H1(send)
            }
            Version::Http2 => {
                let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                Self::H2(send)
            }
        }
    }

    async fn send(&mut self, req: Request<ChannelBody>) -> Response<Incoming> {
        match self {
            Self::H1(s) => s.send_request(req).await.unwrap(),
            Self::H2(s) => s.send_request(req).await.unwrap(),
        }
    }
}

fn request(version: Version, addr: SocketAddr, path: &str, body: ChannelBody) -> Request<ChannelBody> {
    let builder = match version {
        Version::Http1 => Request::post(path).header("host", "ratings:9080"),
        Version::Http2 => Request::post(format!("http://ratings:9080{path}")),
    };
    let _ = addr;
    builder
        .header("x-envoy-peer-metadata", header_of(&client_record()))
        .header("x-envoy-peer-metadata-id", CLIENT_ID)
        .body(body)
        .unwrap()
}

/// The exchange headers the client sent, as the layer sized them before stripping.
fn exchange_len() -> u64 {
    (21 + header_of(&client_record()).len() + 24 + CLIENT_ID.len()) as u64
}

/// Waits (bounded) until the server has recorded `n` requests.
async fn recorded(registry: &Registry, n: f64) {
    for _ in 0..200 {
        if requests(registry) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} requests, have {}", requests(registry));
}

async fn streaming_echo(version: Version) {
    let (registry, t) = inbound(&PluginConfig::default());
    let (addr, seen) = serve(t).await;
    let mut client = Client::connect(addr, version).await;
    let (tx, body) = channel();
    let response = client.send(request(version, addr, "/echo", body)).await;
    assert_eq!(response.headers()["x-envoy-peer-metadata-id"], SERVER_ID);
    // What the client received, less the fields hyper's server writes itself.
    let mut app_headers = response.headers().clone();
    app_headers.remove("date");
    app_headers.remove("transfer-encoding");
    let response_head = size::response_head(response.status(), &app_headers);
    let mut body = response.into_body();
    // Request and response stream: each chunk comes back before the next is sent.
    for chunk in [&b"abc"[..], b"defg", b"hi"] {
        tx.send(Ok(Frame::data(Bytes::from_static(chunk)))).unwrap();
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), chunk);
    }
    assert_eq!(requests(&registry), 0.0, "the stream is open");
    drop(tx);
    let mut trailer_len = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(t) = frame.unwrap().into_trailers() {
            assert_eq!(t["x-echoed"], "0");
            trailer_len = size::fields(&t);
        }
    }
    assert_eq!(trailer_len > 0, version == Version::Http2, "trailers over HTTP/2 only");
    recorded(&registry, 1.0).await;
    let (method, uri, headers) = seen.lock().unwrap()[0].clone();
    let labels = [
        ("source_workload", "productpage-v1"),
        ("destination_service", "ratings:9080"),
        ("response_code", "200"),
        ("response_flags", "-"),
    ];
    assert_eq!(value(&registry, "istio_requests_total", &labels), 1.0);
    let request_bytes = size::request_head(&method, &uri, &headers) + exchange_len() + 9;
    assert_eq!(
        value(&registry, "istio_request_bytes_sum", &labels),
        request_bytes as f64
    );
    let response_bytes = response_head + 9 + trailer_len;
    assert_eq!(
        value(&registry, "istio_response_bytes_sum", &labels),
        response_bytes as f64
    );
}

#[tokio::test]
async fn http1_streaming_echo_records_exact_sizes() {
    streaming_echo(Version::Http1).await;
}

#[tokio::test]
async fn http2_streaming_echo_with_trailers_records_exact_sizes() {
    streaming_echo(Version::Http2).await;
}

async fn reset_mid_response(version: Version) {
    let (registry, t) = inbound(&PluginConfig::default());
    let (addr, _seen) = serve(t).await;
    let mut client = Client::connect(addr, version).await;
    let (tx, body) = channel();
    let response = client.send(request(version, addr, "/echo", body)).await;
    tx.send(Ok(Frame::data(Bytes::from_static(b"first")))).unwrap();
    let mut body = response.into_body();
    body.frame().await.unwrap().unwrap();
    // The client goes away mid-response: HTTP/2 resets the stream, HTTP/1.1 closes.
    drop(body);
    drop(client);
    drop(tx);
    recorded(&registry, 1.0).await;
    let labels = [("response_code", "200"), ("response_flags", "DC")];
    assert_eq!(value(&registry, "istio_requests_total", &labels), 1.0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(requests(&registry), 1.0, "recorded once");
}

#[tokio::test]
async fn http1_client_gone_mid_response_is_dc() {
    reset_mid_response(Version::Http1).await;
}

#[tokio::test]
async fn http2_reset_mid_response_is_dc() {
    reset_mid_response(Version::Http2).await;
}

#[tokio::test]
async fn grpc_over_http2_counts_streamed_messages_and_reads_the_trailer_status() {
    let (registry, t) = inbound(&period(0));
    let (addr, _seen) = serve(t).await;
    let mut client = Client::connect(addr, Version::Http2).await;
    let (tx, body) = channel();
    let req = Request::post("http://ratings:9080/ratings.Ratings/Chat")
        .header("content-type", "application/grpc")
        .header("x-envoy-peer-metadata", header_of(&client_record()))
        .body(body)
        .unwrap();
    let response = client.send(req).await;
    // Three messages cut at odd places: inside a prefix, inside a payload.
    let stream = grpc_frames(&[b"one", b"", b"three-three"]);
    for part in [&stream[..2], &stream[2..9], &stream[9..13], &stream[13..]] {
        tx.send(Ok(Frame::data(Bytes::copy_from_slice(part)))).unwrap();
    }
    drop(tx);
    let collected = response.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
    assert_eq!(collected.to_bytes(), stream);
    recorded(&registry, 1.0).await;
    let labels = [("request_protocol", "grpc"), ("grpc_response_status", "0")];
    assert_eq!(value(&registry, "istio_requests_total", &labels), 1.0);
    assert_eq!(
        value(
            &registry,
            "istio_request_messages_total",
            &[("source_workload", "productpage-v1")]
        ),
        3.0
    );
    assert_eq!(value(&registry, "istio_response_messages_total", &[]), 3.0);
}

#[tokio::test]
async fn one_connection_state_per_accepted_connection() {
    let (registry, t) = inbound(&PluginConfig::default());
    let (addr, _seen) = serve(t).await;
    for version in [Version::Http1, Version::Http2] {
        let mut client = Client::connect(addr, version).await;
        for _ in 0..2 {
            let response = client
                .send(request(version, addr, "/", chunks_body(&[b"x"], None)))
                .await;
            // The echo ends with trailers the HTTP/1.1 client never sees; drain either way.
            response.into_body().collect().await.unwrap();
        }
    }
    recorded(&registry, 4.0).await;
    assert_eq!(
        value(
            &registry,
            "istio_requests_total",
            &[("source_workload", "productpage-v1")]
        ),
        4.0
    );
}

/// The proxy's inner service: forwards the metered request to `upstream` over HTTP/1.1.
async fn forward(
    mut req: Request<RequestBody<Incoming>>,
    upstream: SocketAddr,
) -> Result<Response<Incoming>, meshtel_tower::UpstreamError> {
    use meshtel_tower::UpstreamError;
    let io = TcpStream::connect(upstream)
        .await
        .map_err(UpstreamError::connect_failure)?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(UpstreamError::connect_failure)?;
    tokio::spawn(conn);
    // The upstream connection is HTTP/1.1 whatever the downstream spoke.
    *req.version_mut() = http::Version::HTTP_11;
    send.send_request(req).await.map_err(UpstreamError::reset)
}

/// An outbound proxy with the layer on a loopback port, forwarding to `upstream`.
async fn serve_proxy(telemetry: Arc<Telemetry>, upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = ServiceBuilder::new()
                .layer(layer(&telemetry))
                .service_fn(move |req| forward(req, upstream));
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_outbound_proxy_and_an_inbound_server_exchange_peers() {
    let (server_registry, server) = inbound(&PluginConfig::default());
    let (server_addr, seen) = serve(server).await;
    let (proxy_registry, proxy) = outbound(&PluginConfig::default());
    let proxy_addr = serve_proxy(proxy, server_addr).await;
    for version in [Version::Http1, Version::Http2] {
        let mut client = Client::connect(proxy_addr, version).await;
        let uri = if version == Version::Http1 {
            "/r"
        } else {
            "http://ratings:9080/r"
        };
        let req = Request::post(uri)
            .header("host", "ratings:9080")
            .body(chunks_body(&[b"abc"], None))
            .unwrap();
        let response = client.send(req).await;
        assert!(
            !response.headers().contains_key("x-envoy-peer-metadata"),
            "stripped by the proxy"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "abc");
    }
    recorded(&server_registry, 2.0).await;
    recorded(&proxy_registry, 2.0).await;
    // The server saw the proxy's identity; the application behind it saw no exchange header.
    for (_, _, headers) in seen.lock().unwrap().iter() {
        assert!(!headers.contains_key("x-envoy-peer-metadata"));
    }
    let server_labels = [
        ("reporter", "destination"),
        ("source_workload", "productpage-v1"),
        ("response_code", "200"),
    ];
    assert_eq!(value(&server_registry, "istio_requests_total", &server_labels), 2.0);
    // The proxy learned the server's identity from its responses.
    let proxy_labels = [
        ("reporter", "source"),
        ("destination_workload", "ratings-v1"),
        ("destination_cluster", "server-cluster"),
        ("response_code", "200"),
    ];
    assert_eq!(value(&proxy_registry, "istio_requests_total", &proxy_labels), 2.0);
}

#[tokio::test]
async fn a_proxy_whose_upstream_refuses_records_uf() {
    // A port that was just free: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let (proxy_registry, proxy) = outbound(&PluginConfig::default());
    let proxy_addr = serve_proxy(proxy, closed).await;
    let mut client = Client::connect(proxy_addr, Version::Http2).await;
    let req = Request::get("http://ratings:9080/")
        .body(chunks_body(&[], None))
        .unwrap();
    let result = match &mut client {
        Client::H2(s) => s.send_request(req).await,
        Client::H1(_) => unreachable!(),
    };
    assert!(result.is_err(), "the stream is reset");
    recorded(&proxy_registry, 1.0).await;
    let labels = [
        ("response_code", "0"),
        ("response_flags", "UF"),
        ("destination_workload", "unknown"),
    ];
    assert_eq!(value(&proxy_registry, "istio_requests_total", &labels), 1.0);
}
