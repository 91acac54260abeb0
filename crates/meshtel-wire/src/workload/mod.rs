//! The peer's workload metadata: who a workload is, read from and written
//! to node metadata (`docs/reference/wire.md` §1, §2).

use crate::proto::fast::{self, EntryReader, EntryValue, Walk, WholeStruct};
use crate::proto::view::validated_str;
use crate::proto::wire::{tag, validate_struct};
use crate::proto::{DecodeError, EntryView, Limits, StructView};

/// Reads the workload metadata's fields from the entries of a Struct, in one pass.
#[derive(Default)]
struct MetadataBuilder<'a> {
    record: WorkloadView<'a>,
    owner: &'a str,
}

impl<'a> MetadataBuilder<'a> {
    fn finish(mut self) -> WorkloadView<'a> {
        self.record.workload_type = WorkloadType::from_owner(self.owner, self.record.workload);
        if let Some(labels) = self.record.labels {
            self.record.read_labels(labels);
        }
        self.record
    }

    #[inline]
    fn entry(&mut self, entry: EntryView<'a>) {
        let (key, value) = entry.split();
        let r = &mut self.record;
        let slot = match MetadataKey::of(key) {
            Some(MetadataKey::Name) => &mut r.name,
            Some(MetadataKey::Namespace) => &mut r.namespace,
            Some(MetadataKey::Workload) => &mut r.workload,
            Some(MetadataKey::Owner) => &mut self.owner,
            Some(MetadataKey::Cluster) => &mut r.cluster,
            Some(MetadataKey::Identity) => &mut r.identity,
            Some(MetadataKey::Region) => &mut r.region,
            Some(MetadataKey::Zone) => &mut r.availability_zone,
            Some(MetadataKey::Labels) => {
                r.labels = value.as_struct();
                return;
            }
            None => return,
        };
        *slot = value.as_str().unwrap_or_default();
    }
}

/// The keys of node metadata that [`WorkloadView`] reads.
#[derive(Clone, Copy)]
enum MetadataKey {
    Name,
    Namespace,
    Workload,
    Owner,
    Cluster,
    Identity,
    Region,
    Zone,
    Labels,
}

impl MetadataKey {
    #[inline(always)]
    fn of(key: &[u8]) -> Option<Self> {
        // Dispatch on the length first: every key has a distinct length but
        // two, so one fixed-size compare decides (a plain `match` on byte
        // strings compares against each arm in turn).
        Some(match key.len() {
            4 if fast::is(key, b"NAME") => Self::Name,
            5 if fast::is(key, b"OWNER") => Self::Owner,
            6 if fast::is(key, b"LABELS") => Self::Labels,
            6 if fast::is(key, b"REGION") => Self::Region,
            8 if fast::is(key, b"IDENTITY") => Self::Identity,
            9 if fast::is(key, b"NAMESPACE") => Self::Namespace,
            10 if fast::is(key, b"CLUSTER_ID") => Self::Cluster,
            13 if fast::is(key, b"WORKLOAD_NAME") => Self::Workload,
            17 if fast::is(key, b"AVAILABILITY_ZONE") => Self::Zone,
            _ => return None,
        })
    }
}

/// The labels [`WorkloadView`] reads.
#[derive(Clone, Copy)]
enum LabelKey {
    Service,
    Revision,
    K8sApp,
    App,
    K8sVersion,
    Version,
}

impl LabelKey {
    #[inline(always)]
    fn of(key: &[u8]) -> Option<Self> {
        // Six keys, six lengths: see `MetadataKey::of`.
        Some(match key.len() {
            3 if fast::is(key, b"app") => Self::App,
            7 if fast::is(key, b"version") => Self::Version,
            22 if fast::is(key, b"app.kubernetes.io/name") => Self::K8sApp,
            25 if fast::is(key, b"app.kubernetes.io/version") => Self::K8sVersion,
            31 if fast::is(key, b"service.istio.io/canonical-name") => Self::Service,
            35 if fast::is(key, b"service.istio.io/canonical-revision") => Self::Revision,
            _ => return None,
        })
    }
}

