//! Copies a VM's metrics into the host's statistics: the plugin records into a
//! [`meshtel_metrics::Registry`] inside the VM; every flush reads the registry's exposition
//! and applies what changed since the last flush to host metrics, one per series, with the
//! labels encoded in the name ([`crate::names`]).
//!
//! Counters are incremented by their delta, gauges set. A proxy-wasm histogram takes single
//! observations, so a histogram series' change — per-bucket counts and the sum — is replayed
//! as observations that fall in the same buckets and add up to the same sum
//! ([`replay`]); the observations the plugin records are whole numbers (milliseconds, bytes),
//! for which such a replay always exists.

use std::collections::HashMap;

use meshtel_metrics::{Format, Registry};

use crate::names::stat_name;

/// The kind of a host metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricKind {
    /// Monotonic counter.
    Counter,
    /// Gauge.
    Gauge,
    /// Histogram (buckets set by the host's configuration).
    Histogram,
}

/// The host's statistics: what a flush writes to (proxy-wasm's metric calls in the module).
pub trait StatsSink {
    /// Defines (or finds) the metric `name`; `None` if the host refuses it.
    fn define(&mut self, kind: MetricKind, name: &str) -> Option<u32>;
    /// Adds `delta` to counter `id`.
    fn add(&mut self, id: u32, delta: u64);
    /// Sets gauge `id`.
    fn set(&mut self, id: u32, value: u64);
    /// Records one observation into histogram `id`.
    fn observe(&mut self, id: u32, value: u64);
}

/// What one flush did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushReport {
    /// Series whose change was applied.
    pub changed: usize,
    /// Series not mirrored: the host refused the metric, or the mirror was full.
    pub dropped: usize,
    /// Sample lines that could not be read (never expected from the registry).
    pub unreadable: usize,
}

#[derive(Debug)]
enum State {
    Counter(u64),
    Gauge(u64),
    Histogram { cumulative: Vec<u64>, sum: u64 },
}

#[derive(Debug)]
struct Entry {
    id: u32,
    state: State,
}

/// The last values copied to the host, per series.
///
/// ```
/// use meshtel_wasm::mirror::{Mirror, MetricKind, StatsSink};
/// #[derive(Default)]
/// struct Totals(Vec<(String, u64)>);
/// impl StatsSink for Totals {
///     fn define(&mut self, _: MetricKind, name: &str) -> Option<u32> {
///         self.0.push((name.to_owned(), 0));
///         Some(self.0.len() as u32 - 1)
///     }
///     fn add(&mut self, id: u32, delta: u64) { self.0[id as usize].1 += delta; }
///     fn set(&mut self, id: u32, value: u64) { self.0[id as usize].1 = value; }
///     fn observe(&mut self, _: u32, _: u64) {}
/// }
/// let mut mirror = Mirror::new(100);
/// let mut host = Totals::default();
/// mirror.apply("# TYPE requests_total counter\nrequests_total{code=\"200\"} 3\n", &mut host);
/// mirror.apply("# TYPE requests_total counter\nrequests_total{code=\"200\"} 5\n", &mut host);
/// assert_eq!(host.0, [("requests_total;.;code=.=200".to_owned(), 5)]);
/// ```
#[derive(Debug)]
pub struct Mirror {
    entries: HashMap<String, Entry>,
    max_entries: usize,
    text: String,
    name: String,
}

/// One sample line: metric name, labels, value.
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(String, String)>,
    value: f64,
}

/// A histogram series being read: bucket bounds and cumulative counts, then the sum.
#[derive(Default)]
struct PendingHistogram {
    labels: Vec<(String, String)>,
    bounds: Vec<f64>,
    cumulative: Vec<u64>,
    sum: u64,
}

impl Mirror {
    /// A mirror of at most `max_entries` series (later series are counted as dropped): its
    /// memory is bounded like the registry it copies.
    #[must_use]
    pub fn new(max_entries: usize) -> Self {
        Self {
            entries: HashMap::new(),
            max_entries,
            text: String::new(),
            name: String::new(),
        }
    }

