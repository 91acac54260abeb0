//! Istio's Telemetry API — `Telemetry` resources of `telemetry.istio.io/v1` and `v1alpha1` —
//! and the [`PluginConfig`] istiod generates from them for one listener's stats filter
//! (`docs/telemetry-api.md`).
//!
//! [`parse_yaml`] reads the resources from YAML (several documents, `---` separated);
//! [`plugin_config`] picks the ones that apply to a workload, merges their `metrics` in
//! istiod's order and translates the result for an inbound (`SERVER`) or outbound (`CLIENT`)
//! listener. Only the `prometheus` provider is in scope: a `metrics` entry counts when it
//! names `prometheus` or names no provider (it then inherits its parent's, down to the
//! default provider, `prometheus`). Tag values are expressions (CEL upstream) passed through
//! as text.
//!
//! ```
//! use meshtel::telemetry::{ListenerDirection, Workload, parse_yaml, plugin_config};
//!
//! let docs = parse_yaml(r#"
//! apiVersion: telemetry.istio.io/v1
//! kind: Telemetry
//! metadata: {name: mesh-default, namespace: istio-system}
//! spec:
//!   metrics:
//!   - overrides:
//!     - match: {metric: REQUEST_COUNT, mode: SERVER}
//!       tagOverrides:
//!         request_host: {value: request.host}
//! "#)?;
//! let workload = Workload::new("shop", [("app", "cart")]);
//! let inbound = plugin_config(&docs.telemetries, "istio-system", &workload, ListenerDirection::Inbound);
//! assert_eq!(
//!     inbound.unwrap().to_json(),
//!     r#"{"disable_host_header_fallback":true,"metrics":[{"dimensions":{"request_host":"request.host"},"name":"requests_total"}]}"#
//! );
//! let outbound = plugin_config(&docs.telemetries, "istio-system", &workload, ListenerDirection::Outbound);
//! assert_eq!(outbound.unwrap().to_json(), "{}");
//! # Ok::<(), meshtel::telemetry::TelemetryError>(())
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use crate::config::{MetricConfig, PluginConfig, parse_duration};
use crate::metric::StandardMetric;

/// The mesh root namespace of a default installation: its selector-less Telemetry is
/// mesh-wide.
pub const DEFAULT_ROOT_NAMESPACE: &str = "istio-system";

/// The one provider in scope.
const PROMETHEUS: &str = "prometheus";

/// The `apiVersion` of a [`Telemetry`] (the two versions share one schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TelemetryApiVersion {
    /// `telemetry.istio.io/v1`.
    V1,
    /// `telemetry.istio.io/v1alpha1`.
    V1Alpha1,
}

impl TelemetryApiVersion {
    /// The `apiVersion` text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "telemetry.istio.io/v1",
            Self::V1Alpha1 => "telemetry.istio.io/v1alpha1",
        }
    }
}

/// The metrics an override selects (`match.metric` or `match.customMetric`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricMatch {
    /// `ALL_METRICS`, or no metric given: every standard metric (not custom ones).
    All,
    /// One standard metric, by its Telemetry API name (`REQUEST_COUNT`, …).
    Standard(StandardMetric),
    /// `customMetric`: a name passed through as it is.
    Custom(String),
}

impl MetricMatch {
    /// The override keys istiod uses: Telemetry API names, or the custom name.
    fn keys(&self) -> Vec<&str> {
        match self {
            Self::All => StandardMetric::ALL.iter().map(|m| m.api_name()).collect(),
            Self::Standard(m) => vec![m.api_name()],
            Self::Custom(name) => vec![name.as_str()],
        }
    }
}

/// `match.mode`: the traffic direction an override applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkloadMode {
    /// `CLIENT_AND_SERVER` (the default): both.
    #[default]
    ClientAndServer,
    /// `CLIENT`: outbound listeners.
    Client,
    /// `SERVER`: inbound listeners.
    Server,
}

impl WorkloadMode {
    fn includes(self, mode: Self) -> bool {
        self == Self::ClientAndServer || self == mode
    }
}

/// One `tagOverrides` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TagOverride {
    /// `UPSERT` (the default operation) with its value expression.
    Upsert(String),
    /// `REMOVE`.
    Remove,
}

/// One `spec.metrics[].overrides[]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsOverride {
    /// The metrics selected.
    pub metric: MetricMatch,
    /// The direction selected.
    pub mode: WorkloadMode,
    /// `disabled`; `None` when not given (a parent's value then stands).
    pub disabled: Option<bool>,
    /// Tag → operation.
    pub tag_overrides: BTreeMap<String, TagOverride>,
}

/// One `spec.metrics[]` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// `providers[].name`; empty: inherited from the entry before (the default provider first).
    pub providers: Vec<String>,
    /// The overrides, in order.
    pub overrides: Vec<MetricsOverride>,
    /// `reportingInterval` in nanoseconds.
    pub reporting_interval: Option<i128>,
}

/// One `spec.targetRefs[]` entry (or `spec.targetRef`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetRef {
    /// `group`.
    pub group: String,
    /// `kind`.
    pub kind: String,
    /// `name`.
    pub name: String,
    /// `namespace`.
    pub namespace: String,
}

