//! Recording into an existing series allocates nothing, by label values or
//! through a held handle: a counting global allocator proves it.

#[path = "../../../testing/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_in;
use std::num::NonZeroU32;

use meshtel_metrics::{Buckets, Config, Desc, Registry};

fn check(config: Config) {
    let registry = Registry::new(config);
    let labels: Vec<String> = (0..25).map(|i| format!("label_{i}")).collect();
    let names: Vec<&str> = labels.iter().map(String::as_str).collect();
    let mut g = registry.group("istio", &names);
    let requests = g.counter(Desc::new("requests_total", "")).unwrap();
    let duration = g
        .histogram(
            Desc::new("duration_milliseconds", ""),
            Buckets::new(&[0.5, 1.0, 5.0, 10.0, 100.0, 1000.0]).unwrap(),
        )
        .unwrap();
    let g = g.build().unwrap();
    let values: Vec<String> = (0..25).map(|i| format!("value-{i}")).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let series = g.series(&values).unwrap();
    g.with_series(&values, |s| s.inc(requests)).unwrap();

    let (n, ()) = allocations_in(|| {
        for i in 0..1000 {
            g.with_series(&values, |s| {
                s.inc(requests);
                s.observe(duration, f64::from(i));
            })
            .unwrap();
            series.inc(requests);
            series.observe(duration, 3.0);
        }
    });
    assert_eq!(n, 0, "recording allocated");
}

#[test]
fn recording_allocates_nothing() {
    check(Config::default());
}

#[test]
fn recording_allocates_nothing_with_expiry_on() {
    check(Config::default().with_expire_after_sweeps(NonZeroU32::new(3)));
}
