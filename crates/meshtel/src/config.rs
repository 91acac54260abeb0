//! The plugin configuration, with Istio's field names (`docs/reference/telemetry.md` §9.1),
//! from JSON or YAML, and back to JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use meshtel_expr::Dialect;
use serde::de::{self, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Errors of loading or applying a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not valid JSON/YAML for the schema (unknown fields included).
    #[error("invalid plugin configuration: {0}")]
    Parse(String),
    /// A `histogram_buckets` entry is invalid.
    #[error("histogram_buckets[{prefix:?}]: {reason}")]
    Buckets {
        /// The prefix of the entry.
        prefix: String,
        /// What is wrong.
        reason: String,
    },
    /// `metrics[index].match` is set (not implemented upstream; refused, T7).
    #[error("metrics[{0}].match is not supported; remove it")]
    Match(usize),
    /// A custom metric name is not a valid Prometheus name or collides with `istio_build` (T10).
    #[error("definitions[{index}]: invalid metric name {name:?}: {reason}")]
    MetricName {
        /// Index in `definitions`.
        index: usize,
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A metric ends up with more labels than the plugin supports.
    #[error("metric {metric} would have {count} labels; at most {max} are supported")]
    TooManyLabels {
        /// The exposed metric name.
        metric: String,
        /// The label count.
        count: usize,
        /// The maximum.
        max: usize,
    },
    /// The metrics registry refused a metric (a name already registered, say).
    #[error("metrics registry: {0}")]
    Registry(#[from] meshtel_metrics::RegistryError),
}

/// `reporter` (field 10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReporterConfig {
    /// `UNSPECIFIED` (0): the direction the embedder passes decides.
    #[default]
    Unspecified,
    /// `SERVER_GATEWAY` (1): the waypoint reporter, whatever the direction.
    ServerGateway,
}

/// A proto enum given by name or by number, as proto-JSON allows.
fn proto_enum<'de, D: Deserializer<'de>, T: Copy>(d: D, values: &[(&str, i64, T)]) -> Result<T, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Name(String),
        Number(i64),
    }
    let raw = Raw::deserialize(d)?;
    let found = values.iter().find(|(name, number, _)| match &raw {
        Raw::Name(n) => n == name,
        Raw::Number(n) => n == number,
    });
    found.map(|(_, _, v)| *v).ok_or_else(|| {
        let given = match raw {
            Raw::Name(n) => format!("{n:?}"),
            Raw::Number(n) => n.to_string(),
        };
        let expected: Vec<String> = values
            .iter()
            .map(|(name, number, _)| format!("{name} ({number})"))
            .collect();
        de::Error::custom(format!(
            "unknown value {given}: expected one of {}",
            expected.join(", ")
        ))
    })
}

impl ReporterConfig {
    const fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::ServerGateway => "SERVER_GATEWAY",
        }
    }

    fn is_unspecified(&self) -> bool {
        *self == Self::Unspecified
    }
}

impl Serialize for ReporterConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ReporterConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        proto_enum(
            d,
            &[
                ("UNSPECIFIED", 0, Self::Unspecified),
                ("SERVER_GATEWAY", 1, Self::ServerGateway),
            ],
        )
    }
}

/// The type of a custom metric.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetricType {
    /// `COUNTER` (0): adds the value.
    #[default]
    Counter,
    /// `GAUGE` (1): sets the value.
    Gauge,
    /// `HISTOGRAM` (2): records the value (bytes unit, default buckets).
    Histogram,
}

impl Serialize for MetricType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Self::Counter => "COUNTER",
            Self::Gauge => "GAUGE",
            Self::Histogram => "HISTOGRAM",
        })
    }
}

impl<'de> Deserialize<'de> for MetricType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        proto_enum(
            d,
            &[
                ("COUNTER", 0, Self::Counter),
                ("GAUGE", 1, Self::Gauge),
                ("HISTOGRAM", 2, Self::Histogram),
            ],
        )
    }
}

