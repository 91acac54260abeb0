//! The recording lifecycles of `docs/reference/telemetry.md` §6: TCP (open, periodic deltas,
//! close) and gRPC message deltas.

mod common;

use std::time::Duration;

use common::*;
use meshtel::{ConnectionFacts, PluginConfig, Protocol, Reporter, RequestFacts, StatsPlugin, TcpRouting};
use meshtel_metrics::Registry;

const S: Duration = Duration::from_secs(1);

fn value(registry: &Registry, metric: &str) -> Option<String> {
    let all = samples(registry, metric);
    assert!(all.len() <= 1, "{metric}: {all:?}");
    all.into_iter().next().map(|(_, v)| v)
}

fn setup(config: &str, reporter: Reporter) -> (Registry, StatsPlugin) {
    let registry = Registry::default();
    let node = if reporter == Reporter::Outbound {
        client_node()
    } else {
        server_node()
    };
    let plugin = StatsPlugin::new(node, reporter, &PluginConfig::from_yaml(config).unwrap(), &registry).unwrap();
    (registry, plugin)
}

#[test]
fn tcp_open_periodic_deltas_and_close() {
    let (registry, plugin) = setup("tcp_reporting_duration: 5s", Reporter::Inbound);
    let routing = TcpRouting {
        cluster_name: Some("inbound|9000||".into()),
        ..TcpRouting::default()
    };
    let mut tcp = plugin.tcp_connection(ConnectionFacts::default(), routing, Duration::ZERO);
    // Before resolution nothing is recorded; bytes accumulate.
    tcp.add_bytes(100, 10);
    tcp.tick(&plugin, 5 * S);
    assert_eq!(value(&registry, "istio_tcp_connections_opened_total"), None);
    tcp.resolve(&plugin, Some(client_record()));
    tcp.add_bytes(1, 2);
    tcp.tick(&plugin, 7 * S); // not yet a period boundary
    assert_eq!(value(&registry, "istio_tcp_connections_opened_total"), None);
    tcp.tick(&plugin, 10 * S);
    assert_eq!(
        value(&registry, "istio_tcp_connections_opened_total").as_deref(),
        Some("1")
    );
    assert_eq!(value(&registry, "istio_tcp_sent_bytes_total").as_deref(), Some("101"));
    assert_eq!(
        value(&registry, "istio_tcp_received_bytes_total").as_deref(),
        Some("12")
    );
    // A quiet period still touches the series (a delta of 0).
    tcp.tick(&plugin, 15 * S);
    assert_eq!(value(&registry, "istio_tcp_sent_bytes_total").as_deref(), Some("101"));
    tcp.add_bytes(1000, 0);
    tcp.tick(&plugin, 31 * S); // several periods late: one report
    assert_eq!(value(&registry, "istio_tcp_sent_bytes_total").as_deref(), Some("1101"));
    tcp.add_bytes(5, 5);
    tcp.close(&plugin);
    assert_eq!(value(&registry, "istio_tcp_sent_bytes_total").as_deref(), Some("1106"));
    assert_eq!(
        value(&registry, "istio_tcp_received_bytes_total").as_deref(),
        Some("17")
    );
    assert_eq!(
        value(&registry, "istio_tcp_connections_opened_total").as_deref(),
        Some("1")
    );
    assert_eq!(
        value(&registry, "istio_tcp_connections_closed_total").as_deref(),
        Some("1")
    );
    // 23 labels, request_protocol="tcp", the peer known.
    let (labels, _) = only(&registry, "istio_tcp_connections_closed_total");
    assert_eq!(labels.len(), 23);
    let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("request_protocol"), Some("tcp"));
    assert_eq!(get("source_workload"), Some("productpage-v1"));
    assert_eq!(get("response_code"), None);
    assert_eq!(get("response_flags"), Some("-"));
}

#[test]
fn tcp_close_before_resolution_records_everything_once() {
    let (registry, plugin) = setup("{}", Reporter::Inbound);
    let mut tcp = plugin.tcp_connection(ConnectionFacts::default(), TcpRouting::default(), Duration::ZERO);
    tcp.add_bytes(7, 3);
    tcp.set_response_flags(&["UF", "URX"]);
    tcp.close(&plugin);
    assert_eq!(
        value(&registry, "istio_tcp_connections_opened_total").as_deref(),
        Some("1")
    );
    assert_eq!(
        value(&registry, "istio_tcp_connections_closed_total").as_deref(),
        Some("1")
    );
    assert_eq!(value(&registry, "istio_tcp_sent_bytes_total").as_deref(), Some("7"));
    let (labels, _) = only(&registry, "istio_tcp_connections_opened_total");
    let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("source_workload"), Some("unknown"), "the peer is absent");
    assert_eq!(get("response_flags"), Some("UF,URX"));
}

