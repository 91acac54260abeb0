//! Shared test helpers: the nodes and records of `docs/reference/telemetry.md` §12, and
//! reading rendered samples.
#![allow(dead_code, unreachable_pub)]

use meshtel::LocalNode;
use meshtel_metrics::{Format, Registry};
use meshtel_wire::workload::{WorkloadMetadata, WorkloadType};

pub fn client_node() -> LocalNode {
    LocalNode::from_json(&serde_json::json!({
        "NAME": "productpage-v1-84975bc778-pxz2w", "NAMESPACE": "default",
        "WORKLOAD_NAME": "productpage-v1", "CLUSTER_ID": "client-cluster",
        "OWNER": "kubernetes://apis/apps/v1/namespaces/default/deployments/productpage-v1",
        "ISTIO_VERSION": "1.5-dev",
        "LABELS": {"app": "productpage", "version": "v1", "pod-template-hash": "84975bc778",
                   "service.istio.io/canonical-name": "productpage-v1",
                   "service.istio.io/canonical-revision": "version-1", "role": "client"}
    }))
}

pub fn server_node() -> LocalNode {
    LocalNode::from_json(&serde_json::json!({
        "NAME": "ratings-v1-84975bc778-pxz2w", "NAMESPACE": "default",
        "WORKLOAD_NAME": "ratings-v1", "CLUSTER_ID": "server-cluster",
        "OWNER": "kubernetes://apis/apps/v1/namespaces/default/deployments/ratings-v1",
        "ISTIO_VERSION": "1.5-dev",
        "LABELS": {"app": "ratings", "version": "v1", "pod-template-hash": "84975bc778",
                   "service.istio.io/canonical-name": "ratings",
                   "service.istio.io/canonical-revision": "version-1", "role": "server"}
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

/// The samples of `metric` in Prometheus text: (labels in order, value).
pub fn samples(registry: &Registry, metric: &str) -> Vec<(Vec<(String, String)>, String)> {
    let text = registry.render_to_string(Format::Prometheus);
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) || l.starts_with(&format!("{metric} ")))
        .map(|l| {
            let (head, value) = l.rsplit_once(' ').unwrap();
            let labels = head
                .strip_prefix(metric)
                .unwrap()
                .trim_start_matches('{')
                .trim_end_matches('}');
            (parse_labels(labels), value.to_owned())
        })
        .collect()
}

fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").unwrap();
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next().unwrap();
            match c {
                '\\' => {
                    let (_, e) = chars.next().unwrap();
                    value.push(match e {
                        'n' => '\n',
                        other => other,
                    });
                }
                '"' => break i,
                c => value.push(c),
            }
        };
        out.push((name.to_owned(), value));
        rest = after[end + 1..].trim_start_matches(',');
    }
    out
}

/// The one sample of `metric`, as (label, value) pairs and the sample value.
pub fn only(registry: &Registry, metric: &str) -> (Vec<(String, String)>, String) {
    let mut all = samples(registry, metric);
    assert_eq!(all.len(), 1, "{metric}: {all:?}");
    all.remove(0)
}

pub fn labels_of(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}
