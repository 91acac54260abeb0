//! The registry: groups, limits, expiry sweeps and rendering.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::atomic::Ordering as StdOrdering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::desc::RegistryError;
use crate::expo::{self, Format, Kind};
use crate::group::{GroupBuilder, GroupInner};
use crate::histogram::{self, Snapshot};
use crate::series::Entry;
use crate::sync::Ordering;

/// Registry-wide limits and settings.
///
/// ```
/// use meshtel_metrics::{Config, Registry};
/// use std::num::NonZeroU32;
/// let registry = Registry::new(Config {
///     max_series: 5_000,
///     expire_after_sweeps: NonZeroU32::new(3),
///     ..Config::default()
/// });
/// # drop(registry);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Most series per group; later label sets record into the group's
    /// overflow series (every label [`OVERFLOW_LABEL_VALUE`](crate::OVERFLOW_LABEL_VALUE)),
    /// counted by `meshtel_metrics_overflow_records_total`. Default 20 000.
    pub max_series: usize,
    /// Longest label value kept, in bytes; longer values are cut at the last
    /// character boundary within the limit, so values that differ only
    /// beyond it share a series (series created from cut values are counted
    /// by `meshtel_metrics_truncated_label_values_total`). Default 1024.
    pub max_label_value_len: usize,
    /// Evict series not recorded into for this many consecutive
    /// [`Registry::sweep`]s. Default `None`: never.
    pub expire_after_sweeps: Option<NonZeroU32>,
    /// Owned cell stripes per series, at most 64. Each recording thread
    /// holds a process-wide slot number while it lives (the lowest free one,
    /// claimed when it first records); the thread with slot `k < stripes`
    /// records into its own stripe of each series with plain loads and
    /// stores, other threads into one shared stripe with atomic
    /// read-modify-writes. Stripes are allocated when first recorded into.
    /// `0` makes every thread use the shared stripe. Default: twice the
    /// machine's parallelism.
    pub stripes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_series: 20_000,
            max_label_value_len: 1024,
            expire_after_sweeps: None,
            stripes: crate::series::default_stripes(),
        }
    }
}

#[derive(Debug)]
struct RegistryInner {
    config: Config,
    groups: RwLock<Vec<Arc<GroupInner>>>,
    names: Mutex<HashSet<String>>,
}

/// A set of metric groups rendered together; cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Registry {
    /// A registry with these limits.
    #[must_use]
    pub fn new(mut config: Config) -> Self {
        config.stripes = config.stripes.min(crate::series::slot::MAX);
        config.max_series = config.max_series.max(1);
        config.max_label_value_len = config.max_label_value_len.max(1);
        Self {
            inner: Arc::new(RegistryInner {
                config,
                groups: RwLock::default(),
                names: Mutex::default(),
            }),
        }
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Starts a group of families sharing the label schema `labels` (in
    /// exposition order). Label names are checked here; errors surface from
    /// the builder's methods.
    #[must_use]
    pub fn group(&self, name: &str, labels: &[&str]) -> GroupBuilder {
        GroupBuilder::new(self.clone(), name, labels, &self.inner.config)
    }

    pub(crate) fn register(&self, group: Arc<GroupInner>) -> Result<(), RegistryError> {
        let mut names = self.inner.names.lock().unwrap_or_else(PoisonError::into_inner);
        let exposed: Vec<String> = group.families.iter().flat_map(|f| f.exposed_names()).collect();
        if let Some(taken) = exposed
            .iter()
            .find(|n| names.contains(*n) || n.starts_with("meshtel_metrics_"))
        {
            return Err(RegistryError::Duplicate(taken.clone()));
        }
        let mut seen = HashSet::new();
        if let Some(dup) = exposed.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(RegistryError::Duplicate(dup.clone()));
        }
        names.extend(exposed);
        self.inner
            .groups
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(group);
        Ok(())
    }

    /// One expiry sweep over every group (a no-op unless
    /// [`Config::expire_after_sweeps`] is set). Call it at a fixed interval;
    /// the crate reads no clock.
    pub fn sweep(&self) {
        for group in self.groups() {
            group.sweep();
        }
    }

    fn groups(&self) -> Vec<Arc<GroupInner>> {
        self.inner.groups.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Renders every family, streaming into `out` a few kilobytes at a time.
    ///
    /// # Errors
    /// Only those of `out`.
    pub fn render(&self, format: Format, out: &mut impl std::io::Write) -> std::io::Result<()> {
        self.render_with(format, &mut |chunk: &str| out.write_all(chunk.as_bytes()))
    }

    /// [`Registry::render`] into a `core::fmt::Write`.
    ///
    /// # Errors
    /// Only those of `out`.
    pub fn render_fmt(&self, format: Format, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        self.render_with(format, &mut |chunk: &str| out.write_str(chunk))
    }

    /// Renders into a new string.
    #[must_use]
    pub fn render_to_string(&self, format: Format) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.render_fmt(format, &mut out);
        out
    }

    fn render_with<E>(&self, format: Format, sink: &mut impl FnMut(&str) -> Result<(), E>) -> Result<(), E> {
        const FLUSH_AT: usize = 32 * 1024;
        let mut buf = String::with_capacity(FLUSH_AT + 4096);
        let groups = self.groups();
        for group in &groups {
            let _collect = group.collect.lock().unwrap_or_else(PoisonError::into_inner);
            for family in &*group.families {
                write_family_header(&mut buf, format, family);
                let mut snap = family.buckets.as_ref().map(|b| Snapshot::zero(b.len()));
                let mut failed = None;
                group.for_each_entry(|entry| {
                    if failed.is_some() {
                        return;
                    }
                    write_family_series(&mut buf, format, family, entry, snap.as_mut());
                    if buf.len() >= FLUSH_AT {
                        if let Err(e) = sink(&buf) {
                            failed = Some(e);
                        }
                        buf.clear();
                    }
                });
                if let Some(e) = failed {
                    return Err(e);
                }
            }
        }
        write_self_metrics(&mut buf, format, &groups);
        if format == Format::OpenMetrics {
            buf.push_str("# EOF\n");
        }
        sink(&buf)
    }
}

