//! OTLP metrics: an `ExportMetricsServiceRequest` (the `opentelemetry-proto`
//! crate's prost types, re-exported as [`proto`]) for a consistent snapshot
//! of registries, for an OTLP/HTTP receiver (`POST /v1/metrics`,
//! `Content-Type: application/x-protobuf`).
//!
//! One `ResourceMetrics` per call with the caller's resource attributes
//! (`service.name`, `k8s.namespace.name`, ...), one scope (`meshtel-metrics`),
//! one metric per family, the labels as string attributes of each data point:
//!
//! - counters: a cumulative, monotonic `Sum` of integers, named without
//!   `_total` (the family's base name);
//! - gauges: a `Gauge` (integer or double);
//! - classic histograms: a cumulative `Histogram` with explicit bounds
//!   (per-bucket counts, the last for values above every bound);
//! - native histograms: a cumulative `ExponentialHistogram` (`scale` is the
//!   schema; OTLP bucket `i` is Prometheus bucket `i + 1`). A family with
//!   classic and native buckets is sent as the exponential histogram only:
//!   one OTLP metric has one type.
//!
//! ```
//! use meshtel_metrics::{Desc, Registry, otlp::{self, OtlpOptions}};
//! let registry = Registry::default();
//! let mut g = registry.group("http", &["code"]);
//! let requests = g.counter(Desc::new("requests_total", "Requests."))?;
//! let g = g.build()?;
//! g.with_series(&["200"], |s| s.add(requests, 3))?;
//!
//! let opts = OtlpOptions::new()
//!     .resource_attribute("service.name", "reviews")
//!     .resource_attribute("k8s.namespace.name", "default");
//! let req = otlp::request(&[&registry], &opts, 1_700_000_000_000_000_000);
//! let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
//! assert_eq!(metrics[0].name, "requests");
//! let mut body = Vec::new();
//! otlp::encode(&[&registry], &opts, 1_700_000_000_000_000_000, &mut body);
//! assert!(!body.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use opentelemetry_proto::tonic as proto;

use prost::Message;
use proto::collector::metrics::v1::ExportMetricsServiceRequest;
use proto::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use proto::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, exponential_histogram_data_point, metric,
    number_data_point,
};
use proto::resource::v1::Resource;

use crate::Registry;
use crate::collect::{self, Family, Labels, Point, Visitor};
use crate::expo::Kind;
use crate::native::{NativeSnapshot, Side};

/// The request's `Content-Type` (OTLP/HTTP, binary protobuf).
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// The resource and timing of a request.
///
/// ```
/// use meshtel_metrics::otlp::OtlpOptions;
/// let opts = OtlpOptions::new().resource_attribute("service.name", "reviews").start_time_unix_nano(1);
/// assert_eq!(opts.resource_attributes(), [("service.name", "reviews")]);
/// ```
#[derive(Debug, Clone)]
pub struct OtlpOptions {
    resource: Vec<(String, String)>,
    start_time_unix_nano: u64,
    self_metrics: bool,
}

impl Default for OtlpOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OtlpOptions {
    /// No resource attributes, start time unknown (0), the registries' own
    /// `meshtel_metrics_*` metrics included.
    #[must_use]
    pub fn new() -> Self {
        Self {
            resource: Vec::new(),
            start_time_unix_nano: 0,
            self_metrics: true,
        }
    }

    /// Adds (or replaces) a resource attribute.
    #[must_use]
    pub fn resource_attribute(mut self, key: &str, value: &str) -> Self {
        if let Some(kv) = self.resource.iter_mut().find(|(k, _)| k == key) {
            kv.1 = value.into();
        } else {
            self.resource.push((key.into(), value.into()));
        }
        self
    }

    /// When the cumulative series started (the registry's creation), in
    /// nanoseconds since the Unix epoch: every sum and histogram point's
    /// `start_time_unix_nano`. Default 0 (unknown).
    #[must_use]
    pub fn start_time_unix_nano(mut self, t: u64) -> Self {
        self.start_time_unix_nano = t;
        self
    }

    /// Whether to include each registry's `meshtel_metrics_*` metrics. Default on.
    #[must_use]
    pub fn self_metrics(mut self, on: bool) -> Self {
        self.self_metrics = on;
        self
    }

    /// The resource attributes, in the order given.
    pub fn resource_attributes(&self) -> Vec<(&str, &str)> {
        self.resource.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }
}

/// The request for a snapshot of `registries` at `time_unix_nano`.
#[must_use]
pub fn request(registries: &[&Registry], opts: &OtlpOptions, time_unix_nano: u64) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![resource_metrics(registries, opts, time_unix_nano)],
    }
}

