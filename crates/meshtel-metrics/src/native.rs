//! Native histograms: exponential buckets (Prometheus native histograms,
//! OTLP exponential histograms) in a bounded, lock-free cell.
//!
//! A value `v > zero_threshold` falls in bucket `i` of schema `s` when
//! `base^(i-1) < |v| <= base^i`, `base = 2^(2^-s)`; values within the zero
//! threshold count in the zero bucket. A cell holds at most `max_buckets`
//! buckets per sign, a window `[offset, offset + max_buckets)` of indices at
//! the current schema. An observation outside the window rescales: the
//! window moves, and where the populated range does not fit, the schema drops
//! by one (merging pairs of buckets, `i -> ceil(i / 2)`) until it does, down
//! to schema -4. At -4 every finite `f64` spans 132 indices; with fewer
//! buckets, once the populated range outgrows the window there, the window
//! stops moving and values beyond it count in its edge buckets.
//!
//! Concurrency. The cell lives in a series' shared stripe (any thread records
//! with atomic read-modify-writes). Word 0 is a gate: its low bits count
//! observations in flight, its top bit marks an exclusive section (a
//! snapshot, or a rescale). An observation enters the gate, reads the window,
//! bumps one bucket, the sum and the count, and leaves: observations never
//! wait for each other. An exclusive section sets the top bit, waits for the
//! observations in flight to leave (a few instructions each), and works
//! alone; an observation arriving meanwhile steps back and waits for the bit
//! to clear. So an observation waits only while a snapshot of the same series
//! copies its buckets, or while the rare rescale (at most once per window
//! move or schema reduction) rewrites them; snapshots are consistent (the
//! count equals the zero bucket plus every bucket, the sum covers the same
//! observations).

use crate::sync::{AtomicU64, Ordering, spin};

/// The finest schema (256 buckets per power of two).
pub const MAX_SCHEMA: i8 = 8;
/// The coarsest schema (one bucket per 2^16).
pub const MIN_SCHEMA: i8 = -4;
/// The most buckets per sign a native histogram may keep.
pub const MAX_NATIVE_BUCKETS: usize = 4096;

const GATE: usize = 0;
const LAYOUT: usize = 1;
const COUNT: usize = 2;
const SUM: usize = 3;
const ZERO: usize = 4;
const POSITIVE: usize = 5;
const EXCLUSIVE: u64 = 1 << 63;

/// Words a native histogram of `buckets` buckets per sign takes in a cell slab.
pub(crate) const fn cell_len(buckets: usize) -> usize {
    POSITIVE + 2 * buckets
}

/// The settings of a native histogram: starting schema, zero threshold and
/// bucket bound.
///
/// ```
/// use meshtel_metrics::NativeBuckets;
/// let n = NativeBuckets::new(3)?.zero_threshold(1e-9)?.max_buckets(100)?;
/// assert_eq!((n.schema(), n.get_max_buckets()), (3, 100));
/// assert!(NativeBuckets::new(9).is_err());
/// # Ok::<(), meshtel_metrics::NativeBucketsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NativeBuckets {
    schema: i8,
    zero_threshold: f64,
    max_buckets: usize,
}

/// Why native histogram settings were rejected.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NativeBucketsError {
    /// A schema outside -4..=8.
    #[error("native histogram schema {0} is outside -4..=8")]
    Schema(i32),
    /// A negative, NaN or infinite zero threshold.
    #[error("native histogram zero threshold {0} is not a finite value >= 0")]
    ZeroThreshold(f64),
    /// A bucket bound of 0 or above [`MAX_NATIVE_BUCKETS`].
    #[error("native histogram bucket limit {0} is outside 1..=4096")]
    MaxBuckets(usize),
}

impl Default for NativeBuckets {
    /// Schema 3 (8 buckets per power of two, 9% wide), zero threshold 2^-128,
    /// 160 buckets per sign: the Prometheus Go client's usual settings.
    fn default() -> Self {
        Self {
            schema: 3,
            zero_threshold: 2.938_735_877_055_719e-39,
            max_buckets: 160,
        }
    }
}

