//! Istio's Telemetry API translated as istiod does (`docs/telemetry-api.md`): which resources
//! apply, the merge order, each selector, mode and operation, and the exact errors.

mod common;

use common::*;
use meshtel::telemetry::{
    FieldProblem, ListenerDirection, Telemetry, TelemetryError, Workload, applicable, parse_yaml, plugin_config,
};
use meshtel::{ConnectionFacts, PluginConfig, Reporter, RequestFacts, StatsPlugin};
use meshtel_metrics::Registry;

const ROOT: &str = "istio-system";

fn parse(yaml: &str) -> Vec<Telemetry> {
    parse_yaml(yaml).unwrap_or_else(|e| panic!("{e}")).telemetries
}

fn telemetry(namespace: &str, name: &str, spec: &str) -> String {
    let spec: String = spec.lines().flat_map(|l| ["  ", l, "\n"]).collect();
    format!(
        "---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n{spec}"
    )
}

fn cart() -> Workload {
    Workload::new("shop", [("app", "cart"), ("version", "v1")])
}

/// The generated config as JSON (`null`: no stats filter).
fn json(telemetries: &[Telemetry], workload: &Workload, direction: ListenerDirection) -> String {
    plugin_config(telemetries, ROOT, workload, direction).map_or_else(|| "null".to_owned(), |c| c.to_json())
}

fn outbound(yaml: &str) -> String {
    json(&parse(yaml), &cart(), ListenerDirection::Outbound)
}

fn error(yaml: &str) -> String {
    parse_yaml(yaml).map(|_| ()).unwrap_err().to_string()
}

#[test]
fn no_telemetry_gives_the_default_filter() {
    assert_eq!(json(&[], &cart(), ListenerDirection::Outbound), "{}");
    assert_eq!(
        json(&[], &cart(), ListenerDirection::Inbound),
        r#"{"disable_host_header_fallback":true}"#
    );
}

#[test]
fn mesh_then_namespace_then_workload() {
    let yaml = [
        telemetry(ROOT, "mesh", "metrics:\n- overrides:\n  - match: {metric: REQUEST_COUNT}\n    tagOverrides:\n      a: {value: mesh}\n      b: {value: mesh}\n      c: {value: mesh}"),
        telemetry("shop", "ns", "metrics:\n- overrides:\n  - match: {metric: REQUEST_COUNT}\n    tagOverrides:\n      b: {value: ns}\n      c: {value: ns}"),
        telemetry("shop", "cart", "selector: {matchLabels: {app: cart}}\nmetrics:\n- overrides:\n  - match: {metric: REQUEST_COUNT}\n    tagOverrides:\n      c: {value: workload}"),
        // Not for this workload: another namespace, another selector, a targetRef.
        telemetry("other", "ns", "metrics:\n- overrides:\n  - tagOverrides: {x: {value: other}}"),
        telemetry("shop", "web", "selector: {matchLabels: {app: web}}\nmetrics:\n- overrides:\n  - tagOverrides: {x: {value: web}}"),
        telemetry("shop", "gw", "targetRefs:\n- {group: gateway.networking.k8s.io, kind: Gateway, name: gw}\nmetrics:\n- overrides:\n  - tagOverrides: {x: {value: gateway}}"),
    ]
    .concat();
    let telemetries = parse(&yaml);
    let names: Vec<&str> = applicable(&telemetries, ROOT, &cart())
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["mesh", "ns", "cart"]);
    assert_eq!(
        outbound(&yaml),
        r#"{"metrics":[{"dimensions":{"a":"mesh","b":"ns","c":"workload"},"name":"requests_total"}]}"#
    );
    // A workload the selector does not match gets mesh and namespace only.
    let web_v2 = Workload::new("shop", [("app", "cartx")]);
    assert_eq!(
        json(&telemetries, &web_v2, ListenerDirection::Outbound),
        r#"{"metrics":[{"dimensions":{"a":"mesh","b":"ns","c":"ns"},"name":"requests_total"}]}"#
    );
}

