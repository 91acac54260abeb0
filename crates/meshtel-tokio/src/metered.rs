//! A stream metered into the plugin's TCP lifecycle (`docs/reference/telemetry.md` §6.3).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use meshtel::{ConnectionFacts, StatsPlugin, TcpConnection, TcpRouting};
use meshtel_wire::workload::WorkloadMetadata;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The stats plugin and the clock that metered connections report with.
///
/// The plugin reads no clock: it is given the time as a [`Duration`] since an epoch. A
/// `Meter` holds that epoch (a [`tokio::time::Instant`], so a paused test clock applies).
/// Cheap to clone.
///
/// ```
/// use std::sync::Arc;
/// use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
/// use meshtel_metrics::Registry;
/// use meshtel_tokio::Meter;
/// let registry = Registry::default();
/// let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
/// let meter = Meter::new(Arc::new(plugin));
/// assert!(meter.now() < std::time::Duration::from_secs(1));
/// # Ok::<(), meshtel::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Meter {
    plugin: Arc<StatsPlugin>,
    epoch: Instant,
}

impl Meter {
    /// A meter whose epoch is now.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = Arc::new(StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?);
    /// let meter = meshtel_tokio::Meter::new(Arc::clone(&plugin));
    /// assert!(Arc::ptr_eq(meter.plugin(), &plugin));
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    #[must_use]
    pub fn new(plugin: Arc<StatsPlugin>) -> Self {
        Self::with_epoch(plugin, Instant::now())
    }

    /// A meter with this epoch: use the one the embedder already passes to the plugin's
    /// other `now` arguments, so all its times agree.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = Arc::new(StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?);
    /// let epoch = tokio::time::Instant::now();
    /// let meter = meshtel_tokio::Meter::with_epoch(plugin, epoch);
    /// assert_eq!(meter.epoch(), epoch);
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn with_epoch(plugin: Arc<StatsPlugin>, epoch: Instant) -> Self {
        Self { plugin, epoch }
    }

    /// The plugin.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
    /// let meter = meshtel_tokio::Meter::new(Arc::new(plugin));
    /// assert_eq!(meter.plugin().reporting_period(), Some(std::time::Duration::from_secs(5)));
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn plugin(&self) -> &Arc<StatsPlugin> {
        &self.plugin
    }

    /// The epoch.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
    /// let meter = meshtel_tokio::Meter::new(Arc::new(plugin));
    /// assert!(meter.epoch() <= tokio::time::Instant::now());
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn epoch(&self) -> Instant {
        self.epoch
    }

    /// The time since the epoch: the plugin's `now`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
    /// let meter = meshtel_tokio::Meter::new(Arc::new(plugin));
    /// let (a, b) = (meter.now(), meter.now());
    /// assert!(a <= b);
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    #[must_use]
    pub fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.epoch)
    }

    /// Starts metering `stream` as one TCP connection: [`Metered::new`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin, TcpRouting};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
    /// let meter = meshtel_tokio::Meter::new(Arc::new(plugin));
    /// let metered = meter.meter(tokio::io::empty(), ConnectionFacts::default(), TcpRouting::default());
    /// assert_eq!(metered.bytes_received(), 0);
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    pub fn meter<S>(&self, stream: S, facts: ConnectionFacts, routing: TcpRouting) -> Metered<S> {
        Metered::new(stream, self.clone(), facts, routing)
    }
}

