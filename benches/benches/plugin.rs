//! `plugin`: one HTTP request through the stats plugin, steady state on one connection with
//! a mix of response codes and flags. The baseline does the same work the way a CEL-based
//! plugin would: the `cel` crate evaluates the 25 default label expressions over the
//! connection's and the request's attributes, and prometheus-client records the four
//! metrics.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use meshtel::{ClusterService, ConnectionFacts, LocalNode, PluginConfig, Reporter, RequestFacts, Routing, StatsPlugin};
use meshtel_benches::prometheus_client_http;
use meshtel_metrics::Registry;
use meshtel_wire::workload::WorkloadMetadata;
use serde_json::json;

const CODES: [u16; 8] = [200, 200, 200, 404, 200, 503, 201, 200];
const FLAGS: [&[&str]; 8] = [&[], &[], &[], &["NR"], &[], &["UH", "UF"], &[], &[]];

/// The default label set of `docs/reference/telemetry.md` §10.3 in CEL (`has(x) ? x : default` for `|`).
/// The request's service facts are the variable `service`.
const CEL_LABELS: [&str; 25] = [
    r#"(has(context.reporter.kind) ? context.reporter.kind : "inbound") == "outbound" ? "source" : ((has(context.reporter.gateway) ? context.reporter.gateway : false) ? "waypoint" : "destination")"#,
    r#"has(source.workload.name) ? source.workload.name : "unknown""#,
    r#"has(source.canonical_service) ? source.canonical_service : "unknown""#,
    r#"has(source.canonical_revision) ? source.canonical_revision : "latest""#,
    r#"has(source.workload.namespace) ? source.workload.namespace : "unknown""#,
    r#"has(source.principal) ? source.principal : "unknown""#,
    r#"has(source.labels.app) ? source.labels.app : "unknown""#,
    r#"has(source.labels.version) ? source.labels.version : "unknown""#,
    r#"has(source.cluster_id) ? source.cluster_id : "unknown""#,
    r#"has(destination.workload.name) ? destination.workload.name : "unknown""#,
    r#"has(destination.workload.namespace) ? destination.workload.namespace : "unknown""#,
    r#"has(destination.principal) ? destination.principal : "unknown""#,
    r#"has(destination.labels.app) ? destination.labels.app : "unknown""#,
    r#"has(destination.labels.version) ? destination.labels.version : "unknown""#,
    r#"has(service.host) ? service.host : "unknown""#,
    r#"has(destination.canonical_service) ? destination.canonical_service : "unknown""#,
    r#"has(destination.canonical_revision) ? destination.canonical_revision : ((has(context.reporter.gateway) ? context.reporter.gateway : false) ? "unknown" : "latest")"#,
    r#"has(service.name) ? service.name : "unknown""#,
    r#"has(service.namespace) ? service.namespace : "unknown""#,
    r#"has(destination.cluster_id) ? destination.cluster_id : "unknown""#,
    r#"has(api.protocol) ? api.protocol : (has(context.protocol) ? context.protocol : "unknown")"#,
    "has(response.code) ? response.code : 200",
    r#"has(response.grpc_status) ? response.grpc_status : """#,
    r#"has(context.proxy_error_code) ? context.proxy_error_code : "-""#,
    r#"(has(context.reporter.kind) ? context.reporter.kind : "inbound") == "outbound" ? "unknown" : ((has(connection.mtls) ? connection.mtls : false) ? "mutual_tls" : "none")"#,
];

fn local() -> LocalNode {
    LocalNode::from_json(&json!({
        "NAMESPACE": "default", "WORKLOAD_NAME": "productpage-v1", "CLUSTER_ID": "Kubernetes", "ISTIO_VERSION": "1.24.0",
        "LABELS": {"app": "productpage", "version": "v1", "service.istio.io/canonical-name": "productpage",
                   "service.istio.io/canonical-revision": "v1"}
    }))
}

fn peer() -> WorkloadMetadata {
    let mut p = WorkloadMetadata::default();
    p.workload = "reviews-v2".into();
    p.namespace = "default".into();
    p.cluster = "Kubernetes".into();
    p.service = "reviews".into();
    p.revision = "v2".into();
    p.app = "reviews".into();
    p.version = "v2".into();
    p
}

const SERVICE: ClusterService<'static> = ClusterService {
    host: Some("reviews.default.svc.cluster.local"),
    name: Some("reviews"),
    namespace: Some("default"),
};