#[test]
fn one_namespace_wide_resource_per_namespace_and_every_matching_selector() {
    let yaml = [
        // Both namespace-wide: the first by creation time, then name, applies.
        telemetry("shop", "b-ns", "metrics:\n- overrides:\n  - tagOverrides: {ns: {value: b}}"),
        telemetry("shop", "a-ns", "metrics:\n- overrides:\n  - tagOverrides: {ns: {value: a}}"),
        // Both select the workload: both apply, in name order, the later winning.
        telemetry("shop", "sel-2", "selector: {matchLabels: {app: cart, version: v1}}\nmetrics:\n- overrides:\n  - tagOverrides: {sel: {value: '2'}}"),
        telemetry("shop", "sel-1", "selector: {matchLabels: {app: cart}}\nmetrics:\n- overrides:\n  - tagOverrides: {sel: {value: '1'}}"),
    ]
    .concat();
    let telemetries = parse(&yaml);
    let names: Vec<&str> = applicable(&telemetries, ROOT, &cart())
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["a-ns", "sel-1", "sel-2"]);
    let config = plugin_config(&telemetries, ROOT, &cart(), ListenerDirection::Outbound).unwrap();
    let count = config.metrics.iter().find(|m| m.name == "requests_total").unwrap();
    assert_eq!(count.dimensions["ns"], "a");
    assert_eq!(count.dimensions["sel"], "2");
    // creationTimestamp comes before the name.
    let yaml = yaml.replace(
        "name: b-ns\n",
        "name: b-ns\n  creationTimestamp: \"2020-01-01T00:00:00Z\"\n",
    );
    let yaml = yaml.replace(
        "name: a-ns\n",
        "name: a-ns\n  creationTimestamp: \"2021-01-01T00:00:00Z\"\n",
    );
    let telemetries = parse(&yaml);
    assert_eq!(applicable(&telemetries, ROOT, &cart())[0].name, "b-ns");
}

#[test]
fn in_the_root_namespace_selectors_apply_to_its_own_workloads() {
    let yaml = [
        telemetry(ROOT, "mesh", "metrics:\n- overrides:\n  - tagOverrides: {t: {value: mesh}}"),
        telemetry(ROOT, "ingress", "selector: {matchLabels: {istio: ingressgateway}}\nmetrics:\n- overrides:\n  - tagOverrides: {t: {value: ingress}}"),
    ]
    .concat();
    let telemetries = parse(&yaml);
    let ingress = Workload::new(ROOT, [("istio", "ingressgateway")]);
    let names: Vec<&str> = applicable(&telemetries, ROOT, &ingress)
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["mesh", "ingress"]);
    // A root-namespace selector does not reach other namespaces.
    let names: Vec<&str> = applicable(&telemetries, ROOT, &cart())
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["mesh"]);
    // Another root namespace makes istio-system an ordinary namespace.
    assert!(applicable(&telemetries, "mesh-root", &cart()).is_empty());
}

#[test]
fn each_metric_selector_maps_to_its_short_name() {
    for (api, short) in [
        ("REQUEST_COUNT", "requests_total"),
        ("REQUEST_DURATION", "request_duration_milliseconds"),
        ("REQUEST_SIZE", "request_bytes"),
        ("RESPONSE_SIZE", "response_bytes"),
        ("TCP_OPENED_CONNECTIONS", "tcp_connections_opened_total"),
        ("TCP_CLOSED_CONNECTIONS", "tcp_connections_closed_total"),
        ("TCP_SENT_BYTES", "tcp_sent_bytes_total"),
        ("TCP_RECEIVED_BYTES", "tcp_received_bytes_total"),
        ("GRPC_REQUEST_MESSAGES", "request_messages_total"),
        ("GRPC_RESPONSE_MESSAGES", "response_messages_total"),
    ] {
        let yaml = telemetry(
            ROOT,
            "m",
            &format!("metrics:\n- overrides:\n  - match: {{metric: {api}}}\n    disabled: true"),
        );
        assert_eq!(
            outbound(&yaml),
            format!(r#"{{"metrics":[{{"name":"{short}","drop":true}}]}}"#),
            "{api}"
        );
    }
}

#[test]
fn all_metrics_expands_to_every_standard_metric_in_api_name_order() {
    let expected: Vec<&str> = vec![
        "request_messages_total",        // GRPC_REQUEST_MESSAGES
        "response_messages_total",       // GRPC_RESPONSE_MESSAGES
        "requests_total",                // REQUEST_COUNT
        "request_duration_milliseconds", // REQUEST_DURATION
        "request_bytes",                 // REQUEST_SIZE
        "response_bytes",                // RESPONSE_SIZE
        "tcp_connections_closed_total",  // TCP_CLOSED_CONNECTIONS
        "tcp_connections_opened_total",  // TCP_OPENED_CONNECTIONS
        "tcp_received_bytes_total",      // TCP_RECEIVED_BYTES
        "tcp_sent_bytes_total",          // TCP_SENT_BYTES
    ];
    for spec in [
        "metrics:\n- overrides:\n  - match: {metric: ALL_METRICS}\n    tagOverrides: {t: {value: v}}",
        "metrics:\n- overrides:\n  - match: {mode: CLIENT_AND_SERVER}\n    tagOverrides: {t: {value: v}}",
        "metrics:\n- overrides:\n  - tagOverrides: {t: {value: v}}",
    ] {
        let config = plugin_config(
            &parse(&telemetry(ROOT, "m", spec)),
            ROOT,
            &cart(),
            ListenerDirection::Outbound,
        )
        .unwrap();
        let names: Vec<&str> = config.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, expected, "{spec}");
        assert!(config.metrics.iter().all(|m| m.dimensions["t"] == "v" && !m.drop));
    }
}