impl NativeBuckets {
    /// The default settings with this starting schema.
    ///
    /// # Errors
    /// [`NativeBucketsError::Schema`] outside -4..=8.
    pub fn new(schema: i32) -> Result<Self, NativeBucketsError> {
        if !(i32::from(MIN_SCHEMA)..=i32::from(MAX_SCHEMA)).contains(&schema) {
            return Err(NativeBucketsError::Schema(schema));
        }
        Ok(Self {
            schema: schema as i8,
            ..Self::default()
        })
    }

    /// Sets the zero threshold: values with `|v| <= threshold` count in the
    /// zero bucket.
    ///
    /// # Errors
    /// [`NativeBucketsError::ZeroThreshold`] for a negative or non-finite value.
    pub fn zero_threshold(mut self, threshold: f64) -> Result<Self, NativeBucketsError> {
        if !threshold.is_finite() || threshold < 0.0 {
            return Err(NativeBucketsError::ZeroThreshold(threshold));
        }
        self.zero_threshold = threshold;
        Ok(self)
    }

    /// Sets the most buckets kept per sign (each a word of every stripe of
    /// every series); more spread makes the schema coarser.
    ///
    /// # Errors
    /// [`NativeBucketsError::MaxBuckets`] outside 1..=[`MAX_NATIVE_BUCKETS`].
    pub fn max_buckets(mut self, max: usize) -> Result<Self, NativeBucketsError> {
        if !(1..=MAX_NATIVE_BUCKETS).contains(&max) {
            return Err(NativeBucketsError::MaxBuckets(max));
        }
        self.max_buckets = max;
        Ok(self)
    }

    /// The starting schema.
    pub fn schema(&self) -> i8 {
        self.schema
    }

    /// The zero threshold.
    pub fn get_zero_threshold(&self) -> f64 {
        self.zero_threshold
    }

    /// The bucket bound per sign.
    pub fn get_max_buckets(&self) -> usize {
        self.max_buckets
    }
}

/// Upper bounds of the schema-8 buckets within `[0.5, 1)`, the fraction
/// `frexp` returns: `2^(j/256) / 2`.
fn bounds() -> &'static [f64; 256] {
    static BOUNDS: std::sync::OnceLock<[f64; 256]> = std::sync::OnceLock::new();
    BOUNDS.get_or_init(|| std::array::from_fn(|j| (j as f64 / 256.0).exp2() / 2.0))
}

/// `v = frac * 2^exp` with `frac` in `[0.5, 1)`, for finite `v > 0`.
fn frexp(v: f64) -> (f64, i32) {
    const EXP_MASK: u64 = 0x7ff << 52;
    let bits = v.to_bits();
    let e = ((bits & EXP_MASK) >> 52) as i32;
    if e == 0 {
        // Subnormal: scale into the normal range first.
        let (f, e2) = frexp(v * 18_446_744_073_709_551_616.0);
        return (f, e2 - 64);
    }
    (f64::from_bits((bits & !EXP_MASK) | (1022 << 52)), e - 1022)
}

/// The schema-8 index of `|v| > 0` (infinity counts in the last finite bucket).
pub(crate) fn index8(v: f64) -> i32 {
    let v = if v.is_finite() { v.abs() } else { f64::MAX };
    let (frac, exp) = frexp(v);
    let j = bounds().partition_point(|&b| b < frac) as i32;
    j + (exp - 1) * 256
}

/// The index at `schema` of the bucket of schema-8 index `i8`: `ceil(i8 / 2^(8 - schema))`.
pub(crate) fn reduce(index: i32, from: i8, to: i8) -> i32 {
    let k = i32::from(from - to);
    (index + (1 << k) - 1) >> k
}

/// The window: schema, first index, whether anything was recorded yet, and
/// whether the populated range outgrew the window at the coarsest schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    schema: i8,
    offset: i32,
    set: bool,
    full: bool,
}

