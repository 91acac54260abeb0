//! The two sidecars. Each has its own node metadata, registry and stats plugin.
//!
//! - The **server sidecar** (inbound reporter) accepts mutual TLS or plaintext on one port.
//!   Over mTLS the negotiated ALPN decides: `istio-peer-exchange` runs the TCP prefix
//!   exchange and proxies to the echo service; anything else is HTTP, with the peer learned
//!   from `x-envoy-peer-metadata` request headers and the sidecar's own metadata added to
//!   responses. Plaintext is HTTP from outside the mesh (no peer). HTTP whose
//!   `content-type` starts with `application/grpc` streams to the gRPC backend (HTTP/2), the
//!   rest goes to the HTTP backend.
//! - The **client sidecar** (outbound reporter) accepts the application's plaintext HTTP
//!   (HTTP/1.1 or h2c) and TCP and originates mTLS to the server sidecar with Istio's ALPN
//!   lists (`docs/reference/wire.md` §5): `istio-h2` first when the application spoke
//!   HTTP/2.
//!
//! Every HTTP listener serves HTTP/1.1 and HTTP/2 under the limits of `limits.rs`; gRPC
//! requests are proxied and recorded by `upstream.rs`. TCP is wiring over `meshtel-tokio`:
//! `PeerExchange` runs the prefix exchange, `Metered` counts the downstream's bytes and
//! drives the plugin's TCP lifecycle (closed exactly once, drop included), `TlsFacts` reads
//! the negotiated ALPN and the principals from rustls.
//!
//! A misbehaving peer never brings a sidecar down: a bad frame or header makes the
//! connection non-mesh (or closes it), and `meshtel_demo_peer_exchange_total{outcome}` says
//! why.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use meshtel::{
    ClusterService, ConnectionFacts, LocalNode, PluginConfig, Protocol, Reporter, RequestFacts, Routing, StatsPlugin,
    TcpRouting, Tls,
};
use meshtel_metrics::{CounterId, Desc, Group, Registry};
use meshtel_tokio::tls::TlsFacts;
use meshtel_tokio::{Meter, PeerExchange, PeerOutcome, Prefixed, Rejection, Role};
use meshtel_wire::frame::FrameErrorKind;
use meshtel_wire::header::{decode_peer_metadata, encode_peer_header};
use meshtel_wire::proto::Struct;
use meshtel_wire::workload::WorkloadMetadata;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::limits::{Activity, Limits, Timeout, serve_http};
use super::pki::{Identity, server_name};
use super::upstream::{self, Body, Counted, Pending, Sender, boxed, full, http_sender, is_grpc};

const PEER_HEADER: &str = meshtel_wire::header::PEER_METADATA;
const PEER_ID_HEADER: &str = meshtel_wire::header::PEER_METADATA_ID;

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
    pub(crate) plugin: Arc<StatsPlugin>,
    /// Drives the plugin's TCP lifecycle over metered streams.
    meter: Meter,
    /// This side of the TCP prefix exchange: its frame, the limits on the peer's frame, and
    /// the exchange timeout.
    exchange: PeerExchange,
    /// The leaf certificate the sidecar presents (rustls does not hand it back): its first
    /// URI SAN is the local principal.
    certificate: CertificateDer<'static>,
    header: String,
    node_id: String,
    outcomes: Group,
    outcome_counter: CounterId,
    timeouts: Group,
    timeout_counter: CounterId,
    pub(crate) limits: Limits,
}