/// The labels' values, as the last entry of each key left them.
#[derive(Clone, Copy)]
pub(crate) struct Labels<T> {
    service: Option<T>,
    revision: Option<T>,
    k8s_app: Option<T>,
    app: Option<T>,
    k8s_version: Option<T>,
    version: Option<T>,
}

// Not derived: that would require `T: Default`.
impl<T> Default for Labels<T> {
    fn default() -> Self {
        Self {
            service: None,
            revision: None,
            k8s_app: None,
            app: None,
            k8s_version: None,
            version: None,
        }
    }
}

impl<T> Labels<T> {
    #[inline(always)]
    fn slot(&mut self, key: LabelKey) -> &mut Option<T> {
        match key {
            LabelKey::Service => &mut self.service,
            LabelKey::Revision => &mut self.revision,
            LabelKey::K8sApp => &mut self.k8s_app,
            LabelKey::App => &mut self.app,
            LabelKey::K8sVersion => &mut self.k8s_version,
            LabelKey::Version => &mut self.version,
        }
    }
}

/// Workload metadata read by the validation fast path: the fields as bytes, until
/// [`fast::run`] has proved every string of the input UTF-8.
#[derive(Default)]
pub(crate) struct RawMetadata<'a> {
    name: &'a [u8],
    namespace: &'a [u8],
    workload: &'a [u8],
    owner: &'a [u8],
    cluster: &'a [u8],
    identity: &'a [u8],
    region: &'a [u8],
    availability_zone: &'a [u8],
    labels: Option<&'a [u8]>,
    label_values: Labels<&'a [u8]>,
}

/// The metadata's entries, read as the fast path validates them.
impl<'a> EntryReader<'a> for RawMetadata<'a> {
    #[inline(always)]
    fn entry<const CHECK: bool>(
        &mut self,
        walk: &mut Walk<CHECK>,
        key: &'a [u8],
        value: EntryValue<'a>,
        depth: u32,
    ) -> Option<()> {
        let Some(key) = MetadataKey::of(key) else {
            return walk.entry_value(value, depth).map(drop);
        };
        let slot = match key {
            MetadataKey::Labels => return self.read_labels(walk, value, depth),
            MetadataKey::Name => &mut self.name,
            MetadataKey::Namespace => &mut self.namespace,
            MetadataKey::Workload => &mut self.workload,
            MetadataKey::Owner => &mut self.owner,
            MetadataKey::Cluster => &mut self.cluster,
            MetadataKey::Identity => &mut self.identity,
            MetadataKey::Region => &mut self.region,
            MetadataKey::Zone => &mut self.availability_zone,
        };
        *slot = walk.entry_value(value, depth)?.text_or_empty();
        Some(())
    }
}

/// The entries of `LABELS`, read as the fast path validates them.
impl<'a> EntryReader<'a> for Labels<&'a [u8]> {
    #[inline(always)]
    fn entry<const CHECK: bool>(
        &mut self,
        walk: &mut Walk<CHECK>,
        key: &'a [u8],
        value: EntryValue<'a>,
        depth: u32,
    ) -> Option<()> {
        let value = walk.entry_value(value, depth)?;
        if let Some(key) = LabelKey::of(key) {
            *self.slot(key) = Some(value.text_or_empty());
        }
        Some(())
    }
}

impl<'a> RawMetadata<'a> {
    /// A `LABELS` entry: replaces what an earlier one said.
    #[inline(always)]
    fn read_labels<const CHECK: bool>(
        &mut self,
        walk: &mut Walk<CHECK>,
        value: EntryValue<'a>,
        depth: u32,
    ) -> Option<()> {
        self.label_values = Labels::default();
        self.labels = None;
        let EntryValue::Serialized(value @ [tag::STRUCT_VALUE, ..]) = value else {
            return walk.entry_value(value, depth).map(drop);
        };
        let labels = walk.only_field(value, tag::STRUCT_VALUE)?;
        walk.entries(labels, depth + 1, &mut self.label_values)?;
        self.labels = Some(labels);
        Some(())
    }

