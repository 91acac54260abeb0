//! Recording, limits, expiry and rendering, through the public API.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use meshtel_metrics::{Buckets, Config, Desc, Format, LabelError, OVERFLOW_LABEL_VALUE, Registry, RegistryError};

/// Parses Prometheus text lines `name{labels} value` into
/// (name, labels, value), undoing the escaping — written for the tests.
fn parse(text: &str) -> Vec<(String, BTreeMap<String, String>, String)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name_labels, value) = line.rsplit_once(' ').expect("value");
        let (name, labels) = match name_labels.find('{') {
            Some(i) => (&name_labels[..i], &name_labels[i + 1..name_labels.len() - 1]),
            None => (name_labels, ""),
        };
        let mut map = BTreeMap::new();
        let mut chars = labels.chars().peekable();
        while chars.peek().is_some() {
            let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
            assert_eq!(chars.next(), Some('"'));
            let mut v = String::new();
            loop {
                match chars.next().expect("closing quote") {
                    '\\' => match chars.next() {
                        Some('n') => v.push('\n'),
                        Some(c) => v.push(c),
                        None => panic!("dangling escape"),
                    },
                    '"' => break,
                    c => v.push(c),
                }
            }
            map.insert(key, v);
            if chars.peek() == Some(&',') {
                chars.next();
            }
        }
        out.push((name.to_string(), map, value.to_string()));
    }
    out
}

