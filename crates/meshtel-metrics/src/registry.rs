//! The registry: how groups are declared and registered, the limits they
//! live under, expiry sweeps, and rendering them all.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::config::Config;
use crate::desc::{Desc, FamilyDesc, RegistryError, valid_label_name};
use crate::expo::{Format, Kind};
use crate::group::{CounterId, FloatGaugeId, GaugeId, Group, GroupInner, GroupParts, HistogramId};
use crate::histogram::{self, Buckets};
use crate::native::{self, NativeBuckets};
use crate::render;

#[derive(Debug)]
struct RegistryInner {
    config: Config,
    groups: RwLock<Vec<Arc<GroupInner>>>,
    names: Mutex<HashSet<String>>,
}

/// A set of metric groups rendered together; cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Registry {
    /// A registry with these limits.
    #[must_use]
    pub fn new(mut config: Config) -> Self {
        config.stripes = config.stripes.min(crate::series::slot::MAX);
        config.max_series = config.max_series.max(1);
        config.max_label_value_len = config.max_label_value_len.max(1);
        Self {
            inner: Arc::new(RegistryInner {
                config,
                groups: RwLock::default(),
                names: Mutex::default(),
            }),
        }
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Starts a group of families sharing the label schema `labels` (in
    /// exposition order). Label names are checked here; errors surface from
    /// the builder's methods.
    #[must_use]
    pub fn group(&self, name: &str, labels: &[&str]) -> GroupBuilder {
        GroupBuilder::new(self.clone(), name, labels, &self.inner.config)
    }

    pub(crate) fn register(&self, group: Arc<GroupInner>) -> Result<(), RegistryError> {
        let mut names = self.inner.names.lock().unwrap_or_else(PoisonError::into_inner);
        let exposed: Vec<String> = group.families.iter().flat_map(FamilyDesc::exposed_names).collect();
        if let Some(taken) = exposed
            .iter()
            .find(|n| names.contains(*n) || n.starts_with("meshtel_metrics_"))
        {
            return Err(RegistryError::Duplicate(taken.clone()));
        }
        let mut seen = HashSet::new();
        if let Some(dup) = exposed.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(RegistryError::Duplicate(dup.clone()));
        }
        names.extend(exposed);
        self.inner
            .groups
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(group);
        Ok(())
    }

    /// One expiry sweep over every group (a no-op unless
    /// [`Config::expire_after_sweeps`] is set). Call it at a fixed interval;
    /// the crate reads no clock.
    pub fn sweep(&self) {
        for group in self.groups() {
            group.sweep();
        }
    }

    pub(crate) fn groups(&self) -> Vec<Arc<GroupInner>> {
        self.inner.groups.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Renders every family, streaming into `out` a few kilobytes at a time.
    ///
    /// # Errors
    /// Only those of `out`.
    pub fn render(&self, format: Format, out: &mut impl std::io::Write) -> std::io::Result<()> {
        #[cfg(feature = "protobuf")]
        if format == Format::Protobuf {
            return crate::protobuf::render(self, out);
        }
        self.render_with(format, &mut |chunk: &str| out.write_all(chunk.as_bytes()))
    }

    /// [`Registry::render`] into a `core::fmt::Write`, for the text formats.
    ///
    /// # Errors
    /// Those of `out`; `core::fmt::Error` for the binary `Format::Protobuf`
    /// (feature `protobuf`).
    pub fn render_fmt(&self, format: Format, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        #[cfg(feature = "protobuf")]
        if format == Format::Protobuf {
            return Err(core::fmt::Error);
        }
        self.render_with(format, &mut |chunk: &str| out.write_str(chunk))
    }

    /// Renders a text format into a new string (empty for the binary
    /// `Format::Protobuf`; render that with [`Registry::render`]).
    #[must_use]
    pub fn render_to_string(&self, format: Format) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.render_fmt(format, &mut out);
        out
    }

    fn render_with<E>(&self, format: Format, sink: &mut impl FnMut(&str) -> Result<(), E>) -> Result<(), E> {
        render::render_groups(&self.groups(), format, sink)
    }
}

/// Declares the families of a group; see [`Registry::group`].
#[derive(Debug)]
pub struct GroupBuilder {
    registry: Registry,
    id: u64,
    name: String,
    labels: Vec<Box<str>>,
    families: Vec<FamilyDesc>,
    words: usize,
    max_series: usize,
    error: Option<RegistryError>,
}

impl GroupBuilder {
    pub(crate) fn new(registry: Registry, name: &str, labels: &[&str], config: &Config) -> Self {
        // Process-wide, so an id never matches another registry's group. A static,
        // so std's atomic even under loom (whose atomics cannot be statics); no
        // modelled protocol reads it.
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let mut error = None;
        for (i, label) in labels.iter().enumerate() {
            if !valid_label_name(label) {
                error.get_or_insert_with(|| RegistryError::InvalidLabelName((*label).into()));
            } else if labels[..i].contains(label) {
                error.get_or_insert_with(|| RegistryError::DuplicateLabel((*label).into()));
            }
        }
        Self {
            registry,
            id: NEXT_ID.fetch_add(1, AtomicOrdering::Relaxed),
            name: name.into(),
            labels: labels.iter().map(|l| (*l).into()).collect(),
            families: Vec::new(),
            // Word 0 of every stripe is the touched flag.
            words: 1,
            max_series: config.max_series,
            error,
        }
    }

