//! OTLP round trip: the encoded request decodes with the opentelemetry-proto
//! types and carries every registry value, label and resource attribute.
#![cfg(feature = "otlp")]

use meshtel_metrics::otlp::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use meshtel_metrics::otlp::proto::common::v1::{KeyValue, any_value};
use meshtel_metrics::otlp::proto::metrics::v1::{Metric, metric, number_data_point};
use meshtel_metrics::otlp::{self, OtlpOptions};
use meshtel_metrics::{Buckets, Desc, NativeBuckets, Registry};
use prost::Message;

const T: u64 = 1_764_000_000_123_456_789;

fn attrs(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => panic!("not a string: {other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

fn metric<'a>(metrics: &'a [Metric], name: &str) -> &'a metric::Data {
    metrics
        .iter()
        .find(|m| m.name == name)
        .and_then(|m| m.data.as_ref())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

#[test]
fn values_attributes_and_resource_survive() {
    let registry = Registry::default();
    let mut g = registry.group("http", &["reporter", "path"]);
    let requests = g.counter(Desc::new("requests_total", "Requests.")).unwrap();
    let active = g.gauge(Desc::new("active", "Active.")).unwrap();
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
    let g = g.build().unwrap();
    g.with_series(&["source", "/a\"b\\c"], |s| {
        s.add(requests, 7);
        s.set(active, -3);
        s.set_f64(ratio, 0.25);
        for v in [0.5, 5.0, 50.0] {
            s.observe(duration, v);
        }
        for v in [0.0, 1.0, 1.5, 2.0, 3.0, 3.0, -0.75] {
            s.observe(latency, v);
        }
    })
    .unwrap();

    let opts = OtlpOptions::new()
        .resource_attribute("service.name", "reviews")
        .resource_attribute("k8s.namespace.name", "default")
        .start_time_unix_nano(T - 1_000)
        .self_metrics(false);
    let mut body = Vec::new();
    otlp::encode(&[&registry], &opts, T, &mut body);
    let req = ExportMetricsServiceRequest::decode(body.as_slice()).unwrap();
    assert_eq!(req, otlp::request(&[&registry], &opts, T));
    let rm = &req.resource_metrics[0];
    assert_eq!(
        attrs(&rm.resource.as_ref().unwrap().attributes),
        [
            ("service.name".into(), "reviews".into()),
            ("k8s.namespace.name".into(), "default".into())
        ]
    );
    let metrics = &rm.scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 5);
    let labels = vec![
        ("reporter".to_string(), "source".to_string()),
        ("path".into(), "/a\"b\\c".into()),
    ];

    let metric::Data::Sum(sum) = metric(metrics, "requests") else {
        panic!("not a sum")
    };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, 2, "cumulative");
    let p = &sum.data_points[0];
    assert_eq!(attrs(&p.attributes), labels);
    assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (T - 1_000, T));
    assert_eq!(p.value, Some(number_data_point::Value::AsInt(7)));

    let metric::Data::Gauge(gauge) = metric(metrics, "active") else {
        panic!("not a gauge")
    };
    assert_eq!(gauge.data_points[0].value, Some(number_data_point::Value::AsInt(-3)));
    let metric::Data::Gauge(gauge) = metric(metrics, "ratio") else {
        panic!("not a gauge")
    };
    assert_eq!(
        gauge.data_points[0].value,
        Some(number_data_point::Value::AsDouble(0.25))
    );

    let metric::Data::Histogram(h) = metric(metrics, "duration_milliseconds") else {
        panic!("not a histogram")
    };
    let unit = &metrics.iter().find(|m| m.name == "duration_milliseconds").unwrap().unit;
    assert_eq!(unit, "milliseconds");
    let p = &h.data_points[0];
    assert_eq!((p.count, p.sum), (3, Some(55.5)));
    assert_eq!(p.explicit_bounds, [1.0, 10.0]);
    assert_eq!(p.bucket_counts, [1, 1, 1]);

    let metric::Data::ExponentialHistogram(e) = metric(metrics, "latency_seconds") else {
        panic!("not an exponential histogram")
    };
    let p = &e.data_points[0];
    assert_eq!((p.count, p.zero_count, p.scale, p.sum), (7, 1, 0, Some(9.75)));
    assert_eq!(p.zero_threshold, 0.001);
    // Prometheus buckets 0, 1, 2 (1; 1.5 and 2; 3 and 3) are OTLP buckets -1, 0, 1.
    let pos = p.positive.as_ref().unwrap();
    assert_eq!((pos.offset, pos.bucket_counts.as_slice()), (-1, &[1, 2, 2][..]));
    let neg = p.negative.as_ref().unwrap();
    assert_eq!((neg.offset, neg.bucket_counts.as_slice()), (-1, &[1][..]));
}

#[test]
fn self_metrics_and_empty_registries() {
    let registry = Registry::default();
    let req = otlp::request(&[&registry], &OtlpOptions::new(), T);
    assert!(req.resource_metrics[0].scope_metrics[0].metrics.is_empty());
    let mut g = registry.group("g", &[]);
    g.counter(Desc::new("c_total", "")).unwrap();
    g.build().unwrap();
    let req = otlp::request(&[&registry], &OtlpOptions::new(), T);
    let names: Vec<&str> = req.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "c",
            "meshtel_metrics_series",
            "meshtel_metrics_overflow_records",
            "meshtel_metrics_truncated_label_values",
            "meshtel_metrics_evicted_series"
        ]
    );
}
