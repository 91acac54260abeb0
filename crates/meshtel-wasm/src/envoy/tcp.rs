//! The network filter: the prefix exchange and the TCP metrics of one connection.
//!
//! The peer's frame arrives in the data from the peer (downstream data inbound, upstream data
//! outbound); the local frame goes ahead of the first bytes toward the peer. proxy-wasm can
//! only prepend to, replace, or append to a data buffer, so stripping the peer's frame
//! replaces the buffer with the bytes after it, and a frame split across reads is held here
//! (at most the frame limit) and the buffer emptied until the frame is complete.

use std::rc::Rc;

use meshtel::{TcpConnection, TcpRouting};
use meshtel_wire::alpn::ISTIO_PEER_EXCHANGE;
use meshtel_wire::exchange::{Exchange, PeerOutcome, Received};
use meshtel_wire::workload::WorkloadMetadata;
use proxy_wasm::traits::{Context, StreamContext};
use proxy_wasm::types::{Action, PeerType};

use super::http::RawFacts;
use super::{istio_metadata, now, property};
use crate::config::Role;
use crate::props;
use crate::vm::{Carrier, Vm};

/// One TCP connection.
pub(super) struct Connection {
    vm: Option<Rc<Vm>>,
    /// The peer's side of the exchange (`None` when it does not run).
    exchange: Option<Exchange<'static>>,
    /// Bytes from the peer held until its frame is complete.
    pending: Vec<u8>,
    frame_sent: bool,
    tcp: Option<TcpConnection>,
}

/// Which data buffer a callback sees.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Downstream,
    Upstream,
}

impl Connection {
    pub(super) fn new(vm: Option<Rc<Vm>>) -> Self {
        let exchange = vm.as_ref().filter(|vm| vm.config.prefix_exchange).map(|vm| {
            // The local frame is written here, not by the exchange: it gets no frame.
            Exchange::new(Some(ISTIO_PEER_EXCHANGE.as_bytes()), &[], vm.frame_config())
        });
        Self {
            vm,
            exchange,
            pending: Vec::new(),
            frame_sent: false,
            tcp: None,
        }
    }

    fn get(&self, side: Side, len: usize) -> Vec<u8> {
        let data = match side {
            Side::Downstream => self.get_downstream_data(0, len),
            Side::Upstream => self.get_upstream_data(0, len),
        };
        data.unwrap_or_default()
    }

    /// Replaces the whole buffer (`start` 0 and `len` its length: an operation every host
    /// supports) or, with `len` 0, prepends.
    fn set(&self, side: Side, len: usize, value: &[u8]) {
        match side {
            Side::Downstream => self.set_downstream_data(0, len, value),
            Side::Upstream => self.set_upstream_data(0, len, value),
        }
    }

    /// The connection's metrics state, started at its first data (the cluster is chosen and
    /// the TLS handshake done by then).
    fn tcp(&mut self, vm: &Vm) -> &mut TcpConnection {
        self.tcp.get_or_insert_with(|| {
            let text = |path: &[&str]| property(path).and_then(|b| props::string(&b).map(str::to_owned));
            let routing = TcpRouting {
                cluster_name: text(&["xds", "cluster_name"]),
                cluster_service: istio_metadata(&["xds", "cluster_metadata"]).and_then(|b| props::cluster_service(&b)),
            };
            let mut tcp = vm
                .plugin
                .tcp_connection(RawFacts::read(vm.config.role).into_facts(), routing, now());
            if !vm.config.prefix_exchange {
                tcp.resolve(&vm.plugin, None);
            }
            tcp
        })
    }