/// A `Telemetry` resource: its identity, where it attaches, and its `metrics` (`tracing` and
/// `accessLogging` are accepted and not kept).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Telemetry {
    /// Index of its document in the text it came from (0-based, empty documents counted).
    pub document: usize,
    /// `apiVersion`.
    pub api_version: TelemetryApiVersion,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (required: it decides the scope).
    pub namespace: String,
    /// `metadata.creationTimestamp` (`YYYY-MM-DDTHH:MM:SSZ`), which orders resources.
    pub creation_timestamp: Option<String>,
    /// `spec.selector.matchLabels`; `None` without a selector.
    pub selector: Option<BTreeMap<String, String>>,
    /// `spec.targetRefs`, or `[spec.targetRef]`.
    pub target_refs: Vec<TargetRef>,
    /// `spec.metrics`.
    pub metrics: Vec<Metrics>,
}

impl Telemetry {
    /// No workload selector and no target: the namespace's (or, in the root namespace, the
    /// mesh's) Telemetry.
    #[must_use]
    pub fn is_namespace_wide(&self) -> bool {
        self.selector.as_ref().is_none_or(BTreeMap::is_empty) && self.target_refs.is_empty()
    }
}

/// A document that is not a Telemetry, skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedDocument {
    /// Index of the document (0-based).
    pub document: usize,
    /// Its `apiVersion`.
    pub api_version: String,
    /// Its `kind`.
    pub kind: String,
}

/// What [`parse_yaml`] read from one text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TelemetryDocuments {
    /// The Telemetry resources, in document order.
    pub telemetries: Vec<Telemetry>,
    /// The documents of other kinds (outside `telemetry.istio.io`), skipped.
    pub skipped: Vec<SkippedDocument>,
}

/// What is wrong with a field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldProblem {
    /// A required field is absent (or null).
    #[error("missing")]
    Missing,
    /// A value of the wrong YAML type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// The type expected (`"a string"`, …).
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A field the schema does not have.
    #[error("unknown field (expected one of: {})", .expected.join(", "))]
    UnknownField {
        /// The fields allowed here.
        expected: &'static [&'static str],
    },
    /// An empty string where a value is required.
    #[error("must not be empty")]
    Empty,
    /// A Telemetry of another `apiVersion`.
    #[error("unsupported apiVersion {0:?} (expected telemetry.istio.io/v1 or telemetry.istio.io/v1alpha1)")]
    ApiVersion(String),
    /// Another kind in the `telemetry.istio.io` group.
    #[error("unknown kind {0:?} in telemetry.istio.io (expected Telemetry)")]
    Kind(String),
    /// `match.metric` is not an `IstioMetric` name.
    #[error("unknown metric {0:?}")]
    UnknownMetric(String),
    /// `match.mode` is not a `WorkloadMode` name.
    #[error("unknown mode {0:?} (expected CLIENT_AND_SERVER, CLIENT or SERVER)")]
    UnknownMode(String),
    /// `tagOverrides.*.operation` is not `UPSERT` or `REMOVE`.
    #[error("unknown operation {0:?} (expected UPSERT or REMOVE)")]
    UnknownOperation(String),
    /// An `UPSERT` (the default operation) without a value.
    #[error("must be set when operation is UPSERT")]
    UpsertWithoutValue,
    /// A `REMOVE` with a value.
    #[error("must not be set when operation is REMOVE")]
    RemoveWithValue,
    /// Fields of which at most one may be set.
    #[error("only one of {0} may be set")]
    OneOf(&'static str),
    /// Not a proto-JSON duration.
    #[error("invalid duration {0:?} (expected a proto-JSON duration such as \"5s\" or \"0.5s\")")]
    Duration(String),
    /// Not a Kubernetes timestamp.
    #[error("invalid timestamp {0:?} (expected RFC 3339 in UTC such as \"2024-05-01T12:00:00Z\")")]
    Timestamp(String),
}

/// Errors of [`parse_yaml`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The text is not YAML.
    #[error("document {document}: invalid YAML: {message}")]
    Yaml {
        /// Index of the document (0-based).
        document: usize,
        /// The parser's message, with the position.
        message: String,
    },
    /// A document is not a valid Telemetry.
    #[error("document {document}{}: {}{problem}", resource_label(.namespace.as_deref(), .name.as_deref()), path_prefix(.path))]
    Field {
        /// Index of the document (0-based).
        document: usize,
        /// Its `metadata.namespace`, when read.
        namespace: Option<String>,
        /// Its `metadata.name`, when read.
        name: Option<String>,
        /// The field, as `spec.metrics[0].overrides[1].match.metric` (empty: the document).
        path: String,
        /// What is wrong.
        problem: FieldProblem,
    },
}

