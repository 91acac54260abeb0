//! The configuration rules of `docs/reference/telemetry.md` §9: loading, overrides in order,
//! failures, custom metrics, buckets.

mod common;

use common::*;
use meshtel::{
    ConfigError, ConnectionFacts, PluginConfig, Reporter, RequestFacts, STANDARD_TAGS, StatsPlugin, TcpRouting,
};
use meshtel_metrics::Registry;

fn plugin(config: &str) -> (Registry, StatsPlugin) {
    let registry = Registry::default();
    let config = PluginConfig::from_yaml(config).unwrap_or_else(|e| panic!("{e}"));
    let plugin =
        StatsPlugin::new(client_node(), Reporter::Outbound, &config, &registry).unwrap_or_else(|e| panic!("{e}"));
    (registry, plugin)
}

fn one_request(plugin: &StatsPlugin) {
    let facts = ConnectionFacts::default().with_peer(Some(server_record()));
    let mut conn = plugin.connection(&facts);
    let mut req = RequestFacts::http("reviews:9080", 200);
    req.method = Some("GET");
    req.request_bytes = Some(10);
    plugin.record_request(&mut conn, &req);
}

#[test]
fn the_example_of_9_6() {
    let (registry, plugin) = plugin(
        r#"
expression_language: mixer
tcp_reporting_duration: 10s
metrics:
  - name: request_bytes
    drop: true
  - tags_to_remove: [response_flags]
  - name: requests_total
    dimensions:
      request_host: request.host | "unknown"
      destination_port: destination.port | 0
definitions:
  - name: streams
    value: "1"
    type: COUNTER
"#,
    );
    assert_eq!(plugin.reporting_period(), Some(std::time::Duration::from_secs(10)));
    one_request(&plugin);
    assert!(samples(&registry, "istio_request_bytes_count").is_empty(), "dropped");
    let (labels, _) = only(&registry, "istio_requests_total");
    let names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
    let mut expected: Vec<&str> = STANDARD_TAGS
        .iter()
        .copied()
        .filter(|t| *t != "response_flags")
        .collect();
    expected.extend(["destination_port", "request_host"]);
    assert_eq!(names, expected);
    assert_eq!(labels.last().unwrap().1, "reviews:9080");
    assert_eq!(labels[labels.len() - 2].1, "0");
    // Every standard metric with response_flags lost it.
    assert!(
        !plugin
            .label_names("istio_response_bytes")
            .unwrap()
            .contains(&"response_flags")
    );
    assert!(
        !plugin
            .label_names("istio_tcp_sent_bytes_total")
            .unwrap()
            .contains(&"response_flags")
    );
    assert_eq!(plugin.label_names("istio_request_messages_total").unwrap().len(), 20);
    // The custom counter: no labels, once per HTTP stream and once per TCP connection.
    // Counter samples carry `_total` (meshtel-metrics' counter naming, both formats).
    let (labels, value) = only(&registry, "istio_streams_total");
    assert!(labels.is_empty());
    assert_eq!(value, "1");
    let tcp = plugin.tcp_connection(
        ConnectionFacts::default(),
        TcpRouting::default(),
        std::time::Duration::ZERO,
    );
    tcp.close(&plugin);
    assert_eq!(only(&registry, "istio_streams_total").1, "2");
}

#[test]
fn overrides_apply_in_order_and_later_entries_win() {
    let (registry, plugin) = plugin(
        r#"
expression_language: mixer
metrics:
  - dimensions: {source_app: '"first"'}
  - name: requests_total
    tags_to_remove: [source_app]
  - name: REQUEST_COUNT
    dimensions: {source_app: '"again"', reporter: 'toLower("X")'}
  - name: requests_total
    dimensions: {zeta: '"z"', alpha: '"a"'}
  - name: requests_total
    dimensions: {zeta: '"z2"'}
"#,
    );
    one_request(&plugin);
    let (labels, _) = only(&registry, "istio_requests_total");
    let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(
        get("source_app"),
        Some("again"),
        "a later entry turns a removal back into a value"
    );
    assert_eq!(get("reporter"), Some("x"));
    // Added tags: sorted within an entry, unique per metric, first position kept.
    let names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(&names[25..], ["alpha", "zeta"]);
    assert_eq!(get("zeta"), Some("z2"));
    // The all-metrics override still applies to the histograms.
    let (labels, _) = only(&registry, "istio_request_bytes_count");
    assert_eq!(labels.iter().find(|(n, _)| n == "source_app").unwrap().1, "first");
}

#[test]
fn failures_remove_tags_or_yield_unknown() {
    let (registry, plugin) = plugin(
        r#"
expression_language: mixer
metrics:
  - name: requests_total
    dimensions:
      source_app: 'source.labels["app"] |'
      destination_app: 'request.headers'
      broken_new: 'nope.attr'
      strict: 'request.auth.principal'
      wrong_type: 'response.code == "x"'
"#,
    );
    one_request(&plugin);
    let (labels, _) = only(&registry, "istio_requests_total");
    let names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        !names.contains(&"source_app"),
        "a parse failure removes the standard tag"
    );
    assert!(
        !names.contains(&"destination_app"),
        "a STRING_MAP expression cannot be a label"
    );
    assert!(
        !names.contains(&"broken_new") && !names.contains(&"wrong_type"),
        "new tags that do not compile are not added"
    );
    assert_eq!(
        labels.last().unwrap(),
        &("strict".to_owned(), "unknown".to_owned()),
        "evaluation errors give unknown"
    );
    assert_eq!(plugin.warnings().len(), 4, "{:?}", plugin.warnings());
}

