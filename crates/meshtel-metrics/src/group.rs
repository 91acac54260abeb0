//! Groups: metric families that share one label schema and one series table.
//!
//! Istio records four metrics with the same 25 labels on every request.
//! Putting them in one group means the label values are hashed and compared
//! once per request, not four times, and stored once per series.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;
use hashbrown::HashTable;

use crate::config::Config;
use crate::desc::{FamilyDesc, LabelError};
use crate::histogram;
use crate::native;
use crate::series::{Cells, Entry, truncate};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// The value every label of the overflow series carries.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

const SHARDS: usize = 64;

/// A shard's series table. Aligned and sized to whole 128-byte blocks so the
/// header every lookup reads never shares a cache line (or an adjacent-line
/// prefetch pair) with memory another thread writes.
#[derive(Debug, Clone, Default)]
#[repr(align(128))]
struct Table(HashTable<Arc<Entry>>);

impl std::ops::Deref for Table {
    type Target = HashTable<Arc<Entry>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Table {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// A slice of the series table. Readers load the current table without a
/// lock (`arc-swap`); writers, serialised by `write`, publish a new table
/// (copy on write). Creating series is rare next to recording into them.
#[derive(Debug)]
struct Shard {
    table: ArcSwap<Table>,
    write: Mutex<()>,
}

/// Counter handle within a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterId {
    pub(crate) group: u64,
    pub(crate) offset: u32,
}

/// Integer gauge handle within a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaugeId {
    pub(crate) group: u64,
    pub(crate) offset: u32,
}

/// Float gauge handle within a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloatGaugeId {
    pub(crate) group: u64,
    pub(crate) offset: u32,
}

/// Histogram handle within a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramId {
    pub(crate) group: u64,
    pub(crate) offset: u32,
    pub(crate) family: u32,
}

/// Self-observations of a group, exposed as `meshtel_metrics_*`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) overflowed: AtomicU64,
    pub(crate) truncated: AtomicU64,
    pub(crate) evicted: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct GroupInner {
    id: u64,
    pub(crate) name: Box<str>,
    pub(crate) labels: Box<[Box<str>]>,
    pub(crate) families: Box<[FamilyDesc]>,
    words: usize,
    stripes: usize,
    max_series: usize,
    max_label_len: usize,
    expire_after: Option<std::num::NonZeroU32>,
    hasher: foldhash::fast::RandomState,
    shards: Box<[Shard]>,
    series: AtomicUsize,
    overflow: OnceLock<Arc<Entry>>,
    pub(crate) stats: Stats,
    /// Serialises collection (histogram snapshots require it).
    pub(crate) collect: Mutex<()>,
}

/// A group of families sharing a label schema; cheap to clone.
///
/// ```
/// use meshtel_metrics::{Buckets, Desc, Format, Registry};
/// let registry = Registry::default();
/// let mut http = registry.group("http", &["reporter", "response_code"]);
/// let requests = http.counter(Desc::new("requests_total", "Requests."))?;
/// let duration = http.histogram(Desc::new("duration_milliseconds", "Duration.").unit("milliseconds"), Buckets::new(&[5.0, 50.0, 500.0])?)?;
/// let http = http.build()?;
///
/// // One-shot: no allocation once the series exists.
/// http.with_series(&["source", "200"], |s| {
///     s.inc(requests);
///     s.observe(duration, 12.0);
/// })?;
/// // Or keep a handle per connection.
/// let series = http.series(&["source", "503"])?;
/// series.inc(requests);
///
/// let text = registry.render_to_string(Format::Prometheus);
/// assert!(text.contains("requests_total{reporter=\"source\",response_code=\"200\"} 1\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Group {
    inner: Arc<GroupInner>,
}

impl Group {
    pub(crate) fn from_inner(inner: Arc<GroupInner>) -> Self {
        Self { inner }
    }

