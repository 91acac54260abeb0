//! The plugin: compiled configuration plus the recording lifecycle of HTTP streams, gRPC
//! streams and TCP connections (`docs/reference/telemetry.md` §6, §7). Sans-IO: time comes in
//! as arguments.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use meshtel_expr::{Program, Value};
use meshtel_metrics::{CounterId, Desc, GaugeId, HistogramId, Registry, Series, SeriesRef};
use meshtel_wire::workload::WorkloadMetadata;

use crate::attrs::{ConnectionAttrs, RequestAttrs, ServiceFacts, Slot, StatsBag, manifest, slot_table};
use crate::config::{ConfigError, MetricType, PluginConfig, ReporterConfig};
use crate::facts::{ClusterService, ConnectionFacts, LocalNode, Reporter, RequestFacts, Routing};
use crate::metric::StandardMetric;
use crate::plan::{Label, MAX_LABELS, MetricKind, plan};

#[derive(Clone, Copy, Debug)]
enum Id {
    Counter(CounterId),
    Gauge(GaugeId),
    Histogram(HistogramId),
}

#[derive(Debug)]
enum Family {
    Standard(StandardMetric, Id),
    Custom { value: Arc<Program>, id: Id },
}

/// Metrics sharing one label list, recorded through one series lookup.
#[derive(Debug)]
struct GroupPlan {
    group: meshtel_metrics::Group,
    labels: Vec<Label>,
    families: Vec<Family>,
    /// The exposed names of the families, in order.
    names: Vec<String>,
}

impl GroupPlan {
    fn has(&self, pred: impl Fn(&Family) -> bool) -> bool {
        self.families.iter().any(pred)
    }
}

fn is_http(f: &Family) -> bool {
    matches!(
        f,
        Family::Standard(
            StandardMetric::RequestsTotal
                | StandardMetric::RequestDuration
                | StandardMetric::RequestBytes
                | StandardMetric::ResponseBytes,
            _
        ) | Family::Custom { .. }
    )
}

fn is_grpc(f: &Family) -> bool {
    matches!(
        f,
        Family::Standard(StandardMetric::RequestMessages | StandardMetric::ResponseMessages, _)
    )
}

fn is_tcp(f: &Family) -> bool {
    matches!(
        f,
        Family::Standard(
            StandardMetric::TcpOpened
                | StandardMetric::TcpClosed
                | StandardMetric::TcpSentBytes
                | StandardMetric::TcpReceivedBytes,
            _
        ) | Family::Custom { .. }
    )
}

/// Istio's stats plugin: give it the local node and a configuration once, then tell it
/// about each connection and request; it records what an Istio sidecar would.
///
/// ```
/// use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, RequestFacts, StatsPlugin};
/// use meshtel_metrics::{Format, Registry};
///
/// let registry = Registry::default();
/// let local = LocalNode::from_json(&serde_json::json!({"WORKLOAD_NAME": "productpage-v1", "NAMESPACE": "default"}));
/// let plugin = StatsPlugin::new(local, Reporter::Outbound, &PluginConfig::default(), &registry)?;
/// let mut conn = plugin.connection(&ConnectionFacts::default());
/// plugin.record_request(&mut conn, &RequestFacts::http("reviews:9080", 200));
/// let text = registry.render_to_string(Format::Prometheus);
/// assert!(text.contains(r#"istio_requests_total{reporter="source",source_workload="productpage-v1","#));
/// # Ok::<(), meshtel::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct StatsPlugin {
    reporter: Reporter,
    local: LocalNode,
    slots: Box<[Slot]>,
    host_fallback: bool,
    period: Option<Duration>,
    groups: Vec<GroupPlan>,
    http: Vec<usize>,
    grpc: Vec<usize>,
    tcp: Vec<usize>,
    max_labels: usize,
    warnings: Vec<String>,
}

fn registry_error(e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Registry(e.to_string())
}