#[test]
fn modes_select_the_listener() {
    let yaml = telemetry(
        ROOT,
        "m",
        "metrics:\n- overrides:\n  - match: {metric: REQUEST_COUNT, mode: CLIENT}\n    tagOverrides: {c: {value: client}}\n  - match: {metric: REQUEST_COUNT, mode: SERVER}\n    tagOverrides: {s: {value: server}}\n  - match: {metric: REQUEST_COUNT, mode: CLIENT_AND_SERVER}\n    tagOverrides: {b: {value: both}}",
    );
    let telemetries = parse(&yaml);
    assert_eq!(
        json(&telemetries, &cart(), ListenerDirection::Outbound),
        r#"{"metrics":[{"dimensions":{"b":"both","c":"client"},"name":"requests_total"}]}"#
    );
    assert_eq!(
        json(&telemetries, &cart(), ListenerDirection::Inbound),
        r#"{"disable_host_header_fallback":true,"metrics":[{"dimensions":{"b":"both","s":"server"},"name":"requests_total"}]}"#
    );
}

#[test]
fn disabled_drops_and_all_metrics_disabled_removes_the_filter() {
    let yaml = telemetry(
        ROOT,
        "m",
        "metrics:\n- overrides:\n  - match: {metric: REQUEST_SIZE}\n    disabled: true\n  - match: {metric: ALL_METRICS, mode: SERVER}\n    disabled: true",
    );
    let telemetries = parse(&yaml);
    assert_eq!(
        json(&telemetries, &cart(), ListenerDirection::Outbound),
        r#"{"metrics":[{"name":"request_bytes","drop":true}]}"#
    );
    assert_eq!(json(&telemetries, &cart(), ListenerDirection::Inbound), "null");
    // The namespace turns a metric back on with `disabled: false`.
    let yaml = [
        yaml,
        telemetry(
            "shop",
            "ns",
            "metrics:\n- overrides:\n  - match: {metric: REQUEST_SIZE}\n    disabled: false",
        ),
    ]
    .concat();
    let telemetries = parse(&yaml);
    assert_eq!(
        json(&telemetries, &cart(), ListenerDirection::Outbound),
        r#"{"metrics":[{"name":"request_bytes"}]}"#
    );
    assert_eq!(
        json(&telemetries, &cart(), ListenerDirection::Inbound),
        r#"{"disable_host_header_fallback":true,"metrics":[{"name":"request_bytes"}]}"#,
        "any later override for the mode re-enables a filter disabled with ALL_METRICS"
    );
}

#[test]
fn upsert_and_remove_merge_per_tag_later_wins_and_come_out_in_tag_order() {
    let yaml = [
        telemetry(
            ROOT,
            "mesh",
            "metrics:\n- overrides:\n  - match: {metric: REQUEST_COUNT}\n    tagOverrides:\n      response_code: {operation: REMOVE}\n      z_tag: {operation: UPSERT, value: 'request.host'}\n      a_tag: {value: 'request.method'}\n      destination_port: {operation: REMOVE}",
        ),
        telemetry(
            "shop",
            "ns",
            "metrics:\n- overrides:\n  - match: {metric: REQUEST_COUNT}\n    tagOverrides:\n      response_code: {value: 'string(response.code)'}\n      a_tag: {operation: REMOVE}",
        ),
    ]
    .concat();
    assert_eq!(
        outbound(&yaml),
        concat!(
            r#"{"metrics":[{"dimensions":{"response_code":"string(response.code)","z_tag":"request.host"},"#,
            r#""name":"requests_total","tags_to_remove":["a_tag","destination_port"]}]}"#
        )
    );
}

