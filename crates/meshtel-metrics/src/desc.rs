//! Metric descriptions and their validation.

use crate::Buckets;
use crate::expo::Kind;
use crate::native::NativeBuckets;

/// Why a metric, label or group could not be registered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Not `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("invalid metric name {0:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*")]
    InvalidMetricName(String),
    /// Not `[a-zA-Z_][a-zA-Z0-9_]*`, or reserved (`__` prefix, `le` on a histogram).
    #[error(
        "invalid label name {0:?}: must match [a-zA-Z_][a-zA-Z0-9_]*, not start with __, and not be `le` in a histogram"
    )]
    InvalidLabelName(String),
    /// The same label twice in one schema.
    #[error("duplicate label name {0:?}")]
    DuplicateLabel(String),
    /// A family with this name (or exposed name) exists.
    #[error("metric {0:?} is already registered")]
    Duplicate(String),
    /// A unit that is not `[a-z0-9_]+`, or a name that does not end with `_<unit>`.
    #[error("unit {unit:?} does not fit metric {name:?}: the name must end with _{unit} and the unit match [a-z0-9_]+")]
    InvalidUnit {
        /// The metric name.
        name: String,
        /// The unit.
        unit: String,
    },
    /// Bad histogram bounds.
    #[error(transparent)]
    Buckets(#[from] crate::BucketsError),
    /// A group with no families.
    #[error("group {0:?} has no metric families")]
    EmptyGroup(String),
}

/// Why label values were rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// The number of values differs from the schema.
    #[error("{got} label values given, the schema has {expected} labels")]
    Arity {
        /// Labels in the schema.
        expected: usize,
        /// Values given.
        got: usize,
    },
}

/// Name, help and optional unit of a metric family.
///
/// ```
/// use meshtel_metrics::Desc;
/// let d = Desc::new("istio_request_duration_milliseconds", "Request duration.").unit("milliseconds");
/// assert_eq!(d.name(), "istio_request_duration_milliseconds");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desc {
    name: String,
    help: String,
    unit: Option<String>,
}

impl Desc {
    /// A description. Counters may be named with or without `_total`; the
    /// sample name always ends in `_total`.
    #[must_use]
    pub fn new(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            help: help.into(),
            unit: None,
        }
    }

    /// Sets the unit (OpenMetrics `# UNIT`); the name must end with `_<unit>`
    /// (before any `_total`).
    #[must_use]
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// The name as given.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One validated family of a group.
#[derive(Debug)]
pub(crate) struct FamilyDesc {
    /// Family name: for counters without `_total`.
    pub(crate) base: Box<str>,
    pub(crate) help: Box<str>,
    pub(crate) unit: Option<Box<str>>,
    pub(crate) kind: Kind,
    pub(crate) float_gauge: bool,
    /// Classic buckets (a histogram has these, native buckets, or both).
    pub(crate) buckets: Option<Buckets>,
    /// Native (exponential) buckets.
    pub(crate) native: Option<NativeBuckets>,
    /// Offset of the family's cell in each stripe's slab.
    pub(crate) offset: usize,
    /// Offset of the native histogram's cell (in the shared stripe).
    pub(crate) native_offset: usize,
}

impl FamilyDesc {
    pub(crate) fn new(desc: Desc, kind: Kind, buckets: Option<Buckets>, offset: usize) -> Result<Self, RegistryError> {
        if !valid_metric_name(&desc.name) {
            return Err(RegistryError::InvalidMetricName(desc.name));
        }
        let base = match kind {
            Kind::Counter => desc.name.strip_suffix("_total").unwrap_or(&desc.name),
            _ => &desc.name,
        };
        if base.is_empty() {
            return Err(RegistryError::InvalidMetricName(desc.name));
        }
        if let Some(unit) = &desc.unit {
            let ok = !unit.is_empty()
                && unit
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                && base.strip_suffix(unit.as_str()).is_some_and(|rest| rest.ends_with('_'));
            if !ok {
                return Err(RegistryError::InvalidUnit {
                    name: desc.name,
                    unit: unit.clone(),
                });
            }
        }
        Ok(Self {
            base: base.into(),
            help: desc.help.into(),
            unit: desc.unit.map(Into::into),
            kind,
            float_gauge: false,
            buckets,
            native: None,
            offset,
            native_offset: 0,
        })
    }

    /// Every sample name this family exposes, for collision checks.
    pub(crate) fn exposed_names(&self) -> Vec<String> {
        match self.kind {
            Kind::Counter => vec![format!("{}_total", self.base), self.base.to_string()],
            Kind::Gauge => vec![self.base.to_string()],
            Kind::Histogram => ["", "_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{}{s}", self.base))
                .collect(),
        }
    }
}

pub(crate) fn valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

pub(crate) fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.starts_with("__")
}