    /// The metadata, once [`fast::run`] has returned this value (so every
    /// string of the input is UTF-8).
    #[inline(always)]
    pub(crate) fn to_view(&self) -> WorkloadView<'a> {
        let text = validated_str;
        let labels = self.label_values;
        let label = |value: Option<&'a [u8]>| value.map(text);
        let mut record = WorkloadView {
            name: text(self.name),
            namespace: text(self.namespace),
            workload: text(self.workload),
            cluster: text(self.cluster),
            identity: text(self.identity),
            region: text(self.region),
            availability_zone: text(self.availability_zone),
            labels: self.labels.map(StructView::validated),
            ..WorkloadView::default()
        };
        record.workload_type = WorkloadType::from_owner(text(self.owner), record.workload);
        record.set_labels(&Labels {
            service: label(labels.service),
            revision: label(labels.revision),
            k8s_app: label(labels.k8s_app),
            app: label(labels.app),
            k8s_version: label(labels.k8s_version),
            version: label(labels.version),
        });
        record
    }
}

/// Workload type, parsed from `OWNER` (`docs/reference/wire.md` §2.4) or from a baggage key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum WorkloadType {
    /// Not one of the four known types (no wire spelling).
    #[default]
    Unknown,
    /// `pod`.
    Pod,
    /// `deployment`.
    Deployment,
    /// `job`.
    Job,
    /// `cronjob`.
    CronJob,
}

impl WorkloadType {
    /// The lower-case wire spelling; `None` for [`WorkloadType::Unknown`].
    #[must_use]
    pub const fn wire_name(self) -> Option<&'static str> {
        match self {
            Self::Unknown => None,
            Self::Pod => Some("pod"),
            Self::Deployment => Some("deployment"),
            Self::Job => Some("job"),
            Self::CronJob => Some("cronjob"),
        }
    }

    /// The spelling used when the type is read as a field: the wire name, or
    /// `unknown`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self.wire_name() {
            Some(name) => name,
            None => "unknown",
        }
    }

    /// Parses a wire spelling (`pod`, `deployment`, `job`, `cronjob`).
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        match name {
            "pod" => Self::Pod,
            "deployment" => Self::Deployment,
            "job" => Self::Job,
            "cronjob" => Self::CronJob,
            _ => Self::Unknown,
        }
    }

    /// Upstream's `parse_owner` (`docs/reference/wire.md` §2.4): drops the last
    /// `len(workload) + 2` bytes of `owner` without checking them, then reads
    /// the text after the last `/`.
    ///
    /// ```
    /// use meshtel_wire::workload::WorkloadType;
    /// let owner = "kubernetes://apis/apps/v1/namespaces/default/deployments/ratings-v1";
    /// assert_eq!(WorkloadType::from_owner(owner, "ratings-v1"), WorkloadType::Deployment);
    /// assert_eq!(WorkloadType::from_owner("x", "long-name"), WorkloadType::Unknown);
    /// ```
    #[must_use]
    pub fn from_owner(owner: &str, workload: &str) -> Self {
        let owner = owner.as_bytes();
        let cut = workload.len() + 2;
        if owner.len() <= cut {
            return Self::Unknown;
        }
        let rest = &owner[..owner.len() - cut];
        // The type is the text after the last `/` of `rest`: `rest` ends with
        // `/` and a type's name, or is the name.
        let names = |name: &[u8]| {
            rest.strip_suffix(name)
                .is_some_and(|head| head.is_empty() || head.ends_with(b"/"))
        };
        if names(b"deployment") {
            Self::Deployment
        } else if names(b"pod") {
            Self::Pod
        } else if names(b"job") {
            Self::Job
        } else if names(b"cronjob") {
            Self::CronJob
        } else {
            Self::Unknown
        }
    }
}

