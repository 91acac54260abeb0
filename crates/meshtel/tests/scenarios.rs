//! The worked scenarios of `docs/reference/telemetry.md` §12, label for label, and the sample
//! line of §11.

mod common;

use common::*;
use meshtel::{ClusterService, ConnectionFacts, PluginConfig, Reporter, RequestFacts, Routing, StatsPlugin};
use meshtel_metrics::Registry;

const SERVICES: ClusterService<'static> = ClusterService {
    host: Some("server.default.svc.cluster.local"),
    name: Some("server"),
    namespace: Some("default"),
};

fn ten_requests(plugin: &StatsPlugin, facts: &ConnectionFacts, routing: Routing<'_>, host: &str) {
    let mut conn = plugin.connection(facts);
    for _ in 0..10 {
        let mut req = RequestFacts::http(host, 200);
        req.routing = routing;
        req.duration_ms = Some(3);
        req.request_bytes = Some(120);
        req.response_bytes = Some(456);
        plugin.record_request(&mut conn, &req);
    }
}

const EXPECTED_12_1: [(&str, &str); 25] = [
    ("reporter", "source"),
    ("source_workload", "productpage-v1"),
    ("source_canonical_service", "productpage-v1"),
    ("source_canonical_revision", "version-1"),
    ("source_workload_namespace", "default"),
    ("source_principal", "unknown"),
    ("source_app", "productpage"),
    ("source_version", "v1"),
    ("source_cluster", "client-cluster"),
    ("destination_workload", "ratings-v1"),
    ("destination_workload_namespace", "default"),
    ("destination_principal", "unknown"),
    ("destination_app", "ratings"),
    ("destination_version", "v1"),
    ("destination_service", "server.default.svc.cluster.local"),
    ("destination_canonical_service", "ratings"),
    ("destination_canonical_revision", "version-1"),
    ("destination_service_name", "server"),
    ("destination_service_namespace", "default"),
    ("destination_cluster", "server-cluster"),
    ("request_protocol", "http"),
    ("response_code", "200"),
    ("grpc_response_status", ""),
    ("response_flags", "-"),
    ("connection_security_policy", "unknown"),
];

#[test]
fn scenario_12_1_client_side() {
    let registry = Registry::default();
    let plugin = StatsPlugin::new(client_node(), Reporter::Outbound, &PluginConfig::default(), &registry).unwrap();
    let facts = ConnectionFacts::default().with_peer(Some(server_record()));
    let routing = Routing {
        route_name: Some("client_route"),
        cluster_name: Some("server-outbound-cluster"),
        cluster_service: Some(SERVICES),
    };
    ten_requests(&plugin, &facts, routing, "127.0.0.1:8080");
    let (labels, value) = only(&registry, "istio_requests_total");
    assert_eq!(labels_of(&labels), EXPECTED_12_1);
    assert_eq!(value, "10");
    // The sample line of `docs/reference/telemetry.md` §11, byte for byte.
    let text = registry.render_to_string(meshtel_metrics::Format::Prometheus);
    assert!(text.contains(concat!(
        r#"istio_requests_total{reporter="source",source_workload="productpage-v1",source_canonical_service="productpage-v1","#,
        r#"source_canonical_revision="version-1",source_workload_namespace="default",source_principal="unknown","#,
        r#"source_app="productpage",source_version="v1",source_cluster="client-cluster",destination_workload="ratings-v1","#,
        r#"destination_workload_namespace="default",destination_principal="unknown",destination_app="ratings","#,
        r#"destination_version="v1",destination_service="server.default.svc.cluster.local","#,
        r#"destination_canonical_service="ratings",destination_canonical_revision="version-1","#,
        r#"destination_service_name="server",destination_service_namespace="default",destination_cluster="server-cluster","#,
        r#"request_protocol="http",response_code="200",grpc_response_status="",response_flags="-","#,
        r#"connection_security_policy="unknown"} 10"#,
        "\n"
    )));
    // The histograms share the labels; 10 observations each.
    for h in [
        "istio_request_duration_milliseconds_count",
        "istio_request_bytes_count",
        "istio_response_bytes_count",
    ] {
        let (labels, value) = only(&registry, h);
        assert_eq!(labels_of(&labels), EXPECTED_12_1, "{h}");
        assert_eq!(value, "10", "{h}");
    }
    let (_, sum) = only(&registry, "istio_response_bytes_sum");
    assert_eq!(sum, "4560");
}

#[test]
fn scenario_12_2_server_side() {
    let registry = Registry::default();
    let plugin = StatsPlugin::new(server_node(), Reporter::Inbound, &PluginConfig::default(), &registry).unwrap();
    let facts = ConnectionFacts::default().with_peer(Some(client_record()));
    let routing = Routing {
        route_name: Some("server_route"),
        cluster_name: Some("server-inbound-cluster"),
        cluster_service: Some(SERVICES),
    };
    ten_requests(&plugin, &facts, routing, "127.0.0.1:8080");
    let (labels, value) = only(&registry, "istio_requests_total");
    let mut expected = EXPECTED_12_1;
    expected[0].1 = "destination";
    expected[24].1 = "none";
    assert_eq!(labels_of(&labels), expected);
    assert_eq!(value, "10");
    let (labels, value) = only(&registry, "istio_build");
    assert_eq!(labels_of(&labels), [("component", "proxy"), ("tag", "1.5-dev")]);
    assert_eq!(value, "1");

    // With the control plane's inbound setting the result is the same (cluster metadata).
    let registry = Registry::default();
    let config = PluginConfig::from_json(r#"{"disable_host_header_fallback": true}"#).unwrap();
    let plugin = StatsPlugin::new(server_node(), Reporter::Inbound, &config, &registry).unwrap();
    ten_requests(&plugin, &facts, routing, "127.0.0.1:8080");
    assert_eq!(labels_of(&only(&registry, "istio_requests_total").0), expected);
}

#[test]
fn scenario_12_3_host_header_fallback() {
    let registry = Registry::default();
    let plugin = StatsPlugin::new(client_node(), Reporter::Outbound, &PluginConfig::default(), &registry).unwrap();
    let facts = ConnectionFacts::default().with_peer(Some(server_record()));
    let routing = Routing {
        route_name: Some("client_route"),
        cluster_name: Some("host_header"),
        cluster_service: None,
    };
    ten_requests(&plugin, &facts, routing, "127.0.0.1:8080");
    let (labels, _) = only(&registry, "istio_requests_total");
    let mut expected = EXPECTED_12_1;
    expected[14].1 = "127.0.0.1:8080";
    expected[17].1 = "127.0.0.1:8080";
    assert_eq!(labels_of(&labels), expected);
}
