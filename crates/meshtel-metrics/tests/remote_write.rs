//! Remote write round trip: the request decodes with prost-derived
//! `prometheus.WriteRequest` types (written here from the remote write 1.0
//! proto) and carries every registry value and label.
#![cfg(feature = "remote-write")]

use std::collections::BTreeMap;

use meshtel_metrics::remote_write::{self, RemoteWriteError, RemoteWriteOptions};
use meshtel_metrics::{Buckets, Desc, NativeBuckets, Registry};
use prost::Message;

#[derive(Clone, PartialEq, Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, Message)]
struct MetricMetadata {
    #[prost(int32, tag = "1")]
    kind: i32,
    #[prost(string, tag = "2")]
    metric_family_name: String,
    #[prost(string, tag = "4")]
    help: String,
    #[prost(string, tag = "5")]
    unit: String,
}

#[derive(Clone, PartialEq, Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
    #[prost(message, repeated, tag = "4")]
    histograms: Vec<Histogram>,
}

#[derive(Clone, PartialEq, Message)]
struct Label {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Histogram {
    #[prost(uint64, tag = "1")]
    count_int: u64,
    #[prost(double, tag = "3")]
    sum: f64,
    #[prost(sint32, tag = "4")]
    schema: i32,
    #[prost(double, tag = "5")]
    zero_threshold: f64,
    #[prost(uint64, tag = "6")]
    zero_count_int: u64,
    #[prost(message, repeated, tag = "8")]
    negative_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "9")]
    negative_deltas: Vec<i64>,
    #[prost(message, repeated, tag = "11")]
    positive_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "12")]
    positive_deltas: Vec<i64>,
    #[prost(int64, tag = "15")]
    timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
struct BucketSpan {
    #[prost(sint32, tag = "1")]
    offset: i32,
    #[prost(uint32, tag = "2")]
    length: u32,
}

const TS: i64 = 1_764_000_000_123;

fn decode(registries: &[&Registry], opts: &RemoteWriteOptions) -> WriteRequest {
    let mut body = Vec::new();
    remote_write::encode(registries, opts, TS, &mut body).unwrap();
    let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
    WriteRequest::decode(raw.as_slice()).unwrap()
}

/// `{labels rendered as name="value",...}` -> samples.
fn by_series(req: &WriteRequest) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for ts in &req.timeseries {
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "labels sorted by name");
        let key = ts
            .labels
            .iter()
            .map(|l| format!("{}={:?}", l.name, l.value))
            .collect::<Vec<_>>()
            .join(",");
        for s in &ts.samples {
            assert_eq!(s.timestamp, TS);
            assert!(m.insert(key.clone(), s.value).is_none(), "duplicate series {key}");
        }
    }
    m
}

#[test]
fn values_and_labels_survive() {
    let registry = Registry::default();
    let mut g = registry.group("http", &["reporter", "response_code", "path"]);
    let requests = g.counter(Desc::new("requests_total", "Requests.")).unwrap();
    let active = g.gauge(Desc::new("active", "Active.")).unwrap();
    let ratio = g.float_gauge(Desc::new("ratio", "Ratio.")).unwrap();
    let duration = g
        .histogram(
            Desc::new("duration_milliseconds", "Duration.").unit("milliseconds"),
            Buckets::new(&[1.0, 10.0]).unwrap(),
        )
        .unwrap();
    let g = g.build().unwrap();
    g.with_series(&["source", "200", "/a\"b\\c\nd"], |s| {
        s.add(requests, 7);
        s.set(active, -3);
        s.set_f64(ratio, 0.25);
        s.observe(duration, 0.5);
        s.observe(duration, 5.0);
        s.observe(duration, 50.0);
    })
    .unwrap();
    g.with_series(&["destination", "503", ""], |s| s.inc(requests)).unwrap();

    let opts = RemoteWriteOptions::new()
        .external_label("cluster", "c1")
        .external_label("reporter", "ignored: the series has its own")
        .external_label("Alpha", "first");
    let req = decode(&[&registry], &opts);
    let got = by_series(&req);
    let l = |name: &str, extra: &str| {
        format!(
            "Alpha=\"first\",__name__={name:?},cluster=\"c1\",{extra}path=\"/a\\\"b\\\\c\\nd\",reporter=\"source\",response_code=\"200\""
        )
    };
    assert_eq!(got[&l("requests_total", "")], 7.0);
    assert_eq!(got[&l("active", "")], -3.0);
    assert_eq!(got[&l("ratio", "")], 0.25);
    assert_eq!(got[&l("duration_milliseconds_bucket", "le=\"1\",")], 1.0);
    assert_eq!(got[&l("duration_milliseconds_bucket", "le=\"10\",")], 2.0);
    assert_eq!(got[&l("duration_milliseconds_bucket", "le=\"+Inf\",")], 3.0);
    assert_eq!(got[&l("duration_milliseconds_sum", "")], 55.5);
    assert_eq!(got[&l("duration_milliseconds_count", "")], 3.0);
    // The empty `path` is left out, as a scrape drops it.
    assert_eq!(
        got["Alpha=\"first\",__name__=\"requests_total\",cluster=\"c1\",reporter=\"destination\",response_code=\"503\""],
        1.0
    );
    assert_eq!(
        got["Alpha=\"first\",__name__=\"meshtel_metrics_series\",cluster=\"c1\",group=\"http\",reporter=\"ignored: the series has its own\""],
        2.0
    );
    let meta: Vec<(i32, &str, &str)> = req
        .metadata
        .iter()
        .map(|m| (m.kind, m.metric_family_name.as_str(), m.unit.as_str()))
        .collect();
    assert!(meta.contains(&(1, "requests_total", "")));
    assert!(meta.contains(&(3, "duration_milliseconds", "milliseconds")));
}

