//! What one VM holds once configured: the stats plugin and its registry, the local node's
//! header values and prefix frame, and the counter of rejected peer metadata. Independent of
//! the host calls, so the CLI (`meshtel envoy bootstrap`) and host-side tests build the same
//! thing the module does.

use std::cell::RefCell;
use std::collections::VecDeque;

use meshtel::{ConnectionFacts, HttpConnection, LocalNode, StatsPlugin};
use meshtel_metrics::{CounterId, Desc, Group, Registry};
use meshtel_wire::frame::{FrameConfig, encode_frame};
use meshtel_wire::header::{decode_peer_metadata, encode_peer_header, max_decoded_len};
use meshtel_wire::proto::{Limits, Struct, StructView};
use meshtel_wire::workload::WorkloadMetadata;

use crate::config::FilterConfig;

/// Why a VM could not be set up: `on_configure` logs it and fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VmError {
    /// The filter configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The stats plugin rejected its configuration.
    #[error("plugin configuration: {0}")]
    Plugin(#[from] meshtel::ConfigError),
    /// The host's node metadata is not a protobuf `Struct`.
    #[error("node metadata (property node.metadata): {0}")]
    NodeMetadata(String),
    /// The local prefix frame could not be encoded.
    #[error("local prefix frame: {0}")]
    Frame(String),
    /// The VM's own metrics could not be registered.
    #[error("metrics registry: {0}")]
    Registry(#[from] meshtel_metrics::RegistryError),
}

/// Where a rejected peer record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Carrier {
    /// `x-envoy-peer-metadata`.
    Header,
    /// The TCP prefix frame.
    Frame,
}

impl Carrier {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Frame => "frame",
        }
    }
}

/// The configured state of one VM (one per host worker thread).
///
/// ```
/// use meshtel_wasm::{FilterConfig, Vm};
/// let config = FilterConfig::from_json(br#"{"role": "outbound"}"#, "meshtel")?;
/// let node = meshtel_wasm::vm::node_from_json(&serde_json::json!({"WORKLOAD_NAME": "productpage-v1", "NAMESPACE": "default"}))?;
/// let vm = Vm::new(config, &node, "sidecar~10.0.0.1~productpage.default~cluster.local")?;
/// assert!(!vm.local_header().is_empty());
/// assert!(vm.decode_peer_header(b"not base64!").is_none());
/// # Ok::<(), meshtel_wasm::VmError>(())
/// ```
#[derive(Debug)]
pub struct Vm {
    /// The filter configuration.
    pub config: FilterConfig,
    /// The registry the plugin records into; flushed to the host by a [`crate::Mirror`].
    pub registry: Registry,
    /// The stats plugin.
    pub plugin: StatsPlugin,
    local_header: String,
    local_id: String,
    frame: Vec<u8>,
    frame_config: FrameConfig,
    rejected: Group,
    rejected_total: CounterId,
    connections: RefCell<VecDeque<CachedConnection>>,
}

/// A plugin connection state kept for the facts it was computed from.
#[derive(Debug)]
struct CachedConnection {
    key: Vec<u8>,
    conn: HttpConnection,
    /// The peer header in the key could not be read (counted again at each use).
    rejected: bool,
}

/// Node metadata given as JSON (a node file, `examples/ratings-node.json`), serialized as the
/// host holds it: a protobuf `Struct`.
///
/// # Errors
/// [`VmError::NodeMetadata`] if `node` is not a JSON object.
pub fn node_from_json(node: &serde_json::Value) -> Result<Vec<u8>, VmError> {
    let s: Struct = serde_json::from_value(node.clone()).map_err(|e| VmError::NodeMetadata(e.to_string()))?;
    Ok(meshtel_wire::proto::encode_struct(&s))
}

