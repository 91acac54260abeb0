//! Shared inputs of the meshtel benches, so every bench (and its peer) runs
//! on the same bytes.

use meshtel_wire::frame::{FrameConfig, encode_frame};
use meshtel_wire::proto::Struct;
use meshtel_wire::workload::WorkloadMetadata;

/// Node metadata of a realistic sidecar: a Deployment with the usual pod
/// labels and locality, plus two configured additional labels. The frame is
/// about 700 bytes.
pub const NODE_METADATA: &str = r#"{
  "NAME": "productpage-v1-84975bc778-pxz2w",
  "NAMESPACE": "bookinfo-production",
  "WORKLOAD_NAME": "productpage-v1",
  "CLUSTER_ID": "gke-europe-west1-prod-cluster-01",
  "OWNER": "kubernetes://apis/apps/v1/namespaces/bookinfo-production/deployments/productpage-v1",
  "REGION": "europe-west1",
  "AVAILABILITY_ZONE": "europe-west1-b",
  "LABELS": {
    "app": "productpage",
    "version": "v1",
    "pod-template-hash": "84975bc778",
    "service.istio.io/canonical-name": "productpage",
    "service.istio.io/canonical-revision": "v1",
    "security.istio.io/tlsMode": "istio",
    "team": "storefront",
    "tier": "frontend"
  },
  "ISTIO_VERSION": "1.24.0",
  "MESH_ID": "cluster.local"
}"#;

/// The node id sent with the record.
pub const NODE_ID: &str =
    "sidecar~10.48.3.17~productpage-v1-84975bc778-pxz2w.bookinfo-production~bookinfo-production.svc.cluster.local";

/// Additional labels configured for exchange.
pub const ADDITIONAL_LABELS: &[&str] = &["team", "tier"];

/// The record Struct a sidecar sends (wire spec 1.2).
///
/// # Panics
/// Never: the JSON above is valid.
#[must_use]
pub fn record() -> Struct {
    let node: Struct = serde_json::from_str(NODE_METADATA).expect("valid JSON");
    WorkloadMetadata::from_node_metadata(&node, ADDITIONAL_LABELS).to_struct()
}

/// The frame a sidecar sends.
///
/// # Panics
/// Never: the record is far below the payload limit.
#[must_use]
pub fn frame() -> Vec<u8> {
    encode_frame(&record(), NODE_ID, &FrameConfig::default()).expect("small frame")
}

/// The `x-envoy-peer-metadata` value a sidecar sends.
#[must_use]
pub fn header() -> String {
    meshtel_wire::header::encode_peer_header(&record())
}

/// The outer Struct of the frame as prost builds it.
#[must_use]
pub fn prost_outer() -> prost_types::Struct {
    let mut outer = prost_types::Struct::default();
    outer.fields.insert(
        "x-envoy-peer-metadata".into(),
        prost_types::Value {
            kind: Some(prost_types::value::Kind::StructValue((&record()).into())),
        },
    );
    outer.fields.insert(
        "x-envoy-peer-metadata-id".into(),
        prost_types::Value {
            kind: Some(prost_types::value::Kind::StringValue(NODE_ID.into())),
        },
    );
    outer
}