fn resource_label(namespace: Option<&str>, name: Option<&str>) -> String {
    match (namespace, name) {
        (Some(ns), Some(name)) => format!(" ({ns}/{name})"),
        (None, Some(name)) => format!(" ({name})"),
        _ => String::new(),
    }
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// Reads the documents of one YAML text (`---` separated): `Telemetry` resources of
/// `telemetry.istio.io/v1` or `v1alpha1`, validated as istiod does; documents of other kinds
/// outside `telemetry.istio.io` are skipped and listed; empty documents are ignored.
///
/// ```
/// let docs = meshtel::telemetry::parse_yaml("
/// apiVersion: v1
/// kind: ConfigMap
/// metadata: {name: x}
/// ---
/// apiVersion: telemetry.istio.io/v1alpha1
/// kind: Telemetry
/// metadata: {name: t, namespace: shop}
/// ")?;
/// assert_eq!(docs.telemetries[0].name, "t");
/// assert_eq!(docs.telemetries[0].document, 1);
/// assert_eq!(docs.skipped[0].kind, "ConfigMap");
/// # Ok::<(), meshtel::telemetry::TelemetryError>(())
/// ```
///
/// # Errors
/// [`TelemetryError::Yaml`] for text that is not YAML; [`TelemetryError::Field`] for the
/// first invalid field of a Telemetry (or of a document's `apiVersion`/`kind`), naming the
/// document, the resource and the field path.
pub fn parse_yaml(text: &str) -> Result<TelemetryDocuments, TelemetryError> {
    let mut out = TelemetryDocuments::default();
    for (document, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(de).map_err(|e| TelemetryError::Yaml {
            document,
            message: e.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        let mut doc = Doc {
            document,
            namespace: None,
            name: None,
        };
        match doc.header(&value)? {
            Header::Telemetry(api_version) => out.telemetries.push(doc.telemetry(&value, api_version)?),
            Header::Other { api_version, kind } => out.skipped.push(SkippedDocument {
                document,
                api_version,
                kind,
            }),
        }
    }
    Ok(out)
}

enum Header {
    Telemetry(TelemetryApiVersion),
    Other { api_version: String, kind: String },
}

/// The document being read, for error messages.
struct Doc {
    document: usize,
    namespace: Option<String>,
    name: Option<String>,
}

const TOP_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
const SPEC_FIELDS: &[&str] = &[
    "selector",
    "targetRef",
    "targetRefs",
    "metrics",
    "tracing",
    "accessLogging",
];
const SELECTOR_FIELDS: &[&str] = &["matchLabels"];
const TARGET_REF_FIELDS: &[&str] = &["group", "kind", "name", "namespace"];
const METRICS_FIELDS: &[&str] = &["providers", "overrides", "reportingInterval"];
const PROVIDER_FIELDS: &[&str] = &["name"];
const OVERRIDE_FIELDS: &[&str] = &["match", "disabled", "tagOverrides"];
const MATCH_FIELDS: &[&str] = &["metric", "customMetric", "mode"];
const TAG_OVERRIDE_FIELDS: &[&str] = &["operation", "value"];

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a sequence",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// `parent.key`, or `parent["key"]` for keys that would not read as one path segment.
fn join(parent: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-/".contains(&b));
    match (parent.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

/// A field of a mapping; null counts as absent.
fn field<'v>(m: &'v Mapping, key: &str) -> Option<&'v Value> {
    m.get(key).filter(|v| !v.is_null())
}

impl Doc {
    fn err(&self, path: &str, problem: FieldProblem) -> TelemetryError {
        TelemetryError::Field {
            document: self.document,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            path: path.to_owned(),
            problem,
        }
    }

    fn wrong(&self, path: &str, expected: &'static str, found: &Value) -> TelemetryError {
        self.err(
            path,
            FieldProblem::WrongType {
                expected,
                found: type_name(found),
            },
        )
    }

    /// A mapping whose keys are strings among `allowed` (any string when `allowed` is empty).
    fn mapping<'v>(
        &self,
        v: &'v Value,
        path: &str,
        allowed: &'static [&'static str],
    ) -> Result<&'v Mapping, TelemetryError> {
        let Value::Mapping(m) = v else {
            return Err(self.wrong(path, "a mapping", v));
        };
        for key in m.keys() {
            let Value::String(key) = key else {
                return Err(self.err(
                    path,
                    FieldProblem::WrongType {
                        expected: "string keys",
                        found: type_name(key),
                    },
                ));
            };
            if !allowed.is_empty() && !allowed.contains(&key.as_str()) {
                return Err(self.err(&join(path, key), FieldProblem::UnknownField { expected: allowed }));
            }
        }
        Ok(m)
    }

    fn sequence<'v>(&self, v: &'v Value, path: &str) -> Result<&'v [Value], TelemetryError> {
        match v {
            Value::Sequence(s) => Ok(s),
            other => Err(self.wrong(path, "a sequence", other)),
        }
    }

    fn string(&self, v: &Value, path: &str) -> Result<String, TelemetryError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.wrong(path, "a string", other)),
        }
    }

    /// An optional string field.
    fn opt_string(&self, m: &Mapping, parent: &str, key: &str) -> Result<Option<String>, TelemetryError> {
        field(m, key).map(|v| self.string(v, &join(parent, key))).transpose()
    }

    /// A required, non-empty string field.
    fn required(&self, m: &Mapping, parent: &str, key: &str) -> Result<String, TelemetryError> {
        let path = join(parent, key);
        match self.opt_string(m, parent, key)? {
            None => Err(self.err(&path, FieldProblem::Missing)),
            Some(s) if s.is_empty() => Err(self.err(&path, FieldProblem::Empty)),
            Some(s) => Ok(s),
        }
    }

    /// `apiVersion` and `kind`: a Telemetry to read, or another kind to skip.
    fn header(&self, value: &Value) -> Result<Header, TelemetryError> {
        let top = self.mapping(value, "", &[])?;
        let api_version = self.required(top, "", "apiVersion")?;
        let kind = self.required(top, "", "kind")?;
        let in_group = api_version
            .split_once('/')
            .is_some_and(|(group, _)| group == "telemetry.istio.io");
        if kind != "Telemetry" {
            if in_group {
                return Err(self.err("kind", FieldProblem::Kind(kind)));
            }
            return Ok(Header::Other { api_version, kind });
        }
        match api_version.as_str() {
            "telemetry.istio.io/v1" => Ok(Header::Telemetry(TelemetryApiVersion::V1)),
            "telemetry.istio.io/v1alpha1" => Ok(Header::Telemetry(TelemetryApiVersion::V1Alpha1)),
            _ => Err(self.err("apiVersion", FieldProblem::ApiVersion(api_version))),
        }
    }

    fn telemetry(&mut self, value: &Value, api_version: TelemetryApiVersion) -> Result<Telemetry, TelemetryError> {
        let top = self.mapping(value, "", TOP_FIELDS)?;
        let meta = field(top, "metadata").ok_or_else(|| self.err("metadata", FieldProblem::Missing))?;
        let meta = self.mapping(meta, "metadata", &[])?;
        self.name = Some(self.required(meta, "metadata", "name")?);
        self.namespace = Some(self.required(meta, "metadata", "namespace")?);
        let creation_timestamp = self.opt_string(meta, "metadata", "creationTimestamp")?;
        if let Some(ts) = &creation_timestamp
            && !is_kubernetes_time(ts)
        {
            return Err(self.err("metadata.creationTimestamp", FieldProblem::Timestamp(ts.clone())));
        }
        let mut telemetry = Telemetry {
            document: self.document,
            api_version,
            name: self.name.clone().unwrap_or_default(),
            namespace: self.namespace.clone().unwrap_or_default(),
            creation_timestamp,
            selector: None,
            target_refs: Vec::new(),
            metrics: Vec::new(),
        };
        if let Some(spec) = field(top, "spec") {
            self.spec(spec, &mut telemetry)?;
        }
        Ok(telemetry)
    }

    fn spec(&self, spec: &Value, t: &mut Telemetry) -> Result<(), TelemetryError> {
        let spec = self.mapping(spec, "spec", SPEC_FIELDS)?;
        if let Some(selector) = field(spec, "selector") {
            let selector = self.mapping(selector, "spec.selector", SELECTOR_FIELDS)?;
            let labels = match field(selector, "matchLabels") {
                Some(labels) => self.string_map(labels, "spec.selector.matchLabels")?,
                None => BTreeMap::new(),
            };
            t.selector = Some(labels);
        }
        let single = field(spec, "targetRef")
            .map(|r| self.target_ref(r, "spec.targetRef"))
            .transpose()?;
        if let Some(refs) = field(spec, "targetRefs") {
            for (i, r) in self.sequence(refs, "spec.targetRefs")?.iter().enumerate() {
                t.target_refs
                    .push(self.target_ref(r, &format!("spec.targetRefs[{i}]"))?);
            }
        }
        let set =
            usize::from(t.selector.is_some()) + usize::from(single.is_some()) + usize::from(!t.target_refs.is_empty());
        if set > 1 {
            return Err(self.err("spec", FieldProblem::OneOf("selector, targetRef and targetRefs")));
        }
        t.target_refs.extend(single);
        if let Some(metrics) = field(spec, "metrics") {
            for (i, m) in self.sequence(metrics, "spec.metrics")?.iter().enumerate() {
                t.metrics.push(self.metrics(m, &format!("spec.metrics[{i}]"))?);
            }
        }
        Ok(())
    }

    fn string_map(&self, v: &Value, path: &str) -> Result<BTreeMap<String, String>, TelemetryError> {
        let m = self.mapping(v, path, &[])?;
        m.iter()
            .map(|(k, v)| {
                let k = k.as_str().unwrap_or_default();
                Ok((k.to_owned(), self.string(v, &join(path, k))?))
            })
            .collect()
    }

    fn target_ref(&self, v: &Value, path: &str) -> Result<TargetRef, TelemetryError> {
        let m = self.mapping(v, path, TARGET_REF_FIELDS)?;
        Ok(TargetRef {
            group: self.opt_string(m, path, "group")?.unwrap_or_default(),
            kind: self.required(m, path, "kind")?,
            name: self.required(m, path, "name")?,
            namespace: self.opt_string(m, path, "namespace")?.unwrap_or_default(),
        })
    }

    fn metrics(&self, v: &Value, path: &str) -> Result<Metrics, TelemetryError> {
        let m = self.mapping(v, path, METRICS_FIELDS)?;
        let mut metrics = Metrics::default();
        if let Some(providers) = field(m, "providers") {
            let providers_path = join(path, "providers");
            for (i, p) in self.sequence(providers, &providers_path)?.iter().enumerate() {
                let p_path = format!("{providers_path}[{i}]");
                let p = self.mapping(p, &p_path, PROVIDER_FIELDS)?;
                metrics.providers.push(self.required(p, &p_path, "name")?);
            }
        }
        if let Some(overrides) = field(m, "overrides") {
            let overrides_path = join(path, "overrides");
            for (i, o) in self.sequence(overrides, &overrides_path)?.iter().enumerate() {
                metrics
                    .overrides
                    .push(self.metrics_override(o, &format!("{overrides_path}[{i}]"))?);
            }
        }
        if let Some(interval) = self.opt_string(m, path, "reportingInterval")? {
            let nanos = parse_duration(&interval).ok_or_else(|| {
                self.err(
                    &join(path, "reportingInterval"),
                    FieldProblem::Duration(interval.clone()),
                )
            })?;
            metrics.reporting_interval = Some(nanos);
        }
        Ok(metrics)
    }

    fn metrics_override(&self, v: &Value, path: &str) -> Result<MetricsOverride, TelemetryError> {
        let m = self.mapping(v, path, OVERRIDE_FIELDS)?;
        let (metric, mode) = match field(m, "match") {
            Some(selector) => self.metric_selector(selector, &join(path, "match"))?,
            None => (MetricMatch::All, WorkloadMode::ClientAndServer),
        };
        let disabled = match field(m, "disabled") {
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => return Err(self.wrong(&join(path, "disabled"), "a boolean", other)),
            None => None,
        };
        let mut tag_overrides = BTreeMap::new();
        if let Some(tags) = field(m, "tagOverrides") {
            let tags_path = join(path, "tagOverrides");
            for (tag, op) in self.mapping(tags, &tags_path, &[])? {
                let tag = tag.as_str().unwrap_or_default();
                let tag_path = join(&tags_path, tag);
                if tag.is_empty() {
                    return Err(self.err(&tag_path, FieldProblem::Empty));
                }
                tag_overrides.insert(tag.to_owned(), self.tag_override(op, &tag_path)?);
            }
        }
        Ok(MetricsOverride {
            metric,
            mode,
            disabled,
            tag_overrides,
        })
    }

    fn metric_selector(&self, v: &Value, path: &str) -> Result<(MetricMatch, WorkloadMode), TelemetryError> {
        let m = self.mapping(v, path, MATCH_FIELDS)?;
        let metric = self.opt_string(m, path, "metric")?;
        let custom = self.opt_string(m, path, "customMetric")?;
        let metric = match (metric, custom) {
            (Some(_), Some(_)) => return Err(self.err(path, FieldProblem::OneOf("metric and customMetric"))),
            (None, None) => MetricMatch::All,
            (None, Some(custom)) if custom.is_empty() => {
                return Err(self.err(&join(path, "customMetric"), FieldProblem::Empty));
            }
            (None, Some(custom)) => MetricMatch::Custom(custom),
            (Some(name), None) if name == "ALL_METRICS" => MetricMatch::All,
            (Some(name), None) => StandardMetric::ALL
                .into_iter()
                .find(|m| m.api_name() == name)
                .map(MetricMatch::Standard)
                .ok_or_else(|| self.err(&join(path, "metric"), FieldProblem::UnknownMetric(name)))?,
        };
        let mode = match self.opt_string(m, path, "mode")?.as_deref() {
            None | Some("CLIENT_AND_SERVER") => WorkloadMode::ClientAndServer,
            Some("CLIENT") => WorkloadMode::Client,
            Some("SERVER") => WorkloadMode::Server,
            Some(other) => return Err(self.err(&join(path, "mode"), FieldProblem::UnknownMode(other.to_owned()))),
        };
        Ok((metric, mode))
    }

    fn tag_override(&self, v: &Value, path: &str) -> Result<TagOverride, TelemetryError> {
        let m = self.mapping(v, path, TAG_OVERRIDE_FIELDS)?;
        let value = self.opt_string(m, path, "value")?;
        let value_path = join(path, "value");
        match self.opt_string(m, path, "operation")?.as_deref() {
            None | Some("UPSERT") => match value {
                Some(v) if !v.is_empty() => Ok(TagOverride::Upsert(v)),
                _ => Err(self.err(&value_path, FieldProblem::UpsertWithoutValue)),
            },
            Some("REMOVE") if value.is_some() => Err(self.err(&value_path, FieldProblem::RemoveWithValue)),
            Some("REMOVE") => Ok(TagOverride::Remove),
            Some(other) => Err(self.err(
                &join(path, "operation"),
                FieldProblem::UnknownOperation(other.to_owned()),
            )),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form Kubernetes writes (so that text order is time order).
fn is_kubernetes_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// A workload: its namespace and pod labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Workload {
    /// The namespace (istiod's `ConfigNamespace`).
    pub namespace: String,
    /// The labels that workload selectors match.
    pub labels: BTreeMap<String, String>,
}

impl Workload {
    /// A workload in `namespace` with `labels`.
    ///
    /// ```
    /// let w = meshtel::telemetry::Workload::new("shop", [("app", "cart"), ("version", "v1")]);
    /// assert_eq!(w.labels["app"], "cart");
    /// ```
    pub fn new<K: Into<String>, V: Into<String>>(
        namespace: impl Into<String>,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            labels: labels.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        }
    }
}

