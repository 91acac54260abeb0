//! The two sidecars. Each has its own node metadata, registry and stats plugin.
//!
//! - The **server sidecar** (inbound reporter) accepts mutual TLS or plaintext on one port.
//!   Over mTLS the negotiated ALPN decides: `istio-peer-exchange` runs the TCP prefix
//!   exchange and proxies to the echo service; anything else is HTTP, with the peer learned
//!   from `x-envoy-peer-metadata` request headers and the sidecar's own metadata added to
//!   the responses of requests that carried theirs. Plaintext is HTTP from outside the mesh (no peer). HTTP whose
//!   `content-type` starts with `application/grpc` streams to the gRPC backend (HTTP/2), the
//!   rest goes to the HTTP backend.
//! - The **client sidecar** (outbound reporter) accepts the application's plaintext HTTP
//!   (HTTP/1.1 or h2c) and TCP and originates mTLS to the server sidecar with Istio's ALPN
//!   lists (`docs/reference/wire.md` §5): `istio-h2` first when the application spoke
//!   HTTP/2.
//!
//! Every HTTP listener serves HTTP/1.1 and HTTP/2 under the limits of `limits.rs`. This
//! file is wiring over the two async crates:
//!
//! - HTTP and gRPC go through a `meshtel_tower::MeshtelLayer` per connection: the peer
//!   headers (set outbound, read and stripped inbound and from responses), bodies metered
//!   as they stream (never buffered), gRPC message counts, response flags (`UF`, `UR`,
//!   `DC`), recording once at the end of each stream. The inner service only forwards
//!   (`upstream.rs`).
//! - TCP is `meshtel_tokio`: `PeerExchange` runs the prefix exchange (the client in client
//!   mode, `PeerExchange::start`: it does not wait for the server's frame), `Metered` counts the
//!   downstream's bytes and drives the plugin's TCP lifecycle (closed exactly once, drop
//!   included), `TlsFacts` reads the negotiated ALPN and the principals from rustls.
//!
//! One `StatsPlugin` per sidecar serves both (`Telemetry::shared`, `Meter::new`).
//!
//! A misbehaving peer never brings a sidecar down: a bad frame or header makes the
//! connection non-mesh (or closes it), and `meshtel_demo_peer_exchange_total{outcome}` says
//! why.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use meshtel::{
    ClusterService, ConnectionFacts, LocalNode, OwnedClusterService, PluginConfig, Reporter, StatsPlugin, TcpRouting,
    Tls,
};
use meshtel_metrics::{Buckets, CounterId, Desc, Group, HistogramId, NativeBuckets, Registry};
use meshtel_tokio::tls::TlsFacts;
use meshtel_tokio::{Meter, Metered, PeerExchange, PeerHandle, PeerOutcome, Prefixed, Rejection, Role, Started};
use meshtel_tower::{MeshtelLayer, RequestBody, ResponseFlag, ResponseFlags, Route, Telemetry};
use meshtel_wire::frame::FrameErrorKind;
use meshtel_wire::header::decode_peer_metadata;
use meshtel_wire::proto::Struct;
use meshtel_wire::workload::WorkloadMetadata;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tower::Layer as _;

use super::limits::{Activity, Guarded, InFlight, Limits, Timeout, serve_http};
use super::pki::{Identity, server_name};
use super::upstream::{self, Body, Sender, full, http_sender, is_grpc};

const PEER_HEADER: &str = meshtel_wire::header::PEER_METADATA;

/// The service the backends stand for (the clusters' `istio.services[0]`).
const SERVICE: ClusterService<'static> = ClusterService {
    host: Some("ratings.default.svc.cluster.local"),
    name: Some("ratings"),
    namespace: Some("default"),
};

/// Why the peer exchange of a connection or request ended as it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Found,
    NoPeer,
    NotAFrame,
    TooLarge,
    Malformed,
    UnexpectedTypeUrl,
    Truncated,
    HeaderFound,
    HeaderInvalid,
    TlsHandshakeFailed,
    ExchangeTimeout,
    ExchangeFailed,
}