impl Sidecar {
    pub(crate) fn new(
        node: &serde_json::Value,
        node_id: &str,
        reporter: Reporter,
        identity: &Identity,
        config: &PluginConfig,
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
        Ok(Self {
            registry,
            meter: Meter::new(Arc::clone(&plugin)),
            plugin,
            exchange,
            certificate,
            header: encode_peer_header(&record.to_struct()),
            node_id: node_id.to_owned(),
            outcomes,
            outcome_counter,
            timeouts,
            timeout_counter,
            limits,
        })
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

    /// The peer carried by a request's or response's headers, if any (counted).
    fn peer_from_headers(&self, headers: &HeaderMap) -> Option<WorkloadMetadata> {
        let value = headers.get(PEER_HEADER)?;
        let mut buf = vec![0u8; value.len()];
        if let Ok((view, _)) = decode_peer_metadata(value.as_bytes(), &mut buf) {
            self.count(Outcome::HeaderFound);
            Some(WorkloadMetadata::from_view(&view, &[]))
        } else {
            self.count(Outcome::HeaderInvalid);
            None
        }
    }

    fn add_peer_headers(&self, headers: &mut HeaderMap) {
        if let (Ok(v), Ok(id)) = (self.header.parse(), self.node_id.parse()) {
            headers.insert(PEER_HEADER, v);
            headers.insert(PEER_ID_HEADER, id);
        }
    }
}

fn strip_peer_headers(headers: &mut HeaderMap) {
    headers.remove(PEER_HEADER);
    headers.remove(PEER_ID_HEADER);
}

/// `HTTP/1.1`, the version both start lines carry.
const HTTP_VERSION: &str = "HTTP/1.1";
/// `\r\n`, which ends every line of a head, and the head itself.
const CRLF: usize = 2;
/// `": "` between a field name and its value.
const FIELD_SEPARATOR: usize = 2;

/// Bytes of a request line, without its line end: `GET /path HTTP/1.1`.
fn request_line_len(parts: &http::request::Parts) -> usize {
    // The target as received: origin form (`/path`) or absolute form (`http://host/path`).
    let target = parts.uri.to_string();
    parts.method.as_str().len() + 1 + target.len() + 1 + HTTP_VERSION.len()
}

/// Bytes of a status line, without its line end: `HTTP/1.1 200 OK`.
pub(crate) fn status_line_len(status: StatusCode) -> usize {
    let reason = status.canonical_reason().unwrap_or("");
    HTTP_VERSION.len() + 1 + 3 + 1 + reason.len()
}

/// Bytes of an HTTP/1.1 head as it would be written: start line, fields, blank line.
/// An estimate of what crosses the wire: the fields hyper adds itself (`date`,
/// `content-length`) are not in `headers`, so they are not counted.
pub(crate) fn head_len(start_line: usize, headers: &HeaderMap) -> u64 {
    let fields: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + FIELD_SEPARATOR + v.len() + CRLF)
        .sum();
    (start_line + CRLF + fields + CRLF) as u64
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = status;
    r
}

/// Forwards a buffered request through `slot`; the response head and its body read whole.
async fn forward<F, Fut>(
    slot: &tokio::sync::Mutex<Option<Sender>>,
    connect: F,
    parts: &http::request::Parts,
    headers: HeaderMap,
    body: Bytes,
) -> Option<(http::response::Parts, Bytes)>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Option<Sender>>,
{
    let response = upstream::send(slot, connect, parts, headers, full(body)).await?;
    let (head, body) = response.into_parts();
    let body = body.collect().await.ok()?.to_bytes();
    Some((head, body))
}

pub(crate) fn request_facts<'a>(
    parts: &'a http::request::Parts,
    status: Option<StatusCode>,
    elapsed: Duration,
    bytes: (u64, u64),
    cluster: &'a str,
) -> RequestFacts<'a> {
    let mut req = RequestFacts::default();
    let content_type = parts.headers.get("content-type").and_then(|v| v.to_str().ok());
    req.protocol = Protocol::from_content_type(content_type);
    req.host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str));
    req.method = Some(parts.method.as_str());
    req.path = parts.uri.path_and_query().map(http::uri::PathAndQuery::as_str);
    req.response_code = status.map(|s| s.as_u16());
    req.duration_ms = Some(elapsed.as_millis() as u64);
    req.request_bytes = Some(bytes.0);
    req.response_bytes = Some(bytes.1);
    req.routing = Routing {
        route_name: Some("default"),
        cluster_name: Some(cluster),
        cluster_service: Some(SERVICE),
    };
    req
}