/// A stream that counts the bytes passing each way, as they pass (nothing is buffered or
/// copied), and drives the plugin's TCP lifecycle for them (`docs/reference/telemetry.md`
/// §6.3). Wrap the **downstream** connection: reads are bytes received from it, writes
/// bytes sent to it. Over an exchanged stream ([`crate::Prefixed`]) only application bytes
/// are counted, as Envoy's TCP proxy counts them.
///
/// Lifecycle:
///
/// - **Start**: [`Metered::new`] starts the plugin's [`TcpConnection`] (the reporting
///   timer starts now).
/// - **Opened**: call [`Metered::resolve`] when peer discovery finishes (found or not).
///   The plugin records `istio_tcp_connections_opened_total` and the first byte delta at
///   the first reporting period after that, or at close if that comes first.
/// - **Periodic deltas**: every reporting period ([`StatsPlugin::reporting_period`]), on a
///   grid from the start. The timer is driven by polling, no task is spawned: a pending
///   read registers the deadline with the task's waker, so an idle connection whose read
///   side is polled (as every proxy's is) still reports on time; a write or flush reports
///   when a deadline has passed. A stream that is not polled at all reports at close.
/// - **Closed**, exactly once, at the first of: the end of the stream both ways (a read
///   returned end of stream and a shutdown completed), an I/O error other than
///   `Interrupted`/`WouldBlock` (a reset included), or `Drop` (an aborted or panicked task
///   included). The final deltas and `istio_tcp_connections_closed_total` are recorded
///   then. Bytes that still move afterwards are passed on, counted in
///   [`Metered::bytes_sent`]/[`Metered::bytes_received`], but not reported.
///
/// # Panics
/// Polling it outside a Tokio runtime with the time driver enabled panics (it uses
/// [`tokio::time::sleep_until`]) when the plugin has a reporting period.
///
/// ```
/// use std::sync::Arc;
/// use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin, TcpRouting};
/// use meshtel_metrics::{Format, Registry};
/// use meshtel_tokio::Meter;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = Registry::default();
/// let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
/// let meter = Meter::new(Arc::new(plugin));
///
/// let (downstream, mut peer) = tokio::io::duplex(64);
/// let mut conn = meter.meter(downstream, ConnectionFacts::default(), TcpRouting::default());
/// conn.resolve(None);
/// peer.write_all(b"ping").await?;
/// let mut buf = [0; 4];
/// conn.read_exact(&mut buf).await?;
/// conn.write_all(b"pong!").await?;
/// drop(conn); // closed
///
/// let text = registry.render_to_string(Format::Prometheus);
/// assert!(text.lines().any(|l| l.starts_with("istio_tcp_received_bytes_total{") && l.ends_with(" 4")));
/// assert!(text.lines().any(|l| l.starts_with("istio_tcp_sent_bytes_total{") && l.ends_with(" 5")));
/// assert!(text.lines().any(|l| l.starts_with("istio_tcp_connections_closed_total{") && l.ends_with(" 1")));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "dropping a Metered records its connection closed"]
pub struct Metered<S> {
    inner: S,
    meter: Meter,
    /// `None` once closed.
    tcp: Option<TcpConnection>,
    sent: u64,
    received: u64,
    read_ended: bool,
    write_ended: bool,
    /// The reporting period and the connection's start, for the grid of deadlines.
    period: Option<Duration>,
    start: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S> Metered<S> {
    /// Starts metering `stream` as one TCP connection with these facts (TLS, principals,
    /// ports; the peer comes with [`Metered::resolve`]) and routing.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin, TcpRouting};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
    /// # let meter = meshtel_tokio::Meter::new(Arc::new(plugin));
    /// let routing = TcpRouting { cluster_name: Some("inbound|9000||".into()), ..TcpRouting::default() };
    /// let metered = meshtel_tokio::Metered::new(tokio::io::empty(), meter, ConnectionFacts::default(), routing);
    /// assert!(!metered.is_closed());
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    pub fn new(stream: S, meter: Meter, facts: ConnectionFacts, routing: TcpRouting) -> Self {
        let start = meter.now();
        let tcp = meter.plugin.tcp_connection(facts, routing, start);
        Self {
            inner: stream,
            period: meter.plugin.reporting_period(),
            meter,
            tcp: Some(tcp),
            sent: 0,
            received: 0,
            read_ended: false,
            write_ended: false,
            start,
            timer: None,
        }
    }

    /// Peer discovery finished: `peer` is the record found, or `None` ("no peer"). Without
    /// it the connection reports nothing before it closes.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin, TcpRouting};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
    /// # let meter = meshtel_tokio::Meter::new(Arc::new(plugin));
    /// let mut metered = meter.meter(tokio::io::empty(), ConnectionFacts::default(), TcpRouting::default());
    /// metered.resolve(Some(meshtel_wire::workload::WorkloadMetadata::default()));
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    pub fn resolve(&mut self, peer: Option<WorkloadMetadata>) {
        if let Some(tcp) = &mut self.tcp {
            tcp.resolve(&self.meter.plugin, peer);
        }
    }

    /// The proxy's response flags (e.g. `UF` when the upstream connection failed), before
    /// the labels are frozen at the first report.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin, TcpRouting};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
    /// # let meter = meshtel_tokio::Meter::new(Arc::new(plugin));
    /// let mut metered = meter.meter(tokio::io::empty(), ConnectionFacts::default(), TcpRouting::default());
    /// metered.set_response_flags(&["UF"]);
    /// drop(metered);
    /// let text = registry.render_to_string(meshtel_metrics::Format::Prometheus);
    /// assert!(text.contains(r#"response_flags="UF""#));
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    pub fn set_response_flags(&mut self, flags: &[&str]) {
        if let Some(tcp) = &mut self.tcp {
            tcp.set_response_flags(flags);
        }
    }

    /// Bytes written to the stream so far.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin, TcpRouting};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
    /// # let meter = meshtel_tokio::Meter::new(Arc::new(plugin));
    /// let metered = meter.meter(tokio::io::sink(), ConnectionFacts::default(), TcpRouting::default());
    /// assert_eq!(metered.bytes_sent(), 0);
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Bytes read from the stream so far.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin, TcpRouting};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
    /// # let meter = meshtel_tokio::Meter::new(Arc::new(plugin));
    /// let metered = meter.meter(tokio::io::empty(), ConnectionFacts::default(), TcpRouting::default());
    /// assert_eq!(metered.bytes_received(), 0);
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn bytes_received(&self) -> u64 {
        self.received
    }

