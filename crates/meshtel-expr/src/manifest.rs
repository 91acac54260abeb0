//! Attribute manifests: which attributes exist and their types
//! (`docs/reference/expressions.md` §4.2, §9).

use alloc::sync::Arc;

use hashbrown::HashMap;

use crate::ValueType;

/// The position of an attribute in its [`Manifest`]: a program compiled against a manifest
/// reads attributes by this id, so bags built for the same manifest need no name lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttrId(u32);

impl AttrId {
    /// The id of position `index` (CEL comprehension variables live past the manifest).
    pub(crate) fn from_index(index: usize) -> Self {
        Self(u32::try_from(index).unwrap_or(u32::MAX))
    }

    /// The id as an index (0-based, dense).
    #[must_use]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A map from attribute name to type. Ids are dense and assigned in insertion order.
///
/// ```
/// use meshtel_expr::{Manifest, ValueType};
/// let mut m = Manifest::new();
/// let id = m.insert("request.size", ValueType::Int64);
/// assert_eq!(m.get("request.size"), Some((id, ValueType::Int64)));
/// assert_eq!(Manifest::istio().get("source.labels").map(|(_, t)| t), Some(ValueType::StringMap));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Manifest {
    attrs: Vec<(Arc<str>, ValueType)>,
    index: HashMap<Arc<str>, AttrId, foldhash::fast::RandomState>,
}

/// Istio's attribute vocabulary (`docs/reference/expressions.md` §9): the default manifest.
pub const ISTIO_VOCABULARY: [(&str, ValueType); 89] = {
    use ValueType::{Bool, Duration, Int64, IpAddress, String, StringMap, Timestamp};
    [
        ("source.uid", String),
        ("source.ip", IpAddress),
        ("source.labels", StringMap),
        ("source.name", String),
        ("source.namespace", String),
        ("source.principal", String),
        ("source.owner", String),
        ("source.workload.uid", String),
        ("source.workload.name", String),
        ("source.workload.namespace", String),
        ("source.user", String),
        ("source.serviceAccount", String),
        ("source.services", String),
        ("destination.uid", String),
        ("destination.ip", IpAddress),
        ("destination.port", Int64),
        ("destination.labels", StringMap),
        ("destination.name", String),
        ("destination.namespace", String),
        ("destination.principal", String),
        ("destination.owner", String),
        ("destination.workload.uid", String),
        ("destination.workload.name", String),
        ("destination.workload.namespace", String),
        ("destination.container.name", String),
        ("destination.container.image", String),
        ("destination.service.host", String),
        ("destination.service.uid", String),
        ("destination.service.name", String),
        ("destination.service.namespace", String),
        ("destination.metadata", StringMap),
        ("destination.serviceAccount", String),
        ("request.headers", StringMap),
        ("request.id", String),
        ("request.path", String),
        ("request.url_path", String),
        ("request.query_params", StringMap),
        ("request.host", String),
        ("request.method", String),
        ("request.reason", String),
        ("request.referer", String),
        ("request.scheme", String),
        ("request.useragent", String),
        ("request.size", Int64),
        ("request.total_size", Int64),
        ("request.time", Timestamp),
        ("request.api_key", String),
        ("request.auth.principal", String),
        ("request.auth.audiences", String),
        ("request.auth.presenter", String),
        ("request.auth.claims", StringMap),
        ("request.auth.raw_claims", String),
        ("response.headers", StringMap),
        ("response.size", Int64),
        ("response.total_size", Int64),
        ("response.time", Timestamp),
        ("response.duration", Duration),
        ("response.code", Int64),
        ("response.grpc_status", String),
        ("response.grpc_message", String),
        ("connection.id", String),
        ("connection.event", String),
        ("connection.received.bytes", Int64),
        ("connection.sent.bytes", Int64),
        ("connection.received.bytes_total", Int64),
        ("connection.sent.bytes_total", Int64),
        ("connection.duration", Duration),
        ("connection.mtls", Bool),
        ("connection.requested_server_name", String),
        ("context.protocol", String),
        ("context.time", Timestamp),
        ("context.timestamp", Timestamp),
        ("context.reporter.kind", String),
        ("context.reporter.uid", String),
        ("context.reporter.local", Bool),
        ("context.proxy_error_code", String),
        ("api.service", String),
        ("api.version", String),
        ("api.operation", String),
        ("api.protocol", String),
        ("origin.ip", IpAddress),
        ("origin.uid", String),
        ("origin.user", String),
        ("check.error_code", Int64),
        ("check.error_message", String),
        ("check.cache_hit", Bool),
        ("quota.cache_hit", Bool),
        ("rbac.permissive.response_code", String),
        ("rbac.permissive.effective_policy_id", String),
    ]
};