/// One HTTP connection's telemetry state: the plugin's connection, the peer it knows, the
/// TLS facts.
pub(crate) struct HttpState {
    conn: meshtel::HttpConnection,
    peer: Option<WorkloadMetadata>,
    tls: Option<Tls>,
}

/// A request read whole: when it started, its head and body, its size on the wire.
struct Exchanged {
    start: Instant,
    parts: http::request::Parts,
    body: Bytes,
    request_bytes: u64,
}

async fn read_request(req: Request<Incoming>) -> Exchanged {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let request_bytes = head_len(request_line_len(&parts), &parts.headers) + body.len() as u64;
    Exchanged {
        start,
        parts,
        body,
        request_bytes,
    }
}

/// Records a completed request: learns a new peer first, then the request metrics.
fn record(
    sc: &Sidecar,
    state: &Mutex<HttpState>,
    ex: &Exchanged,
    response: &Response<Full<Bytes>>,
    peer: Option<WorkloadMetadata>,
    cluster: &str,
) {
    let body_len = response.body().size_hint().exact().unwrap_or(0);
    let response_bytes = head_len(status_line_len(response.status()), response.headers()) + body_len;
    let req = request_facts(
        &ex.parts,
        Some(response.status()),
        ex.start.elapsed(),
        (ex.request_bytes, response_bytes),
        cluster,
    );
    record_facts(sc, state, &req, peer);
}

/// Records a request whose facts are known: learns a new peer first.
pub(crate) fn record_facts(
    sc: &Sidecar,
    state: &Mutex<HttpState>,
    req: &RequestFacts<'_>,
    peer: Option<WorkloadMetadata>,
) {
    let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if peer.is_some() && state.peer != peer {
        let facts = ConnectionFacts::default()
            .with_tls(state.tls.clone())
            .with_peer(peer.clone());
        state.conn.update(&sc.plugin, &facts);
        state.peer = peer;
    }
    sc.plugin.record_request(&mut state.conn, req);
}

