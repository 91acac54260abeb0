//! One series: its label values (pre-rendered for exposition) and its cells,
//! striped per thread.

use std::sync::OnceLock;

use crate::expo::{escape_label_value, needs_escape};
use crate::histogram;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// One stripe of cells between two runs of [`PAD`] unused words. Word 0 of
/// the live part holds the expiry flags ([`TOUCHED`], [`EVICTED`]), then
/// each family's cell sits at its offset.
///
/// The padding keeps the live words 128 bytes (the span Intel's
/// adjacent-line prefetcher pairs) away from any neighbouring heap block:
/// another thread's stripe, or the series' own header and stripe table,
/// which every recording thread reads. Measured on two threads recording
/// into the same 64 series: 1.3× the one-thread throughput without padding,
/// 1.65× with the front pad only, more with both.
pub(crate) struct Stripe(Box<[AtomicU64]>);

/// Unused words before each stripe's live part.
const PAD: usize = 16;

impl std::ops::Deref for Stripe {
    type Target = [AtomicU64];
    #[inline]
    fn deref(&self) -> &[AtomicU64] {
        &self.0[PAD..self.0.len() - PAD]
    }
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("words", &(self.0.len() - 2 * PAD))
            .finish()
    }
}

/// Flag: recorded into since the last sweep.
const TOUCHED: u64 = 1;
/// Flag: the series was removed by expiry.
const EVICTED: u64 = 2;

fn new_stripe(words: usize, flags: u64) -> Stripe {
    Stripe(
        (0..PAD + words + PAD)
            .map(|i| AtomicU64::new(if i == PAD { flags } else { 0 }))
            .collect(),
    )
}

/// The default number of owned stripes per series: twice the machine's
/// parallelism (room for an async runtime's workers plus the threads that
/// set it up), at most [`slot::MAX`].
pub(crate) fn default_stripes() -> usize {
    // `available_parallelism` reads cgroup files on Linux: ask once.
    static STRIPES: OnceLock<usize> = OnceLock::new();
    *STRIPES.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .saturating_mul(2)
            .min(slot::MAX)
    })
}

/// Recording slots: each thread claims the lowest free slot number the first
/// time it records and gives it back when it exits, so at any moment a slot
/// has at most one thread. The thread holding slot `k` is the only writer of
/// stripe `1 + k` of every series, which lets it record with plain loads and
/// stores. Threads without a slot (all taken, or past the series' owned
/// stripes) share stripe 0 and record with atomic read-modify-writes.
pub(crate) mod slot {
    // A static, so std's atomic even under loom (whose atomics cannot be
    // statics). The loom models take stripes directly, not through a slot.
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Slot numbers available (one bit each in [`CLAIMED`]).
    pub(crate) const MAX: usize = 64;

    static CLAIMED: AtomicU64 = AtomicU64::new(0);

    /// A thread's slot, released when the thread's locals are destroyed.
    struct Claim(Option<usize>);

    impl Claim {
        fn new() -> Self {
            // Acquire: the previous holder's records happen before ours.
            let taken = CLAIMED.fetch_update(Ordering::AcqRel, Ordering::Acquire, |m| {
                (m != u64::MAX).then(|| m | (1 << (!m).trailing_zeros()))
            });
            Self(taken.ok().map(|m| (!m).trailing_zeros() as usize))
        }
    }

    impl Drop for Claim {
        fn drop(&mut self) {
            if let Some(k) = self.0 {
                // Release: our records happen before the next holder's.
                CLAIMED.fetch_and(!(1 << k), Ordering::Release);
            }
        }
    }

    thread_local! {
        static CLAIM: Claim = Claim::new();
    }

    /// This thread's slot; `None` when every slot is taken or the thread is
    /// exiting (its slot already released).
    #[inline]
    pub(crate) fn current() -> Option<usize> {
        CLAIM.try_with(|c| c.0).ok().flatten()
    }
}

/// A stripe's live words and how they may be written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cells<'a> {
    pub(crate) words: &'a [AtomicU64],
    /// Only the calling thread writes these words (its slot's stripe).
    pub(crate) owned: bool,
}