fn request(i: usize) -> RequestFacts<'static> {
    let mut req = RequestFacts::http("reviews:9080", CODES[i % 8]);
    req.response_flags = FLAGS[i % 8];
    req.duration_ms = Some((i % 200) as u64);
    req.request_bytes = Some(512);
    req.response_bytes = Some((i % 5000) as u64);
    req.routing = Routing {
        route_name: Some("default"),
        cluster_name: Some("outbound|9080||reviews"),
        cluster_service: Some(SERVICE),
    };
    req
}

fn http_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("plugin/http_request");

    let registry = Registry::default();
    let plugin = StatsPlugin::new(local(), Reporter::Outbound, &PluginConfig::default(), &registry).unwrap();
    let mut conn = plugin.connection(&ConnectionFacts::default().with_peer(Some(peer())));
    let mut i = 0usize;
    group.bench_function("meshtel", |b| {
        b.iter(|| {
            i += 1;
            plugin.record_request(&mut conn, black_box(&request(i)));
        });
    });

    // Baseline: CEL programs compiled once; connection attributes in a root context;
    // per request an inner scope with the request's attributes, 25 evaluations, and
    // prometheus-client's four families.
    let programs: Vec<cel::Program> = CEL_LABELS.iter().map(|s| cel::Program::compile(s).unwrap()).collect();
    let mut root = cel::Context::default();
    root.add_variable(
        "source",
        json!({"workload": {"name": "productpage-v1", "namespace": "default"}, "canonical_service": "productpage",
               "canonical_revision": "v1", "cluster_id": "Kubernetes", "labels": {"app": "productpage", "version": "v1"}}),
    )
    .unwrap();
    root.add_variable(
        "destination",
        json!({"workload": {"name": "reviews-v2", "namespace": "default"}, "canonical_service": "reviews",
               "canonical_revision": "v2", "cluster_id": "Kubernetes", "labels": {"app": "reviews", "version": "v2"}}),
    )
    .unwrap();
    root.add_variable("connection", json!({})).unwrap();
    root.add_variable("api", json!({})).unwrap();
    let prom = prometheus_client_http();
    let cel_labels = |req: &RequestFacts<'_>| -> Vec<String> {
        let mut ctx = root.new_inner_scope();
        let mut context = json!({"reporter": {"kind": "outbound"}, "protocol": "http"});
        if !req.response_flags.is_empty() {
            context["proxy_error_code"] = json!(req.response_flags.join(","));
        }
        ctx.add_variable("context", context).unwrap();
        ctx.add_variable("response", json!({"code": req.response_code.unwrap_or(0)}))
            .unwrap();
        let svc = req.routing.cluster_service.unwrap_or_default();
        ctx.add_variable(
            "service",
            json!({"host": svc.host, "name": svc.name, "namespace": svc.namespace}),
        )
        .unwrap();
        programs
            .iter()
            .map(|p| match p.execute(&ctx) {
                Ok(cel::Value::String(s)) => s.to_string(),
                Ok(cel::Value::Int(n)) => n.to_string(),
                Ok(cel::Value::UInt(n)) => n.to_string(),
                Ok(_) | Err(_) => "unknown".to_owned(),
            })
            .collect()
    };

    // Both sides compute the same 25 label values.
    for i in 0..8 {
        let check = Registry::default();
        let p = StatsPlugin::new(local(), Reporter::Outbound, &PluginConfig::default(), &check).unwrap();
        let mut c = p.connection(&ConnectionFacts::default().with_peer(Some(peer())));
        p.record_request(&mut c, &request(i));
        let text = check.render_to_string(meshtel_metrics::Format::Prometheus);
        let line = text.lines().find(|l| l.starts_with("istio_requests_total{")).unwrap();
        let ours: Vec<&str> = line
            .split("=\"")
            .skip(1)
            .map(|v| v.split('"').next().unwrap())
            .collect();
        assert_eq!(ours, cel_labels(&request(i)), "request {i}");
    }

    let mut i = 0usize;
    group.bench_function("baseline", |b| {
        b.iter(|| {
            i += 1;
            let req = request(i);
            let values = cel_labels(&req);
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            prom.record(black_box(&refs), i);
        });
    });
    group.finish();
}

criterion_group!(benches, http_request);
criterion_main!(benches);
