//! Recording into an existing series allocates nothing, by label values or
//! through a held handle: a counting global allocator proves it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::num::NonZeroU32;

use meshtel_metrics::{Buckets, Config, Desc, Registry};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator; the counter
// is a thread-local `Cell`, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn check(config: Config) {
    let registry = Registry::new(config);
    let labels: Vec<String> = (0..25).map(|i| format!("label_{i}")).collect();
    let names: Vec<&str> = labels.iter().map(String::as_str).collect();
    let mut g = registry.group("istio", &names);
    let requests = g.counter(Desc::new("requests_total", "")).unwrap();
    let duration = g
        .histogram(Desc::new("duration_milliseconds", ""), Buckets::istio_default())
        .unwrap();
    let g = g.build().unwrap();
    let values: Vec<String> = (0..25).map(|i| format!("value-{i}")).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let series = g.series(&values).unwrap();
    g.with_series(&values, |s| s.inc(requests)).unwrap();

    let n = allocations_in(|| {
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
    check(Config {
        expire_after_sweeps: NonZeroU32::new(3),
        ..Config::default()
    });
}
