//! A misbehaving peer never crashes a sidecar: the connection proceeds as non-mesh or
//! closes, and `meshtel_demo_peer_exchange_total{outcome}` says why. After each case the
//! sidecars still carry normal traffic.

use std::time::Duration;

use meshtel_metrics::Format;
use meshtel_wire::alpn;
use meshtel_wire::frame::{FrameDecoder, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::sidecar::Sidecar;
use super::{Mesh, load, metrics, pki, start_mesh};

async fn tls(mesh: &Mesh, alpn: &[&str]) -> tokio_rustls::client::TlsStream<TcpStream> {
    let config = mesh.pki.client_config(&mesh.pki.client, alpn).unwrap();
    let stream = TcpStream::connect(mesh.targets.server).await.unwrap();
    TlsConnector::from(config)
        .connect(pki::server_name().unwrap(), stream)
        .await
        .unwrap()
}

/// Reads everything; returns what follows the server sidecar's own frame.
async fn after_server_frame(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> Vec<u8> {
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut all)).await;
    let mut decoder = FrameDecoder::default();
    match decoder.decode(&all) {
        Ok(Status::Frame { consumed, .. }) => all[consumed..].to_vec(),
        other => panic!("the server sidecar sends its frame first: {other:?}"),
    }
}

fn outcome(sc: &Sidecar, label: &str) -> f64 {
    let s = metrics::samples(&sc.registry.render_to_string(Format::Prometheus));
    metrics::sum_by(&s, "meshtel_demo_peer_exchange_total", &["outcome"])
        .get(&vec![label.to_owned()])
        .copied()
        .unwrap_or(0.0)
}

async fn eventually(mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not reached");
}

fn load(requests: u64, connections: u64, grpc_rounds: u64, seed: u64) -> load::Load {
    load::Load {
        requests,
        connections,
        grpc_rounds,
        seed,
    }
}

