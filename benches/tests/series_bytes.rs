//! Heap bytes a new 25-label series keeps, for Istio's four HTTP metrics (a
//! counter and three histograms with the default buckets): meshtel-metrics
//! against prometheus-client, measured with a counting global allocator.
//! Target: at most half of prometheus-client's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use meshtel_benches::{ISTIO_LABELS, istio_label_sets, prometheus_labels};
use meshtel_metrics::{Buckets, Config, Desc, ISTIO_DEFAULT_BUCKETS, Registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards unchanged to the system allocator, counting live bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SERIES: usize = 2_000;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

type Labels = meshtel_benches::PrometheusLabels;

fn istio_histogram() -> Histogram {
    Histogram::new(ISTIO_DEFAULT_BUCKETS)
}

/// Bytes kept per series by meshtel-metrics (labels given as `&str`).
fn meshtel_bytes(sets: &[Vec<&str>]) -> f64 {
    let registry = Registry::new(Config::default());
    let mut g = registry.group("istio_http", &ISTIO_LABELS);
    let c = g.counter(Desc::new("istio_requests_total", "")).unwrap();
    let d = g
        .histogram(
            Desc::new("istio_request_duration_milliseconds", ""),
            Buckets::istio_default(),
        )
        .unwrap();
    let q = g
        .histogram(Desc::new("istio_request_bytes", ""), Buckets::istio_default())
        .unwrap();
    let p = g
        .histogram(Desc::new("istio_response_bytes", ""), Buckets::istio_default())
        .unwrap();
    let group = g.build().unwrap();
    let before = live();
    for v in sets {
        group
            .with_series(v, |s| {
                s.inc(c);
                s.observe(d, 1.0);
                s.observe(q, 1.0);
                s.observe(p, 1.0);
            })
            .unwrap();
    }
    (live() - before) as f64 / sets.len() as f64
}

/// Bytes kept per series by prometheus-client (each family stores its own
/// owned label set).
fn prometheus_client_bytes(sets: &[Vec<&str>]) -> f64 {
    let mut registry = prometheus_client::registry::Registry::default();
    let c = Family::<Labels, Counter>::default();
    let d = Family::<Labels, Histogram>::new_with_constructor(istio_histogram as fn() -> Histogram);
    let q = Family::<Labels, Histogram>::new_with_constructor(istio_histogram as fn() -> Histogram);
    let p = Family::<Labels, Histogram>::new_with_constructor(istio_histogram as fn() -> Histogram);
    registry.register("istio_requests", "", c.clone());
    registry.register("istio_request_duration_milliseconds", "", d.clone());
    registry.register("istio_request_bytes", "", q.clone());
    registry.register("istio_response_bytes", "", p.clone());
    let before = live();
    for v in sets {
        let labels = prometheus_labels(v);
        c.get_or_create(&labels).inc();
        d.get_or_create(&labels).observe(1.0);
        q.get_or_create(&labels).observe(1.0);
        p.get_or_create(&labels).observe(1.0);
    }
    (live() - before) as f64 / sets.len() as f64
}

#[test]
fn a_new_series_keeps_at_most_half_the_bytes_of_prometheus_client() {
    let sets = istio_label_sets(SERIES);
    let sets: Vec<Vec<&str>> = sets.iter().map(|s| s.iter().map(String::as_str).collect()).collect();
    let ours = meshtel_bytes(&sets);
    let theirs = prometheus_client_bytes(&sets);
    println!(
        "bytes per new 25-label series (1 counter + 3 histograms): meshtel {ours:.0}, prometheus-client {theirs:.0}, ratio {:.2}",
        ours / theirs
    );
    assert!(ours > 0.0 && theirs > 0.0);
    assert!(
        ours * 2.0 <= theirs,
        "meshtel {ours:.0} B vs prometheus-client {theirs:.0} B per series"
    );
}