#[test]
fn labels_freeze_at_first_emission_and_periods_can_be_disabled() {
    let (registry, plugin) = setup("tcp_reporting_duration: 1s", Reporter::Inbound);
    let mut tcp = plugin.tcp_connection(ConnectionFacts::default(), TcpRouting::default(), Duration::ZERO);
    tcp.resolve(&plugin, None);
    tcp.tick(&plugin, S);
    tcp.set_response_flags(&["DC"]);
    tcp.close(&plugin);
    let (labels, _) = only(&registry, "istio_tcp_connections_closed_total");
    assert_eq!(labels.iter().find(|(n, _)| n == "response_flags").unwrap().1, "-");

    let (registry, plugin) = setup("tcp_reporting_duration: 0s", Reporter::Inbound);
    let mut tcp = plugin.tcp_connection(ConnectionFacts::default(), TcpRouting::default(), Duration::ZERO);
    tcp.resolve(&plugin, None);
    tcp.add_bytes(1, 1);
    tcp.tick(&plugin, 100 * S);
    assert_eq!(
        value(&registry, "istio_tcp_connections_opened_total"),
        None,
        "no periodic reports"
    );
    tcp.close(&plugin);
    assert_eq!(value(&registry, "istio_tcp_sent_bytes_total").as_deref(), Some("1"));
}

#[test]
fn grpc_message_deltas() {
    let (registry, plugin) = setup("tcp_reporting_duration: 5s", Reporter::Outbound);
    let facts = ConnectionFacts::default().with_peer(Some(server_record()));
    let mut conn = plugin.connection(&facts);
    let mut req = RequestFacts::http("ratings:9080", 200);
    req.protocol = Protocol::Grpc;
    let mut stream = plugin.grpc_stream(Duration::ZERO);
    // The example of `docs/reference/telemetry.md` §6.2: 2 and 4 at a tick, then 3 and 5 more
    // before completion.
    stream.set_message_counts(2, 4);
    stream.tick(&plugin, &mut conn, &req, 5 * S);
    assert_eq!(value(&registry, "istio_request_messages_total").as_deref(), Some("2"));
    assert_eq!(value(&registry, "istio_response_messages_total").as_deref(), Some("4"));
    stream.set_message_counts(5, 9);
    req.grpc_status_trailer = Some("0");
    stream.finish(&plugin, &mut conn, &req);
    assert_eq!(value(&registry, "istio_request_messages_total").as_deref(), Some("5"));
    assert_eq!(value(&registry, "istio_response_messages_total").as_deref(), Some("9"));
    // 20 labels on the message counters; the request metric has the gRPC status.
    let (labels, _) = only(&registry, "istio_request_messages_total");
    assert_eq!(labels.len(), 20);
    let (labels, value_) = only(&registry, "istio_requests_total");
    assert_eq!(value_, "1");
    let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("request_protocol"), Some("grpc"));
    assert_eq!(get("grpc_response_status"), Some("0"));
}

#[test]
fn grpc_without_ticks_reports_at_completion() {
    let (registry, plugin) = setup("{}", Reporter::Inbound);
    let mut conn = plugin.connection(&ConnectionFacts::default());
    let mut req = RequestFacts::http("h", 200);
    req.protocol = Protocol::Grpc;
    let mut stream = plugin.grpc_stream(Duration::ZERO);
    stream.set_message_counts(1, 1);
    stream.tick(&plugin, &mut conn, &req, S); // before the first period
    assert_eq!(value(&registry, "istio_request_messages_total"), None);
    stream.finish(&plugin, &mut conn, &req);
    assert_eq!(value(&registry, "istio_request_messages_total").as_deref(), Some("1"));
}

#[test]
fn connection_update_recomputes_connection_labels() {
    let (registry, plugin) = setup("{}", Reporter::Outbound);
    let mut conn = plugin.connection(&ConnectionFacts::default());
    plugin.record_request(&mut conn, &RequestFacts::http("h", 200));
    conn.update(&plugin, &ConnectionFacts::default().with_peer(Some(server_record())));
    plugin.record_request(&mut conn, &RequestFacts::http("h", 200));
    let workloads: Vec<String> = samples(&registry, "istio_requests_total")
        .into_iter()
        .map(|(l, _)| l.into_iter().find(|(k, _)| k == "destination_workload").unwrap().1)
        .collect();
    assert_eq!(workloads.len(), 2);
    assert!(workloads.contains(&"unknown".to_owned()) && workloads.contains(&"ratings-v1".to_owned()));
}
