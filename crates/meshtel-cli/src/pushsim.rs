//! `meshtel push-sim`: N simulated sidecars, each with its own registry holding Istio's
//! standard metrics for S label sets, pushing to one remote-write receiver from one
//! process; reports the wire bytes per sample, the CPU per push and the memory per
//! simulated sidecar (the receiver's side is measured by the receiver: `scripts/push-sim.sh`
//! reads Prometheus' own counters).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, RequestFacts, StatsPlugin};
use meshtel_metrics::{Format, Registry};
use meshtel_tokio::push::{PushConfig, Pusher};
use meshtel_wire::workload::WorkloadMetadata;
use serde_json::json;

use crate::demo::{metrics, parse_duration};
use crate::push::{self, Identity};

/// Response codes the simulated traffic cycles through: a label set is a (source
/// workload, response code) pair, as in a real mesh where each caller sees a few codes.
const CODES: [u16; 8] = [200, 201, 204, 304, 400, 404, 500, 503];

/// Arguments of `meshtel push-sim`.
#[derive(Debug, Args)]
pub(crate) struct PushSimArgs {
    /// Simulated sidecars, each with its own registry, connection and body buffer.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    sidecars: u32,
    /// Label sets of Istio's HTTP metrics per sidecar (distinct source workload and
    /// response code): each is one `istio_requests_total` series and three classic
    /// histograms (duration, request and response size) of 19 buckets.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    series: u32,
    /// Time between two pushes of one sidecar (the first push of each is spread over it).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    interval: Duration,
    /// How long to push.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// The Prometheus remote-write URL (`http://HOST:PORT/api/v1/write`).
    #[arg(long, value_name = "URL")]
    remote_write: String,
    /// Also write the figures as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

pub(crate) fn run(args: &PushSimArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(simulate(args))
}

/// One simulated sidecar's node metadata: workload `sim-<i>` in one of 20 namespaces.
fn node(i: u32) -> serde_json::Value {
    json!({
        "NAME": format!("sim-{i}-7d9c5b8f6-x2x4z"), "NAMESPACE": format!("ns-{}", i % 20),
        "WORKLOAD_NAME": format!("sim-{i}"), "CLUSTER_ID": "sim-cluster", "ISTIO_VERSION": "1.24.0",
        "OWNER": format!("kubernetes://apis/apps/v1/namespaces/ns-{}/deployments/sim-{i}", i % 20),
        "LABELS": {"app": format!("sim-{i}"), "version": "v1",
                   "service.istio.io/canonical-name": format!("sim-{i}"),
                   "service.istio.io/canonical-revision": "v1"}
    })
}

fn peer(k: u32) -> WorkloadMetadata {
    let mut peer = WorkloadMetadata::default();
    peer.name = format!("caller-{k}-5f8d-abcde");
    peer.namespace = format!("ns-{}", k % 20);
    peer.workload = format!("caller-{k}");
    peer.service = format!("caller-{k}");
    peer.revision = "v1".into();
    peer.app = format!("caller-{k}");
    peer.version = "v1".into();
    peer.cluster = "sim-cluster".into();
    peer.identity = format!("spiffe://cluster.local/ns/ns-{}/sa/caller-{k}", k % 20);
    peer
}

/// A sidecar's registry with `series` label sets of Istio's inbound HTTP metrics, recorded
/// through the real stats plugin.
fn sidecar(i: u32, series: u32, config: &PluginConfig) -> Result<Registry, String> {
    let registry = Registry::default();
    let local =
        LocalNode::from_json(&node(i)).with_node_id(format!("sidecar~10.0.0.1~sim-{i}.ns~ns.svc.cluster.local"));
    let plugin = StatsPlugin::new(local, Reporter::Inbound, config, &registry).map_err(|e| e.to_string())?;
    let host = format!("sim-{i}.ns-{}.svc.cluster.local", i % 20);
    for k in 0..series.div_ceil(CODES.len() as u32) {
        let facts = ConnectionFacts::default().with_peer(Some(peer(k)));
        let mut conn = plugin.connection(&facts);
        for (c, &code) in CODES.iter().enumerate() {
            if k * CODES.len() as u32 + c as u32 >= series {
                break;
            }
            let mut req = RequestFacts::http(&host, code);
            req.duration_ms = Some(u64::from(k + 1) * 3);
            req.request_bytes = Some(512);
            req.response_bytes = Some(4096);
            plugin.record_request(&mut conn, &req);
        }
    }
    Ok(registry)
}

/// The samples of one push of `registry`: sample lines of its text exposition.
fn samples_per_push(registry: &Registry) -> u64 {
    let text = registry.render_to_string(Format::Prometheus);
    text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count() as u64
}

async fn simulate(args: &PushSimArgs) -> Result<(), String> {
    let rss_start = rss_bytes();
    let config = PluginConfig::default();
    let mut registries = Vec::with_capacity(args.sidecars as usize);
    for i in 0..args.sidecars {
        registries.push(sidecar(i, args.series, &config)?);
    }
    let rss_registries = rss_bytes();
    let samples: u64 = registries.iter().map(samples_per_push).sum();
    let health = Registry::default();
    let push_config = PushConfig {
        interval: args.interval,
        spread_first: true,
        ..PushConfig::default()
    };
    let mut pusher = Pusher::new(push_config, &health).map_err(|e| e.to_string())?;
    for (i, registry) in (0..).zip(&registries) {
        let id = Identity {
            labels: vec![
                ("job".into(), "push-sim".into()),
                ("pod".into(), format!("sim-{i}-7d9c5b8f6-x2x4z")),
                ("cluster".into(), "sim-cluster".into()),
            ],
            resource: Vec::new(),
        };
        pusher = pusher.target(push::remote_write(
            &format!("sim-{i}"),
            &args.remote_write,
            registry,
            &id,
        )?);
    }
    println!(
        "push-sim: {} sidecars x {} label sets ({} samples per push in all, {:.0} per sidecar), every {:?} for {:?} to {}",
        args.sidecars,
        args.series,
        samples,
        samples as f64 / f64::from(args.sidecars),
        args.interval,
        args.duration,
        args.remote_write
    );
    let cpu_start = cpu_seconds();
    let started = Instant::now();
    let handle = pusher.spawn();
    tokio::time::sleep(args.duration).await;
    let rss_end = rss_bytes();
    drop(handle.shutdown().await);
    let figures = Figures::read(&health, samples, started.elapsed(), cpu_seconds() - cpu_start);
    figures.print(args, rss_start, rss_registries, rss_end);
    if let Some(path) = &args.json {
        let text = figures.json(args, rss_start, rss_registries, rss_end);
        std::fs::write(path, format!("{text:#}\n")).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

/// What the pushers did, from their health metrics.
struct Figures {
    samples_per_round: u64,
    attempts: f64,
    accepted: f64,
    failures: Vec<(String, f64)>,
    bytes: f64,
    elapsed: Duration,
    cpu: f64,
}

impl Figures {
    fn read(health: &Registry, samples_per_round: u64, elapsed: Duration, cpu: f64) -> Self {
        let samples = metrics::samples(&health.render_to_string(Format::Prometheus));
        let total = |metric: &str| metrics::sum_by(&samples, metric, &[]).values().sum::<f64>();
        let failures = metrics::sum_by(&samples, "meshtel_push_failures_total", &["reason"])
            .into_iter()
            .filter(|&(_, n)| n > 0.0)
            .map(|(mut reason, n)| (reason.pop().unwrap_or_default(), n))
            .collect();
        Self {
            samples_per_round,
            attempts: total("meshtel_push_attempts_total"),
            accepted: total("meshtel_push_successes_total"),
            failures,
            bytes: total("meshtel_push_sent_bytes_total"),
            elapsed,
            cpu,
        }
    }

    fn samples_sent(&self, args: &PushSimArgs) -> f64 {
        // Every attempt carries one sidecar's snapshot: samples per sidecar on average.
        self.attempts * self.samples_per_round as f64 / f64::from(args.sidecars)
    }

    fn print(&self, args: &PushSimArgs, rss_start: u64, rss_registries: u64, rss_end: u64) {
        let failures: Vec<String> = self.failures.iter().map(|(r, n)| format!("{r}={n}")).collect();
        println!(
            "  pushes          {} attempts, {} accepted, failures: {} (over {:.1} s)",
            self.attempts,
            self.accepted,
            if failures.is_empty() {
                "none".into()
            } else {
                failures.join(", ")
            },
            self.elapsed.as_secs_f64()
        );
        println!(
            "  offered         {:.0} samples/s ({} samples every {:?})",
            self.samples_per_round as f64 / args.interval.as_secs_f64(),
            self.samples_per_round,
            args.interval
        );
        println!(
            "  wire            {} body bytes, {:.3} bytes per sample (snappy-compressed protobuf)",
            self.bytes,
            self.bytes / self.samples_sent(args).max(1.0)
        );
        println!(
            "  cpu             {:.3} s in all, {:.3} ms per push",
            self.cpu,
            self.cpu * 1e3 / self.attempts.max(1.0)
        );
        let n = f64::from(args.sidecars);
        println!(
            "  memory          RSS {} MiB at start, {} MiB with the registries, {} MiB pushing: {:.1} KiB per simulated sidecar ({:.1} KiB of it the registry)",
            rss_start >> 20,
            rss_registries >> 20,
            rss_end >> 20,
            rss_end.saturating_sub(rss_start) as f64 / n / 1024.0,
            rss_registries.saturating_sub(rss_start) as f64 / n / 1024.0
        );
    }

    fn json(&self, args: &PushSimArgs, rss_start: u64, rss_registries: u64, rss_end: u64) -> serde_json::Value {
        let n = f64::from(args.sidecars);
        json!({
            "sidecars": args.sidecars,
            "label_sets": args.series,
            "interval_s": args.interval.as_secs_f64(),
            "duration_s": self.elapsed.as_secs_f64(),
            "samples_per_round": self.samples_per_round,
            "samples_per_sidecar": self.samples_per_round as f64 / n,
            "attempts": self.attempts,
            "accepted": self.accepted,
            "failures": self.failures.iter().map(|(r, v)| (r.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "body_bytes": self.bytes,
            "bytes_per_sample": self.bytes / self.samples_sent(args).max(1.0),
            "cpu_s": self.cpu,
            "cpu_ms_per_push": self.cpu * 1e3 / self.attempts.max(1.0),
            "rss_start": rss_start,
            "rss_registries": rss_registries,
            "rss_end": rss_end,
            "bytes_per_sidecar": rss_end.saturating_sub(rss_start) as f64 / n,
            "registry_bytes_per_sidecar": rss_registries.saturating_sub(rss_start) as f64 / n,
        })
    }
}

/// The resident set size from `/proc/self/status` (0 where there is none).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// User plus system CPU time of the process from `/proc/self/stat`, in seconds (0 where
/// there is none). The fields count `USER_HZ` ticks, 100 per second on Linux.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The command name may contain spaces: fields are counted after its `)`.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_set_is_67_series_over_17_fixed_ones() {
        let config = PluginConfig::default();
        for (label_sets, series) in [(1, 84), (8, 553), (10, 687)] {
            let registry = sidecar(3, label_sets, &config).unwrap();
            assert_eq!(samples_per_push(&registry), series, "{label_sets} label sets");
        }
    }

    #[test]
    fn the_resident_set_is_read_from_proc() {
        // Any process has a few hundred KiB resident; 0 would mean the parse failed.
        assert!(rss_bytes() > 256 << 10, "{}", rss_bytes());
    }
}
