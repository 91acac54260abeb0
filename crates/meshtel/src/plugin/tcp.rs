//! The TCP lifecycle (`docs/reference/telemetry.md` §6.3): opened once the peer is resolved,
//! byte deltas every period, closed and custom metrics at close.

use std::time::Duration;

use meshtel_wire::workload::WorkloadMetadata;

use super::groups::{Family, Id, bound_families};
use super::http::HttpConnection;
use super::labels::{join_flags, record_custom};
use super::{BoundSeries, StatsPlugin, period_elapsed};
use crate::attrs::{RequestAttrs, ServiceFacts, StatsBag};
use crate::facts::{ClusterService, ConnectionFacts, Routing};
use crate::metric::StandardMetric;

/// The service an upstream cluster stands for, owned: [`ClusterService`] for a
/// [`TcpRouting`], which lives as long as its connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedClusterService {
    /// `host`, if the key is present.
    pub host: Option<String>,
    /// `name`, if the key is present.
    pub name: Option<String>,
    /// `namespace`, if the key is present.
    pub namespace: Option<String>,
}

impl OwnedClusterService {
    /// Borrows it as the [`ClusterService`] of a [`Routing`].
    #[must_use]
    pub fn as_borrowed(&self) -> ClusterService<'_> {
        ClusterService {
            host: self.host.as_deref(),
            name: self.name.as_deref(),
            namespace: self.namespace.as_deref(),
        }
    }
}

impl From<ClusterService<'_>> for OwnedClusterService {
    fn from(s: ClusterService<'_>) -> Self {
        Self {
            host: s.host.map(str::to_owned),
            name: s.name.map(str::to_owned),
            namespace: s.namespace.map(str::to_owned),
        }
    }
}

/// Routing of a TCP connection (owned: it lives as long as the connection).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpRouting {
    /// The upstream cluster's name.
    pub cluster_name: Option<String>,
    /// The cluster's `istio.services[0]`, when the list is non-empty.
    pub cluster_service: Option<OwnedClusterService>,
}

impl TcpRouting {
    fn as_routing(&self) -> Routing<'_> {
        Routing {
            route_name: None,
            cluster_name: self.cluster_name.as_deref(),
            cluster_service: self.cluster_service.as_ref().map(OwnedClusterService::as_borrowed),
        }
    }
}

/// One TCP connection's reporting (`docs/reference/telemetry.md` §6.3).
#[derive(Debug)]
#[must_use = "the final deltas and `istio_tcp_connections_closed_total` are recorded by `close`"]
pub struct TcpConnection {
    conn: HttpConnection,
    facts: ConnectionFacts,
    routing: TcpRouting,
    resolved: bool,
    series: Option<Vec<BoundSeries>>,
    bytes: (u64, u64),
    reported: (u64, u64),
    response_flags: Vec<String>,
    next_tick: Option<Duration>,
}

impl StatsPlugin {
    /// Starts one TCP connection (`docs/reference/telemetry.md` §6.3). The peer is not resolved
    /// yet: call [`TcpConnection::resolve`] when peer discovery finishes (found or not).
    pub fn tcp_connection(&self, facts: ConnectionFacts, routing: TcpRouting, now: Duration) -> TcpConnection {
        TcpConnection {
            conn: self.connection(&facts),
            facts,
            routing,
            resolved: false,
            series: None,
            bytes: (0, 0),
            reported: (0, 0),
            response_flags: Vec::new(),
            next_tick: self.period.map(|p| now + p),
        }
    }
}

impl TcpConnection {
    /// Peer discovery finished: `peer` is the record found, or `None` ("no peer").
    pub fn resolve(&mut self, plugin: &StatsPlugin, peer: Option<WorkloadMetadata>) {
        self.facts.peer = peer;
        self.conn.update(plugin, &self.facts);
        self.resolved = true;
    }

    /// Wire bytes sent to and received from the downstream since the last call.
    pub fn add_bytes(&mut self, sent: u64, received: u64) {
        self.bytes.0 += sent;
        self.bytes.1 += received;
    }

    /// The proxy's response flags, if any, before the labels are frozen.
    pub fn set_response_flags(&mut self, flags: &[&str]) {
        self.response_flags = flags.iter().map(|f| (*f).to_owned()).collect();
    }

    /// Call as time passes: at each elapsed period, once the peer is resolved, the first
    /// report emits `istio_tcp_connections_opened_total`, and every report adds the byte
    /// deltas.
    pub fn tick(&mut self, plugin: &StatsPlugin, now: Duration) {
        if !period_elapsed(plugin.period, &mut self.next_tick, now) {
            return;
        }
        if self.series.is_none() {
            if !self.resolved {
                return;
            }
            self.emit(plugin);
        }
        self.report_bytes(plugin);
    }

    /// The connection closed: labels are computed now if they never were (the peer possibly
    /// absent), then the final deltas, `istio_tcp_connections_closed_total` and custom
    /// metrics. Nothing here depends on the time: the final report is not periodic.
    pub fn close(mut self, plugin: &StatsPlugin) {
        if self.series.is_none() {
            self.emit(plugin);
        }
        self.report_bytes(plugin);
        let series = self.series.take().unwrap_or_default();
        self.with_bag(plugin, |bag, _, value| {
            for (s, family) in bound_families(&plugin.groups, &series) {
                match family {
                    Family::Standard(StandardMetric::TcpClosed, Id::Counter(c)) => s.inc(*c),
                    Family::Custom { value: program, id } => record_custom(s, *id, program, bag, value),
                    Family::Standard(..) => {}
                }
            }
        });
    }

    /// Runs `f` with the connection's bag (TCP attributes as they are now) and its scratch
    /// buffers.
    fn with_bag<R>(
        &mut self,
        plugin: &StatsPlugin,
        f: impl FnOnce(&StatsBag<'_>, &mut [String], &mut String) -> R,
    ) -> R {
        let flags: Vec<&str> = self.response_flags.iter().map(String::as_str).collect();
        let mut buf = String::new();
        let flags = join_flags(&flags, &mut buf);
        let service = ServiceFacts::new(None, false, &self.routing.as_routing());
        let rattrs = RequestAttrs::tcp(service, flags, self.bytes);
        let HttpConnection {
            attrs, scratch, value, ..
        } = &mut self.conn;
        let bag = StatsBag {
            slots: &plugin.slots,
            conn: attrs,
            req: Some(&rattrs),
        };
        f(&bag, scratch, value)
    }

    /// The labels are frozen: binds the series and counts the connection opened.
    fn emit(&mut self, plugin: &StatsPlugin) {
        let series = self.with_bag(plugin, |bag, scratch, _| plugin.bind(&plugin.tcp, bag, scratch));
        for (s, family) in bound_families(&plugin.groups, &series) {
            if let Family::Standard(StandardMetric::TcpOpened, Id::Counter(c)) = family {
                s.inc(*c);
            }
        }
        self.series = Some(series);
    }

    fn report_bytes(&mut self, plugin: &StatsPlugin) {
        let delta = (self.bytes.0 - self.reported.0, self.bytes.1 - self.reported.1);
        self.reported = self.bytes;
        for (s, family) in bound_families(&plugin.groups, self.series.as_deref().unwrap_or_default()) {
            match family {
                Family::Standard(StandardMetric::TcpSentBytes, Id::Counter(c)) => s.add(*c, delta.0),
                Family::Standard(StandardMetric::TcpReceivedBytes, Id::Counter(c)) => s.add(*c, delta.1),
                _ => {}
            }
        }
    }
}
