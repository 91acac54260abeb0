//! The HTTP filter: the `x-envoy-peer-metadata` exchange on requests and responses, and the
//! request metrics recorded at the end of the stream (`on_log`), from Envoy's properties.

use std::cell::RefCell;
use std::rc::Rc;

use meshtel::{ConnectionFacts, FrameCounter, GrpcStream, Protocol, RequestFacts, Routing, Tls};
use meshtel_wire::header::{PEER_METADATA, PEER_METADATA_ID};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use super::{istio_metadata, now, property};
use crate::config::Role;
use crate::props;
use crate::vm::Vm;

/// gRPC state of a stream: the message counters and the periodic reports.
struct Grpc {
    stream: GrpcStream,
    request: FrameCounter,
    response: FrameCounter,
}

/// One HTTP stream.
pub(super) struct Stream {
    vm: Option<Rc<Vm>>,
    /// The peer's raw `x-envoy-peer-metadata` value.
    peer: Option<Vec<u8>>,
    /// Inbound: whether the request carried `-id` and the metadata header.
    carried: (bool, bool),
    host: Option<String>,
    method: Option<String>,
    path: Option<String>,
    protocol: Protocol,
    grpc: Option<Grpc>,
    grpc_status: (Option<String>, Option<String>),
}

/// The routing properties, owned for the stream's end.
struct Route {
    name: Option<String>,
    cluster: Option<String>,
    service: Option<meshtel::OwnedClusterService>,
}

impl Route {
    fn read() -> Self {
        let text = |path: &[&str]| property(path).and_then(|b| props::string(&b).map(str::to_owned));
        let cluster = text(&["xds", "cluster_name"]);
        // A cluster's metadata is fixed by its configuration: read and parsed once per
        // cluster name (a few dozen per VM at most), not per request.
        let service = CLUSTERS.with(|cache| {
            let read = || istio_metadata(&["xds", "cluster_metadata"]).and_then(|b| props::cluster_service(&b));
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return read();
            };
            let name = cluster.clone().unwrap_or_default();
            if let Some((_, service)) = cache.iter().find(|(n, _)| *n == name) {
                return service.clone();
            }
            let service = read();
            if cache.len() >= CLUSTER_CACHE {
                cache.remove(0);
            }
            cache.push((name, service.clone()));
            service
        });
        Self {
            name: text(&["xds", "route_name"]),
            cluster,
            service,
        }
    }

    fn routing(&self) -> Routing<'_> {
        Routing {
            route_name: self.name.as_deref(),
            cluster_name: self.cluster.as_deref(),
            cluster_service: self.service.as_ref().map(meshtel::OwnedClusterService::as_borrowed),
        }
    }
}

/// Most clusters whose `istio.services` a VM keeps.
const CLUSTER_CACHE: usize = 64;

thread_local! {
    /// Cluster name → its service (one VM per thread: no sharing).
    static CLUSTERS: RefCell<Vec<(String, Option<meshtel::OwnedClusterService>)>> = const { RefCell::new(Vec::new()) };
}

/// The connection properties of a stream or TCP connection: TLS of the downstream
/// connection (inbound) or of the upstream one (outbound), port, SNI, endpoint metadata.
#[derive(Default)]
pub(super) struct RawFacts {
    local_san: Option<String>,
    peer_san: Option<String>,
    port: Option<u16>,
    sni: Option<String>,
    endpoint: Option<String>,
}

impl RawFacts {
    pub(super) fn read(role: Role) -> Self {
        let text = |path: &[&str]| property(path).and_then(|b| props::string(&b).map(str::to_owned));
        let side = match role {
            Role::Inbound => "connection",
            Role::Outbound => "upstream",
        };
        let endpoint = match role {
            Role::Outbound => istio_metadata(&["xds", "upstream_host_metadata"]).and_then(|s| {
                meshtel_wire::proto::StructView::parse(&s)
                    .ok()?
                    .get("workload")?
                    .as_str()
                    .map(str::to_owned)
            }),
            Role::Inbound => None,
        };
        Self {
            local_san: text(&[side, "uri_san_local_certificate"]),
            peer_san: text(&[side, "uri_san_peer_certificate"]),
            port: property(&["destination", "port"])
                .and_then(|b| props::int(&b))
                .and_then(|p| u16::try_from(p).ok()),
            sni: text(&["connection", "requested_server_name"]),
            endpoint,
        }
    }