    /// Whether the connection's close was recorded.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin, TcpRouting};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
    /// # let meter = meshtel_tokio::Meter::new(Arc::new(plugin));
    /// let metered = meter.meter(tokio::io::empty(), ConnectionFacts::default(), TcpRouting::default());
    /// assert!(!metered.is_closed());
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn is_closed(&self) -> bool {
        self.tcp.is_none()
    }

    /// The inner stream.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin, TcpRouting};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
    /// # let meter = meshtel_tokio::Meter::new(Arc::new(plugin));
    /// let metered = meter.meter(tokio::io::empty(), ConnectionFacts::default(), TcpRouting::default());
    /// let _inner: &tokio::io::Empty = metered.get_ref();
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner stream, mutably. Bytes moved through it directly are not counted.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin, TcpRouting};
    /// # let registry = meshtel_metrics::Registry::default();
    /// # let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
    /// # let meter = meshtel_tokio::Meter::new(Arc::new(plugin));
    /// let mut metered = meter.meter(tokio::io::empty(), ConnectionFacts::default(), TcpRouting::default());
    /// let _inner: &mut tokio::io::Empty = metered.get_mut();
    /// # Ok::<(), meshtel::ConfigError>(())
    /// ```
    pub const fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    fn close(&mut self) {
        if let Some(tcp) = self.tcp.take() {
            tcp.close(&self.meter.plugin);
        }
        self.timer = None;
    }

    /// Closes on a fatal error; passes the result on.
    fn check<T>(&mut self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(e)) = &result
            && !matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock)
        {
            self.close();
        }
        result
    }

    fn count_sent(&mut self, n: usize) {
        self.sent += n as u64;
        if let Some(tcp) = &mut self.tcp {
            tcp.add_bytes(n as u64, 0);
        }
    }

    /// The first deadline of the reporting grid after `now`.
    fn next_deadline(&self, now: Duration, period: Duration) -> Instant {
        let periods = now.saturating_sub(self.start).as_nanos() / period.as_nanos().max(1) + 1;
        let offset = period.as_nanos().saturating_mul(periods);
        self.meter.epoch + self.start + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
    }

    /// Reports if a deadline passed. With `cx`, also registers the next deadline with the
    /// task's waker (reads); without, only checks (writes).
    fn poll_report(&mut self, mut cx: Option<&mut Context<'_>>) {
        let (Some(period), Some(_)) = (self.period, &self.tcp) else {
            return;
        };
        let first = self.meter.epoch + self.start + period;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(first)));
        let due = match cx.as_deref_mut() {
            Some(cx) => timer.as_mut().poll(cx).is_ready(),
            // An unpolled `Sleep` is not registered with the driver: compare the clock.
            None => Instant::now() >= timer.deadline(),
        };
        if !due {
            return;
        }
        let now = self.meter.now();
        if let Some(tcp) = &mut self.tcp {
            tcp.tick(&self.meter.plugin, now);
        }
        let next = self.next_deadline(now, period);
        if let Some(timer) = &mut self.timer {
            timer.as_mut().reset(next);
            // Register the waker for the new deadline (it is in the future: pending).
            if let Some(cx) = cx {
                let _ = timer.as_mut().poll(cx);
            }
        }
    }
}

impl<S> Drop for Metered<S> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let wanted = buf.remaining() > 0;
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let n = buf.filled().len() - before;
            this.received += n as u64;
            if let Some(tcp) = &mut this.tcp {
                tcp.add_bytes(0, n as u64);
            }
            if n == 0 && wanted {
                this.read_ended = true;
                if this.write_ended {
                    this.close();
                }
            }
        }
        // After the read, so that a report includes its bytes; a pending read leaves the
        // next deadline registered with the task's waker.
        this.poll_report(Some(cx));
        this.check(result)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            this.count_sent(n);
        }
        this.poll_report(None);
        this.check(result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = result {
            this.count_sent(n);
        }
        this.poll_report(None);
        this.check(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.poll_report(None);
        this.check(result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_shutdown(cx);
        if let Poll::Ready(Ok(())) = result {
            this.write_ended = true;
            if this.read_ended {
                this.close();
            }
        }
        this.check(result)
    }
}