fn family_names(format: Format, family: &crate::desc::FamilyDesc) -> (String, &str) {
    match (family.kind, format) {
        (Kind::Counter, Format::OpenMetrics) => (family.base.to_string(), "_total"),
        (Kind::Counter, _) => (format!("{}_total", family.base), ""),
        _ => (family.base.to_string(), ""),
    }
}

fn write_family_header(buf: &mut String, format: Format, family: &crate::desc::FamilyDesc) {
    let (name, _) = family_names(format, family);
    expo::write_help(buf, format, &name, &family.help);
    expo::write_type(buf, &name, family.kind);
    if let (Format::OpenMetrics, Some(unit)) = (format, &family.unit) {
        expo::write_unit(buf, &name, unit);
    }
}

fn write_family_series(
    buf: &mut String,
    format: Format,
    family: &crate::desc::FamilyDesc,
    entry: &Entry,
    snap: Option<&mut Snapshot>,
) {
    let name = &family.base;
    let offset = family.offset;
    match family.kind {
        Kind::Counter => {
            let total = entry
                .stripes()
                .map(|cells| cells.words[offset].load(Ordering::Relaxed))
                .fold(0u64, u64::wrapping_add);
            let suffix = "_total";
            let _ = format;
            expo::write_series(buf, name, suffix, &entry.block, None);
            expo::write_u64(buf, total);
        }
        Kind::Gauge => {
            let bits = entry.shared_words().map_or(0, |s| s[offset].load(Ordering::Relaxed));
            expo::write_series(buf, name, "", &entry.block, None);
            if family.float_gauge {
                expo::write_f64(buf, f64::from_bits(bits));
            } else {
                expo::write_i64(buf, bits as i64);
            }
        }
        Kind::Histogram => {
            let (Some(buckets), Some(snap)) = (&family.buckets, snap) else {
                return;
            };
            snap.clear();
            let len = histogram::cell_len(buckets.len());
            for cells in entry.stripes() {
                cells.snapshot_into(offset, len, snap);
            }
            let mut cumulative = 0u64;
            for (le, n) in buckets.le().iter().zip(&snap.buckets) {
                cumulative += n;
                expo::write_series(buf, name, "_bucket", &entry.block, Some(le));
                expo::write_u64(buf, cumulative);
            }
            expo::write_series(buf, name, "_sum", &entry.block, None);
            expo::write_f64(buf, snap.sum);
            expo::write_series(buf, name, "_count", &entry.block, None);
            expo::write_u64(buf, snap.count);
        }
    }
}

/// A self-metric: name, help, and how to read it from a group.
type SelfMetric = (&'static str, &'static str, fn(&GroupInner) -> u64);

/// `meshtel_metrics_*`: the registry's own observations, per group.
fn write_self_metrics(buf: &mut String, format: Format, groups: &[Arc<GroupInner>]) {
    if groups.is_empty() {
        return;
    }
    let series: [SelfMetric; 1] = [("meshtel_metrics_series", "Series in the group's table.", |g| {
        g.series_count() as u64
    })];
    for (name, help, value) in series {
        expo::write_help(buf, format, name, help);
        expo::write_type(buf, name, Kind::Gauge);
        for g in groups {
            let block = group_label(g);
            expo::write_series(buf, name, "", &block, None);
            expo::write_u64(buf, value(g));
        }
    }
    let counters: [SelfMetric; 3] = [
        (
            "meshtel_metrics_overflow_records",
            "Records sent to the overflow series because the group was at its series limit.",
            |g| g.stats.overflowed.load(StdOrdering::Relaxed),
        ),
        (
            "meshtel_metrics_truncated_label_values",
            "Label values cut to the length limit.",
            |g| g.stats.truncated.load(StdOrdering::Relaxed),
        ),
        ("meshtel_metrics_evicted_series", "Series removed by expiry.", |g| {
            g.stats.evicted.load(StdOrdering::Relaxed)
        }),
    ];
    for (base, help, value) in counters {
        let family = if format == Format::OpenMetrics {
            base.to_string()
        } else {
            format!("{base}_total")
        };
        expo::write_help(buf, format, &family, help);
        expo::write_type(buf, &family, Kind::Counter);
        for g in groups {
            let block = group_label(g);
            expo::write_series(buf, base, "_total", &block, None);
            expo::write_u64(buf, value(g));
        }
    }
}

fn group_label(g: &GroupInner) -> String {
    let mut block = String::from("group=\"");
    expo::escape_label_value(&g.name, &mut block);
    block.push('"');
    block
}
