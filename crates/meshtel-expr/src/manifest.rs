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