    fn data(&mut self, side: Side, len: usize, end_of_stream: bool) -> Action {
        let Some(vm) = self.vm.clone() else {
            return Action::Continue;
        };
        let from_peer = match vm.config.role {
            Role::Inbound => Side::Downstream,
            Role::Outbound => Side::Upstream,
        };
        self.tcp(&vm);
        // The TCP metrics count application bytes, as a native sidecar does: the peer's frame
        // is taken off before counting, the local frame prepended after.
        let application = if side == from_peer {
            self.read_peer_frame(&vm, side, len, end_of_stream)
        } else {
            if !self.frame_sent && self.exchange.is_some() {
                self.frame_sent = true;
                self.set(side, 0, vm.local_frame());
            }
            len
        } as u64;
        let now = now();
        if let Some(tcp) = self.tcp.as_mut() {
            if side == Side::Downstream {
                tcp.add_bytes(0, application);
            } else {
                tcp.add_bytes(application, 0);
            }
            tcp.tick(&vm.plugin, now);
        }
        Action::Continue
    }

    /// Reads the peer's frame off the bytes from the peer; returns how many application
    /// bytes go on (the chunk less frame bytes, plus held bytes released by a complete frame).
    fn read_peer_frame(&mut self, vm: &Vm, side: Side, len: usize, end_of_stream: bool) -> usize {
        match &self.exchange {
            Some(e) if !e.is_finished() || !self.pending.is_empty() => {}
            _ => return len,
        }
        let chunk = self.get(side, len);
        let Some(exchange) = self.exchange.as_mut() else {
            return len;
        };
        self.pending.extend_from_slice(&chunk);
        let mut peer: Option<Option<WorkloadMetadata>> = None;
        let mut start = 0;
        let keep = loop {
            let held = self.pending.get(start..).unwrap_or_default();
            if held.is_empty() && start > 0 {
                break true;
            }
            let received = if end_of_stream {
                exchange.on_end_of_stream(held)
            } else {
                exchange.on_received(held)
            };
            match received {
                Received::NeedMore => break false,
                Received::Discard { consume } => {
                    start += consume;
                    if consume == 0 {
                        break true;
                    }
                }
                Received::Done { consume, outcome } => {
                    start += consume;
                    peer = Some(match outcome {
                        PeerOutcome::Found { metadata, .. } => Some(WorkloadMetadata::from_view(&metadata, &[])),
                        PeerOutcome::Rejected(_) => {
                            vm.count_rejected(Carrier::Frame);
                            None
                        }
                        _ => None,
                    });
                    // An oversize frame's payload is still to be skipped: go on discarding.
                    if exchange.is_finished() {
                        break true;
                    }
                }
                // `Passthrough`, and any outcome a later version adds: the rest is data.
                _ => break true,
            }
        };
        let passed = if keep {
            let rest = self.pending.get(start..).unwrap_or_default();
            if start > 0 || self.pending.len() != chunk.len() {
                self.set(side, len, rest);
            }
            let passed = rest.len();
            self.pending.clear();
            passed
        } else {
            // Held until the frame is complete: nothing goes on yet.
            self.pending.drain(..start.min(self.pending.len()));
            self.set(side, len, &[]);
            0
        };
        if let Some(peer) = peer {
            let plugin = &vm.plugin;
            self.tcp(vm).resolve(plugin, peer);
        }
        passed
    }

    fn close(&mut self) {
        let (Some(vm), Some(mut tcp)) = (self.vm.clone(), self.tcp.take()) else {
            return;
        };
        let mut flags = Vec::new();
        let mask = property(&["response", "flags"])
            .and_then(|b| props::int(&b))
            .unwrap_or(0);
        props::response_flags(mask as u64, &mut flags);
        tcp.set_response_flags(&flags);
        if self.exchange.as_ref().is_some_and(|e| !e.is_finished()) {
            tcp.resolve(&vm.plugin, None);
        }
        tcp.close(&vm.plugin);
    }
}

impl Context for Connection {
    fn on_done(&mut self) -> bool {
        self.close();
        true
    }
}

impl StreamContext for Connection {
    fn on_downstream_data(&mut self, data_size: usize, end_of_stream: bool) -> Action {
        self.data(Side::Downstream, data_size, end_of_stream)
    }

    fn on_upstream_data(&mut self, data_size: usize, end_of_stream: bool) -> Action {
        self.data(Side::Upstream, data_size, end_of_stream)
    }

    fn on_downstream_close(&mut self, _peer_type: PeerType) {}

    fn on_log(&mut self) {
        self.close();
    }
}