/// One `metrics` entry (`MetricConfig`). Serialised with the fields at their default left
/// out, as protobuf's JSON mapping does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MetricConfig {
    /// Tag → expression: set a standard tag or add a new one. Applied in ascending tag order.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    /// The short metric name, a Telemetry API name (`REQUEST_COUNT`, …), a custom metric
    /// name, or `""` for all metrics.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Standard tags to remove.
    #[serde(alias = "tagsToRemove", skip_serializing_if = "Vec::is_empty")]
    pub tags_to_remove: Vec<String>,
    /// Not supported: a non-empty value is a configuration error (T7).
    #[serde(rename = "match", skip_serializing_if = "String::is_empty")]
    pub match_: String,
    /// Do not record the named standard metric.
    #[serde(skip_serializing_if = "is_false")]
    pub drop: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl MetricConfig {
    /// An entry for the metric `name` (`""`: all metrics) that changes nothing yet.
    ///
    /// ```
    /// let mut entry = meshtel::MetricConfig::named("requests_total");
    /// entry.tags_to_remove.push("response_flags".into());
    /// assert_eq!(entry.name, "requests_total");
    /// ```
    #[must_use]
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// One `definitions` entry (`MetricDefinition`): a custom metric.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MetricDefinition {
    /// Exposed as `istio_<name>`.
    pub name: String,
    /// The value expression; its result is read as an unsigned decimal integer.
    pub value: String,
    /// COUNTER, GAUGE or HISTOGRAM.
    #[serde(rename = "type")]
    pub metric_type: MetricType,
}

/// `"cel"` or `"mixer"`.
fn dialect<'de, D: Deserializer<'de>>(d: D) -> Result<Dialect, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(de::Error::custom)
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "serde's skip_serializing_if signature")]
fn is_cel(d: &Dialect) -> bool {
    *d == Dialect::Cel
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "serde's serialize_with signature")]
fn serialize_dialect<S: Serializer>(d: &Dialect, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.name())
}

/// A proto-JSON duration: `"5s"`, `"0.5s"`, `"-1s"`.
fn proto_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i128>, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map(Some).ok_or_else(|| {
        de::Error::custom(format!(
            "invalid duration {s:?}: expected a proto-JSON duration such as \"5s\" or \"0.5s\""
        ))
    })
}

/// A proto-JSON duration (`"5s"`, `"0.5s"`, `"-1s"`) in nanoseconds; `None` if it is not one.
pub(crate) fn parse_duration(s: &str) -> Option<i128> {
    let body = s.strip_suffix('s')?;
    let (neg, body) = body.strip_prefix('-').map_or((false, body), |b| (true, b));
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 9
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: i128 = int.parse().ok()?;
    let nanos: i128 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    // More seconds than nanoseconds in an i128 is refused, not wrapped (found by fuzzing).
    let total = secs.checked_mul(1_000_000_000)?.checked_add(nanos)?;
    Some(if neg { -total } else { total })
}

/// A duration in nanoseconds as proto-JSON text: `"5s"`, `"0.500s"`, `"-1.000000001s"`
/// (0, 3, 6 or 9 fractional digits, as protobuf writes them).
pub(crate) fn duration_text(nanos: i128) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    let (secs, frac) = (abs / 1_000_000_000, abs % 1_000_000_000);
    match frac {
        0 => format!("{sign}{secs}s"),
        f if f % 1_000_000 == 0 => format!("{sign}{secs}.{:03}s", f / 1_000_000),
        f if f % 1_000 == 0 => format!("{sign}{secs}.{:06}s", f / 1_000),
        f => format!("{sign}{secs}.{f:09}s"),
    }
}

#[expect(
    clippy::ref_option,
    reason = "serde's serialize_with passes a reference to the field"
)]
fn serialize_duration<S: Serializer>(nanos: &Option<i128>, s: S) -> Result<S::Ok, S::Error> {
    match nanos {
        Some(n) => s.serialize_str(&duration_text(*n)),
        None => s.serialize_none(),
    }
}

