//! Every fallback of `docs/reference/telemetry.md` §4, §5, one at a time.

mod common;

use common::*;
use meshtel::{
    ClusterService, ConnectionFacts, LocalNode, PluginConfig, Principals, Protocol, Reporter, RequestFacts, Routing,
    StatsPlugin, Tls, grpc_response_status, spiffe_namespace,
};
use meshtel_metrics::Registry;
use meshtel_wire::workload::WorkloadMetadata;

/// The labels of the single `istio_requests_total` sample after one request.
fn labels(
    local: LocalNode,
    reporter: Reporter,
    config: &str,
    facts: &ConnectionFacts,
    req: &RequestFacts<'_>,
) -> std::collections::BTreeMap<String, String> {
    let registry = Registry::default();
    let plugin = StatsPlugin::new(local, reporter, &PluginConfig::from_yaml(config).unwrap(), &registry).unwrap();
    let mut conn = plugin.connection(facts);
    plugin.record_request(&mut conn, req);
    only(&registry, "istio_requests_total").0.into_iter().collect()
}

fn get<'m>(m: &'m std::collections::BTreeMap<String, String>, k: &str) -> &'m str {
    m.get(k).map_or("<absent>", String::as_str)
}

#[test]
fn no_peer_gives_unknown_and_latest() {
    let out = labels(
        client_node(),
        Reporter::Outbound,
        "{}",
        &ConnectionFacts::default(),
        &RequestFacts::http("h", 200),
    );
    assert_eq!(get(&out, "destination_workload"), "unknown");
    assert_eq!(get(&out, "destination_workload_namespace"), "unknown");
    assert_eq!(get(&out, "destination_canonical_service"), "unknown");
    assert_eq!(get(&out, "destination_canonical_revision"), "latest");
    assert_eq!(get(&out, "destination_cluster"), "unknown");
    assert_eq!(get(&out, "destination_service_namespace"), "unknown");
    assert_eq!(get(&out, "destination_service"), "h");

    let inbound = labels(
        server_node(),
        Reporter::Inbound,
        "{}",
        &ConnectionFacts::default(),
        &RequestFacts::http("h", 200),
    );
    assert_eq!(get(&inbound, "source_workload"), "unknown");
    assert_eq!(get(&inbound, "source_canonical_revision"), "latest");
    assert_eq!(get(&inbound, "source_app"), "unknown");
    assert_eq!(get(&inbound, "connection_security_policy"), "none");
}

#[test]
fn local_side_values_have_no_fallback() {
    let local =
        LocalNode::from_json(&serde_json::json!({"WORKLOAD_NAME": "w", "LABELS": {"app.kubernetes.io/name": "x"}}));
    let out = labels(
        local,
        Reporter::Outbound,
        "{}",
        &ConnectionFacts::default(),
        &RequestFacts::http("h", 200),
    );
    assert_eq!(get(&out, "source_app"), "");
    assert_eq!(get(&out, "source_version"), "");
    assert_eq!(get(&out, "source_workload_namespace"), "");
    assert_eq!(get(&out, "source_canonical_service"), "");
}

#[test]
fn inbound_service_falls_back_to_local_canonical_service() {
    let config = "disable_host_header_fallback: true";
    let out = labels(
        server_node(),
        Reporter::Inbound,
        config,
        &ConnectionFacts::default(),
        &RequestFacts::http("h:80", 200),
    );
    assert_eq!(get(&out, "destination_service"), "ratings");
    assert_eq!(get(&out, "destination_service_name"), "ratings");
    assert_eq!(get(&out, "destination_service_namespace"), "default");
}

#[test]
fn host_header_fallback_off_outbound_gives_unknown() {
    let config = "disable_host_header_fallback: true";
    let out = labels(
        client_node(),
        Reporter::Outbound,
        config,
        &ConnectionFacts::default(),
        &RequestFacts::http("h:80", 200),
    );
    assert_eq!(get(&out, "destination_service"), "unknown");
    assert_eq!(get(&out, "destination_service_name"), "unknown");
}

#[test]
fn pass_through_and_black_hole_names() {
    for (route, cluster, name) in [
        (Some("block_all"), None, "BlackHoleCluster"),
        (Some("allow_any"), None, "PassthroughCluster"),
        (
            None,
            Some("InboundPassthroughClusterIpv6"),
            "InboundPassthroughClusterIpv6",
        ),
        (None, Some("PassthroughCluster"), "PassthroughCluster"),
    ] {
        let mut req = RequestFacts::http("example.com:443", 200);
        req.routing = Routing {
            route_name: route,
            cluster_name: cluster,
            cluster_service: None,
        };
        let out = labels(
            client_node(),
            Reporter::Outbound,
            "{}",
            &ConnectionFacts::default(),
            &req,
        );
        assert_eq!(get(&out, "destination_service_name"), name);
        assert_eq!(
            get(&out, "destination_service"),
            "example.com:443",
            "S.host keeps the Host header"
        );
    }
    // A service without a name: the host up to its first dot.
    let mut req = RequestFacts::http("x", 200);
    req.routing.cluster_service = Some(ClusterService {
        host: Some("reviews.ns.svc.cluster.local"),
        name: None,
        namespace: None,
    });
    let out = labels(
        client_node(),
        Reporter::Outbound,
        "{}",
        &ConnectionFacts::default(),
        &req,
    );
    assert_eq!(get(&out, "destination_service_name"), "reviews");
    assert_eq!(get(&out, "destination_service"), "reviews.ns.svc.cluster.local");
}