fn bad_gateway() -> Response<Full<Bytes>> {
    text(StatusCode::BAD_GATEWAY, "upstream unavailable\n")
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
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
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

/// How one sidecar proxies a streamed (gRPC) request.
#[derive(Clone, Copy)]
struct StreamSide {
    /// The client sidecar: adds its metadata to the request, learns the peer from the
    /// response.
    outbound: bool,
    /// Over mTLS from a sidecar: the server sidecar learns the peer from the request and
    /// adds its metadata to the response.
    mesh: bool,
    cluster: &'static str,
}

/// Proxies a request whose bodies stream (gRPC): frame by frame both ways, trailers
/// included; recorded when the response body ends or is dropped.
async fn stream_request<F, Fut>(
    sc: Arc<Sidecar>,
    state: Arc<Mutex<HttpState>>,
    activity: &Arc<Activity>,
    req: Request<Incoming>,
    (slot, connect): (&tokio::sync::Mutex<Option<Sender>>, F),
    side: StreamSide,
) -> Response<Body>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Option<Sender>>,
{
    let in_flight = activity.request();
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let mut headers = parts.headers.clone();
    strip_peer_headers(&mut headers);
    let mut peer = None;
    if side.outbound {
        sc.add_peer_headers(&mut headers);
    } else if side.mesh {
        peer = sc.peer_from_headers(&parts.headers);
    }
    let request_bytes = Arc::new(AtomicU64::new(head_len(request_line_len(&parts), &parts.headers)));
    let body = Counted::new(body.boxed(), Arc::clone(&request_bytes)).boxed();
    let Some(response) = upstream::send(slot, connect, &parts, headers, body).await else {
        let response = bad_gateway();
        let ex = Exchanged {
            start,
            request_bytes: request_bytes.load(Ordering::Relaxed),
            parts,
            body: Bytes::new(),
        };
        record(&sc, &state, &ex, &response, peer, side.cluster);
        return response.map(boxed);
    };
    let (mut head, body) = response.into_parts();
    if side.outbound {
        peer = sc.peer_from_headers(&head.headers);
    }
    strip_peer_headers(&mut head.headers);
    if side.mesh && !side.outbound {
        sc.add_peer_headers(&mut head.headers);
    }
    let pending = Pending {
        sc,
        state,
        parts,
        start,
        request_bytes,
        peer,
        cluster: side.cluster,
        in_flight,
    };
    upstream::recorded(head, body, pending)
}

/// The server sidecar's HTTP: gRPC (by `content-type`) streams to the gRPC backend over
/// HTTP/2, the rest is read whole and forwarded to the HTTP backend over HTTP/1.1.
async fn http_inbound<IO>(sc: Arc<Sidecar>, io: IO, tls: Option<Tls>, backends: Backends)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    const CLUSTER: &str = "inbound|9080||";
    let mesh = tls.is_some();
    let conn = sc.plugin.connection(&ConnectionFacts::default().with_tls(tls.clone()));
    let state = Arc::new(Mutex::new(HttpState { conn, peer: None, tls }));
    let http_upstream = Arc::new(tokio::sync::Mutex::new(None::<Sender>));
    let grpc_upstream = Arc::new(tokio::sync::Mutex::new(None::<Sender>));
    let activity = Activity::new();
    let (sidecar, watched) = (Arc::clone(&sc), Arc::clone(&activity));
    let service = service_fn(move |req: Request<Incoming>| {
        let (sc, state, activity) = (Arc::clone(&sc), Arc::clone(&state), Arc::clone(&activity));
        let (http_upstream, grpc_upstream) = (Arc::clone(&http_upstream), Arc::clone(&grpc_upstream));
        async move {
            if is_grpc(req.headers()) {
                let connect = || async move { http_sender(upstream::connect(backends.grpc).await?, true).await };
                let side = StreamSide {
                    outbound: false,
                    mesh,
                    cluster: CLUSTER,
                };
                let response = stream_request(sc, state, &activity, req, (&grpc_upstream, connect), side).await;
                return Ok::<_, std::convert::Infallible>(response);
            }
            let _in_flight = activity.request();
            let ex = read_request(req).await;
            let peer = if mesh {
                sc.peer_from_headers(&ex.parts.headers)
            } else {
                None
            };
            let mut headers = ex.parts.headers.clone();
            strip_peer_headers(&mut headers);
            let connect = || async move { http_sender(upstream::connect(backends.http).await?, false).await };
            let mut response = match forward(&http_upstream, connect, &ex.parts, headers, ex.body.clone()).await {
                Some((head, body)) => Response::from_parts(head, Full::new(body)),
                None => bad_gateway(),
            };
            if mesh {
                sc.add_peer_headers(response.headers_mut());
            }
            record(&sc, &state, &ex, &response, peer, CLUSTER);
            Ok(response.map(boxed))
        }
    });
    if let Some(t) = serve_http(io, watched, sidecar.limits, service).await {
        sidecar.count_timeout(t);
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
        let outcome = match &done.outcome {
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
            PeerOutcome::Rejected(Rejection::TimedOut { .. }) => {
                self.count(Outcome::ExchangeTimeout);
                self.count_timeout(Timeout::Exchange);
                return None;
            }
            // `Disabled` (the ALPN is not `istio-peer-exchange`: nothing was exchanged), and
            // outcomes a later version adds.
            _ => return Some((None, done.stream)),
        };
        self.count(outcome);
        Some((done.outcome.into_peer(), done.stream))
    }
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
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // Small gRPC frames and HTTP/2 control frames go out at once.
        let _ = stream.set_nodelay(true);
        let (sc, upstream) = (Arc::clone(&sc), upstream.clone());
        tokio::spawn(async move { outbound_http_connection(sc, stream, upstream).await });
    }
}

/// Connects to the server sidecar over mTLS, offering Istio's ALPN for the downstream's
/// HTTP version (`istio-h2`, `istio`, `h2` for HTTP/2), and notes the TLS facts in `state`.
async fn connect_upstream(
    sc: Arc<Sidecar>,
    upstream: Upstream,
    h2: bool,
    state: Arc<Mutex<HttpState>>,
) -> Option<Sender> {
    let config = if h2 { upstream.h2 } else { upstream.http };
    let (tls, facts) = connect_tls(&sc, upstream.addr, config).await?;
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).tls = Some(facts.tls());
    http_sender(tls, h2).await
}

