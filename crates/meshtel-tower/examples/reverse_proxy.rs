//! A minimal reverse proxy with the layer, and the server it proxies to with the layer too.
//!
//! The proxy plays the client sidecar (outbound, `reporter="source"`): it sends its own peer
//! headers upstream and learns the upstream's from the response. The server plays the server
//! sidecar (inbound, `reporter="destination"`). Three requests go through; then both sides'
//! `istio_requests_total` are printed. Run: `cargo run -p meshtel-tower --example reverse_proxy`.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin};
use meshtel_metrics::{Format, Registry};
use meshtel_tower::{BoxError, MeshtelLayer, RequestBody, Telemetry, UpstreamError};
use meshtel_wire::workload::WorkloadMetadata;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;

/// One sidecar's telemetry: its node, its registry, its direction.
fn sidecar(workload: &str, reporter: Reporter) -> Result<(Registry, Arc<Telemetry>), BoxError> {
    let registry = Registry::default();
    let node = serde_json::json!({"WORKLOAD_NAME": workload, "NAMESPACE": "default",
        "LABELS": {"app": workload, "service.istio.io/canonical-name": workload}});
    let plugin = StatsPlugin::new(
        LocalNode::from_json(&node),
        reporter,
        &PluginConfig::default(),
        &registry,
    )?;
    let mut record = WorkloadMetadata::default();
    (record.workload, record.namespace, record.service) = (workload.into(), "default".into(), workload.into());
    let id = format!("sidecar~127.0.0.1~{workload}.default~default.svc.cluster.local");
    Ok((
        registry,
        Arc::new(Telemetry::new(plugin).with_local_peer(&record, &id)?),
    ))
}

/// Serves `service` on `listener`, one layer (one connection state) per accepted connection.
async fn serve<F, Fut, B>(listener: TcpListener, telemetry: Arc<Telemetry>, handler: F)
where
    F: Fn(Request<RequestBody<Incoming>>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Response<B>, UpstreamError>> + Send + 'static,
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    while let Ok((stream, _)) = listener.accept().await {
        // TLS SANs, principals, a peer from workload discovery would go into these facts.
        let layer = MeshtelLayer::new(Arc::clone(&telemetry)).with_connection(ConnectionFacts::default());
        let service = TowerToHyperService::new(ServiceBuilder::new().layer(layer).service_fn(handler.clone()));
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// The proxy's inner service: forwards the (metered) request upstream. A failed connect is
/// reported as `UF`, a failed exchange as `UR`.
async fn forward(
    mut req: Request<RequestBody<Incoming>>,
    upstream: SocketAddr,
) -> Result<Response<Incoming>, UpstreamError> {
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

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (server_registry, server) = sidecar("ratings-v1", Reporter::Inbound)?;
    let (proxy_registry, proxy) = sidecar("productpage-v1", Reporter::Outbound)?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let upstream = listener.local_addr()?;
    tokio::spawn(serve(listener, server, |_req| async {
        Ok(Response::new(Full::new(Bytes::from_static(b"{\"stars\": 5}\n"))))
    }));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let proxy_addr = listener.local_addr()?;
    tokio::spawn(serve(listener, proxy, move |req| forward(req, upstream)));

    for _ in 0..3 {
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(TcpStream::connect(proxy_addr).await?)).await?;
        tokio::spawn(conn);
        let req = Request::get("/ratings/0")
            .header("host", "ratings:9080")
            .body(Empty::<Bytes>::new())?;
        let body = send.send_request(req).await?.into_body().collect().await?.to_bytes();
        print!("{}", String::from_utf8_lossy(&body));
    }
    // The server records when its response body ends; give its task a moment.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    for (side, registry) in [("proxy", &proxy_registry), ("server", &server_registry)] {
        let text = registry.render_to_string(Format::Prometheus);
        for line in text.lines().filter(|l| l.starts_with("istio_requests_total{")) {
            println!("{side}: {line}");
        }
    }
    Ok(())
}
