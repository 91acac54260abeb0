//! The Prometheus protobuf exposition: length-delimited
//! `io.prometheus.client.MetricFamily` messages, the only scrape format that
//! carries native histograms (Prometheus 2.40+ with
//! `--enable-feature=native-histograms` asks for it first).
//!
//! Each family is encoded into a reused buffer, then written with its length
//! prefix: memory is bounded by the largest family, not the registry.
//! Counters are named with `_total` (as the text format's `# TYPE` line);
//! histograms carry their classic buckets (cumulative, finite bounds; `+Inf`
//! is the count), their native buckets (schema, zero bucket, spans and
//! deltas), or both. Prometheus 2.42 tells a native histogram by a zero
//! threshold or zero count above 0 or any bucket, so keep the zero threshold
//! above 0 (the default) for an empty native histogram to be read as one.

use std::io::Write;

use crate::Registry;
use crate::collect::{self, Family, Labels, Point, Visitor};
use crate::expo::Kind;
use crate::native::NativeSnapshot;
use crate::pb;

/// Writes every family of `registry` to `out`.
pub(crate) fn render(registry: &Registry, out: &mut impl Write) -> std::io::Result<()> {
    let mut w = Writer {
        out,
        family: Vec::new(),
        metric: Vec::new(),
        error: None,
    };
    collect::visit(&[registry], true, &mut w);
    w.error.map_or(Ok(()), Err)
}

struct Writer<'o, W> {
    out: &'o mut W,
    family: Vec<u8>,
    metric: Vec<u8>,
    error: Option<std::io::Error>,
}

// MetricFamily fields.
const NAME: u32 = 1;
const HELP: u32 = 2;
const TYPE: u32 = 3;
const METRIC: u32 = 4;
const UNIT: u32 = 5;
// Metric fields.
const LABEL: u32 = 1;
const GAUGE: u32 = 2;
const COUNTER: u32 = 3;
const HISTOGRAM: u32 = 7;

impl<W: Write> Visitor for Writer<'_, W> {
    fn family(&mut self, family: &Family<'_>) {
        self.family.clear();
        let suffix = if family.kind == Kind::Counter { "_total" } else { "" };
        pb::put_str(&mut self.family, NAME, &[family.name, suffix]);
        pb::put_str(&mut self.family, HELP, &[family.help]);
        // MetricType: COUNTER 0, GAUGE 1, HISTOGRAM 4.
        let kind = match family.kind {
            Kind::Counter => 0,
            Kind::Gauge => 1,
            Kind::Histogram => 4,
        };
        pb::put_varint(&mut self.family, TYPE, kind);
        if let Some(unit) = family.unit {
            pb::put_str(&mut self.family, UNIT, &[unit]);
        }
    }

    fn series(&mut self, family: &Family<'_>, labels: &Labels<'_>, point: &Point<'_>) {
        let m = &mut self.metric;
        m.clear();
        for (name, value) in labels.pairs() {
            pb::put_len(m, LABEL, pb::str_field(1, &[name]) + pb::str_field(2, &[&value]));
            pb::put_str(m, 1, &[name]);
            pb::put_str(m, 2, &[&value]);
        }
        match *point {
            Point::Counter(n) => put_value(m, COUNTER, n as f64),
            Point::Gauge(n) => put_value(m, GAUGE, n as f64),
            Point::FloatGauge(v) => put_value(m, GAUGE, v),
            Point::Histogram { classic, native } => {
                let mut h = Vec::new();
                if let (Some(s), Some(buckets)) = (classic, family.buckets) {
                    pb::put_varint(&mut h, 1, s.count);
                    pb::put_double(&mut h, 2, s.sum);
                    let mut cumulative = 0;
                    for (bound, n) in buckets.bounds().iter().zip(&s.buckets) {
                        cumulative += n;
                        pb::put_len(&mut h, 3, pb::varint_field(1, cumulative) + pb::double_field(2));
                        pb::put_varint(&mut h, 1, cumulative);
                        pb::put_double(&mut h, 2, *bound);
                    }
                }
                if let Some(n) = native {
                    put_native(&mut h, n, classic.is_none());
                }
                pb::put_len(m, HISTOGRAM, h.len());
                m.extend_from_slice(&h);
            }
        }
        pb::put_len(&mut self.family, METRIC, self.metric.len());
        self.family.extend_from_slice(&self.metric);
    }

    fn end_family(&mut self, _family: &Family<'_>) {
        if self.error.is_some() {
            return;
        }
        let mut prefix = Vec::with_capacity(10);
        prost::encoding::encode_varint(self.family.len() as u64, &mut prefix);
        if let Err(e) = self
            .out
            .write_all(&prefix)
            .and_then(|()| self.out.write_all(&self.family))
        {
            self.error = Some(e);
        }
    }
}

/// `Counter` or `Gauge {double value = 1}`.
fn put_value(m: &mut Vec<u8>, field: u32, v: f64) {
    pb::put_len(m, field, pb::double_field(1));
    pb::put_double(m, 1, v);
}

/// The native fields of `Histogram`: `schema` 5, `zero_threshold` 6,
/// `zero_count` 7, negative spans 9 / deltas 10, positive spans 12 / deltas
/// 13; with `with_totals` also `sample_count` 1 and `sample_sum` 2 (a
/// classic part already wrote them).
fn put_native(h: &mut Vec<u8>, n: &NativeSnapshot, with_totals: bool) {
    if with_totals {
        pb::put_varint(h, 1, n.count);
        pb::put_double(h, 2, n.sum);
    }
    pb::put_varint(h, 5, pb::zigzag(i64::from(n.schema)));
    pb::put_double(h, 6, n.zero_threshold);
    pb::put_varint(h, 7, n.zero_count);
    pb::put_side(h, 9, 10, &n.negative);
    pb::put_side(h, 12, 13, &n.positive);
    if n.positive.counts.is_empty() && n.negative.counts.is_empty() {
        // A zero-length span marks an empty native histogram as native
        // (the Prometheus Go client does the same).
        pb::put_len(h, 12, pb::span(0, 0));
        pb::put_varint(h, 1, 0);
        pb::put_varint(h, 2, 0);
    }
}