#[test]
fn custom_metrics() {
    let (registry, plugin) = plugin(
        r#"
expression_language: mixer
definitions:
  - {name: requests_total, value: "1"}
  - {name: bytes_in, value: "request.total_size | 0", type: HISTOGRAM}
  - {name: level, value: "size(request.method | \"\")", type: GAUGE}
  - {name: weird, value: "1.5", type: COUNTER}
  - {name: neg, value: "0 + 9223372036854775807 + 9223372036854775807", type: COUNTER}
  - {name: text, value: "\"42\"", type: COUNTER}
  - {name: bad, value: "((("}
  - {name: level, value: "7", type: GAUGE}
metrics:
  - name: level
    dimensions: {method: 'request.method | "-"', reporter: '"custom"'}
  - name: level
    tags_to_remove: [reporter]
"#,
    );
    one_request(&plugin);
    assert_eq!(only(&registry, "istio_bytes_in_sum").1, "10");
    let (labels, value) = only(&registry, "istio_level");
    assert_eq!(
        labels_of(&labels),
        [("method", "GET"), ("reporter", "custom")],
        "standard tag appended; removal never applies"
    );
    assert_eq!(value, "3");
    assert_eq!(only(&registry, "istio_weird_total").1, "0");
    assert_eq!(only(&registry, "istio_neg_total").1, "0");
    assert_eq!(only(&registry, "istio_text_total").1, "42");
    assert!(samples(&registry, "istio_bad_total").is_empty());
    let w = plugin.warnings().join("\n");
    assert!(
        w.contains("standard metric name") && w.contains("duplicate") && w.contains("does not compile"),
        "{w}"
    );
}