impl Outcome {
    const ALL: [Self; 12] = [
        Self::Found,
        Self::NoPeer,
        Self::NotAFrame,
        Self::TooLarge,
        Self::Malformed,
        Self::UnexpectedTypeUrl,
        Self::Truncated,
        Self::HeaderFound,
        Self::HeaderInvalid,
        Self::TlsHandshakeFailed,
        Self::ExchangeTimeout,
        Self::ExchangeFailed,
    ];

    pub(crate) const fn label(self) -> &'static str {
        match self {
            Self::Found => "frame_found",
            Self::NoPeer => "frame_without_peer",
            Self::NotAFrame => "not_a_frame",
            Self::TooLarge => "frame_too_large",
            Self::Malformed => "frame_malformed",
            Self::UnexpectedTypeUrl => "frame_unexpected_type_url",
            Self::Truncated => "frame_truncated",
            Self::HeaderFound => "header_found",
            Self::HeaderInvalid => "header_invalid",
            Self::TlsHandshakeFailed => "tls_handshake_failed",
            Self::ExchangeTimeout => "exchange_timeout",
            Self::ExchangeFailed => "exchange_failed",
        }
    }
}

/// One sidecar: identity, metadata, registry, plugin.
#[derive(Debug)]
pub(crate) struct Sidecar {
    pub(crate) registry: Registry,
    /// Drives the plugin's TCP lifecycle over metered streams.
    meter: Meter,
    /// The plugin, the local peer headers and the HTTP route, for the per-connection
    /// `meshtel_tower` layers.
    telemetry: Arc<Telemetry>,
    /// This side of the TCP prefix exchange: its frame, the limits on the peer's frame, and
    /// the exchange timeout.
    exchange: PeerExchange,
    /// The leaf certificate the sidecar presents (rustls does not hand it back): its first
    /// URI SAN is the local principal.
    certificate: CertificateDer<'static>,
    outcomes: Group,
    outcome_counter: CounterId,
    timeouts: Group,
    timeout_counter: CounterId,
    upstream: Group,
    upstream_duration: HistogramId,
    pub(crate) limits: Limits,
}

impl Sidecar {
    pub(crate) fn new(
        node: &serde_json::Value,
        node_id: &str,
        reporter: Reporter,
        identity: &Identity,
        config: &PluginConfig,
        native: bool,
    ) -> Result<Self, String> {
        let registry = Registry::default();
        let local = LocalNode::from_json(node).with_node_id(node_id);
        let plugin = StatsPlugin::new(local, reporter, config, &registry).map_err(|e| e.to_string())?;
        let plugin = Arc::new(plugin);
        let node: Struct = serde_json::from_value(node.clone()).map_err(|e| format!("node metadata: {e}"))?;
        let record = WorkloadMetadata::from_node_metadata(&node, &[]);
        let limits = Limits::default();
        let exchange = PeerExchange::for_workload(&record, node_id)
            .map_err(|e| e.to_string())?
            .with_timeout(Some(limits.exchange));
        let telemetry = Telemetry::shared(Arc::clone(&plugin))
            .with_local_peer(&record, node_id)
            .map_err(|e| e.to_string())?
            .with_route(http_route(reporter));
        let certificate = identity
            .chain
            .first()
            .ok_or("an identity without a certificate")?
            .clone();
        let mut group = registry.group("meshtel_demo_peer_exchange", &["outcome"]);
        let outcome_counter = group
            .counter(Desc::new(
                "meshtel_demo_peer_exchange_total",
                "Peer metadata exchanges, by outcome.",
            ))
            .map_err(|e| e.to_string())?;
        let outcomes = group.build().map_err(|e| e.to_string())?;
        for o in Outcome::ALL {
            let _ = outcomes.with_series(&[o.label()], |s| s.add(outcome_counter, 0));
        }
        let mut group = registry.group("meshtel_demo_timeouts", &["reason"]);
        let timeout_counter = group
            .counter(Desc::new(
                "meshtel_demo_timeouts_total",
                "Connections closed for a slow or idle peer, by reason.",
            ))
            .map_err(|e| e.to_string())?;
        let timeouts = group.build().map_err(|e| e.to_string())?;
        for t in Timeout::ALL {
            let _ = timeouts.with_series(&[t.label()], |s| s.add(timeout_counter, 0));
        }
        let (upstream, upstream_duration) = upstream_histogram(&registry, native)?;
        Ok(Self {
            registry,
            meter: Meter::new(plugin),
            telemetry: Arc::new(telemetry),
            exchange,
            certificate,
            outcomes,
            outcome_counter,
            timeouts,
            timeout_counter,
            upstream,
            upstream_duration,
            limits,
        })
    }

