//! The layer called in memory: header exchange, sizes, flags, exactly-once recording, gRPC.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full};
use meshtel::PluginConfig;
use meshtel_tower::{BoxError, RequestBody, ResponseFlag, ResponseFlags, UpstreamError};
use tower::{Service, ServiceBuilder, ServiceExt};

const PEER: &str = "x-envoy-peer-metadata";
const PEER_ID: &str = "x-envoy-peer-metadata-id";

/// The inner service of most tests: reads the request body whole, answers `ok!`.
async fn app(req: Request<RequestBody<ChannelBody>>) -> Result<Response<Full<Bytes>>, Infallible> {
    assert!(
        !req.headers().contains_key(PEER),
        "the application never sees the exchange headers"
    );
    assert!(!req.headers().contains_key(PEER_ID));
    let _ = req.into_body().collect().await;
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(b"ok!")))
        .unwrap())
}

fn mesh_request(uri: &str, chunks: &[&[u8]]) -> Request<ChannelBody> {
    Request::post(uri)
        .header("host", "ratings:9080")
        .header(PEER, header_of(&client_record()))
        .header(PEER_ID, CLIENT_ID)
        .body(chunks_body(chunks, None))
        .unwrap()
}

#[tokio::test]
async fn inbound_learns_the_peer_answers_with_its_headers_and_records_exact_sizes() {
    let (registry, t) = inbound(&PluginConfig::default());
    let svc = ServiceBuilder::new().layer(layer(&t)).service_fn(app);
    let response = svc
        .oneshot(mesh_request("/ratings/1", &[b"hello", b" world"]))
        .await
        .unwrap();
    assert_eq!(response.headers()[PEER_ID], SERVER_ID);
    assert_eq!(response.headers()[PEER], header_of(&server_record()).as_str());
    assert_eq!(
        requests(&registry),
        0.0,
        "nothing is recorded before the response body ends"
    );
    let (parts, body) = response.into_parts();
    assert_eq!(body.collect().await.unwrap().to_bytes(), "ok!");
    let labels = [
        ("reporter", "destination"),
        ("source_workload", "productpage-v1"),
        ("source_canonical_service", "productpage-v1"),
        ("destination_workload", "ratings-v1"),
        ("request_protocol", "http"),
        ("response_code", "200"),
        ("response_flags", "-"),
        ("grpc_response_status", ""),
    ];
    assert_eq!(value(&registry, "istio_requests_total", &labels), 1.0);
    // Request: pseudo-headers and fields as received (exchange headers included), body.
    let request_head =
        (7 + 4) + (5 + 10) + (4 + 12) + (21 + header_of(&client_record()).len()) + (24 + CLIENT_ID.len());
    assert_eq!(
        value(&registry, "istio_request_bytes_sum", &labels),
        (request_head + 11) as f64
    );
    // Response: `:status`, fields as sent (the added exchange headers included), body.
    let response_head = 10 + (12 + 10) + (24 + SERVER_ID.len()) + (21 + header_of(&server_record()).len());
    assert_eq!(crate_size(&parts), response_head as u64);
    assert_eq!(
        value(&registry, "istio_response_bytes_sum", &labels),
        (response_head + 3) as f64
    );
    assert_eq!(
        value(&registry, "istio_request_duration_milliseconds_count", &labels),
        1.0
    );
}

fn crate_size(parts: &http::response::Parts) -> u64 {
    meshtel_tower::size::response_head(parts.status, &parts.headers)
}

#[tokio::test]
async fn inbound_sets_each_response_header_only_if_the_request_carried_it() {
    let (_registry, t) = inbound(&PluginConfig::default());
    let svc = ServiceBuilder::new().layer(layer(&t)).service_fn(app);
    let req = Request::get("/")
        .header(PEER, header_of(&client_record()))
        .body(chunks_body(&[], None))
        .unwrap();
    let response = svc.clone().oneshot(req).await.unwrap();
    assert!(response.headers().contains_key(PEER));
    assert!(!response.headers().contains_key(PEER_ID));
    let req = Request::get("/").body(chunks_body(&[], None)).unwrap();
    let response = svc.oneshot(req).await.unwrap();
    assert!(!response.headers().contains_key(PEER));
    assert!(!response.headers().contains_key(PEER_ID));
}

