//! The Prometheus protobuf exposition decodes with prost-derived
//! `io.prometheus.client` types (written here from `metrics.proto`) and
//! carries every family, label and value, native histograms included.
#![cfg(feature = "protobuf")]

use meshtel_metrics::{Buckets, Desc, Format, NativeBuckets, Registry};
use prost::Message;

#[derive(Clone, PartialEq, Message)]
struct MetricFamily {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, optional, tag = "2")]
    help: Option<String>,
    #[prost(int32, optional, tag = "3")]
    kind: Option<i32>,
    #[prost(message, repeated, tag = "4")]
    metric: Vec<Metric>,
    #[prost(string, optional, tag = "5")]
    unit: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct Metric {
    #[prost(message, repeated, tag = "1")]
    label: Vec<LabelPair>,
    #[prost(message, optional, tag = "2")]
    gauge: Option<Value>,
    #[prost(message, optional, tag = "3")]
    counter: Option<Value>,
    #[prost(message, optional, tag = "7")]
    histogram: Option<Histogram>,
}

#[derive(Clone, PartialEq, Message)]
struct LabelPair {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, optional, tag = "2")]
    value: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct Value {
    #[prost(double, optional, tag = "1")]
    value: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
struct Histogram {
    #[prost(uint64, optional, tag = "1")]
    sample_count: Option<u64>,
    #[prost(double, optional, tag = "2")]
    sample_sum: Option<f64>,
    #[prost(message, repeated, tag = "3")]
    bucket: Vec<Bucket>,
    #[prost(sint32, optional, tag = "5")]
    schema: Option<i32>,
    #[prost(double, optional, tag = "6")]
    zero_threshold: Option<f64>,
    #[prost(uint64, optional, tag = "7")]
    zero_count: Option<u64>,
    #[prost(message, repeated, tag = "9")]
    negative_span: Vec<BucketSpan>,
    #[prost(sint64, repeated, packed = "false", tag = "10")]
    negative_delta: Vec<i64>,
    #[prost(message, repeated, tag = "12")]
    positive_span: Vec<BucketSpan>,
    #[prost(sint64, repeated, packed = "false", tag = "13")]
    positive_delta: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
struct Bucket {
    #[prost(uint64, optional, tag = "1")]
    cumulative_count: Option<u64>,
    #[prost(double, optional, tag = "2")]
    upper_bound: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
struct BucketSpan {
    #[prost(sint32, optional, tag = "1")]
    offset: Option<i32>,
    #[prost(uint32, optional, tag = "2")]
    length: Option<u32>,
}

fn families(registry: &Registry) -> Vec<MetricFamily> {
    let mut body = Vec::new();
    registry.render(Format::Protobuf, &mut body).unwrap();
    let mut buf = body.as_slice();
    let mut out = Vec::new();
    while !buf.is_empty() {
        out.push(MetricFamily::decode_length_delimited(&mut buf).unwrap());
    }
    out
}

fn family<'a>(fams: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
    fams.iter().find(|f| f.name.as_deref() == Some(name)).unwrap()
}

#[test]
fn families_labels_and_values_survive() {
    let registry = Registry::default();
    let mut g = registry.group("http", &["code", "path"]);
    let requests = g.counter(Desc::new("requests_total", "Requests.")).unwrap();
    let ratio = g.float_gauge(Desc::new("ratio", "Ratio.")).unwrap();
    let duration = g
        .histogram(
            Desc::new("duration_milliseconds", "Duration.").unit("milliseconds"),
            Buckets::new(&[1.0, 10.0]).unwrap(),
        )
        .unwrap();
    let latency = g
        .histogram_with_native(
            Desc::new("latency_seconds", "Latency."),
            Buckets::new(&[1.0]).unwrap(),
            NativeBuckets::new(0).unwrap().zero_threshold(0.001).unwrap(),
        )
        .unwrap();
    let native_only = g
        .native_histogram(Desc::new("size_bytes", "Size."), NativeBuckets::default())
        .unwrap();
    let g = g.build().unwrap();
    g.with_series(&["200", "/a\"b"], |s| {
        s.add(requests, 7);
        s.set_f64(ratio, 0.25);
        for v in [0.5, 5.0, 50.0] {
            s.observe(duration, v);
        }
        for v in [0.0, 1.0, 1.5, 2.0, 3.0, 3.0, -0.75] {
            s.observe(latency, v);
        }
    })
    .unwrap();
    let fams = families(&registry);

    let f = family(&fams, "requests_total");
    assert_eq!((f.kind, f.help.as_deref()), (Some(0), Some("Requests.")));
    let m = &f.metric[0];
    let labels: Vec<(&str, &str)> = m
        .label
        .iter()
        .map(|l| (l.name.as_deref().unwrap(), l.value.as_deref().unwrap()))
        .collect();
    assert_eq!(labels, [("code", "200"), ("path", "/a\"b")]);
    assert_eq!(m.counter.as_ref().unwrap().value, Some(7.0));
    assert_eq!(
        family(&fams, "ratio").metric[0].gauge.as_ref().unwrap().value,
        Some(0.25)
    );

    let f = family(&fams, "duration_milliseconds");
    assert_eq!((f.kind, f.unit.as_deref()), (Some(4), Some("milliseconds")));
    let h = f.metric[0].histogram.as_ref().unwrap();
    assert_eq!((h.sample_count, h.sample_sum), (Some(3), Some(55.5)));
    let buckets: Vec<(u64, f64)> = h
        .bucket
        .iter()
        .map(|b| (b.cumulative_count.unwrap(), b.upper_bound.unwrap()))
        .collect();
    assert_eq!(buckets, [(1, 1.0), (2, 10.0)]);
    assert!(h.schema.is_none(), "no native part");

    let h = family(&fams, "latency_seconds").metric[0].histogram.clone().unwrap();
    assert_eq!((h.sample_count, h.sample_sum), (Some(7), Some(9.75)));
    assert_eq!(h.bucket.len(), 1, "classic side by side");
    assert_eq!(
        (h.schema, h.zero_threshold, h.zero_count),
        (Some(0), Some(0.001), Some(1))
    );
    assert_eq!(
        h.positive_span,
        [BucketSpan {
            offset: Some(0),
            length: Some(3)
        }]
    );
    assert_eq!(h.positive_delta, [1, 1, 0]);
    assert_eq!(h.negative_delta, [1]);

    // Registered but never observed: an empty native histogram, still marked native.
    let h = family(&fams, "size_bytes").metric[0].histogram.clone().unwrap();
    assert_eq!((h.sample_count, h.schema), (Some(0), Some(3)));
    assert!(h.zero_threshold.unwrap() > 0.0);
    assert!(h.bucket.is_empty());
    assert_eq!(h.positive_span.len(), 1);
    let _ = native_only;
    assert_eq!(
        family(&fams, "meshtel_metrics_series").metric[0]
            .gauge
            .as_ref()
            .unwrap()
            .value,
        Some(1.0)
    );
}

#[test]
fn negotiation_and_text_rendering() {
    // Prometheus 2.42 with --enable-feature=native-histograms.
    let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(Format::from_accept(Some(native)), Format::Protobuf);
    assert_eq!(
        Format::from_accept(Some(
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"
        )),
        Format::Prometheus
    );
    assert_eq!(
        Format::from_accept(Some(
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,text/plain"
        )),
        Format::Prometheus
    );
    assert_eq!(
        Format::Protobuf.content_type(),
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    );
    let registry = Registry::default();
    let mut g = registry.group("g", &[]);
    g.counter(Desc::new("c_total", "")).unwrap();
    g.build().unwrap();
    assert_eq!(registry.render_to_string(Format::Protobuf), "");
    let mut s = String::new();
    assert!(registry.render_fmt(Format::Protobuf, &mut s).is_err());
}
