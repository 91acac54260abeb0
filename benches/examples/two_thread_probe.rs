//! Probe: throughput of 1 vs 2 threads recording Istio's four metrics by 25
//! label values, with every thread on the shared stripe (`stripes: 0`,
//! atomic read-modify-writes) and with the default owned stripes.
use std::sync::Barrier;
use std::time::Instant;

use meshtel_benches::{ISTIO_LABELS, istio_label_sets};
use meshtel_metrics::{Config, Desc, Registry};

fn main() {
    let sets = istio_label_sets(64);
    let sets: Vec<Vec<&str>> = sets.iter().map(|s| s.iter().map(String::as_str).collect()).collect();
    for stripes in [0, Config::default().stripes] {
        let registry = Registry::new(Config::default().with_stripes(stripes));
        let mut g = registry.group("istio_http", &ISTIO_LABELS);
        let c = g.counter(Desc::new("istio_requests_total", "")).unwrap();
        let d = g.histogram(Desc::new("d", ""), meshtel::default_buckets()).unwrap();
        let q = g.histogram(Desc::new("q", ""), meshtel::default_buckets()).unwrap();
        let p = g.histogram(Desc::new("p", ""), meshtel::default_buckets()).unwrap();
        let g = g.build().unwrap();
        let n = 3_000_000usize;
        let run = |threads: usize| {
            let barrier = Barrier::new(threads + 1);
            std::thread::scope(|s| {
                for t in 0..threads {
                    let (barrier, sets, g) = (&barrier, &sets, &g);
                    s.spawn(move || {
                        barrier.wait();
                        for i in 0..n {
                            let k = i + t * 32;
                            g.with_series(&sets[k % 64], |s| {
                                s.inc(c);
                                s.observe(d, (k % 200) as f64);
                                s.observe(q, 512.0);
                                s.observe(p, (k % 5000) as f64);
                            })
                            .unwrap();
                        }
                    });
                }
                // Let the scheduler spread the threads first.
                std::thread::sleep(std::time::Duration::from_millis(50));
                let t0 = Instant::now();
                barrier.wait();
                let _ = s;
                t0
            })
            .elapsed()
            .as_secs_f64()
        };
        let one = run(1);
        let two = run(2);
        println!(
            "stripes {stripes}: 1 thread {:.0} ns/req; 2 threads throughput x{:.2}",
            one * 1e9 / n as f64,
            2.0 * one / two
        );
    }
}