#[test]
fn custom_metrics_pass_through_and_all_metrics_does_not_reach_them() {
    let yaml = telemetry(
        ROOT,
        "m",
        "metrics:\n- overrides:\n  - match: {customMetric: my_metric, mode: CLIENT}\n    tagOverrides: {t: {value: x}}\n  - match: {customMetric: ZZZ}\n    disabled: true",
    );
    assert_eq!(
        outbound(&yaml),
        r#"{"metrics":[{"name":"ZZZ","drop":true},{"dimensions":{"t":"x"},"name":"my_metric"}]}"#,
        "sorted by key, byte order, as istiod does"
    );
    let config = plugin_config(&parse(&yaml), ROOT, &cart(), ListenerDirection::Inbound).unwrap();
    assert_eq!(
        config.metrics.len(),
        1,
        "the CLIENT override is not on the inbound listener"
    );
}

#[test]
fn reporting_interval_the_last_one_given_wins() {
    let yaml = [
        telemetry(ROOT, "mesh", "metrics:\n- reportingInterval: 15s"),
        telemetry("shop", "ns", "metrics:\n- reportingInterval: 0.5s"),
        telemetry("shop", "cart", "selector: {matchLabels: {app: cart}}\nmetrics:\n- overrides:\n  - match: {metric: TCP_SENT_BYTES}\n    disabled: true"),
    ]
    .concat();
    let telemetries = parse(&yaml);
    assert_eq!(
        json(&telemetries, &cart(), ListenerDirection::Outbound),
        r#"{"tcp_reporting_duration":"0.500s","metrics":[{"name":"tcp_sent_bytes_total","drop":true}]}"#
    );
    let config = plugin_config(&telemetries, ROOT, &cart(), ListenerDirection::Outbound).unwrap();
    assert_eq!(config.reporting_period(), Some(std::time::Duration::from_millis(500)));
    let elsewhere = Workload::new("other", [("app", "cart")]);
    assert_eq!(
        json(&telemetries, &elsewhere, ListenerDirection::Outbound),
        r#"{"tcp_reporting_duration":"15s"}"#
    );
}

#[test]
fn other_providers_are_out_of_scope() {
    // Entries for another provider do not touch the prometheus filter...
    let yaml = [
        telemetry(ROOT, "mesh", "metrics:\n- providers: [{name: prometheus}]\n  overrides:\n  - match: {metric: REQUEST_COUNT}\n    disabled: true\n- providers: [{name: stackdriver}]\n  reportingInterval: 1s\n  overrides:\n  - match: {metric: REQUEST_SIZE}\n    disabled: true\n- providers: [{name: prometheus}, {name: stackdriver}]"),
    ]
    .concat();
    assert_eq!(
        outbound(&yaml),
        r#"{"metrics":[{"name":"requests_total","drop":true}]}"#
    );
    // ...and a later list without prometheus leaves the listener without it.
    let yaml = [
        yaml,
        telemetry("shop", "ns", "metrics:\n- providers: [{name: stackdriver}]"),
    ]
    .concat();
    assert_eq!(outbound(&yaml), "null");
}

#[test]
fn v1alpha1_other_kinds_and_tracing_or_logging() {
    let yaml = "
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata: {name: mesh, namespace: istio-system, labels: {team: x}, annotations: {a: b}}
spec:
  tracing: [{randomSamplingPercentage: 10}]
  accessLogging: [{providers: [{name: envoy}]}]
  metrics:
  - overrides: [{match: {metric: REQUEST_DURATION}, disabled: true}]
status: {observedGeneration: 1}
";
    let docs = parse_yaml(yaml).unwrap();
    assert_eq!(docs.skipped.len(), 1);
    assert_eq!(
        (docs.skipped[0].api_version.as_str(), docs.skipped[0].kind.as_str()),
        ("v1", "Namespace")
    );
    assert_eq!(
        json(&docs.telemetries, &cart(), ListenerDirection::Outbound),
        r#"{"metrics":[{"name":"request_duration_milliseconds","drop":true}]}"#
    );
}

