//! Probe: two threads recording into 64 shared series by label values.
use std::time::Instant;

use meshtel_metrics::{Buckets, Desc, Registry};

fn main() {
    let registry = Registry::default();
    let names: Vec<String> = (0..25).map(|i| format!("l{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut g = registry.group("g", &names);
    let c = g.counter(Desc::new("c", "")).unwrap();
    let h = g.histogram(Desc::new("h", ""), Buckets::istio_default()).unwrap();
    let g = g.build().unwrap();
    let sets: Vec<Vec<String>> = (0..64)
        .map(|s| {
            (0..25)
                .map(|i| format!("value-{i}-{}", if i == 9 { s } else { 0 }))
                .collect()
        })
        .collect();
    let sets: Vec<Vec<&str>> = sets.iter().map(|s| s.iter().map(String::as_str).collect()).collect();
    let n = 2_000_000usize;
    let run = |threads: usize, offset: usize, stride: usize, hist: bool| {
        let t = Instant::now();
        std::thread::scope(|s| {
            for t in 0..threads {
                let sets = &sets;
                let g = &g;
                s.spawn(move || {
                    for i in 0..n {
                        let k = (stride * i + t * offset) % 64;
                        g.with_series(&sets[k], |s| {
                            s.inc(c);
                            if hist {
                                s.observe(h, i as f64);
                            }
                        })
                        .unwrap();
                    }
                });
            }
        });
        t.elapsed().as_secs_f64() * 1e9 / n as f64
    };
    for hist in [false, true] {
        let one = run(1, 0, 1, hist);
        let shared = run(2, 32, 1, hist);
        let disjoint = run(2, 1, 2, hist);
        println!(
            "hist={hist}: 1 thread {one:.1} ns/op; 2 threads shared x{:.2}, disjoint x{:.2}",
            2.0 * one / shared,
            2.0 * one / disjoint
        );
    }
}
