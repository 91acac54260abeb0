//! Shared test helpers: nodes, layers, bodies, reading metrics back.
#![allow(dead_code, unreachable_pub)]

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
use meshtel_metrics::{Format, Registry};
use meshtel_tower::{MeshtelLayer, Telemetry};
use meshtel_wire::workload::{WorkloadMetadata, WorkloadType};

pub const CLIENT_ID: &str = "sidecar~10.0.0.1~productpage-v1-84975bc778-pxz2w.default~default.svc.cluster.local";
pub const SERVER_ID: &str = "sidecar~10.0.0.2~ratings-v1-5f8d.default~default.svc.cluster.local";

pub fn client_node() -> LocalNode {
    LocalNode::from_json(&serde_json::json!({
        "NAMESPACE": "default", "WORKLOAD_NAME": "productpage-v1", "CLUSTER_ID": "client-cluster",
        "LABELS": {"app": "productpage", "version": "v1",
                   "service.istio.io/canonical-name": "productpage-v1",
                   "service.istio.io/canonical-revision": "version-1"}
    }))
}

pub fn server_node() -> LocalNode {
    LocalNode::from_json(&serde_json::json!({
        "NAMESPACE": "default", "WORKLOAD_NAME": "ratings-v1", "CLUSTER_ID": "server-cluster",
        "LABELS": {"app": "ratings", "version": "v1",
                   "service.istio.io/canonical-name": "ratings",
                   "service.istio.io/canonical-revision": "version-1"}
    }))
}

pub fn record(workload: &str, cluster: &str, service: &str, app: &str) -> WorkloadMetadata {
    let mut r = WorkloadMetadata::default();
    r.workload = workload.into();
    r.namespace = "default".into();
    r.cluster = cluster.into();
    r.service = service.into();
    r.revision = "version-1".into();
    r.app = app.into();
    r.version = "v1".into();
    r.workload_type = WorkloadType::Deployment;
    r
}

pub fn client_record() -> WorkloadMetadata {
    record("productpage-v1", "client-cluster", "productpage-v1", "productpage")
}

pub fn server_record() -> WorkloadMetadata {
    record("ratings-v1", "server-cluster", "ratings", "ratings")
}

/// The `x-envoy-peer-metadata` value of `record`.
pub fn header_of(record: &WorkloadMetadata) -> String {
    meshtel_wire::header::encode_peer_header(&record.to_struct())
}

/// A server sidecar's telemetry (inbound, with its own headers).
pub fn inbound(config: &PluginConfig) -> (Registry, Arc<Telemetry>) {
    let registry = Registry::default();
    let plugin = StatsPlugin::new(server_node(), Reporter::Inbound, config, &registry).unwrap();
    let t = Telemetry::new(plugin)
        .with_local_peer(&server_record(), SERVER_ID)
        .unwrap();
    (registry, Arc::new(t))
}

/// A client sidecar's telemetry (outbound, with its own headers).
pub fn outbound(config: &PluginConfig) -> (Registry, Arc<Telemetry>) {
    let registry = Registry::default();
    let plugin = StatsPlugin::new(client_node(), Reporter::Outbound, config, &registry).unwrap();
    let t = Telemetry::new(plugin)
        .with_local_peer(&client_record(), CLIENT_ID)
        .unwrap();
    (registry, Arc::new(t))
}

pub fn layer(t: &Arc<Telemetry>) -> MeshtelLayer {
    MeshtelLayer::new(Arc::clone(t))
}

/// A config whose gRPC reporting period is `seconds` (0 disables it).
pub fn period(seconds: u64) -> PluginConfig {
    PluginConfig::from_json(&format!(r#"{{"tcp_reporting_duration": "{seconds}s"}}"#)).unwrap()
}

/// The sum of the samples of `metric` (the full exposed name, e.g. `istio_request_bytes_sum`)
/// whose labels include every `k="v"` of `labels`.
pub fn value(registry: &Registry, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let text = registry.render_to_string(Format::Prometheus);
    let prefix = format!("{metric}{{");
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!(",{k}=\"{v}\"")) || l.contains(&format!("{{{k}=\"{v}\"")))
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum()
}

/// `istio_requests_total` over all series.
pub fn requests(registry: &Registry) -> f64 {
    value(registry, "istio_requests_total", &[])
}

/// Builds gRPC length-prefixed messages.
pub fn grpc_frames(payloads: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.push(0);
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// A body fed from a channel, frame by frame (data and trailers), for streaming tests.
#[derive(Debug)]
pub struct ChannelBody {
    rx: tokio::sync::mpsc::UnboundedReceiver<Result<Frame<Bytes>, std::io::Error>>,
}

pub type ChannelTx = tokio::sync::mpsc::UnboundedSender<Result<Frame<Bytes>, std::io::Error>>;

pub fn channel() -> (ChannelTx, ChannelBody) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (tx, ChannelBody { rx })
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx)
    }
}

/// A body that yields `chunks` as data frames, then `trailers` if any.
pub fn chunks_body(chunks: &[&[u8]], trailers: Option<http::HeaderMap>) -> ChannelBody {
    let (tx, body) = channel();
    for c in chunks {
        tx.send(Ok(Frame::data(Bytes::copy_from_slice(c)))).unwrap();
    }
    if let Some(t) = trailers {
        tx.send(Ok(Frame::trailers(t))).unwrap();
    }
    body
}
