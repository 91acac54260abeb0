//! The remote write encoder copies no label string: its allocations per
//! request are a constant (per-family snapshot buffers, the label order),
//! the same for 10 series as for 1 000. A counting allocator proves it.
#![cfg(feature = "remote-write")]

#[path = "../../../testing/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_in;
use meshtel_metrics::remote_write::{self, RemoteWriteOptions};
use meshtel_metrics::{Buckets, Desc, Registry};

fn allocations_for(series: usize) -> (usize, usize) {
    let registry = Registry::default();
    let labels: Vec<String> = (0..25).map(|i| format!("label_{i}")).collect();
    let names: Vec<&str> = labels.iter().map(String::as_str).collect();
    let mut g = registry.group("istio", &names);
    let requests = g.counter(Desc::new("requests_total", "")).unwrap();
    let duration = g
        .histogram(
            Desc::new("duration_milliseconds", ""),
            Buckets::new(&[1.0, 10.0, 100.0]).unwrap(),
        )
        .unwrap();
    let g = g.build().unwrap();
    for s in 0..series {
        let values: Vec<String> = (0..25).map(|i| format!("value-{s}-{i}")).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        g.with_series(&values, |r| {
            r.inc(requests);
            r.observe(duration, 5.0);
        })
        .unwrap();
    }
    let opts = RemoteWriteOptions::new().external_label("cluster", "c1");
    let mut out = Vec::with_capacity(16 << 20);
    let (n, r) = allocations_in(|| remote_write::encode_uncompressed(&[&registry], &opts, 1, &mut out));
    r.unwrap();
    (n, out.len())
}

#[test]
fn allocations_do_not_grow_with_series() {
    let (small, small_len) = allocations_for(10);
    let (large, large_len) = allocations_for(1000);
    assert!(large_len > 50 * small_len, "{small_len} -> {large_len} bytes");
    assert_eq!(
        small, large,
        "allocations per request grew with the series: {small} -> {large}"
    );
    assert!(small < 20, "{small} allocations");
}