impl core::fmt::Display for WorkloadType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A peer's workload metadata, its strings borrowing from the bytes it was
/// read from.
///
/// Every field is a string; `""` means "not known" (`docs/reference/wire.md` §1).
///
/// ```
/// use meshtel_wire::proto::StructView;
/// use meshtel_wire::workload::{WorkloadType, WorkloadView};
/// # let frame = meshtel_wire::__doc_example_frame();
/// use meshtel_wire::frame::{decode_frame, FrameConfig, Status};
/// let Ok(Status::Frame { metadata_struct, .. }) = decode_frame(frame, &FrameConfig::default()) else { panic!() };
/// let record = WorkloadView::from_struct(metadata_struct);
/// assert_eq!((record.namespace, record.workload), ("ns", "w"));
/// assert_eq!(record.workload_type, WorkloadType::Unknown);
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct WorkloadView<'a> {
    /// Instance (pod) name: `NAME`.
    pub name: &'a str,
    /// Namespace: `NAMESPACE`.
    pub namespace: &'a str,
    /// Workload name: `WORKLOAD_NAME`.
    pub workload: &'a str,
    /// Workload type, from `OWNER`.
    pub workload_type: WorkloadType,
    /// Cluster id: `CLUSTER_ID`.
    pub cluster: &'a str,
    /// SPIFFE identity: `IDENTITY`.
    pub identity: &'a str,
    /// Canonical service: `LABELS["service.istio.io/canonical-name"]`.
    pub service: &'a str,
    /// Canonical revision: `LABELS["service.istio.io/canonical-revision"]`.
    pub revision: &'a str,
    /// `LABELS["app.kubernetes.io/name"]` if non-empty, else `LABELS["app"]`.
    pub app: &'a str,
    /// `LABELS["app.kubernetes.io/version"]` if non-empty, else `LABELS["version"]`.
    pub version: &'a str,
    /// Locality region: `REGION`.
    pub region: &'a str,
    /// Locality zone: `AVAILABILITY_ZONE`.
    pub availability_zone: &'a str,
    labels: Option<StructView<'a>>,
}

/// Keys of node metadata (`docs/reference/wire.md` §2.1).
pub mod keys {
    /// Pod name.
    pub const NAME: &str = "NAME";
    /// Namespace.
    pub const NAMESPACE: &str = "NAMESPACE";
    /// Workload name.
    pub const WORKLOAD_NAME: &str = "WORKLOAD_NAME";
    /// Owning controller URI.
    pub const OWNER: &str = "OWNER";
    /// Cluster id.
    pub const CLUSTER_ID: &str = "CLUSTER_ID";
    /// Pod labels.
    pub const LABELS: &str = "LABELS";
    /// SPIFFE identity.
    pub const IDENTITY: &str = "IDENTITY";
    /// Locality region.
    pub const REGION: &str = "REGION";
    /// Locality zone.
    pub const AVAILABILITY_ZONE: &str = "AVAILABILITY_ZONE";
    /// The proxy's Istio version (feeds `istio_build`; not exchanged).
    pub const ISTIO_VERSION: &str = "ISTIO_VERSION";
    /// Canonical service label.
    pub const CANONICAL_NAME: &str = "service.istio.io/canonical-name";
    /// Canonical revision label.
    pub const CANONICAL_REVISION: &str = "service.istio.io/canonical-revision";
    /// Recommended app label.
    pub const K8S_APP_NAME: &str = "app.kubernetes.io/name";
    /// Recommended version label.
    pub const K8S_APP_VERSION: &str = "app.kubernetes.io/version";
    /// Legacy app label.
    pub const APP: &str = "app";
    /// Legacy version label.
    pub const VERSION: &str = "version";
}

impl<'a> WorkloadView<'a> {
    /// Reads workload metadata from a Struct in node-metadata shape (`docs/reference/wire.md` §1.1):
    /// non-string values read as `""`, unknown keys are ignored, `LABELS`
    /// that is not a struct reads as empty, `app`/`version` follow the
    /// deterministic precedence of project decision W12.
    #[must_use]
    pub fn from_struct(s: StructView<'a>) -> Self {
        let mut builder = MetadataBuilder::default();
        for entry in s.entries() {
            builder.entry(entry);
        }
        builder.finish()
    }

