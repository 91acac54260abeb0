//! Collection for the binary encoders (protobuf exposition, remote write,
//! OTLP): a consistent snapshot of registries walked family by family, each
//! series' labels borrowed from the registry, never copied.
//!
//! The same guarantees as the text exposition: one group at a time under its
//! collection lock, each histogram a consistent snapshot, counters the sum of
//! their stripes.

use std::borrow::Cow;
use std::sync::PoisonError;

use crate::Registry;
use crate::desc::FamilyDesc;
use crate::expo::Kind;
use crate::group::GroupInner;
use crate::histogram::{self, Buckets, Snapshot};
use crate::native::NativeSnapshot;
use crate::render::{self, SELF_COUNTERS, SELF_GAUGES};
use crate::series::Entry;
use crate::sync::Ordering;

/// A family as the encoders see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Family<'a> {
    /// The base name: for counters without `_total`.
    pub(crate) name: &'a str,
    pub(crate) help: &'a str,
    pub(crate) unit: Option<&'a str>,
    pub(crate) kind: Kind,
    /// Classic buckets, for a histogram that has them.
    pub(crate) buckets: Option<&'a Buckets>,
    /// Whether a histogram has native buckets.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) native: bool,
}

/// One series' value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Point<'a> {
    Counter(u64),
    Gauge(i64),
    FloatGauge(f64),
    /// A histogram: its classic snapshot (non-cumulative buckets) and/or its
    /// native one, as the family declares.
    Histogram {
        classic: Option<&'a Snapshot>,
        native: Option<&'a NativeSnapshot>,
    },
}

/// One series' labels, in schema order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Labels<'a> {
    Series {
        names: &'a [Box<str>],
        entry: &'a Entry,
    },
    /// A self-metric's single `group` label.
    Group(&'a str),
}

impl<'a> Labels<'a> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Series { entry, .. } => entry.len(),
            Self::Group(_) => 1,
        }
    }

    pub(crate) fn name(&self, i: usize) -> &'a str {
        match self {
            Self::Series { names, .. } => &names[i],
            Self::Group(_) => "group",
        }
    }

    /// Value `i`, unescaped; borrowed unless it holds an escaped character.
    pub(crate) fn value(&self, i: usize) -> Cow<'a, str> {
        match self {
            Self::Series { entry, .. } => entry.value(i),
            Self::Group(g) => Cow::Borrowed(g),
        }
    }

    /// `(name, value)` pairs in schema order.
    #[cfg(any(feature = "protobuf", feature = "otlp"))]
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> + '_ {
        (0..self.len()).map(|i| (self.name(i), self.value(i)))
    }
}

/// What an encoder does with each family and series.
pub(crate) trait Visitor {
    /// A family starts; its series follow.
    fn family(&mut self, family: &Family<'_>);
    /// One series of the current family.
    fn series(&mut self, family: &Family<'_>, labels: &Labels<'_>, point: &Point<'_>);
    /// The current family's series are done.
    fn end_family(&mut self, family: &Family<'_>);
}

/// Walks every family of `registries` (and, with `self_metrics`, each
/// registry's `meshtel_metrics_*` families after its own).
pub(crate) fn visit(registries: &[&Registry], self_metrics: bool, v: &mut impl Visitor) {
    for registry in registries {
        let groups = registry.groups();
        for group in &groups {
            visit_group(group, v);
        }
        if self_metrics && !groups.is_empty() {
            visit_self_metrics(&groups, v);
        }
    }
}

fn visit_group(group: &GroupInner, v: &mut impl Visitor) {
    let _collect = group.collect.lock().unwrap_or_else(PoisonError::into_inner);
    let mut native = NativeSnapshot::default();
    for family in &*group.families {
        let f = Family {
            name: &family.base,
            help: &family.help,
            unit: family.unit.as_deref(),
            kind: family.kind,
            buckets: family.buckets.as_ref(),
            native: family.native.is_some(),
        };
        v.family(&f);
        let mut classic = family.buckets.as_ref().map(|b| Snapshot::zero(b.len()));
        group.for_each_entry(|entry| {
            let point = point(family, entry, classic.as_mut(), &mut native);
            let labels = Labels::Series {
                names: &group.labels,
                entry,
            };
            v.series(&f, &labels, &point);
        });
        v.end_family(&f);
    }
}

/// The value of `entry` in `family`, snapshotting histograms into the buffers given.
fn point<'s>(
    family: &FamilyDesc,
    entry: &Entry,
    classic: Option<&'s mut Snapshot>,
    native: &'s mut NativeSnapshot,
) -> Point<'s> {
    let offset = family.offset;
    match family.kind {
        Kind::Counter => Point::Counter(
            entry
                .stripes()
                .map(|cells| cells.words[offset].load(Ordering::Relaxed))
                .fold(0u64, u64::wrapping_add),
        ),
        Kind::Gauge => {
            let bits = entry.shared_words().map_or(0, |s| s[offset].load(Ordering::Relaxed));
            if family.float_gauge {
                Point::FloatGauge(f64::from_bits(bits))
            } else {
                Point::Gauge(bits as i64)
            }
        }
        Kind::Histogram => {
            let classic = match (&family.buckets, classic) {
                (Some(buckets), Some(snap)) => {
                    snap.clear();
                    let len = histogram::cell_len(buckets.len());
                    for cells in entry.stripes() {
                        cells.snapshot_into(offset, len, snap);
                    }
                    Some(&*snap)
                }
                _ => None,
            };
            let native = family.native.map(|_| {
                render::native_snapshot(family, entry, native);
                &*native
            });
            Point::Histogram { classic, native }
        }
    }
}

fn visit_self_metrics(groups: &[std::sync::Arc<GroupInner>], v: &mut impl Visitor) {
    let families = SELF_GAUGES
        .iter()
        .map(|m| (m, Kind::Gauge))
        .chain(SELF_COUNTERS.iter().map(|m| (m, Kind::Counter)));
    for (&(name, help, value), kind) in families {
        let f = Family {
            name,
            help,
            unit: None,
            kind,
            buckets: None,
            native: false,
        };
        v.family(&f);
        for g in groups {
            let n = value(g);
            let point = if kind == Kind::Counter {
                Point::Counter(n)
            } else {
                Point::Gauge(n as i64)
            };
            v.series(&f, &Labels::Group(&g.name), &point);
        }
        v.end_family(&f);
    }
}
