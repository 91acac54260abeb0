//! The attribute bag of `docs/reference/telemetry.md` §10.4: the Istio vocabulary plus the
//! extension attributes of §10.2 for Mixer expressions, Envoy's vocabulary with Istio's peer
//! objects for CEL expressions, populated from the facts per reporter, read by slot.

use meshtel_expr::{Attr, Bag, Duration, Manifest, StringMap, Value, ValueType};
use meshtel_wire::workload::{WorkloadMetadata, WorkloadView};

use crate::facts::{
    ConnectionFacts, LocalNode, Protocol, Reporter, RequestFacts, Tls, grpc_response_status, spiffe_namespace,
};

/// The extension attributes of `docs/reference/telemetry.md` §10.2.
const EXTENSIONS: [(&str, ValueType); 7] = [
    ("source.canonical_service", ValueType::String),
    ("destination.canonical_service", ValueType::String),
    ("source.canonical_revision", ValueType::String),
    ("destination.canonical_revision", ValueType::String),
    ("source.cluster_id", ValueType::String),
    ("destination.cluster_id", ValueType::String),
    ("context.reporter.gateway", ValueType::Bool),
];

/// The manifest Mixer-dialect label and value expressions are checked against: Istio's
/// vocabulary (`docs/reference/expressions.md` §9) extended by
/// `docs/reference/telemetry.md` §10.2.
///
/// ```
/// use meshtel_expr::{Dialect, Program};
/// let m = meshtel::manifest();
/// assert!(Program::compile(Dialect::Mixer, r#""_" + destination.canonical_service"#, &m).is_ok());
/// ```
#[must_use]
pub fn manifest() -> Manifest {
    let mut m = Manifest::istio();
    for (name, ty) in EXTENSIONS {
        m.insert(name, ty);
    }
    m
}

/// The manifest CEL label and value expressions are compiled against: Envoy's attribute
/// vocabulary with Istio's peer objects ([`meshtel_expr::ENVOY_VOCABULARY`]).
///
/// Its ids continue those of [`manifest`]: the first ids are held by names no CEL
/// expression can spell, so one slot table and one bag serve the programs of both dialects
/// (the standard labels are computed by built-in Mixer expressions whatever the dialect of
/// the configuration).
///
/// ```
/// use meshtel_expr::{Dialect, Program};
/// let m = meshtel::cel_manifest();
/// let p = Program::compile(Dialect::Cel, "filter_state.upstream_peer.app", &m).unwrap();
/// assert_eq!(p.references().collect::<Vec<_>>(), ["filter_state.upstream_peer.app"]);
/// ```
#[must_use]
pub fn cel_manifest() -> Manifest {
    let mixer = manifest();
    let mut m = Manifest::new();
    for (_, name, ty) in mixer.iter() {
        // A NUL cannot appear in a CEL name: these entries only hold the Mixer ids.
        m.insert(&format!("\0{name}"), ty);
    }
    for &(name, ty) in meshtel_expr::ENVOY_VOCABULARY {
        m.insert(name, ty);
    }
    m
}

/// Whose peer object a `filter_state` attribute reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerSide {
    /// `filter_state.upstream_peer`: the server side's workload, seen by a client.
    Upstream,
    /// `filter_state.downstream_peer`: the client side's workload, seen by a server.
    Downstream,
}

/// A field of Istio's peer object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerField {
    Name,
    Namespace,
    Workload,
    Type,
    Cluster,
    Service,
    Revision,
    App,
    Version,
    Identity,
    Region,
    AvailabilityZone,
    Labels,
}

impl PeerField {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "name" => Self::Name,
            "namespace" => Self::Namespace,
            "workload" | "workload_name" => Self::Workload,
            "type" => Self::Type,
            "cluster" | "cluster_id" => Self::Cluster,
            "service" => Self::Service,
            "revision" => Self::Revision,
            "app" => Self::App,
            "version" => Self::Version,
            "identity" => Self::Identity,
            "region" => Self::Region,
            "availability_zone" => Self::AvailabilityZone,
            "labels" => Self::Labels,
            _ => return None,
        })
    }

    fn read(self, peer: Option<&WorkloadMetadata>) -> Read<'_> {
        let Some(peer) = peer else {
            return if self == Self::Labels {
                Read::Map(None)
            } else {
                Read::Text(None)
            };
        };
        let text = match self {
            Self::Name => &peer.name,
            Self::Namespace => &peer.namespace,
            Self::Workload => &peer.workload,
            Self::Type => return Read::Text(peer.workload_type.wire_name()),
            Self::Cluster => &peer.cluster,
            Self::Service => &peer.service,
            Self::Revision => &peer.revision,
            Self::App => &peer.app,
            Self::Version => &peer.version,
            Self::Identity => &peer.identity,
            Self::Region => &peer.region,
            Self::AvailabilityZone => &peer.availability_zone,
            Self::Labels => return Read::Map(Some(&peer.labels)),
        };
        Read::Text(set_if(text))
    }
}

