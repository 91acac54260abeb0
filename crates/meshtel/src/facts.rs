//! What the embedding proxy tells the plugin: the local node, the peers, TLS and the
//! authentication layer's principals, and per-request facts (`docs/reference/telemetry.md` §4).

use std::collections::BTreeMap;

use meshtel_expr::StringMap;
use meshtel_wire::proto::{Kind, StructView};
use meshtel_wire::workload::WorkloadMetadata;

/// The reporter kind of a plugin instance (`docs/reference/telemetry.md` §1). The embedder
/// chooses it (T1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reporter {
    /// A client sidecar: `reporter="source"`.
    #[default]
    Outbound,
    /// A server sidecar: `reporter="destination"`.
    Inbound,
    /// A server gateway (waypoint): `reporter="waypoint"`.
    Waypoint,
}

/// The local node's metadata, read raw: no normalisation, no fallback
/// (`docs/reference/telemetry.md` §4.1).
///
/// ```
/// use meshtel::LocalNode;
/// let node: serde_json::Value = serde_json::json!({
///     "WORKLOAD_NAME": "productpage-v1", "NAMESPACE": "default", "CLUSTER_ID": "c1",
///     "ISTIO_VERSION": "1.24.0",
///     "LABELS": {"app": "productpage", "app.kubernetes.io/version": "v9"}
/// });
/// let local = LocalNode::from_json(&node);
/// assert_eq!(local.workload, "productpage-v1");
/// assert_eq!(local.version, "");  // `version` only, not `app.kubernetes.io/version`
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalNode {
    /// `WORKLOAD_NAME`.
    pub workload: String,
    /// `NAMESPACE`.
    pub namespace: String,
    /// `LABELS["service.istio.io/canonical-name"]`.
    pub service: String,
    /// `LABELS["service.istio.io/canonical-revision"]`.
    pub revision: String,
    /// `LABELS["app"]`.
    pub app: String,
    /// `LABELS["version"]`.
    pub version: String,
    /// `CLUSTER_ID`.
    pub cluster: String,
    /// `ISTIO_VERSION`: the `tag` of `istio_build`.
    pub istio_version: String,
    /// Every string of `LABELS`.
    pub labels: BTreeMap<String, String>,
    /// The proxy's node id (`context.reporter.uid`), empty when unknown.
    pub node_id: String,
}

impl LocalNode {
    /// Reads node metadata given as JSON (the form of `wire.md`). Missing keys read as `""`.
    #[must_use]
    pub fn from_json(node: &serde_json::Value) -> Self {
        let text = |key: &str| {
            node.get(key)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let labels: BTreeMap<String, String> = node
            .get("LABELS")
            .and_then(serde_json::Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Self::from_parts(text, labels)
    }

    /// Reads node metadata from a protobuf `Struct` view (as the proxy holds it).
    #[must_use]
    pub fn from_struct(node: &StructView<'_>) -> Self {
        let text = |key: &str| match node.get(key).map(|v| v.kind()) {
            Some(Kind::String(s)) => s.to_owned(),
            _ => String::new(),
        };
        let mut labels = BTreeMap::new();
        if let Some(Kind::Struct(l)) = node.get("LABELS").map(|v| v.kind()) {
            for entry in l.entries() {
                if let Kind::String(v) = entry.value().kind() {
                    labels.insert(entry.key().to_owned(), v.to_owned());
                }
            }
        }
        Self::from_parts(text, labels)
    }

    fn from_parts(text: impl Fn(&str) -> String, labels: BTreeMap<String, String>) -> Self {
        let label = |key: &str| labels.get(key).cloned().unwrap_or_default();
        Self {
            workload: text("WORKLOAD_NAME"),
            namespace: text("NAMESPACE"),
            service: label("service.istio.io/canonical-name"),
            revision: label("service.istio.io/canonical-revision"),
            app: label("app"),
            version: label("version"),
            cluster: text("CLUSTER_ID"),
            istio_version: text("ISTIO_VERSION"),
            node_id: String::new(),
            labels,
        }
    }

    /// Sets the node id reported as `context.reporter.uid`.
    #[must_use]
    pub fn with_node_id(mut self, id: impl Into<String>) -> Self {
        self.node_id = id.into();
        self
    }
}

/// URI SANs of the TLS connection the metrics are about (`docs/reference/telemetry.md` §4.4).
/// Absent: plaintext.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    /// First URI SAN of the local certificate.
    pub local_san: String,
    /// First URI SAN of the peer certificate.
    pub peer_san: String,
}

/// Principals supplied by an authentication layer (inbound and waypoint;
/// `docs/reference/telemetry.md` §4.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Principals {
    /// The local principal.
    pub local: String,
    /// The downstream peer's principal.
    pub peer: String,
}