#[tokio::test]
async fn outbound_sets_its_headers_and_learns_the_upstream_peer_from_the_response() {
    let (registry, t) = outbound(&PluginConfig::default());
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(|req: Request<RequestBody<ChannelBody>>| async move {
            assert_eq!(req.headers()[PEER_ID], CLIENT_ID, "the application's value is replaced");
            assert_eq!(req.headers()[PEER], header_of(&client_record()).as_str());
            Ok::<_, Infallible>(
                Response::builder()
                    .header(PEER, header_of(&server_record()))
                    .header(PEER_ID, SERVER_ID)
                    .body(Full::new(Bytes::from_static(b"{}")))
                    .unwrap(),
            )
        });
    let req = Request::get("http://ratings:9080/r")
        .header(PEER_ID, "spoofed")
        .body(chunks_body(&[], None))
        .unwrap();
    let response = svc.oneshot(req).await.unwrap();
    assert!(
        !response.headers().contains_key(PEER),
        "the application never sees them"
    );
    assert!(!response.headers().contains_key(PEER_ID));
    response.into_body().collect().await.unwrap();
    let labels = [
        ("reporter", "source"),
        ("source_workload", "productpage-v1"),
        ("destination_workload", "ratings-v1"),
        ("destination_canonical_service", "ratings"),
        ("destination_service", "ratings:9080"),
        ("response_code", "200"),
    ];
    assert_eq!(value(&registry, "istio_requests_total", &labels), 1.0);
    // As received from the application: its spoofed id counts, the authority is a pseudo-header.
    let request_head = (7 + 3) + (5 + 2) + (7 + 4) + (10 + 12) + (24 + "spoofed".len());
    assert_eq!(
        value(&registry, "istio_request_bytes_sum", &labels),
        request_head as f64
    );
    // As sent to the application: the upstream's exchange headers are gone.
    assert_eq!(value(&registry, "istio_response_bytes_sum", &labels), f64::from(10 + 2));
}