    /// Records how long the upstream took to answer a request's headers.
    fn observe_upstream(&self, grpc: bool, seconds: f64) {
        let protocol = if grpc { "grpc" } else { "http" };
        let _ = self
            .upstream
            .with_series(&[protocol], |s| s.observe(self.upstream_duration, seconds));
    }

    /// The same sidecar under other bounds on slow and idle peers.
    pub(crate) fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self.exchange = self.exchange.with_timeout(Some(limits.exchange));
        self
    }

    /// Counts a connection closed for being slow or idle.
    pub(crate) fn count_timeout(&self, timeout: Timeout) {
        let _ = self
            .timeouts
            .with_series(&[timeout.label()], |s| s.inc(self.timeout_counter));
    }

    pub(crate) fn count(&self, outcome: Outcome) {
        let _ = self
            .outcomes
            .with_series(&[outcome.label()], |s| s.inc(self.outcome_counter));
    }

    /// Counts the peer header of a request (inbound) or of an upstream response
    /// (outbound): `header_found` if it decodes, `header_invalid` if not. The layer reads,
    /// strips and records it; this count is the demo's own diagnostic.
    fn count_peer_header(&self, headers: &HeaderMap) {
        let Some(value) = headers.get(PEER_HEADER) else {
            return;
        };
        let mut buf = vec![0u8; value.len()];
        let outcome = if decode_peer_metadata(value.as_bytes(), &mut buf).is_ok() {
            Outcome::HeaderFound
        } else {
            Outcome::HeaderInvalid
        };
        self.count(outcome);
    }
}

/// `meshtel_demo_upstream_duration_seconds`: classic buckets, and with `native` native
/// buckets side by side, so that a Prometheus scraping the protobuf exposition with
/// `--enable-feature=native-histograms` stores a native histogram (istio/istio#49950 asks
/// for them on Istio's own metrics).
fn upstream_histogram(registry: &Registry, native: bool) -> Result<(Group, HistogramId), String> {
    let mut group = registry.group("meshtel_demo_upstream", &["protocol"]);
    let classic = Buckets::new(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0])
        .map_err(|e| e.to_string())?;
    let desc = Desc::new(
        "meshtel_demo_upstream_duration_seconds",
        "Time from forwarding a request upstream to its response headers, by protocol.",
    )
    .unit("seconds");
    let duration = if native {
        let buckets = NativeBuckets::new(3).map_err(|e| e.to_string())?;
        group.histogram_with_native(desc, classic, buckets)
    } else {
        group.histogram(desc, classic)
    }
    .map_err(|e| e.to_string())?;
    Ok((group.build().map_err(|e| e.to_string())?, duration))
}

/// The HTTP route of a sidecar's requests: `default`, to its cluster for the ratings
/// service (inbound `inbound|9080||`, outbound `outbound|9080||ratings...`).
fn http_route(reporter: Reporter) -> Route {
    let cluster = match reporter {
        Reporter::Outbound => "outbound|9080||ratings.default.svc.cluster.local",
        _ => "inbound|9080||",
    };
    Route::default()
        .with_route_name("default")
        .with_cluster_name(cluster)
        .with_cluster_service(OwnedClusterService::from(SERVICE))
}

/// Calls a tower service once it is ready: the hyper side of the sidecars' HTTP listeners
/// calls the per-connection `Meshtel` service this way (tower's `oneshot`).
async fn call<S, R>(service: S, req: R) -> Result<S::Response, S::Error>
where
    S: tower::Service<R>,
{
    tower::ServiceExt::oneshot(service, req).await
}

/// The response for a request whose upstream failed: a 502, with `flag` for the layer to
/// record (`UF`: no connection; `UR`: the upstream reset the exchange).
fn bad_gateway(flag: ResponseFlag) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from_static(b"upstream unavailable\n")));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response.extensions_mut().insert(ResponseFlags::from(flag));
    response
}