impl Vm {
    /// Sets up a VM from its configuration, the host's serialized node metadata
    /// (`node.metadata`, a protobuf `Struct`) and node id (`node.id`).
    ///
    /// # Errors
    /// [`VmError`]: bad node metadata, a plugin configuration the plugin rejects, or a local
    /// record too large for a frame.
    pub fn new(config: FilterConfig, node_metadata: &[u8], node_id: &str) -> Result<Self, VmError> {
        let limits = Limits::new().with_max_depth(Limits::MAX_MAX_DEPTH);
        let view = StructView::parse_with(node_metadata, &limits).map_err(|e| VmError::NodeMetadata(e.to_string()))?;
        let local = LocalNode::from_struct(&view).with_node_id(node_id);
        let record = WorkloadMetadata::from_node_metadata(&Struct::from_view(&view), &[]);
        let registry = Registry::new(config.registry_config());
        let plugin = StatsPlugin::new(local, config.role.reporter(), &config.plugin, &registry)?;
        let record_struct = record.to_struct();
        let frame_config = FrameConfig::new()
            .with_max_payload(config.max_frame_payload)
            .map_err(|e| VmError::Frame(e.to_string()))?;
        let frame = encode_frame(&record_struct, node_id, &frame_config).map_err(|e| VmError::Frame(e.to_string()))?;
        let mut group = registry.group("meshtel_wasm", &["carrier"]);
        let rejected_total = group.counter(Desc::new(
            "meshtel_peer_metadata_rejected",
            "Peer metadata (header or prefix frame) that could not be read, and was ignored.",
        ))?;
        Ok(Self {
            local_header: encode_peer_header(&record_struct),
            local_id: node_id.to_owned(),
            frame,
            frame_config,
            rejected: group.build()?,
            rejected_total,
            connections: RefCell::new(VecDeque::new()),
            registry,
            plugin,
            config,
        })
    }

    /// The local node's `x-envoy-peer-metadata` value.
    #[must_use]
    pub fn local_header(&self) -> &str {
        &self.local_header
    }

    /// The local node's `x-envoy-peer-metadata-id` value.
    #[must_use]
    pub fn local_id(&self) -> &str {
        &self.local_id
    }

    /// The local prefix frame.
    #[must_use]
    pub fn local_frame(&self) -> &[u8] {
        &self.frame
    }

    /// The frame limits a peer's frame is read with.
    #[must_use]
    pub const fn frame_config(&self) -> FrameConfig {
        self.frame_config
    }

    /// The peer an `x-envoy-peer-metadata` value carries; an unreadable value is counted
    /// (`meshtel_peer_metadata_rejected_total{carrier="header"}`) and ignored.
    pub fn decode_peer_header(&self, value: &[u8]) -> Option<WorkloadMetadata> {
        let peer = read_peer_header(value);
        if peer.is_none() {
            self.count_rejected(Carrier::Header);
        }
        peer
    }

    /// Most plugin connection states [`Vm::with_connection`] keeps.
    pub const CONNECTION_CACHE: usize = 64;

    /// Runs `f` on the plugin's connection state for these facts. `key` identifies the facts
    /// (the raw peer header and connection properties, `facts` builds them with `peer_header`
    /// as the peer): a state computed for the same key is reused, so connection-scoped
    /// labels are evaluated and the peer header decoded once per distinct key, not per
    /// request. At most [`Vm::CONNECTION_CACHE`] states are kept, the least recently used
    /// going first.
    ///
    /// ```
    /// # let config = meshtel_wasm::FilterConfig::from_json(br#"{"role": "inbound"}"#, "m")?;
    /// # let node = meshtel_wasm::vm::node_from_json(&serde_json::json!({"WORKLOAD_NAME": "w"}))?;
    /// # let vm = meshtel_wasm::Vm::new(config, &node, "id")?;
    /// let header = vm.local_header().as_bytes().to_vec();
    /// for _ in 0..3 {
    ///     vm.with_connection(&header, Some(&header), meshtel::ConnectionFacts::default, |plugin, conn| {
    ///         plugin.record_request(conn, &meshtel::RequestFacts::http("ratings", 200));
    ///     });
    /// }
    /// let text = vm.registry.render_to_string(meshtel_metrics::Format::Prometheus);
    /// assert!(text.contains(r#"source_workload="w""#) && text.contains("} 3\n"));
    /// # Ok::<(), meshtel_wasm::VmError>(())
    /// ```
    pub fn with_connection<R>(
        &self,
        key: &[u8],
        peer_header: Option<&[u8]>,
        facts: impl FnOnce() -> ConnectionFacts,
        f: impl FnOnce(&StatsPlugin, &mut HttpConnection) -> R,
    ) -> R {
        let build = |facts: ConnectionFacts| {
            let peer = peer_header.filter(|v| !v.is_empty()).map(read_peer_header);
            let rejected = matches!(peer, Some(None));
            let conn = self.plugin.connection(&facts.with_peer(peer.flatten()));
            (conn, rejected)
        };
        let Ok(mut cache) = self.connections.try_borrow_mut() else {
            // Re-entered (never expected): an uncached state.
            let (mut conn, rejected) = build(facts());
            self.count_if(rejected);
            return f(&self.plugin, &mut conn);
        };
        let cached = cache.iter().position(|c| c.key == key).and_then(|i| cache.remove(i));
        let mut entry = if let Some(entry) = cached {
            entry
        } else {
            let (conn, rejected) = build(facts());
            CachedConnection {
                key: key.to_vec(),
                conn,
                rejected,
            }
        };
        self.count_if(entry.rejected);
        let out = f(&self.plugin, &mut entry.conn);
        if cache.len() >= Self::CONNECTION_CACHE {
            cache.pop_front();
        }
        cache.push_back(entry);
        out
    }

