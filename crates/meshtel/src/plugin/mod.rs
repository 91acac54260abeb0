//! The plugin: compiled configuration plus the recording lifecycle of HTTP streams, gRPC
//! streams and TCP connections (`docs/reference/telemetry.md` §6, §7). Sans-IO: time comes in
//! as arguments.
//!
//! One file per concept: `groups` registers the metrics, grouped by label list; `labels`
//! renders label values and custom metric values; `http` records requests on an
//! [`HttpConnection`]; `grpc` reports a [`GrpcStream`]'s messages; `tcp` is the
//! [`TcpConnection`] lifecycle. This file builds the [`StatsPlugin`].

mod groups;
mod grpc;
mod http;
mod labels;
mod tcp;

use std::time::Duration;

use meshtel_metrics::Registry;

use self::groups::{BoundSeries, Family, GroupPlan};
use self::labels::fill;
use crate::attrs::{Slot, StatsBag, cel_manifest, manifest, slot_table};
use crate::config::{ConfigError, PluginConfig, ReporterConfig};
use crate::facts::{LocalNode, Reporter};
use crate::plan::{MAX_LABELS, plan};

pub use self::grpc::GrpcStream;
pub use self::http::HttpConnection;
pub use self::tcp::{OwnedClusterService, TcpConnection, TcpRouting};

/// Istio's stats plugin: give it the local node and a configuration once, then tell it
/// about each connection and request; it records what an Istio sidecar would.
///
/// ```
/// use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, RequestFacts, StatsPlugin};
/// use meshtel_metrics::{Format, Registry};
///
/// let registry = Registry::default();
/// let local = LocalNode::from_json(&serde_json::json!({"WORKLOAD_NAME": "productpage-v1", "NAMESPACE": "default"}));
/// let plugin = StatsPlugin::new(local, Reporter::Outbound, &PluginConfig::default(), &registry)?;
/// let mut conn = plugin.connection(&ConnectionFacts::default());
/// plugin.record_request(&mut conn, &RequestFacts::http("reviews:9080", 200));
/// let text = registry.render_to_string(Format::Prometheus);
/// assert!(text.contains(r#"istio_requests_total{reporter="source",source_workload="productpage-v1","#));
/// # Ok::<(), meshtel::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct StatsPlugin {
    reporter: Reporter,
    local: LocalNode,
    slots: Box<[Slot]>,
    host_fallback: bool,
    period: Option<Duration>,
    groups: Vec<GroupPlan>,
    /// The groups recorded per HTTP request, by the gRPC reports, over a TCP connection.
    http: Vec<usize>,
    grpc: Vec<usize>,
    tcp: Vec<usize>,
    /// The longest label list: the scratch buffers a connection needs.
    max_labels: usize,
    warnings: Vec<String>,
}

impl StatsPlugin {
    /// Compiles `config`, registers the metrics in `registry`, and sets `istio_build`.
    /// `reporter` is the direction the embedder runs in; `reporter: SERVER_GATEWAY` in the
    /// configuration makes it a waypoint whatever the direction.
    ///
    /// Expressions that do not compile do not fail the configuration: they remove their tag
    /// and are listed in [`StatsPlugin::warnings`] (`docs/reference/telemetry.md` §9.4).
    ///
    /// # Errors
    /// [`ConfigError`] for invalid bucket settings, custom metric names, `match`, too many
    /// labels, or a registry that already holds these metrics (one plugin per registry).
    pub fn new(
        local: LocalNode,
        reporter: Reporter,
        config: &PluginConfig,
        registry: &Registry,
    ) -> Result<Self, ConfigError> {
        let reporter = if config.reporter == ReporterConfig::ServerGateway {
            Reporter::Waypoint
        } else {
            reporter
        };
        let (mixer, cel) = (manifest(), cel_manifest());
        let slots = slot_table(&mixer, &cel);
        let vocabulary = crate::plan::Vocabulary {
            mixer: &mixer,
            cel: &cel,
            slots: &slots,
        };
        let plan = plan(config, vocabulary)?;
        let groups = groups::register(registry, &plan.metrics)?;
        groups::register_build_info(registry, &local)?;
        let pick = |pred: fn(&Family) -> bool| (0..groups.len()).filter(|&g| groups[g].has(pred)).collect();
        Ok(Self {
            reporter,
            local,
            slots,
            host_fallback: !config.disable_host_header_fallback,
            period: config.reporting_period(),
            http: pick(Family::is_http),
            grpc: pick(Family::is_grpc),
            tcp: pick(Family::is_tcp),
            max_labels: groups.iter().map(|g| g.labels.len()).max().unwrap_or(0),
            groups,
            warnings: plan.warnings,
        })
    }