#[tokio::test]
async fn a_repeated_header_value_is_decoded_once_per_connection() {
    let (registry, t) = inbound(&PluginConfig::default());
    let svc = ServiceBuilder::new().layer(layer(&t)).service_fn(app);
    for _ in 0..3 {
        let r = svc.clone().oneshot(mesh_request("/", &[])).await.unwrap();
        r.into_body().collect().await.unwrap();
    }
    assert_eq!(svc.decoded_peer_values(), 1);
    let other = record("reviews-v2", "c", "reviews", "reviews");
    let req = Request::get("/")
        .header(PEER, header_of(&other))
        .body(chunks_body(&[], None))
        .unwrap();
    svc.clone()
        .oneshot(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    assert_eq!(svc.decoded_peer_values(), 2);
    assert_eq!(
        value(
            &registry,
            "istio_requests_total",
            &[("source_workload", "productpage-v1")]
        ),
        3.0
    );
    assert_eq!(
        value(&registry, "istio_requests_total", &[("source_workload", "reviews-v2")]),
        1.0
    );
    // A new connection has its own cache.
    let svc2 = ServiceBuilder::new().layer(layer(&t)).service_fn(app);
    svc2.clone()
        .oneshot(mesh_request("/", &[]))
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    assert_eq!(svc2.decoded_peer_values(), 1);
}

#[tokio::test]
async fn baggage_gives_the_peer_when_configured_and_no_header() {
    let registry = meshtel_metrics::Registry::default();
    let plugin = meshtel::StatsPlugin::new(
        server_node(),
        meshtel::Reporter::Inbound,
        &PluginConfig::default(),
        &registry,
    )
    .unwrap();
    let t = std::sync::Arc::new(meshtel_tower::Telemetry::new(plugin).with_baggage(true));
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(|req: Request<RequestBody<ChannelBody>>| async move {
            assert!(req.headers().contains_key("baggage"), "baggage is left in place");
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        });
    let req = Request::get("/")
        .header(
            "baggage",
            "k8s.deployment.name=bag-w,k8s.namespace.name=bag-ns,service.name=bag",
        )
        .body(chunks_body(&[], None))
        .unwrap();
    svc.oneshot(req).await.unwrap().into_body().collect().await.unwrap();
    let labels = [
        ("source_workload", "bag-w"),
        ("source_canonical_service", "bag"),
        ("source_workload_namespace", "bag-ns"),
    ];
    assert_eq!(value(&registry, "istio_requests_total", &labels), 1.0);
}

#[tokio::test]
async fn outbound_sends_baggage_when_configured() {
    let registry = meshtel_metrics::Registry::default();
    let plugin = meshtel::StatsPlugin::new(
        client_node(),
        meshtel::Reporter::Outbound,
        &PluginConfig::default(),
        &registry,
    )
    .unwrap();
    let t = meshtel_tower::Telemetry::new(plugin)
        .with_local_peer(&client_record(), CLIENT_ID)
        .unwrap()
        .with_baggage(true);
    let svc = ServiceBuilder::new()
        .layer(layer(&std::sync::Arc::new(t)))
        .service_fn(|req: Request<RequestBody<ChannelBody>>| async move {
            assert_eq!(
                req.headers()["baggage"],
                "k8s.deployment.name=productpage-v1,service.name=productpage-v1,app.name=productpage,service.version=version-1,app.version=v1,k8s.namespace.name=default,k8s.cluster.name=client-cluster"
            );
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        });
    svc.oneshot(Request::get("/").body(chunks_body(&[], None)).unwrap())
        .await
        .unwrap();
    assert_eq!(requests(&registry), 1.0, "an empty body ends at the response head");
}

#[tokio::test]
async fn a_dropped_future_records_once_with_dc_and_no_response() {
    let (registry, t) = inbound(&PluginConfig::default());
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(|_req: Request<RequestBody<ChannelBody>>| async {
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        });
    let future = svc.oneshot(mesh_request("/", &[]));
    let timed_out = tokio::time::timeout(Duration::from_millis(10), future).await;
    assert!(timed_out.is_err());
    assert_eq!(
        value(
            &registry,
            "istio_requests_total",
            &[("response_code", "0"), ("response_flags", "DC")]
        ),
        1.0
    );
    assert_eq!(requests(&registry), 1.0);
}

#[tokio::test]
async fn a_response_body_dropped_mid_stream_records_once_with_dc() {
    let (registry, t) = inbound(&PluginConfig::default());
    let (tx, body) = channel();
    let mut body = Some(body);
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(move |_req: Request<RequestBody<ChannelBody>>| {
            let b = body.take().unwrap();
            async move { Ok::<_, Infallible>(Response::new(b)) }
        });
    let response = svc.oneshot(mesh_request("/", &[])).await.unwrap();
    tx.send(Ok(Frame::data(Bytes::from_static(b"abcd")))).unwrap();
    let mut body = response.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "abcd");
    assert_eq!(requests(&registry), 0.0);
    drop(body);
    let labels = [("response_code", "200"), ("response_flags", "DC")];
    assert_eq!(value(&registry, "istio_requests_total", &labels), 1.0);
    let head = 10 + (24 + SERVER_ID.len()) + (21 + header_of(&server_record()).len());
    assert_eq!(value(&registry, "istio_response_bytes_sum", &labels), (head + 4) as f64);
    assert_eq!(requests(&registry), 1.0);
}

#[tokio::test]
async fn a_body_error_is_ur_and_later_frames_record_nothing_more() {
    let (registry, t) = inbound(&PluginConfig::default());
    let (tx, body) = channel();
    let mut body = Some(body);
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(move |_req: Request<RequestBody<ChannelBody>>| {
            let b = body.take().unwrap();
            async move { Ok::<_, Infallible>(Response::new(b)) }
        });
    let mut body = svc.oneshot(mesh_request("/", &[])).await.unwrap().into_body();
    tx.send(Err(std::io::Error::other("upstream reset"))).unwrap();
    tx.send(Ok(Frame::data(Bytes::from_static(b"late")))).unwrap();
    assert!(body.frame().await.unwrap().is_err());
    assert!(body.frame().await.unwrap().is_ok());
    drop(body);
    assert_eq!(
        value(&registry, "istio_requests_total", &[("response_flags", "UR")]),
        1.0
    );
    assert_eq!(requests(&registry), 1.0);
}