impl Layout {
    fn load(cell: &[AtomicU64]) -> Self {
        let w = cell[LAYOUT].load(Ordering::Relaxed);
        Self {
            schema: ((w & 0xff) as i8).wrapping_add(MIN_SCHEMA),
            set: w & 0x100 != 0,
            full: w & 0x200 != 0,
            offset: (w >> 32) as u32 as i32,
        }
    }

    fn store(self, cell: &[AtomicU64]) {
        let w = u64::from(self.schema.wrapping_sub(MIN_SCHEMA) as u8)
            | if self.set { 0x100 } else { 0 }
            | if self.full { 0x200 } else { 0 }
            | (u64::from(self.offset as u32) << 32);
        cell[LAYOUT].store(w, Ordering::Relaxed);
    }

    /// The window slot of schema-8 index `i8`, if in the window; once the
    /// window is full at the coarsest schema, the edge slot for indices
    /// beyond it.
    fn slot(self, index: i32, n: usize) -> Option<usize> {
        if !self.set {
            return None;
        }
        let at = i64::from(reduce(index, MAX_SCHEMA, self.schema)) - i64::from(self.offset);
        if (0..n as i64).contains(&at) {
            Some(at as usize)
        } else if self.full {
            Some(at.clamp(0, n as i64 - 1) as usize)
        } else {
            None
        }
    }
}

/// Enters the gate as an observation, waiting out any exclusive section.
#[inline]
fn enter(cell: &[AtomicU64]) {
    loop {
        // Acquire: a finished exclusive section's writes (a new window) are seen.
        if cell[GATE].fetch_add(1, Ordering::Acquire) & EXCLUSIVE == 0 {
            return;
        }
        cell[GATE].fetch_sub(1, Ordering::Relaxed);
        while cell[GATE].load(Ordering::Relaxed) & EXCLUSIVE != 0 {
            spin();
        }
    }
}

#[inline]
fn leave(cell: &[AtomicU64]) {
    // Release: this observation's writes happen before an exclusive section.
    cell[GATE].fetch_sub(1, Ordering::Release);
}

/// Runs `f` alone: no observation is in flight while it runs.
fn exclusive<R>(cell: &[AtomicU64], f: impl FnOnce() -> R) -> R {
    while cell[GATE].fetch_or(EXCLUSIVE, Ordering::Acquire) & EXCLUSIVE != 0 {
        while cell[GATE].load(Ordering::Relaxed) & EXCLUSIVE != 0 {
            spin();
        }
    }
    while cell[GATE].load(Ordering::Acquire) & !EXCLUSIVE != 0 {
        spin();
    }
    let r = f();
    cell[GATE].fetch_and(!EXCLUSIVE, Ordering::Release);
    r
}

