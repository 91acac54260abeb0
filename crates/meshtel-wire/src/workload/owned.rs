//! The owned workload metadata (`alloc`).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};

use super::{WorkloadType, WorkloadView, keys};
use crate::proto::{Struct, StructView, Value, encode_struct};

/// A peer's workload metadata, owned, with the configured additional labels.
///
/// Build it from node metadata once at start-up, then derive every carrier
/// from it: [`WorkloadMetadata::to_struct`] for frames and headers,
/// [`crate::baggage::write_baggage`] for baggage.
///
/// ```
/// use meshtel_wire::proto::Struct;
/// use meshtel_wire::workload::{WorkloadMetadata, WorkloadType};
/// let mut node = Struct::new();
/// node.insert("NAMESPACE", "default");
/// node.insert("WORKLOAD_NAME", "ratings-v1");
/// node.insert("OWNER", "kubernetes://apis/apps/v1/namespaces/default/deployments/ratings-v1");
/// node.insert("LABELS", [("app", "ratings"), ("team", "a")].into_iter().collect::<Struct>());
/// let record = WorkloadMetadata::from_node_metadata(&node, &["team"]);
/// assert_eq!(record.workload_type, WorkloadType::Deployment);
/// assert_eq!(record.app, "ratings");
/// assert_eq!(record.labels.get("team").map(String::as_str), Some("a"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct WorkloadMetadata {
    /// Instance (pod) name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Workload name.
    pub workload: String,
    /// Workload type.
    pub workload_type: WorkloadType,
    /// Cluster id.
    pub cluster: String,
    /// SPIFFE identity.
    pub identity: String,
    /// Canonical service name.
    pub service: String,
    /// Canonical revision.
    pub revision: String,
    /// App label.
    pub app: String,
    /// Version label.
    pub version: String,
    /// Locality region.
    pub region: String,
    /// Locality zone.
    pub availability_zone: String,
    /// The configured additional labels that were present.
    pub labels: BTreeMap<String, String>,
}

impl WorkloadMetadata {
    /// Copies borrowed workload metadata, taking each of `additional_labels` that its
    /// `LABELS` carries.
    #[must_use]
    pub fn from_view(view: &WorkloadView<'_>, additional_labels: &[&str]) -> Self {
        let mut labels = BTreeMap::new();
        for key in additional_labels {
            if let Some(value) = view.label(key) {
                labels.insert((*key).to_string(), value.to_string());
            }
        }
        Self {
            name: view.name.into(),
            namespace: view.namespace.into(),
            workload: view.workload.into(),
            workload_type: view.workload_type,
            cluster: view.cluster.into(),
            identity: view.identity.into(),
            service: view.service.into(),
            revision: view.revision.into(),
            app: view.app.into(),
            version: view.version.into(),
            region: view.region.into(),
            availability_zone: view.availability_zone.into(),
            labels,
        }
    }

    /// Reads node metadata (`docs/reference/wire.md` §1.1).
    ///
    /// The reading rules live once, in [`WorkloadView::from_struct`]; this
    /// serializes `node` and reads it back through them (a start-up cost, so
    /// one implementation beats a second copy of the rules).
    #[must_use]
    pub fn from_node_metadata(node: &Struct, additional_labels: &[&str]) -> Self {
        let bytes = encode_struct(node);
        // An owned Struct always serializes to a valid Struct; depth is the
        // only limit it could exceed, and then the record is empty.
        StructView::parse_with(
            &bytes,
            &crate::proto::Limits::new().with_max_depth(crate::proto::Limits::MAX_MAX_DEPTH),
        )
        .map(|view| Self::from_view(&WorkloadView::from_struct(view), additional_labels))
        .unwrap_or_default()
    }

    /// The borrowed form (without the additional labels).
    #[must_use]
    pub fn as_view(&self) -> WorkloadView<'_> {
        WorkloadView {
            name: &self.name,
            namespace: &self.namespace,
            workload: &self.workload,
            workload_type: self.workload_type,
            cluster: &self.cluster,
            identity: &self.identity,
            service: &self.service,
            revision: &self.revision,
            app: &self.app,
            version: &self.version,
            region: &self.region,
            availability_zone: &self.availability_zone,
            labels: None,
        }
    }

    /// The metadata as the Struct a peer receives (`docs/reference/wire.md` §1.2):
    /// non-empty fields only, `LABELS` always present with the normalised
    /// `app`/`version` under their short keys, `OWNER` re-synthesised.
    #[must_use]
    pub fn to_struct(&self) -> Struct {
        let mut s = Struct::new();
        let put = |s: &mut Struct, key: &str, value: &str| {
            if !value.is_empty() {
                s.insert(key, value);
            }
        };
        put(&mut s, keys::NAME, &self.name);
        put(&mut s, keys::NAMESPACE, &self.namespace);
        put(&mut s, keys::WORKLOAD_NAME, &self.workload);
        put(&mut s, keys::CLUSTER_ID, &self.cluster);
        put(&mut s, keys::IDENTITY, &self.identity);
        put(&mut s, keys::REGION, &self.region);
        put(&mut s, keys::AVAILABILITY_ZONE, &self.availability_zone);
        if let Some(kind) = self.workload_type.wire_name() {
            // `apps/v1` even for jobs: upstream quirk, reproduced.
            let owner = format!(
                "kubernetes://apis/apps/v1/namespaces/{}/{kind}s/{}",
                self.namespace, self.workload
            );
            s.insert(keys::OWNER, owner);
        }
        let mut labels = Struct::new();
        put(&mut labels, keys::CANONICAL_NAME, &self.service);
        put(&mut labels, keys::CANONICAL_REVISION, &self.revision);
        put(&mut labels, keys::APP, &self.app);
        put(&mut labels, keys::VERSION, &self.version);
        for (key, value) in &self.labels {
            put(&mut labels, key, value);
        }
        s.insert(keys::LABELS, labels);
        s
    }

    /// The metadata as the lower-case Struct stored for expression access
    /// (`docs/reference/wire.md` §1.3), e.g. `filter_state.upstream_peer.service`.
    #[must_use]
    pub fn to_lowercase_struct(&self) -> Struct {
        let mut s = Struct::new();
        for (key, value) in [
            ("name", &self.name),
            ("namespace", &self.namespace),
            ("workload", &self.workload),
            ("cluster", &self.cluster),
            ("identity", &self.identity),
            ("service", &self.service),
            ("revision", &self.revision),
            ("app", &self.app),
            ("version", &self.version),
            ("region", &self.region),
            ("availability_zone", &self.availability_zone),
        ] {
            if !value.is_empty() {
                s.insert(key, value.as_str());
            }
        }
        if let Some(kind) = self.workload_type.wire_name() {
            s.insert("type", kind);
        }
        if !self.labels.is_empty() {
            let labels: Struct = self
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), Value::from(v.as_str())))
                .collect();
            s.insert("labels", labels);
        }
        s
    }
}

/// The node id of a sidecar: `sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local`.
///
/// ```
/// use meshtel_wire::workload::sidecar_node_id;
/// assert_eq!(sidecar_node_id("10.1.1.0", "v0", "default"), "sidecar~10.1.1.0~v0.default~default.svc.cluster.local");
/// ```
#[must_use]
pub fn sidecar_node_id(ip: &str, pod: &str, namespace: &str) -> String {
    format!("sidecar~{ip}~{pod}.{namespace}~{namespace}.svc.cluster.local")
}