fn value_of(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<String> {
    let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    parse(text)
        .into_iter()
        .find(|(n, l, _)| n == name && *l == want)
        .map(|(_, _, v)| v)
}

#[test]
fn counters_gauges_histograms_render_in_both_formats() {
    let registry = Registry::default();
    let mut g = registry.group("g", &["code"]);
    let c = g.counter(Desc::new("reqs_total", "Requests.")).unwrap();
    let h = g
        .histogram(
            Desc::new("lat_milliseconds", "Latency.").unit("milliseconds"),
            Buckets::new(&[1.0, 10.0]).unwrap(),
        )
        .unwrap();
    let gauge = g.gauge(Desc::new("inflight", "In flight.")).unwrap();
    let g = g.build().unwrap();
    for v in [0.5, 1.0, 3.0, 10.0, 11.0] {
        g.with_series(&["200"], |s| {
            s.inc(c);
            s.observe(h, v);
        })
        .unwrap();
    }
    g.with_series(&["200"], |s| s.add_gauge(gauge, -2)).unwrap();
    let prom = registry.render_to_string(Format::Prometheus);
    assert!(
        prom.contains("# TYPE reqs_total counter\nreqs_total{code=\"200\"} 5\n"),
        "{prom}"
    );
    assert!(prom.contains("lat_milliseconds_bucket{code=\"200\",le=\"1\"} 2\n"));
    assert!(prom.contains("lat_milliseconds_bucket{code=\"200\",le=\"10\"} 4\n"));
    assert!(prom.contains("lat_milliseconds_bucket{code=\"200\",le=\"+Inf\"} 5\n"));
    assert!(prom.contains("lat_milliseconds_sum{code=\"200\"} 25.5\n"));
    assert!(prom.contains("lat_milliseconds_count{code=\"200\"} 5\n"));
    assert!(prom.contains("inflight{code=\"200\"} -2\n"));
    assert!(!prom.contains("# EOF") && !prom.contains("# UNIT"));
    let om = registry.render_to_string(Format::OpenMetrics);
    assert!(om.contains("# TYPE reqs counter\nreqs_total{code=\"200\"} 5\n"), "{om}");
    assert!(om.contains("# UNIT lat_milliseconds milliseconds\n"));
    assert!(om.ends_with("# EOF\n"));
}

#[test]
fn registration_errors_are_typed() {
    let registry = Registry::default();
    let mut g = registry.group("g", &["ok"]);
    assert!(matches!(
        g.counter(Desc::new("1bad", "")),
        Err(RegistryError::InvalidMetricName(_))
    ));
    assert!(matches!(
        g.counter(Desc::new("x_seconds_total", "").unit("milliseconds")),
        Err(RegistryError::InvalidUnit { .. })
    ));
    g.counter(Desc::new("x_total", "")).unwrap();
    g.build().unwrap();
    let mut again = registry.group("g2", &["ok"]);
    again.counter(Desc::new("x", "")).unwrap();
    assert!(matches!(again.build(), Err(RegistryError::Duplicate(_))));
    let mut bad = registry.group("g3", &["__reserved"]);
    assert!(matches!(
        bad.counter(Desc::new("y", "")),
        Err(RegistryError::InvalidLabelName(_))
    ));
    let mut dup = registry.group("g4", &["a", "a"]);
    assert!(matches!(
        dup.counter(Desc::new("z", "")),
        Err(RegistryError::DuplicateLabel(_))
    ));
    let mut le = registry.group("g5", &["le"]);
    assert!(
        le.histogram(
            Desc::new("h", ""),
            Buckets::new(&[0.5, 1.0, 5.0, 10.0, 100.0, 1000.0]).unwrap()
        )
        .is_err()
    );
}

#[test]
fn wrong_arity_is_an_error() {
    let registry = Registry::default();
    let mut g = registry.group("g", &["a", "b"]);
    let c = g.counter(Desc::new("c", "")).unwrap();
    let g = g.build().unwrap();
    assert_eq!(
        g.with_series(&["x"], |s| s.inc(c)),
        Err(LabelError::Arity { expected: 2, got: 1 })
    );
    assert!(g.series(&["x", "y", "z"]).is_err());
}

#[test]
fn series_limit_sends_records_to_one_overflow_series() {
    let registry = Registry::new(Config::default().with_max_series(3));
    let mut g = registry.group("hosts", &["host"]);
    let c = g.counter(Desc::new("requests", "")).unwrap();
    let g = g.build().unwrap();
    for i in 0..1000 {
        let host = format!("host-{i}.example");
        g.with_series(&[&host], |s| s.inc(c)).unwrap();
    }
    assert_eq!(g.series_count(), 3);
    let text = registry.render_to_string(Format::Prometheus);
    assert_eq!(
        value_of(&text, "requests_total", &[("host", OVERFLOW_LABEL_VALUE)]).as_deref(),
        Some("997")
    );
    assert_eq!(
        value_of(&text, "meshtel_metrics_overflow_records_total", &[("group", "hosts")]).as_deref(),
        Some("997")
    );
    assert_eq!(parse(&text).iter().filter(|(n, _, _)| n == "requests_total").count(), 4);
}

#[test]
fn long_label_values_are_truncated_on_a_character_boundary() {
    let registry = Registry::new(Config::default().with_max_label_value_len(5));
    let mut g = registry.group("g", &["v"]);
    let c = g.counter(Desc::new("c", "")).unwrap();
    let g = g.build().unwrap();
    g.with_series(&["abcdefgh"], |s| s.inc(c)).unwrap();
    g.with_series(&["abcdeXYZ"], |s| s.inc(c)).unwrap();
    g.with_series(&["abcdé"], |s| s.inc(c)).unwrap();
    let text = registry.render_to_string(Format::Prometheus);
    assert_eq!(value_of(&text, "c_total", &[("v", "abcde")]).as_deref(), Some("2"));
    assert_eq!(
        value_of(&text, "c_total", &[("v", "abcd")]).as_deref(),
        Some("1"),
        "é is two bytes: cut before it"
    );
    // Counted when a series is created from a cut value.
    assert_eq!(
        value_of(&text, "meshtel_metrics_truncated_label_values_total", &[("group", "g")]).as_deref(),
        Some("2")
    );
}

#[test]
fn expiry_evicts_idle_series_and_held_handles_never_lose_records() {
    let registry = Registry::new(Config::default().with_expire_after_sweeps(NonZeroU32::new(2)));
    let mut g = registry.group("g", &["k"]);
    let c = g.counter(Desc::new("c", "")).unwrap();
    let g = g.build().unwrap();
    let held = g.series(&["held"]).unwrap();
    held.inc(c);
    g.with_series(&["busy"], |s| s.inc(c)).unwrap();
    registry.sweep(); // both were recorded into since the start
    g.with_series(&["busy"], |s| s.inc(c)).unwrap();
    registry.sweep(); // "held" idle once
    assert_eq!(g.series_count(), 2);
    g.with_series(&["busy"], |s| s.inc(c)).unwrap();
    registry.sweep(); // "held" idle twice: evicted
    let text = registry.render_to_string(Format::Prometheus);
    assert_eq!(value_of(&text, "c_total", &[("k", "held")]), None);
    assert_eq!(value_of(&text, "c_total", &[("k", "busy")]).as_deref(), Some("3"));
    assert_eq!(
        value_of(&text, "meshtel_metrics_evicted_series_total", &[("group", "g")]).as_deref(),
        Some("1")
    );
    assert_eq!(g.series_count(), 1);
    // The held handle records into a successor with the same labels.
    held.add(c, 5);
    held.inc(c);
    let text = registry.render_to_string(Format::Prometheus);
    assert_eq!(value_of(&text, "c_total", &[("k", "held")]).as_deref(), Some("6"));
    assert_eq!(g.series_count(), 2);
}

#[test]
fn expiry_is_off_by_default() {
    let registry = Registry::default();
    let mut g = registry.group("g", &["k"]);
    let c = g.counter(Desc::new("c", "")).unwrap();
    let g = g.build().unwrap();
    g.with_series(&["a"], |s| s.inc(c)).unwrap();
    for _ in 0..10 {
        registry.sweep();
    }
    assert_eq!(g.series_count(), 1);
}

/// Four threads record while a fifth renders, with `stripes` owned stripes
/// per series: every thread owns one (default), one owns and three share,
/// or all share.
fn threads_record_exact_totals_while_rendering(stripes: usize) {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 20_000;
    let registry = Registry::new(Config::default().with_stripes(stripes));
    let mut g = registry.group("g", &["set", "worker_kind"]);
    let c = g.counter(Desc::new("c", "")).unwrap();
    let h = g
        .histogram(
            Desc::new("h", ""),
            Buckets::new(&[0.5, 1.0, 5.0, 10.0, 100.0, 1000.0]).unwrap(),
        )
        .unwrap();
    let g = g.build().unwrap();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let g = &g;
            scope.spawn(move || {
                let held = g.series(&["held", "x"]).unwrap();
                for i in 0..PER_THREAD {
                    let set = format!("s{}", i % 16);
                    g.with_series(&[&set, "x"], |s| {
                        s.inc(c);
                        s.observe(h, (i % 100) as f64);
                    })
                    .unwrap();
                    held.observe(h, 1.0);
                }
                t
            });
        }
        // Renders race the writers; every histogram seen must be consistent.
        let registry = &registry;
        scope.spawn(move || {
            for _ in 0..20 {
                check_histograms_consistent(&registry.render_to_string(Format::Prometheus));
            }
        });
    });
    let text = registry.render_to_string(Format::Prometheus);
    check_histograms_consistent(&text);
    let total: u64 = parse(&text)
        .iter()
        .filter(|(n, _, _)| n == "c_total")
        .map(|(_, _, v)| v.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, (THREADS * PER_THREAD) as u64);
    assert_eq!(
        value_of(&text, "h_count", &[("set", "held"), ("worker_kind", "x")]).as_deref(),
        Some(&*(THREADS * PER_THREAD).to_string())
    );
    assert_eq!(
        value_of(&text, "h_sum", &[("set", "held"), ("worker_kind", "x")]).as_deref(),
        Some(&*(THREADS * PER_THREAD).to_string())
    );
}

