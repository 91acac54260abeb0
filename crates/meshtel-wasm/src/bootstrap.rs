//! `meshtel envoy bootstrap`: the Envoy configuration that goes with the module for one role
//! and node — `node`, `stats_config` (tag extraction and histogram buckets) and the two
//! filter entries (`docs/wasm.md`, "Bootstrap").
//!
//! The metric families, their label names in order and their bucket bounds are not listed
//! here a second time: a [`Vm`] is built from the same configuration and node as the module
//! would build, one request, one gRPC stream and one TCP connection are recorded into its
//! registry, and its exposition is read back.

use std::fmt::Write as _;
use std::time::Duration;

use meshtel::{ConnectionFacts, Protocol, RequestFacts, TcpRouting};
use meshtel_metrics::Format;
use serde_json::{Value as Json, json};

use crate::config::{FilterConfig, Role};
use crate::names::{histogram_regex, tag_regex};
use crate::vm::{Carrier, Vm, VmError, node_from_json};

/// Why no snippet could be generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// The node file is not a JSON object, or the configuration is rejected.
    #[error(transparent)]
    Vm(#[from] VmError),
    /// The plugin configuration is not JSON.
    #[error("plugin configuration: {0}")]
    PluginJson(String),
    /// The snippet could not be written as YAML.
    #[error("writing YAML: {0}")]
    Yaml(String),
}

/// What the snippet is generated for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BootstrapInput {
    /// Inbound or outbound.
    pub role: Role,
    /// The node metadata (a node file's JSON object).
    pub node: Json,
    /// The node id (`node.id`).
    pub node_id: String,
    /// The node's cluster (`node.cluster`; Envoy needs one for dynamic resources).
    pub node_cluster: String,
    /// The plugin configuration (`PluginConfig` JSON), if any.
    pub plugin: Option<Json>,
    /// The module's path, as Envoy will read it.
    pub wasm_path: String,
    /// The Wasm runtime (`envoy.wasm.runtime.v8`, `...wamr`, `...wasmtime`).
    pub runtime: String,
}

impl BootstrapInput {
    /// Input for `role` and `node` with defaults: node id and cluster derived from the node's
    /// name, workload and namespace as Istio derives them, no plugin configuration, the release build's path, the V8 runtime.
    #[must_use]
    pub fn new(role: Role, node: Json) -> Self {
        let text = |k: &str| node.get(k).and_then(Json::as_str).unwrap_or("unknown").to_owned();
        let node_id = format!(
            "sidecar~127.0.0.1~{}.{}~{}.svc.cluster.local",
            text("NAME"),
            text("NAMESPACE"),
            text("NAMESPACE")
        );
        let node_cluster = format!("{}.{}", text("WORKLOAD_NAME"), text("NAMESPACE"));
        Self {
            role,
            node,
            node_id,
            node_cluster,
            plugin: None,
            wasm_path: "target/wasm32-wasip1/release/meshtel_wasm.wasm".to_owned(),
            runtime: "envoy.wasm.runtime.v8".to_owned(),
        }
    }
}

/// One metric family as the host will expose it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Family {
    /// The exposed name (`istio_requests_total`).
    pub name: String,
    /// Label names, in exposition order.
    pub labels: Vec<String>,
    /// Finite bucket bounds, for a histogram.
    pub buckets: Option<Vec<f64>>,
}

/// The families a VM with this configuration records, read from its registry after one
/// request, one gRPC stream and one TCP connection.
///
/// # Errors
/// [`VmError`] if the VM cannot be built.
pub fn families(config: FilterConfig, node_metadata: &[u8], node_id: &str) -> Result<Vec<Family>, VmError> {
    let vm = Vm::new(config, node_metadata, node_id)?;
    let plugin = &vm.plugin;
    let mut conn = plugin.connection(&ConnectionFacts::default());
    plugin.record_request(&mut conn, &RequestFacts::http("example", 200));
    let mut grpc_req = RequestFacts::http("example", 200);
    grpc_req.protocol = Protocol::Grpc;
    let mut stream = plugin.grpc_stream(Duration::ZERO);
    stream.set_message_counts(1, 1);
    stream.finish(plugin, &mut conn, &grpc_req);
    let mut tcp = plugin.tcp_connection(ConnectionFacts::default(), TcpRouting::default(), Duration::ZERO);
    tcp.resolve(plugin, None);
    tcp.add_bytes(1, 1);
    tcp.close(plugin);
    vm.count_rejected(Carrier::Header);
    Ok(read_families(&vm.registry.render_to_string(Format::Prometheus)))
}