#[test]
fn spiffe_namespace_and_principals() {
    assert_eq!(spiffe_namespace("spiffe://cluster.local/ns/foo/sa/bar"), Some("foo"));
    assert_eq!(spiffe_namespace("spiffe://td/ns/foo"), Some("foo"));
    assert_eq!(spiffe_namespace("spiffe://td/sa/x"), None);
    assert_eq!(spiffe_namespace("spiffe://td/ns//sa/x"), Some(""));

    // Outbound: the peer SAN names the destination namespace.
    let tls = Tls {
        local_san: "spiffe://cluster.local/ns/default/sa/productpage".into(),
        peer_san: "spiffe://cluster.local/ns/prod/sa/ratings".into(),
    };
    let facts = ConnectionFacts::default()
        .with_peer(Some(server_record()))
        .with_tls(Some(tls.clone()));
    let out = labels(
        client_node(),
        Reporter::Outbound,
        "{}",
        &facts,
        &RequestFacts::http("h", 200),
    );
    assert_eq!(get(&out, "destination_workload_namespace"), "prod");
    assert_eq!(get(&out, "destination_service_namespace"), "prod");
    assert_eq!(
        get(&out, "destination_principal"),
        "spiffe://cluster.local/ns/prod/sa/ratings"
    );
    assert_eq!(
        get(&out, "source_principal"),
        "spiffe://cluster.local/ns/default/sa/productpage"
    );
    assert_eq!(get(&out, "connection_security_policy"), "unknown");

    // Outbound without TLS: the peer record's identity.
    let mut peer = server_record();
    peer.identity = "spiffe://cluster.local/ns/other/sa/ratings".into();
    let facts = ConnectionFacts::default().with_peer(Some(peer));
    let out = labels(
        client_node(),
        Reporter::Outbound,
        "{}",
        &facts,
        &RequestFacts::http("h", 200),
    );
    assert_eq!(
        get(&out, "destination_principal"),
        "spiffe://cluster.local/ns/other/sa/ratings"
    );
    assert_eq!(get(&out, "destination_workload_namespace"), "other");

    // Inbound with mTLS: mutual_tls; an empty /ns/ segment falls back to the peer record.
    let tls = Tls {
        local_san: "spiffe://cluster.local/ns/default/sa/ratings".into(),
        peer_san: "spiffe://td/ns//sa/x".into(),
    };
    let facts = ConnectionFacts::default()
        .with_peer(Some(client_record()))
        .with_tls(Some(tls));
    let out = labels(
        server_node(),
        Reporter::Inbound,
        "{}",
        &facts,
        &RequestFacts::http("h", 200),
    );
    assert_eq!(get(&out, "connection_security_policy"), "mutual_tls");
    assert_eq!(get(&out, "source_workload_namespace"), "default");
    assert_eq!(get(&out, "source_principal"), "spiffe://td/ns//sa/x");

    // Principals from an authentication layer win over the SANs.
    let principals = Principals {
        local: "local-p".into(),
        peer: "peer-p".into(),
    };
    let facts = ConnectionFacts::default()
        .with_tls(Some(Tls::default()))
        .with_principals(Some(principals));
    let out = labels(
        server_node(),
        Reporter::Inbound,
        "{}",
        &facts,
        &RequestFacts::http("h", 200),
    );
    assert_eq!(get(&out, "source_principal"), "peer-p");
    assert_eq!(get(&out, "destination_principal"), "local-p");
    assert_eq!(get(&out, "connection_security_policy"), "mutual_tls");

    // One side only: not mutual.
    let tls = Tls {
        local_san: "spiffe://cluster.local/ns/default/sa/ratings".into(),
        peer_san: String::new(),
    };
    let out = labels(
        server_node(),
        Reporter::Inbound,
        "{}",
        &ConnectionFacts::default().with_tls(Some(tls)),
        &RequestFacts::http("h", 200),
    );
    assert_eq!(get(&out, "connection_security_policy"), "none");
    assert_eq!(get(&out, "source_principal"), "unknown");
}