    /// The cache key of these facts with this raw peer header: each part length-prefixed.
    fn key(&self, peer_header: Option<&[u8]>) -> Vec<u8> {
        let mut key = vec![b'r'];
        let port = self.port.map(u16::to_le_bytes);
        let parts: [Option<&[u8]>; 6] = [
            peer_header,
            self.local_san.as_deref().map(str::as_bytes),
            self.peer_san.as_deref().map(str::as_bytes),
            port.as_ref().map(<[u8; 2]>::as_slice),
            self.sni.as_deref().map(str::as_bytes),
            self.endpoint.as_deref().map(str::as_bytes),
        ];
        for part in parts {
            match part {
                None => key.push(0),
                Some(bytes) => {
                    key.push(1);
                    key.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    key.extend_from_slice(bytes);
                }
            }
        }
        key
    }

    pub(super) fn into_facts(self) -> ConnectionFacts {
        let tls = (self.local_san.is_some() || self.peer_san.is_some()).then(|| Tls {
            local_san: self.local_san.unwrap_or_default(),
            peer_san: self.peer_san.unwrap_or_default(),
        });
        ConnectionFacts::default()
            .with_tls(tls)
            .with_destination_port(self.port)
            .with_requested_server_name(self.sni)
            .with_endpoint_metadata(self.endpoint)
    }
}

impl Stream {
    pub(super) fn new(vm: Option<Rc<Vm>>) -> Self {
        Self {
            vm,
            peer: None,
            carried: (false, false),
            host: None,
            method: None,
            path: None,
            protocol: Protocol::Http,
            grpc: None,
            grpc_status: (None, None),
        }
    }

    /// Keeps the peer's header value from a request (inbound) or response (outbound); it is
    /// decoded when the stream is first reported, once per distinct value and connection.
    fn take_peer(&mut self, value: Option<Vec<u8>>) {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.peer = Some(value);
        }
    }

    /// The stream's facts; `end` adds the response facts Envoy holds at the end.
    fn record(&mut self, vm: &Vm, end: bool) {
        let route = Route::read();
        let int = |path: &[&str]| property(path).and_then(|b| props::int(&b));
        let mut flags = Vec::new();
        let mut req = RequestFacts::default();
        req.protocol = self.protocol;
        req.host = self.host.as_deref();
        req.method = self.method.as_deref();
        req.path = self.path.as_deref();
        req.routing = route.routing();
        if end {
            req.response_code = int(&["response", "code"])
                .and_then(|c| u16::try_from(c).ok())
                .filter(|&c| c != 0);
            props::response_flags(int(&["response", "flags"]).unwrap_or(0) as u64, &mut flags);
            req.response_flags = &flags;
            req.duration_ms = int(&["request", "duration"]).map(|ns| (ns.max(0) as u64) / 1_000_000);
            req.request_bytes = int(&["request", "total_size"]).map(|n| n.max(0) as u64);
            req.response_bytes = int(&["response", "total_size"]).map(|n| n.max(0) as u64);
            req.grpc_status_header = self.grpc_status.0.as_deref();
            req.grpc_status_trailer = self.grpc_status.1.as_deref();
        }
        // Keyed by the downstream connection and the peer header: the connection properties
        // are read once per connection, when its state is first built.
        let role = vm.config.role;
        let key = match property(&["connection", "id"]).and_then(|b| props::int(&b)) {
            Some(id) => {
                // `c` + id + header; facts keys start with `r`: the two kinds never collide.
                let mut key = vec![b'c'];
                key.extend_from_slice(&id.to_le_bytes());
                key.extend_from_slice(self.peer.as_deref().unwrap_or_default());
                key
            }
            None => RawFacts::read(role).key(self.peer.as_deref()),
        };
        let grpc = &mut self.grpc;
        vm.with_connection(
            &key,
            self.peer.as_deref(),
            || RawFacts::read(role).into_facts(),
            |plugin, conn| match (grpc.take(), end) {
                (Some(mut g), true) => {
                    g.stream.set_message_counts(g.request.messages(), g.response.messages());
                    g.stream.finish(plugin, conn, &req);
                }
                (Some(mut g), false) => {
                    g.stream.set_message_counts(g.request.messages(), g.response.messages());
                    g.stream.tick(plugin, conn, &req, now());
                    *grpc = Some(g);
                }
                (None, true) => plugin.record_request(conn, &req),
                (None, false) => {}
            },
        );
    }

    /// Feeds a gRPC body chunk to a counter; reports on the period.
    fn body(&mut self, size: usize, response: bool) {
        let Some(vm) = self.vm.clone() else { return };
        let chunk = if response {
            self.get_http_response_body(0, size)
        } else {
            self.get_http_request_body(0, size)
        };
        let Some(g) = self.grpc.as_mut() else { return };
        if let Some(chunk) = chunk {
            if response {
                g.response.feed(&chunk);
            } else {
                g.request.feed(&chunk);
            }
        }
        self.record(&vm, false);
    }
}