/// Families, labels and buckets from an exposition: the first series of each family.
fn read_families(text: &str) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    let mut current: Option<(String, bool)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            current = rest
                .split_once(' ')
                .map(|(name, kind)| (name.to_owned(), kind == "histogram"));
            continue;
        }
        let Some((name, histogram)) = &current else { continue };
        if line.starts_with('#') {
            continue;
        }
        let labels = label_names(line);
        match out.last_mut() {
            Some(f) if &f.name == name => {
                if let (Some(b), Some(le)) = (f.buckets.as_mut(), le_value(line))
                    && f.labels == labels
                    && le.is_finite()
                    && b.last().is_none_or(|l| *l < le)
                {
                    b.push(le);
                }
            }
            _ => out.push(Family {
                name: name.clone(),
                buckets: histogram.then(|| le_value(line).filter(|v| v.is_finite()).into_iter().collect()),
                labels,
            }),
        }
    }
    out
}

/// The label names of a sample line, `le` excluded.
fn label_names(line: &str) -> Vec<String> {
    let Some(body) = line.split_once('{').map(|(_, b)| b) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut rest = body;
    while let Some((name, after)) = rest.split_once("=\"") {
        let name = name.trim_start_matches(',');
        if name != "le" {
            names.push(name.to_owned());
        }
        // Skip the value: up to the first unescaped quote.
        let mut escaped = false;
        let end = after
            .char_indices()
            .find(|&(_, c)| {
                let stop = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                stop
            })
            .map_or(after.len(), |(i, _)| i + 1);
        rest = &after[end..];
        if rest.starts_with('}') {
            break;
        }
    }
    names
}

fn le_value(line: &str) -> Option<f64> {
    let at = line.find("le=\"")? + 4;
    let v = &line[at..at + line[at..].find('"')?];
    if v == "+Inf" {
        Some(f64::INFINITY)
    } else {
        v.parse().ok()
    }
}

