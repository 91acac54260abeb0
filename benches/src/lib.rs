//! Shared inputs of the meshtel benches, so every bench (and its peer) runs
//! on the same bytes.

use meshtel_metrics::{CounterId, Desc, Group, HistogramId, Registry};
use meshtel_wire::frame::{FrameConfig, encode_frame};
use meshtel_wire::proto::Struct;
use meshtel_wire::workload::WorkloadMetadata;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

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

/// The record Struct a sidecar sends (`docs/reference/wire.md` §1.2).
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

/// [`NODE_METADATA`] with accented label values and region (non-ASCII
/// text, still valid UTF-8): the decoders' fallback from the ASCII fast path.
///
/// # Panics
/// Never: the JSON is valid.
#[must_use]
pub fn record_non_ascii() -> Struct {
    let json = NODE_METADATA
        .replace(r#""team": "storefront""#, r#""team": "vitrine-équipe""#)
        .replace(r#""tier": "frontend""#, r#""tier": "façade""#)
        .replace(r#""REGION": "europe-west1""#, r#""REGION": "europe-west1-zürich""#);
    let node: Struct = serde_json::from_str(&json).expect("valid JSON");
    WorkloadMetadata::from_node_metadata(&node, ADDITIONAL_LABELS).to_struct()
}

/// The frame of [`record_non_ascii`].
///
/// # Panics
/// Never: the record is far below the payload limit.
#[must_use]
pub fn frame_non_ascii() -> Vec<u8> {
    encode_frame(&record_non_ascii(), NODE_ID, &FrameConfig::default()).expect("small frame")
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
        meshtel_wire::header::PEER_METADATA.into(),
        prost_types::Value {
            kind: Some(prost_types::value::Kind::StructValue((&record()).into())),
        },
    );
    outer.fields.insert(
        meshtel_wire::header::PEER_METADATA_ID.into(),
        prost_types::Value {
            kind: Some(prost_types::value::Kind::StringValue(NODE_ID.into())),
        },
    );
    outer
}

/// Istio's standard request labels (`docs/reference/telemetry.md` §3), in order.
pub const ISTIO_LABELS: [&str; 25] = meshtel::STANDARD_TAGS;

/// `n` distinct, realistic label sets for [`ISTIO_LABELS`]: a handful of
/// destinations times response codes.
#[must_use]
pub fn istio_label_sets(n: usize) -> Vec<Vec<String>> {
    (0..n)
        .map(|i| {
            let dest = format!("reviews-v{}", i / 4);
            let code = ["200", "404", "503", "200"][i % 4];
            vec![
                "source".into(),
                "productpage-v1".into(),
                "productpage".into(),
                "v1".into(),
                "bookinfo".into(),
                "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage".into(),
                "productpage".into(),
                "v1".into(),
                "Kubernetes".into(),
                dest.clone(),
                "bookinfo".into(),
                "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews".into(),
                "reviews".into(),
                format!("v{}", i / 4),
                "reviews.bookinfo.svc.cluster.local".into(),
                "reviews".into(),
                format!("v{}", i / 4),
                "reviews".into(),
                "bookinfo".into(),
                "Kubernetes".into(),
                "http".into(),
                code.into(),
                "-".into(),
                "-".into(),
                "mutual_tls".into(),
            ]
        })
        .collect()
}

/// A prometheus-client label set for [`ISTIO_LABELS`]: that crate looks
/// families up by an owned label set, so each request builds one.
pub type PrometheusLabels = Vec<(&'static str, String)>;

/// Builds the owned label set prometheus-client needs from `&str` values.
#[must_use]
pub fn prometheus_labels(values: &[&str]) -> PrometheusLabels {
    ISTIO_LABELS
        .iter()
        .zip(values)
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect()
}

/// Istio's four HTTP metrics in meshtel-metrics: one group, 25 labels.
#[derive(Debug)]
pub struct MeshtelHttp {
    /// The group.
    pub group: Group,
    /// `istio_requests_total`.
    pub requests: CounterId,
    /// `istio_request_duration_milliseconds`.
    pub duration: HistogramId,
    /// `istio_request_bytes`.
    pub request_bytes: HistogramId,
    /// `istio_response_bytes`.
    pub response_bytes: HistogramId,
}

/// Builds the group with this series limit.
///
/// # Panics
/// Never: the names and labels are valid.
#[must_use]
pub fn meshtel_http(max_series: usize) -> MeshtelHttp {
    let registry = Registry::new(meshtel_metrics::Config::default().with_max_series(max_series));
    let mut g = registry.group("istio_http", &ISTIO_LABELS);
    let requests = g.counter(Desc::new("istio_requests_total", "Requests.")).unwrap();
    let duration = g
        .histogram(
            Desc::new("istio_request_duration_milliseconds", "Duration.").unit("milliseconds"),
            meshtel::default_buckets(),
        )
        .unwrap();
    let request_bytes = g
        .histogram(
            Desc::new("istio_request_bytes", "Request sizes.").unit("bytes"),
            meshtel::default_buckets(),
        )
        .unwrap();
    let response_bytes = g
        .histogram(
            Desc::new("istio_response_bytes", "Response sizes.").unit("bytes"),
            meshtel::default_buckets(),
        )
        .unwrap();
    let group = g.build().unwrap();
    MeshtelHttp {
        group,
        requests,
        duration,
        request_bytes,
        response_bytes,
    }
}

impl MeshtelHttp {
    /// Records request `i`, by label values.
    ///
    /// # Panics
    /// If `values` does not have 25 labels.
    #[inline]
    pub fn record(&self, values: &[&str], i: usize) {
        self.group
            .with_series(values, |s| {
                s.inc(self.requests);
                s.observe(self.duration, (i % 200) as f64);
                s.observe(self.request_bytes, 512.0);
                s.observe(self.response_bytes, (i % 5000) as f64);
            })
            .unwrap();
    }
}

/// The same four metrics in prometheus-client: four families.
#[derive(Debug)]
pub struct PrometheusClientHttp {
    /// The registry.
    pub registry: prometheus_client::registry::Registry,
    /// `istio_requests`.
    pub requests: Family<PrometheusLabels, Counter>,
    /// `istio_request_duration_milliseconds`.
    pub duration: Family<PrometheusLabels, Histogram>,
    /// `istio_request_bytes`.
    pub request_bytes: Family<PrometheusLabels, Histogram>,
    /// `istio_response_bytes`.
    pub response_bytes: Family<PrometheusLabels, Histogram>,
}

/// A histogram with Istio's default buckets.
#[must_use]
pub fn istio_histogram() -> Histogram {
    Histogram::new(meshtel::ISTIO_DEFAULT_BUCKETS)
}

/// Builds the four families.
#[must_use]
pub fn prometheus_client_http() -> PrometheusClientHttp {
    let mut registry = prometheus_client::registry::Registry::default();
    let requests = Family::<PrometheusLabels, Counter>::default();
    let duration = Family::<PrometheusLabels, Histogram>::new_with_constructor(istio_histogram as fn() -> Histogram);
    let request_bytes =
        Family::<PrometheusLabels, Histogram>::new_with_constructor(istio_histogram as fn() -> Histogram);
    let response_bytes =
        Family::<PrometheusLabels, Histogram>::new_with_constructor(istio_histogram as fn() -> Histogram);
    registry.register("istio_requests", "Requests.", requests.clone());
    registry.register("istio_request_duration_milliseconds", "Duration.", duration.clone());
    registry.register("istio_request_bytes", "Request sizes.", request_bytes.clone());
    registry.register("istio_response_bytes", "Response sizes.", response_bytes.clone());
    PrometheusClientHttp {
        registry,
        requests,
        duration,
        request_bytes,
        response_bytes,
    }
}

impl PrometheusClientHttp {
    /// Records request `i`, building the owned label set it needs.
    #[inline]
    pub fn record(&self, values: &[&str], i: usize) {
        // prometheus-client looks families up by an owned label set.
        let labels = prometheus_labels(values);
        self.requests.get_or_create(&labels).inc();
        self.duration.get_or_create(&labels).observe((i % 200) as f64);
        self.request_bytes.get_or_create(&labels).observe(512.0);
        self.response_bytes.get_or_create(&labels).observe((i % 5000) as f64);
    }
}

/// The top-level README's Rust snippets, compiled and run as doc tests, so the
/// examples users copy first cannot rot. This crate depends on every published
/// crate, and it is not published itself, so the README outside its directory is fine.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