fn add_f64(word: &AtomicU64, v: f64) {
    let mut current = word.load(Ordering::Relaxed);
    loop {
        let new = (f64::from_bits(current) + v).to_bits();
        match word.compare_exchange_weak(current, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}

/// Records `v` (not NaN) in the native histogram stored in `cell`.
pub(crate) fn observe(cell: &[AtomicU64], cfg: &NativeBuckets, v: f64) {
    let n = cfg.max_buckets;
    let zero = v.abs() <= cfg.zero_threshold;
    let index = if zero { 0 } else { index8(v) };
    loop {
        enter(cell);
        let word = if zero {
            Some(ZERO)
        } else {
            Layout::load(cell)
                .slot(index, n)
                .map(|i| if v > 0.0 { POSITIVE + i } else { POSITIVE + n + i })
        };
        if let Some(word) = word {
            cell[word].fetch_add(1, Ordering::Relaxed);
            add_f64(&cell[SUM], v);
            cell[COUNT].fetch_add(1, Ordering::Relaxed);
            leave(cell);
            return;
        }
        leave(cell);
        exclusive(cell, || rescale(cell, cfg, index));
    }
}

/// Moves the window (and coarsens the schema where needed) so that schema-8
/// index `index` and every populated bucket fit. Runs exclusively.
fn rescale(cell: &[AtomicU64], cfg: &NativeBuckets, index: i32) {
    let n = cfg.max_buckets;
    let old = Layout::load(cell);
    if old.slot(index, n).is_some() {
        return; // Another observation rescaled first.
    }
    // Populated buckets: (sign word base, index at the old schema, count).
    let mut populated = Vec::new();
    if old.set {
        for (base, sign) in [(POSITIVE, 0), (POSITIVE + n, 1)] {
            for i in 0..n {
                let c = cell[base + i].swap(0, Ordering::Relaxed);
                if c > 0 {
                    populated.push((sign, old.offset + i as i32, c));
                }
            }
        }
    }
    let from = if old.set { old.schema } else { cfg.schema };
    let mut schema = from;
    let (lo, hi) = loop {
        let i = reduce(index, MAX_SCHEMA, schema);
        let (lo, hi) = populated.iter().fold((i, i), |(lo, hi), &(_, p, _)| {
            let p = reduce(p, from, schema);
            (lo.min(p), hi.max(p))
        });
        if i64::from(hi) - i64::from(lo) < n as i64 || schema == MIN_SCHEMA {
            break (lo, hi);
        }
        schema -= 1;
    };
    // Centre the populated range in the window, leaving room either side.
    let slack = (n as i64 - (i64::from(hi) - i64::from(lo) + 1)).max(0);
    let layout = Layout {
        schema,
        offset: (i64::from(lo) - slack / 2) as i32,
        set: true,
        full: i64::from(hi) - i64::from(lo) >= n as i64,
    };
    for (sign, p, c) in populated {
        let at = i64::from(reduce(p, from, schema)) - i64::from(layout.offset);
        let slot = at.clamp(0, n as i64 - 1) as usize;
        cell[POSITIVE + sign * n + slot].fetch_add(c, Ordering::Relaxed);
    }
    layout.store(cell);
}

/// One sign's buckets of a snapshot: the index of the first, then the counts
/// of consecutive buckets (possibly zero inside, never at the ends).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Side {
    pub(crate) offset: i32,
    pub(crate) counts: Vec<u64>,
}

#[cfg(any(test, feature = "protobuf", feature = "remote-write"))]
impl Side {
    /// Runs of populated buckets: `(gap from the previous run's end, or the
    /// first index for the first run, length)`, the Prometheus span form.
    pub(crate) fn spans(&self) -> impl Iterator<Item = (i32, u32)> + '_ {
        let mut i = 0usize;
        let mut prev_end = 0i32;
        let mut first = true;
        std::iter::from_fn(move || {
            while i < self.counts.len() && self.counts[i] == 0 {
                i += 1;
            }
            if i >= self.counts.len() {
                return None;
            }
            let start = i;
            while i < self.counts.len() && self.counts[i] != 0 {
                i += 1;
            }
            let index = self.offset + start as i32;
            let gap = if first { index } else { index - prev_end };
            first = false;
            prev_end = self.offset + i as i32;
            Some((gap, (i - start) as u32))
        })
    }

    /// The populated counts, in span order.
    pub(crate) fn populated(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts.iter().copied().filter(|&c| c != 0)
    }

    /// The populated counts as deltas from the previous one (the first from 0).
    pub(crate) fn deltas(&self) -> impl Iterator<Item = i64> + '_ {
        let mut prev = 0i64;
        self.populated().map(move |c| {
            let d = c as i64 - prev;
            prev = c as i64;
            d
        })
    }
}

/// A consistent view of a native histogram.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NativeSnapshot {
    pub(crate) schema: i8,
    pub(crate) zero_threshold: f64,
    pub(crate) zero_count: u64,
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) positive: Side,
    pub(crate) negative: Side,
}