#[test]
fn threads_with_owned_stripes_record_exact_totals() {
    threads_record_exact_totals_while_rendering(Config::default().stripes);
}

#[test]
fn threads_partly_sharing_a_stripe_record_exact_totals() {
    threads_record_exact_totals_while_rendering(1);
}

#[test]
fn threads_all_sharing_a_stripe_record_exact_totals() {
    threads_record_exact_totals_while_rendering(0);
}

/// Threads come and go (a pool replacing workers): each exiting thread gives
/// its slot back, so far more threads than slots all record, exactly.
#[test]
fn exiting_threads_hand_their_stripes_on() {
    let registry = Registry::new(Config::default().with_stripes(2));
    let mut g = registry.group("g", &["k"]);
    let c = g.counter(Desc::new("c", "")).unwrap();
    let h = g
        .histogram(
            Desc::new("h", ""),
            Buckets::new(&[0.5, 1.0, 5.0, 10.0, 100.0, 1000.0]).unwrap(),
        )
        .unwrap();
    let g = g.build().unwrap();
    for round in 0..100u64 {
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    g.with_series(&["k"], |s| {
                        s.add(c, round);
                        s.observe(h, 1.0);
                    })
                    .unwrap();
                });
            }
        });
    }
    let text = registry.render_to_string(Format::Prometheus);
    assert_eq!(value_of(&text, "c_total", &[("k", "k")]).as_deref(), Some("9900"));
    assert_eq!(value_of(&text, "h_count", &[("k", "k")]).as_deref(), Some("200"));
    assert_eq!(value_of(&text, "h_sum", &[("k", "k")]).as_deref(), Some("200"));
}