/// Envoy's attribute vocabulary for CEL (`docs/reference/expressions.md` §10.2), with
/// Istio's peer objects: `filter_state.upstream_peer.*` and `filter_state.downstream_peer.*`
/// (Istio 1.24 and later) and the earlier `upstream_peer.*`, `downstream_peer.*` and `node.*`
/// spellings. Messages are flattened to their fields (`xds.node.id`); metadata messages and
/// raw `filter_state` entries are not part of it.
pub const ENVOY_VOCABULARY: &[(&str, ValueType)] = {
    use ValueType::{Bool, Duration, Int64, String, StringMap, Timestamp, Uint64};
    &[
        ("request.path", String),
        ("request.url_path", String),
        ("request.host", String),
        ("request.scheme", String),
        ("request.method", String),
        ("request.headers", StringMap),
        ("request.headers_bytes", Int64),
        ("request.referer", String),
        ("request.useragent", String),
        ("request.time", Timestamp),
        ("request.id", String),
        ("request.protocol", String),
        ("request.query", String),
        ("request.duration", Duration),
        ("request.size", Int64),
        ("request.total_size", Int64),
        ("response.code", Int64),
        ("response.code_details", String),
        ("response.flags", Int64),
        ("response.grpc_status", Int64),
        ("response.headers", StringMap),
        ("response.headers_bytes", Int64),
        ("response.trailers", StringMap),
        ("response.size", Int64),
        ("response.total_size", Int64),
        ("response.backend_latency", Duration),
        ("source.address", String),
        ("source.port", Int64),
        ("destination.address", String),
        ("destination.port", Int64),
        ("connection.id", Uint64),
        ("connection.mtls", Bool),
        ("connection.requested_server_name", String),
        ("connection.tls_version", String),
        ("connection.subject_local_certificate", String),
        ("connection.subject_peer_certificate", String),
        ("connection.dns_san_local_certificate", String),
        ("connection.dns_san_peer_certificate", String),
        ("connection.uri_san_local_certificate", String),
        ("connection.uri_san_peer_certificate", String),
        ("connection.sha256_peer_certificate_digest", String),
        ("connection.peer_certificate", String),
        ("connection.peer_certificate_valid", Bool),
        ("connection.transport_failure_reason", String),
        ("connection.termination_details", String),
        ("upstream.address", String),
        ("upstream.port", Int64),
        ("upstream.local_address", String),
        ("upstream.locality.region", String),
        ("upstream.locality.zone", String),
        ("upstream.locality.sub_zone", String),
        ("upstream.transport_failure_reason", String),
        ("upstream.request_attempt_count", Uint64),
        ("upstream.cx_pool_ready_duration", Duration),
        ("upstream.num_endpoints", Uint64),
        ("upstream.server_name", String),
        ("upstream.tls_version", String),
        ("upstream.subject_local_certificate", String),
        ("upstream.subject_peer_certificate", String),
        ("upstream.dns_san_local_certificate", String),
        ("upstream.dns_san_peer_certificate", String),
        ("upstream.uri_san_local_certificate", String),
        ("upstream.uri_san_peer_certificate", String),
        ("upstream.sha256_peer_certificate_digest", String),
        ("upstream.peer_certificate", String),
        ("xds.node.id", String),
        ("xds.node.cluster", String),
        ("xds.node.locality.region", String),
        ("xds.node.locality.zone", String),
        ("xds.node.locality.sub_zone", String),
        ("xds.node.user_agent_name", String),
        ("xds.node.user_agent_version", String),
        ("node.id", String),
        ("node.cluster", String),
        ("node.locality.region", String),
        ("node.locality.zone", String),
        ("node.locality.sub_zone", String),
        ("xds.cluster_name", String),
        ("xds.route_name", String),
        ("xds.virtual_host_name", String),
        ("xds.filter_chain_name", String),
        ("xds.listener_direction", Int64),
        ("filter_state.upstream_peer.name", String),
        ("filter_state.upstream_peer.namespace", String),
        ("filter_state.upstream_peer.workload", String),
        ("filter_state.upstream_peer.type", String),
        ("filter_state.upstream_peer.cluster", String),
        ("filter_state.upstream_peer.service", String),
        ("filter_state.upstream_peer.revision", String),
        ("filter_state.upstream_peer.app", String),
        ("filter_state.upstream_peer.version", String),
        ("filter_state.upstream_peer.identity", String),
        ("filter_state.upstream_peer.region", String),
        ("filter_state.upstream_peer.availability_zone", String),
        ("filter_state.upstream_peer.labels", StringMap),
        ("filter_state.downstream_peer.name", String),
        ("filter_state.downstream_peer.namespace", String),
        ("filter_state.downstream_peer.workload", String),
        ("filter_state.downstream_peer.type", String),
        ("filter_state.downstream_peer.cluster", String),
        ("filter_state.downstream_peer.service", String),
        ("filter_state.downstream_peer.revision", String),
        ("filter_state.downstream_peer.app", String),
        ("filter_state.downstream_peer.version", String),
        ("filter_state.downstream_peer.identity", String),
        ("filter_state.downstream_peer.region", String),
        ("filter_state.downstream_peer.availability_zone", String),
        ("filter_state.downstream_peer.labels", StringMap),
        ("upstream_peer.name", String),
        ("upstream_peer.namespace", String),
        ("upstream_peer.labels", StringMap),
        ("upstream_peer.owner", String),
        ("upstream_peer.workload_name", String),
        ("upstream_peer.istio_version", String),
        ("upstream_peer.mesh_id", String),
        ("upstream_peer.cluster_id", String),
        ("upstream_peer.identity", String),
        ("downstream_peer.name", String),
        ("downstream_peer.namespace", String),
        ("downstream_peer.labels", StringMap),
        ("downstream_peer.owner", String),
        ("downstream_peer.workload_name", String),
        ("downstream_peer.istio_version", String),
        ("downstream_peer.mesh_id", String),
        ("downstream_peer.cluster_id", String),
        ("downstream_peer.identity", String),
    ]
};