/// A snapshot of the native histogram in `cell` into `out` (reusing its
/// buffers). Callers must not rescale concurrently; observations may race.
pub(crate) fn snapshot_into(cell: &[AtomicU64], cfg: &NativeBuckets, out: &mut NativeSnapshot) {
    let n = cfg.max_buckets;
    exclusive(cell, || {
        let layout = Layout::load(cell);
        out.schema = if layout.set { layout.schema } else { cfg.schema };
        out.zero_threshold = cfg.zero_threshold;
        out.zero_count = cell[ZERO].load(Ordering::Relaxed);
        out.count = cell[COUNT].load(Ordering::Relaxed);
        out.sum = f64::from_bits(cell[SUM].load(Ordering::Relaxed));
        for (side, base) in [(&mut out.positive, POSITIVE), (&mut out.negative, POSITIVE + n)] {
            side.counts.clear();
            side.offset = layout.offset;
            let words = &cell[base..base + n];
            let first = words.iter().position(|w| w.load(Ordering::Relaxed) != 0);
            let last = words.iter().rposition(|w| w.load(Ordering::Relaxed) != 0);
            if let (Some(first), Some(last)) = (first, last) {
                side.offset += first as i32;
                side.counts
                    .extend(words[first..=last].iter().map(|w| w.load(Ordering::Relaxed)));
            }
        }
    });
}