/// Where an attribute's value comes from. Connection-scoped slots are fixed for a
/// connection; request-scoped ones change per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    None,
    // Connection scope.
    ReporterKind,
    ReporterGateway,
    ReporterUid,
    SourceWorkloadName,
    SourceWorkloadNamespace,
    SourcePrincipal,
    SourceLabels,
    SourceCanonicalService,
    SourceCanonicalRevision,
    SourceClusterId,
    DestinationWorkloadName,
    DestinationWorkloadNamespace,
    DestinationPrincipal,
    DestinationLabels,
    DestinationCanonicalService,
    DestinationCanonicalRevision,
    DestinationClusterId,
    DestinationPort,
    ConnectionMtls,
    ConnectionSni,
    /// CEL: a field of a peer object.
    Peer(PeerSide, PeerField),
    /// CEL: `connection.uri_san_peer_certificate`, `connection.uri_san_local_certificate`.
    PeerPrincipal,
    LocalPrincipal,
    // Request scope (or, for TCP, evaluated once at the first emission).
    DestinationServiceHost,
    DestinationServiceName,
    DestinationServiceNamespace,
    ContextProtocol,
    ResponseCode,
    ResponseGrpcStatus,
    ProxyErrorCode,
    RequestHost,
    RequestMethod,
    RequestPath,
    RequestUrlPath,
    RequestHeaders,
    RequestTotalSize,
    ResponseHeaders,
    ResponseTotalSize,
    ResponseDuration,
    ConnectionReceivedBytesTotal,
    ConnectionSentBytesTotal,
    /// CEL: `response.grpc_status` as Envoy types it, an int.
    ResponseGrpcStatusCode,
    /// CEL: `xds.cluster_name`, `xds.route_name`.
    ClusterName,
    RouteName,
}

impl Slot {
    fn of(name: &str) -> Self {
        match name {
            "context.reporter.kind" => Self::ReporterKind,
            "context.reporter.gateway" => Self::ReporterGateway,
            "context.reporter.uid" => Self::ReporterUid,
            "source.workload.name" => Self::SourceWorkloadName,
            "source.workload.namespace" => Self::SourceWorkloadNamespace,
            "source.principal" => Self::SourcePrincipal,
            "source.labels" => Self::SourceLabels,
            "source.canonical_service" => Self::SourceCanonicalService,
            "source.canonical_revision" => Self::SourceCanonicalRevision,
            "source.cluster_id" => Self::SourceClusterId,
            "destination.workload.name" => Self::DestinationWorkloadName,
            "destination.workload.namespace" => Self::DestinationWorkloadNamespace,
            "destination.principal" => Self::DestinationPrincipal,
            "destination.labels" => Self::DestinationLabels,
            "destination.canonical_service" => Self::DestinationCanonicalService,
            "destination.canonical_revision" => Self::DestinationCanonicalRevision,
            "destination.cluster_id" => Self::DestinationClusterId,
            "destination.port" => Self::DestinationPort,
            "connection.mtls" => Self::ConnectionMtls,
            "connection.requested_server_name" => Self::ConnectionSni,
            "destination.service.host" => Self::DestinationServiceHost,
            "destination.service.name" => Self::DestinationServiceName,
            "destination.service.namespace" => Self::DestinationServiceNamespace,
            "context.protocol" => Self::ContextProtocol,
            "response.code" => Self::ResponseCode,
            "response.grpc_status" => Self::ResponseGrpcStatus,
            "context.proxy_error_code" => Self::ProxyErrorCode,
            "request.host" => Self::RequestHost,
            "request.method" => Self::RequestMethod,
            "request.path" => Self::RequestPath,
            "request.url_path" => Self::RequestUrlPath,
            "request.headers" => Self::RequestHeaders,
            "request.total_size" => Self::RequestTotalSize,
            "response.headers" => Self::ResponseHeaders,
            "response.total_size" => Self::ResponseTotalSize,
            "response.duration" => Self::ResponseDuration,
            "connection.received.bytes_total" => Self::ConnectionReceivedBytesTotal,
            "connection.sent.bytes_total" => Self::ConnectionSentBytesTotal,
            _ => Self::None,
        }
    }

