//! The gRPC stream: periodic reports of its message counts (`docs/reference/telemetry.md`
//! §6.2), then the request metrics at completion.

use std::time::Duration;

use super::groups::{BoundSeries, Family, Id, bound_families};
use super::http::HttpConnection;
use super::{StatsPlugin, period_elapsed};
use crate::attrs::{RequestAttrs, ServiceFacts, StatsBag};
use crate::facts::RequestFacts;
use crate::metric::StandardMetric;

/// The periodic reporting of one gRPC stream's message counts
/// (`docs/reference/telemetry.md` §6.2).
#[derive(Debug)]
#[must_use = "the final message deltas and the request metrics are recorded by `finish`"]
pub struct GrpcStream {
    series: Option<Vec<BoundSeries>>,
    counts: (u64, u64),
    reported: (u64, u64),
    next_tick: Option<Duration>,
}

impl StatsPlugin {
    /// Starts the periodic reporting of one gRPC stream (`docs/reference/telemetry.md` §6.2),
    /// at its request headers.
    pub fn grpc_stream(&self, now: Duration) -> GrpcStream {
        GrpcStream {
            series: None,
            counts: (0, 0),
            reported: (0, 0),
            next_tick: self.period.map(|p| now + p),
        }
    }
}

impl GrpcStream {
    /// The messages seen so far: received from and sent to the downstream (cumulative).
    pub fn set_message_counts(&mut self, request: u64, response: u64) {
        self.counts = (request, response);
    }

    /// Call as time passes; reports the message deltas when a period has elapsed. `req`
    /// gives the request-header facts (host, routing); labels are evaluated once, without
    /// headers (`docs/reference/telemetry.md` §7).
    pub fn tick(&mut self, plugin: &StatsPlugin, conn: &mut HttpConnection, req: &RequestFacts<'_>, now: Duration) {
        if !period_elapsed(plugin.period, &mut self.next_tick, now) {
            return;
        }
        self.report(plugin, conn, req);
    }

    fn report(&mut self, plugin: &StatsPlugin, conn: &mut HttpConnection, req: &RequestFacts<'_>) {
        let series = self.series.get_or_insert_with(|| {
            let service = ServiceFacts::new(req.host, plugin.host_fallback, &req.routing);
            let rattrs = RequestAttrs {
                protocol: "grpc",
                service,
                ..RequestAttrs::default()
            };
            let bag = StatsBag {
                slots: &plugin.slots,
                conn: &conn.attrs,
                req: Some(&rattrs),
            };
            plugin.bind(&plugin.grpc, &bag, &mut conn.scratch)
        });
        let delta = (
            self.counts.0 - self.reported.0.min(self.counts.0),
            self.counts.1 - self.reported.1.min(self.counts.1),
        );
        self.reported = self.counts;
        for (s, family) in bound_families(&plugin.groups, series) {
            match family {
                Family::Standard(StandardMetric::RequestMessages, Id::Counter(c)) => s.add(*c, delta.0),
                Family::Standard(StandardMetric::ResponseMessages, Id::Counter(c)) => s.add(*c, delta.1),
                _ => {}
            }
        }
    }

    /// The stream completed: the final message deltas, then the request metrics (with
    /// headers) as [`StatsPlugin::record_request`].
    pub fn finish(mut self, plugin: &StatsPlugin, conn: &mut HttpConnection, req: &RequestFacts<'_>) {
        self.report(plugin, conn, req);
        plugin.record_request(conn, req);
    }
}
