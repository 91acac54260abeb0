//! Histogram cells: exact bucket counts and sum, with consistent snapshots
//! under concurrent observation.
//!
//! A cell is recorded in one of two modes, chosen by the stripe it lives in
//! (see `series`):
//!
//! - **Owned** (the stripe has one writer, the thread holding its slot): a
//!   sequence lock. Word 0 counts writes, odd while one is in progress; the
//!   owner makes it odd, updates `sum` and the bucket with plain loads and
//!   stores, and makes it even. A snapshot reads the words between two equal,
//!   even reads of word 0 and retries otherwise. On x86 and ARM the owner's
//!   side is ordinary loads and stores: no read-modify-write, no fence
//!   instruction.
//! - **Shared** (any number of writers): the protocol Prometheus's Go client
//!   uses, one word leaner. Each histogram has two buffers (`sum`, buckets).
//!   A header word counts the observations started and, in its top bit,
//!   names the *hot* buffer. `observe` bumps the header, adds to the hot
//!   buffer's `sum`, then bumps the bucket with release ordering: the bucket
//!   increment is the completion mark (Go keeps a separate `count` for that;
//!   the count is the sum of the buckets anyway). A snapshot flips the hot
//!   bit, waits until the now-cold buckets add up to the number of
//!   observations started before the flip, reads them — a consistent set:
//!   the `+Inf` bucket equals the count, `sum` covers the same observations —
//!   and folds them into the new hot buffer so the totals stay cumulative.
//!
//! Both modes use the same cell length (an owned cell leaves the second
//! buffer unused), so a family has one offset in every stripe. Snapshots of
//! one histogram are serialised by the caller (its group's collection lock);
//! observations never wait.

use crate::sync::{AtomicU64, Ordering, fence, spin};

const HOT_BIT: u64 = 1 << 63;

/// Words of one buffer: sum bits, then one per bucket (+Inf last).
const fn buffer_len(buckets: usize) -> usize {
    1 + buckets
}

/// Buckets of a histogram cell of `len` words.
const fn buckets_of(len: usize) -> usize {
    (len - 1) / 2 - 1
}

/// Words a histogram with `buckets` buckets (the finite bounds plus `+Inf`)
/// takes in a cell slab.
pub(crate) const fn cell_len(buckets: usize) -> usize {
    1 + 2 * buffer_len(buckets)
}

/// A consistent view of a histogram: non-cumulative bucket counts (the last
/// is the `+Inf` overflow bucket), their total, and the sum of the values.
/// Rendering reuses one per family, so snapshots allocate nothing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) buckets: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) sum: f64,
}

impl Snapshot {
    pub(crate) fn zero(buckets: usize) -> Self {
        Self {
            buckets: vec![0; buckets],
            count: 0,
            sum: 0.0,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.buckets.fill(0);
        self.count = 0;
        self.sum = 0.0;
    }
}

#[inline]
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

/// Records `v` into bucket `bucket` of the histogram stored in `cell`
/// (`cell_len(buckets)` words), which any thread may record into.
#[inline]
pub(crate) fn observe_shared(cell: &[AtomicU64], bucket: usize, v: f64) {
    let started = cell[0].fetch_add(1, Ordering::Acquire);
    let base = 1 + usize::from(started & HOT_BIT != 0) * buffer_len(buckets_of(cell.len()));
    add_f64(&cell[base], v);
    // Completion mark: a snapshot waits for it, then reads `sum`.
    cell[base + 1 + bucket].fetch_add(1, Ordering::Release);
}

/// Records `v` into bucket `bucket` of the histogram stored in `cell`, which
/// only the calling thread records into (its owned stripe).
#[inline]
pub(crate) fn observe_owned(cell: &[AtomicU64], bucket: usize, v: f64) {
    let seq = cell[0].load(Ordering::Relaxed);
    cell[0].store(seq.wrapping_add(1), Ordering::Relaxed);
    // Orders the odd sequence before the data stores: a reader that sees any
    // of them also sees the odd sequence on its second read.
    fence(Ordering::Release);
    let sum = &cell[1];
    sum.store(
        (f64::from_bits(sum.load(Ordering::Relaxed)) + v).to_bits(),
        Ordering::Relaxed,
    );
    let count = &cell[2 + bucket];
    count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    cell[0].store(seq.wrapping_add(2), Ordering::Release);
}

/// Adds a consistent snapshot of the owned-mode histogram in `cell` to
/// `acc`, retrying while its owner is mid-write.
pub(crate) fn snapshot_owned_into(cell: &[AtomicU64], acc: &mut Snapshot) {
    let buckets = buckets_of(cell.len());
    let mut counts = [0u64; MAX_BUCKETS + 1];
    loop {
        let before = cell[0].load(Ordering::Acquire);
        if before & 1 == 0 {
            let sum = cell[1].load(Ordering::Relaxed);
            for (i, n) in counts.iter_mut().enumerate().take(buckets) {
                *n = cell[2 + i].load(Ordering::Relaxed);
            }
            // Orders the data loads before the second sequence read.
            fence(Ordering::Acquire);
            if cell[0].load(Ordering::Relaxed) == before {
                acc.sum += f64::from_bits(sum);
                for (total, n) in acc.buckets.iter_mut().zip(&counts[..buckets]) {
                    *total += n;
                    acc.count += n;
                }
                return;
            }
        }
        spin();
    }
}

/// Adds a consistent snapshot of the shared-mode histogram in `cell` to
/// `acc`. Callers must not run two snapshots of the same cell at once.
pub(crate) fn snapshot_shared_into(cell: &[AtomicU64], acc: &mut Snapshot) {
    let buckets = buckets_of(cell.len());
    let len = buffer_len(buckets);
    let before = cell[0].fetch_add(HOT_BIT, Ordering::AcqRel);
    let started = before & !HOT_BIT;
    let cold = 1 + usize::from(before & HOT_BIT != 0) * len;
    let hot = 1 + usize::from(before & HOT_BIT == 0) * len;
    // Observations that took the old hot buffer finish in a few instructions.
    while (0..buckets)
        .map(|i| cell[cold + 1 + i].load(Ordering::Acquire))
        .sum::<u64>()
        != started
    {
        spin();
    }
    // Read the cold buffer, fold it into the hot one and clear it, so the hot
    // buffer holds the cumulative totals again. The buckets go last, with
    // release ordering, as `observe`'s do.
    let sum = f64::from_bits(cell[cold].swap(0f64.to_bits(), Ordering::Relaxed));
    add_f64(&cell[hot], sum);
    acc.sum += sum;
    for (i, total) in acc.buckets.iter_mut().enumerate().take(buckets) {
        let n = cell[cold + 1 + i].swap(0, Ordering::Relaxed);
        cell[hot + 1 + i].fetch_add(n, Ordering::Release);
        *total += n;
    }
    acc.count += started;
}

/// A snapshot of one cell, in either mode (tests only).
#[cfg(test)]
pub(crate) fn snapshot(cell: &[AtomicU64], owned: bool) -> Snapshot {
    let mut acc = Snapshot::zero(buckets_of(cell.len()));
    if owned {
        snapshot_owned_into(cell, &mut acc);
    } else {
        snapshot_shared_into(cell, &mut acc);
    }
    acc
}

/// Validated, sorted bucket upper bounds and their `le` texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    bounds: Box<[f64]>,
    le: Box<[Box<str>]>,
}

