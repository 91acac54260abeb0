//! `metrics`: meshtel-metrics against prometheus-client on the same work.
//!
//! One request records Istio's four HTTP metrics (a counter and three
//! histograms with the default buckets) under 25 labels given as `&str`;
//! 64 distinct label sets rotate.

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meshtel_benches::{ISTIO_LABELS, istio_label_sets, meshtel_http, prometheus_client_http, prometheus_labels};
use meshtel_metrics::{Desc, Format, Registry};

fn label_sets(n: usize) -> Vec<Vec<String>> {
    istio_label_sets(n)
}

fn as_strs(sets: &[Vec<String>]) -> Vec<Vec<&str>> {
    sets.iter().map(|s| s.iter().map(String::as_str).collect()).collect()
}

fn record_request(c: &mut Criterion) {
    let sets = label_sets(64);
    let sets = as_strs(&sets);
    let (o, t) = (meshtel_http(20_000), prometheus_client_http());
    let mut group = c.benchmark_group("metrics/record_request");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("meshtel", |b| {
        b.iter(|| {
            i += 1;
            o.record(black_box(&sets[i % 64]), i);
        });
    });
    group.bench_function("prometheus-client", |b| {
        b.iter(|| {
            i += 1;
            t.record(black_box(&sets[i % 64]), i);
        });
    });
    group.finish();
}

fn record_handle(c: &mut Criterion) {
    let sets = label_sets(64);
    let sets = as_strs(&sets);
    let (o, t) = (meshtel_http(20_000), prometheus_client_http());
    let handles: Vec<_> = sets.iter().map(|v| o.group.series(v).unwrap()).collect();
    let theirs_handles: Vec<_> = sets
        .iter()
        .map(|v| {
            let labels = prometheus_labels(v);
            (
                t.requests.get_or_create(&labels).clone(),
                t.duration.get_or_create(&labels).clone(),
                t.request_bytes.get_or_create(&labels).clone(),
                t.response_bytes.get_or_create(&labels).clone(),
            )
        })
        .collect();
    let mut group = c.benchmark_group("metrics/record_handle");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("meshtel", |b| {
        b.iter(|| {
            i += 1;
            let h = &handles[i % 64];
            h.inc(o.requests);
            h.observe(o.duration, (i % 200) as f64);
            h.observe(o.request_bytes, 512.0);
            h.observe(o.response_bytes, (i % 5000) as f64);
        });
    });
    group.bench_function("prometheus-client", |b| {
        b.iter(|| {
            i += 1;
            let (r, d, q, p) = &theirs_handles[i % 64];
            r.inc();
            d.observe((i % 200) as f64);
            q.observe(512.0);
            p.observe((i % 5000) as f64);
        });
    });
    group.finish();
}

/// Two long-lived worker threads (created once, so the scheduler has
/// spread them over the cores before measuring) each record `iters`
/// requests per round; the time per iteration covers two requests
/// (`Throughput::Elements(2)`).
fn bench_two_threads(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    sets: &[Vec<&str>],
    record: &(impl Fn(&[&str], usize) + Sync),
) {
    let start = Barrier::new(3);
    let done = Barrier::new(3);
    let iters = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for t in 0..2usize {
            let (start, done, iters, stop) = (&start, &done, &iters, &stop);
            scope.spawn(move || {
                loop {
                    start.wait();
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    for i in 0..iters.load(Ordering::Relaxed) as usize {
                        let n = i + t * 32;
                        record(black_box(&sets[n % 64]), n);
                    }
                    done.wait();
                }
            });
        }
        group.bench_function(name, |b| {
            b.iter_custom(|n| {
                iters.store(n, Ordering::Relaxed);
                let begin = Instant::now();
                start.wait();
                done.wait();
                begin.elapsed()
            });
        });
        stop.store(true, Ordering::Relaxed);
        start.wait();
    });
}

fn record_request_2threads(c: &mut Criterion) {
    let sets = label_sets(64);
    let sets = as_strs(&sets);
    let (o, t) = (meshtel_http(20_000), prometheus_client_http());
    let mut group = c.benchmark_group("metrics/record_request_2threads");
    group.throughput(Throughput::Elements(2));
    bench_two_threads(&mut group, "meshtel", &sets, &|v, i| o.record(v, i));
    bench_two_threads(&mut group, "prometheus-client", &sets, &|v, i| t.record(v, i));
    group.finish();
}

fn render_10k(c: &mut Criterion) {
    let sets = label_sets(10_000);
    let sets = as_strs(&sets);
    // One counter family with 10 000 series of 25 labels, in each library.
    let registry = Registry::default();
    let mut g = registry.group("istio_requests", &ISTIO_LABELS);
    let requests = g.counter(Desc::new("istio_requests_total", "Requests.")).unwrap();
    let group = g.build().unwrap();
    let t = prometheus_client_http();
    for (i, v) in sets.iter().enumerate() {
        group.with_series(v, |s| s.add(requests, i as u64)).unwrap();
        let labels = prometheus_labels(v);
        t.requests.get_or_create(&labels).inc_by(i as u64);
    }
    let mut out = Vec::with_capacity(16 << 20);
    let mut text = String::with_capacity(16 << 20);
    let mut group = c.benchmark_group("metrics/render_10k");
    group.sample_size(20);
    group.bench_function("meshtel", |b| {
        b.iter(|| {
            out.clear();
            registry.render(Format::Prometheus, &mut out).unwrap();
            black_box(out.len())
        });
    });
    group.bench_function("prometheus-client", |b| {
        b.iter(|| {
            text.clear();
            prometheus_client::encoding::text::encode(&mut text, &t.registry).unwrap();
            black_box(text.len())
        });
    });
    group.finish();
}

criterion_group!(
    metrics,
    record_request,
    record_handle,
    record_request_2threads,
    render_10k
);
criterion_main!(metrics);