async fn outbound_http_connection(sc: Arc<Sidecar>, stream: TcpStream, upstream: Upstream) {
    const CLUSTER: &str = "outbound|9080||ratings.default.svc.cluster.local";
    let conn = sc.plugin.connection(&ConnectionFacts::default());
    let state = Arc::new(Mutex::new(HttpState {
        conn,
        peer: None,
        tls: None,
    }));
    let sender = Arc::new(tokio::sync::Mutex::new(None::<Sender>));
    let activity = Activity::new();
    let (sidecar, watched) = (Arc::clone(&sc), Arc::clone(&activity));
    let service = service_fn(move |req: Request<Incoming>| {
        let (sc, state, sender, upstream) = (
            Arc::clone(&sc),
            Arc::clone(&state),
            Arc::clone(&sender),
            upstream.clone(),
        );
        let activity = Arc::clone(&activity);
        async move {
            let h2 = req.version() == http::Version::HTTP_2;
            let (tls_slot, this) = (Arc::clone(&state), Arc::clone(&sc));
            let connect = move || connect_upstream(this, upstream, h2, tls_slot);
            if is_grpc(req.headers()) {
                let side = StreamSide {
                    outbound: true,
                    mesh: true,
                    cluster: CLUSTER,
                };
                let response = stream_request(sc, state, &activity, req, (&sender, connect), side).await;
                return Ok::<_, std::convert::Infallible>(response);
            }
            let _in_flight = activity.request();
            let ex = read_request(req).await;
            let mut headers = ex.parts.headers.clone();
            strip_peer_headers(&mut headers);
            sc.add_peer_headers(&mut headers);
            let (response, peer) = match forward(&sender, connect, &ex.parts, headers, ex.body.clone()).await {
                Some((mut head, body)) => {
                    let peer = sc.peer_from_headers(&head.headers);
                    strip_peer_headers(&mut head.headers);
                    (Response::from_parts(head, Full::new(body)), peer)
                }
                None => (bad_gateway(), None),
            };
            record(&sc, &state, &ex, &response, peer, CLUSTER);
            Ok(response.map(boxed))
        }
    });
    if let Some(t) = serve_http(stream, watched, sidecar.limits, service).await {
        sidecar.count_timeout(t);
    }
}

/// Serves the application's plaintext TCP, forwarding over mTLS with the prefix exchange.
pub(crate) async fn serve_outbound_tcp(sc: Arc<Sidecar>, listener: TcpListener, upstream: Upstream) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // Small gRPC frames and HTTP/2 control frames go out at once.
        let _ = stream.set_nodelay(true);
        let (sc, upstream) = (Arc::clone(&sc), upstream.clone());
        tokio::spawn(async move { outbound_tcp_connection(sc, stream, upstream).await });
    }
}

/// The client sidecar's TCP: mTLS to the server sidecar, the prefix exchange, then the
/// application's bytes both ways. The application's stream is metered (its bytes only, not
/// the frames); the close is recorded exactly once, when it ends both ways or is dropped.
async fn outbound_tcp_connection(sc: Arc<Sidecar>, app: TcpStream, upstream: Upstream) {
    let Some((mut tls, facts)) = connect_tls(&sc, upstream.addr, Arc::clone(&upstream.tcp)).await else {
        return sc.count(Outcome::TlsHandshakeFailed);
    };
    let routing = tcp_routing("outbound|9000||ratings.default.svc.cluster.local");
    let mut downstream = sc.meter.meter(app, facts.connection_facts(), routing);
    let Some((peer, mut upstream)) = sc.exchange(Role::Client, &mut tls, facts.alpn()).await else {
        // Timed out or cut off: recorded without a peer, and closed as it drops.
        return downstream.resolve(None);
    };
    downstream.resolve(peer);
    let _ = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await;
}