/// The plugin configuration (`stats.PluginConfig`), with upstream's field names (`snake_case`;
/// the lowerCamelCase spellings are accepted too). Unknown fields are errors.
///
/// It serialises back to JSON with the `snake_case` names, leaving out the fields at their
/// default (as protobuf's JSON mapping does: the default configuration is `{}`) and the
/// ignored deprecated fields; [`PluginConfig::to_json`] is the shortcut.
///
/// ```
/// use meshtel::PluginConfig;
/// let config = PluginConfig::from_yaml(r#"
/// tcp_reporting_duration: 10s
/// metrics:
///   - name: request_bytes
///     drop: true
///   - tags_to_remove: [response_flags]
///   - name: requests_total
///     dimensions:
///       request_host: 'has(request.host) ? request.host : "unknown"'
/// definitions:
///   - name: streams
///     value: "1"
///     type: COUNTER
/// "#)?;
/// assert_eq!(config.reporting_period(), Some(std::time::Duration::from_secs(10)));
/// # Ok::<(), meshtel::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PluginConfig {
    /// Do not use the `Host` header for `destination_service`
    /// (`docs/reference/telemetry.md` §4.3).
    #[serde(alias = "disableHostHeaderFallback", skip_serializing_if = "is_false")]
    pub disable_host_header_fallback: bool,
    /// Period of TCP and gRPC periodic reports, in nanoseconds; default 5 s, ≤ 0 disables.
    #[serde(
        alias = "tcpReportingDuration",
        deserialize_with = "proto_duration",
        serialize_with = "serialize_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub tcp_reporting_duration: Option<i128>,
    /// Overrides, applied in order (`docs/reference/telemetry.md` §9.3).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricConfig>,
    /// Custom metrics (`docs/reference/telemetry.md` §9.2).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub definitions: Vec<MetricDefinition>,
    /// `SERVER_GATEWAY` makes the plugin a waypoint reporter.
    #[serde(skip_serializing_if = "ReporterConfig::is_unspecified")]
    pub reporter: ReporterConfig,
    /// The language of `dimensions` and `definitions[].value`: `"cel"` (the default, as
    /// upstream today) or `"mixer"` for 1.5-era configurations. A meshtel extension: upstream
    /// speaks only CEL.
    #[serde(
        alias = "expressionLanguage",
        deserialize_with = "dialect",
        serialize_with = "serialize_dialect",
        skip_serializing_if = "is_cel"
    )]
    pub expression_language: Dialect,
    /// Histogram bucket overrides: exposed-name prefix → bounds (`istiocustom` matches every
    /// `istio_*` metric); the longest matching prefix wins (T5).
    #[serde(alias = "histogramBuckets", skip_serializing_if = "BTreeMap::is_empty")]
    pub histogram_buckets: BTreeMap<String, Vec<f64>>,
    /// Deprecated; ignored.
    #[serde(alias = "rotationInterval", skip_serializing)]
    rotation_interval: Option<IgnoredAny>,
    /// Deprecated; ignored.
    #[serde(alias = "gracefulDeletionInterval", skip_serializing)]
    graceful_deletion_interval: Option<IgnoredAny>,
    // Wasm-era fields 1–5: accepted and ignored with a warning (T6).
    #[serde(skip_serializing)]
    debug: Option<IgnoredAny>,
    #[serde(alias = "maxPeerCacheSize", skip_serializing)]
    max_peer_cache_size: Option<IgnoredAny>,
    #[serde(alias = "statPrefix", skip_serializing)]
    stat_prefix: Option<IgnoredAny>,
    #[serde(alias = "fieldSeparator", skip_serializing)]
    field_separator: Option<IgnoredAny>,
    #[serde(alias = "valueSeparator", skip_serializing)]
    value_separator: Option<IgnoredAny>,
}

impl PluginConfig {
    /// Reads a configuration from JSON.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] naming the field and position.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Reads a configuration from YAML (JSON is YAML too).
    ///
    /// # Errors
    /// [`ConfigError::Parse`] naming the field and position.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// The configuration as JSON text with upstream's field names (`{}` for the default);
    /// [`PluginConfig::from_json`] reads it back to an equal configuration.
    ///
    /// ```
    /// let config = meshtel::PluginConfig::from_yaml("tcp_reporting_duration: 0.5s")?;
    /// assert_eq!(config.to_json(), r#"{"tcp_reporting_duration":"0.500s"}"#);
    /// assert_eq!(meshtel::PluginConfig::default().to_json(), "{}");
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    #[must_use]
    pub fn to_json(&self) -> String {
        // Strings, booleans, maps with string keys and sequences: serde_json cannot fail here.
        serde_json::to_string(self).unwrap_or_else(|e| unreachable!("PluginConfig serialises: {e}"))
    }

    /// Reads a configuration from an already parsed JSON value.
    ///
    /// # Errors
    /// [`ConfigError::Parse`].
    pub fn from_value(value: serde_json::Value) -> Result<Self, ConfigError> {
        serde_json::from_value(value).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// The reporting period: `None` when `tcp_reporting_duration` ≤ 0 (T2); 5 s by default.
    #[must_use]
    pub fn reporting_period(&self) -> Option<Duration> {
        match self.tcp_reporting_duration {
            None => Some(Duration::from_secs(5)),
            Some(n) if n <= 0 => None,
            Some(n) => Some(Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))),
        }
    }

    /// Warnings about accepted-but-ignored fields (T6).
    pub(crate) fn ignored_fields(&self) -> Vec<&'static str> {
        [
            ("debug", self.debug.is_some()),
            ("max_peer_cache_size", self.max_peer_cache_size.is_some()),
            ("stat_prefix", self.stat_prefix.is_some()),
            ("field_separator", self.field_separator.is_some()),
            ("value_separator", self.value_separator.is_some()),
            ("rotation_interval", self.rotation_interval.is_some()),
            ("graceful_deletion_interval", self.graceful_deletion_interval.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}
