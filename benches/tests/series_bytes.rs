//! Heap bytes a new 25-label series keeps, for Istio's four HTTP metrics (a
//! counter and three histograms with the default buckets): meshtel-metrics
//! against prometheus-client, measured with a counting global allocator.
//! Target: at most half of prometheus-client's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use meshtel_benches::{istio_label_sets, meshtel_http, prometheus_client_http};
use meshtel_metrics::Config;

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

/// Bytes kept per series by meshtel-metrics (labels given as `&str`).
fn meshtel_bytes(sets: &[Vec<&str>]) -> f64 {
    let http = meshtel_http(Config::default().max_series);
    let before = live();
    for v in sets {
        http.record(v, 1);
    }
    (live() - before) as f64 / sets.len() as f64
}

/// Bytes kept per series by prometheus-client (each family stores its own
/// owned label set).
fn prometheus_client_bytes(sets: &[Vec<&str>]) -> f64 {
    let http = prometheus_client_http();
    let before = live();
    for v in sets {
        http.record(v, 1);
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