    /// The slot of an attribute of Envoy's CEL vocabulary.
    fn of_envoy(name: &str) -> Self {
        let peer = |side, field: &str| PeerField::of(field).map_or(Self::None, |f| Self::Peer(side, f));
        if let Some(field) = name.strip_prefix("filter_state.upstream_peer.") {
            return peer(PeerSide::Upstream, field);
        }
        if let Some(field) = name.strip_prefix("filter_state.downstream_peer.") {
            return peer(PeerSide::Downstream, field);
        }
        if let Some(field) = name.strip_prefix("upstream_peer.") {
            return peer(PeerSide::Upstream, field);
        }
        if let Some(field) = name.strip_prefix("downstream_peer.") {
            return peer(PeerSide::Downstream, field);
        }
        match name {
            "request.host"
            | "request.method"
            | "request.path"
            | "request.url_path"
            | "request.headers"
            | "request.total_size"
            | "response.code"
            | "response.headers"
            | "response.total_size"
            | "destination.port"
            | "connection.mtls"
            | "connection.requested_server_name" => Self::of(name),
            "request.duration" => Self::ResponseDuration,
            "response.grpc_status" => Self::ResponseGrpcStatusCode,
            "connection.uri_san_peer_certificate" => Self::PeerPrincipal,
            "connection.uri_san_local_certificate" => Self::LocalPrincipal,
            "xds.node.id" | "node.id" => Self::ReporterUid,
            "xds.cluster_name" => Self::ClusterName,
            "xds.route_name" => Self::RouteName,
            _ => Self::None,
        }
    }

    /// Whether the value can change from one request to the next on a connection.
    pub(crate) const fn is_request_scoped(self) -> bool {
        matches!(
            self,
            Self::DestinationServiceHost
                | Self::DestinationServiceName
                | Self::DestinationServiceNamespace
                | Self::ContextProtocol
                | Self::ResponseCode
                | Self::ResponseGrpcStatus
                | Self::ProxyErrorCode
                | Self::RequestHost
                | Self::RequestMethod
                | Self::RequestPath
                | Self::RequestUrlPath
                | Self::RequestHeaders
                | Self::RequestTotalSize
                | Self::ResponseHeaders
                | Self::ResponseTotalSize
                | Self::ResponseDuration
                | Self::ConnectionReceivedBytesTotal
                | Self::ConnectionSentBytesTotal
                | Self::ResponseGrpcStatusCode
                | Self::ClusterName
                | Self::RouteName
        )
    }
}

/// Manifest id → slot for both dialects, built once per plugin: the ids of [`manifest`] then
/// those [`cel_manifest`] adds.
pub(crate) fn slot_table(mixer: &Manifest, cel: &Manifest) -> Box<[Slot]> {
    let mixer_slots = mixer.iter().map(|(_, name, _)| Slot::of(name));
    let cel_slots = cel.iter().skip(mixer.len()).map(|(_, name, _)| Slot::of_envoy(name));
    mixer_slots.chain(cel_slots).collect()
}

/// `Some(s)` when non-empty: the "set≠\"\"" rule of `docs/reference/telemetry.md` §10.4.
fn nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// One side of a connection, source or destination: the workload attributes of
/// `docs/reference/telemetry.md` §10.4 (`None`: absent).
#[derive(Clone, Debug, Default)]
struct Side {
    workload: Option<String>,
    namespace: Option<String>,
    principal: Option<String>,
    labels: Option<Vec<(String, String)>>,
    service: Option<String>,
    revision: Option<String>,
    cluster: Option<String>,
}

impl Side {
    /// The local node's side: every attribute present, even empty, but the principal.
    fn local(local: &LocalNode, principal: &str) -> Self {
        Self {
            workload: Some(local.workload.clone()),
            namespace: Some(local.namespace.clone()),
            principal: nonempty(principal),
            labels: Some(local_labels(local)),
            service: Some(local.service.clone()),
            revision: Some(local.revision.clone()),
            cluster: Some(local.cluster.clone()),
        }
    }