#[test]
fn native_histograms_are_sent_as_histograms() {
    let registry = Registry::default();
    let mut g = registry.group("rpc", &["method"]);
    let both = g
        .histogram_with_native(
            Desc::new("latency_seconds", "Latency."),
            Buckets::new(&[1.0]).unwrap(),
            NativeBuckets::new(0).unwrap().zero_threshold(0.001).unwrap(),
        )
        .unwrap();
    let g = g.build().unwrap();
    g.with_series(&["get"], |s| {
        for v in [0.0, 1.0, 1.5, 2.0, 3.0, 3.0, -0.75] {
            s.observe(both, v);
        }
    })
    .unwrap();
    let req = decode(
        &[&registry],
        &RemoteWriteOptions::new().metadata(false).self_metrics(false),
    );
    assert!(req.metadata.is_empty());
    let classic = by_series(&req);
    assert_eq!(classic["__name__=\"latency_seconds_count\",method=\"get\""], 7.0);
    assert_eq!(
        classic["__name__=\"latency_seconds_bucket\",le=\"1\",method=\"get\""],
        3.0
    );
    let native: Vec<&TimeSeries> = req.timeseries.iter().filter(|t| !t.histograms.is_empty()).collect();
    assert_eq!(native.len(), 1);
    assert_eq!(native[0].labels[0].value, "latency_seconds");
    let h = &native[0].histograms[0];
    assert_eq!((h.count_int, h.zero_count_int, h.schema, h.timestamp), (7, 1, 0, TS));
    assert_eq!(h.sum, 9.75);
    assert_eq!(h.zero_threshold, 0.001);
    // 1 -> bucket 0; 1.5, 2 -> 1; 3, 3 -> 2: one span at 0, counts 1 2 2.
    assert_eq!(h.positive_spans, [BucketSpan { offset: 0, length: 3 }]);
    assert_eq!(h.positive_deltas, [1, 1, 0]);
    assert_eq!(h.negative_spans, [BucketSpan { offset: 0, length: 1 }]);
    assert_eq!(h.negative_deltas, [1]);
}

