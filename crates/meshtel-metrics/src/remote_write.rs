//! Prometheus remote write 1.0: a `WriteRequest` for a consistent snapshot
//! of registries, snappy-compressed (block format), streamed into the output
//! buffer.
//!
//! Every series becomes a `TimeSeries` with its labels sorted by name
//! (`__name__` included) and one sample at the snapshot's timestamp:
//! counters as cumulative `name_total`, gauges as `name`, classic histograms
//! as `name_bucket{le}` (cumulative, `+Inf` last), `name_sum` and
//! `name_count`, the same series a scrape of the text exposition stores.
//! Native histograms become one `TimeSeries` `name` carrying a `Histogram`
//! (integer counts, spans and deltas), which a Prometheus receiver accepts
//! with `--enable-feature=native-histograms` (a family with classic and
//! native buckets sends both, as a scrape with classic histograms kept
//! stores them). Labels with empty values are
//! left out, as a scrape drops them. External labels go on every series,
//! except where the series has a label of that name.
//!
//! No label string is copied: names and values are written from the
//! registry straight into the output (values that needed escaping in the
//! text exposition are unescaped one at a time).
//!
//! ```
//! use meshtel_metrics::{Desc, Registry, remote_write::{self, RemoteWriteOptions}};
//! let registry = Registry::default();
//! let mut g = registry.group("http", &["code"]);
//! let requests = g.counter(Desc::new("requests_total", "Requests."))?;
//! let g = g.build()?;
//! g.with_series(&["200"], |s| s.add(requests, 3))?;
//!
//! let opts = RemoteWriteOptions::new().external_label("cluster", "c1").self_metrics(false);
//! let mut body = Vec::new();
//! remote_write::encode(&[&registry], &opts, 1_700_000_000_000, &mut body)?;
//! // POST `body` with these headers:
//! assert_eq!(remote_write::CONTENT_TYPE, "application/x-protobuf");
//! assert_eq!(remote_write::CONTENT_ENCODING, "snappy");
//! let raw = snap::raw::Decoder::new().decompress_vec(&body)?;
//! let mut uncompressed = Vec::new();
//! remote_write::encode_uncompressed(&[&registry], &opts, 1_700_000_000_000, &mut uncompressed)?;
//! assert_eq!(raw, uncompressed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;

use crate::Registry;
use crate::collect::{self, Family, Labels, Point, Visitor};
use crate::desc::valid_label_name;
use crate::expo::Kind;
use crate::native::NativeSnapshot;
use crate::pb;

/// The request's `Content-Type`.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
/// The request's `Content-Encoding`.
pub const CONTENT_ENCODING: &str = "snappy";
/// The `X-Prometheus-Remote-Write-Version` header's value for remote write 1.0.
pub const VERSION: &str = "0.1.0";

/// Why a request could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteWriteError {
    /// An external label name that is not `[a-zA-Z_][a-zA-Z0-9_]*` or starts with `__`.
    #[error("invalid external label name {0:?}: must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __")]
    InvalidLabelName(String),
    /// The same external label twice.
    #[error("external label {0:?} given twice")]
    DuplicateLabel(String),
    /// Snappy refused the input (larger than it can frame, about 4 GiB).
    #[error("snappy compression of {len} bytes failed: {source}")]
    Compress {
        /// The uncompressed length.
        len: usize,
        /// Snappy's error.
        source: snap::Error,
    },
}

/// What goes into a request besides the registries' series.
///
/// ```
/// use meshtel_metrics::remote_write::RemoteWriteOptions;
/// let opts = RemoteWriteOptions::new()
///     .external_label("cluster", "c1")
///     .external_label("pod", "reviews-v1-abc")
///     .metadata(false);
/// assert_eq!(opts.external_labels(), [("cluster", "c1"), ("pod", "reviews-v1-abc")]);
/// ```
#[derive(Debug, Clone)]
pub struct RemoteWriteOptions {
    external: Vec<(Box<str>, Box<str>)>,
    metadata: bool,
    self_metrics: bool,
    error: Option<(bool, String)>,
}

impl Default for RemoteWriteOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl RemoteWriteOptions {
    /// No external labels, metadata and the registries' own
    /// `meshtel_metrics_*` series included.
    #[must_use]
    pub fn new() -> Self {
        Self {
            external: Vec::new(),
            metadata: true,
            self_metrics: true,
            error: None,
        }
    }

