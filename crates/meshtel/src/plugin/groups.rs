//! Registration and grouping: metrics with the same label list share one registry group (one
//! series lookup records them all); each group remembers which families it holds.

use std::sync::Arc;

use meshtel_expr::Program;
use meshtel_metrics::{
    CounterId, Desc, GaugeId, Group, GroupBuilder, HistogramId, Registry, RegistryError, Series, SeriesRef,
};

use crate::config::MetricType;
use crate::facts::LocalNode;
use crate::metric::StandardMetric;
use crate::plan::{Label, MetricKind, MetricPlan};

/// A family's id in its group.
#[derive(Clone, Copy, Debug)]
pub(super) enum Id {
    Counter(CounterId),
    Gauge(GaugeId),
    Histogram(HistogramId),
}

/// One metric family of a group: a standard metric, or a custom one with its value program.
#[derive(Debug)]
pub(super) enum Family {
    Standard(StandardMetric, Id),
    Custom { value: Arc<Program>, id: Id },
}

impl Family {
    /// Recorded per HTTP or gRPC request (custom metrics too).
    pub(super) const fn is_http(&self) -> bool {
        matches!(
            self,
            Self::Standard(
                StandardMetric::RequestsTotal
                    | StandardMetric::RequestDuration
                    | StandardMetric::RequestBytes
                    | StandardMetric::ResponseBytes,
                _
            ) | Self::Custom { .. }
        )
    }

    /// Recorded by the periodic reports of a gRPC stream.
    pub(super) const fn is_grpc(&self) -> bool {
        matches!(
            self,
            Self::Standard(StandardMetric::RequestMessages | StandardMetric::ResponseMessages, _)
        )
    }

    /// Recorded over a TCP connection's lifecycle (custom metrics too, at close).
    pub(super) const fn is_tcp(&self) -> bool {
        matches!(
            self,
            Self::Standard(
                StandardMetric::TcpOpened
                    | StandardMetric::TcpClosed
                    | StandardMetric::TcpSentBytes
                    | StandardMetric::TcpReceivedBytes,
                _
            ) | Self::Custom { .. }
        )
    }
}

/// Metrics sharing one label list, recorded through one series lookup.
#[derive(Debug)]
pub(super) struct GroupPlan {
    pub(super) group: Group,
    pub(super) labels: Vec<Label>,
    pub(super) families: Vec<Family>,
    /// The exposed names of the families, in order.
    names: Vec<String>,
}

impl GroupPlan {
    pub(super) fn has(&self, pred: fn(&Family) -> bool) -> bool {
        self.families.iter().any(pred)
    }

    /// Whether this group records the metric exposed as `exposed`.
    pub(super) fn exposes(&self, exposed: &str) -> bool {
        self.names.iter().any(|n| n == exposed)
    }
}

/// A series handle kept with the index of the group it belongs to: whatever is dropped from
/// a list of these, every handle still records into its own group's families.
#[derive(Debug)]
pub(super) struct BoundSeries {
    pub(super) group: usize,
    pub(super) series: Series,
}

/// Every (series, family) pair of `bound`, in order: the one loop that records kept handles.
pub(super) fn bound_families<'a>(
    groups: &'a [GroupPlan],
    bound: &'a [BoundSeries],
) -> impl Iterator<Item = (SeriesRef<'a>, &'a Family)> + 'a {
    bound.iter().flat_map(move |b| {
        let series = b.series.as_ref();
        groups[b.group].families.iter().map(move |f| (series, f))
    })
}

/// Metrics with the same label list (names and expressions) share a group: the indices of
/// `metrics` in each group, groups in order of their first metric.
fn share_label_lists(metrics: &[MetricPlan]) -> Vec<Vec<usize>> {
    let same = |a: &[Label], b: &[Label]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.name == y.name && Arc::ptr_eq(&x.program, &y.program))
    };
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (i, m) in metrics.iter().enumerate() {
        match members.iter().position(|g| same(&metrics[g[0]].labels, &m.labels)) {
            Some(g) => members[g].push(i),
            None => members.push(vec![i]),
        }
    }
    members
}

/// Registers the planned metrics in `registry`, grouped by label list.
pub(super) fn register(registry: &Registry, metrics: &[MetricPlan]) -> Result<Vec<GroupPlan>, RegistryError> {
    share_label_lists(metrics)
        .into_iter()
        .map(|member| register_group(registry, metrics, &member))
        .collect()
}

fn register_group(registry: &Registry, metrics: &[MetricPlan], member: &[usize]) -> Result<GroupPlan, RegistryError> {
    let first = &metrics[member[0]];
    let names: Vec<&str> = first.labels.iter().map(|l| l.name.as_str()).collect();
    let mut builder = registry.group(&first.exposed, &names);
    let families = member
        .iter()
        .map(|&i| register_family(&mut builder, &metrics[i]))
        .collect::<Result<_, _>>()?;
    Ok(GroupPlan {
        group: builder.build()?,
        labels: first.labels.clone(),
        families,
        names: member.iter().map(|&i| metrics[i].exposed.clone()).collect(),
    })
}

fn register_family(builder: &mut GroupBuilder, m: &MetricPlan) -> Result<Family, RegistryError> {
    let buckets = || m.buckets.clone().unwrap_or_else(crate::metric::default_buckets);
    Ok(match &m.kind {
        MetricKind::Standard(s) => {
            let mut desc = Desc::new(m.exposed.clone(), s.help());
            if let Some(unit) = s.unit() {
                desc = desc.unit(unit);
            }
            let id = if s.is_histogram() {
                Id::Histogram(builder.histogram(desc, buckets())?)
            } else {
                Id::Counter(builder.counter(desc)?)
            };
            Family::Standard(*s, id)
        }
        MetricKind::Custom { value, ty } => {
            let desc = Desc::new(m.exposed.clone(), "Custom metric.");
            let id = match ty {
                MetricType::Counter => Id::Counter(builder.counter(desc)?),
                MetricType::Gauge => Id::Gauge(builder.gauge(desc)?),
                MetricType::Histogram => {
                    // Bytes, as upstream; the unit is declared where the name allows it.
                    let desc = if m.exposed.ends_with("_bytes") {
                        desc.unit("bytes")
                    } else {
                        desc
                    };
                    Id::Histogram(builder.histogram(desc, buckets())?)
                }
            };
            Family::Custom {
                value: Arc::clone(value),
                id,
            }
        }
    })
}

/// `istio_build{component="proxy",tag=<ISTIO_VERSION or "unknown">} 1`.
pub(super) fn register_build_info(registry: &Registry, local: &LocalNode) -> Result<(), RegistryError> {
    let mut build = registry.group("istio_build", &["component", "tag"]);
    let gauge = build.gauge(Desc::new("istio_build", "Istio component build info."))?;
    let build = build.build()?;
    let tag = if local.istio_version.is_empty() {
        "unknown"
    } else {
        local.istio_version.as_str()
    };
    // Two values for the two labels of the schema just built: the arity always matches.
    let _ = build.with_series(&["proxy", tag], |s| s.set(gauge, 1));
    Ok(())
}