    /// A peer's side: each attribute present when non-empty ("set≠\"\""). The namespace and
    /// principal are given: they need not be the record's.
    fn peer(peer: &WorkloadMetadata, namespace: &str, principal: &str) -> Self {
        Self {
            workload: nonempty(&peer.workload),
            namespace: nonempty(namespace),
            principal: nonempty(principal),
            labels: peer_labels(peer),
            service: nonempty(&peer.service),
            revision: nonempty(&peer.revision),
            cluster: nonempty(&peer.cluster),
        }
    }
}

/// The connection-scoped attributes, computed once per connection
/// (`docs/reference/telemetry.md` §4.2, §4.4, §10.4).
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectionAttrs {
    reporter: Reporter,
    uid: Option<String>,
    source: Side,
    destination: Side,
    destination_port: Option<i64>,
    mtls: Option<bool>,
    sni: Option<String>,
    /// `peer_namespace` (outbound: the fallback of `destination.service.namespace`).
    pub(crate) peer_namespace: String,
    /// The local canonical service (inbound service fallbacks) and namespace.
    local_service: String,
    local_namespace: String,
    /// CEL's peer objects and the principals of the two ends.
    upstream_peer: Option<WorkloadMetadata>,
    downstream_peer: Option<WorkloadMetadata>,
    peer_principal: Option<String>,
    local_principal: Option<String>,
}

fn local_labels(local: &LocalNode) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = local
        .labels
        .iter()
        .filter(|(k, _)| *k != "app" && *k != "version")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.push(("app".into(), local.app.clone()));
    labels.push(("version".into(), local.version.clone()));
    labels
}

fn peer_labels(peer: &WorkloadMetadata) -> Option<Vec<(String, String)>> {
    let mut labels: Vec<(String, String)> = Vec::new();
    for (k, v) in [("app", &peer.app), ("version", &peer.version)]
        .into_iter()
        .chain(peer.labels.iter().map(|(k, v)| (k.as_str(), v)))
    {
        if !v.is_empty() && !labels.iter().any(|(seen, _)| seen == k) {
            labels.push((k.to_owned(), v.clone()));
        }
    }
    (!labels.is_empty()).then_some(labels)
}

/// `P` when discovery found none: outbound falls back to the endpoint metadata string
/// (`docs/reference/telemetry.md` §4.2).
fn endpoint_peer(reporter: Reporter, facts: &ConnectionFacts) -> Option<WorkloadMetadata> {
    match (reporter, &facts.peer, &facts.endpoint_metadata) {
        (Reporter::Outbound, None, Some(endpoint)) => {
            WorkloadView::from_endpoint_metadata(endpoint).map(|v| WorkloadMetadata::from_view(&v, &[]))
        }
        _ => None,
    }
}

/// The peer and local principals (`docs/reference/telemetry.md` §4.4): outbound from the
/// TLS SANs, the peer's falling back to its identity; inbound and waypoint from the
/// authentication layer, else the SANs.
fn principals(reporter: Reporter, facts: &ConnectionFacts) -> (String, String) {
    let san = |f: fn(&Tls) -> &String| facts.tls.as_ref().map(f).cloned().unwrap_or_default();
    match reporter {
        Reporter::Outbound => {
            let mut peer = san(|t| &t.peer_san);
            if peer.is_empty() {
                peer = facts.peer.as_ref().map(|p| p.identity.clone()).unwrap_or_default();
            }
            (peer, san(|t| &t.local_san))
        }
        Reporter::Inbound | Reporter::Waypoint => match &facts.principals {
            Some(p) if !p.peer.is_empty() || !p.local.is_empty() => (p.peer.clone(), p.local.clone()),
            _ => (san(|t| &t.peer_san), san(|t| &t.local_san)),
        },
    }
}