/// Normal traffic still flows through both sidecars.
async fn still_serving(mesh: &Mesh) {
    let truth = load::run(mesh.targets, load(5, 1, 1, 7)).await;
    assert_eq!(truth.mesh_requests.values().sum::<u64>(), 5);
    assert_eq!(truth.tcp_connections, 1);
    assert_eq!(truth.grpc.total(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_alpn_is_application_data() {
    let mesh = start_mesh().await.unwrap();
    let mut s = tls(&mesh, alpn::IN_MESH_WITH_MXC).await;
    s.write_all(b"hello, this is not a frame").await.unwrap();
    s.shutdown().await.unwrap();
    assert_eq!(after_server_frame(&mut s).await, b"hello, this is not a frame");
    eventually(|| outcome(&mesh.server, "not_a_frame") == 1.0).await;
    // Recorded as non-mesh: the peer is unknown (the TLS identity still counts).
    eventually(|| {
        let s = metrics::samples(&mesh.server.registry.render_to_string(Format::Prometheus));
        let closed = metrics::sum_by(
            &s,
            "istio_tcp_connections_closed_total",
            &["source_workload", "connection_security_policy"],
        );
        closed.get(&vec!["unknown".to_owned(), "mutual_tls".to_owned()]) == Some(&1.0)
    })
    .await;
    still_serving(&mesh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_frame_is_skipped_without_buffering() {
    let mesh = start_mesh().await.unwrap();
    let mut s = tls(&mesh, alpn::IN_MESH_WITH_MXC).await;
    let declared: u32 = 1 << 20;
    let mut frame = vec![0x3d, 0x23, 0x04, 0x67];
    frame.extend_from_slice(&declared.to_be_bytes());
    s.write_all(&frame).await.unwrap();
    let junk = vec![0xAAu8; declared as usize];
    let writer = async {
        s.write_all(&junk).await.unwrap();
        s.write_all(b"after the frame").await.unwrap();
        s.shutdown().await.unwrap();
        s
    };
    let mut s = writer.await;
    assert_eq!(after_server_frame(&mut s).await, b"after the frame");
    eventually(|| outcome(&mesh.server, "frame_too_large") == 1.0).await;
    still_serving(&mesh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frame_closes_the_connection() {
    let mesh = start_mesh().await.unwrap();
    let mut s = tls(&mesh, alpn::IN_MESH_WITH_MXC).await;
    s.write_all(&[0x3d, 0x23, 0x04, 0x67, 0, 0, 0, 100, 1, 2, 3])
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    assert!(after_server_frame(&mut s).await.is_empty());
    eventually(|| outcome(&mesh.server, "frame_truncated") == 1.0).await;
    still_serving(&mesh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_cut_off_mid_frame_is_counted_and_its_connection_closed() {
    let mesh = start_mesh().await.unwrap();
    let mut s = tls(&mesh, alpn::IN_MESH_WITH_MXC).await;
    s.write_all(&[0x3d, 0x23, 0x04, 0x67, 0, 0, 0, 100, 1, 2, 3])
        .await
        .unwrap();
    s.flush().await.unwrap();
    // Gone without TLS's close_notify: the exchange's read fails.
    drop(s);
    eventually(|| outcome(&mesh.server, "exchange_failed") == 1.0).await;
    eventually(|| {
        let s = metrics::samples(&mesh.server.registry.render_to_string(Format::Prometheus));
        let tcp = |m: &str| metrics::sum_by(&s, m, &[]).values().sum::<f64>();
        tcp("istio_tcp_connections_opened_total") == 1.0 && tcp("istio_tcp_connections_closed_total") == 1.0
    })
    .await;
    still_serving(&mesh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_header_value_makes_a_non_mesh_request() {
    let mesh = start_mesh().await.unwrap();
    let s = tls(&mesh, &[alpn::ISTIO_HTTP11, alpn::ISTIO, alpn::HTTP11]).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .uri("/ratings/1")
        .header("host", "ratings:9080")
        .header("x-envoy-peer-metadata", "!!! not base64 !!!")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().contains_key("x-envoy-peer-metadata"),
        "the sidecar still sends its own metadata"
    );
    assert_eq!(outcome(&mesh.server, "header_invalid"), 1.0);
    let s = metrics::samples(&mesh.server.registry.render_to_string(Format::Prometheus));
    let by = metrics::sum_by(
        &s,
        "istio_requests_total",
        &["source_workload", "connection_security_policy"],
    );
    assert_eq!(by.get(&vec!["unknown".to_owned(), "mutual_tls".to_owned()]), Some(&1.0));
    still_serving(&mesh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mesh_records_what_the_load_saw() {
    let mesh = start_mesh().await.unwrap();
    let truth = load::run(mesh.targets, load(40, 4, 5, 3)).await;
    super::settle(&mesh, truth.tcp_connections).await;
    // Streams and trailers cross both sidecars: replies, then the status in the trailers.
    let expand = truth.grpc.calls["/meshtel.demo.v1.Echo/Expand 5"];
    assert_eq!((expand.calls, expand.response_messages), (1, 3));
    let chat = truth.grpc.calls["/meshtel.demo.v1.Echo/Chat 14"];
    assert_eq!((chat.calls, chat.request_messages, chat.response_messages), (1, 3, 6));
    assert_eq!(truth.grpc.total(), 25);
    for (sc, reporter, csp) in [
        (&mesh.client, "source", "unknown"),
        (&mesh.server, "destination", "mutual_tls"),
    ] {
        let s = metrics::samples(&sc.registry.render_to_string(Format::Prometheus));
        let by_code = metrics::sum_by(
            &s,
            "istio_requests_total",
            &[
                "request_protocol",
                "reporter",
                "connection_security_policy",
                "response_code",
            ],
        );
        for (code, n) in &truth.mesh_requests {
            let key = vec!["http".to_owned(), reporter.to_owned(), csp.to_owned(), code.to_string()];
            assert_eq!(by_code.get(&key), Some(&(*n as f64)), "{reporter} {code}");
        }
        let grpc = metrics::sum_by(
            &s,
            "istio_requests_total",
            &["request_protocol", "grpc_response_status"],
        );
        for (code, n) in truth.grpc.by_status() {
            let key = vec!["grpc".to_owned(), code.to_string()];
            assert_eq!(grpc.get(&key), Some(&(n as f64)), "{reporter} grpc {code}");
        }
        assert_eq!(
            grpc.iter().filter(|(k, _)| k[0] == "grpc").map(|(_, n)| n).sum::<f64>(),
            truth.grpc.total() as f64
        );
        // gRPC messages as the tonic client counted them, exactly, both ways.
        let (sent, received) = truth.grpc.messages();
        let total = |m: &str| metrics::sum_by(&s, m, &[]).values().sum::<f64>();
        assert_eq!(total("istio_request_messages_total"), sent as f64, "{reporter}");
        assert_eq!(total("istio_response_messages_total"), received as f64, "{reporter}");
        let tcp = |m: &str| metrics::sum_by(&s, m, &[]).values().sum::<f64>();
        assert_eq!(tcp("istio_tcp_connections_opened_total"), 4.0);
        assert_eq!(tcp("istio_tcp_connections_closed_total"), 4.0);
        assert_eq!(tcp("istio_tcp_sent_bytes_total"), truth.tcp_bytes as f64);
        assert_eq!(tcp("istio_tcp_received_bytes_total"), truth.tcp_bytes as f64);
    }
    // Plain requests reached the server sidecar as non-mesh traffic.
    let s = metrics::samples(&mesh.server.registry.render_to_string(Format::Prometheus));
    let none = metrics::sum_by(
        &s,
        "istio_requests_total",
        &["connection_security_policy", "source_workload"],
    );
    assert_eq!(
        none.get(&vec!["none".to_owned(), "unknown".to_owned()]),
        Some(&(truth.plain_requests.values().sum::<u64>() as f64))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_between_the_sidecars_negotiates_istio_h2() {
    let mesh = start_mesh().await.unwrap();
    let s = tls(&mesh, &[alpn::ISTIO_H2, alpn::ISTIO, alpn::H2]).await;
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(alpn::ISTIO_H2.as_bytes()));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(s))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .uri("http://ratings:9080/bytes/100")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    // A request without the peer headers gets none back (`docs/reference/wire.md` §6.3).
    assert!(!response.headers().contains_key("x-envoy-peer-metadata"));
    let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap();
    assert_eq!(body.to_bytes().len(), 100);
    // With them, the response carries the server sidecar's, on the same HTTP/2 connection.
    let mut record = meshtel_wire::workload::WorkloadMetadata::default();
    record.workload = "productpage-v1".into();
    let req = hyper::Request::builder()
        .uri("http://ratings:9080/status/204")
        .header(
            "x-envoy-peer-metadata",
            meshtel_wire::header::encode_peer_header(&record.to_struct()),
        )
        .header(
            "x-envoy-peer-metadata-id",
            "sidecar~127.0.0.1~productpage.default~default.svc.cluster.local",
        )
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), 204);
    assert!(response.headers().contains_key("x-envoy-peer-metadata"));
    assert!(response.headers().contains_key("x-envoy-peer-metadata-id"));
    assert_eq!(outcome(&mesh.server, "header_found"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_peers_are_closed_and_counted() {
    let limits = super::limits::Limits {
        header_read: Duration::from_millis(300),
        idle: Duration::from_millis(400),
        exchange: Duration::from_millis(300),
    };
    let mesh = super::start_mesh_with(super::MeshOptions {
        limits,
        ..Default::default()
    })
    .await
    .unwrap();
    let timeouts = |sc: &Sidecar, reason: &str| {
        let s = metrics::samples(&sc.registry.render_to_string(Format::Prometheus));
        metrics::sum_by(&s, "meshtel_demo_timeouts_total", &["reason"])
            .get(&vec![reason.to_owned()])
            .copied()
            .unwrap_or(0.0)
    };
    // A half-sent head to the client sidecar: closed by the header-read timeout.
    let mut half = TcpStream::connect(mesh.targets.client_http).await.unwrap();
    half.write_all(b"GET /status/200 HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), half.read_to_end(&mut rest)).await;
    eventually(|| timeouts(&mesh.client, "header_read") == 1.0).await;
    // A keep-alive HTTP/2 connection, silent after its request: closed as idle.
    let stream = TcpStream::connect(mesh.targets.client_http).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    let req = hyper::Request::builder()
        .uri("http://ratings:9080/status/204")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    assert_eq!(sender.send_request(req).await.unwrap().status(), 204);
    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
    eventually(|| timeouts(&mesh.client, "idle") == 1.0).await;
    // An mTLS peer that never sends its frame: the exchange times out, the connection
    // closes, and it is still recorded as opened and closed.
    let mut stalled = tls(&mesh, alpn::IN_MESH_WITH_MXC).await;
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stalled.read_to_end(&mut all)).await;
    eventually(|| timeouts(&mesh.server, "exchange") == 1.0).await;
    assert_eq!(outcome(&mesh.server, "exchange_timeout"), 1.0);
    eventually(|| {
        let s = metrics::samples(&mesh.server.registry.render_to_string(Format::Prometheus));
        let tcp = |m: &str| metrics::sum_by(&s, m, &[]).values().sum::<f64>();
        tcp("istio_tcp_connections_opened_total") == 1.0 && tcp("istio_tcp_connections_closed_total") == 1.0
    })
    .await;
    // A TCP peer that connects and sends nothing: no TLS handshake in time.
    let mut silent = TcpStream::connect(mesh.targets.server).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut all)).await;
    eventually(|| timeouts(&mesh.server, "handshake") == 1.0).await;
    still_serving(&mesh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_watch_streams_through_both_sidecars_and_is_recorded_when_cancelled() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let mesh = start_mesh().await.unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", mesh.targets.client_http))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let mut watch = health
        .watch(HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    // Nothing is recorded while the stream is open.
    let grpc = |sc: &Sidecar| {
        let s = metrics::samples(&sc.registry.render_to_string(Format::Prometheus));
        metrics::sum_by(
            &s,
            "istio_requests_total",
            &["request_protocol", "grpc_response_status"],
        )
        .into_iter()
        .filter(|(k, _)| k[0] == "grpc")
        .map(|(k, n)| (k[1].clone(), n))
        .collect::<Vec<_>>()
    };
    assert!(grpc(&mesh.client).is_empty());
    // Cancelled: recorded on both sidecars with no grpc-status, so from HTTP 200: 2 (UNKNOWN).
    drop(watch);
    eventually(|| grpc(&mesh.client) == [("2".to_owned(), 1.0)] && grpc(&mesh.server) == [("2".to_owned(), 1.0)]).await;
    still_serving(&mesh).await;
}

/// A server sidecar as the meshtel module in Envoy is one (proxy-wasm): it reads the client's
/// frame and request, and can send its own frame only in front of its first response bytes.
/// The client sidecar forwards the request without waiting, finds the frame in the
/// response, and labels the connection with the server's workload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_sidecar_finds_a_frame_that_comes_with_the_response() {
    use meshtel_wire::frame::{FrameConfig, encode_frame};
    use meshtel_wire::workload::WorkloadMetadata;

    let pki = pki::generate().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let mut record = WorkloadMetadata::default();
    record.workload = "reviews-v2".into();
    record.namespace = "default".into();
    let frame = encode_frame(&record.to_struct(), "reviews-node", &FrameConfig::default()).unwrap();
    let payload = b"one request, echoed after the server's frame".to_vec();
    let want = payload.len();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(stream).await.unwrap();
        // The client's frame, then the whole request, before a byte goes back.
        let mut held = Vec::new();
        let consumed = loop {
            let mut buf = [0u8; 4096];
            let n = tls.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client sidecar closed before its frame");
            held.extend_from_slice(&buf[..n]);
            if let Ok(Status::Frame { consumed, .. }) = FrameDecoder::default().decode(&held) {
                break consumed;
            }
        };
        let mut request = held.split_off(consumed);
        while request.len() < want {
            let mut buf = [0u8; 4096];
            let n = tls.read(&mut buf).await.unwrap();
            assert!(n > 0, "the request was cut short");
            request.extend_from_slice(&buf[..n]);
        }
        let mut response = frame;
        response.extend_from_slice(&request);
        tls.write_all(&response).await.unwrap();
        tls.shutdown().await.unwrap();
        request
    });
    let options = super::MeshOptions {
        pki: Some(pki),
        upstream: Some(upstream),
        ..super::MeshOptions::default()
    };
    let mesh = super::start_mesh_with(options).await.unwrap();
    let mut app = TcpStream::connect(mesh.targets.client_tcp).await.unwrap();
    app.write_all(&payload).await.unwrap();
    let mut echoed = vec![0; want];
    tokio::time::timeout(Duration::from_secs(5), app.read_exact(&mut echoed))
        .await
        .expect("answered well within the exchange timeout")
        .unwrap();
    assert_eq!(echoed, payload);
    assert_eq!(server.await.unwrap(), payload);
    drop(app);
    eventually(|| outcome(&mesh.client, "frame_found") == 1.0).await;
    let closed = || {
        let s = metrics::samples(&mesh.client.registry.render_to_string(Format::Prometheus));
        metrics::sum_by(&s, "istio_tcp_connections_closed_total", &["destination_workload"])
    };
    eventually(|| closed().get(&vec!["reviews-v2".to_owned()]) == Some(&1.0)).await;
    assert_eq!(outcome(&mesh.client, "exchange_timeout"), 0.0);
}

/// The CLI's placement: each sidecar on a runtime of its own, the caller's runtime holding
/// only the backends and the load. The mesh records the same load as on one runtime.
#[test]
fn sidecars_on_runtimes_of_their_own_record_the_load() {
    let client = super::sidecar_runtime("client-sidecar").unwrap();
    let server = super::sidecar_runtime("server-sidecar").unwrap();
    let main = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    main.block_on(async {
        let mesh = super::start_mesh_with(super::MeshOptions {
            placement: super::Placement {
                client: Some(client.handle().clone()),
                server: Some(server.handle().clone()),
            },
            ..Default::default()
        })
        .await
        .unwrap();
        let truth = load::run(mesh.targets, load(30, 3, 2, 5)).await;
        super::settle(&mesh, truth.tcp_connections).await;
        for sc in [&mesh.client, &mesh.server] {
            let s = metrics::samples(&sc.registry.render_to_string(Format::Prometheus));
            let total = |m: &str| metrics::sum_by(&s, m, &[]).values().sum::<f64>();
            let mesh_requests: u64 = truth.mesh_requests.values().sum();
            assert!(total("istio_requests_total") >= mesh_requests as f64);
            assert_eq!(total("istio_tcp_connections_closed_total"), 3.0);
            assert_eq!(total("istio_tcp_sent_bytes_total"), truth.tcp_bytes as f64);
        }
    });
    // The sidecars' accept loops live on their runtimes: the client's HTTP and TCP
    // listeners, the server's one.
    assert!(client.metrics().num_alive_tasks() >= 2);
    assert!(server.metrics().num_alive_tasks() >= 1);
}