type MakeError = fn() -> BoxError;

#[tokio::test]
async fn inner_errors_carry_their_flags() {
    let (registry, t) = outbound(&PluginConfig::default());
    let cases: [(MakeError, &str); 4] = [
        (
            || Box::new(UpstreamError::connect_failure(std::io::Error::other("refused"))),
            "UF",
        ),
        (|| Box::new(UpstreamError::timeout()), "UT"),
        (|| Box::new(UpstreamError::no_route()), "NR"),
        (|| Box::new(std::io::Error::other("other")), "UR"),
    ];
    for (make, code) in cases {
        let svc =
            ServiceBuilder::new().layer(layer(&t)).service_fn(
                move |_req: Request<RequestBody<ChannelBody>>| async move {
                    Err::<Response<Empty<Bytes>>, BoxError>(make())
                },
            );
        let err = svc
            .oneshot(Request::get("/").body(chunks_body(&[], None)).unwrap())
            .await
            .unwrap_err();
        assert!(!err.to_string().is_empty());
        let labels = [("response_code", "0"), ("response_flags", code)];
        assert_eq!(value(&registry, "istio_requests_total", &labels), 1.0, "{code}");
    }
    // The typed error directly as the service's error type.
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(|_req: Request<RequestBody<ChannelBody>>| async {
            Err::<Response<Empty<Bytes>>, _>(UpstreamError::new(ResponseFlag::UpstreamOverflow, None))
        });
    svc.oneshot(Request::get("/").body(chunks_body(&[], None)).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        value(&registry, "istio_requests_total", &[("response_flags", "UO")]),
        1.0
    );
    assert_eq!(requests(&registry), 5.0);
}

#[tokio::test]
async fn a_response_extension_sets_flags_and_is_removed() {
    let (registry, t) = inbound(&PluginConfig::default());
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(|_req: Request<RequestBody<ChannelBody>>| async {
            let mut r = Response::new(Full::new(Bytes::from_static(b"no route")));
            *r.status_mut() = StatusCode::NOT_FOUND;
            let mut flags = ResponseFlags::from(ResponseFlag::NoRouteFound);
            flags.insert(ResponseFlag::UpstreamConnectionFailure);
            r.extensions_mut().insert(flags);
            Ok::<_, Infallible>(r)
        });
    let response = svc.oneshot(mesh_request("/", &[])).await.unwrap();
    assert!(response.extensions().get::<ResponseFlags>().is_none());
    response.into_body().collect().await.unwrap();
    let labels = [("response_code", "404"), ("response_flags", "UF,NR")];
    assert_eq!(value(&registry, "istio_requests_total", &labels), 1.0);
}

#[tokio::test]
async fn a_failed_request_body_is_dc() {
    let (registry, t) = inbound(&PluginConfig::default());
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(|req: Request<RequestBody<ChannelBody>>| async move {
            req.into_body().collect().await?;
            Ok::<_, std::io::Error>(Response::new(Empty::<Bytes>::new()))
        });
    let (tx, body) = channel();
    tx.send(Ok(Frame::data(Bytes::from_static(b"par")))).unwrap();
    tx.send(Err(std::io::Error::other("client reset"))).unwrap();
    let req = Request::post("/").body(body).unwrap();
    svc.oneshot(req).await.unwrap_err();
    assert_eq!(
        value(
            &registry,
            "istio_requests_total",
            &[("response_code", "0"), ("response_flags", "DC")]
        ),
        1.0
    );
    assert_eq!(
        value(&registry, "istio_request_bytes_sum", &[]),
        f64::from(7 + 4 + 5 + 1 + 3)
    );
}