impl Context for Stream {}

/// The request headers the filter reads.
#[derive(Default)]
struct RequestHeaders {
    peer_id: Option<Vec<u8>>,
    peer_metadata: Option<Vec<u8>>,
    authority: Option<String>,
    method: Option<String>,
    path: Option<String>,
    content_type: Option<String>,
}

impl RequestHeaders {
    /// From the whole request header map, read in one host call; a host that fails the call
    /// leaves every header absent. A repeated header counts with its first value, as a
    /// single-header read returns it.
    fn read() -> Self {
        fn first<T>(slot: &mut Option<T>, value: Option<T>) {
            if slot.is_none() {
                *slot = value;
            }
        }
        let mut out = Self::default();
        let text = |value: Vec<u8>| String::from_utf8(value).ok();
        for (name, value) in hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default() {
            match name.as_str() {
                PEER_METADATA_ID => first(&mut out.peer_id, Some(value)),
                PEER_METADATA => first(&mut out.peer_metadata, Some(value)),
                ":authority" => first(&mut out.authority, text(value)),
                ":method" => first(&mut out.method, text(value)),
                ":path" => first(&mut out.path, text(value)),
                "content-type" => first(&mut out.content_type, text(value)),
                _ => {}
            }
        }
        out
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(vm) = self.vm.clone() else {
            return Action::Continue;
        };
        // One host call for every header the filter reads: each call that returns a value
        // also calls into the VM to allocate it, the largest cost of a header read.
        let headers = RequestHeaders::read();
        match vm.config.role {
            Role::Inbound => {
                self.carried = (headers.peer_id.is_some(), headers.peer_metadata.is_some());
                // The application never sees the exchange headers.
                if self.carried.0 {
                    self.set_http_request_header(PEER_METADATA_ID, None);
                }
                if self.carried.1 {
                    self.set_http_request_header(PEER_METADATA, None);
                }
                self.take_peer(headers.peer_metadata);
            }
            Role::Outbound => {
                self.set_http_request_header(PEER_METADATA_ID, Some(vm.local_id()));
                self.set_http_request_header(PEER_METADATA, Some(vm.local_header()));
            }
        }
        self.host = headers.authority;
        self.method = headers.method;
        self.path = headers.path;
        self.protocol = Protocol::from_content_type(headers.content_type.as_deref());
        if self.protocol == Protocol::Grpc {
            self.grpc = Some(Grpc {
                stream: vm.plugin.grpc_stream(now()),
                request: FrameCounter::default(),
                response: FrameCounter::default(),
            });
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        if self.grpc.is_some() {
            self.body(body_size, false);
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(vm) = self.vm.clone() else {
            return Action::Continue;
        };
        match vm.config.role {
            Role::Inbound => {
                // The local node's headers, each only if the request carried it.
                if self.carried.0 {
                    self.set_http_response_header(PEER_METADATA_ID, Some(vm.local_id()));
                }
                if self.carried.1 {
                    self.set_http_response_header(PEER_METADATA, Some(vm.local_header()));
                }
            }
            Role::Outbound => {
                let value = self.get_http_response_header_bytes(PEER_METADATA);
                self.set_http_response_header(PEER_METADATA_ID, None);
                self.set_http_response_header(PEER_METADATA, None);
                self.take_peer(value);
            }
        }
        if self.grpc.is_some() {
            self.grpc_status.0 = self.get_http_response_header("grpc-status");
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        if self.grpc.is_some() {
            self.body(body_size, true);
        }
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        if self.grpc.is_some() {
            self.grpc_status.1 = self.get_http_response_trailer("grpc-status");
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        if let Some(vm) = self.vm.clone() {
            self.record(&vm, true);
        }
    }
}