/// The upper bound of bucket `index` at `schema`: `2^(index * 2^-schema)`.
#[cfg(all(test, not(loom)))]
pub(crate) fn upper_bound(index: i32, schema: i8) -> f64 {
    (f64::from(index) * (-f64::from(schema)).exp2()).exp2()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn cell(cfg: &NativeBuckets) -> Vec<AtomicU64> {
        (0..cell_len(cfg.max_buckets)).map(|_| AtomicU64::new(0)).collect()
    }

    fn snap(c: &[AtomicU64], cfg: &NativeBuckets) -> NativeSnapshot {
        let mut s = NativeSnapshot::default();
        snapshot_into(c, cfg, &mut s);
        s
    }

    #[test]
    fn indices_match_the_bucket_definition() {
        // Bucket i of schema s holds (base^(i-1), base^i].
        assert_eq!(index8(1.0), 0);
        assert_eq!(index8(2.0), 256);
        assert_eq!(index8(2.0 * 1.000_000_001), 257);
        assert_eq!(index8(0.5), -256);
        assert_eq!(reduce(index8(1.0), 8, 0), 0);
        assert_eq!(reduce(index8(1.5), 8, 0), 1);
        assert_eq!(reduce(index8(3.0), 8, 0), 2);
        assert_eq!(reduce(index8(0.75), 8, 0), 0);
        assert_eq!(reduce(index8(1000.0), 8, -2), 3, "(2^8, 2^12]");
        assert_eq!(index8(f64::INFINITY), index8(f64::MAX));
        assert!(index8(f64::MIN_POSITIVE / 4.0) < index8(f64::MIN_POSITIVE));
        for v in [0.001, 0.3, 1.0, 7.0, 12.5, 1e6, 3e300] {
            for s in MIN_SCHEMA..=MAX_SCHEMA {
                let i = reduce(index8(v), 8, s);
                assert!(upper_bound(i - 1, s) < v * (1.0 + 1e-12), "{v} at {s}");
                assert!(v <= upper_bound(i, s) * (1.0 + 1e-12), "{v} at {s}");
            }
        }
    }

    #[test]
    fn observations_land_in_their_buckets() {
        let cfg = NativeBuckets::new(0).unwrap().zero_threshold(0.01).unwrap();
        let c = cell(&cfg);
        for v in [1.0, 1.5, 2.0, 3.0, 0.0, 0.005, -1.5, -1.5] {
            observe(&c, &cfg, v);
        }
        let s = snap(&c, &cfg);
        assert_eq!((s.schema, s.count, s.zero_count), (0, 8, 2));
        assert_eq!(s.sum, 1.0 + 1.5 + 2.0 + 3.0 + 0.005 - 3.0);
        // 1 -> bucket 0; 1.5, 2 -> bucket 1; 3 -> bucket 2.
        assert_eq!(s.positive.offset, 0);
        assert_eq!(s.positive.counts, [1, 2, 1]);
        assert_eq!(s.negative.offset, 1);
        assert_eq!(s.negative.counts, [2]);
        assert_eq!(s.positive.spans().collect::<Vec<_>>(), [(0, 3)]);
        assert_eq!(s.positive.deltas().collect::<Vec<_>>(), [1, 1, -1]);
    }

    #[test]
    fn spread_beyond_the_bound_coarsens_the_schema() {
        let cfg = NativeBuckets::new(8).unwrap().max_buckets(20).unwrap();
        let c = cell(&cfg);
        let values: Vec<f64> = (0..2000).map(|i| 0.001 * 1.01f64.powi(i)).collect();
        for &v in &values {
            observe(&c, &cfg, v);
        }
        let s = snap(&c, &cfg);
        assert_eq!(s.count, 2000);
        assert!(s.schema < 8);
        assert!(s.positive.counts.len() <= 20);
        assert_eq!(s.positive.counts.iter().sum::<u64>(), 2000);
        // Every value is in the bucket its index names at the final schema.
        let mut expected = std::collections::BTreeMap::new();
        for &v in &values {
            *expected.entry(reduce(index8(v), 8, s.schema)).or_insert(0u64) += 1;
        }
        let got: std::collections::BTreeMap<i32, u64> = s
            .positive
            .counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (s.positive.offset + i as i32, *c))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn the_coarsest_schema_clamps_to_the_edges() {
        let cfg = NativeBuckets::new(-4)
            .unwrap()
            .zero_threshold(0.0)
            .unwrap()
            .max_buckets(2)
            .unwrap();
        let c = cell(&cfg);
        for v in [1e-300, 1.0, 1e300] {
            observe(&c, &cfg, v);
        }
        let s = snap(&c, &cfg);
        assert_eq!((s.schema, s.count), (-4, 3));
        assert_eq!(s.positive.counts.iter().sum::<u64>(), 3);
    }

    #[test]
    fn the_coarsest_schema_still_moves_its_window() {
        let cfg = NativeBuckets::new(-4)
            .unwrap()
            .zero_threshold(0.0)
            .unwrap()
            .max_buckets(2)
            .unwrap();
        // 1e-5 is in bucket -1 of schema -4 ((2^-32, 2^-16]), 1.0 in bucket 0: the
        // window moves to cover both, each in its own bucket.
        let c = cell(&cfg);
        observe(&c, &cfg, 1e-5);
        observe(&c, &cfg, 1.0);
        let s = snap(&c, &cfg);
        assert_eq!((s.positive.offset, s.positive.counts.as_slice()), (-1, &[1, 1][..]));
        // 2^20 (bucket 2) no longer fits: the window is full, and it counts at the edge.
        observe(&c, &cfg, 1_048_576.0);
        let s = snap(&c, &cfg);
        assert_eq!((s.positive.offset, s.positive.counts.as_slice()), (-1, &[1, 2][..]));
    }

    #[test]
    fn spans_skip_empty_runs() {
        let side = Side {
            offset: -3,
            counts: vec![2, 0, 0, 5, 5, 0, 1],
        };
        assert_eq!(side.spans().collect::<Vec<_>>(), [(-3, 1), (2, 2), (1, 1)]);
        assert_eq!(side.deltas().collect::<Vec<_>>(), [2, 3, 0, -4]);
    }

    #[test]
    fn settings_are_validated() {
        assert_eq!(NativeBuckets::new(-5), Err(NativeBucketsError::Schema(-5)));
        assert!(NativeBuckets::default().zero_threshold(-1.0).is_err());
        assert!(NativeBuckets::default().zero_threshold(f64::NAN).is_err());
        assert!(NativeBuckets::default().max_buckets(0).is_err());
        assert!(NativeBuckets::default().max_buckets(4097).is_err());
    }

    /// Four writers spread values (forcing rescales) while a reader
    /// snapshots: every snapshot is consistent and nothing is lost.
    #[test]
    fn concurrent_observations_and_snapshots_are_consistent() {
        let cfg = NativeBuckets::new(8).unwrap().max_buckets(16).unwrap();
        let c = std::sync::Arc::new(cell(&cfg));
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..50_000 {
                        observe(&c, &cfg, f64::from((i * 7 + t) % 1000 + 1));
                    }
                })
            })
            .collect();
        let mut s = NativeSnapshot::default();
        let mut last = 0;
        while writers.iter().any(|w| !w.is_finished()) {
            snapshot_into(&c, &cfg, &mut s);
            let buckets: u64 = s.positive.counts.iter().sum::<u64>() + s.zero_count;
            assert_eq!(s.count, buckets, "torn snapshot");
            assert!(s.count >= last);
            last = s.count;
        }
        for w in writers {
            w.join().unwrap();
        }
        snapshot_into(&c, &cfg, &mut s);
        assert_eq!(s.count, 200_000);
        assert_eq!(s.positive.counts.iter().sum::<u64>(), 200_000);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;

    fn model(f: impl Fn() + Sync + Send + 'static) {
        // The gate's waits are spin loops, each iteration a branch.
        let mut builder = loom::model::Builder::new();
        builder.max_branches = 20_000;
        builder.check(f);
    }

    fn new_cell(cfg: &NativeBuckets) -> Arc<Vec<AtomicU64>> {
        Arc::new((0..cell_len(cfg.max_buckets)).map(|_| AtomicU64::new(0)).collect())
    }

    /// An observation that forces a rescale (a window of 2 buckets, values
    /// 2^10 apart) races a snapshot: the snapshot sees it entirely or not at
    /// all, and nothing is lost.
    #[test]
    fn rescale_races_snapshot() {
        model(|| {
            let cfg = NativeBuckets::new(0).unwrap().max_buckets(2).unwrap();
            let c = new_cell(&cfg);
            observe(&c, &cfg, 1.0);
            let writer = {
                let c = Arc::clone(&c);
                loom::thread::spawn(move || observe(&c, &cfg, 1024.0))
            };
            let mut s = NativeSnapshot::default();
            snapshot_into(&c, &cfg, &mut s);
            assert_eq!(s.count, s.positive.counts.iter().sum::<u64>());
            assert!((s.count, s.sum) == (1, 1.0) || (s.count, s.sum) == (2, 1025.0), "{s:?}");
            writer.join().unwrap();
            snapshot_into(&c, &cfg, &mut s);
            assert_eq!((s.count, s.sum), (2, 1025.0));
            assert_eq!(s.positive.counts.iter().sum::<u64>(), 2);
            assert!(s.schema < 0, "the schema coarsened");
        });
    }

    /// Two observers in the window race each other and a snapshot: each
    /// snapshot is consistent (count = buckets, the sum of the same
    /// observations) and nothing is lost.
    #[test]
    fn observers_race_snapshot() {
        model(|| {
            let cfg = NativeBuckets::new(0).unwrap().max_buckets(4).unwrap();
            let c = new_cell(&cfg);
            observe(&c, &cfg, 1.0);
            let writer = {
                let c = Arc::clone(&c);
                loom::thread::spawn(move || observe(&c, &cfg, 2.0))
            };
            observe(&c, &cfg, 1.0);
            let mut s = NativeSnapshot::default();
            snapshot_into(&c, &cfg, &mut s);
            assert_eq!(s.count, s.positive.counts.iter().sum::<u64>());
            assert!((s.count, s.sum) == (2, 2.0) || (s.count, s.sum) == (3, 4.0), "{s:?}");
            writer.join().unwrap();
            snapshot_into(&c, &cfg, &mut s);
            assert_eq!((s.count, s.sum), (3, 4.0));
        });
    }
}