    /// Series mirrored so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no series is mirrored yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Copies what changed in `registry` since the last flush to `sink`.
    pub fn flush(&mut self, registry: &Registry, sink: &mut impl StatsSink) -> FlushReport {
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        // Rendering into a String cannot fail.
        let _ = registry.render_fmt(Format::Prometheus, &mut text);
        let report = self.apply(&text, sink);
        self.text = text;
        report
    }

    /// Applies an exposition in Prometheus text format (as the registry renders it).
    pub fn apply(&mut self, exposition: &str, sink: &mut impl StatsSink) -> FlushReport {
        let mut report = FlushReport::default();
        let mut family: Option<(&str, MetricKind)> = None;
        let mut pending = PendingHistogram::default();
        for line in exposition.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = parse_type(rest);
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (Some((base, kind)), Some(sample)) = (family, parse_sample(line)) else {
                report.unreadable += 1;
                continue;
            };
            match kind {
                MetricKind::Counter | MetricKind::Gauge => {
                    self.scalar(base, kind, &sample, sink, &mut report);
                }
                MetricKind::Histogram => self.histogram_line(base, sample, &mut pending, sink, &mut report),
            }
        }
        report
    }

    fn scalar(
        &mut self,
        base: &str,
        kind: MetricKind,
        sample: &Sample<'_>,
        sink: &mut impl StatsSink,
        report: &mut FlushReport,
    ) {
        let value = if sample.value.is_finite() && sample.value > 0.0 {
            sample.value.round() as u64
        } else {
            0
        };
        let labels: Vec<(&str, &str)> = sample.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        stat_name(base, &labels, &mut self.name);
        let initial = match kind {
            MetricKind::Counter => State::Counter(0),
            _ => State::Gauge(u64::MAX),
        };
        let Some(entry) = self.entry(kind, initial, sink) else {
            report.dropped += 1;
            return;
        };
        match &mut entry.state {
            State::Counter(last) => {
                // A series that went down was evicted and created again: all of it is new.
                let delta = if value >= *last { value - *last } else { value };
                *last = value;
                if delta > 0 {
                    sink.add(entry.id, delta);
                    report.changed += 1;
                }
            }
            State::Gauge(last) => {
                if *last != value {
                    *last = value;
                    sink.set(entry.id, value);
                    report.changed += 1;
                }
            }
            State::Histogram { .. } => {}
        }
    }

    fn histogram_line(
        &mut self,
        base: &str,
        sample: Sample<'_>,
        pending: &mut PendingHistogram,
        sink: &mut impl StatsSink,
        report: &mut FlushReport,
    ) {
        let Some(suffix) = sample.name.strip_prefix(base) else {
            report.unreadable += 1;
            return;
        };
        let count = if sample.value.is_finite() && sample.value > 0.0 {
            sample.value.round() as u64
        } else {
            0
        };
        match suffix {
            "_bucket" => {
                let mut labels = sample.labels;
                let le = labels.iter().position(|(k, _)| k == "le").map(|i| labels.remove(i));
                let bound = match le.as_ref().map(|(_, v)| v.as_str()) {
                    Some("+Inf") => f64::INFINITY,
                    Some(v) => v.parse().unwrap_or(f64::NAN),
                    None => f64::NAN,
                };
                if pending.labels != labels {
                    *pending = PendingHistogram {
                        labels,
                        ..PendingHistogram::default()
                    };
                }
                pending.bounds.push(bound);
                pending.cumulative.push(count);
            }
            "_sum" => pending.sum = count,
            "_count" => {
                let done = std::mem::take(pending);
                if done.labels == sample.labels && done.bounds.iter().all(|b| !b.is_nan()) {
                    self.histogram(base, done, sink, report);
                } else {
                    report.unreadable += 1;
                }
            }
            _ => report.unreadable += 1,
        }
    }

    fn histogram(&mut self, base: &str, h: PendingHistogram, sink: &mut impl StatsSink, report: &mut FlushReport) {
        let labels: Vec<(&str, &str)> = h.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        stat_name(base, &labels, &mut self.name);
        let initial = State::Histogram {
            cumulative: vec![0; h.cumulative.len()],
            sum: 0,
        };
        let Some(entry) = self.entry(MetricKind::Histogram, initial, sink) else {
            report.dropped += 1;
            return;
        };
        let State::Histogram { cumulative, sum } = &mut entry.state else {
            return;
        };
        let reset = cumulative.len() != h.cumulative.len()
            || cumulative.iter().zip(&h.cumulative).any(|(old, new)| new < old)
            || h.sum < *sum;
        if reset {
            cumulative.clear();
            cumulative.resize(h.cumulative.len(), 0);
            *sum = 0;
        }
        let mut deltas = Vec::with_capacity(h.cumulative.len());
        let (mut prev_new, mut prev_old) = (0u64, 0u64);
        for (new, old) in h.cumulative.iter().zip(cumulative.iter()) {
            deltas.push(
                new.saturating_sub(prev_new)
                    .saturating_sub(old.saturating_sub(prev_old)),
            );
            (prev_new, prev_old) = (*new, *old);
        }
        if deltas.iter().any(|&d| d > 0) {
            let id = entry.id;
            replay(&h.bounds, &deltas, h.sum - *sum, |value, times| {
                for _ in 0..times {
                    sink.observe(id, value);
                }
            });
            report.changed += 1;
        }
        *cumulative = h.cumulative;
        *sum = h.sum;
    }

    /// The entry of the stat in `self.name`, defined in the host on first sight.
    fn entry(&mut self, kind: MetricKind, initial: State, sink: &mut impl StatsSink) -> Option<&mut Entry> {
        if !self.entries.contains_key(&self.name) {
            if self.entries.len() >= self.max_entries {
                return None;
            }
            let id = sink.define(kind, &self.name)?;
            self.entries.insert(self.name.clone(), Entry { id, state: initial });
        }
        self.entries.get_mut(&self.name)
    }
}