#[tokio::test(start_paused = true)]
async fn duration_runs_from_the_request_to_the_end_of_the_response_body() {
    let (registry, t) = inbound(&PluginConfig::default());
    let (tx, body) = channel();
    let mut body = Some(body);
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(move |_req: Request<RequestBody<ChannelBody>>| {
            let b = body.take().unwrap();
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, Infallible>(Response::new(b))
            }
        });
    let response = svc.oneshot(mesh_request("/", &[])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    tx.send(Ok(Frame::data(Bytes::from_static(b"x")))).unwrap();
    drop(tx);
    response.into_body().collect().await.unwrap();
    assert_eq!(value(&registry, "istio_request_duration_milliseconds_sum", &[]), 1500.0);
}

fn trailers(status: &str) -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", status.parse().unwrap());
    t
}

fn grpc_request(chunks: &[&[u8]]) -> Request<ChannelBody> {
    Request::post("/ratings.Ratings/Get")
        .version(http::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header(PEER, header_of(&client_record()))
        .body(chunks_body(chunks, None))
        .unwrap()
}

#[tokio::test]
async fn grpc_unary_counts_messages_across_splits_and_reads_trailer_status() {
    let (registry, t) = inbound(&period(0));
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(|req: Request<RequestBody<ChannelBody>>| async move {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body.len(), 5 + 3, "the request body passes unchanged");
            let reply = grpc_frames(&[b"reply"]);
            let (a, b) = reply.split_at(2);
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/grpc")
                    .body(chunks_body(&[a, b], Some(trailers("0"))))
                    .unwrap(),
            )
        });
    let msg = grpc_frames(&[b"req"]);
    let response = svc.oneshot(grpc_request(&[&msg[..3], &msg[3..]])).await.unwrap();
    let collected = response.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
    let labels = [
        ("request_protocol", "grpc"),
        ("grpc_response_status", "0"),
        ("response_code", "200"),
    ];
    assert_eq!(value(&registry, "istio_requests_total", &labels), 1.0);
    assert_eq!(
        value(
            &registry,
            "istio_request_messages_total",
            &[("source_workload", "productpage-v1")]
        ),
        1.0
    );
    assert_eq!(value(&registry, "istio_response_messages_total", &[]), 1.0);
    // Response: `:status`, content-type, the added peer header, 10 body bytes, the trailer.
    let head = 10 + 28 + 21 + header_of(&server_record()).len();
    assert_eq!(
        value(&registry, "istio_response_bytes_sum", &labels),
        (head + 10 + 11 + 1) as f64
    );
}

#[tokio::test]
async fn grpc_trailers_only_status_comes_from_the_headers() {
    let (registry, t) = inbound(&period(0));
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(|_req: Request<RequestBody<ChannelBody>>| async {
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/grpc")
                    .header("grpc-status", "5")
                    .body(Empty::<Bytes>::new())
                    .unwrap(),
            )
        });
    let response = svc.oneshot(grpc_request(&[])).await.unwrap();
    assert!(response.body().is_end_stream());
    assert_eq!(
        value(&registry, "istio_requests_total", &[("grpc_response_status", "5")]),
        1.0
    );
    assert_eq!(value(&registry, "istio_response_messages_total", &[]), 0.0);
}