/// Forwards a request through `slot` (connecting with `connect` when it is empty or
/// closed), its body streamed; the upstream's response streams back and holds `in_flight`
/// until its body is dropped. The layer around it does the rest: the peer headers, sizes,
/// gRPC messages, recording at the end of the stream.
async fn forward<F, Fut>(
    sc: &Sidecar,
    slot: &tokio::sync::Mutex<Option<Sender>>,
    connect: F,
    req: Request<RequestBody<Incoming>>,
    in_flight: InFlight,
) -> Response<Body>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Option<Sender>>,
{
    let (parts, body) = req.into_parts();
    let headers = parts.headers.clone();
    let grpc = is_grpc(&headers);
    let started = Instant::now();
    let sent = upstream::send(slot, connect, &parts, headers, body.boxed()).await;
    sc.observe_upstream(grpc, started.elapsed().as_secs_f64());
    match sent {
        Ok(response) => response.map(|body| Guarded::new(body, in_flight).boxed()),
        Err(flag) => bad_gateway(flag),
    }
}

// ---------------------------------------------------------------------------------------
// Server sidecar (inbound).

/// Where the server sidecar's backends listen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backends {
    pub(crate) http: SocketAddr,
    pub(crate) grpc: SocketAddr,
    pub(crate) tcp: SocketAddr,
}

/// Serves inbound connections forever.
pub(crate) async fn serve_inbound(
    sidecar: Arc<Sidecar>,
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    backends: Backends,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let stream = super::backend::accept(&listener).await;
        // Small gRPC frames and HTTP/2 control frames go out at once.
        let _ = stream.set_nodelay(true);
        let (sidecar, acceptor) = (Arc::clone(&sidecar), acceptor.clone());
        tokio::spawn(async move { inbound_connection(sidecar, stream, acceptor, backends).await });
    }
}

async fn inbound_connection(sc: Arc<Sidecar>, stream: TcpStream, acceptor: TlsAcceptor, backends: Backends) {
    let mut first = [0u8; 1];
    let Ok(peeked) = timeout(sc.limits.exchange, stream.peek(&mut first)).await else {
        return sc.count_timeout(Timeout::Handshake);
    };
    if !matches!(peeked, Ok(n) if n > 0) {
        return;
    }
    if first[0] != 0x16 {
        // Not a TLS handshake: plaintext HTTP from outside the mesh.
        return http_inbound(sc, stream, None, backends).await;
    }
    let tls = match timeout(sc.limits.exchange, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(_)) => return sc.count(Outcome::TlsHandshakeFailed),
        Err(_) => {
            sc.count(Outcome::TlsHandshakeFailed);
            return sc.count_timeout(Timeout::Handshake);
        }
    };
    let facts = TlsFacts::from_server_stream(&tls, Some(&sc.certificate));
    if facts.runs_exchange() {
        tcp_inbound(sc, tls, &facts, backends.tcp).await;
    } else {
        // `istio-http/1.1`, `istio-h2`, `h2`, `http/1.1`: the HTTP server tells the version
        // from the first bytes.
        http_inbound(sc, tls, Some(facts.tls()), backends).await;
    }
}