    /// Overrides the registry's series limit for this group.
    #[must_use]
    pub fn max_series(mut self, max: usize) -> Self {
        self.max_series = max.max(1);
        self
    }

    fn add(&mut self, desc: Desc, kind: Kind, buckets: Option<Buckets>, words: usize) -> Result<u32, RegistryError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let family = FamilyDesc::new(desc, kind, buckets, self.words)?;
        let offset = self.words as u32;
        self.words += words;
        self.families.push(family);
        Ok(offset)
    }

    /// Adds a counter family (`u64`).
    ///
    /// # Errors
    /// [`RegistryError`] for an invalid name or unit, or an invalid label schema.
    pub fn counter(&mut self, desc: Desc) -> Result<CounterId, RegistryError> {
        let offset = self.add(desc, Kind::Counter, None, 1)?;
        Ok(CounterId { group: self.id, offset })
    }

    /// Adds an integer gauge family (`i64`).
    ///
    /// # Errors
    /// As [`GroupBuilder::counter`].
    pub fn gauge(&mut self, desc: Desc) -> Result<GaugeId, RegistryError> {
        let offset = self.add(desc, Kind::Gauge, None, 1)?;
        Ok(GaugeId { group: self.id, offset })
    }

    /// Adds a float gauge family (`f64`).
    ///
    /// # Errors
    /// As [`GroupBuilder::counter`].
    pub fn float_gauge(&mut self, desc: Desc) -> Result<FloatGaugeId, RegistryError> {
        let offset = self.add(desc, Kind::Gauge, None, 1)?;
        if let Some(f) = self.families.last_mut() {
            f.float_gauge = true;
        }
        Ok(FloatGaugeId { group: self.id, offset })
    }

    /// Adds a histogram family with these bucket bounds.
    ///
    /// # Errors
    /// As [`GroupBuilder::counter`]; also a label named `le`.
    pub fn histogram(&mut self, desc: Desc, buckets: Buckets) -> Result<HistogramId, RegistryError> {
        self.add_histogram(desc, Some(buckets), None)
    }

    /// Adds a native histogram family (exponential buckets, see
    /// [`NativeBuckets`]): exposed by [`Format::Protobuf`](crate::Format)
    /// (feature `protobuf`), remote write and OTLP; the text formats show
    /// only its `+Inf` bucket, sum and count.
    ///
    /// ```
    /// use meshtel_metrics::{Desc, NativeBuckets, Registry};
    /// let registry = Registry::default();
    /// let mut g = registry.group("rpc", &["method"]);
    /// let latency = g.native_histogram(Desc::new("rpc_seconds", "Latency."), NativeBuckets::new(3)?)?;
    /// let g = g.build()?;
    /// g.with_series(&["get"], |s| s.observe(latency, 0.25))?;
    /// assert!(registry.render_to_string(Default::default()).contains("rpc_seconds_count{method=\"get\"} 1\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`GroupBuilder::histogram`].
    pub fn native_histogram(&mut self, desc: Desc, native: NativeBuckets) -> Result<HistogramId, RegistryError> {
        self.add_histogram(desc, None, Some(native))
    }

    /// Adds a histogram family with classic buckets and native buckets side
    /// by side (as the Prometheus clients allow): each observation counts in
    /// both; the text formats show the classic buckets, the protobuf
    /// exposition both, remote write and OTLP each as its own series.
    ///
    /// # Errors
    /// As [`GroupBuilder::histogram`].
    pub fn histogram_with_native(
        &mut self,
        desc: Desc,
        buckets: Buckets,
        native: NativeBuckets,
    ) -> Result<HistogramId, RegistryError> {
        self.add_histogram(desc, Some(buckets), Some(native))
    }

    fn add_histogram(
        &mut self,
        desc: Desc,
        buckets: Option<Buckets>,
        native: Option<NativeBuckets>,
    ) -> Result<HistogramId, RegistryError> {
        if self.labels.iter().any(|l| &**l == "le") {
            return Err(RegistryError::InvalidLabelName("le".into()));
        }
        let classic_words = buckets.as_ref().map_or(0, |b| histogram::cell_len(b.len()));
        let native_words = native.as_ref().map_or(0, |n| native::cell_len(n.get_max_buckets()));
        let family = self.families.len() as u32;
        let offset = self.add(desc, Kind::Histogram, buckets, classic_words + native_words)?;
        if let Some(f) = self.families.last_mut() {
            f.native = native;
            f.native_offset = offset as usize + classic_words;
        }
        Ok(HistogramId {
            group: self.id,
            offset,
            family,
        })
    }

    /// Registers the group; from now on it records and renders.
    ///
    /// # Errors
    /// [`RegistryError::Duplicate`] when a family's exposed name is taken,
    /// [`RegistryError::EmptyGroup`] without families, or an error of an
    /// earlier declaration.
    pub fn build(self) -> Result<Group, RegistryError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.families.is_empty() {
            return Err(RegistryError::EmptyGroup(self.name));
        }
        let parts = GroupParts {
            id: self.id,
            name: self.name.into(),
            labels: self.labels.into_boxed_slice(),
            families: self.families.into_boxed_slice(),
            words: self.words,
            max_series: self.max_series,
        };
        let inner = Arc::new(GroupInner::new(parts, self.registry.config()));
        self.registry.register(Arc::clone(&inner))?;
        Ok(Group::from_inner(inner))
    }
}
