//! Fuzzing entry points (built only under `cfg(fuzzing)`, which cargo-fuzz sets). Each takes
//! the fuzzer's bytes and panics when an invariant fails; the targets in `fuzz/` are one
//! call each.

use std::time::Duration;

use meshtel_metrics::{Format, Registry, RegistryError};

use crate::{ConfigError, ConnectionFacts, LocalNode, PluginConfig, Reporter, RequestFacts, StatsPlugin, TcpRouting};

/// `PluginConfig` parsing. For any UTF-8 text:
///
/// - [`PluginConfig::from_json`] and [`PluginConfig::from_yaml`] never panic;
/// - text that parses as JSON reads the same through [`PluginConfig::from_value`], and after
///   re-serialising its JSON value and parsing that again;
/// - a configuration that parses either builds a [`StatsPlugin`] on a fresh registry, which
///   then records an HTTP request, a gRPC stream and a TCP connection and renders both
///   exposition formats without panicking, or fails with a [`ConfigError`]: one of the
///   loader's, or the registry's for an invalid label name or a clash of exposed names (the
///   registry checks those); no other registry error (units, buckets, duplicate labels).
///
/// # Panics
/// When one of these invariants does not hold.
pub fn plugin_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let from_json = PluginConfig::from_json(text);
    let from_yaml = PluginConfig::from_yaml(text);
    if let Ok(config) = &from_json {
        let shown = format!("{config:?}");
        let value: serde_json::Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?}: a config but not a JSON value: {e}"));
        let again = serde_json::to_string(&value).expect("a JSON value serialises");
        for (how, reread) in [
            ("from_value", PluginConfig::from_value(value)),
            ("re-serialised", PluginConfig::from_json(&again)),
        ] {
            let reread = reread.unwrap_or_else(|e| panic!("{text:?}: {how} refuses it: {e}"));
            assert_eq!(shown, format!("{reread:?}"), "{text:?}: {how} reads it differently");
        }
    }
    for config in [from_json, from_yaml].into_iter().flatten() {
        build_and_record(&config);
    }
}

fn build_and_record(config: &PluginConfig) {
    let local = LocalNode::from_json(&serde_json::json!({"WORKLOAD_NAME": "w", "NAMESPACE": "ns"}));
    for reporter in [Reporter::Outbound, Reporter::Inbound] {
        let registry = Registry::default();
        let plugin = match StatsPlugin::new(local.clone(), reporter, config, &registry) {
            Ok(plugin) => plugin,
            // The registry, not the loader, checks label names and exposed-name clashes (a
            // custom `requests` against `istio_requests_total`): a typed error, as documented.
            Err(ConfigError::Registry(RegistryError::InvalidLabelName(_) | RegistryError::Duplicate(_))) => return,
            Err(e @ ConfigError::Registry(_)) => panic!("{config:?}: a fresh registry refused it: {e}"),
            Err(_) => return,
        };
        let mut conn = plugin.connection(&ConnectionFacts::default());
        let mut req = RequestFacts::http("svc:80", 200);
        req.duration_ms = Some(3);
        req.request_bytes = Some(10);
        req.response_bytes = Some(20);
        plugin.record_request(&mut conn, &req);
        let mut stream = plugin.grpc_stream(Duration::ZERO);
        stream.set_message_counts(1, 2);
        stream.tick(&plugin, &mut conn, &req, Duration::from_secs(3600));
        stream.finish(&plugin, &mut conn, &req);
        let mut tcp = plugin.tcp_connection(ConnectionFacts::default(), TcpRouting::default(), Duration::ZERO);
        tcp.resolve(&plugin, None);
        tcp.add_bytes(5, 6);
        tcp.tick(&plugin, Duration::from_secs(3600));
        tcp.close(&plugin);
        for format in [Format::Prometheus, Format::OpenMetrics] {
            let _ = registry.render_to_string(format);
        }
    }
}