/// The server sidecar's HTTP, through its `meshtel_tower` layer (one per connection, with
/// the connection's TLS facts): gRPC (by `content-type`) streams to the gRPC backend over
/// HTTP/2, the rest to the HTTP backend over HTTP/1.1. Over mTLS the request's peer header
/// is counted (`header_found`, `header_invalid`) before the layer reads and strips it.
async fn http_inbound<IO>(sc: Arc<Sidecar>, io: IO, tls: Option<Tls>, backends: Backends)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mesh = tls.is_some();
    let layer = MeshtelLayer::new(Arc::clone(&sc.telemetry)).with_connection(ConnectionFacts::default().with_tls(tls));
    let http_upstream = Arc::new(tokio::sync::Mutex::new(None::<Sender>));
    let grpc_upstream = Arc::new(tokio::sync::Mutex::new(None::<Sender>));
    let activity = Activity::new();
    let watched = Arc::clone(&activity);
    let forwarding = Arc::clone(&sc);
    let app = tower::service_fn(move |req: Request<RequestBody<Incoming>>| {
        let in_flight = activity.request();
        let grpc = is_grpc(req.headers());
        let sc = Arc::clone(&forwarding);
        let (slot, addr) = if grpc {
            (Arc::clone(&grpc_upstream), backends.grpc)
        } else {
            (Arc::clone(&http_upstream), backends.http)
        };
        async move {
            let connect = || async move { http_sender(upstream::connect(addr).await?, grpc).await };
            Ok::<_, Infallible>(forward(&sc, &slot, connect, req, in_flight).await)
        }
    });
    let service = layer.layer(app);
    let sidecar = Arc::clone(&sc);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        if mesh {
            sidecar.count_peer_header(req.headers());
        }
        call(service.clone(), req)
    });
    if let Some(t) = serve_http(io, watched, sc.limits, service).await {
        sc.count_timeout(t);
    }
}

/// The routing of the demo's TCP clusters: `cluster`, standing for the ratings service.
fn tcp_routing(cluster: &str) -> TcpRouting {
    TcpRouting {
        cluster_name: Some(cluster.to_owned()),
        cluster_service: Some(SERVICE.into()),
    }
}

impl Sidecar {
    /// Runs this side of the TCP prefix exchange (`meshtel_tokio::PeerExchange`) on an mTLS
    /// stream that negotiated `alpn`, and counts how it ended. The peer and the stream to
    /// proxy, which replays the application bytes read past the peer's frame; `None` when
    /// the connection is to close: the exchange timed out (counted as a timeout too) or an
    /// I/O error cut it off.
    async fn exchange<'s, S>(
        &self,
        role: Role,
        stream: &'s mut S,
        alpn: Option<&[u8]>,
    ) -> Option<(Option<WorkloadMetadata>, Prefixed<&'s mut S>)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Ok(done) = self.exchange.run(role, stream, alpn).await else {
            self.count(Outcome::ExchangeFailed);
            return None;
        };
        let outcome = match classify(&done.outcome) {
            Some(Outcome::ExchangeTimeout) => {
                self.count(Outcome::ExchangeTimeout);
                self.count_timeout(Timeout::Exchange);
                return None;
            }
            Some(outcome) => outcome,
            // `Disabled` (the ALPN is not `istio-peer-exchange`: nothing was exchanged), and
            // outcomes a later version adds.
            None => return Some((None, done.stream)),
        };
        self.count(outcome);
        Some((done.outcome.into_peer(), done.stream))
    }
}

/// The demo's count for a settled exchange; `None` when none ran (`Disabled`, and outcomes a
/// later version adds).
fn classify(outcome: &PeerOutcome) -> Option<Outcome> {
    Some(match outcome {
        PeerOutcome::Found(_) => Outcome::Found,
        PeerOutcome::NoPeer { .. } => Outcome::NoPeer,
        PeerOutcome::NotAFrame => Outcome::NotAFrame,
        // Consumed (oversize frames are skipped): what follows is application data.
        PeerOutcome::Rejected(Rejection::Frame(kind)) => match kind {
            FrameErrorKind::TooLarge { .. } => Outcome::TooLarge,
            FrameErrorKind::UnexpectedTypeUrl => Outcome::UnexpectedTypeUrl,
            FrameErrorKind::Truncated { .. } => Outcome::Truncated,
            _ => Outcome::Malformed,
        },
        PeerOutcome::Rejected(Rejection::TimedOut { .. }) => Outcome::ExchangeTimeout,
        _ => return None,
    })
}