impl StatsPlugin {
    /// Compiles `config`, registers the metrics in `registry`, and sets `istio_build`.
    /// `reporter` is the direction the embedder runs in; `reporter: SERVER_GATEWAY` in the
    /// configuration makes it a waypoint whatever the direction.
    ///
    /// Expressions that do not compile do not fail the configuration: they remove their tag
    /// and are listed in [`StatsPlugin::warnings`] (`docs/reference/telemetry.md` §9.4).
    ///
    /// # Errors
    /// [`ConfigError`] for invalid bucket settings, custom metric names, `match`, too many
    /// labels, or a registry that already holds these metrics (one plugin per registry).
    pub fn new(
        local: LocalNode,
        reporter: Reporter,
        config: &PluginConfig,
        registry: &Registry,
    ) -> Result<Self, ConfigError> {
        let reporter = if config.reporter == ReporterConfig::ServerGateway {
            Reporter::Waypoint
        } else {
            reporter
        };
        let manifest = manifest();
        let slots = slot_table(&manifest);
        let plan = plan(config, &manifest, &slots)?;

        // Metrics with the same label list (names and expressions) share a group.
        let mut groups: Vec<GroupPlan> = Vec::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        let same = |a: &[Label], b: &[Label]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x.name == y.name && Arc::ptr_eq(&x.program, &y.program))
        };
        for (i, m) in plan.metrics.iter().enumerate() {
            match members.iter().position(|g| same(&plan.metrics[g[0]].labels, &m.labels)) {
                Some(g) => members[g].push(i),
                None => members.push(vec![i]),
            }
        }
        for member in members {
            let first = &plan.metrics[member[0]];
            let names: Vec<&str> = first.labels.iter().map(|l| l.name.as_str()).collect();
            let mut builder = registry.group(&first.exposed, &names);
            let mut families = Vec::new();
            for &i in &member {
                let m = &plan.metrics[i];
                let family = match &m.kind {
                    MetricKind::Standard(s) => {
                        let mut desc = Desc::new(m.exposed.clone(), s.help());
                        if let Some(unit) = s.unit() {
                            desc = desc.unit(unit);
                        }
                        let id = if s.is_histogram() {
                            let buckets = m
                                .buckets
                                .clone()
                                .unwrap_or_else(meshtel_metrics::Buckets::istio_default);
                            Id::Histogram(builder.histogram(desc, buckets).map_err(registry_error)?)
                        } else {
                            Id::Counter(builder.counter(desc).map_err(registry_error)?)
                        };
                        Family::Standard(*s, id)
                    }
                    MetricKind::Custom { value, ty } => {
                        let desc = Desc::new(m.exposed.clone(), "Custom metric.");
                        let id = match ty {
                            MetricType::Counter => Id::Counter(builder.counter(desc).map_err(registry_error)?),
                            MetricType::Gauge => Id::Gauge(builder.gauge(desc).map_err(registry_error)?),
                            MetricType::Histogram => {
                                let buckets = m
                                    .buckets
                                    .clone()
                                    .unwrap_or_else(meshtel_metrics::Buckets::istio_default);
                                // Bytes, as upstream; the unit is declared where the name allows it.
                                let desc = if m.exposed.ends_with("_bytes") {
                                    desc.unit("bytes")
                                } else {
                                    desc
                                };
                                Id::Histogram(builder.histogram(desc, buckets).map_err(registry_error)?)
                            }
                        };
                        Family::Custom {
                            value: Arc::clone(value),
                            id,
                        }
                    }
                };
                families.push(family);
            }
            let group = builder.build().map_err(registry_error)?;
            let names = member.iter().map(|&i| plan.metrics[i].exposed.clone()).collect();
            groups.push(GroupPlan {
                group,
                labels: first.labels.clone(),
                families,
                names,
            });
        }
        let pick = |pred: fn(&Family) -> bool| (0..groups.len()).filter(|&g| groups[g].has(pred)).collect::<Vec<_>>();
        let (http, grpc, tcp) = (pick(is_http), pick(is_grpc), pick(is_tcp));
        let max_labels = groups.iter().map(|g| g.labels.len()).max().unwrap_or(0);

        // istio_build{component="proxy",tag=...} 1
        let mut build = registry.group("istio_build", &["component", "tag"]);
        let gauge = build
            .gauge(Desc::new("istio_build", "Istio component build info."))
            .map_err(registry_error)?;
        let build = build.build().map_err(registry_error)?;
        let tag = if local.istio_version.is_empty() {
            "unknown"
        } else {
            local.istio_version.as_str()
        };
        build
            .with_series(&["proxy", tag], |s| s.set(gauge, 1))
            .map_err(registry_error)?;

        Ok(Self {
            reporter,
            local,
            slots,
            host_fallback: !config.disable_host_header_fallback,
            period: config.reporting_period(),
            groups,
            http,
            grpc,
            tcp,
            max_labels,
            warnings: plan.warnings,
        })
    }

    /// What the configuration loader reported: expressions that did not compile (their
    /// tags removed), ignored fields, entries without effect.
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The reporter kind in effect.
    #[must_use]
    pub const fn reporter(&self) -> Reporter {
        self.reporter
    }

    /// The period of TCP and gRPC reports (`None`: only at completion).
    #[must_use]
    pub const fn reporting_period(&self) -> Option<Duration> {
        self.period
    }

    /// The label names of an exposed metric, in order (`None` if it is not recorded).
    #[must_use]
    pub fn label_names(&self, exposed: &str) -> Option<Vec<&str>> {
        self.groups
            .iter()
            .find(|g| g.group_has(exposed))
            .map(|g| g.labels.iter().map(|l| l.name.as_str()).collect())
    }

    /// State for one connection carrying HTTP or gRPC streams. Connection-scoped labels are
    /// evaluated once, at its first request.
    #[must_use]
    pub fn connection(&self, facts: &ConnectionFacts) -> Connection {
        Connection {
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
    pub fn record_request(&self, conn: &mut Connection, req: &RequestFacts<'_>) {
        for &g in &self.http {
            conn.ensure_cache(self, g);
        }
        let Connection {
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
            let _ = plan.group.with_series(&out[..n], |s| {
                for family in &plan.families {
                    match family {
                        Family::Standard(StandardMetric::RequestsTotal, Id::Counter(c)) => s.inc(*c),
                        Family::Standard(StandardMetric::RequestDuration, Id::Histogram(h)) => {
                            if let Some(ms) = req.duration_ms {
                                s.observe(*h, ms as f64);
                            }
                        }
                        Family::Standard(StandardMetric::RequestBytes, Id::Histogram(h)) => {
                            if let Some(b) = req.request_bytes {
                                s.observe(*h, b as f64);
                            }
                        }
                        Family::Standard(StandardMetric::ResponseBytes, Id::Histogram(h)) => {
                            if let Some(b) = req.response_bytes {
                                s.observe(*h, b as f64);
                            }
                        }
                        Family::Custom { value: program, id } => record_custom(s, *id, program, &bag, value),
                        Family::Standard(..) => {}
                    }
                }
            });
        }
    }

    /// Starts the periodic reporting of one gRPC stream (`docs/reference/telemetry.md` §6.2),
    /// at its request headers.
    #[must_use]
    pub fn grpc_stream(&self, now: Duration) -> GrpcStream {
        GrpcStream {
            series: None,
            counts: (0, 0),
            reported: (0, 0),
            next_tick: self.period.map(|p| now + p),
        }
    }

    /// Starts one TCP connection (`docs/reference/telemetry.md` §6.3). The peer is not resolved
    /// yet: call [`TcpConnection::resolve`] when peer discovery finishes (found or not).
    #[must_use]
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

    /// The label values of each group in `which`, with this bag, as series handles.
    fn handles(&self, which: &[usize], bag: &StatsBag<'_>, scratch: &mut [String]) -> Vec<Series> {
        which
            .iter()
            .filter_map(|&g| {
                let plan = &self.groups[g];
                let mut out = [""; MAX_LABELS];
                let n = fill(plan, bag, None, scratch, &mut out);
                plan.group.series(&out[..n]).ok()
            })
            .collect()
    }
}

impl GroupPlan {
    fn group_has(&self, exposed: &str) -> bool {
        self.names.iter().any(|n| n == exposed)
    }
}

/// Whether a reporting period ended by `now`; if so, moves `next_tick` past `now` (one
/// report however many periods were missed).
fn period_elapsed(period: Option<Duration>, next_tick: &mut Option<Duration>, now: Duration) -> bool {
    let (Some(period), Some(next)) = (period, *next_tick) else {
        return false;
    };
    if now < next {
        return false;
    }
    let periods = ((now - next).as_nanos() / period.as_nanos().max(1)) as u32 + 1;
    *next_tick = Some(next + period * periods);
    true
}

/// `response_flags` joined by `,`; borrowed when there is at most one code.
fn join_flags<'a>(codes: &[&'a str], buf: &'a mut String) -> Option<&'a str> {
    match codes {
        [] => None,
        [one] => Some(one),
        many => {
            buf.clear();
            for (i, code) in many.iter().enumerate() {
                if i > 0 {
                    buf.push(',');
                }
                buf.push_str(code);
            }
            Some(buf.as_str())
        }
    }
}