    /// What the configuration loader reported: expressions that did not compile (their
    /// tags removed), ignored fields, entries without effect.
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The reporter kind in effect.
    #[must_use]
    pub const fn reporter(&self) -> Reporter {
        self.reporter
    }

    /// The period of TCP and gRPC reports (`None`: only at completion).
    #[must_use]
    pub const fn reporting_period(&self) -> Option<Duration> {
        self.period
    }

    /// The label names of an exposed metric, in order (`None` if it is not recorded).
    #[must_use]
    pub fn label_names(&self, exposed: &str) -> Option<Vec<&str>> {
        self.groups
            .iter()
            .find(|g| g.exposes(exposed))
            .map(|g| g.labels.iter().map(|l| l.name.as_str()).collect())
    }

    /// One series handle per group in `which`, with this bag's label values, each kept with
    /// its group's index.
    fn bind(&self, which: &[usize], bag: &StatsBag<'_>, scratch: &mut [String]) -> Vec<BoundSeries> {
        which
            .iter()
            .filter_map(|&group| {
                let plan = &self.groups[group];
                let mut out = [""; MAX_LABELS];
                let n = fill(plan, bag, None, scratch, &mut out);
                // `fill` gives the group's own arity, so this does not fail; were it to, only
                // this group would go unrecorded: each handle carries its group.
                let series = plan.group.series(&out[..n]).ok()?;
                Some(BoundSeries { group, series })
            })
            .collect()
    }
}

/// Whether a reporting period ended by `now`; if so, moves `next_tick` past `now` (one
/// report however many periods were missed).
fn period_elapsed(period: Option<Duration>, next_tick: &mut Option<Duration>, now: Duration) -> bool {
    let (Some(period), Some(next)) = (period, *next_tick) else {
        return false;
    };
    let Some(late) = now.checked_sub(next) else {
        return false;
    };
    // The first tick of the grid `next + k·period` after `now`: `now + period - late % period`
    // (the remainder is below the period, which fits a u64 of nanoseconds).
    let rem = late.as_nanos() % period.as_nanos().max(1);
    *next_tick = Some(now + period.saturating_sub(Duration::from_nanos(u64::try_from(rem).unwrap_or(0))));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_elapsed_moves_past_now_on_the_grid() {
        let s = Duration::from_secs;
        let mut next = Some(s(5));
        assert!(!period_elapsed(Some(s(5)), &mut next, s(4)));
        assert!(period_elapsed(Some(s(5)), &mut next, s(5)));
        assert_eq!(next, Some(s(10)));
        assert!(
            period_elapsed(Some(s(5)), &mut next, s(23)),
            "one report for three periods"
        );
        assert_eq!(next, Some(s(25)));
        assert!(!period_elapsed(None, &mut next, s(100)));
        // More missed periods than a u32 counts: still the next tick after `now`, so the
        // next call does not report again at once (the count used to be truncated).
        let ns = Duration::from_nanos;
        let mut next = Some(ns(1));
        assert!(period_elapsed(Some(ns(1)), &mut next, s(10)));
        assert_eq!(next, Some(s(10) + ns(1)));
        assert!(!period_elapsed(Some(ns(1)), &mut next, s(10)));
    }
}