/// The server sidecar's TCP: the prefix exchange on the mTLS stream, then its application
/// bytes to the echo backend and back. The downstream is metered (`meshtel_tokio::Metered`):
/// on every path the connection is recorded opened and closed, the close exactly once, when
/// the stream ends both ways or is dropped.
async fn tcp_inbound<IO>(sc: Arc<Sidecar>, mut tls: IO, facts: &TlsFacts, backend: SocketAddr)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let routing = tcp_routing("inbound|9000||");
    let Some((peer, stream)) = sc.exchange(Role::Server, &mut tls, facts.alpn()).await else {
        // Timed out or cut off: recorded without a peer, and closed as it drops.
        let mut closed = sc.meter.meter(tls, facts.connection_facts(), routing);
        closed.resolve(None);
        return;
    };
    let mut downstream = sc.meter.meter(stream, facts.connection_facts(), routing);
    downstream.resolve(peer);
    let Ok(mut upstream) = TcpStream::connect(backend).await else {
        return downstream.set_response_flags(&["UF"]);
    };
    let _ = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await;
}

// ---------------------------------------------------------------------------------------
// Client sidecar (outbound).

/// How the client sidecar reaches the server sidecar.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    pub(crate) http: Arc<ClientConfig>,
    /// For HTTP/2 downstreams: `istio-h2`, `istio`, `h2`.
    pub(crate) h2: Arc<ClientConfig>,
    pub(crate) tcp: Arc<ClientConfig>,
}

/// Connects to the server sidecar over mTLS (the handshake within the exchange limit);
/// the stream and what its handshake established.
async fn connect_tls(
    sc: &Sidecar,
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> Option<(tokio_rustls::client::TlsStream<TcpStream>, TlsFacts)> {
    let stream = upstream::connect(addr).await?;
    let tls = timeout(
        sc.limits.exchange,
        TlsConnector::from(config).connect(server_name().ok()?, stream),
    )
    .await
    .ok()?
    .ok()?;
    let facts = TlsFacts::from_client_stream(&tls, Some(&sc.certificate));
    Some((tls, facts))
}

/// Serves the application's plaintext HTTP, forwarding over mTLS.
pub(crate) async fn serve_outbound_http(sc: Arc<Sidecar>, listener: TcpListener, upstream: Upstream) {
    loop {
        let stream = super::backend::accept(&listener).await;
        // Small gRPC frames and HTTP/2 control frames go out at once.
        let _ = stream.set_nodelay(true);
        let (sc, upstream) = (Arc::clone(&sc), upstream.clone());
        tokio::spawn(async move { outbound_http_connection(sc, stream, upstream).await });
    }
}

/// Connects to the server sidecar over mTLS, offering Istio's ALPN for the downstream's
/// HTTP version (`istio-h2`, `istio`, `h2` for HTTP/2), and leaves the TLS facts in
/// `learnt` for the layer (see [`outbound_http_connection`]).
async fn connect_upstream(
    sc: Arc<Sidecar>,
    upstream: Upstream,
    h2: bool,
    learnt: Arc<Mutex<Option<Tls>>>,
) -> Option<Sender> {
    let config = if h2 { upstream.h2 } else { upstream.http };
    let (tls, facts) = connect_tls(&sc, upstream.addr, config).await?;
    *learnt.lock().unwrap_or_else(PoisonError::into_inner) = Some(facts.tls());
    http_sender(tls, h2).await
}

/// The client sidecar's HTTP, through its `meshtel_tower` layer (one per downstream
/// connection): every request goes to the server sidecar over one mTLS connection, opened
/// at the first request. The layer sets the peer headers on the request, and reads and
/// strips the server sidecar's from the response, which is counted first (`header_found`,
/// `header_invalid`). The upstream's TLS facts reach the layer as a `ConnectionFacts`
/// extension on the response of the request that connected.
async fn outbound_http_connection(sc: Arc<Sidecar>, stream: TcpStream, upstream: Upstream) {
    let layer = MeshtelLayer::new(Arc::clone(&sc.telemetry));
    let sender = Arc::new(tokio::sync::Mutex::new(None::<Sender>));
    let learnt = Arc::new(Mutex::new(None::<Tls>));
    let activity = Activity::new();
    let watched = Arc::clone(&activity);
    let sidecar = Arc::clone(&sc);
    let app = tower::service_fn(move |req: Request<RequestBody<Incoming>>| {
        let in_flight = activity.request();
        let h2 = req.version() == http::Version::HTTP_2;
        let (sc, sender, learnt) = (Arc::clone(&sidecar), Arc::clone(&sender), Arc::clone(&learnt));
        let upstream = upstream.clone();
        async move {
            let connect = || connect_upstream(Arc::clone(&sc), upstream, h2, Arc::clone(&learnt));
            let mut response = forward(&sc, &sender, connect, req, in_flight).await;
            sc.count_peer_header(response.headers());
            let tls = learnt.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(tls) = tls {
                response
                    .extensions_mut()
                    .insert(ConnectionFacts::default().with_tls(Some(tls)));
            }
            Ok::<_, Infallible>(response)
        }
    });
    let service = layer.layer(app);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| call(service.clone(), req));
    if let Some(t) = serve_http(stream, watched, sc.limits, service).await {
        sc.count_timeout(t);
    }
}