    /// Adds a label to every series (a cluster, a pod). An invalid or
    /// repeated name makes [`encode`] fail.
    #[must_use]
    pub fn external_label(mut self, name: &str, value: &str) -> Self {
        if !valid_label_name(name) {
            self.error.get_or_insert_with(|| (false, name.into()));
        } else if self.external.iter().any(|(n, _)| &**n == name) {
            self.error.get_or_insert_with(|| (true, name.into()));
        }
        self.external.push((name.into(), value.into()));
        self.external.sort_by(|a, b| a.0.cmp(&b.0));
        self
    }

    /// Whether to send `MetricMetadata` (type, help, unit) per family.
    /// Default on.
    #[must_use]
    pub fn metadata(mut self, on: bool) -> Self {
        self.metadata = on;
        self
    }

    /// Whether to send each registry's `meshtel_metrics_*` series. Default
    /// on; turn it off when several registries with the same group names go
    /// into one request without labels that tell them apart.
    #[must_use]
    pub fn self_metrics(mut self, on: bool) -> Self {
        self.self_metrics = on;
        self
    }

    /// The external labels, sorted by name.
    pub fn external_labels(&self) -> Vec<(&str, &str)> {
        self.external.iter().map(|(n, v)| (&**n, &**v)).collect()
    }

    fn check(&self) -> Result<(), RemoteWriteError> {
        match &self.error {
            None => Ok(()),
            Some((false, name)) => Err(RemoteWriteError::InvalidLabelName(name.clone())),
            Some((true, name)) => Err(RemoteWriteError::DuplicateLabel(name.clone())),
        }
    }
}

/// Writes the snappy-compressed `WriteRequest` for a snapshot of
/// `registries` at `timestamp_ms` (milliseconds since the Unix epoch) into
/// `out` (cleared first). `out` is the request body.
///
/// # Errors
/// [`RemoteWriteError`] for invalid external labels, or a request snappy
/// cannot frame.
pub fn encode(
    registries: &[&Registry],
    opts: &RemoteWriteOptions,
    timestamp_ms: i64,
    out: &mut Vec<u8>,
) -> Result<(), RemoteWriteError> {
    let mut raw = Vec::new();
    encode_uncompressed(registries, opts, timestamp_ms, &mut raw)?;
    out.clear();
    compress(&raw, out)
}

/// Appends the uncompressed protobuf `WriteRequest` to `out`. Two requests
/// appended to one buffer decode as one with both series lists, so
/// registries with different options can share a request; compress the
/// result with [`compress`].
///
/// # Errors
/// [`RemoteWriteError`] for invalid external labels.
pub fn encode_uncompressed(
    registries: &[&Registry],
    opts: &RemoteWriteOptions,
    timestamp_ms: i64,
    out: &mut Vec<u8>,
) -> Result<(), RemoteWriteError> {
    opts.check()?;
    let mut w = Writer {
        out,
        opts,
        timestamp_ms,
        order: Vec::new(),
        order_key: None,
    };
    collect::visit(registries, opts.self_metrics, &mut w);
    Ok(())
}

/// Snappy block compression of `raw`, replacing `out`'s contents.
///
/// # Errors
/// [`RemoteWriteError::Compress`] for an input snappy cannot frame.
pub fn compress(raw: &[u8], out: &mut Vec<u8>) -> Result<(), RemoteWriteError> {
    out.clear();
    out.resize(snap::raw::max_compress_len(raw.len()), 0);
    let n = snap::raw::Encoder::new()
        .compress(raw, out)
        .map_err(|source| RemoteWriteError::Compress { len: raw.len(), source })?;
    out.truncate(n);
    Ok(())
}

/// Where a label of a written series comes from, in name order.
#[derive(Debug, Clone, Copy)]
enum Src {
    Name,
    Le,
    Series(usize),
    External(usize),
}

/// The body of one `TimeSeries`.
#[derive(Clone, Copy)]
enum Body<'a> {
    Sample(f64),
    Native(&'a NativeSnapshot),
}

