//! The HTTP filter: the `x-envoy-peer-metadata` exchange on requests and responses, and the
//! request metrics recorded at the end of the stream (`on_log`), from Envoy's properties.

use std::rc::Rc;

use meshtel::{ConnectionFacts, FrameCounter, GrpcStream, Protocol, RequestFacts, Routing, Tls};
use meshtel_wire::header::{PEER_METADATA, PEER_METADATA_ID};
use meshtel_wire::workload::WorkloadMetadata;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

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
    peer: Option<WorkloadMetadata>,
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
        Self {
            name: text(&["xds", "route_name"]),
            cluster: text(&["xds", "cluster_name"]),
            service: istio_metadata(&["xds", "cluster_metadata"]).and_then(|b| props::cluster_service(&b)),
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

/// The connection facts of a stream or TCP connection, from Envoy's properties: TLS of the
/// downstream connection (inbound) or of the upstream one (outbound).
pub(super) fn connection_facts(role: Role, peer: Option<WorkloadMetadata>) -> ConnectionFacts {
    let text = |path: &[&str]| property(path).and_then(|b| props::string(&b).map(str::to_owned));
    let side = match role {
        Role::Inbound => "connection",
        Role::Outbound => "upstream",
    };
    let local_san = text(&[side, "uri_san_local_certificate"]);
    let peer_san = text(&[side, "uri_san_peer_certificate"]);
    let tls = (local_san.is_some() || peer_san.is_some()).then(|| Tls {
        local_san: local_san.unwrap_or_default(),
        peer_san: peer_san.unwrap_or_default(),
    });
    let port = property(&["destination", "port"])
        .and_then(|b| props::int(&b))
        .and_then(|p| u16::try_from(p).ok());
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
    ConnectionFacts::default()
        .with_peer(peer)
        .with_tls(tls)
        .with_destination_port(port)
        .with_requested_server_name(text(&["connection", "requested_server_name"]))
        .with_endpoint_metadata(endpoint)
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

    /// Takes the peer's headers off a request (inbound) or response (outbound).
    fn take_peer(&mut self, vm: &Vm, value: Option<Vec<u8>>) {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.peer = vm.decode_peer_header(&value);
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
        let facts = connection_facts(vm.config.role, self.peer.clone());
        let plugin = &vm.plugin;
        let mut conn = plugin.connection(&facts);
        match (self.grpc.take(), end) {
            (Some(mut g), true) => {
                g.stream.set_message_counts(g.request.messages(), g.response.messages());
                g.stream.finish(plugin, &mut conn, &req);
            }
            (Some(mut g), false) => {
                g.stream.set_message_counts(g.request.messages(), g.response.messages());
                g.stream.tick(plugin, &mut conn, &req, now());
                self.grpc = Some(g);
            }
            (None, true) => plugin.record_request(&mut conn, &req),
            (None, false) => {}
        }
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

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(vm) = self.vm.clone() else {
            return Action::Continue;
        };
        match vm.config.role {
            Role::Inbound => {
                let id = self.get_http_request_header_bytes(PEER_METADATA_ID);
                let value = self.get_http_request_header_bytes(PEER_METADATA);
                self.carried = (id.is_some(), value.is_some());
                // The application never sees the exchange headers.
                self.set_http_request_header(PEER_METADATA_ID, None);
                self.set_http_request_header(PEER_METADATA, None);
                self.take_peer(&vm, value);
            }
            Role::Outbound => {
                self.set_http_request_header(PEER_METADATA_ID, Some(vm.local_id()));
                self.set_http_request_header(PEER_METADATA, Some(vm.local_header()));
            }
        }
        self.host = self.get_http_request_header(":authority");
        self.method = self.get_http_request_header(":method");
        self.path = self.get_http_request_header(":path");
        self.protocol = Protocol::from_content_type(self.get_http_request_header("content-type").as_deref());
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
                self.take_peer(&vm, value);
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
