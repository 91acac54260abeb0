//! `meshtel labels --scenario FILE`: every sample the stats plugin records for the one
//! request or connection a scenario describes, as Prometheus text.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use meshtel::{
    ConnectionFacts, LocalNode, OwnedClusterService, PluginConfig, Principals, Protocol, Reporter, RequestFacts,
    Routing, StatsPlugin, TcpRouting, Tls,
};
use meshtel_metrics::{Format, Registry};
use meshtel_wire::proto::Struct;
use meshtel_wire::workload::WorkloadMetadata;
use serde::Deserialize;
use serde_json::Value as Json;

/// The scenario schema (documented in `docs/telemetry.md`); unknown fields are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    direction: Direction,
    #[serde(default)]
    local: Json,
    #[serde(default)]
    peer: Option<Json>,
    #[serde(default)]
    upstream_peer: Option<Json>,
    #[serde(default)]
    endpoint_metadata: Option<String>,
    protocol: ScenarioProtocol,
    #[serde(default)]
    request: ScenarioRequest,
    #[serde(default)]
    connection: ScenarioConnection,
    #[serde(default)]
    tls: Option<ScenarioTls>,
    #[serde(default)]
    principals: Option<ScenarioPrincipals>,
    #[serde(default)]
    route: Option<ScenarioRoute>,
    #[serde(default)]
    cluster: Option<ScenarioCluster>,
    #[serde(default)]
    config: Option<Json>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Direction {
    Outbound,
    Inbound,
    Waypoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ScenarioProtocol {
    Http,
    Grpc,
    Tcp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioRequest {
    host: Option<String>,
    method: Option<String>,
    path: Option<String>,
    response_code: Option<u16>,
    grpc_status: Option<String>,
    #[serde(default)]
    response_flags: Vec<String>,
    duration_ms: Option<u64>,
    request_bytes: Option<u64>,
    response_bytes: Option<u64>,
    request_messages: Option<u64>,
    response_messages: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioConnection {
    #[serde(default)]
    sent_bytes: u64,
    #[serde(default)]
    received_bytes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioTls {
    #[serde(default)]
    local_san: String,
    #[serde(default)]
    peer_san: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioPrincipals {
    #[serde(default)]
    local: String,
    #[serde(default)]
    peer: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioRoute {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioCluster {
    name: Option<String>,
    #[serde(default)]
    metadata: Json,
}

/// Arguments of `meshtel labels`.
#[derive(Debug, Args)]
#[command(after_long_help = SCHEMA)]
pub(crate) struct LabelsArgs {
    /// The scenario: a JSON file (see below), `-` for standard input.
    #[arg(long, value_name = "FILE|-")]
    scenario: PathBuf,
}

const SCHEMA: &str = r#"Scenario (JSON; unknown fields are errors):
  direction          "outbound" | "inbound" | "waypoint"
  local              the local node metadata (NAME, NAMESPACE, WORKLOAD_NAME, LABELS, ...)
  peer               the peer's node metadata (P); null or absent: no peer found
  upstream_peer      the waypoint's upstream peer (E), node metadata
  endpoint_metadata  "workload;namespace;canonical;revision;cluster" (outbound fallback for P)
  protocol           "http" | "grpc" | "tcp"
  request            host, method, path, response_code (absent: no response), grpc_status,
                     response_flags [codes], duration_ms, request_bytes, response_bytes,
                     request_messages, response_messages
  connection         sent_bytes, received_bytes (TCP)
  tls                local_san, peer_san (absent: plaintext)
  principals         local, peer (from an authentication layer)
  route              name ("block_all", "allow_any", ...)
  cluster            name, metadata (filter metadata: {"istio": {"services": [{"host", "name", "namespace"}]}})
  config             plugin configuration (Istio field names); default {}"#;

fn node_record(json: &Json) -> Result<WorkloadMetadata, String> {
    let node: Struct = serde_json::from_value(json.clone()).map_err(|e| format!("peer metadata: {e}"))?;
    Ok(WorkloadMetadata::from_node_metadata(&node, &[]))
}

fn cluster_service(metadata: &Json) -> Option<OwnedClusterService> {
    let first = metadata.get("istio")?.get("services")?.as_array()?.first()?;
    let key = |k: &str| first.get(k).and_then(Json::as_str).map(str::to_owned);
    Some(OwnedClusterService {
        host: key("host"),
        name: key("name"),
        namespace: key("namespace"),
    })
}

pub(crate) fn run(args: &LabelsArgs) -> Result<(), String> {
    let scenario = read_scenario(&args.scenario)?;
    let registry = Registry::default();
    let plugin = plugin(&scenario, &registry)?;
    let peer = optional_node(scenario.peer.as_ref())?;
    let facts = connection_facts(&scenario, peer.clone())?;
    let service = scenario.cluster.as_ref().and_then(|c| cluster_service(&c.metadata));
    let cluster_name = scenario.cluster.as_ref().and_then(|c| c.name.clone());
    match scenario.protocol {
        ScenarioProtocol::Tcp => record_tcp(
            &plugin,
            &scenario,
            facts,
            peer,
            TcpRouting {
                cluster_name,
                cluster_service: service,
            },
        ),
        ScenarioProtocol::Http | ScenarioProtocol::Grpc => {
            let routing = Routing {
                route_name: scenario.route.as_ref().and_then(|r| r.name.as_deref()),
                cluster_name: cluster_name.as_deref(),
                cluster_service: service.as_ref().map(OwnedClusterService::as_borrowed),
            };
            record_request(&plugin, &scenario, &facts, routing);
        }
    }
    print_plugin_samples(&registry);
    Ok(())
}

/// The scenario file (or standard input, for `-`), parsed.
fn read_scenario(path: &Path) -> Result<Scenario, String> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("reading standard input: {e}"))?
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
    };
    serde_json::from_str(&text).map_err(|e| format!("invalid scenario: {e}"))
}

/// The stats plugin the scenario's direction, local node and config describe; config
/// warnings go to stderr.
fn plugin(scenario: &Scenario, registry: &Registry) -> Result<StatsPlugin, String> {
    let config = match &scenario.config {
        Some(c) => PluginConfig::from_value(c.clone()).map_err(|e| e.to_string())?,
        None => PluginConfig::default(),
    };
    let reporter = match scenario.direction {
        Direction::Outbound => Reporter::Outbound,
        Direction::Inbound => Reporter::Inbound,
        Direction::Waypoint => Reporter::Waypoint,
    };
    let plugin = StatsPlugin::new(LocalNode::from_json(&scenario.local), reporter, &config, registry)
        .map_err(|e| e.to_string())?;
    for warning in plugin.warnings() {
        eprintln!("meshtel: config warning: {warning}");
    }
    Ok(plugin)
}

/// A peer's workload metadata, where the scenario gives one (absent or `null`: none).
fn optional_node(json: Option<&Json>) -> Result<Option<WorkloadMetadata>, String> {
    json.filter(|p| !p.is_null()).map(node_record).transpose()
}

fn connection_facts(scenario: &Scenario, peer: Option<WorkloadMetadata>) -> Result<ConnectionFacts, String> {
    Ok(ConnectionFacts::default()
        .with_peer(peer)
        .with_upstream_peer(optional_node(scenario.upstream_peer.as_ref())?)
        .with_endpoint_metadata(scenario.endpoint_metadata.clone())
        .with_tls(scenario.tls.as_ref().map(|t| Tls {
            local_san: t.local_san.clone(),
            peer_san: t.peer_san.clone(),
        }))
        .with_principals(scenario.principals.as_ref().map(|p| Principals {
            local: p.local.clone(),
            peer: p.peer.clone(),
        })))
}

/// One TCP connection, opened, resolved to `peer`, and closed with the scenario's bytes.
fn record_tcp(
    plugin: &StatsPlugin,
    scenario: &Scenario,
    facts: ConnectionFacts,
    peer: Option<WorkloadMetadata>,
    routing: TcpRouting,
) {
    let mut tcp = plugin.tcp_connection(facts, routing, Duration::ZERO);
    let flags: Vec<&str> = scenario.request.response_flags.iter().map(String::as_str).collect();
    tcp.set_response_flags(&flags);
    tcp.resolve(plugin, peer);
    tcp.add_bytes(scenario.connection.sent_bytes, scenario.connection.received_bytes);
    tcp.close(plugin);
}

/// One HTTP or gRPC request on a fresh connection.
fn record_request(plugin: &StatsPlugin, scenario: &Scenario, facts: &ConnectionFacts, routing: Routing<'_>) {
    let r = &scenario.request;
    let flags: Vec<&str> = r.response_flags.iter().map(String::as_str).collect();
    let mut req = RequestFacts::default();
    req.protocol = if scenario.protocol == ScenarioProtocol::Grpc {
        Protocol::Grpc
    } else {
        Protocol::Http
    };
    req.host = r.host.as_deref();
    req.method = r.method.as_deref();
    req.path = r.path.as_deref();
    req.response_code = r.response_code;
    req.grpc_status_trailer = r.grpc_status.as_deref();
    req.response_flags = &flags;
    req.duration_ms = r.duration_ms;
    req.request_bytes = r.request_bytes;
    req.response_bytes = r.response_bytes;
    req.routing = routing;
    let mut conn = plugin.connection(facts);
    if req.protocol == Protocol::Grpc {
        let mut stream = plugin.grpc_stream(Duration::ZERO);
        stream.set_message_counts(r.request_messages.unwrap_or(0), r.response_messages.unwrap_or(0));
        stream.finish(plugin, &mut conn, &req);
    } else {
        plugin.record_request(&mut conn, &req);
    }
}

/// The plugin's samples as Prometheus text: every family but the registry's own
/// `meshtel_metrics_*`.
fn print_plugin_samples(registry: &Registry) {
    let text = registry.render_to_string(Format::Prometheus);
    let mut keep = true;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ").or_else(|| line.strip_prefix("# TYPE ")) {
            keep = !rest.starts_with("meshtel_metrics_");
        }
        if keep {
            println!("{line}");
        }
    }
}