#[test]
fn endpoint_metadata_is_the_outbound_fallback() {
    let facts =
        ConnectionFacts::default().with_endpoint_metadata(Some("reviews-v2;bookinfo;reviews;v2;Kubernetes".into()));
    let out = labels(
        client_node(),
        Reporter::Outbound,
        "{}",
        &facts,
        &RequestFacts::http("h", 200),
    );
    assert_eq!(get(&out, "destination_workload"), "reviews-v2");
    assert_eq!(get(&out, "destination_workload_namespace"), "bookinfo");
    assert_eq!(get(&out, "destination_canonical_service"), "reviews");
    assert_eq!(get(&out, "destination_canonical_revision"), "v2");
    assert_eq!(get(&out, "destination_cluster"), "Kubernetes");
    // A discovered peer wins.
    let facts = facts.with_peer(Some(server_record()));
    let out = labels(
        client_node(),
        Reporter::Outbound,
        "{}",
        &facts,
        &RequestFacts::http("h", 200),
    );
    assert_eq!(get(&out, "destination_workload"), "ratings-v1");
    // Inbound ignores it.
    let facts =
        ConnectionFacts::default().with_endpoint_metadata(Some("reviews-v2;bookinfo;reviews;v2;Kubernetes".into()));
    let out = labels(
        server_node(),
        Reporter::Inbound,
        "{}",
        &facts,
        &RequestFacts::http("h", 200),
    );
    assert_eq!(get(&out, "source_workload"), "unknown");
}

#[test]
fn waypoint_labels() {
    let mut upstream = server_record();
    upstream.identity = "spiffe://cluster.local/ns/default/sa/ratings".into();
    upstream.revision = String::new();
    let facts = ConnectionFacts::default()
        .with_peer(Some(client_record()))
        .with_upstream_peer(Some(upstream));
    let mut req = RequestFacts::http("ratings:9080", 200);
    req.routing.cluster_service = Some(ClusterService {
        host: Some("ratings.default.svc.cluster.local"),
        name: None,
        namespace: None,
    });
    let out = labels(server_node(), Reporter::Waypoint, "{}", &facts, &req);
    assert_eq!(get(&out, "reporter"), "waypoint");
    assert_eq!(get(&out, "source_workload"), "productpage-v1");
    assert_eq!(get(&out, "destination_workload"), "ratings-v1");
    assert_eq!(
        get(&out, "destination_principal"),
        "spiffe://cluster.local/ns/default/sa/ratings"
    );
    assert_eq!(
        get(&out, "destination_canonical_revision"),
        "unknown",
        "waypoint falls back to unknown, not latest"
    );
    assert_eq!(
        get(&out, "destination_service_namespace"),
        "unknown",
        "no peer-namespace fallback for waypoints"
    );
    assert_eq!(get(&out, "destination_service_name"), "ratings");
    assert_eq!(get(&out, "connection_security_policy"), "none");
    // The configuration can make any plugin a waypoint.
    let out = labels(
        server_node(),
        Reporter::Inbound,
        "reporter: SERVER_GATEWAY",
        &facts,
        &req,
    );
    assert_eq!(get(&out, "reporter"), "waypoint");
}

#[test]
fn request_facts() {
    let mut req = RequestFacts::http("h", 503);
    req.response_flags = &["UH", "UF"];
    let out = labels(
        client_node(),
        Reporter::Outbound,
        "{}",
        &ConnectionFacts::default(),
        &req,
    );
    assert_eq!(get(&out, "response_flags"), "UH,UF");
    assert_eq!(get(&out, "response_code"), "503");
    assert_eq!(get(&out, "request_protocol"), "http");
    assert_eq!(get(&out, "grpc_response_status"), "");

    let mut req = RequestFacts::http("h", 200);
    req.response_code = None;
    req.protocol = Protocol::Grpc;
    let out = labels(
        client_node(),
        Reporter::Outbound,
        "{}",
        &ConnectionFacts::default(),
        &req,
    );
    assert_eq!(get(&out, "response_code"), "0");
    assert_eq!(get(&out, "request_protocol"), "grpc");
    assert_eq!(get(&out, "grpc_response_status"), "");

    assert_eq!(grpc_response_status(Some("5"), Some("7"), Some(200)), "5");
    assert_eq!(grpc_response_status(None, Some("7"), Some(200)), "7");
    assert_eq!(grpc_response_status(None, None, Some(200)), "2");
    assert_eq!(grpc_response_status(None, None, Some(404)), "12");
    assert_eq!(grpc_response_status(None, None, Some(503)), "14");
    assert_eq!(grpc_response_status(None, None, Some(401)), "16");
    assert_eq!(grpc_response_status(Some("17"), None, None), "-1");
    assert_eq!(grpc_response_status(Some("abc"), None, None), "-1");
    assert_eq!(grpc_response_status(Some("007"), None, None), "7");
    assert_eq!(grpc_response_status(None, None, None), "");
    assert_eq!(
        Protocol::from_content_type(Some("application/grpc+proto")),
        Protocol::Grpc
    );
    assert_eq!(
        Protocol::from_content_type(Some("application/grpc-web")),
        Protocol::Http
    );
}

#[test]
fn peer_labels_beyond_app_and_version() {
    let mut peer = WorkloadMetadata::default();
    peer.labels.insert("team".into(), "blue".into());
    let facts = ConnectionFacts::default().with_peer(Some(peer));
    let config = r#"{"expression_language": "mixer", "metrics": [{"name": "requests_total", "dimensions": {"team": "destination.labels[\"team\"] | \"none\""}}]}"#;
    let out = labels(
        client_node(),
        Reporter::Outbound,
        config,
        &facts,
        &RequestFacts::http("h", 200),
    );
    assert_eq!(get(&out, "team"), "blue");
    assert_eq!(get(&out, "destination_app"), "unknown");
}