#[tokio::test(start_paused = true)]
async fn grpc_streams_report_message_deltas_on_the_layers_timer_then_at_the_end() {
    let (registry, t) = inbound(&period(1));
    let (req_tx, req_body) = channel();
    let (resp_tx, resp_body) = channel();
    let mut resp_body = Some(resp_body);
    let (read_tx, read_rx) = tokio::sync::oneshot::channel();
    let mut read_tx = Some(read_tx);
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(move |req: Request<RequestBody<ChannelBody>>| {
            let b = resp_body.take().unwrap();
            let read = read_tx.take().unwrap();
            async move {
                // The application reads the request stream in the background.
                tokio::spawn(async move {
                    let _ = req.into_body().collect().await;
                    let _ = read.send(());
                });
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/grpc")
                        .body(b)
                        .unwrap(),
                )
            }
        });
    let req = Request::post("/s.S/Chat")
        .header("content-type", "application/grpc")
        .header(PEER, header_of(&client_record()))
        .body(req_body)
        .unwrap();
    let response = svc.oneshot(req).await.unwrap();
    let mut body = response.into_body();
    let send = |tx: &ChannelTx, n: usize| {
        for _ in 0..n {
            tx.send(Ok(Frame::data(Bytes::from(grpc_frames(&[b"m"]))))).unwrap();
        }
    };
    send(&req_tx, 2);
    send(&resp_tx, 4);
    for _ in 0..4 {
        body.frame().await.unwrap().unwrap();
    }
    tokio::task::yield_now().await;
    let req_msgs = || {
        value(
            &registry,
            "istio_request_messages_total",
            &[("source_workload", "productpage-v1")],
        )
    };
    let resp_msgs = || value(&registry, "istio_response_messages_total", &[]);
    assert_eq!((req_msgs(), resp_msgs()), (0.0, 0.0), "nothing before the first period");
    // The body is idle (nothing to send); the layer's timer wakes it at the period.
    let idle = tokio::time::timeout(Duration::from_millis(1500), body.frame()).await;
    assert!(idle.is_err());
    assert_eq!((req_msgs(), resp_msgs()), (2.0, 4.0), "one periodic report");
    assert_eq!(requests(&registry), 0.0);
    send(&req_tx, 3);
    send(&resp_tx, 5);
    drop(req_tx);
    read_rx.await.unwrap();
    resp_tx.send(Ok(Frame::trailers(trailers("0")))).unwrap();
    drop(resp_tx);
    while let Some(f) = body.frame().await {
        f.unwrap();
    }
    assert_eq!((req_msgs(), resp_msgs()), (5.0, 9.0), "the final deltas at the end");
    assert_eq!(
        value(&registry, "istio_requests_total", &[("grpc_response_status", "0")]),
        1.0
    );
}

#[tokio::test]
async fn the_announced_content_length_ends_the_stream() {
    let (registry, t) = inbound(&PluginConfig::default());
    let (tx, body) = channel();
    let mut body = Some(body);
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(move |_req: Request<RequestBody<ChannelBody>>| {
            let b = body.take().unwrap();
            async move { Ok::<_, Infallible>(Response::builder().header("content-length", "6").body(b).unwrap()) }
        });
    let mut body = svc.oneshot(mesh_request("/", &[])).await.unwrap().into_body();
    tx.send(Ok(Frame::data(Bytes::from_static(b"abc")))).unwrap();
    body.frame().await.unwrap().unwrap();
    assert_eq!(requests(&registry), 0.0);
    tx.send(Ok(Frame::data(Bytes::from_static(b"def")))).unwrap();
    body.frame().await.unwrap().unwrap();
    // hyper stops polling here; the sender is still open, yet the stream is complete.
    assert_eq!(
        value(&registry, "istio_requests_total", &[("response_flags", "-")]),
        1.0
    );
    drop(body);
    assert_eq!(requests(&registry), 1.0, "the drop does not record again");
}

#[tokio::test]
async fn concurrent_streams_of_one_connection_keep_their_own_peers() {
    let (registry, t) = inbound(&PluginConfig::default());
    let bodies = std::sync::Mutex::new(vec![]);
    let senders: Vec<ChannelTx> = (0..2)
        .map(|_| {
            let (tx, body) = channel();
            bodies.lock().unwrap().push(body);
            tx
        })
        .collect();
    let bodies = std::sync::Arc::new(bodies);
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(move |_req: Request<RequestBody<ChannelBody>>| {
            let b = bodies.lock().unwrap().remove(0);
            async move { Ok::<_, Infallible>(Response::new(b)) }
        });
    let peer_request = |r: &meshtel_wire::workload::WorkloadMetadata| {
        Request::get("/")
            .header(PEER, header_of(r))
            .body(chunks_body(&[], None))
            .unwrap()
    };
    let a = svc.clone().oneshot(peer_request(&client_record())).await.unwrap();
    let b = svc
        .clone()
        .oneshot(peer_request(&record("reviews-v2", "c", "reviews", "reviews")))
        .await
        .unwrap();
    // The second stream ends first, then the first: each with its own peer.
    drop(senders);
    b.into_body().collect().await.unwrap();
    a.into_body().collect().await.unwrap();
    assert_eq!(
        value(&registry, "istio_requests_total", &[("source_workload", "reviews-v2")]),
        1.0
    );
    assert_eq!(
        value(
            &registry,
            "istio_requests_total",
            &[("source_workload", "productpage-v1")]
        ),
        1.0
    );
}