impl Manifest {
    /// An empty manifest.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The Istio vocabulary of `docs/reference/expressions.md` §9 (89 attributes).
    #[must_use]
    pub fn istio() -> Self {
        ISTIO_VOCABULARY.into_iter().collect()
    }

    /// Envoy's CEL attribute vocabulary ([`ENVOY_VOCABULARY`]): the manifest CEL programs are
    /// compiled against.
    #[must_use]
    pub fn envoy() -> Self {
        ENVOY_VOCABULARY.iter().copied().collect()
    }

    /// Adds an attribute, or changes the type of an existing one; returns its id.
    pub fn insert(&mut self, name: &str, ty: ValueType) -> AttrId {
        if let Some(&id) = self.index.get(name) {
            self.attrs[id.index()].1 = ty;
            return id;
        }
        let id = AttrId(u32::try_from(self.attrs.len()).unwrap_or(u32::MAX));
        let name: Arc<str> = Arc::from(name);
        self.attrs.push((name.clone(), ty));
        self.index.insert(name, id);
        id
    }

    /// The id and type of `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<(AttrId, ValueType)> {
        self.index.get(name).map(|&id| (id, self.attrs[id.index()].1))
    }

    /// The name and type of `id`.
    #[must_use]
    pub fn attribute(&self, id: AttrId) -> Option<(&str, ValueType)> {
        self.attrs.get(id.index()).map(|(n, t)| (&**n, *t))
    }

    pub(crate) fn shared_name(&self, id: AttrId) -> Arc<str> {
        self.attrs[id.index()].0.clone()
    }

    /// The number of attributes (ids run from 0 to `len() - 1`).
    #[must_use]
    pub fn len(&self) -> usize {
        self.attrs.len()
    }

    /// Whether the manifest has no attributes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// Every attribute, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (AttrId, &str, ValueType)> {
        self.attrs
            .iter()
            .enumerate()
            .map(|(i, (n, t))| (AttrId(i as u32), &**n, *t))
    }
}

impl<'n> FromIterator<(&'n str, ValueType)> for Manifest {
    fn from_iter<I: IntoIterator<Item = (&'n str, ValueType)>>(iter: I) -> Self {
        let mut m = Self::new();
        for (name, ty) in iter {
            m.insert(name, ty);
        }
        m
    }
}