/// Connection-level facts: who the peers are and how the connection is secured.
///
/// `#[non_exhaustive]`: build it from [`ConnectionFacts::default`] with one `with_*` method
/// per field (or assign the public fields of a value you hold).
///
/// ```
/// use meshtel::{ConnectionFacts, Tls};
/// let facts = ConnectionFacts::default()
///     .with_tls(Some(Tls { local_san: "spiffe://td/ns/a/sa/x".into(), peer_san: "spiffe://td/ns/b/sa/y".into() }))
///     .with_destination_port(Some(9080))
///     .with_requested_server_name(Some("reviews.default.svc.cluster.local".into()));
/// assert_eq!(facts.destination_port, Some(9080));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ConnectionFacts {
    /// `P`: the peer found by discovery (headers, prefix frame, baggage, workload discovery).
    pub peer: Option<WorkloadMetadata>,
    /// `E`: the waypoint's upstream peer.
    pub upstream_peer: Option<WorkloadMetadata>,
    /// Outbound only: the chosen endpoint's `istio.workload` string
    /// (`workload;namespace;canonical;revision;cluster`), the fallback for `P`.
    pub endpoint_metadata: Option<String>,
    /// TLS, when the connection has it.
    pub tls: Option<Tls>,
    /// Principals from an authentication layer.
    pub principals: Option<Principals>,
    /// The destination port (`destination.port`).
    pub destination_port: Option<u16>,
    /// SNI (`connection.requested_server_name`).
    pub requested_server_name: Option<String>,
}

impl ConnectionFacts {
    /// Facts with this peer.
    #[must_use]
    pub fn with_peer(mut self, peer: Option<WorkloadMetadata>) -> Self {
        self.peer = peer;
        self
    }

    /// Facts with this TLS.
    #[must_use]
    pub fn with_tls(mut self, tls: Option<Tls>) -> Self {
        self.tls = tls;
        self
    }

    /// Facts with these principals.
    #[must_use]
    pub fn with_principals(mut self, principals: Option<Principals>) -> Self {
        self.principals = principals;
        self
    }

    /// Facts with this waypoint upstream peer.
    #[must_use]
    pub fn with_upstream_peer(mut self, peer: Option<WorkloadMetadata>) -> Self {
        self.upstream_peer = peer;
        self
    }

    /// Facts with this endpoint metadata string.
    #[must_use]
    pub fn with_endpoint_metadata(mut self, endpoint: Option<String>) -> Self {
        self.endpoint_metadata = endpoint;
        self
    }

    /// Facts with this destination port.
    #[must_use]
    pub fn with_destination_port(mut self, port: Option<u16>) -> Self {
        self.destination_port = port;
        self
    }

    /// Facts with this SNI.
    #[must_use]
    pub fn with_requested_server_name(mut self, sni: Option<String>) -> Self {
        self.requested_server_name = sni;
        self
    }
}

/// The service an upstream cluster stands for: element 0 of its `istio.services` filter
/// metadata (`docs/reference/telemetry.md` §4.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterService<'a> {
    /// `host`, if the key is present.
    pub host: Option<&'a str>,
    /// `name`, if the key is present.
    pub name: Option<&'a str>,
    /// `namespace`, if the key is present.
    pub namespace: Option<&'a str>,
}

/// Routing facts: the matched route's name and the upstream cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Routing<'a> {
    /// The matched route's name (`block_all`, `allow_any` are special).
    pub route_name: Option<&'a str>,
    /// The upstream cluster's name.
    pub cluster_name: Option<&'a str>,
    /// The cluster's `istio.services[0]`, when the list is non-empty.
    pub cluster_service: Option<ClusterService<'a>>,
}

/// The protocol of a request (`docs/reference/telemetry.md` §4.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// HTTP that is not gRPC.
    #[default]
    Http,
    /// gRPC (`content-type` `application/grpc` or `application/grpc+…`).
    Grpc,
}

