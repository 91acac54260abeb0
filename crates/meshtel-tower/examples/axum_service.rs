//! An axum application behind the layer, as the server sidecar of a workload would run it
//! (inbound, `reporter="destination"`): the layer wraps the whole `Router`, one connection
//! state per accepted connection, so every route is recorded with no change to a handler.
//!
//! A client sends three requests, one of them with the peer headers a client sidecar adds;
//! then the server's `istio_requests_total` is printed. Run:
//! `cargo run -p meshtel-tower --example axum_service`.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin};
use meshtel_metrics::{Format, Registry};
use meshtel_tower::{BoxError, MeshtelLayer, Telemetry};
use meshtel_wire::workload::WorkloadMetadata;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;

/// The application: plain axum handlers, unaware of the mesh.
fn app() -> Router {
    Router::new()
        .route(
            "/ratings/{id}",
            get(|Path(id): Path<u32>| async move { format!("{{\"id\": {id}, \"stars\": 5}}\n") }),
        )
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move { StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST) }),
        )
}

/// The server sidecar's telemetry: its node, registry and peer record.
fn telemetry(registry: &Registry) -> Result<Arc<Telemetry>, BoxError> {
    let node = serde_json::json!({"WORKLOAD_NAME": "ratings-v1", "NAMESPACE": "default",
        "LABELS": {"app": "ratings", "service.istio.io/canonical-name": "ratings"}});
    let plugin = StatsPlugin::new(
        LocalNode::from_json(&node),
        Reporter::Inbound,
        &PluginConfig::default(),
        registry,
    )?;
    let mut record = WorkloadMetadata::default();
    (record.workload, record.namespace, record.service) = ("ratings-v1".into(), "default".into(), "ratings".into());
    let id = "sidecar~127.0.0.1~ratings-v1.default~default.svc.cluster.local";
    Ok(Arc::new(Telemetry::new(plugin).with_local_peer(&record, id)?))
}

/// The peer header value a client sidecar (productpage) sends: its record, encoded.
fn client_peer_header() -> String {
    let mut client = WorkloadMetadata::default();
    (client.workload, client.namespace, client.service) =
        ("productpage-v1".into(), "default".into(), "productpage".into());
    meshtel_wire::header::encode_peer_header(&client.to_struct())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let registry = Registry::default();
    let telemetry = telemetry(&registry)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = app();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // From a TLS handshake, these facts would carry the principals and mTLS.
            let layer = MeshtelLayer::new(Arc::clone(&telemetry)).with_connection(ConnectionFacts::default());
            let service = TowerToHyperService::new(ServiceBuilder::new().layer(layer).service(router.clone()));
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });

    let peer = client_peer_header();
    for (path, from_mesh) in [("/ratings/7", true), ("/status/503", true), ("/ratings/8", false)] {
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(TcpStream::connect(addr).await?)).await?;
        tokio::spawn(conn);
        let mut req = Request::get(path).header("host", "ratings:9080");
        if from_mesh {
            req = req.header("x-envoy-peer-metadata", &peer);
        }
        let response = send.send_request(req.body(Empty::<Bytes>::new())?).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        println!("{path}: {status} {}", String::from_utf8_lossy(&body).trim_end());
    }
    // The layer records when a response body ends; give the server's tasks a moment.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    for line in registry
        .render_to_string(Format::Prometheus)
        .lines()
        .filter(|l| l.starts_with("istio_requests_total{"))
    {
        println!("{line}");
    }
    Ok(())
}
