//! Registry-wide limits and settings.

use std::num::NonZeroU32;

/// Registry-wide limits and settings.
///
/// Start from [`Config::default`] and change what you need with the `with_*`
/// methods; the fields are public to read. More settings may come, so the
/// struct cannot be built with a literal outside this crate.
///
/// ```
/// use meshtel_metrics::{Config, Registry};
/// use std::num::NonZeroU32;
/// let registry = Registry::new(Config::default().with_max_series(5_000).with_expire_after_sweeps(NonZeroU32::new(3)));
/// assert_eq!(registry.config().max_series, 5_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Most series per group; later label sets record into the group's
    /// overflow series (every label [`OVERFLOW_LABEL_VALUE`](crate::OVERFLOW_LABEL_VALUE)),
    /// counted by `meshtel_metrics_overflow_records_total`. Default 20 000.
    pub max_series: usize,
    /// Longest label value kept, in bytes; longer values are cut at the last
    /// character boundary within the limit, so values that differ only
    /// beyond it share a series (series created from cut values are counted
    /// by `meshtel_metrics_truncated_label_values_total`). Default 1024.
    pub max_label_value_len: usize,
    /// Evict series not recorded into for this many consecutive
    /// [`Registry::sweep`](crate::Registry::sweep)s. Default `None`: never.
    pub expire_after_sweeps: Option<NonZeroU32>,
    /// Owned cell stripes per series, at most 64. Each recording thread
    /// holds a process-wide slot number while it lives (the lowest free one,
    /// claimed when it first records); the thread with slot `k < stripes`
    /// records into its own stripe of each series with plain loads and
    /// stores, other threads into one shared stripe with atomic
    /// read-modify-writes. Stripes are allocated when first recorded into.
    /// `0` makes every thread use the shared stripe. Default: twice the
    /// machine's parallelism.
    pub stripes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_series: 20_000,
            max_label_value_len: 1024,
            expire_after_sweeps: None,
            stripes: crate::series::default_stripes(),
        }
    }
}

impl Config {
    /// Sets [`Config::max_series`] (at least 1 is kept).
    #[must_use]
    pub fn with_max_series(mut self, max_series: usize) -> Self {
        self.max_series = max_series;
        self
    }

    /// Sets [`Config::max_label_value_len`] (at least 1 is kept).
    #[must_use]
    pub fn with_max_label_value_len(mut self, max_label_value_len: usize) -> Self {
        self.max_label_value_len = max_label_value_len;
        self
    }

    /// Sets [`Config::expire_after_sweeps`].
    #[must_use]
    pub fn with_expire_after_sweeps(mut self, sweeps: Option<NonZeroU32>) -> Self {
        self.expire_after_sweeps = sweeps;
        self
    }

    /// Sets [`Config::stripes`] (at most 64 are kept).
    #[must_use]
    pub fn with_stripes(mut self, stripes: usize) -> Self {
        self.stripes = stripes;
        self
    }
}