impl Cells<'_> {
    /// Adds `n` to the counter at `offset`.
    #[inline]
    pub(crate) fn add(self, offset: usize, n: u64) {
        let word = &self.words[offset];
        if self.owned {
            word.store(word.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
        } else {
            word.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Records `v` (in bucket `bucket`) in the histogram of `len` words at
    /// `offset`.
    #[inline]
    pub(crate) fn observe(self, offset: usize, len: usize, bucket: usize, v: f64) {
        let cell = &self.words[offset..offset + len];
        if self.owned {
            histogram::observe_owned(cell, bucket, v);
        } else {
            histogram::observe_shared(cell, bucket, v);
        }
    }

    /// Adds a consistent snapshot of the histogram of `len` words at
    /// `offset` to `acc`.
    pub(crate) fn snapshot_into(self, offset: usize, len: usize, acc: &mut histogram::Snapshot) {
        let cell = &self.words[offset..offset + len];
        if self.owned {
            histogram::snapshot_owned_into(cell, acc);
        } else {
            histogram::snapshot_shared_into(cell, acc);
        }
    }
}

/// A series of a group.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Entry {
    pub(crate) hash: u64,
    /// `name="value",…`, escaped, ready to print.
    pub(crate) block: Box<str>,
    /// Where each (escaped) value sits in `block`.
    spans: Box<[(u32, u32)]>,
    /// Whether any value needed escaping (then matching compares escaped text).
    escaped: bool,
    /// Stripe 0 is shared (gauges, threads without an owned stripe); stripe
    /// `1 + k` is owned by slot `k`. Each is allocated when first recorded
    /// into.
    stripes: Box<[OnceLock<Stripe>]>,
    words: usize,
    pub(crate) idle_sweeps: AtomicU32,
    pub(crate) evicted: AtomicBool,
}

impl Entry {
    /// `values` are already truncated to the group's limit; `owned` is the
    /// number of owned stripes.
    pub(crate) fn new(hash: u64, names: &[Box<str>], values: &[&str], words: usize, owned: usize) -> Self {
        let mut block = String::with_capacity(
            names.iter().map(|n| n.len() + 4).sum::<usize>() + values.iter().map(|v| v.len()).sum::<usize>(),
        );
        let mut spans = Vec::with_capacity(values.len());
        let mut escaped = false;
        for (i, (name, value)) in names.iter().zip(values).enumerate() {
            if i > 0 {
                block.push(',');
            }
            block.push_str(name);
            block.push_str("=\"");
            let start = block.len();
            if needs_escape(value) {
                escaped = true;
                escape_label_value(value, &mut block);
            } else {
                block.push_str(value);
            }
            spans.push((start as u32, block.len() as u32));
            block.push('"');
        }
        Self {
            hash,
            block: block.into_boxed_str(),
            spans: spans.into_boxed_slice(),
            escaped,
            stripes: (0..=owned).map(|_| OnceLock::new()).collect(),
            words,
            idle_sweeps: AtomicU32::new(0),
            evicted: AtomicBool::new(false),
        }
    }

    /// Whether this series has exactly these (truncated) label values.
    #[inline]
    pub(crate) fn matches<'v>(&self, values: impl Iterator<Item = &'v str>) -> bool {
        let mut spans = self.spans.iter();
        for value in values {
            let Some(&(start, end)) = spans.next() else {
                return false;
            };
            // Bytes, not `str`, slicing: no character-boundary checks.
            let stored = self
                .block
                .as_bytes()
                .get(start as usize..end as usize)
                .unwrap_or_default();
            if self.escaped {
                if !escaped_eq(stored, value.as_bytes()) {
                    return false;
                }
            } else if !bytes_eq(stored, value.as_bytes()) {
                return false;
            }
        }
        spans.next().is_none()
    }

    /// The cells this thread records counters and histograms into: its
    /// slot's owned stripe, or the shared one.
    #[inline]
    pub(crate) fn cells(&self, lock: &std::sync::Mutex<()>) -> Cells<'_> {
        match slot::current() {
            Some(k) if k + 1 < self.stripes.len() => Cells {
                words: self.stripe(k + 1, lock),
                owned: true,
            },
            _ => self.shared_cells(lock),
        }
    }

    /// The shared stripe (gauges live only there: a `set` must be one value).
    #[inline]
    pub(crate) fn shared_cells(&self, lock: &std::sync::Mutex<()>) -> Cells<'_> {
        Cells {
            words: self.stripe(0, lock),
            owned: false,
        }
    }

    /// Stripe `index`, allocated on first use under `lock` (the series' shard
    /// lock, which expiry sweeps hold), so a new stripe starts with the
    /// series' current eviction mark.
    #[inline]
    fn stripe(&self, index: usize, lock: &std::sync::Mutex<()>) -> &[AtomicU64] {
        self.stripes[index].get_or_init(|| {
            let _guard = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let flags = if self.evicted.load(Ordering::Relaxed) {
                EVICTED
            } else {
                0
            };
            new_stripe(self.words, flags)
        })
    }

    /// The shared stripe's words, if it was ever recorded into.
    pub(crate) fn shared_words(&self) -> Option<&[AtomicU64]> {
        self.stripes[0].get().map(|s| &**s)
    }

    /// Every allocated stripe.
    pub(crate) fn stripes(&self) -> impl Iterator<Item = Cells<'_>> {
        self.stripes
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.get().map(|s| Cells { words: s, owned: i > 0 }))
    }

    /// The recorder's side of the expiry protocol, before recording into
    /// `stripe`: mark it touched and learn whether the series was evicted (if
    /// so, record into the successor instead).
    ///
    /// Both sides use read-modify-writes on the same word, so they are
    /// totally ordered: if the recorder's comes first, the sweep's sees
    /// [`TOUCHED`] and keeps the series; if the sweep's comes first, the
    /// recorder sees [`EVICTED`]. A record never lands in a removed series.
    #[inline]
    pub(crate) fn enter(stripe: &[AtomicU64]) -> bool {
        stripe[0].fetch_or(TOUCHED, Ordering::AcqRel) & EVICTED == 0
    }

    /// The sweep: clears every stripe's touched flag; returns whether any
    /// was set. Call under the shard lock.
    pub(crate) fn take_touched(&self) -> bool {
        // Every stripe must be cleared: no short-circuit.
        let mut any = false;
        for s in self.stripes() {
            any |= s.words[0].fetch_and(!TOUCHED, Ordering::AcqRel) & TOUCHED != 0;
        }
        any
    }

    /// The sweep, for a series found idle: mark every stripe evicted; if a
    /// recorder touched one meanwhile, undo and keep the series. Returns
    /// whether the series is to be removed. Call under the shard lock (so no
    /// stripe is allocated meanwhile); see [`Entry::enter`].
    pub(crate) fn try_evict(&self) -> bool {
        // Every stripe must be marked: no short-circuit.
        let mut touched = false;
        for s in self.stripes() {
            touched |= s.words[0].fetch_or(EVICTED, Ordering::AcqRel) & TOUCHED != 0;
        }
        if touched {
            for s in self.stripes() {
                s.words[0].fetch_and(!EVICTED, Ordering::AcqRel);
            }
            return false;
        }
        self.evicted.store(true, Ordering::Relaxed);
        true
    }

    /// Label value `i`, unescaped: borrowed unless it needed escaping.
    pub(crate) fn value(&self, i: usize) -> std::borrow::Cow<'_, str> {
        let (start, end) = self.spans[i];
        let stored = &self.block[start as usize..end as usize];
        if self.escaped && stored.contains('\\') {
            std::borrow::Cow::Owned(unescape(stored))
        } else {
            std::borrow::Cow::Borrowed(stored)
        }
    }

    /// Number of label values.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// The label values, unescaped (slow path only).
    pub(crate) fn values(&self) -> Vec<String> {
        (0..self.len()).map(|i| self.value(i).into_owned()).collect()
    }

    /// Approximate heap bytes held by this series.
    pub(crate) fn heap_bytes(&self) -> usize {
        let stripe = (self.words + 2 * PAD) * 8;
        self.block.len()
            + self.spans.len() * 8
            + self.stripes.len() * size_of::<OnceLock<Stripe>>()
            + self.stripes().count() * stripe
    }
}