#[test]
fn histogram_bucket_overrides() {
    let (registry, plugin) = plugin(
        r"
histogram_buckets:
  istiocustom: [1, 5, 10]
  istio_request_duration: [100, 50, 50]
",
    );
    let facts = ConnectionFacts::default();
    let mut conn = plugin.connection(&facts);
    let mut req = RequestFacts::http("h", 200);
    req.duration_ms = Some(70);
    req.request_bytes = Some(7);
    plugin.record_request(&mut conn, &req);
    let text = registry.render_to_string(meshtel_metrics::Format::Prometheus);
    let les = |metric: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{metric}_bucket{{")))
            .map(|l| l.split("le=\"").nth(1).unwrap().split('"').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        les("istio_request_duration_milliseconds"),
        ["50", "100", "+Inf"],
        "longest prefix; sorted, de-duplicated"
    );
    assert_eq!(
        les("istio_request_bytes"),
        ["1", "5", "10", "+Inf"],
        "istiocustom matches every istio_ metric"
    );
    // Invalid entries are errors.
    for bad in [
        "histogram_buckets: {x: [0]}",
        "histogram_buckets: {x: [-1, 2]}",
        "histogram_buckets: {x: [.inf]}",
    ] {
        let config = PluginConfig::from_yaml(bad).unwrap();
        let err = StatsPlugin::new(client_node(), Reporter::Outbound, &config, &Registry::default()).unwrap_err();
        assert!(matches!(err, ConfigError::Buckets { .. }), "{bad}: {err}");
    }
}

#[test]
fn loading() {
    // Unknown fields are errors, so typos do not pass silently.
    assert!(matches!(
        PluginConfig::from_json(r#"{"disable_host_header_fallbak": true}"#),
        Err(ConfigError::Parse(_))
    ));
    assert!(PluginConfig::from_json(r#"{"metrics": [{"nme": "x"}]}"#).is_err());
    // lowerCamelCase spellings, proto-JSON durations, enum numbers.
    let c = PluginConfig::from_json(
        r#"{"disableHostHeaderFallback": true, "tcpReportingDuration": "0.5s", "reporter": 1}"#,
    )
    .unwrap();
    assert!(c.disable_host_header_fallback);
    assert_eq!(c.reporting_period(), Some(std::time::Duration::from_millis(500)));
    assert_eq!(
        PluginConfig::from_json(r#"{"tcp_reporting_duration": "0s"}"#)
            .unwrap()
            .reporting_period(),
        None
    );
    assert_eq!(
        PluginConfig::from_json(r#"{"tcp_reporting_duration": "-1s"}"#)
            .unwrap()
            .reporting_period(),
        None
    );
    assert_eq!(
        PluginConfig::default().reporting_period(),
        Some(std::time::Duration::from_secs(5))
    );
    assert!(PluginConfig::from_json(r#"{"tcp_reporting_duration": "5"}"#).is_err());
    // Regression (fuzz target plugin_config): seconds whose nanoseconds overflow an i128 are an
    // invalid duration, not an arithmetic overflow; the largest that fit still saturate.
    for text in [
        r#"{"tcp_reporting_duration": "99999999999999999999999999999999s"}"#,
        r#"{"tcp_reporting_duration": "-99999999999999999999999999999999.5s"}"#,
    ] {
        assert!(
            matches!(PluginConfig::from_json(text), Err(ConfigError::Parse(_))),
            "{text}"
        );
    }
    assert_eq!(
        PluginConfig::from_json(r#"{"tcp_reporting_duration": "99999999999999999999999999999s"}"#)
            .unwrap()
            .reporting_period(),
        Some(std::time::Duration::from_nanos(u64::MAX))
    );
    // Wasm-era fields: accepted, ignored, reported.
    let c = PluginConfig::from_json(r#"{"debug": true, "stat_prefix": "x", "rotation_interval": "60s"}"#).unwrap();
    let p = StatsPlugin::new(client_node(), Reporter::Outbound, &c, &Registry::default()).unwrap();
    assert_eq!(p.warnings().len(), 3, "{:?}", p.warnings());
    // match is refused; custom names are checked.
    let c = PluginConfig::from_json(r#"{"metrics": [{"match": "x"}]}"#).unwrap();
    assert!(matches!(
        StatsPlugin::new(client_node(), Reporter::Outbound, &c, &Registry::default()),
        Err(ConfigError::Match(0))
    ));
    for name in ["build", "a-b", ""] {
        let c = PluginConfig::from_value(serde_json::json!({"definitions": [{"name": name, "value": "1"}]})).unwrap();
        let err = StatsPlugin::new(client_node(), Reporter::Outbound, &c, &Registry::default()).unwrap_err();
        assert!(matches!(err, ConfigError::MetricName { .. }), "{name}: {err}");
    }
    // drop without a standard name warns; a name naming no metric warns.
    let c = PluginConfig::from_json(r#"{"metrics": [{"drop": true}, {"name": "nothing", "dimensions": {"a": "1"}}]}"#)
        .unwrap();
    let p = StatsPlugin::new(client_node(), Reporter::Outbound, &c, &Registry::default()).unwrap();
    assert_eq!(p.warnings().len(), 2);
    // One plugin per registry.
    let registry = Registry::default();
    StatsPlugin::new(client_node(), Reporter::Outbound, &PluginConfig::default(), &registry).unwrap();
    assert!(matches!(
        StatsPlugin::new(client_node(), Reporter::Outbound, &PluginConfig::default(), &registry),
        Err(ConfigError::Registry(_))
    ));
}

#[test]
fn serialises_back_with_upstream_names_and_reads_back_equal() {
    let text = r#"
disableHostHeaderFallback: true
tcp_reporting_duration: 1.5s
metrics:
  - name: request_bytes
    drop: true
  - tags_to_remove: [response_flags]
  - name: requests_total
    dimensions:
      request_host: request.host | "unknown"
definitions:
  - name: streams
    value: "1"
reporter: SERVER_GATEWAY
histogram_buckets:
  istiocustom_request_duration_milliseconds: [1, 10]
rotation_interval: 1m
debug: true
"#;
    let config = PluginConfig::from_yaml(text).unwrap();
    let json = config.to_json();
    assert_eq!(
        json,
        concat!(
            r#"{"disable_host_header_fallback":true,"tcp_reporting_duration":"1.500s","#,
            r#""metrics":[{"name":"request_bytes","drop":true},{"tags_to_remove":["response_flags"]},"#,
            r#"{"dimensions":{"request_host":"request.host | \"unknown\""},"name":"requests_total"}],"#,
            r#""definitions":[{"name":"streams","value":"1","type":"COUNTER"}],"reporter":"SERVER_GATEWAY","#,
            r#""histogram_buckets":{"istiocustom_request_duration_milliseconds":[1.0,10.0]}}"#
        ),
        "defaults and the ignored deprecated fields are left out"
    );
    let back = PluginConfig::from_json(&json).unwrap();
    assert_eq!(back.to_json(), json);
    assert_eq!(back.metrics, config.metrics);
    assert_eq!(back.definitions, config.definitions);
    assert_eq!(back.tcp_reporting_duration, Some(1_500_000_000));
    assert_eq!(PluginConfig::default().to_json(), "{}");
}

#[test]
fn durations_serialise_as_protobuf_writes_them() {
    for (text, json) in [
        ("5s", "5s"),
        ("0.5s", "0.500s"),
        ("0.000001s", "0.000001s"),
        ("1.000000001s", "1.000000001s"),
        ("-2.25s", "-2.250s"),
        ("0s", "0s"),
    ] {
        let config = PluginConfig::from_yaml(&format!("tcp_reporting_duration: {text:?}")).unwrap();
        assert_eq!(
            config.to_json(),
            format!(r#"{{"tcp_reporting_duration":"{json}"}}"#),
            "{text}"
        );
        let back = PluginConfig::from_json(&config.to_json()).unwrap();
        assert_eq!(back.tcp_reporting_duration, config.tcp_reporting_duration, "{text}");
    }
}