    fn count_if(&self, rejected: bool) {
        if rejected {
            self.count_rejected(Carrier::Header);
        }
    }

    /// Counts one rejected peer record.
    pub fn count_rejected(&self, carrier: Carrier) {
        let _ = self
            .rejected
            .with_series(&[carrier.as_str()], |s| s.inc(self.rejected_total));
    }
}

/// The peer an `x-envoy-peer-metadata` value carries, if it can be read.
fn read_peer_header(value: &[u8]) -> Option<WorkloadMetadata> {
    let mut buf = vec![0u8; max_decoded_len(value.len())];
    let (view, _) = decode_peer_metadata(value, &mut buf).ok()?;
    Some(WorkloadMetadata::from_view(&view, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(role: &str) -> Vm {
        let config = FilterConfig::from_json(format!(r#"{{"role": "{role}"}}"#).as_bytes(), "meshtel").expect("config");
        let node = node_from_json(&serde_json::json!({
            "WORKLOAD_NAME": "ratings-v1", "NAMESPACE": "default",
            "LABELS": {"app": "ratings", "version": "v1"}
        }))
        .expect("node");
        Vm::new(config, &node, "sidecar~1~ratings~default").expect("vm")
    }

    #[test]
    fn the_local_header_round_trips_and_bad_headers_are_counted() {
        let vm = vm("inbound");
        let peer = vm
            .decode_peer_header(vm.local_header().as_bytes())
            .expect("own header reads back");
        assert_eq!((peer.workload.as_str(), peer.app.as_str()), ("ratings-v1", "ratings"));
        for bad in [
            &b""[..],
            b"===",
            b"QQ==",
            &[0xff; 40],
            b"CgwKBkxBQkVMUxICKgAKEQoJTkFNRVNQQUNFEgQa",
        ] {
            assert!(vm.decode_peer_header(bad).is_none());
        }
        let text = vm.registry.render_to_string(meshtel_metrics::Format::Prometheus);
        assert!(
            text.contains("meshtel_peer_metadata_rejected_total{carrier=\"header\"} 5"),
            "{text}"
        );
    }

    #[test]
    fn connection_states_are_reused_per_key_and_bounded() {
        let vm = vm("inbound");
        let header = vm.local_header().as_bytes().to_vec();
        let record = |key: &[u8], header: &[u8]| {
            vm.with_connection(key, Some(header), ConnectionFacts::default, |plugin, conn| {
                plugin.record_request(conn, &meshtel::RequestFacts::http("h", 200));
            });
        };
        for i in 0..(Vm::CONNECTION_CACHE + 10) {
            record(format!("k{i}").as_bytes(), &header);
            record(b"bad", b"!!!");
        }
        assert!(vm.connections.borrow().len() <= Vm::CONNECTION_CACHE);
        let text = vm.registry.render_to_string(meshtel_metrics::Format::Prometheus);
        let n = Vm::CONNECTION_CACHE + 10;
        assert!(
            text.contains(&format!(
                "meshtel_peer_metadata_rejected_total{{carrier=\"header\"}} {n}"
            )),
            "a cached bad header is counted at every use: {text}"
        );
        assert!(text.contains(r#"source_workload="ratings-v1""#));
    }

    #[test]
    fn bad_node_metadata_is_an_error() {
        let config = FilterConfig::from_json(br#"{"role": "inbound"}"#, "meshtel").expect("config");
        let err = Vm::new(config, &[0xff, 0xff, 0xff], "id").expect_err("not a Struct");
        assert!(err.to_string().contains("node.metadata"), "{err}");
        assert!(node_from_json(&serde_json::json!([1, 2])).is_err());
    }

    #[test]
    fn the_local_frame_is_read_by_the_exchange() {
        let vm = vm("outbound");
        let mut ex = meshtel_wire::exchange::Exchange::new(
            Some(meshtel_wire::alpn::ISTIO_PEER_EXCHANGE.as_bytes()),
            b"",
            vm.frame_config(),
        );
        match ex.on_received(vm.local_frame()) {
            meshtel_wire::exchange::Received::Done {
                outcome: meshtel_wire::exchange::PeerOutcome::Found { metadata, id, .. },
                consume,
            } => {
                assert_eq!(consume, vm.local_frame().len());
                assert_eq!(
                    (metadata.workload, id),
                    ("ratings-v1", Some("sidecar~1~ratings~default"))
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