/// `name kind` of a `# TYPE` line.
fn parse_type(rest: &str) -> Option<(&str, MetricKind)> {
    let (name, kind) = rest.split_once(' ')?;
    let kind = match kind {
        "counter" => MetricKind::Counter,
        "gauge" => MetricKind::Gauge,
        "histogram" => MetricKind::Histogram,
        _ => return None,
    };
    Some((name, kind))
}

/// `name{k="v",...} value`, label values unescaped.
fn parse_sample(line: &str) -> Option<Sample<'_>> {
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    let mut labels = Vec::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        let mut key = String::new();
        loop {
            let (_, c) = chars.next()?;
            match c {
                '}' => break,
                ',' if key.is_empty() => {}
                '=' => {
                    let (_, '"') = chars.next()? else { return None };
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => value.push(match chars.next()?.1 {
                                'n' => '\n',
                                other => other,
                            }),
                            other => value.push(other),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                c => key.push(c),
            }
        }
        let consumed = chars.next().map_or(body.len(), |(i, _)| i);
        rest = &body[consumed..];
    }
    let value = rest.trim().split(' ').next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample { name, labels, value })
}

/// Replays a histogram change as observations: `deltas[i]` observations in bucket
/// `(bounds[i-1], bounds[i]]`, whole numbers adding up to `sum`. Calls `emit(value, times)`.
///
/// Each bucket starts at its smallest whole number and the rest of the sum is spread, bucket
/// by bucket, up to each bucket's largest whole number (`+Inf` has none): the observations
/// that were made are one solution, so whole-number observations are always reproduced in
/// their buckets with their exact sum. Given an infeasible sum (not whole-number
/// observations), the buckets are still right and the sum as close as the buckets allow.
///
/// ```
/// let mut seen = Vec::new();
/// // Three observations: two in (1, 5], one in (5, 10]; they summed to 14.
/// meshtel_wasm::mirror::replay(&[1.0, 5.0, 10.0, f64::INFINITY], &[0, 2, 1, 0], 14, |v, n| seen.push((v, n)));
/// let total: u64 = seen.iter().map(|(v, n)| v * n).sum();
/// assert_eq!(total, 14);
/// assert!(seen.iter().all(|&(v, _)| (2..=10).contains(&v)));
/// ```
pub fn replay(bounds: &[f64], deltas: &[u64], sum: u64, mut emit: impl FnMut(u64, u64)) {
    let range = |i: usize| {
        let lo = if i == 0 {
            0
        } else {
            floor_u64(bounds[i - 1]).saturating_add(1)
        };
        let hi = bounds
            .get(i)
            .map_or(u64::MAX, |b| if b.is_finite() { floor_u64(*b) } else { u64::MAX });
        (lo, hi.max(lo))
    };
    let base: u64 = deltas
        .iter()
        .enumerate()
        .map(|(i, d)| d.saturating_mul(range(i).0))
        .fold(0, u64::saturating_add);
    let mut left = sum.saturating_sub(base);
    for (i, &d) in deltas.iter().enumerate() {
        if d == 0 {
            continue;
        }
        let (lo, hi) = range(i);
        let extra = left.min(d.saturating_mul(hi - lo));
        left -= extra;
        let (q, r) = (extra / d, extra % d);
        if r > 0 {
            emit(lo + q + 1, r);
        }
        if d > r {
            emit(lo + q, d - r);
        }
    }
}

