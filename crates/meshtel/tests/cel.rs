//! CEL in the plugin configuration, the default dialect as upstream today: `dimensions` and
//! `definitions[].value` over Envoy's attributes and Istio's peer objects; the Mixer dialect
//! by name.

mod common;

use common::*;
use meshtel::{ConnectionFacts, PluginConfig, Reporter, RequestFacts, StatsPlugin};
use meshtel_metrics::Registry;

fn stats(reporter: Reporter, config: &str) -> (Registry, StatsPlugin) {
    let registry = Registry::default();
    let config = PluginConfig::from_yaml(config).unwrap_or_else(|e| panic!("{e}"));
    let node = match reporter {
        Reporter::Inbound => server_node(),
        _ => client_node(),
    };
    let plugin = StatsPlugin::new(node, reporter, &config, &registry).unwrap_or_else(|e| panic!("{e}"));
    (registry, plugin)
}

fn label<'l>(labels: &'l [(String, String)], name: &str) -> &'l str {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map_or_else(|| panic!("no label {name} in {labels:?}"), |(_, v)| v)
}

const DIMENSIONS: &str = r#"
metrics:
  - name: requests_total
    dimensions:
      request_host: 'has(request.host) ? request.host : "unknown"'
      user: "'x-user' in request.headers ? request.headers['x-user'] : 'anonymous'"
      peer_app: filter_state.upstream_peer.app
      caller_app: filter_state.downstream_peer.app
      peer_labels: "filter_state.upstream_peer.labels['team']"
      code_class: 'response.code >= 500 ? "5xx" : "other"'
      code_text: string(response.code)
      grpc: 'has(response.grpc_status) ? string(response.grpc_status) : "none"'
      elapsed: request.duration
"#;

#[test]
fn cel_dimensions_over_envoys_attributes_and_istios_peer_objects() {
    let (registry, plugin) = stats(Reporter::Outbound, DIMENSIONS);
    assert!(plugin.warnings().is_empty(), "{:?}", plugin.warnings());
    let mut server = server_record();
    server.labels.insert("team".into(), "stars".into());
    let mut conn = plugin.connection(&ConnectionFacts::default().with_peer(Some(server)));
    let headers = [("x-user", "bob")];
    let mut req = RequestFacts::http("reviews:9080", 503);
    req.request_headers = Some(&headers);
    req.duration_ms = Some(1500);
    plugin.record_request(&mut conn, &req);
    let (labels, _) = only(&registry, "istio_requests_total");
    assert_eq!(label(&labels, "request_host"), "reviews:9080");
    assert_eq!(label(&labels, "user"), "bob");
    assert_eq!(label(&labels, "peer_app"), "ratings");
    // Outbound, the peer is upstream: there is no downstream peer object.
    assert_eq!(label(&labels, "caller_app"), "unknown");
    assert_eq!(label(&labels, "peer_labels"), "stars");
    assert_eq!(label(&labels, "code_class"), "5xx");
    assert_eq!(label(&labels, "code_text"), "503");
    assert_eq!(label(&labels, "grpc"), "none");
    // CEL's text of a duration.
    assert_eq!(label(&labels, "elapsed"), "1.500s");
}

#[test]
fn inbound_the_peer_is_downstream() {
    let (registry, plugin) = stats(Reporter::Inbound, DIMENSIONS);
    let mut conn = plugin.connection(&ConnectionFacts::default().with_peer(Some(client_record())));
    plugin.record_request(&mut conn, &RequestFacts::http("ratings:9080", 200));
    let (labels, _) = only(&registry, "istio_requests_total");
    assert_eq!(label(&labels, "caller_app"), "productpage");
    assert_eq!(label(&labels, "peer_app"), "unknown");
    assert_eq!(label(&labels, "user"), "unknown", "no headers: the strict read fails");
    assert_eq!(label(&labels, "code_class"), "other");
}

#[test]
fn a_cel_expression_that_does_not_compile_is_reported_with_tag_expression_and_span() {
    let (registry, plugin) = stats(
        Reporter::Outbound,
        r#"
metrics:
  - name: requests_total
    dimensions:
      source_app: 'request.host | "x"'
      added: 'lower(request.host)'
      fine: 'request.host'
"#,
    );
    let warnings = plugin.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains(r#"dimensions["added"]"#), "{}", warnings[0]);
    assert!(
        warnings[0].contains(r#"cel expression "lower(request.host)""#),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("lower is not a supported CEL function"),
        "{}",
        warnings[0]
    );
    assert!(warnings[1].contains(r#"dimensions["source_app"]"#), "{}", warnings[1]);
    assert!(warnings[1].contains('^'), "the span is shown: {}", warnings[1]);
    one_request(&plugin);
    let (labels, _) = only(&registry, "istio_requests_total");
    let names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
    assert!(!names.contains(&"source_app"), "a standard tag that fails is removed");
    assert!(!names.contains(&"added"));
    assert_eq!(label(&labels, "fine"), "reviews:9080");
}

fn one_request(plugin: &StatsPlugin) {
    let mut conn = plugin.connection(&ConnectionFacts::default().with_peer(Some(server_record())));
    plugin.record_request(&mut conn, &RequestFacts::http("reviews:9080", 200));
}

#[test]
fn cel_custom_metric_values_and_the_mixer_dialect_by_name() {
    let (registry, plugin) = stats(
        Reporter::Outbound,
        r#"
definitions:
  - {name: code_total, value: "uint(response.code)", type: COUNTER}
  - {name: host_bytes_total, value: "size(request.host)", type: COUNTER}
"#,
    );
    one_request(&plugin);
    assert_eq!(only(&registry, "istio_code_total").1, "200");
    assert_eq!(only(&registry, "istio_host_bytes_total").1, "12");

    let (registry, plugin) = stats(
        Reporter::Outbound,
        r#"
expression_language: mixer
metrics:
  - name: requests_total
    dimensions:
      request_host: request.host | "unknown"
"#,
    );
    assert!(plugin.warnings().is_empty(), "{:?}", plugin.warnings());
    one_request(&plugin);
    let (labels, _) = only(&registry, "istio_requests_total");
    assert_eq!(label(&labels, "request_host"), "reviews:9080");
    assert!(PluginConfig::from_yaml("expression_language: lua").is_err());
}