/// A label's text: borrowed from the bag or the program when the value is text, otherwise its
/// canonical text written into `scratch`; `unknown` when evaluation fails
/// (`docs/reference/expressions.md` §6.6).
fn render<'x>(program: &'x Program, bag: &'x StatsBag<'x>, scratch: &'x mut String) -> &'x str {
    match program.evaluate(bag) {
        Ok(
            Value::String(Cow::Borrowed(s))
            | Value::DnsName(Cow::Borrowed(s))
            | Value::EmailAddress(Cow::Borrowed(s))
            | Value::Uri(Cow::Borrowed(s)),
        ) => s,
        Ok(v) => {
            scratch.clear();
            let _ = v.write_canonical(scratch);
            scratch.as_str()
        }
        Err(_) => "unknown",
    }
}

fn fill<'x>(
    plan: &'x GroupPlan,
    bag: &'x StatsBag<'x>,
    cached: Option<&'x [String]>,
    scratch: &'x mut [String],
    out: &mut [&'x str; MAX_LABELS],
) -> usize {
    for (i, (label, buf)) in plan.labels.iter().zip(scratch.iter_mut()).enumerate() {
        out[i] = match cached {
            Some(texts) if !label.request_scoped => texts[i].as_str(),
            _ => render(&label.program, bag, buf),
        };
    }
    plan.labels.len()
}