    /// Runs `f` on the series with these label values, creating it if needed
    /// (over the series limit: the overflow series). Takes no lock and
    /// allocates nothing when the series exists.
    ///
    /// # Errors
    /// [`LabelError::Arity`] when the number of values is not the schema's.
    #[inline]
    pub fn with_series<R>(&self, values: &[&str], f: impl FnOnce(SeriesRef<'_>) -> R) -> Result<R, LabelError> {
        let g = &*self.inner;
        g.check_arity(values)?;
        let hash = g.hash(values);
        let shard = g.shard(hash);
        {
            let table = shard.table.load();
            if let Some(entry) = table.find(hash, |e| e.matches(g.truncated(values))) {
                return Ok(f(SeriesRef { entry, group: g }));
            }
        }
        let entry = g.insert(hash, values);
        Ok(f(SeriesRef {
            entry: &entry,
            group: g,
        }))
    }

    /// A handle on the series with these label values, to keep (per
    /// connection, say) and record into without any lookup.
    ///
    /// # Errors
    /// [`LabelError::Arity`] when the number of values is not the schema's.
    pub fn series(&self, values: &[&str]) -> Result<Series, LabelError> {
        let g = &*self.inner;
        g.check_arity(values)?;
        let hash = g.hash(values);
        let found = g
            .shard(hash)
            .table
            .load()
            .find(hash, |e| e.matches(g.truncated(values)))
            .cloned();
        let entry = found.unwrap_or_else(|| g.insert(hash, values));
        Ok(Series {
            entry,
            group: Arc::clone(&self.inner),
        })
    }

    /// Series in the table (the overflow series not counted).
    #[must_use]
    pub fn series_count(&self) -> usize {
        self.inner.series.load(Ordering::Relaxed)
    }

    /// Approximate heap bytes held by this group's series.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        let mut total = 0;
        self.inner
            .for_each_entry(|e| total += e.heap_bytes() + size_of::<Entry>());
        total
    }
}

/// What a [`GroupBuilder`](crate::GroupBuilder) declared, for [`GroupInner::new`].
#[derive(Debug)]
pub(crate) struct GroupParts {
    pub(crate) id: u64,
    pub(crate) name: Box<str>,
    pub(crate) labels: Box<[Box<str>]>,
    pub(crate) families: Box<[FamilyDesc]>,
    pub(crate) words: usize,
    pub(crate) max_series: usize,
}

impl GroupInner {
    /// An empty group of these families under the registry's `config`.
    pub(crate) fn new(parts: GroupParts, config: &Config) -> Self {
        Self {
            id: parts.id,
            name: parts.name,
            labels: parts.labels,
            families: parts.families,
            words: parts.words,
            stripes: config.stripes,
            max_series: parts.max_series,
            max_label_len: config.max_label_value_len,
            expire_after: config.expire_after_sweeps,
            hasher: foldhash::fast::RandomState::default(),
            shards: (0..SHARDS)
                .map(|_| Shard {
                    table: ArcSwap::from_pointee(Table::default()),
                    write: Mutex::new(()),
                })
                .collect(),
            series: AtomicUsize::new(0),
            overflow: OnceLock::new(),
            stats: Stats::default(),
            collect: Mutex::new(()),
        }
    }

    pub(crate) fn series_count(&self) -> usize {
        self.series.load(Ordering::Relaxed)
    }

    #[inline]
    fn check_arity(&self, values: &[&str]) -> Result<(), LabelError> {
        if values.len() == self.labels.len() {
            Ok(())
        } else {
            Err(LabelError::Arity {
                expected: self.labels.len(),
                got: values.len(),
            })
        }
    }

    #[inline]
    fn truncated<'v>(&self, values: &'v [&'v str]) -> impl Iterator<Item = &'v str> + 'v {
        let max = self.max_label_len;
        values.iter().map(move |v| truncate(v, max))
    }