/// The `ResourceMetrics` of [`request`], to combine resources (two
/// sidecars, each its own `service.name`) in one request.
#[must_use]
pub fn resource_metrics(registries: &[&Registry], opts: &OtlpOptions, time_unix_nano: u64) -> ResourceMetrics {
    let mut b = Builder {
        start: opts.start_time_unix_nano,
        time: time_unix_nano,
        metrics: Vec::new(),
        current: None,
    };
    collect::visit(registries, opts.self_metrics, &mut b);
    ResourceMetrics {
        resource: Some(Resource {
            attributes: opts.resource.iter().map(|(k, v)| string_kv(k, v)).collect(),
            ..Resource::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "meshtel-metrics".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..InstrumentationScope::default()
            }),
            metrics: b.metrics,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// Appends the protobuf encoding of [`request`] to `out` (the OTLP/HTTP body).
pub fn encode(registries: &[&Registry], opts: &OtlpOptions, time_unix_nano: u64, out: &mut Vec<u8>) {
    let req = request(registries, opts, time_unix_nano);
    out.reserve(req.encoded_len());
    // A Vec grows as needed: encoding into it cannot fail.
    let _ = req.encode(out);
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

struct Builder {
    start: u64,
    time: u64,
    metrics: Vec<Metric>,
    current: Option<Metric>,
}

const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

impl Builder {
    fn exponential(&self, attributes: Vec<KeyValue>, h: &NativeSnapshot) -> ExponentialHistogramDataPoint {
        let buckets = |side: &Side| {
            (!side.counts.is_empty()).then(|| exponential_histogram_data_point::Buckets {
                // OTLP bucket i is (base^i, base^(i+1)]; Prometheus bucket i is (base^(i-1), base^i].
                offset: side.offset - 1,
                bucket_counts: side.counts.clone(),
            })
        };
        ExponentialHistogramDataPoint {
            attributes,
            start_time_unix_nano: self.start,
            time_unix_nano: self.time,
            count: h.count,
            sum: Some(h.sum),
            scale: i32::from(h.schema),
            zero_count: h.zero_count,
            positive: buckets(&h.positive),
            negative: buckets(&h.negative),
            zero_threshold: h.zero_threshold,
            ..ExponentialHistogramDataPoint::default()
        }
    }
}

impl Visitor for Builder {
    fn family(&mut self, family: &Family<'_>) {
        let data = match family.kind {
            Kind::Counter => metric::Data::Sum(Sum {
                data_points: Vec::new(),
                aggregation_temporality: CUMULATIVE,
                is_monotonic: true,
            }),
            Kind::Gauge => metric::Data::Gauge(Gauge::default()),
            Kind::Histogram if family.native => metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: Vec::new(),
                aggregation_temporality: CUMULATIVE,
            }),
            Kind::Histogram => metric::Data::Histogram(Histogram {
                data_points: Vec::new(),
                aggregation_temporality: CUMULATIVE,
            }),
        };
        self.current = Some(Metric {
            name: family.name.into(),
            description: family.help.into(),
            unit: family.unit.unwrap_or_default().into(),
            data: Some(data),
            ..Metric::default()
        });
    }

    fn series(&mut self, family: &Family<'_>, labels: &Labels<'_>, point: &Point<'_>) {
        let attributes: Vec<KeyValue> = labels.pairs().map(|(k, v)| string_kv(k, &v)).collect();
        let number = |value| NumberDataPoint {
            attributes: attributes.clone(),
            start_time_unix_nano: self.start,
            time_unix_nano: self.time,
            value: Some(value),
            ..NumberDataPoint::default()
        };
        let point = match (*point, family.buckets) {
            (Point::Counter(n), _) => Pt::Number(number(number_data_point::Value::AsInt(n as i64))),
            (Point::Gauge(n), _) => Pt::Number(number(number_data_point::Value::AsInt(n))),
            (Point::FloatGauge(v), _) => Pt::Number(number(number_data_point::Value::AsDouble(v))),
            (Point::Histogram { native: Some(h), .. }, _) => Pt::Exponential(self.exponential(attributes, h)),
            (Point::Histogram { classic: Some(s), .. }, Some(buckets)) => Pt::Histogram(HistogramDataPoint {
                attributes,
                start_time_unix_nano: self.start,
                time_unix_nano: self.time,
                count: s.count,
                sum: Some(s.sum),
                bucket_counts: s.buckets.clone(),
                explicit_bounds: buckets.bounds().to_vec(),
                ..HistogramDataPoint::default()
            }),
            (Point::Histogram { .. }, _) => return,
        };
        let Some(Metric { data: Some(data), .. }) = &mut self.current else {
            return;
        };
        match (data, point) {
            (metric::Data::Sum(s), Pt::Number(p)) => s.data_points.push(p),
            (metric::Data::Gauge(g), Pt::Number(p)) => g.data_points.push(p),
            (metric::Data::Histogram(h), Pt::Histogram(p)) => h.data_points.push(p),
            (metric::Data::ExponentialHistogram(h), Pt::Exponential(p)) => h.data_points.push(p),
            _ => {}
        }
    }

    fn end_family(&mut self, _family: &Family<'_>) {
        if let Some(m) = self.current.take() {
            self.metrics.push(m);
        }
    }
}

/// A data point of any of the kinds a family produces.
enum Pt {
    Number(NumberDataPoint),
    Histogram(HistogramDataPoint),
    Exponential(ExponentialHistogramDataPoint),
}