impl ConnectionAttrs {
    pub(crate) fn new(local: &LocalNode, reporter: Reporter, facts: &ConnectionFacts) -> Self {
        let empty = WorkloadMetadata::default();
        let endpoint_peer = endpoint_peer(reporter, facts);
        let peer = facts.peer.as_ref().or(endpoint_peer.as_ref()).unwrap_or(&empty);
        let (peer_principal, local_principal) = principals(reporter, facts);
        let peer_namespace = match spiffe_namespace(&peer_principal) {
            Some(ns) if !peer_principal.is_empty() && !ns.is_empty() => ns.to_owned(),
            _ => peer.namespace.clone(),
        };
        let peer_side = || Side::peer(peer, &peer_namespace, &peer_principal);
        let (source, destination) = match reporter {
            Reporter::Outbound => (Side::local(local, &local_principal), peer_side()),
            Reporter::Inbound => (peer_side(), Side::local(local, &local_principal)),
            Reporter::Waypoint => {
                let upstream = facts.upstream_peer.as_ref().unwrap_or(&empty);
                (
                    peer_side(),
                    Side::peer(upstream, &upstream.namespace, &upstream.identity),
                )
            }
        };
        let mtls = !peer_principal.is_empty() && !local_principal.is_empty();
        let known = |p: &WorkloadMetadata| (*p != empty).then(|| p.clone());
        let (upstream_peer, downstream_peer) = match reporter {
            Reporter::Outbound => (known(peer), None),
            Reporter::Inbound => (None, known(peer)),
            Reporter::Waypoint => (facts.upstream_peer.as_ref().and_then(known), known(peer)),
        };
        Self {
            reporter,
            uid: nonempty(&local.node_id),
            source,
            destination,
            destination_port: facts.destination_port.map(i64::from),
            mtls: (reporter != Reporter::Outbound).then_some(mtls),
            sni: facts.requested_server_name.clone(),
            peer_namespace,
            local_service: local.service.clone(),
            local_namespace: local.namespace.clone(),
            upstream_peer,
            downstream_peer,
            peer_principal: nonempty(&peer_principal),
            local_principal: nonempty(&local_principal),
        }
    }
}

/// The service facts `S.host`, `S.name`, `S.namespace` (`docs/reference/telemetry.md` §4.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServiceFacts<'r> {
    pub(crate) host: &'r str,
    pub(crate) name: &'r str,
    pub(crate) namespace: &'r str,
}

const SPECIAL_CLUSTERS: [&str; 5] = [
    "BlackHoleCluster",
    "PassthroughCluster",
    "InboundPassthroughCluster",
    "InboundPassthroughClusterIpv4",
    "InboundPassthroughClusterIpv6",
];

impl<'r> ServiceFacts<'r> {
    pub(crate) fn new(host_header: Option<&'r str>, fallback: bool, routing: &crate::facts::Routing<'r>) -> Self {
        let host = if fallback { host_header.unwrap_or("") } else { "" };
        let mut s = Self {
            host,
            name: host,
            namespace: "",
        };
        match routing.route_name {
            Some("block_all") => s.name = "BlackHoleCluster",
            Some("allow_any") => s.name = "PassthroughCluster",
            _ => {
                if let Some(cluster) = routing.cluster_name
                    && let Some(special) = SPECIAL_CLUSTERS.iter().find(|c| **c == cluster)
                {
                    s.name = special;
                    return s;
                }
                if let Some(svc) = routing.cluster_service {
                    if let Some(h) = svc.host {
                        s.host = h;
                    }
                    if let Some(ns) = svc.namespace {
                        s.namespace = ns;
                    }
                    s.name = svc.name.unwrap_or_else(|| s.host.split('.').next().unwrap_or(s.host));
                }
            }
        }
        s
    }
}

/// The request-scoped attributes of one stream, all borrowed.
#[derive(Clone, Copy, Default)]
pub(crate) struct RequestAttrs<'r> {
    pub(crate) facts: Option<&'r RequestFacts<'r>>,
    pub(crate) service: ServiceFacts<'r>,
    pub(crate) protocol: &'static str,
    pub(crate) grpc_status: &'r str,
    pub(crate) flags: Option<&'r str>,
    pub(crate) bytes_total: Option<(u64, u64)>,
}

impl<'r> RequestAttrs<'r> {
    pub(crate) fn http(facts: &'r RequestFacts<'r>, service: ServiceFacts<'r>, flags: Option<&'r str>) -> Self {
        let grpc = facts.protocol == Protocol::Grpc;
        let grpc_status = if grpc {
            grpc_response_status(facts.grpc_status_trailer, facts.grpc_status_header, facts.response_code)
        } else {
            ""
        };
        Self {
            facts: Some(facts),
            service,
            protocol: if grpc { "grpc" } else { "http" },
            grpc_status,
            flags,
            bytes_total: None,
        }
    }