    /// Seeded hash of the (truncated) values: label values come from peers,
    /// so an unseeded hash would let them aim at one bucket.
    ///
    /// One `write` per value: foldhash rotates its state by each write's
    /// length, which separates ("ab", "c") from ("a", "bc") without the
    /// terminator byte `str::hash` adds (which doubled the dependent chain
    /// of multiplies). Lookups compare values exactly, so the hash only has
    /// to spread, not to be injective.
    ///
    /// Two lanes (even and odd labels) halve the latency of the chain of
    /// multiplies (measured: 163 → 148 ns per 25-label request; four lanes
    /// gained nothing more). Each lane starts from a different state, so
    /// moving a value to the other lane changes the hash.
    #[inline]
    fn hash(&self, values: &[&str]) -> u64 {
        let mut even = self.hasher.build_hasher();
        let mut odd = self.hasher.build_hasher();
        odd.write_u64(values.len() as u64);
        let mut pairs = values.chunks_exact(2);
        for pair in &mut pairs {
            even.write(truncate(pair[0], self.max_label_len).as_bytes());
            odd.write(truncate(pair[1], self.max_label_len).as_bytes());
        }
        if let [last] = pairs.remainder() {
            even.write(truncate(last, self.max_label_len).as_bytes());
        }
        even.finish() ^ odd.finish().rotate_left(32)
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Shard {
        // High bits: hashbrown uses the low ones (bucket) and the top seven (tag).
        &self.shards[(hash >> 40) as usize % SHARDS]
    }

    /// Creates the series (or finds it, created meanwhile), under the shard's
    /// write lock; over the limit returns the overflow series.
    #[cold]
    fn insert(&self, hash: u64, values: &[&str]) -> Arc<Entry> {
        let shard = self.shard(hash);
        let _write = shard.write.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let table = shard.table.load_full();
        if let Some(entry) = table.find(hash, |e| e.matches(self.truncated(values))) {
            return Arc::clone(entry);
        }
        if self
            .series
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_series).then_some(n + 1)
            })
            .is_err()
        {
            self.stats.overflowed.fetch_add(1, Ordering::Relaxed);
            return Arc::clone(self.overflow.get_or_init(|| {
                let values: Vec<&str> = vec![OVERFLOW_LABEL_VALUE; self.labels.len()];
                Arc::new(Entry::new(0, &self.labels, &values, self.words, self.stripes))
            }));
        }
        let truncated: Vec<&str> = self.truncated(values).collect();
        let cut = values
            .iter()
            .zip(&truncated)
            .filter(|(a, b)| a.len() != b.len())
            .count();
        if cut > 0 {
            self.stats.truncated.fetch_add(cut as u64, Ordering::Relaxed);
        }
        let entry = Arc::new(Entry::new(hash, &self.labels, &truncated, self.words, self.stripes));
        let mut next = Table::clone(&table);
        next.insert_unique(hash, Arc::clone(&entry), |e| e.hash);
        shard.table.store(Arc::new(next));
        entry
    }

    /// A series evicted while a handle still recorded into it: find or
    /// create its successor (same labels, fresh cells).
    #[cold]
    fn successor(&self, dead: &Entry) -> Arc<Entry> {
        let shard = self.shard(dead.hash);
        let guard = shard.write.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let table = shard.table.load_full();
        if let Some(entry) = table.find(dead.hash, |e| e.block == dead.block) {
            return Arc::clone(entry);
        }
        drop(guard);
        let values = dead.values();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        self.insert(dead.hash, &values)
    }

    /// The lock under which `entry`'s stripes are allocated.
    #[inline]
    fn stripe_lock(&self, entry: &Entry) -> &Mutex<()> {
        &self.shard(entry.hash).write
    }

    /// The cells this thread records into: for gauges the shared stripe,
    /// otherwise its own.
    #[inline]
    fn cells<'e>(&self, entry: &'e Entry, gauge: bool) -> Cells<'e> {
        let lock = self.stripe_lock(entry);
        if gauge {
            entry.shared_cells(lock)
        } else {
            entry.cells(lock)
        }
    }

    /// `dead` was evicted before this record: record into its successor.
    #[cold]
    fn record_into_successor(&self, dead: &Entry, gauge: bool, op: &dyn Fn(Cells<'_>)) {
        let mut entry = self.successor(dead);
        // The successor is fresh; another eviction before this record would
        // need whole sweep intervals to pass. Bounded anyway.
        for _ in 0..4 {
            let cells = self.cells(&entry, gauge);
            if Entry::enter(cells.words) {
                op(cells);
                return;
            }
            entry = self.successor(&entry);
        }
        op(self.cells(&entry, gauge));
    }

    pub(crate) fn for_each_entry(&self, mut f: impl FnMut(&Entry)) {
        for shard in &*self.shards {
            for entry in shard.table.load().iter() {
                f(entry);
            }
        }
        if let Some(overflow) = self.overflow.get() {
            f(overflow);
        }
    }

    /// One expiry sweep: series untouched for `expire_after` sweeps are
    /// removed. A record racing the sweep is either seen (the series stays)
    /// or sees the eviction and re-records into the successor; see
    /// [`Entry::try_evict`].
    pub(crate) fn sweep(&self) {
        let Some(limit) = self.expire_after else { return };
        for shard in &*self.shards {
            let _write = shard.write.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let table = shard.table.load_full();
            let mut doomed = Vec::new();
            for entry in table.iter() {
                if entry.take_touched() {
                    entry.idle_sweeps.store(0, Ordering::Relaxed);
                    continue;
                }
                let idle = entry.idle_sweeps.fetch_add(1, Ordering::Relaxed) + 1;
                if idle < limit.get() {
                    continue;
                }
                if entry.try_evict() {
                    doomed.push(Arc::clone(entry));
                } else {
                    entry.idle_sweeps.store(0, Ordering::Relaxed);
                }
            }
            if doomed.is_empty() {
                continue;
            }
            let mut next = Table::clone(&table);
            for entry in &doomed {
                if let Ok(found) = next.find_entry(entry.hash, |e| Arc::ptr_eq(e, entry)) {
                    found.remove();
                }
            }
            shard.table.store(Arc::new(next));
            self.series.fetch_sub(doomed.len(), Ordering::AcqRel);
            self.stats.evicted.fetch_add(doomed.len() as u64, Ordering::Relaxed);
        }
    }
}

/// A borrowed series, for one-shot recording inside
/// [`Group::with_series`].
#[derive(Debug, Clone, Copy)]
pub struct SeriesRef<'a> {
    entry: &'a Entry,
    group: &'a GroupInner,
}