/// A gRPC service that reads two request messages (one data frame), then takes 1.5 s to
/// answer; the test looks at the message counters while it waits.
async fn periodic_before_the_response(inbound_side: bool) -> (f64, f64) {
    let (registry, t) = if inbound_side {
        inbound(&period(1))
    } else {
        outbound(&period(1))
    };
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(|req: Request<RequestBody<ChannelBody>>| async move {
            let mut body = req.into_body();
            body.frame().await.unwrap().unwrap();
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/grpc")
                    .header("grpc-status", "0")
                    .body(Empty::<Bytes>::new())
                    .unwrap(),
            )
        });
    let msgs = grpc_frames(&[b"a", b"b"]);
    let req = Request::post("/s.S/M")
        .version(http::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header(PEER, header_of(&client_record()))
        .body(chunks_body(&[&msgs], None))
        .unwrap();
    let call = tokio::spawn(svc.oneshot(req));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let during = value(&registry, "istio_request_messages_total", &[]);
    call.await.unwrap().unwrap();
    let after = value(&registry, "istio_request_messages_total", &[]);
    assert_eq!(requests(&registry), 1.0);
    (during, after)
}

#[tokio::test(start_paused = true)]
async fn inbound_grpc_reports_on_the_timer_while_the_response_is_pending() {
    assert_eq!(periodic_before_the_response(true).await, (2.0, 2.0));
}

#[tokio::test(start_paused = true)]
async fn outbound_grpc_waits_for_the_upstream_peer_before_reporting() {
    // The upstream peer is known at the response head: no periodic report before it; the
    // deltas come at the end.
    assert_eq!(periodic_before_the_response(false).await, (0.0, 2.0));
}

#[tokio::test]
async fn connection_facts_in_a_response_extension_apply_from_then_on() {
    let (registry, t) = outbound(&PluginConfig::default());
    let mut first = true;
    let svc = ServiceBuilder::new()
        .layer(layer(&t))
        .service_fn(move |_req: Request<RequestBody<ChannelBody>>| {
            let mut response = Response::builder()
                .header(PEER, header_of(&server_record()))
                .body(Empty::<Bytes>::new())
                .unwrap();
            if std::mem::take(&mut first) {
                // The proxy has just connected with mTLS: the upstream's SAN.
                let tls = meshtel::Tls {
                    local_san: "spiffe://cluster.local/ns/default/sa/productpage".into(),
                    peer_san: "spiffe://cluster.local/ns/prod/sa/ratings".into(),
                };
                response
                    .extensions_mut()
                    .insert(meshtel::ConnectionFacts::default().with_tls(Some(tls)));
            }
            async move { Ok::<_, Infallible>(response) }
        });
    let mut svc = svc;
    for _ in 0..2 {
        let req = Request::get("/").body(chunks_body(&[], None)).unwrap();
        let response = ServiceExt::ready(&mut svc).await.unwrap().call(req).await.unwrap();
        assert!(response.extensions().get::<meshtel::ConnectionFacts>().is_none());
    }
    let labels = [
        ("destination_principal", "spiffe://cluster.local/ns/prod/sa/ratings"),
        ("destination_workload_namespace", "prod"),
        ("source_principal", "spiffe://cluster.local/ns/default/sa/productpage"),
        ("destination_workload", "ratings-v1"),
    ];
    assert_eq!(value(&registry, "istio_requests_total", &labels), 2.0);
}