/// `stored` with the exposition escapes undone.
fn unescape(stored: &str) -> String {
    let mut out = String::with_capacity(stored.len());
    let mut chars = stored.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Byte equality without a call into `memcmp` for the short strings label
/// values usually are (two overlapping word compares up to 16 bytes).
#[inline(always)]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => load4(a, 0) == load4(b, 0) && load4(a, n - 4) == load4(b, n - 4),
        8..=16 => load8(a, 0) == load8(b, 0) && load8(a, n - 8) == load8(b, n - 8),
        _ => a == b,
    }
}

#[inline(always)]
fn load8(s: &[u8], at: usize) -> u64 {
    s.get(at..at + 8)
        .and_then(|w| w.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

#[inline(always)]
fn load4(s: &[u8], at: usize) -> u32 {
    s.get(at..at + 4)
        .and_then(|w| w.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

/// `stored` (escaped) equals `raw` escaped.
fn escaped_eq(stored: &[u8], raw: &[u8]) -> bool {
    let mut s = stored.iter().copied();
    for &b in raw {
        let ok = match b {
            b'\\' => s.next() == Some(b'\\') && s.next() == Some(b'\\'),
            b'"' => s.next() == Some(b'\\') && s.next() == Some(b'"'),
            b'\n' => s.next() == Some(b'\\') && s.next() == Some(b'n'),
            b => s.next() == Some(b),
        };
        if !ok {
            return false;
        }
    }
    s.next().is_none()
}

/// The longest prefix of `value` of at most `max` bytes that ends on a
/// character boundary.
#[inline]
pub(crate) fn truncate(value: &str, max: usize) -> &str {
    if value.len() <= max {
        return value;
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicBool as Flag;

    /// A record racing an expiry sweep: if the sweep removes the series, the
    /// recorder saw the eviction (and records into the successor instead).
    #[test]
    fn record_races_eviction() {
        loom::model(|| {
            let names: Vec<Box<str>> = vec!["a".into()];
            let entry = Arc::new(Entry::new(0, &names, &["x"], 2, 1));
            // Both stripes exist before the race (allocation takes a std
            // lock, which loom does not model).
            let lock = std::sync::Mutex::new(());
            entry.shared_cells(&lock);
            entry.stripe(1, &lock);
            let saw_eviction = Arc::new(Flag::new(false));
            let recorder = {
                let (entry, saw) = (Arc::clone(&entry), Arc::clone(&saw_eviction));
                loom::thread::spawn(move || {
                    let cells = entry.stripes().find(|c| c.owned).unwrap();
                    if Entry::enter(cells.words) {
                        cells.add(1, 1);
                    } else {
                        saw.store(true, Ordering::Relaxed);
                    }
                })
            };
            // The sweep: idle unless the flag is set, then the eviction attempt.
            let removed = !entry.take_touched() && entry.try_evict();
            recorder.join().unwrap();
            let recorded: u64 = entry.stripes().map(|c| c.words[1].load(Ordering::Relaxed)).sum();
            if removed {
                assert!(saw_eviction.load(Ordering::Relaxed), "the recorder missed the eviction");
                assert_eq!(recorded, 0, "a record landed in a removed series");
            } else {
                assert!(!saw_eviction.load(Ordering::Relaxed));
                assert_eq!(recorded, 1);
            }
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn matching_and_escaping() {
        let names: Vec<Box<str>> = vec!["a".into(), "b".into()];
        let e = Entry::new(0, &names, &["x", "q\"\\\n"], 3, 1);
        assert_eq!(&*e.block, "a=\"x\",b=\"q\\\"\\\\\\n\"");
        assert!(e.matches(["x", "q\"\\\n"].into_iter()));
        assert_eq!(e.values(), ["x", "q\"\\\n"]);
        assert!(!e.matches(["x", "q\"\\"].into_iter()));
        assert!(!e.matches(["x"].into_iter()));
        let plain = Entry::new(0, &names, &["x", "y"], 3, 1);
        assert!(plain.matches(["x", "y"].into_iter()));
        assert!(!plain.matches(["x", "y", "z"].into_iter()));
    }

    /// A thread gives its slot back when it exits: many more threads than
    /// slots, one after another, each get one.
    #[test]
    fn slots_are_released_by_exiting_threads() {
        for _ in 0..3 * slot::MAX {
            let got = std::thread::spawn(slot::current).join().unwrap();
            assert!(got.is_some(), "slots leaked: a new thread found none free");
        }
    }

    #[test]
    fn byte_equality() {
        for (a, b) in [
            ("", ""),
            ("a", "a"),
            ("abc", "abc"),
            ("abcdefg", "abcdefg"),
            ("abcdefghijklmnop", "abcdefghijklmnop"),
        ] {
            assert!(bytes_eq(a.as_bytes(), b.as_bytes()));
        }
        for (a, b) in [
            ("a", "b"),
            ("abc", "abd"),
            ("abc", "xbc"),
            ("abcdefg", "abcxefg"),
            ("abcdefghijk", "abcdefghijz"),
            ("abcdefghijk", "abcdeXghijk"),
            ("ab", "abc"),
        ] {
            assert!(!bytes_eq(a.as_bytes(), b.as_bytes()), "{a} {b}");
        }
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