    pub(crate) fn tcp(service: ServiceFacts<'r>, flags: Option<&'r str>, bytes_total: (u64, u64)) -> Self {
        Self {
            facts: None,
            service,
            protocol: "tcp",
            grpc_status: "",
            flags,
            bytes_total: Some(bytes_total),
        }
    }
}

/// A present text when non-empty ("set≠\"\"").
fn set_if(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// The bag: the slot table, one connection's attributes, and (when evaluating with a
/// request) the request's.
pub(crate) struct StatsBag<'a> {
    pub(crate) slots: &'a [Slot],
    pub(crate) conn: &'a ConnectionAttrs,
    pub(crate) req: Option<&'a RequestAttrs<'a>>,
}

fn text(s: Option<&String>) -> Option<&str> {
    s.map(String::as_str)
}

/// A count as an INT64 value, saturating (no count comes near `i64::MAX`).
fn int(n: u64) -> Value<'static> {
    Value::Int64(i64::try_from(n).unwrap_or(i64::MAX))
}

fn labels(side: &Side) -> Option<&dyn StringMap> {
    side.labels.as_ref().map(|l| l as &dyn StringMap)
}

/// Which kind of value a slot holds, and the value when it is text or a map: the bag
/// answers [`Bag::get_text`] and [`Bag::get_map`] without building a [`Value`], and
/// [`Bag::get`] from the same code.
enum Read<'v> {
    Text(Option<&'v str>),
    Map(Option<&'v dyn StringMap>),
    Other,
}

impl Bag for StatsBag<'_> {
    fn get(&self, attr: Attr<'_>) -> Option<Value<'_>> {
        let slot = *self.slots.get(attr.id.index())?;
        match self.read(slot) {
            Read::Text(text) => text.map(Value::str),
            Read::Map(map) => map.map(Value::StringMap),
            Read::Other => self.other(slot),
        }
    }

    #[inline]
    fn get_text(&self, attr: Attr<'_>) -> Option<&str> {
        match self.read(*self.slots.get(attr.id.index())?) {
            Read::Text(text) => text,
            _ => None,
        }
    }

    #[inline]
    fn get_map(&self, attr: Attr<'_>) -> Option<&dyn StringMap> {
        match self.read(*self.slots.get(attr.id.index())?) {
            Read::Map(map) => map,
            _ => None,
        }
    }
}

impl StatsBag<'_> {
    /// The text and map slots; [`StatsBag::other`] has the rest.
    fn read(&self, slot: Slot) -> Read<'_> {
        let c = self.conn;
        if slot.is_request_scoped() {
            return self.request(slot);
        }
        Read::Text(match slot {
            Slot::ReporterKind => Some(if c.reporter == Reporter::Outbound {
                "outbound"
            } else {
                "inbound"
            }),
            Slot::ReporterUid => text(c.uid.as_ref()),
            Slot::SourceWorkloadName => text(c.source.workload.as_ref()),
            Slot::SourceWorkloadNamespace => text(c.source.namespace.as_ref()),
            Slot::SourcePrincipal => text(c.source.principal.as_ref()),
            Slot::SourceCanonicalService => text(c.source.service.as_ref()),
            Slot::SourceCanonicalRevision => text(c.source.revision.as_ref()),
            Slot::SourceClusterId => text(c.source.cluster.as_ref()),
            Slot::DestinationWorkloadName => text(c.destination.workload.as_ref()),
            Slot::DestinationWorkloadNamespace => text(c.destination.namespace.as_ref()),
            Slot::DestinationPrincipal => text(c.destination.principal.as_ref()),
            Slot::DestinationCanonicalService => text(c.destination.service.as_ref()),
            Slot::DestinationCanonicalRevision => text(c.destination.revision.as_ref()),
            Slot::DestinationClusterId => text(c.destination.cluster.as_ref()),
            Slot::ConnectionSni => text(c.sni.as_ref()),
            Slot::PeerPrincipal => text(c.peer_principal.as_ref()),
            Slot::LocalPrincipal => text(c.local_principal.as_ref()),
            Slot::SourceLabels => return Read::Map(labels(&c.source)),
            Slot::DestinationLabels => return Read::Map(labels(&c.destination)),
            Slot::Peer(side, field) => {
                let peer = match side {
                    PeerSide::Upstream => c.upstream_peer.as_ref(),
                    PeerSide::Downstream => c.downstream_peer.as_ref(),
                };
                return field.read(peer);
            }
            _ => return Read::Other,
        })
    }

    /// The slots that are neither text nor maps.
    fn other(&self, slot: Slot) -> Option<Value<'_>> {
        let c = self.conn;
        match slot {
            Slot::ReporterGateway => (c.reporter == Reporter::Waypoint).then_some(Value::Bool(true)),
            Slot::DestinationPort => c.destination_port.map(Value::Int64),
            Slot::ConnectionMtls => c.mtls.map(Value::Bool),
            _ => self.request_other(slot),
        }
    }

    /// The request-scoped text and map slots.
    fn request(&self, slot: Slot) -> Read<'_> {
        // Without a request, every request-scoped attribute is absent.
        let Some(r) = self.req else {
            return Read::Text(None);
        };
        let f = r.facts;
        Read::Text(match slot {
            Slot::DestinationServiceHost => self.service(r.service.host),
            Slot::DestinationServiceName => self.service(r.service.name),
            Slot::DestinationServiceNamespace => self.service_namespace(r.service.namespace),
            Slot::ContextProtocol => Some(r.protocol),
            Slot::ResponseGrpcStatus => set_if(r.grpc_status),
            Slot::ProxyErrorCode => r.flags.and_then(set_if),
            Slot::RequestHost => f.and_then(|f| f.host).and_then(set_if),
            Slot::RequestMethod => f.and_then(|f| f.method).and_then(set_if),
            Slot::RequestPath => f.and_then(|f| f.path).and_then(set_if),
            Slot::RequestUrlPath => f
                .and_then(|f| f.path)
                .map(|p| p.split('?').next().unwrap_or(p))
                .and_then(set_if),
            Slot::ClusterName => f.and_then(|f| f.routing.cluster_name).and_then(set_if),
            Slot::RouteName => f.and_then(|f| f.routing.route_name).and_then(set_if),
            Slot::RequestHeaders => return Read::Map(f.and_then(|f| f.request_headers)),
            Slot::ResponseHeaders => return Read::Map(f.and_then(|f| f.response_headers)),
            _ => return Read::Other,
        })
    }

    /// The request-scoped slots that are neither text nor maps.
    fn request_other(&self, slot: Slot) -> Option<Value<'_>> {
        let r = self.req?;
        let f = r.facts;
        match slot {
            Slot::ResponseCode => f.map(|f| Value::Int64(f.response_code.map_or(0, i64::from))),
            Slot::RequestTotalSize => f.and_then(|f| f.request_bytes).map(int),
            Slot::ResponseTotalSize => f.and_then(|f| f.response_bytes).map(int),
            Slot::ResponseDuration => f.and_then(|f| f.duration_ms).map(|ms| {
                Value::Duration(Duration::from_nanos(
                    i64::try_from(ms).unwrap_or(i64::MAX).saturating_mul(1_000_000),
                ))
            }),
            Slot::ConnectionReceivedBytesTotal => r.bytes_total.map(|(_, rx)| int(rx)),
            Slot::ConnectionSentBytesTotal => r.bytes_total.map(|(tx, _)| int(tx)),
            Slot::ResponseGrpcStatusCode => r.grpc_status.parse().ok().map(Value::Int64),
            _ => None,
        }
    }

    /// `destination.service.host` or `.name` from the service fact: inbound, the local
    /// canonical service when the fact is empty; otherwise present when set.
    fn service<'v>(&'v self, fact: &'v str) -> Option<&'v str> {
        if self.conn.reporter == Reporter::Inbound {
            Some(if fact.is_empty() {
                &self.conn.local_service
            } else {
                fact
            })
        } else {
            set_if(fact)
        }
    }

    /// `destination.service.namespace`: inbound, the local namespace; outbound, the fact or
    /// else the peer's namespace; waypoint, the fact.
    fn service_namespace<'v>(&'v self, fact: &'v str) -> Option<&'v str> {
        match self.conn.reporter {
            Reporter::Inbound => Some(&self.conn.local_namespace),
            Reporter::Outbound if fact.is_empty() => set_if(&self.conn.peer_namespace),
            _ => set_if(fact),
        }
    }
}