#[test]
fn the_generated_config_loads_into_the_plugin() {
    let yaml = telemetry(
        ROOT,
        "mesh",
        "metrics:\n- overrides:\n  - match: {metric: REQUEST_COUNT, mode: CLIENT}\n    tagOverrides:\n      response_flags: {operation: REMOVE}\n      request_method: {value: request.method}\n  - match: {metric: REQUEST_SIZE}\n    disabled: true",
    );
    let config = plugin_config(&parse(&yaml), ROOT, &cart(), ListenerDirection::Outbound).unwrap();
    let config = PluginConfig::from_json(&config.to_json()).unwrap();
    let registry = Registry::default();
    let plugin = StatsPlugin::new(client_node(), Reporter::Outbound, &config, &registry).unwrap();
    let facts = ConnectionFacts::default().with_peer(Some(server_record()));
    let mut conn = plugin.connection(&facts);
    let mut req = RequestFacts::http("reviews:9080", 200);
    req.method = Some("GET");
    req.request_bytes = Some(10);
    plugin.record_request(&mut conn, &req);
    let (labels, _) = only(&registry, "istio_requests_total");
    assert!(labels.iter().all(|(k, _)| k != "response_flags"));
    assert_eq!(labels.last().unwrap(), &("request_method".to_owned(), "GET".to_owned()));
    assert!(samples(&registry, "istio_request_bytes_count").is_empty(), "dropped");
}