    /// Validates `bytes` as a serialized `Struct` and reads the record from
    /// it (default limits): [`StructView::parse`] then
    /// [`WorkloadView::from_struct`].
    ///
    /// ```
    /// use meshtel_wire::workload::WorkloadView;
    /// // {"NAMESPACE": "ns"}
    /// let bytes = [0x0a, 0x11, 0x0a, 0x09, b'N', b'A', b'M', b'E', b'S', b'P', b'A', b'C', b'E',
    ///              0x12, 0x04, 0x1a, 0x02, b'n', b's'];
    /// assert_eq!(WorkloadView::parse(&bytes)?.namespace, "ns");
    /// # Ok::<(), meshtel_wire::proto::DecodeError>(())
    /// ```
    ///
    /// # Errors
    /// As [`StructView::parse`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::parse_at(bytes, 0, 1, &Limits::default()).map(|(record, _)| record)
    }

    /// [`WorkloadView::parse`] with explicit limits, also returning the view
    /// of the whole Struct (for additional labels or other keys).
    ///
    /// # Errors
    /// As [`StructView::parse`].
    pub fn parse_with(bytes: &'a [u8], limits: &Limits) -> Result<(Self, StructView<'a>), DecodeError> {
        Self::parse_at(bytes, 0, 1, limits)
    }

    /// Parses a workload metadata Struct found at nesting `depth`, `base` bytes into
    /// the caller's input.
    pub(crate) fn parse_at(
        bytes: &'a [u8],
        base: usize,
        depth: u32,
        limits: &Limits,
    ) -> Result<(Self, StructView<'a>), DecodeError> {
        let mut raw = WholeStruct {
            entries: RawMetadata::default(),
            depth,
        };
        if fast::run(bytes, limits, &mut raw) {
            let record = raw.entries.to_view();
            // Tests and fuzzing hold the fast path to the general one.
            #[cfg(any(debug_assertions, fuzzing))]
            assert!(
                Self::parse_general(bytes, base, depth, limits).is_ok_and(|(general, _)| general.same_as(&record)),
                "fast and general paths disagree"
            );
            return Ok((record, StructView::validated(bytes)));
        }
        Self::parse_general(bytes, base, depth, limits)
    }

    /// The general path of [`WorkloadView::parse_at`]: every valid Struct,
    /// errors with their offsets.
    #[cold]
    pub(crate) fn parse_general(
        bytes: &'a [u8],
        base: usize,
        depth: u32,
        limits: &Limits,
    ) -> Result<(Self, StructView<'a>), DecodeError> {
        validate_struct(bytes, base, depth, limits)?;
        let view = StructView::validated(bytes);
        Ok((Self::from_struct(view), view))
    }

    fn read_labels(&mut self, labels: StructView<'a>) {
        let mut values = Labels::default();
        for entry in labels.entries() {
            let (key, value) = entry.split();
            if let Some(key) = LabelKey::of(key) {
                *values.slot(key) = Some(value.as_str().unwrap_or_default());
            }
        }
        self.set_labels(&values);
    }

    fn set_labels(&mut self, labels: &Labels<&'a str>) {
        self.service = labels.service.unwrap_or_default();
        self.revision = labels.revision.unwrap_or_default();
        self.app = pick(labels.k8s_app, labels.app);
        self.version = pick(labels.k8s_version, labels.version);
    }

    /// Fills `region` and `availability_zone` from the node's own locality
    /// where metadata left them empty (`docs/reference/wire.md` §1.1 rule 5; local node only).
    #[must_use]
    pub const fn with_locality(mut self, region: &'a str, zone: &'a str) -> Self {
        if self.region.is_empty() {
            self.region = region;
        }
        if self.availability_zone.is_empty() {
            self.availability_zone = zone;
        }
        self
    }

    /// A label from the record's `LABELS` struct (for the configured
    /// additional labels). `None` when absent or not a string.
    #[must_use]
    pub fn label(&self, key: &str) -> Option<&'a str> {
        self.labels?.get(key)?.as_str()
    }

    /// Parses the endpoint metadata string
    /// `workload;namespace;canonical;revision;cluster` (`docs/reference/wire.md` §2.6).
    /// Fewer than five parts is no record; extra parts are ignored.
    ///
    /// ```
    /// use meshtel_wire::workload::WorkloadView;
    /// let r = WorkloadView::from_endpoint_metadata("foo-pod;default;foo-service;v1;my-cluster").unwrap();
    /// assert_eq!((r.workload, r.service, r.cluster), ("foo-pod", "foo-service", "my-cluster"));
    /// assert!(WorkloadView::from_endpoint_metadata("a;b;c;d").is_none());
    /// ```
    #[must_use]
    pub fn from_endpoint_metadata(value: &'a str) -> Option<Self> {
        let mut parts = value.split(';');
        let mut next = || parts.next();
        let (workload, namespace, service, revision, cluster) = (next()?, next()?, next()?, next()?, next()?);
        Some(Self {
            namespace,
            workload,
            cluster,
            service,
            revision,
            ..Self::default()
        })
    }

    /// Whether both records have the same fields and labels.
    #[cfg(any(test, debug_assertions, fuzzing))]
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        let fields = |r: &Self| {
            (
                [
                    r.name,
                    r.namespace,
                    r.workload,
                    r.cluster,
                    r.identity,
                    r.service,
                    r.revision,
                    r.app,
                    r.version,
                    r.region,
                    r.availability_zone,
                ],
                r.workload_type,
            )
        };
        let labels = |r: &Self| r.labels.map(|l| l.entries().map(|e| e.key()));
        fields(self) == fields(other)
            && match (labels(self), labels(other)) {
                (Some(a), Some(b)) => a.eq(b),
                (None, None) => true,
                _ => false,
            }
    }

    /// Whether every field is empty and the type unknown.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.workload_type == WorkloadType::Unknown
            && [
                self.name,
                self.namespace,
                self.workload,
                self.cluster,
                self.identity,
                self.service,
                self.revision,
                self.app,
                self.version,
                self.region,
                self.availability_zone,
            ]
            .iter()
            .all(|s| s.is_empty())
    }
}