/// Every histogram's `+Inf` bucket equals its count; the `held` series, which
/// only ever observes 1.0, has a sum equal to its count (a snapshot that
/// mixed two states would break that).
fn check_histograms_consistent(text: &str) {
    let lines = parse(text);
    for (name, labels, count) in lines.iter().filter(|(n, _, _)| n == "h_count") {
        let mut with_inf = labels.clone();
        with_inf.insert("le".into(), "+Inf".into());
        let inf = lines
            .iter()
            .find(|(n, l, _)| n == "h_bucket" && *l == with_inf)
            .map(|(_, _, v)| v);
        assert_eq!(inf, Some(count), "{name} {labels:?}");
        if labels.get("set").map(String::as_str) == Some("held") {
            let sum = lines
                .iter()
                .find(|(n, l, _)| n == "h_sum" && l == labels)
                .map(|(_, _, v)| v);
            assert_eq!(sum, Some(count), "sum and count of {labels:?} from different moments");
        }
    }
}

mod escaping {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_label_value_renders_and_parses_back(values in prop::collection::vec(any::<String>(), 1..6), help in any::<String>()) {
            let registry = Registry::default();
            let mut g = registry.group("g", &["v"]);
            let c = g.counter(Desc::new("c", help)).unwrap();
            let g = g.build().unwrap();
            for v in &values {
                g.with_series(&[v.as_str()], |s| s.inc(c)).unwrap();
            }
            for format in [Format::Prometheus, Format::OpenMetrics] {
                let text = registry.render_to_string(format);
                // One line per help text: newlines in it are escaped.
                prop_assert_eq!(text.lines().filter(|l| l.starts_with("# HELP c")).count(), 1);
                let mut got: Vec<String> = parse(&text).into_iter().filter(|(n, _, _)| n == "c_total").map(|(_, l, _)| l["v"].clone()).collect();
                let mut want: Vec<String> = values.iter().map(|v| if v.len() > 1024 { v[..1024].to_string() } else { v.clone() }).collect();
                want.sort();
                want.dedup();
                got.sort();
                prop_assert_eq!(got, want);
            }
        }
    }
}
