//! A request on a warm connection allocates nothing: labels, series lookup and recording,
//! proved with a counting global allocator.

mod common;

#[path = "../../../testing/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_in;

use common::*;
use meshtel::{ClusterService, ConnectionFacts, PluginConfig, Protocol, Reporter, RequestFacts, Routing, StatsPlugin};
use meshtel_metrics::Registry;

#[test]
fn steady_state_requests_allocate_nothing() {
    let mixer = r#"
expression_language: mixer
metrics:
  - name: requests_total
    dimensions:
      request_method: request.method | "-"
      user_agent: request.headers["user-agent"] | "none"
definitions:
  - {name: streams, value: "1"}
"#;
    let cel = r#"
metrics:
  - name: requests_total
    dimensions:
      request_method: 'has(request.method) ? request.method : "-"'
      user_agent: "'user-agent' in request.headers ? request.headers['user-agent'] : 'none'"
      peer_app: 'has(filter_state.upstream_peer) ? filter_state.upstream_peer.app : "unknown"'
      slow: 'request.duration > duration("1h")'
definitions:
  - {name: streams, value: "1"}
"#;
    for text in [mixer, cel] {
        let config = PluginConfig::from_yaml(text).unwrap();
        for reporter in [Reporter::Outbound, Reporter::Inbound, Reporter::Waypoint] {
            steady_state(&config, reporter);
        }
    }
}

fn steady_state(config: &PluginConfig, reporter: Reporter) {
    {
        let registry = Registry::default();
        let plugin = StatsPlugin::new(client_node(), reporter, config, &registry).unwrap();
        let facts = ConnectionFacts::default()
            .with_peer(Some(server_record()))
            .with_upstream_peer(Some(server_record()));
        let mut conn = plugin.connection(&facts);
        let headers = [("user-agent", "curl/8.5")];
        let service = ClusterService {
            host: Some("ratings.default.svc.cluster.local"),
            name: Some("ratings"),
            namespace: Some("default"),
        };
        let codes = [200, 200, 404, 503, 200];
        let flags: [&[&str]; 5] = [&[], &[], &["NR"], &["UH", "UF"], &[]];
        let request = |i: usize| {
            let mut req = RequestFacts::http("ratings:9080", codes[i % 5]);
            req.method = Some("GET");
            req.protocol = if i.is_multiple_of(2) {
                Protocol::Http
            } else {
                Protocol::Grpc
            };
            req.response_flags = flags[i % 5];
            req.duration_ms = Some(i as u64);
            req.request_bytes = Some(100);
            req.response_bytes = Some(2_000);
            req.routing = Routing {
                route_name: Some("default"),
                cluster_name: Some("outbound|9080||ratings"),
                cluster_service: Some(service),
            };
            req
        };
        // Warm up: the connection's labels, every series, the scratch buffers.
        for i in 0..20 {
            let mut req = request(i);
            req.request_headers = Some(&headers);
            plugin.record_request(&mut conn, &req);
        }
        let (n, ()) = allocations_in(|| {
            for i in 0..1000 {
                let mut req = request(i);
                req.request_headers = Some(&headers);
                plugin.record_request(&mut conn, &req);
            }
        });
        assert_eq!(n, 0, "{reporter:?}: {n} allocations over 1000 requests");
        assert_eq!(only(&registry, "istio_streams_total").1, "1020");
    }
}