/// W12: the recommended label if present and non-empty, else the legacy one.
fn pick<'a>(recommended: Option<&'a str>, legacy: Option<&'a str>) -> &'a str {
    match recommended {
        Some(v) if !v.is_empty() => v,
        _ => legacy.unwrap_or_default(),
    }
}

/// A node id `type~ip~id~domain` (`docs/reference/wire.md` §2.2). Opaque on the wire; this
/// is for tooling and for building the local id.
///
/// ```
/// use meshtel_wire::workload::NodeId;
/// let id = NodeId::parse("sidecar~10.1.1.0~v0.default~default.svc.cluster.local").unwrap();
/// assert_eq!((id.kind, id.ip, id.id), ("sidecar", "10.1.1.0", "v0.default"));
/// assert_eq!(id.to_string(), "sidecar~10.1.1.0~v0.default~default.svc.cluster.local");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeId<'a> {
    /// `sidecar`, `router`, `waypoint`, `ztunnel`, ...
    pub kind: &'a str,
    /// First instance IP (may be empty).
    pub ip: &'a str,
    /// `<pod name>.<namespace>`.
    pub id: &'a str,
    /// DNS domain, by default `<namespace>.svc.cluster.local`.
    pub domain: &'a str,
}

impl<'a> NodeId<'a> {
    /// Splits a node id into its four fields; `None` unless there are
    /// exactly four.
    #[must_use]
    pub fn parse(s: &'a str) -> Option<Self> {
        let mut parts = s.split('~');
        let id = Self {
            kind: parts.next()?,
            ip: parts.next()?,
            id: parts.next()?,
            domain: parts.next()?,
        };
        parts.next().is_none().then_some(id)
    }
}

impl core::fmt::Display for NodeId<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}~{}~{}~{}", self.kind, self.ip, self.id, self.domain)
    }
}

#[cfg(feature = "alloc")]
mod owned;
#[cfg(feature = "alloc")]
pub use owned::{WorkloadMetadata, sidecar_node_id};