fn field_error(yaml: &str) -> (String, FieldProblem) {
    match parse_yaml(yaml) {
        Err(TelemetryError::Field { path, problem, .. }) => (path, problem),
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_documents_are_refused_with_the_field_path() {
    let head = "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t, namespace: shop}\n";
    let cases: Vec<(String, &str)> = vec![
        (
            "apiVersion: telemetry.istio.io/v2\nkind: Telemetry\nmetadata: {name: t, namespace: shop}\n".into(),
            r#"document 0: apiVersion: unsupported apiVersion "telemetry.istio.io/v2" (expected telemetry.istio.io/v1 or telemetry.istio.io/v1alpha1)"#,
        ),
        (
            "apiVersion: telemetry.istio.io/v1\nkind: Telemetri\nmetadata: {name: t}\n".into(),
            r#"document 0: kind: unknown kind "Telemetri" in telemetry.istio.io (expected Telemetry)"#,
        ),
        ("kind: Telemetry\n".into(), "document 0: apiVersion: missing"),
        ("just text\n".into(), "document 0: expected a mapping, found a string"),
        (
            "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t}\n".into(),
            "document 0 (t): metadata.namespace: missing",
        ),
        (
            format!("{head}spec:\n  metrics:\n  - overrides:\n    - match: {{metric: REQUEST_COUNT}}\n    - match: {{metric: REQUEST_CNT}}\n"),
            r#"document 0 (shop/t): spec.metrics[0].overrides[1].match.metric: unknown metric "REQUEST_CNT""#,
        ),
        (
            format!("{head}spec:\n  metrics:\n  - overrides:\n    - tagOverrides: {{foo: {{operation: DELETE}}}}\n"),
            r#"document 0 (shop/t): spec.metrics[0].overrides[0].tagOverrides.foo.operation: unknown operation "DELETE" (expected UPSERT or REMOVE)"#,
        ),
        (
            format!("{head}spec:\n  metrics:\n  - overrides:\n    - tagOverrides: {{foo: {{operation: UPSERT}}}}\n"),
            "document 0 (shop/t): spec.metrics[0].overrides[0].tagOverrides.foo.value: must be set when operation is UPSERT",
        ),
        (
            format!("{head}spec:\n  metrics:\n  - overrides:\n    - tagOverrides: {{foo: {{}}}}\n"),
            "document 0 (shop/t): spec.metrics[0].overrides[0].tagOverrides.foo.value: must be set when operation is UPSERT",
        ),
        (
            format!("{head}spec:\n  metrics:\n  - overrides:\n    - tagOverrides: {{foo: {{operation: REMOVE, value: oops}}}}\n"),
            "document 0 (shop/t): spec.metrics[0].overrides[0].tagOverrides.foo.value: must not be set when operation is REMOVE",
        ),
        (
            format!("{head}spec:\n  metrics:\n  - overrides:\n    - match: {{mode: BOTH}}\n"),
            r#"document 0 (shop/t): spec.metrics[0].overrides[0].match.mode: unknown mode "BOTH" (expected CLIENT_AND_SERVER, CLIENT or SERVER)"#,
        ),
        (
            format!("{head}spec:\n  metrics:\n  - overrides:\n    - match: {{metric: REQUEST_COUNT, customMetric: x}}\n"),
            "document 0 (shop/t): spec.metrics[0].overrides[0].match: only one of metric and customMetric may be set",
        ),
        (
            format!("{head}spec:\n  metrics:\n  - overrides:\n    - match: {{customMetric: ''}}\n"),
            "document 0 (shop/t): spec.metrics[0].overrides[0].match.customMetric: must not be empty",
        ),
        (
            format!("{head}spec:\n  metrics:\n  - providers: [{{name: ''}}]\n"),
            "document 0 (shop/t): spec.metrics[0].providers[0].name: must not be empty",
        ),
        (
            format!("{head}spec:\n  metrics:\n  - reportingInterval: 1m\n"),
            r#"document 0 (shop/t): spec.metrics[0].reportingInterval: invalid duration "1m" (expected a proto-JSON duration such as "5s" or "0.5s")"#,
        ),
        (
            format!("{head}spec:\n  selector: {{matchLabels: {{app: a}}}}\n  targetRefs: [{{kind: Gateway, name: g}}]\n"),
            "document 0 (shop/t): spec: only one of selector, targetRef and targetRefs may be set",
        ),
        (
            format!("{head}spec:\n  metrics:\n  - override: []\n"),
            "document 0 (shop/t): spec.metrics[0].override: unknown field (expected one of: providers, overrides, reportingInterval)",
        ),
        (
            "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t, namespace: shop, creationTimestamp: yesterday}\n".into(),
            r#"document 0 (shop/t): metadata.creationTimestamp: invalid timestamp "yesterday" (expected RFC 3339 in UTC such as "2024-05-01T12:00:00Z")"#,
        ),
    ];
    for (yaml, expected) in &cases {
        assert_eq!(&error(yaml), expected, "{yaml}");
    }
}

#[test]
fn wrong_types_are_refused() {
    let head = "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t, namespace: shop}\n";
    for (spec, path, expected, found) in [
        ("metrics: {}", "spec.metrics", "a sequence", "a mapping"),
        (
            "metrics:\n  - overrides: [{disabled: 'yes'}]",
            "spec.metrics[0].overrides[0].disabled",
            "a boolean",
            "a string",
        ),
        (
            "metrics:\n  - overrides: [{tagOverrides: {t: {value: 1}}}]",
            "spec.metrics[0].overrides[0].tagOverrides.t.value",
            "a string",
            "a number",
        ),
        (
            "metrics:\n  - overrides: [{tagOverrides: {t: }}]",
            "spec.metrics[0].overrides[0].tagOverrides.t",
            "a mapping",
            "null",
        ),
        (
            "metrics:\n  - overrides: [{match: {metric: 1}}]",
            "spec.metrics[0].overrides[0].match.metric",
            "a string",
            "a number",
        ),
        (
            "selector: {matchLabels: {version: 2}}",
            "spec.selector.matchLabels.version",
            "a string",
            "a number",
        ),
        (
            "metrics:\n  - reportingInterval: 5",
            "spec.metrics[0].reportingInterval",
            "a string",
            "a number",
        ),
        (
            "metrics:\n  - providers: prometheus",
            "spec.metrics[0].providers",
            "a sequence",
            "a string",
        ),
    ] {
        let yaml = format!("{head}spec:\n  {spec}\n");
        assert_eq!(
            field_error(&yaml),
            (path.to_owned(), FieldProblem::WrongType { expected, found }),
            "{spec}"
        );
    }
    assert_eq!(
        error(&format!("{head}---\n{head}spec: []\n")),
        "document 1 (shop/t): spec: expected a mapping, found a sequence"
    );
}
