//! `meshtel demo --remote-write URL --otlp URL`: both sidecars' registries pushed on an
//! interval, told apart by external labels (remote write) and resource attributes (OTLP).

use std::time::Duration;

use meshtel_metrics::{Format, Registry};
use meshtel_tokio::push::{Backoff, PushConfig, PushHandle, Pusher};

use super::{DemoArgs, Mesh, client_node, server_node};
use crate::push::{self, Identity};

/// The running pushers and their health registry (served at `/push/metrics`).
pub(crate) struct Pushing {
    pub(crate) handle: PushHandle,
    pub(crate) health: Registry,
    /// `name -> url` of each target, for the banner.
    pub(crate) targets: Vec<String>,
}

/// The identity of a demo sidecar: `job` (`client`/`server`), `pod`, `namespace`,
/// `cluster` as external labels; the OpenTelemetry semantic conventions as resource
/// attributes.
fn identity(side: &str, node: &serde_json::Value) -> Identity {
    let get = |k: &str| {
        node.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let labels = vec![
        ("job".to_owned(), side.to_owned()),
        ("pod".to_owned(), get("NAME")),
        ("namespace".to_owned(), get("NAMESPACE")),
        ("cluster".to_owned(), get("CLUSTER_ID")),
    ];
    let resource = vec![
        ("service.name".to_owned(), get("WORKLOAD_NAME")),
        ("service.instance.id".to_owned(), side.to_owned()),
        ("k8s.pod.name".to_owned(), get("NAME")),
        ("k8s.namespace.name".to_owned(), get("NAMESPACE")),
        ("k8s.cluster.name".to_owned(), get("CLUSTER_ID")),
    ];
    Identity { labels, resource }
}

/// Starts pushing both sidecars' registries when `--remote-write` or `--otlp` is given.
pub(crate) fn start(args: &DemoArgs, mesh: &Mesh) -> Result<Option<Pushing>, String> {
    if args.remote_write.is_none() && args.otlp.is_none() {
        return Ok(None);
    }
    let health = Registry::default();
    let config = PushConfig {
        interval: args.push_interval,
        timeout: args.push_timeout,
        backoff: Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            max_retries: 5,
        },
        ..PushConfig::default()
    };
    let mut pusher = Pusher::new(config, &health).map_err(|e| e.to_string())?;
    for (side, registry, node) in [
        ("client", &mesh.client.registry, client_node()),
        ("server", &mesh.server.registry, server_node()),
    ] {
        let id = identity(side, &node);
        if let Some(url) = &args.remote_write {
            pusher = pusher.target(push::remote_write(&format!("{side}-remote-write"), url, registry, &id)?);
        }
        if let Some(url) = &args.otlp {
            pusher = pusher.target(push::otlp(&format!("{side}-otlp"), url, registry, &id)?);
        }
    }
    let targets = pusher
        .targets()
        .iter()
        .map(|t| format!("{} -> {} every {:?}", t.name(), t.url(), args.push_interval))
        .collect();
    Ok(Some(Pushing {
        handle: pusher.spawn(),
        health,
        targets,
    }))
}

/// Stops the pushers after their last push and prints what they did.
pub(crate) async fn finish(pushing: Pushing) {
    for (target, flushed) in pushing.handle.shutdown().await {
        match flushed {
            Ok(()) => println!("push {target}: final snapshot accepted"),
            Err(e) => println!("push {target}: final snapshot failed: {e}"),
        }
    }
    print_health(&pushing.health);
}

/// The pusher's health: attempts, successes and failures by target and reason.
pub(crate) fn print_health(health: &Registry) {
    let samples = super::metrics::samples(&health.render_to_string(Format::Prometheus));
    let by = |metric: &str, labels: &[&str]| super::metrics::sum_by(&samples, metric, labels);
    let attempts = by("meshtel_push_attempts_total", &["target"]);
    let successes = by("meshtel_push_successes_total", &["target"]);
    let bytes = by("meshtel_push_sent_bytes_total", &["target"]);
    let capacity = by("meshtel_push_buffer_capacity_bytes", &["target"]);
    let failures = by("meshtel_push_failures_total", &["target", "reason"]);
    for (key, n) in &attempts {
        let failed: Vec<String> = failures
            .iter()
            .filter(|(k, v)| k[0] == key[0] && **v > 0.0)
            .map(|(k, v)| format!("{}={v}", k[1]))
            .collect();
        println!(
            "push {}: {n} attempts, {} accepted, {} bytes sent, body buffer {} bytes, failures: {}",
            key[0],
            successes.get(key).copied().unwrap_or_default(),
            bytes.get(key).copied().unwrap_or_default(),
            capacity.get(key).copied().unwrap_or_default(),
            if failed.is_empty() {
                "none".to_owned()
            } else {
                failed.join(", ")
            }
        );
    }
}