/// The sidecar listener a stats filter is generated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListenerDirection {
    /// The inbound listener: overrides of mode `SERVER` (and `CLIENT_AND_SERVER`) apply.
    Inbound,
    /// The outbound listeners: overrides of mode `CLIENT` (and `CLIENT_AND_SERVER`) apply.
    Outbound,
}

impl ListenerDirection {
    /// The workload mode of this listener.
    #[must_use]
    pub const fn mode(self) -> WorkloadMode {
        match self {
            Self::Inbound => WorkloadMode::Server,
            Self::Outbound => WorkloadMode::Client,
        }
    }
}

/// The Telemetry resources that apply to a sidecar workload, lowest precedence first, as
/// istiod picks them: resources are ordered by `creationTimestamp`, then name, then
/// namespace; then come the first namespace-wide resource of the root namespace (mesh-wide),
/// the first namespace-wide resource of the workload's namespace (when that is not the
/// root), and every resource of the workload's namespace whose `selector.matchLabels` are
/// all among the workload's labels. Resources with `targetRef(s)` never apply to a sidecar.
///
/// ```
/// use meshtel::telemetry::{Workload, applicable, parse_yaml};
/// let docs = parse_yaml("
/// apiVersion: telemetry.istio.io/v1
/// kind: Telemetry
/// metadata: {name: cart-only, namespace: shop}
/// spec: {selector: {matchLabels: {app: cart}}}
/// ---
/// apiVersion: telemetry.istio.io/v1
/// kind: Telemetry
/// metadata: {name: mesh, namespace: istio-system}
/// ")?;
/// let names = |w: &Workload| -> Vec<String> {
///     applicable(&docs.telemetries, "istio-system", w).iter().map(|t| t.name.clone()).collect()
/// };
/// assert_eq!(names(&Workload::new("shop", [("app", "cart")])), ["mesh", "cart-only"]);
/// assert_eq!(names(&Workload::new("shop", [("app", "web")])), ["mesh"]);
/// # Ok::<(), meshtel::telemetry::TelemetryError>(())
/// ```
pub fn applicable<'t>(telemetries: &'t [Telemetry], root_namespace: &str, workload: &Workload) -> Vec<&'t Telemetry> {
    let mut sorted: Vec<&Telemetry> = telemetries.iter().collect();
    sorted.sort_by(|a, b| {
        (a.creation_timestamp.as_deref(), &a.name, &a.namespace).cmp(&(
            b.creation_timestamp.as_deref(),
            &b.name,
            &b.namespace,
        ))
    });
    let namespace_wide = |ns: &str| {
        sorted
            .iter()
            .copied()
            .find(|t| t.namespace == ns && t.is_namespace_wide())
    };
    let mut out = Vec::new();
    if !root_namespace.is_empty() {
        out.extend(namespace_wide(root_namespace));
    }
    if workload.namespace != root_namespace {
        out.extend(namespace_wide(&workload.namespace));
    }
    out.extend(sorted.iter().copied().filter(|t| {
        t.namespace == workload.namespace
            && !t.is_namespace_wide()
            && t.target_refs.is_empty()
            && t.selector
                .iter()
                .flatten()
                .all(|(k, v)| workload.labels.get(k) == Some(v))
    }));
    out
}