/// The snippet as YAML: top-level `node` and `stats_config` (bootstrap fields), and
/// `http_filter` / `network_filter` (entries for a listener's filter chains).
///
/// # Errors
/// [`BootstrapError`]: a node file that is not an object, a rejected plugin configuration.
pub fn render(input: &BootstrapInput) -> Result<String, BootstrapError> {
    let node_bytes = node_from_json(&input.node)?;
    let filter_json = |filter: &str| {
        let mut c = json!({"role": input.role.as_str(), "filter": filter});
        if let Some(p) = &input.plugin {
            c["plugin"] = p.clone();
        }
        c.to_string()
    };
    let config = FilterConfig::from_json(filter_json("http").as_bytes(), "meshtel").map_err(VmError::from)?;
    let families = families(config, &node_bytes, &input.node_id)?;
    let mut tags: Vec<&str> = Vec::new();
    for f in &families {
        for l in &f.labels {
            if !tags.contains(&l.as_str()) {
                tags.push(l);
            }
        }
    }
    let stats_tags: Vec<Json> = tags
        .iter()
        .map(|t| json!({"tag_name": t, "regex": tag_regex(t)}))
        .collect();
    let buckets: Vec<Json> = families
        .iter()
        .filter_map(|f| {
            let b = f.buckets.as_ref()?;
            Some(json!({"match": {"safe_regex": {"regex": histogram_regex(&f.name)}}, "buckets": b}))
        })
        .collect();
    let filter = |kind: &str, api: &str| {
        json!({
            "name": format!("meshtel.{kind}"),
            "typed_config": {
                "@type": format!("type.googleapis.com/envoy.extensions.filters.{api}.wasm.v3.Wasm"),
                "config": {
                    "name": format!("meshtel_{kind}"),
                    "root_id": format!("meshtel_{kind}"),
                    // Telemetry must not take traffic down: a VM that fails to load or to
                    // configure lets traffic through unobserved (and logs why).
                    "failure_policy": "FAIL_OPEN",
                    "vm_config": {
                        "vm_id": format!("meshtel_{}", input.role.as_str()),
                        "runtime": input.runtime,
                        "code": {"local": {"filename": input.wasm_path}},
                    },
                    "configuration": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": filter_json(kind),
                    },
                },
            },
        })
    };
    let doc = json!({
        "node": {"id": input.node_id, "cluster": input.node_cluster, "metadata": input.node},
        "stats_config": {"stats_tags": stats_tags, "histogram_bucket_settings": buckets},
        "http_filter": filter("http", "http"),
        "network_filter": filter("network", "network"),
    });
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# meshtel envoy bootstrap --role {}: `node` and `stats_config` are bootstrap fields;",
        input.role.as_str()
    );
    out.push_str("# `http_filter` goes before the router in an HTTP connection manager, `network_filter`\n");
    out.push_str("# first in a TCP filter chain. Metric families and label order:\n");
    for f in &families {
        let _ = writeln!(out, "#   {}{{{}}}", f.name, f.labels.join(","));
    }
    out.push_str(&serde_yaml_ng::to_string(&doc).map_err(|e| BootstrapError::Yaml(e.to_string()))?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Json {
        json!({"NAME": "ratings-v1-5f8d", "NAMESPACE": "default", "WORKLOAD_NAME": "ratings-v1"})
    }

    #[test]
    fn families_follow_the_native_plugin() {
        let config = FilterConfig::from_json(br#"{"role": "inbound"}"#, "meshtel").expect("config");
        let node = node_from_json(&node()).expect("node");
        let fams = families(config, &node, "id").expect("families");
        let requests = fams
            .iter()
            .find(|f| f.name == "istio_requests_total")
            .expect("requests");
        let expected: Vec<&str> = meshtel::STANDARD_TAGS.to_vec();
        assert_eq!(requests.labels, expected);
        let duration = fams
            .iter()
            .find(|f| f.name == "istio_request_duration_milliseconds")
            .expect("duration");
        assert_eq!(duration.buckets.as_deref(), Some(&meshtel::ISTIO_DEFAULT_BUCKETS[..]));
        for name in [
            "istio_request_messages_total",
            "istio_tcp_connections_opened_total",
            "istio_tcp_received_bytes_total",
            "istio_build",
            "meshtel_peer_metadata_rejected_total",
        ] {
            assert!(fams.iter().any(|f| f.name == name), "{name}");
        }
    }

    #[test]
    fn the_snippet_is_yaml_with_rules_buckets_and_filters() {
        let mut input = BootstrapInput::new(Role::Outbound, node());
        input.plugin = Some(json!({"histogram_buckets": {"istio_request_duration_milliseconds": [1, 2, 3]}}));
        let text = render(&input).expect("snippet");
        let doc: serde_json::Value = serde_yaml_ng::from_str(&text).expect("yaml");
        let tags = doc["stats_config"]["stats_tags"].as_array().expect("tags");
        assert_eq!(tags[0]["tag_name"], "reporter");
        assert_eq!(tags[1]["tag_name"], "source_workload");
        let settings = doc["stats_config"]["histogram_bucket_settings"]
            .as_array()
            .expect("buckets");
        assert!(settings.iter().any(|s| s["buckets"] == json!([1.0, 2.0, 3.0])));
        let value = doc["http_filter"]["typed_config"]["config"]["configuration"]["value"]
            .as_str()
            .expect("configuration");
        let config = FilterConfig::from_json(value.as_bytes(), "x").expect("the module accepts it");
        assert_eq!(config.role, Role::Outbound);
        assert_eq!(doc["node"]["metadata"]["WORKLOAD_NAME"], "ratings-v1");
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut input = BootstrapInput::new(Role::Inbound, json!("not an object"));
        assert!(render(&input).is_err());
        input.node = node();
        input.plugin = Some(json!({"metrics": 7}));
        let err = render(&input).expect_err("bad plugin config");
        assert!(err.to_string().contains("plugin"), "{err}");
    }

    #[test]
    fn label_names_skip_escaped_quotes() {
        assert_eq!(label_names(r#"m{a="x\"y",b="",le="1"} 1"#), ["a", "b"]);
        assert!(label_names("m 1").is_empty());
    }
}
