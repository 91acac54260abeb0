//! `push`: the remote write encoder against building prost structs.
//!
//! A registry of the series of 1 000 of the benches' Istio label sets (750
//! distinct) with Istio's 25 labels, each with a counter and a histogram of
//! Istio's 19 default bounds (23 samples per series, 17 250 time series per
//! request). `metrics/remote_write/meshtel` snapshots
//! the registry and streams the `WriteRequest` into a reused buffer, then
//! snappy-compresses it; `metrics/remote_write/prost` builds the same
//! request as prost-derived structs (labels copied into owned strings, from
//! values already snapshotted, so it does less work), encodes and
//! compresses it.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meshtel_benches::{ISTIO_LABELS, istio_label_sets};
use meshtel_metrics::remote_write::{self, RemoteWriteOptions};
use meshtel_metrics::{Desc, Registry};
use prost::Message;

#[derive(Clone, PartialEq, Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
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

const TS: i64 = 1_764_000_000_000;

fn remote_write(c: &mut Criterion) {
    let sets = istio_label_sets(1000);
    let registry = Registry::default();
    let mut g = registry.group("istio", &ISTIO_LABELS);
    let requests = g.counter(Desc::new("istio_requests_total", "Requests.")).unwrap();
    let duration = g
        .histogram(
            Desc::new("istio_request_duration_milliseconds", "Duration.").unit("milliseconds"),
            meshtel::default_buckets(),
        )
        .unwrap();
    let group = g.build().unwrap();
    for (i, v) in sets.iter().enumerate() {
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        group
            .with_series(&v, |s| {
                s.add(requests, i as u64);
                s.observe(duration, (i % 300) as f64);
            })
            .unwrap();
    }
    let opts = RemoteWriteOptions::new()
        .external_label("cluster", "c1")
        .metadata(false)
        .self_metrics(false);
    // The peer's source: the same series, decoded once.
    let mut raw = Vec::new();
    remote_write::encode_uncompressed(&[&registry], &opts, TS, &mut raw).unwrap();
    let source = WriteRequest::decode(raw.as_slice()).unwrap();
    let samples = source.timeseries.len() as u64;

    let mut group = c.benchmark_group("metrics/remote_write");
    group.throughput(Throughput::Elements(samples));
    group.sample_size(20);
    let mut body = Vec::with_capacity(4 << 20);
    group.bench_function("meshtel", |b| {
        b.iter(|| {
            remote_write::encode(&[&registry], &opts, TS, &mut body).unwrap();
            black_box(body.len())
        });
    });
    let mut encoder = snap::raw::Encoder::new();
    group.bench_function("prost", |b| {
        b.iter(|| {
            let req = WriteRequest {
                timeseries: source
                    .timeseries
                    .iter()
                    .map(|ts| TimeSeries {
                        labels: ts
                            .labels
                            .iter()
                            .map(|l| Label {
                                name: l.name.clone(),
                                value: l.value.clone(),
                            })
                            .collect(),
                        samples: vec![Sample {
                            value: ts.samples[0].value,
                            timestamp: TS,
                        }],
                    })
                    .collect(),
            };
            let raw = req.encode_to_vec();
            black_box(encoder.compress_vec(&raw).unwrap().len())
        });
    });
    group.finish();
    eprintln!(
        "metrics/remote_write: {samples} samples, {} bytes uncompressed, {} bytes compressed ({:.2} bytes/sample)",
        raw.len(),
        body.len(),
        body.len() as f64 / samples as f64
    );
}

criterion_group!(push, remote_write);
criterion_main!(push);