/// The merged overrides of one metric key.
#[derive(Default)]
struct Merged {
    disabled: Option<bool>,
    tags: BTreeMap<String, TagOverride>,
}

/// The `metrics` entries of the applicable resources merged for `mode`, as istiod's
/// `mergeMetrics` does for the prometheus provider; `None` when no filter results.
fn merge(metrics: &[&Metrics], mode: WorkloadMode) -> Option<(Option<i128>, BTreeMap<String, Merged>)> {
    let names_prometheus = |m: &Metrics| m.providers.iter().any(|p| p.eq_ignore_ascii_case(PROMETHEUS));
    // The last entry that names providers decides which providers are configured at all.
    if metrics
        .iter()
        .rev()
        .find(|m| !m.providers.is_empty())
        .is_some_and(|m| !names_prometheus(m))
    {
        return None;
    }
    let mut inherited = true; // the default provider is prometheus
    let (mut interval, mut all_disabled, mut merged) = (None, false, BTreeMap::<String, Merged>::new());
    for m in metrics {
        let applies = if m.providers.is_empty() {
            inherited
        } else {
            names_prometheus(m)
        };
        inherited = applies;
        if !applies {
            continue;
        }
        interval = m.reporting_interval.or(interval);
        for o in m.overrides.iter().filter(|o| o.mode.includes(mode)) {
            if o.metric == MetricMatch::All && o.disabled == Some(true) {
                all_disabled = true;
                continue;
            }
            // Any other override for this mode turns the filter back on.
            all_disabled = false;
            for key in o.metric.keys() {
                let entry = merged.entry(key.to_owned()).or_default();
                entry.disabled = o.disabled.or(entry.disabled);
                entry
                    .tags
                    .extend(o.tag_overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    (!all_disabled).then_some((interval, merged))
}

/// The [`PluginConfig`] istiod generates for the stats filter of one listener of a sidecar
/// workload, or `None` when it adds no stats filter there (`ALL_METRICS` disabled for the
/// listener's mode, or a `providers` list without `prometheus` in the last place that names
/// providers).
///
/// The applicable resources ([`applicable`]) contribute their `metrics` in order; each
/// override applies to the metrics it selects for its mode, a later override of the same
/// metric replacing `disabled` (when given) and the same tags. Each selected metric becomes
/// one `metrics` entry, in order of its Telemetry API name: the short name
/// (`REQUEST_COUNT` → `requests_total`, custom names as given), `drop` for `disabled`, `UPSERT`
/// tags as `dimensions` and `REMOVE` tags in `tags_to_remove`, in tag order. The last
/// `reportingInterval` becomes `tcp_reporting_duration`; inbound listeners get
/// `disable_host_header_fallback`.
///
/// ```
/// use meshtel::telemetry::{ListenerDirection, Workload, parse_yaml, plugin_config};
/// let docs = parse_yaml("
/// apiVersion: telemetry.istio.io/v1
/// kind: Telemetry
/// metadata: {name: no-client-metrics, namespace: istio-system}
/// spec:
///   metrics:
///   - overrides:
///     - {match: {metric: ALL_METRICS, mode: CLIENT}, disabled: true}
/// ")?;
/// let w = Workload::new("shop", [("app", "cart")]);
/// assert!(plugin_config(&docs.telemetries, "istio-system", &w, ListenerDirection::Outbound).is_none());
/// assert!(plugin_config(&docs.telemetries, "istio-system", &w, ListenerDirection::Inbound).is_some());
/// # Ok::<(), meshtel::telemetry::TelemetryError>(())
/// ```
#[must_use]
pub fn plugin_config(
    telemetries: &[Telemetry],
    root_namespace: &str,
    workload: &Workload,
    direction: ListenerDirection,
) -> Option<PluginConfig> {
    let resources = applicable(telemetries, root_namespace, workload);
    let metrics: Vec<&Metrics> = resources.iter().flat_map(|t| &t.metrics).collect();
    let (interval, merged) = merge(&metrics, direction.mode())?;
    let mut config = PluginConfig::default();
    config.disable_host_header_fallback = direction == ListenerDirection::Inbound;
    config.tcp_reporting_duration = interval;
    for (key, entry) in merged {
        let name = StandardMetric::ALL
            .into_iter()
            .find(|m| m.api_name() == key)
            .map_or(key, |m| m.short_name().to_owned());
        let mut metric = MetricConfig::named(name);
        metric.drop = entry.disabled == Some(true);
        for (tag, op) in entry.tags {
            match op {
                TagOverride::Upsert(value) => {
                    metric.dimensions.insert(tag, value);
                }
                TagOverride::Remove => metric.tags_to_remove.push(tag),
            }
        }
        config.metrics.push(metric);
    }
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics_of(yaml: &str) -> Vec<Metrics> {
        let docs = parse_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
        docs.telemetries.into_iter().flat_map(|t| t.metrics).collect()
    }

    /// Metric key, `disabled`, tag names.
    type Key = (String, Option<bool>, Vec<String>);

    fn merged_keys(yaml: &str, mode: WorkloadMode) -> Option<Vec<Key>> {
        let metrics = metrics_of(yaml);
        let refs: Vec<&Metrics> = metrics.iter().collect();
        let (_, merged) = merge(&refs, mode)?;
        Some(
            merged
                .into_iter()
                .map(|(k, m)| (k, m.disabled, m.tags.into_keys().collect()))
                .collect(),
        )
    }

    const HEAD: &str = "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t, namespace: ns}\n";

    #[test]
    fn paths_quote_keys_that_are_not_one_segment() {
        assert_eq!(join("", "spec"), "spec");
        assert_eq!(join("spec", "metrics"), "spec.metrics");
        assert_eq!(join("a.tagOverrides", "request_host"), "a.tagOverrides.request_host");
        assert_eq!(join("a.tagOverrides", "x.y"), r#"a.tagOverrides["x.y"]"#);
        assert_eq!(join("m", "app.kubernetes.io/name"), r#"m["app.kubernetes.io/name"]"#);
        assert_eq!(join("m", ""), r#"m[""]"#);
    }

    #[test]
    fn timestamps_in_the_form_kubernetes_writes() {
        assert!(is_kubernetes_time("2024-05-01T12:00:00Z"));
        for bad in [
            "2024-05-01T12:00:00",
            "2024-05-01 12:00:00Z",
            "2024-05-01T12:00:00.5Z",
            "2024-5-01T12:00:00Z",
        ] {
            assert!(!is_kubernetes_time(bad), "{bad}");
        }
    }

    #[test]
    fn providers_are_inherited_along_the_chain_and_the_last_list_decides() {
        // Root configures stackdriver; the namespace entry inherits it; the workload entry
        // names prometheus, which makes prometheus the only provider configured.
        let yaml = "
metrics:
- providers: [{name: stackdriver}]
  overrides: [{match: {metric: REQUEST_COUNT}, disabled: true}]
- overrides: [{tagOverrides: {a: {value: x}}}]
- providers: [{name: prometheus}]
  overrides: [{match: {metric: REQUEST_SIZE}, tagOverrides: {b: {value: y}}}]
- overrides: [{match: {customMetric: c}}]
";
        let keys = merged_keys(&format!("{HEAD}spec:{}", indent(yaml)), WorkloadMode::Client).unwrap();
        assert_eq!(
            keys,
            [
                ("REQUEST_SIZE".to_owned(), None, vec!["b".to_owned()]),
                ("c".to_owned(), None, vec![]),
            ]
        );
        // The last list without prometheus: no prometheus filter at all.
        let yaml = "
metrics:
- overrides: [{tagOverrides: {a: {value: x}}}]
- providers: [{name: stackdriver}]
";
        assert!(merged_keys(&format!("{HEAD}spec:{}", indent(yaml)), WorkloadMode::Client).is_none());
        // The provider is found whatever its case, as istiod finds extension providers.
        let yaml = "\nmetrics:\n- providers: [{name: Prometheus}]\n";
        assert_eq!(
            merged_keys(&format!("{HEAD}spec:{}", indent(yaml)), WorkloadMode::Client),
            Some(vec![])
        );
    }

    #[test]
    fn disabling_all_metrics_is_undone_by_any_later_override_for_the_mode() {
        let yaml = "
metrics:
- overrides: [{match: {metric: ALL_METRICS}, disabled: true}]
";
        let spec = format!("{HEAD}spec:{}", indent(yaml));
        assert!(merged_keys(&spec, WorkloadMode::Server).is_none());
        let yaml = "
metrics:
- overrides: [{match: {mode: SERVER}, disabled: true}]
- overrides: [{match: {metric: REQUEST_COUNT, mode: CLIENT}, tagOverrides: {a: {value: x}}}]
- overrides: [{match: {metric: TCP_SENT_BYTES}, tagOverrides: {b: {value: y}}}]
";
        let spec = format!("{HEAD}spec:{}", indent(yaml));
        // Server: disabled, then turned back on by the TCP_SENT_BYTES override (istiod's rule:
        // a namespace may re-enable what the mesh disabled); only that metric has an entry.
        assert_eq!(
            merged_keys(&spec, WorkloadMode::Server).unwrap(),
            [("TCP_SENT_BYTES".to_owned(), None, vec!["b".to_owned()])]
        );
        assert_eq!(merged_keys(&spec, WorkloadMode::Client).unwrap().len(), 2);
    }

    #[test]
    fn disabled_is_kept_until_a_later_override_sets_it() {
        let yaml = "
metrics:
- overrides: [{match: {metric: REQUEST_COUNT}, disabled: true}]
- overrides: [{match: {metric: REQUEST_COUNT}, tagOverrides: {a: {value: x}}}]
- overrides: [{match: {metric: REQUEST_SIZE}, disabled: true}, {match: {metric: REQUEST_SIZE}, disabled: false}]
";
        let keys = merged_keys(&format!("{HEAD}spec:{}", indent(yaml)), WorkloadMode::Client).unwrap();
        assert_eq!(
            keys,
            [
                ("REQUEST_COUNT".to_owned(), Some(true), vec!["a".to_owned()]),
                ("REQUEST_SIZE".to_owned(), Some(false), vec![]),
            ]
        );
    }

    #[test]
    fn errors_name_the_document_the_resource_and_the_field() {
        let e = TelemetryError::Field {
            document: 2,
            namespace: Some("shop".into()),
            name: Some("t".into()),
            path: "spec.metrics[0].overrides[1].match.metric".into(),
            problem: FieldProblem::UnknownMetric("REQUEST_CNT".into()),
        };
        assert_eq!(
            e.to_string(),
            r#"document 2 (shop/t): spec.metrics[0].overrides[1].match.metric: unknown metric "REQUEST_CNT""#
        );
        let e = TelemetryError::Field {
            document: 0,
            namespace: None,
            name: Some("t".into()),
            path: "metadata.namespace".into(),
            problem: FieldProblem::Missing,
        };
        assert_eq!(e.to_string(), "document 0 (t): metadata.namespace: missing");
        let e = TelemetryError::Field {
            document: 1,
            namespace: None,
            name: None,
            path: String::new(),
            problem: FieldProblem::WrongType {
                expected: "a mapping",
                found: "a string",
            },
        };
        assert_eq!(e.to_string(), "document 1: expected a mapping, found a string");
    }

    #[test]
    fn yaml_errors_name_the_document() {
        let e = parse_yaml("apiVersion: v1\nkind: A\n---\nkey: [unclosed\n").unwrap_err();
        let TelemetryError::Yaml { document, message } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(*document, 1);
        assert!(message.contains("line"), "{message}");
    }

    #[test]
    fn empty_documents_and_a_missing_spec() {
        // A leading `---` opens document 0; the second opens document 1.
        let docs = parse_yaml(&format!("---\n---\n{HEAD}---\n")).unwrap();
        assert_eq!(docs.telemetries.len(), 1);
        let t = &docs.telemetries[0];
        assert_eq!((t.document, t.api_version), (1, TelemetryApiVersion::V1));
        assert!(t.is_namespace_wide() && t.metrics.is_empty());
    }

    fn indent(s: &str) -> String {
        s.lines().flat_map(|l| ["  ", l, "\n"]).collect()
    }
}