/// A custom metric's value: the result's canonical text read as an unsigned decimal
/// integer; anything else, or an error, is 0 (`docs/reference/telemetry.md` §9.2).
fn custom_value(program: &Program, bag: &StatsBag<'_>, scratch: &mut String) -> u64 {
    match program.evaluate(bag) {
        Ok(Value::Int64(n)) => u64::try_from(n).unwrap_or(0),
        Ok(v) => {
            scratch.clear();
            let _ = v.write_canonical(scratch);
            if !scratch.is_empty() && scratch.bytes().all(|b| b.is_ascii_digit()) {
                scratch.parse().unwrap_or(0)
            } else {
                0
            }
        }
        Err(_) => 0,
    }
}

fn record_custom(s: SeriesRef<'_>, id: Id, program: &Program, bag: &StatsBag<'_>, scratch: &mut String) {
    let v = custom_value(program, bag, scratch);
    match id {
        Id::Counter(c) => s.add(c, v),
        Id::Gauge(g) => s.set(g, i64::try_from(v).unwrap_or(i64::MAX)),
        Id::Histogram(h) => s.observe(h, v as f64),
    }
}

/// One connection's state: its attributes and the texts of its connection-scoped labels.
#[derive(Debug)]
pub struct Connection {
    attrs: ConnectionAttrs,
    cache: Vec<Option<Box<[String]>>>,
    scratch: Vec<String>,
    flags: String,
    value: String,
}

impl Connection {
    /// New facts for this connection (an outbound connection learns its peer from the first
    /// response's headers, say): the connection-scoped labels are evaluated again.
    pub fn update(&mut self, plugin: &StatsPlugin, facts: &ConnectionFacts) {
        self.attrs = ConnectionAttrs::new(&plugin.local, plugin.reporter, facts);
        self.cache.iter_mut().for_each(|c| *c = None);
    }

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

/// The periodic reporting of one gRPC stream's message counts
/// (`docs/reference/telemetry.md` §6.2).
#[derive(Debug)]
pub struct GrpcStream {
    series: Option<Vec<Series>>,
    counts: (u64, u64),
    reported: (u64, u64),
    next_tick: Option<Duration>,
}

impl GrpcStream {
    /// The messages seen so far: received from and sent to the downstream (cumulative).
    pub fn set_message_counts(&mut self, request: u64, response: u64) {
        self.counts = (request, response);
    }

    /// Call as time passes; reports the message deltas when a period has elapsed. `req`
    /// gives the request-header facts (host, routing); labels are evaluated once, without
    /// headers (`docs/reference/telemetry.md` §7).
    pub fn tick(&mut self, plugin: &StatsPlugin, conn: &mut Connection, req: &RequestFacts<'_>, now: Duration) {
        if !period_elapsed(plugin.period, &mut self.next_tick, now) {
            return;
        }
        self.report(plugin, conn, req);
    }