struct Writer<'o> {
    out: &'o mut Vec<u8>,
    opts: &'o RemoteWriteOptions,
    timestamp_ms: i64,
    /// The label order of the current schema, with and without `le`.
    order: Vec<Src>,
    /// Which schema `order` is for: its names' address and length.
    order_key: Option<(usize, usize)>,
}

// WriteRequest fields.
const TIMESERIES: u32 = 1;
const METADATA: u32 = 3;
// TimeSeries fields.
const LABELS: u32 = 1;
const SAMPLES: u32 = 2;
const HISTOGRAMS: u32 = 4;

impl Writer<'_> {
    /// Sorts the label sources of `labels`' schema (once per schema).
    fn prepare(&mut self, labels: &Labels<'_>) {
        let key = match labels {
            Labels::Series { names, .. } => (names.as_ptr() as usize, names.len()),
            Labels::Group(_) => (0, 1),
        };
        if self.order_key == Some(key) {
            return;
        }
        self.order_key = Some(key);
        self.order.clear();
        self.order.push(Src::Name);
        self.order.push(Src::Le);
        self.order.extend((0..labels.len()).map(Src::Series));
        let taken = |name: &str| name == "le" || (0..labels.len()).any(|i| labels.name(i) == name);
        for (j, (name, _)) in self.opts.external.iter().enumerate() {
            if !taken(name) {
                self.order.push(Src::External(j));
            }
        }
        let opts = self.opts;
        let name_of = |s: &Src| match *s {
            Src::Name => "__name__",
            Src::Le => "le",
            Src::Series(i) => labels.name(i),
            Src::External(j) => &opts.external[j].0,
        };
        self.order.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    }

    /// The labels to write, in name order: `(name, value pieces)`.
    fn labels<'a>(
        &'a self,
        labels: &'a Labels<'a>,
        name: &'a [&'a str],
        le: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a str, Cow<'a, str>, &'a [&'a str])> + 'a {
        self.order.iter().filter_map(move |s| match *s {
            Src::Name => Some(("__name__", Cow::Borrowed(""), name)),
            Src::Le => le.map(|le| ("le", Cow::Borrowed(le), &[][..])),
            Src::Series(i) => Some((labels.name(i), labels.value(i), &[][..])),
            Src::External(j) => {
                let (n, v) = &self.opts.external[j];
                Some((&**n, Cow::Borrowed(&**v), &[][..]))
            }
        })
    }

    /// Writes one `TimeSeries`.
    fn series(&mut self, labels: &Labels<'_>, name: &[&str], le: Option<&str>, body: Body<'_>) {
        let mut len = 0;
        for (n, v, pieces) in self.labels(labels, name, le) {
            if let Some(l) = label_len(n, &v, pieces) {
                len += pb::len_field(LABELS, l);
            }
        }
        len += match body {
            Body::Sample(_) => pb::len_field(SAMPLES, self.sample_len()),
            Body::Native(h) => pb::len_field(HISTOGRAMS, self.histogram_len(h)),
        };
        let mut out = std::mem::take(self.out);
        pb::put_len(&mut out, TIMESERIES, len);
        for (n, v, pieces) in self.labels(labels, name, le) {
            if let Some(l) = label_len(n, &v, pieces) {
                pb::put_len(&mut out, LABELS, l);
                pb::put_str(&mut out, 1, &[n]);
                if pieces.is_empty() {
                    pb::put_str(&mut out, 2, &[&v]);
                } else {
                    pb::put_str(&mut out, 2, pieces);
                }
            }
        }
        match body {
            Body::Sample(v) => {
                pb::put_len(&mut out, SAMPLES, self.sample_len());
                pb::put_double(&mut out, 1, v);
                pb::put_varint(&mut out, 2, self.timestamp_ms as u64);
            }
            Body::Native(h) => {
                pb::put_len(&mut out, HISTOGRAMS, self.histogram_len(h));
                self.put_histogram(&mut out, h);
            }
        }
        *self.out = out;
    }

    fn sample_len(&self) -> usize {
        pb::double_field(1) + pb::varint_field(2, self.timestamp_ms as u64)
    }

    /// `Histogram {count_int 1, sum 3, schema 4, zero_threshold 5,
    /// zero_count_int 6, negative spans 8 / deltas 9, positive spans 11 /
    /// deltas 12, timestamp 15}`.
    fn histogram_len(&self, h: &NativeSnapshot) -> usize {
        pb::varint_field(1, h.count)
            + pb::double_field(3)
            + pb::varint_field(4, pb::zigzag(i64::from(h.schema)))
            + pb::double_field(5)
            + pb::varint_field(6, h.zero_count)
            + pb::side_len(8, 9, &h.negative)
            + pb::side_len(11, 12, &h.positive)
            + pb::varint_field(15, self.timestamp_ms as u64)
    }

    fn put_histogram(&self, out: &mut Vec<u8>, h: &NativeSnapshot) {
        pb::put_varint(out, 1, h.count);
        pb::put_double(out, 3, h.sum);
        pb::put_varint(out, 4, pb::zigzag(i64::from(h.schema)));
        pb::put_double(out, 5, h.zero_threshold);
        pb::put_varint(out, 6, h.zero_count);
        pb::put_side(out, 8, 9, &h.negative);
        pb::put_side(out, 11, 12, &h.positive);
        pb::put_varint(out, 15, self.timestamp_ms as u64);
    }

    /// `MetricMetadata {type 1, metric_family_name 2, help 4, unit 5}`.
    fn metadata(&mut self, family: &Family<'_>) {
        // Prometheus' MetricType: COUNTER 1, GAUGE 2, HISTOGRAM 3.
        let kind: u64 = match family.kind {
            Kind::Counter => 1,
            Kind::Gauge => 2,
            Kind::Histogram => 3,
        };
        let suffix = if family.kind == Kind::Counter { "_total" } else { "" };
        let name = [family.name, suffix];
        let unit = family.unit.unwrap_or_default();
        let len = pb::varint_field(1, kind)
            + pb::str_field(2, &name)
            + if family.help.is_empty() {
                0
            } else {
                pb::str_field(4, &[family.help])
            }
            + if unit.is_empty() { 0 } else { pb::str_field(5, &[unit]) };
        pb::put_len(self.out, METADATA, len);
        pb::put_varint(self.out, 1, kind);
        pb::put_str(self.out, 2, &name);
        if !family.help.is_empty() {
            pb::put_str(self.out, 4, &[family.help]);
        }
        if !unit.is_empty() {
            pb::put_str(self.out, 5, &[unit]);
        }
    }
}