impl Protocol {
    /// The protocol of a request with this `content-type` (`docs/reference/telemetry.md` §2):
    /// gRPC iff it is exactly `application/grpc` or starts with `application/grpc+`.
    #[must_use]
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        match content_type {
            Some(ct) if ct == "application/grpc" || ct.starts_with("application/grpc+") => Self::Grpc,
            _ => Self::Http,
        }
    }
}

/// Facts of one completed HTTP or gRPC stream. Everything is borrowed: building one
/// allocates nothing.
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub struct RequestFacts<'a> {
    /// HTTP or gRPC.
    pub protocol: Protocol,
    /// `Host` / `:authority`.
    pub host: Option<&'a str>,
    /// `:method`.
    pub method: Option<&'a str>,
    /// `:path` (with the query).
    pub path: Option<&'a str>,
    /// The status sent downstream; `None` when no response was sent (`response_code="0"`).
    pub response_code: Option<u16>,
    /// `grpc-status` from the response trailers.
    pub grpc_status_trailer: Option<&'a str>,
    /// `grpc-status` from the response headers.
    pub grpc_status_header: Option<&'a str>,
    /// The proxy's response-flag codes, in the proxy's order (T13).
    pub response_flags: &'a [&'a str],
    /// Stream start to completion in whole milliseconds, if there is a completion time.
    pub duration_ms: Option<u64>,
    /// Wire bytes received from the downstream, if metered.
    pub request_bytes: Option<u64>,
    /// Wire bytes sent to the downstream, if metered.
    pub response_bytes: Option<u64>,
    /// Route and cluster.
    pub routing: Routing<'a>,
    /// Request headers (lower-case keys), for custom dimensions.
    pub request_headers: Option<&'a dyn StringMap>,
    /// Response headers (lower-case keys), for custom dimensions.
    pub response_headers: Option<&'a dyn StringMap>,
}

impl core::fmt::Debug for RequestFacts<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RequestFacts")
            .field("protocol", &self.protocol)
            .field("host", &self.host)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("response_code", &self.response_code)
            .field("grpc_status_trailer", &self.grpc_status_trailer)
            .field("grpc_status_header", &self.grpc_status_header)
            .field("response_flags", &self.response_flags)
            .field("duration_ms", &self.duration_ms)
            .field("request_bytes", &self.request_bytes)
            .field("response_bytes", &self.response_bytes)
            .field("routing", &self.routing)
            .finish_non_exhaustive()
    }
}

impl<'a> RequestFacts<'a> {
    /// An HTTP request to `host` that got `response_code`.
    #[must_use]
    pub fn http(host: &'a str, response_code: u16) -> Self {
        Self {
            host: Some(host),
            response_code: Some(response_code),
            ..Self::default()
        }
    }
}

/// The namespace of a SPIFFE identity: the text after the first `/ns/` up to the next `/`
/// (`docs/reference/telemetry.md` §4.4). `None` without `/ns/`.
///
/// ```
/// use meshtel::spiffe_namespace;
/// assert_eq!(spiffe_namespace("spiffe://cluster.local/ns/foo/sa/bar"), Some("foo"));
/// assert_eq!(spiffe_namespace("spiffe://td/ns//sa/x"), Some(""));
/// assert_eq!(spiffe_namespace("spiffe://td/sa/x"), None);
/// ```
#[must_use]
pub fn spiffe_namespace(principal: &str) -> Option<&str> {
    let at = principal.find("/ns/")? + 4;
    let rest = &principal[at..];
    Some(rest.split('/').next().unwrap_or(rest))
}

/// `grpc_response_status` (`docs/reference/telemetry.md` §4.5): trailers, then headers, then
/// the HTTP status mapped; `""` with no status at all; `-1` for a value that is not a decimal
/// integer ≤ 16.
#[must_use]
pub fn grpc_response_status<'a>(
    trailer: Option<&'a str>,
    header: Option<&'a str>,
    http_status: Option<u16>,
) -> &'a str {
    const CODES: [&str; 17] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    if let Some(s) = trailer.or(header) {
        return match s.parse::<usize>() {
            Ok(n) if n <= 16 && s.bytes().all(|b| b.is_ascii_digit()) => CODES[n],
            _ => "-1",
        };
    }
    match http_status {
        None => "",
        Some(400) => CODES[13],
        Some(401) => CODES[16],
        Some(403) => CODES[7],
        Some(404) => CODES[12],
        Some(429 | 502 | 503 | 504) => CODES[14],
        Some(_) => CODES[2],
    }
}