/// `floor(x)` as a `u64`, 0 for negative or NaN.
fn floor_u64(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 { 0 } else { x.floor() as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Host {
        names: Vec<(MetricKind, String)>,
        values: Vec<u64>,
        observations: Vec<Vec<u64>>,
        refuse: bool,
    }

    impl StatsSink for Host {
        fn define(&mut self, kind: MetricKind, name: &str) -> Option<u32> {
            if self.refuse {
                return None;
            }
            self.names.push((kind, name.to_owned()));
            self.values.push(0);
            self.observations.push(Vec::new());
            Some(self.names.len() as u32 - 1)
        }
        fn add(&mut self, id: u32, delta: u64) {
            self.values[id as usize] += delta;
        }
        fn set(&mut self, id: u32, value: u64) {
            self.values[id as usize] = value;
        }
        fn observe(&mut self, id: u32, value: u64) {
            self.observations[id as usize].push(value);
        }
    }

    const BUCKETS: [f64; 4] = [0.5, 1.0, 5.0, 10.0];

    /// Observations in the host's buckets, as Prometheus cumulates them.
    fn cumulative(values: &[u64]) -> Vec<usize> {
        BUCKETS
            .iter()
            .map(|b| values.iter().filter(|&&v| v as f64 <= *b).count())
            .collect()
    }

    #[test]
    fn a_registry_flushes_deltas_and_exact_histograms() {
        let registry = Registry::default();
        let mut g = registry.group("g", &["code", "path"]);
        let c = g
            .counter(meshtel_metrics::Desc::new("reqs", "Requests."))
            .expect("counter");
        let buckets = meshtel_metrics::Buckets::new(&BUCKETS).expect("buckets");
        let h = g
            .histogram(meshtel_metrics::Desc::new("dur", "Duration."), buckets)
            .expect("histogram");
        let group = g.build().expect("group");
        let mut mirror = Mirror::new(10);
        let mut host = Host::default();
        let record = |code: &str, v: u64| {
            group
                .with_series(&[code, "/a\"b"], |s| {
                    s.inc(c);
                    s.observe(h, v as f64);
                })
                .expect("series");
        };
        let mut truth = Vec::new();
        for v in [0, 1, 3, 4, 7, 12] {
            record("200", v);
            truth.push(v);
        }
        let report = mirror.flush(&registry, &mut host);
        // The two series, and the registry's own gauges.
        assert!(
            report.changed >= 2 && report.dropped == 0 && report.unreadable == 0,
            "{report:?}"
        );
        for v in [2, 9, 100] {
            record("200", v);
            truth.push(v);
        }
        record("503", 5);
        mirror.flush(&registry, &mut host);
        assert_eq!(mirror.flush(&registry, &mut host).changed, 0, "nothing new");
        let find = |kind, name: &str| {
            host.names
                .iter()
                .position(|n| n == &(kind, name.to_owned()))
                .expect(name)
        };
        let reqs = find(MetricKind::Counter, "reqs_total;.;code=.=200;.;path=.=/a\"b");
        assert_eq!(host.values[reqs], 9);
        let dur = find(MetricKind::Histogram, "dur;.;code=.=200;.;path=.=/a\"b");
        let seen = &host.observations[dur];
        assert_eq!(seen.len(), truth.len());
        assert_eq!(seen.iter().sum::<u64>(), truth.iter().sum::<u64>());
        assert_eq!(cumulative(seen), cumulative(&truth));
        assert_eq!(
            host.observations[find(MetricKind::Histogram, "dur;.;code=.=503;.;path=.=/a\"b")],
            [5]
        );
    }

    #[test]
    fn the_mirror_is_bounded_and_survives_refusals() {
        let mut host = Host::default();
        let mut mirror = Mirror::new(1);
        let text = "# TYPE a_total counter\na_total{x=\"1\"} 1\na_total{x=\"2\"} 1\n";
        assert_eq!(mirror.apply(text, &mut host).dropped, 1);
        assert_eq!(mirror.len(), 1);
        let mut refusing = Host {
            refuse: true,
            ..Host::default()
        };
        assert_eq!(Mirror::new(5).apply(text, &mut refusing).dropped, 2);
    }

    #[test]
    fn counters_that_go_down_restart_and_gauges_are_set() {
        let mut host = Host::default();
        let mut mirror = Mirror::new(5);
        mirror.apply(
            "# TYPE a_total counter\na_total 5\n# TYPE b gauge\nb{t=\"x\"} 1\n",
            &mut host,
        );
        mirror.apply(
            "# TYPE a_total counter\na_total 2\n# TYPE b gauge\nb{t=\"x\"} 1\n",
            &mut host,
        );
        assert_eq!(host.values, [7, 1]);
        assert_eq!(host.names[1], (MetricKind::Gauge, "b;.;t=.=x".to_owned()));
    }

    #[test]
    fn garbage_is_counted_never_a_panic() {
        let mut host = Host::default();
        let mut mirror = Mirror::new(5);
        let inputs = [
            "x 1",
            "# TYPE a counter\na{ 1",
            "# TYPE a counter\na{k=1} 1",
            "# TYPE a counter\na{k=\"\\",
            "# TYPE a counter\na{k=\"v\"}",
            "# TYPE a counter\na NaN\na -3\na +Inf",
            "# TYPE h histogram\nh_bucket{le=\"zz\"} 1\nh_sum 1\nh_count 1\nh_other 1",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count{a=\"b\"} 1",
            "# TYPE weird summary\nweird 1",
        ];
        for text in inputs {
            let _ = mirror.apply(text, &mut host);
        }
        assert!(mirror.apply(inputs[2], &mut host).unreadable > 0);
    }

    #[test]
    fn replay_reproduces_whole_observations() {
        let bounds = [0.5, 1.0, 5.0, 10.0, 25.0, f64::INFINITY];
        let cases: [&[u64]; 4] = [&[0, 0, 0], &[1, 2, 3, 4, 5], &[26, 1000, 7, 7], &[10, 10, 25, 25, 0]];
        for truth in cases {
            let mut deltas = vec![0u64; bounds.len()];
            for &v in truth {
                let i = bounds.iter().position(|b| v as f64 <= *b).expect("+Inf");
                deltas[i] += 1;
            }
            let mut seen = Vec::new();
            replay(&bounds, &deltas, truth.iter().sum(), |v, n| {
                seen.extend(std::iter::repeat_n(v, n as usize));
            });
            let mut got = vec![0u64; bounds.len()];
            for &v in &seen {
                got[bounds.iter().position(|b| v as f64 <= *b).expect("+Inf")] += 1;
            }
            assert_eq!(got, deltas, "{truth:?}");
            assert_eq!(seen.iter().sum::<u64>(), truth.iter().sum::<u64>(), "{truth:?}");
        }
        // An impossible sum keeps the buckets right.
        let mut seen = Vec::new();
        replay(&[1.0, 5.0], &[1, 1, 0], 1, |v, n| seen.push((v, n)));
        assert_eq!(seen, [(0, 1), (2, 1)]);
    }
}
