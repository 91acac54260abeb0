//! [`Telemetry`] (what every connection shares) and [`MeshtelLayer`] (one per connection).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use meshtel::{ConnectionFacts, HttpConnection, OwnedClusterService, Reporter, Routing, StatsPlugin};
use meshtel_wire::workload::WorkloadMetadata;
use tokio::time::Instant;
use tower_layer::Layer;

use crate::error::BuildError;
use crate::peer::{LocalHeaders, Peer, PeerCache};
use crate::service::Meshtel;

/// Which side of the exchange the layer runs on (`docs/tower.md`, "Headers"), from the
/// plugin's reporter.
///
/// ```
/// use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
/// use meshtel_tower::{Direction, Telemetry};
/// let registry = meshtel_metrics::Registry::default();
/// let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Waypoint, &PluginConfig::default(), &registry)?;
/// assert_eq!(Telemetry::new(plugin).direction(), Direction::Inbound);
/// # Ok::<(), meshtel::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// A server sidecar in front of the application (reporter `destination`, and the
    /// waypoint): learns the downstream peer from request headers and strips them; answers
    /// with the local node's headers when the request carried them.
    Inbound,
    /// A client sidecar in front of the upstream (reporter `source`): sends the local node's
    /// headers on requests; learns the upstream peer from response headers and strips them.
    Outbound,
}

/// The route and cluster a layer's requests go to: the inputs of `destination_service*`
/// (`docs/reference/telemetry.md` §4.3).
///
/// ```
/// use meshtel::OwnedClusterService;
/// use meshtel_tower::Route;
/// let route = Route::default()
///     .with_cluster_name("outbound|9080||ratings.default.svc.cluster.local")
///     .with_cluster_service(OwnedClusterService {
///         host: Some("ratings.default.svc.cluster.local".into()),
///         name: Some("ratings".into()),
///         namespace: Some("default".into()),
///     });
/// assert_eq!(route.cluster_name.as_deref(), Some("outbound|9080||ratings.default.svc.cluster.local"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route {
    /// The matched route's name (`block_all` and `allow_any` are special).
    pub route_name: Option<String>,
    /// The upstream cluster's name.
    pub cluster_name: Option<String>,
    /// The cluster's `istio.services[0]`.
    pub cluster_service: Option<OwnedClusterService>,
}

impl Route {
    /// With this route name.
    #[must_use]
    pub fn with_route_name(mut self, name: impl Into<String>) -> Self {
        self.route_name = Some(name.into());
        self
    }

    /// With this cluster name.
    #[must_use]
    pub fn with_cluster_name(mut self, name: impl Into<String>) -> Self {
        self.cluster_name = Some(name.into());
        self
    }

    /// With this cluster service.
    #[must_use]
    pub fn with_cluster_service(mut self, service: OwnedClusterService) -> Self {
        self.cluster_service = Some(service);
        self
    }

    pub(crate) fn as_routing(&self) -> Routing<'_> {
        Routing {
            route_name: self.route_name.as_deref(),
            cluster_name: self.cluster_name.as_deref(),
            cluster_service: self.cluster_service.as_ref().map(OwnedClusterService::as_borrowed),
        }
    }
}

/// What every connection of a listener shares: the stats plugin, the direction, the local
/// node's header values, the route. Build it once, wrap it in an [`Arc`], and make one
/// [`MeshtelLayer`] per connection from it.
///
/// ```
/// use std::sync::Arc;
/// use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
/// use meshtel_tower::{Direction, Telemetry};
/// use meshtel_wire::workload::WorkloadMetadata;
///
/// let registry = meshtel_metrics::Registry::default();
/// let node = serde_json::json!({"WORKLOAD_NAME": "ratings-v1", "NAMESPACE": "default"});
/// let plugin = StatsPlugin::new(LocalNode::from_json(&node), Reporter::Inbound, &PluginConfig::default(), &registry)?;
/// let mut record = WorkloadMetadata::default();
/// record.workload = "ratings-v1".into();
/// let telemetry = Telemetry::new(plugin)
///     .with_local_peer(&record, "sidecar~10.0.0.1~ratings-v1-5f8d.default~default.svc.cluster.local")?;
/// assert_eq!(telemetry.direction(), Direction::Inbound);
/// let telemetry = Arc::new(telemetry);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Telemetry {
    pub(crate) plugin: Arc<StatsPlugin>,
    pub(crate) direction: Direction,
    pub(crate) local: Option<LocalHeaders>,
    pub(crate) baggage: bool,
    pub(crate) route: Route,
    pub(crate) cache_capacity: usize,
    pub(crate) epoch: Instant,
}

impl Telemetry {
    /// The default capacity of a connection's decode cache.
    pub const DEFAULT_PEER_CACHE: usize = 16;

    /// Telemetry recording into `plugin`. The direction follows the plugin's reporter:
    /// outbound for `source`, inbound for `destination` and `waypoint`. Without
    /// [`Telemetry::with_local_peer`] no header is sent.
    pub fn new(plugin: StatsPlugin) -> Self {
        Self::shared(Arc::new(plugin))
    }

    /// [`Telemetry::new`] for a plugin shared with other recorders of the same proxy, such
    /// as `meshtel_tokio::Meter` for its TCP connections: one plugin per registry, since a
    /// registry takes each metric family once.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
    /// use meshtel_tower::Telemetry;
    /// let registry = meshtel_metrics::Registry::default();
    /// let plugin = Arc::new(StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?);
    /// let telemetry = Telemetry::shared(Arc::clone(&plugin));
    /// assert!(std::ptr::eq(telemetry.plugin(), &*plugin));
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    pub fn shared(plugin: Arc<StatsPlugin>) -> Self {
        let direction = match plugin.reporter() {
            Reporter::Outbound => Direction::Outbound,
            Reporter::Inbound | Reporter::Waypoint => Direction::Inbound,
        };
        Self {
            plugin,
            direction,
            local: None,
            baggage: false,
            route: Route::default(),
            cache_capacity: Self::DEFAULT_PEER_CACHE,
            epoch: Instant::now(),
        }
    }