/// The most bounds a histogram may have.
pub const MAX_BUCKETS: usize = 64;

/// Why bucket bounds were rejected.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BucketsError {
    /// No bounds.
    #[error("a histogram needs at least one bucket bound")]
    Empty,
    /// More than [`MAX_BUCKETS`] distinct bounds.
    #[error("{0} bucket bounds, more than the limit of 64")]
    TooMany(usize),
    /// A NaN or infinite bound (`+Inf` is implicit).
    #[error("bucket bound {0} is not finite")]
    NotFinite(f64),
}

impl Buckets {
    /// Sorts and de-duplicates `bounds`.
    ///
    /// ```
    /// use meshtel_metrics::Buckets;
    /// let b = Buckets::new(&[10.0, 0.5, 10.0, 1.0])?;
    /// assert_eq!(b.bounds(), &[0.5, 1.0, 10.0]);
    /// assert!(Buckets::new(&[f64::NAN]).is_err());
    /// # Ok::<(), meshtel_metrics::BucketsError>(())
    /// ```
    ///
    /// # Errors
    /// [`BucketsError`] for no bounds, a non-finite bound, or more than
    /// [`MAX_BUCKETS`].
    pub fn new(bounds: &[f64]) -> Result<Self, BucketsError> {
        if let Some(&bad) = bounds.iter().find(|b| !b.is_finite()) {
            return Err(BucketsError::NotFinite(bad));
        }
        let mut sorted = bounds.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted.dedup();
        if sorted.is_empty() {
            return Err(BucketsError::Empty);
        }
        if sorted.len() > MAX_BUCKETS {
            return Err(BucketsError::TooMany(sorted.len()));
        }
        // Shortest round-trip decimal (T4, `docs/reference/telemetry.md` §8.3): "0.5", "1",
        // "3600000".
        let mut le: Vec<Box<str>> = sorted.iter().map(|b| format_float(*b).into_boxed_str()).collect();
        le.push("+Inf".into());
        Ok(Self {
            bounds: sorted.into_boxed_slice(),
            le: le.into_boxed_slice(),
        })
    }

    /// The finite upper bounds, increasing.
    #[must_use]
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// Number of buckets including `+Inf`.
    pub(crate) fn len(&self) -> usize {
        self.bounds.len() + 1
    }

    /// The `le` label texts, `+Inf` last.
    pub(crate) fn le(&self) -> &[Box<str>] {
        &self.le
    }

