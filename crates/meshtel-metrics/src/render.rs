//! Rendering a registry's groups: each family's header and series, and the
//! registry's own `meshtel_metrics_*`, over the pure `write_*` functions of
//! [`expo`](crate::expo).

use std::sync::{Arc, PoisonError};

use crate::desc::FamilyDesc;
use crate::expo::{self, Format, Kind};
use crate::group::GroupInner;
use crate::histogram::{self, Snapshot};
use crate::native::{self, NativeSnapshot};
use crate::series::Entry;
use crate::sync::Ordering;

/// Renders `groups` into `sink` a few kilobytes at a time.
pub(crate) fn render_groups<E>(
    groups: &[Arc<GroupInner>],
    format: Format,
    sink: &mut impl FnMut(&str) -> Result<(), E>,
) -> Result<(), E> {
    const FLUSH_AT: usize = 32 * 1024;
    let mut buf = String::with_capacity(FLUSH_AT + 4096);
    for group in groups {
        let _collect = group.collect.lock().unwrap_or_else(PoisonError::into_inner);
        for family in &*group.families {
            write_family_header(&mut buf, format, family);
            let mut snap = family.buckets.as_ref().map(|b| Snapshot::zero(b.len()));
            let mut failed = None;
            group.for_each_entry(|entry| {
                if failed.is_some() {
                    return;
                }
                write_family_series(&mut buf, family, entry, snap.as_mut());
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
    write_self_metrics(&mut buf, format, groups);
    if format == Format::OpenMetrics {
        buf.push_str("# EOF\n");
    }
    sink(&buf)
}

fn write_family_header(buf: &mut String, format: Format, family: &FamilyDesc) {
    let name = expo::family_name(format, family.kind, &family.base);
    expo::write_help(buf, format, &name, &family.help);
    expo::write_type(buf, &name, family.kind);
    if let (Format::OpenMetrics, Some(unit)) = (format, &family.unit) {
        expo::write_unit(buf, &name, unit);
    }
}

fn write_family_series(buf: &mut String, family: &FamilyDesc, entry: &Entry, snap: Option<&mut Snapshot>) {
    let name = &family.base;
    let offset = family.offset;
    match family.kind {
        Kind::Counter => {
            let total = entry
                .stripes()
                .map(|cells| cells.words[offset].load(Ordering::Relaxed))
                .fold(0u64, u64::wrapping_add);
            expo::write_series(buf, name, expo::COUNTER_SUFFIX, &entry.block, None);
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
                write_native_summary(buf, family, entry);
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

/// A native-only histogram in the text formats: its `+Inf` bucket, sum and
/// count (as the Prometheus Go client renders one).
fn write_native_summary(buf: &mut String, family: &FamilyDesc, entry: &Entry) {
    let mut snap = NativeSnapshot::default();
    native_snapshot(family, entry, &mut snap);
    let name = &family.base;
    expo::write_series(buf, name, "_bucket", &entry.block, Some("+Inf"));
    expo::write_u64(buf, snap.count);
    expo::write_series(buf, name, "_sum", &entry.block, None);
    expo::write_f64(buf, snap.sum);
    expo::write_series(buf, name, "_count", &entry.block, None);
    expo::write_u64(buf, snap.count);
}

/// A snapshot of `entry`'s native histogram of `family` into `out` (empty
/// when the series never recorded into it).
pub(crate) fn native_snapshot(family: &FamilyDesc, entry: &Entry, out: &mut NativeSnapshot) {
    let Some(cfg) = &family.native else { return };
    let len = native::cell_len(cfg.get_max_buckets());
    if let Some(words) = entry.shared_words() {
        native::snapshot_into(&words[family.native_offset..family.native_offset + len], cfg, out);
    } else {
        *out = NativeSnapshot {
            schema: cfg.schema(),
            zero_threshold: cfg.get_zero_threshold(),
            ..NativeSnapshot::default()
        };
    }
}

/// A self-metric: name, help, and how to read it from a group.
pub(crate) type SelfMetric = (&'static str, &'static str, fn(&GroupInner) -> u64);

/// The registry's own gauges, per group.
pub(crate) const SELF_GAUGES: [SelfMetric; 1] = [("meshtel_metrics_series", "Series in the group's table.", |g| {
    g.series_count() as u64
})];

/// The registry's own counters (base names), per group.
pub(crate) const SELF_COUNTERS: [SelfMetric; 3] = [
    (
        "meshtel_metrics_overflow_records",
        "Records sent to the overflow series because the group was at its series limit.",
        |g| g.stats.overflowed.load(Ordering::Relaxed),
    ),
    (
        "meshtel_metrics_truncated_label_values",
        "Label values cut to the length limit.",
        |g| g.stats.truncated.load(Ordering::Relaxed),
    ),
    ("meshtel_metrics_evicted_series", "Series removed by expiry.", |g| {
        g.stats.evicted.load(Ordering::Relaxed)
    }),
];

/// `meshtel_metrics_*`: the registry's own observations, per group.
fn write_self_metrics(buf: &mut String, format: Format, groups: &[Arc<GroupInner>]) {
    if groups.is_empty() {
        return;
    }
    for (name, help, value) in SELF_GAUGES {
        expo::write_help(buf, format, name, help);
        expo::write_type(buf, name, Kind::Gauge);
        for g in groups {
            let block = group_label(g);
            expo::write_series(buf, name, "", &block, None);
            expo::write_u64(buf, value(g));
        }
    }
    for (base, help, value) in SELF_COUNTERS {
        let family = expo::family_name(format, Kind::Counter, base);
        expo::write_help(buf, format, &family, help);
        expo::write_type(buf, &family, Kind::Counter);
        for g in groups {
            let block = group_label(g);
            expo::write_series(buf, base, expo::COUNTER_SUFFIX, &block, None);
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