    /// Sends `record` (the local node's peer record, `docs/reference/wire.md` §1.2) and
    /// `node_id` as `x-envoy-peer-metadata` / `x-envoy-peer-metadata-id`. The values are
    /// encoded once, here.
    ///
    /// # Errors
    /// [`BuildError::InvalidHeaderValue`] if `node_id` is not a valid header value.
    pub fn with_local_peer(mut self, record: &WorkloadMetadata, node_id: &str) -> Result<Self, BuildError> {
        self.local = Some(LocalHeaders::new(record, node_id)?);
        Ok(self)
    }

    /// Baggage too: outbound, sets `baggage` to the local record's value (not sent when
    /// empty, W11); inbound, a request without a usable `x-envoy-peer-metadata` has its
    /// downstream peer read from `baggage` (W10; the header is left in place).
    #[must_use]
    pub fn with_baggage(mut self, enabled: bool) -> Self {
        self.baggage = enabled;
        self
    }

    /// The route and cluster every request of this telemetry goes to.
    #[must_use]
    pub fn with_route(mut self, route: Route) -> Self {
        self.route = route;
        self
    }

    /// The capacity of each connection's decode cache (0: no cache).
    #[must_use]
    pub fn with_peer_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// The direction.
    pub const fn direction(&self) -> Direction {
        self.direction
    }

    /// The stats plugin.
    pub fn plugin(&self) -> &StatsPlugin {
        &self.plugin
    }
}

/// The layer for one connection: [`Layer::layer`] gives a [`Meshtel`] service with a fresh
/// connection state (the plugin's [`HttpConnection`], the decode cache). Clones of that
/// service share the state, as hyper's per-request clones must.
///
/// Make one per accepted (inbound) or established (outbound) connection, with the facts the
/// caller knows of it: TLS SANs, principals, a peer from the TCP exchange or workload
/// discovery, the destination port.
///
/// ```
/// use std::sync::Arc;
/// use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin, Tls};
/// use meshtel_tower::{MeshtelLayer, Telemetry};
/// use tower_layer::Layer;
///
/// let registry = meshtel_metrics::Registry::default();
/// let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
/// let telemetry = Arc::new(Telemetry::new(plugin));
/// // Per accepted connection:
/// let tls = Tls { local_san: "spiffe://td/ns/a/sa/x".into(), peer_san: "spiffe://td/ns/b/sa/y".into() };
/// let layer = MeshtelLayer::new(Arc::clone(&telemetry))
///     .with_connection(ConnectionFacts::default().with_tls(Some(tls)));
/// type Body = meshtel_tower::RequestBody<String>;
/// let service = layer.layer(tower::service_fn(|_req: http::Request<Body>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
/// }));
/// # let _: meshtel_tower::Meshtel<_> = service;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct MeshtelLayer {
    telemetry: Arc<Telemetry>,
    facts: ConnectionFacts,
}

impl MeshtelLayer {
    /// A layer with empty connection facts (plaintext, no peer known beforehand).
    pub fn new(telemetry: Arc<Telemetry>) -> Self {
        Self {
            telemetry,
            facts: ConnectionFacts::default(),
        }
    }

    /// The same layer for a connection with these facts.
    #[must_use]
    pub fn with_connection(mut self, facts: ConnectionFacts) -> Self {
        self.facts = facts;
        self
    }
}

impl<S> Layer<S> for MeshtelLayer {
    type Service = Meshtel<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Meshtel::new(
            inner,
            Arc::new(Connection::new(Arc::clone(&self.telemetry), self.facts.clone())),
        )
    }
}

/// One connection's shared state.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) telemetry: Arc<Telemetry>,
    state: Mutex<ConnState>,
}

#[derive(Debug)]
pub(crate) struct ConnState {
    pub(crate) http: HttpConnection,
    /// The connection's own facts (the peer they hold is the fallback for a stream's).
    facts: ConnectionFacts,
    /// The generation of the peer the labels were computed for (0: the connection's facts;
    /// `u64::MAX`: not computed for the current facts).
    applied: u64,
    pub(crate) cache: PeerCache,
}

impl Connection {
    pub(crate) fn new(telemetry: Arc<Telemetry>, facts: ConnectionFacts) -> Self {
        let state = ConnState {
            http: telemetry.plugin.connection(&facts),
            applied: 0,
            cache: PeerCache::new(telemetry.cache_capacity),
            facts,
        };
        Self {
            telemetry,
            state: Mutex::new(state),
        }
    }

    /// New facts for the connection (an outbound connection's upstream TLS, learnt once it is
    /// established): the labels are computed again at the next report.
    pub(crate) fn set_facts(&self, facts: ConnectionFacts) {
        let mut state = self.lock();
        state.facts = facts;
        state.applied = u64::MAX;
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the connection's labels those of `peer` (a stream's discovered peer), or of the
    /// connection's own facts; re-evaluates them only when that changes.
    pub(crate) fn apply_peer(&self, state: &mut ConnState, peer: Option<&Arc<Peer>>) {
        let generation = peer.map_or(0, |p| p.generation);
        if state.applied == generation {
            return;
        }
        let facts = match peer {
            Some(p) => state.facts.clone().with_peer(Some(p.metadata.clone())),
            None => state.facts.clone(),
        };
        state.http.update(&self.telemetry.plugin, &facts);
        state.applied = generation;
    }
}