/// Serves the application's plaintext TCP, forwarding over mTLS with the prefix exchange.
pub(crate) async fn serve_outbound_tcp(sc: Arc<Sidecar>, listener: TcpListener, upstream: Upstream) {
    loop {
        let stream = super::backend::accept(&listener).await;
        // Small gRPC frames and HTTP/2 control frames go out at once.
        let _ = stream.set_nodelay(true);
        let (sc, upstream) = (Arc::clone(&sc), upstream.clone());
        tokio::spawn(async move { outbound_tcp_connection(sc, stream, upstream).await });
    }
}

/// The client sidecar's TCP: mTLS to the server sidecar, the prefix exchange in client mode
/// (`PeerExchange::start`: the local frame is written, the server's is read from the first
/// bytes it sends whenever they come, as Istio's own filter does, so a server that sends its
/// frame only in front of its first response bytes — a proxy-wasm filter in Envoy — works),
/// then the application's bytes both ways. The application's stream is metered (its bytes
/// only, not the frames) and resolved late, when the server's frame arrives
/// ([`LateResolve`]); the close is recorded exactly once, when it ends both ways or is
/// dropped.
async fn outbound_tcp_connection(sc: Arc<Sidecar>, app: TcpStream, upstream: Upstream) {
    let Some((mut tls, facts)) = connect_tls(&sc, upstream.addr, Arc::clone(&upstream.tcp)).await else {
        return sc.count(Outcome::TlsHandshakeFailed);
    };
    let routing = tcp_routing("outbound|9000||ratings.default.svc.cluster.local");
    let mut downstream = sc.meter.meter(app, facts.connection_facts(), routing);
    let Ok(Started {
        stream: mut upstream,
        peer,
        ..
    }) = sc.exchange.start(Role::Client, &mut tls, facts.alpn()).await
    else {
        // The local frame could not be written (in time): recorded without a peer, and
        // closed as it drops.
        sc.count(Outcome::ExchangeFailed);
        return downstream.resolve(None);
    };
    let mut downstream = LateResolve {
        metered: downstream,
        peer: Some(peer),
        sidecar: &sc,
    };
    let _ = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await;
}

/// The client sidecar's metered downstream, resolved when the server's frame has been read
/// from the upstream (`PeerHandle`), and the outcome counted then. Every I/O call first
/// polls the handle, which registers the task: the copy loop wakes when the frame arrives,
/// and the peer is resolved before the response bytes that followed it are written (and
/// counted). A connection that closes before it is resolved is recorded without a peer.
struct LateResolve<'a, S> {
    metered: Metered<S>,
    peer: Option<PeerHandle>,
    sidecar: &'a Sidecar,
}

impl<S> LateResolve<'_, S> {
    fn poll_peer(&mut self, cx: &mut Context<'_>) {
        let Some(handle) = &mut self.peer else {
            return;
        };
        let Poll::Ready(outcome) = Pin::new(handle).poll(cx) else {
            return;
        };
        self.peer = None;
        if let Some(counted) = outcome.as_ref().and_then(classify) {
            self.sidecar.count(counted);
        }
        self.metered.resolve(outcome.and_then(PeerOutcome::into_peer));
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LateResolve<'_, S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        self.poll_peer(cx);
        Pin::new(&mut self.metered).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LateResolve<'_, S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.poll_peer(cx);
        Pin::new(&mut self.metered).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_peer(cx);
        Pin::new(&mut self.metered).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_peer(cx);
        Pin::new(&mut self.metered).poll_shutdown(cx)
    }
}