/// An owned series handle: keep it (per connection) and record without
/// lookups.
///
/// If expiry evicts the series while a handle is held (it was idle for the
/// configured number of sweeps), the next record through the handle goes to
/// a successor series with the same labels, created afresh (subject to the
/// series limit): recorded values are never dropped, but an evicted
/// series' earlier totals are gone, which Prometheus reads as a counter
/// reset.
#[derive(Debug, Clone)]
pub struct Series {
    entry: Arc<Entry>,
    group: Arc<GroupInner>,
}

impl Series {
    /// The borrowed form.
    #[inline]
    #[must_use]
    pub fn as_ref(&self) -> SeriesRef<'_> {
        SeriesRef {
            entry: &self.entry,
            group: &self.group,
        }
    }

    /// See [`SeriesRef::inc`].
    #[inline]
    pub fn inc(&self, id: CounterId) {
        self.as_ref().inc(id);
    }

    /// See [`SeriesRef::add`].
    #[inline]
    pub fn add(&self, id: CounterId, n: u64) {
        self.as_ref().add(id, n);
    }

    /// See [`SeriesRef::observe`].
    #[inline]
    pub fn observe(&self, id: HistogramId, v: f64) {
        self.as_ref().observe(id, v);
    }

    /// See [`SeriesRef::set`].
    #[inline]
    pub fn set(&self, id: GaugeId, v: i64) {
        self.as_ref().set(id, v);
    }

    /// See [`SeriesRef::set_f64`].
    #[inline]
    pub fn set_f64(&self, id: FloatGaugeId, v: f64) {
        self.as_ref().set_f64(id, v);
    }
}

impl SeriesRef<'_> {
    #[inline]
    fn check(&self, group: u64) {
        assert_eq!(
            group, self.group.id,
            "metric handle used with a series of another group"
        );
    }

    /// Applies `op` to this thread's cells (the shared stripe for gauges),
    /// with the expiry protocol around it when expiry is on.
    #[inline]
    fn record(&self, gauge: bool, op: impl Fn(Cells<'_>)) {
        let g = self.group;
        let cells = g.cells(self.entry, gauge);
        if g.expire_after.is_none() || Entry::enter(cells.words) {
            op(cells);
            return;
        }
        g.record_into_successor(self.entry, gauge, &op);
    }

    /// Adds 1 to a counter.
    ///
    /// # Panics
    /// If `id` belongs to another group.
    #[inline]
    pub fn inc(&self, id: CounterId) {
        self.add(id, 1);
    }

    /// Adds `n` to a counter.
    ///
    /// # Panics
    /// If `id` belongs to another group.
    #[inline]
    pub fn add(&self, id: CounterId, n: u64) {
        self.check(id.group);
        self.record(false, |cells| cells.add(id.offset as usize, n));
    }

    /// Records `v` in a histogram. NaN is ignored (it belongs to no bucket).
    ///
    /// # Panics
    /// If `id` belongs to another group.
    #[inline]
    pub fn observe(&self, id: HistogramId, v: f64) {
        self.check(id.group);
        if v.is_nan() {
            return;
        }
        let family = &self.group.families[id.family as usize];
        if let Some(buckets) = &family.buckets {
            let bucket = buckets.index(v);
            let len = histogram::cell_len(buckets.len());
            self.record(false, |cells| cells.observe(id.offset as usize, len, bucket, v));
        }
        if let Some(cfg) = &family.native {
            // Native cells live in the shared stripe: their rescale protocol
            // needs every observation of a series in one cell.
            let (offset, len) = (family.native_offset, native::cell_len(cfg.get_max_buckets()));
            self.record(true, |cells| {
                native::observe(&cells.words[offset..offset + len], cfg, v);
            });
        }
    }

    /// Sets an integer gauge.
    ///
    /// # Panics
    /// If `id` belongs to another group.
    #[inline]
    pub fn set(&self, id: GaugeId, v: i64) {
        self.check(id.group);
        self.record(true, |cells| {
            cells.words[id.offset as usize].store(v as u64, Ordering::Relaxed);
        });
    }

    /// Adds `d` (possibly negative) to an integer gauge.
    ///
    /// # Panics
    /// If `id` belongs to another group.
    #[inline]
    pub fn add_gauge(&self, id: GaugeId, d: i64) {
        self.check(id.group);
        // Two's complement: adding the bits adds the signed values.
        self.record(true, |cells| {
            cells.words[id.offset as usize].fetch_add(d as u64, Ordering::Relaxed);
        });
    }

    /// Sets a float gauge.
    ///
    /// # Panics
    /// If `id` belongs to another group.
    #[inline]
    pub fn set_f64(&self, id: FloatGaugeId, v: f64) {
        self.check(id.group);
        self.record(true, |cells| {
            cells.words[id.offset as usize].store(v.to_bits(), Ordering::Relaxed);
        });
    }
}
