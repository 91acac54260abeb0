//! HTTP recording: one connection's state ([`HttpConnection`]) and the request metrics
//! recorded per completed HTTP or gRPC stream (`docs/reference/telemetry.md` §6.1).

use meshtel_metrics::SeriesRef;

use super::StatsPlugin;
use super::groups::{Family, Id};
use super::labels::{fill, join_flags, record_custom, render};
use crate::attrs::{ConnectionAttrs, RequestAttrs, ServiceFacts, StatsBag};
use crate::facts::{ConnectionFacts, RequestFacts};
use crate::metric::StandardMetric;
use crate::plan::MAX_LABELS;

/// One HTTP connection's state (its streams may be gRPC): its attributes and the texts of
/// its connection-scoped labels.
#[derive(Debug)]
pub struct HttpConnection {
    pub(super) attrs: ConnectionAttrs,
    cache: Vec<Option<Box<[String]>>>,
    pub(super) scratch: Vec<String>,
    flags: String,
    pub(super) value: String,
}

impl StatsPlugin {
    /// State for one connection carrying HTTP or gRPC streams. Connection-scoped labels are
    /// evaluated once, at its first request.
    #[must_use]
    pub fn connection(&self, facts: &ConnectionFacts) -> HttpConnection {
        HttpConnection {
            attrs: ConnectionAttrs::new(&self.local, self.reporter, facts),
            cache: vec![None; self.groups.len()],
            scratch: vec![String::new(); self.max_labels],
            flags: String::new(),
            value: String::new(),
        }
    }

    /// Records one completed HTTP or gRPC stream (`docs/reference/telemetry.md` §6.1):
    /// `istio_requests_total`, the duration and size histograms, and custom metrics. Allocates
    /// nothing once the connection's labels and the series exist.
    pub fn record_request(&self, conn: &mut HttpConnection, req: &RequestFacts<'_>) {
        for &g in &self.http {
            conn.ensure_cache(self, g);
        }
        let HttpConnection {
            attrs,
            cache,
            scratch,
            flags,
            value,
        } = conn;
        let flags = join_flags(req.response_flags, flags);
        let service = ServiceFacts::new(req.host, self.host_fallback, &req.routing);
        let rattrs = RequestAttrs::http(req, service, flags);
        let bag = StatsBag {
            slots: &self.slots,
            conn: attrs,
            req: Some(&rattrs),
        };
        for &g in &self.http {
            let plan = &self.groups[g];
            let mut out = [""; MAX_LABELS];
            let n = fill(plan, &bag, cache[g].as_deref(), scratch, &mut out);
            // `fill` gives the group's own arity, so the lookup cannot fail.
            let _ = plan.group.with_series(&out[..n], |s| {
                for family in &plan.families {
                    record_http(s, family, req, &bag, value);
                }
            });
        }
    }
}

/// Records one family of an HTTP group for `req`.
#[inline]
fn record_http(s: SeriesRef<'_>, family: &Family, req: &RequestFacts<'_>, bag: &StatsBag<'_>, value: &mut String) {
    let observe = |h, v: Option<u64>| {
        if let Some(v) = v {
            s.observe(h, v as f64);
        }
    };
    match family {
        Family::Standard(StandardMetric::RequestsTotal, Id::Counter(c)) => s.inc(*c),
        Family::Standard(StandardMetric::RequestDuration, Id::Histogram(h)) => observe(*h, req.duration_ms),
        Family::Standard(StandardMetric::RequestBytes, Id::Histogram(h)) => observe(*h, req.request_bytes),
        Family::Standard(StandardMetric::ResponseBytes, Id::Histogram(h)) => observe(*h, req.response_bytes),
        Family::Custom { value: program, id } => record_custom(s, *id, program, bag, value),
        Family::Standard(..) => {}
    }
}

impl HttpConnection {
    /// New facts for this connection (an outbound connection learns its peer from the first
    /// response's headers, say): the connection-scoped labels are evaluated again.
    pub fn update(&mut self, plugin: &StatsPlugin, facts: &ConnectionFacts) {
        self.attrs = ConnectionAttrs::new(&plugin.local, plugin.reporter, facts);
        self.cache.iter_mut().for_each(|c| *c = None);
    }

    /// Renders group `g`'s connection-scoped labels, once per connection (and update).
    fn ensure_cache(&mut self, plugin: &StatsPlugin, g: usize) {
        if self.cache[g].is_some() {
            return;
        }
        let bag = StatsBag {
            slots: &plugin.slots,
            conn: &self.attrs,
            req: None,
        };
        let mut scratch = String::new();
        let texts = plugin.groups[g]
            .labels
            .iter()
            .map(|l| {
                if l.request_scoped {
                    String::new()
                } else {
                    render(&l.program, &bag, &mut scratch).to_owned()
                }
            })
            .collect();
        self.cache[g] = Some(texts);
    }
}