    fn report(&mut self, plugin: &StatsPlugin, conn: &mut Connection, req: &RequestFacts<'_>) {
        if self.series.is_none() {
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
            self.series = Some(plugin.handles(&plugin.grpc, &bag, &mut conn.scratch));
        }
        let delta = (
            self.counts.0 - self.reported.0.min(self.counts.0),
            self.counts.1 - self.reported.1.min(self.counts.1),
        );
        self.reported = self.counts;
        for (s, &g) in self.series.iter().flatten().zip(&plugin.grpc) {
            for family in &plugin.groups[g].families {
                match family {
                    Family::Standard(StandardMetric::RequestMessages, Id::Counter(c)) => s.add(*c, delta.0),
                    Family::Standard(StandardMetric::ResponseMessages, Id::Counter(c)) => s.add(*c, delta.1),
                    _ => {}
                }
            }
        }
    }

    /// The stream completed: the final message deltas, then the request metrics (with
    /// headers) as [`StatsPlugin::record_request`].
    pub fn finish(mut self, plugin: &StatsPlugin, conn: &mut Connection, req: &RequestFacts<'_>) {
        self.report(plugin, conn, req);
        plugin.record_request(conn, req);
    }
}

/// Routing of a TCP connection (owned: it lives as long as the connection).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpRouting {
    /// The upstream cluster's name.
    pub cluster_name: Option<String>,
    /// The cluster's `istio.services[0]`: host, name, namespace.
    pub cluster_service: Option<(Option<String>, Option<String>, Option<String>)>,
}

impl TcpRouting {
    fn as_routing(&self) -> Routing<'_> {
        Routing {
            route_name: None,
            cluster_name: self.cluster_name.as_deref(),
            cluster_service: self.cluster_service.as_ref().map(|(h, n, ns)| ClusterService {
                host: h.as_deref(),
                name: n.as_deref(),
                namespace: ns.as_deref(),
            }),
        }
    }
}

/// One TCP connection's reporting (`docs/reference/telemetry.md` §6.3).
#[derive(Debug)]
pub struct TcpConnection {
    conn: Connection,
    facts: ConnectionFacts,
    routing: TcpRouting,
    resolved: bool,
    series: Option<Vec<Series>>,
    bytes: (u64, u64),
    reported: (u64, u64),
    response_flags: Vec<String>,
    next_tick: Option<Duration>,
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
    /// metrics.
    pub fn close(mut self, plugin: &StatsPlugin, _now: Duration) {
        if self.series.is_none() {
            self.emit(plugin);
        }
        self.report_bytes(plugin);
        let series = self.series.take().unwrap_or_default();
        self.with_bag(plugin, |bag, _, value| {
            for (s, &g) in series.iter().zip(&plugin.tcp) {
                for family in &plugin.groups[g].families {
                    match family {
                        Family::Standard(StandardMetric::TcpClosed, Id::Counter(c)) => s.inc(*c),
                        Family::Custom { value: program, id } => record_custom(s.as_ref(), *id, program, bag, value),
                        _ => {}
                    }
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
        let Connection {
            attrs, scratch, value, ..
        } = &mut self.conn;
        let bag = StatsBag {
            slots: &plugin.slots,
            conn: attrs,
            req: Some(&rattrs),
        };
        f(&bag, scratch, value)
    }

    fn emit(&mut self, plugin: &StatsPlugin) {
        let series = self.with_bag(plugin, |bag, scratch, _| plugin.handles(&plugin.tcp, bag, scratch));
        for (s, &g) in series.iter().zip(&plugin.tcp) {
            for family in &plugin.groups[g].families {
                if let Family::Standard(StandardMetric::TcpOpened, Id::Counter(c)) = family {
                    s.inc(*c);
                }
            }
        }
        self.series = Some(series);
    }

    fn report_bytes(&mut self, plugin: &StatsPlugin) {
        let delta = (self.bytes.0 - self.reported.0, self.bytes.1 - self.reported.1);
        self.reported = self.bytes;
        for (s, &g) in self.series.iter().flatten().zip(&plugin.tcp) {
            for family in &plugin.groups[g].families {
                match family {
                    Family::Standard(StandardMetric::TcpSentBytes, Id::Counter(c)) => s.add(*c, delta.0),
                    Family::Standard(StandardMetric::TcpReceivedBytes, Id::Counter(c)) => s.add(*c, delta.1),
                    _ => {}
                }
            }
        }
    }
}