#[test]
fn appended_requests_merge_and_bad_labels_are_errors() {
    let (a, b) = (Registry::default(), Registry::default());
    for (r, n) in [(&a, 1), (&b, 2)] {
        let mut g = r.group("g", &["x"]);
        let c = g.counter(Desc::new("c_total", "")).unwrap();
        g.build().unwrap().with_series(&["v"], |s| s.add(c, n)).unwrap();
    }
    let mut raw = Vec::new();
    for (r, pod) in [(&a, "a"), (&b, "b")] {
        let opts = RemoteWriteOptions::new().external_label("pod", pod).metadata(false);
        remote_write::encode_uncompressed(&[r], &opts, TS, &mut raw).unwrap();
    }
    let req = WriteRequest::decode(raw.as_slice()).unwrap();
    let got = by_series(&req);
    assert_eq!(got["__name__=\"c_total\",pod=\"a\",x=\"v\""], 1.0);
    assert_eq!(got["__name__=\"c_total\",pod=\"b\",x=\"v\""], 2.0);

    let mut out = Vec::new();
    let bad = RemoteWriteOptions::new().external_label("__name__", "x");
    assert!(matches!(
        remote_write::encode(&[&a], &bad, TS, &mut out),
        Err(RemoteWriteError::InvalidLabelName(n)) if n == "__name__"
    ));
    let dup = RemoteWriteOptions::new()
        .external_label("pod", "a")
        .external_label("pod", "b");
    assert!(matches!(
        remote_write::encode(&[&a], &dup, TS, &mut out),
        Err(RemoteWriteError::DuplicateLabel(_))
    ));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any label values (quotes, backslashes, newlines, any Unicode) and
        /// counter values come back exactly; empty values are left out.
        #[test]
        fn any_labels_and_counts_round_trip(
            series in proptest::collection::btree_map(
                (any::<String>(), "[a-z\"\\\\\n]{0,6}"),
                0u64..1 << 53,
                1..20,
            )
        ) {
            let registry = Registry::default();
            let mut g = registry.group("g", &["a", "b"]);
            let c = g.counter(Desc::new("c_total", "")).unwrap();
            let g = g.build().unwrap();
            for ((a, b), n) in &series {
                g.with_series(&[a, b], |s| s.add(c, *n)).unwrap();
            }
            let req = decode(&[&registry], &RemoteWriteOptions::new().metadata(false).self_metrics(false));
            let mut got = BTreeMap::new();
            for ts in &req.timeseries {
                let label = |n: &str| ts.labels.iter().find(|l| l.name == n).map_or(String::new(), |l| l.value.clone());
                prop_assert!(ts.labels.iter().all(|l| !l.value.is_empty()));
                *got.entry((label("a"), label("b"))).or_insert(0u64) += ts.samples[0].value as u64;
            }
            // Values longer than the registry's limit would be cut; these are short.
            let want: BTreeMap<(String, String), u64> = series.into_iter().collect();
            prop_assert_eq!(got, want);
        }

        /// Any observations: the native histogram sent counts each value
        /// once, in the bucket its value belongs to at the schema sent.
        #[test]
        fn native_buckets_hold_their_values(values in proptest::collection::vec(-1e6f64..1e6, 1..200)) {
            let registry = Registry::default();
            let mut g = registry.group("g", &[]);
            let h = g.native_histogram(Desc::new("h", ""), NativeBuckets::new(8).unwrap().max_buckets(30).unwrap()).unwrap();
            let g = g.build().unwrap();
            g.with_series(&[], |s| values.iter().for_each(|v| s.observe(h, *v))).unwrap();
            let req = decode(&[&registry], &RemoteWriteOptions::new().metadata(false).self_metrics(false));
            let hist = &req.timeseries.iter().find(|t| !t.histograms.is_empty()).unwrap().histograms[0];
            prop_assert_eq!(hist.count_int, values.len() as u64);
            let base = (-f64::from(hist.schema)).exp2().exp2();
            let expand = |spans: &[BucketSpan], deltas: &[i64]| {
                let (mut index, mut count, mut d) = (0i32, 0i64, deltas.iter());
                let mut out = Vec::new();
                for s in spans {
                    index += s.offset;
                    for _ in 0..s.length {
                        count += d.next().unwrap();
                        out.push((index, count as u64));
                        index += 1;
                    }
                }
                out
            };
            let mut total = hist.zero_count_int;
            for (sign, spans, deltas) in [(1.0, &hist.positive_spans, &hist.positive_deltas), (-1.0, &hist.negative_spans, &hist.negative_deltas)] {
                for (i, n) in expand(spans, deltas) {
                    let (lo, hi) = (base.powi(i - 1), base.powi(i));
                    let inside = values
                        .iter()
                        .filter(|v| **v * sign > 0.0 && (**v).abs() > lo * (1.0 - 1e-9) && (**v).abs() <= hi * (1.0 + 1e-9))
                        .count() as u64;
                    prop_assert!(inside >= n, "bucket {} ({}, {}] holds {} but {} values fit", i, lo, hi, n, inside);
                    total += n;
                }
            }
            prop_assert_eq!(total, values.len() as u64);
        }
    }
}