    /// The bucket `v` falls in: the first bound `>= v`, or `+Inf`.
    #[inline]
    pub(crate) fn index(&self, v: f64) -> usize {
        // The number of bounds below `v`: a branch-free count over a few
        // bounds (which the compiler vectorises) beats an early-exit scan or
        // a binary search, whose branches mispredict as values vary.
        self.bounds.iter().filter(|&&b| b < v).count()
    }
}

/// Shortest text that parses back to `v`; `+Inf`, `-Inf`, `NaN` as the
/// exposition formats spell them.
pub(crate) fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        // Rust's `Display` for f64 is the shortest round-trip decimal.
        format!("{v}")
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Nineteen bounds from 0.5 to 3 600 000 (the spread Istio's duration
    /// histograms use): fractions, integers, and wide gaps.
    fn test_buckets() -> Buckets {
        let bounds = [
            0.5,
            1.0,
            5.0,
            10.0,
            25.0,
            50.0,
            100.0,
            250.0,
            500.0,
            1000.0,
            2500.0,
            5000.0,
            10000.0,
            30000.0,
            60000.0,
            300_000.0,
            600_000.0,
            1_800_000.0,
            3_600_000.0,
        ];
        Buckets::new(&bounds).unwrap()
    }

    fn cell(buckets: usize) -> Vec<AtomicU64> {
        (0..cell_len(buckets)).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn snapshots_are_cumulative_and_consistent() {
        for owned in [false, true] {
            let observe = if owned { observe_owned } else { observe_shared };
            let b = test_buckets();
            let c = cell(b.len());
            for v in [0.0, 0.5, 0.9, 1.0, 7.0, 4_000_000.0] {
                observe(&c, b.index(v), v);
            }
            let s = snapshot(&c, owned);
            assert_eq!(s.count, 6);
            assert_eq!(s.buckets[0], 2, "0 and 0.5 fall in le=0.5");
            assert_eq!(s.buckets[1], 2);
            assert_eq!(s.buckets[2], 0);
            assert_eq!(s.buckets[3], 1);
            assert_eq!(s.buckets[19], 1, "+Inf");
            assert_eq!(s.sum, 4_000_009.4);
            observe(&c, b.index(2.0), 2.0);
            let s2 = snapshot(&c, owned);
            assert_eq!((s2.count, s2.buckets[2]), (7, 1));
            assert_eq!(snapshot(&c, owned), s2, "a snapshot changes nothing");
        }
    }

    /// A writer observes 1.0 without pause while a reader snapshots: every
    /// snapshot's sum equals its count (a torn read would show one ahead of
    /// the other), and counts never go backwards.
    #[test]
    fn snapshots_under_a_busy_writer_are_never_torn() {
        for owned in [false, true] {
            let observe = if owned { observe_owned } else { observe_shared };
            let c = std::sync::Arc::new(cell(3));
            let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let writer = {
                let (c, done) = (c.clone(), done.clone());
                std::thread::spawn(move || {
                    for i in 0..2_000_000 {
                        observe(&c, i % 3, 1.0);
                    }
                    done.store(true, Ordering::Release);
                })
            };
            let (mut last, mut reads) = (0, 0u64);
            while !done.load(Ordering::Acquire) || reads == 0 {
                let s = snapshot(&c, owned);
                assert_eq!(s.sum, s.count as f64, "torn snapshot (owned: {owned})");
                assert!(s.count >= last);
                last = s.count;
                reads += 1;
            }
            writer.join().unwrap();
            assert_eq!(snapshot(&c, owned).count, 2_000_000);
        }
    }

    #[test]
    fn bounds_print_shortest() {
        let b = test_buckets();
        assert_eq!(&*b.le()[0], "0.5");
        assert_eq!(&*b.le()[1], "1");
        assert_eq!(&*b.le()[18], "3600000");
        assert_eq!(&*b.le()[19], "+Inf");
        assert_eq!(format_float(0.1), "0.1");
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;

    /// An observer racing two snapshots: every snapshot is consistent
    /// (count = sum of buckets = sum of values, all 1.0) and nothing is lost.
    fn observe_races_snapshot(owned: bool) {
        let observe = if owned { observe_owned } else { observe_shared };
        loom::model(move || {
            let c: Arc<Vec<AtomicU64>> = Arc::new((0..cell_len(2)).map(|_| AtomicU64::new(0)).collect());
            let writer = {
                let c = Arc::clone(&c);
                loom::thread::spawn(move || {
                    observe(&c, 0, 1.0);
                    observe(&c, 1, 1.0);
                })
            };
            let first = snapshot(&c, owned);
            assert_eq!(first.count, first.buckets.iter().sum::<u64>());
            assert_eq!(first.sum, first.count as f64);
            writer.join().unwrap();
            let last = snapshot(&c, owned);
            assert_eq!((last.count, last.sum, last.buckets.clone()), (2, 2.0, vec![1, 1]));
        });
    }

    #[test]
    fn shared_observe_races_snapshot() {
        observe_races_snapshot(false);
    }

    /// The sequence lock: a snapshot taken while the owner writes never
    /// mixes two states.
    #[test]
    fn owned_observe_races_snapshot() {
        observe_races_snapshot(true);
    }
}