/// Bytes of a `Label {name 1, value 2}`, or `None` for an empty value
/// (left out, as a scrape drops it). `pieces` replaces `value` when not empty.
fn label_len(name: &str, value: &str, pieces: &[&str]) -> Option<usize> {
    let value_len = if pieces.is_empty() {
        value.len()
    } else {
        pieces.iter().map(|p| p.len()).sum()
    };
    (value_len > 0).then(|| pb::str_field(1, &[name]) + pb::len_field(2, value_len))
}

impl Visitor for Writer<'_> {
    fn family(&mut self, family: &Family<'_>) {
        if self.opts.metadata {
            self.metadata(family);
        }
    }

    fn series(&mut self, family: &Family<'_>, labels: &Labels<'_>, point: &Point<'_>) {
        self.prepare(labels);
        let base = family.name;
        match *point {
            Point::Counter(n) => self.series(labels, &[base, "_total"], None, Body::Sample(n as f64)),
            Point::Gauge(n) => self.series(labels, &[base], None, Body::Sample(n as f64)),
            Point::FloatGauge(v) => self.series(labels, &[base], None, Body::Sample(v)),
            Point::Histogram { classic, native } => {
                if let (Some(snap), Some(buckets)) = (classic, family.buckets) {
                    let mut cumulative = 0u64;
                    for (le, n) in buckets.le().iter().zip(&snap.buckets) {
                        cumulative += n;
                        self.series(labels, &[base, "_bucket"], Some(le), Body::Sample(cumulative as f64));
                    }
                    self.series(labels, &[base, "_sum"], None, Body::Sample(snap.sum));
                    self.series(labels, &[base, "_count"], None, Body::Sample(snap.count as f64));
                }
                if let Some(h) = native {
                    self.series(labels, &[base], None, Body::Native(h));
                }
            }
        }
    }

    fn end_family(&mut self, _family: &Family<'_>) {}
}
