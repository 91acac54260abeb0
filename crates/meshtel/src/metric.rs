//! Istio's standard metrics and their label sets (`docs/reference/telemetry.md` §2, §3, §10.3).

use meshtel_metrics::Buckets;

/// The 25 standard tags, in exposition order (`docs/reference/telemetry.md` §3).
pub const STANDARD_TAGS: [&str; 25] = [
    "reporter",
    "source_workload",
    "source_canonical_service",
    "source_canonical_revision",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_service_name",
    "destination_service_namespace",
    "destination_cluster",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
];

/// The default expression of each standard tag (`docs/reference/telemetry.md` §10.3), in
/// [`STANDARD_TAGS`] order.
pub const DEFAULT_EXPRESSIONS: [&str; 25] = [
    r#"conditional((context.reporter.kind | "inbound") == "outbound", "source", conditional(context.reporter.gateway | false, "waypoint", "destination"))"#,
    r#"source.workload.name | "unknown""#,
    r#"source.canonical_service | "unknown""#,
    r#"source.canonical_revision | "latest""#,
    r#"source.workload.namespace | "unknown""#,
    r#"source.principal | "unknown""#,
    r#"source.labels["app"] | "unknown""#,
    r#"source.labels["version"] | "unknown""#,
    r#"source.cluster_id | "unknown""#,
    r#"destination.workload.name | "unknown""#,
    r#"destination.workload.namespace | "unknown""#,
    r#"destination.principal | "unknown""#,
    r#"destination.labels["app"] | "unknown""#,
    r#"destination.labels["version"] | "unknown""#,
    r#"destination.service.host | "unknown""#,
    r#"destination.canonical_service | "unknown""#,
    r#"destination.canonical_revision | conditional(context.reporter.gateway | false, "unknown", "latest")"#,
    r#"destination.service.name | "unknown""#,
    r#"destination.service.namespace | "unknown""#,
    r#"destination.cluster_id | "unknown""#,
    r#"api.protocol | context.protocol | "unknown""#,
    "response.code | 200",
    r#"response.grpc_status | """#,
    r#"context.proxy_error_code | "-""#,
    r#"conditional((context.reporter.kind | "inbound") == "outbound", "unknown", conditional(connection.mtls | false, "mutual_tls", "none"))"#,
];

/// The standard metrics (`docs/reference/telemetry.md` §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StandardMetric {
    /// `istio_requests_total`.
    RequestsTotal,
    /// `istio_request_duration_milliseconds`.
    RequestDuration,
    /// `istio_request_bytes`.
    RequestBytes,
    /// `istio_response_bytes`.
    ResponseBytes,
    /// `istio_request_messages_total`.
    RequestMessages,
    /// `istio_response_messages_total`.
    ResponseMessages,
    /// `istio_tcp_connections_opened_total`.
    TcpOpened,
    /// `istio_tcp_connections_closed_total`.
    TcpClosed,
    /// `istio_tcp_sent_bytes_total`.
    TcpSentBytes,
    /// `istio_tcp_received_bytes_total`.
    TcpReceivedBytes,
}

impl StandardMetric {
    /// Every standard metric.
    pub const ALL: [Self; 10] = [
        Self::RequestsTotal,
        Self::RequestDuration,
        Self::RequestBytes,
        Self::ResponseBytes,
        Self::RequestMessages,
        Self::ResponseMessages,
        Self::TcpOpened,
        Self::TcpClosed,
        Self::TcpSentBytes,
        Self::TcpReceivedBytes,
    ];

    /// The short name configuration uses (`requests_total`, …).
    #[must_use]
    pub const fn short_name(self) -> &'static str {
        match self {
            Self::RequestsTotal => "requests_total",
            Self::RequestDuration => "request_duration_milliseconds",
            Self::RequestBytes => "request_bytes",
            Self::ResponseBytes => "response_bytes",
            Self::RequestMessages => "request_messages_total",
            Self::ResponseMessages => "response_messages_total",
            Self::TcpOpened => "tcp_connections_opened_total",
            Self::TcpClosed => "tcp_connections_closed_total",
            Self::TcpSentBytes => "tcp_sent_bytes_total",
            Self::TcpReceivedBytes => "tcp_received_bytes_total",
        }
    }

    /// The Telemetry API name (`REQUEST_COUNT`, …).
    #[must_use]
    pub const fn api_name(self) -> &'static str {
        match self {
            Self::RequestsTotal => "REQUEST_COUNT",
            Self::RequestDuration => "REQUEST_DURATION",
            Self::RequestBytes => "REQUEST_SIZE",
            Self::ResponseBytes => "RESPONSE_SIZE",
            Self::RequestMessages => "GRPC_REQUEST_MESSAGES",
            Self::ResponseMessages => "GRPC_RESPONSE_MESSAGES",
            Self::TcpOpened => "TCP_OPENED_CONNECTIONS",
            Self::TcpClosed => "TCP_CLOSED_CONNECTIONS",
            Self::TcpSentBytes => "TCP_SENT_BYTES",
            Self::TcpReceivedBytes => "TCP_RECEIVED_BYTES",
        }
    }

    /// The exposed name: `istio_<short name>`.
    #[must_use]
    pub fn exposed_name(self) -> String {
        format!("istio_{}", self.short_name())
    }

    /// The metric a configuration `name` designates (short or Telemetry API name).
    #[must_use]
    pub fn from_config_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.short_name() == name || m.api_name() == name)
    }

    /// Whether this is a histogram.
    #[must_use]
    pub const fn is_histogram(self) -> bool {
        matches!(self, Self::RequestDuration | Self::RequestBytes | Self::ResponseBytes)
    }

    /// Indexes into [`STANDARD_TAGS`] of this metric's labels, in order
    /// (`docs/reference/telemetry.md` §3).
    #[must_use]
    pub fn standard_tags(self) -> Vec<usize> {
        match self {
            Self::RequestsTotal | Self::RequestDuration | Self::RequestBytes | Self::ResponseBytes => (0..25).collect(),
            Self::RequestMessages | Self::ResponseMessages => (0..20).collect(),
            _ => (0..21).chain([23, 24]).collect(),
        }
    }

    pub(crate) const fn help(self) -> &'static str {
        match self {
            Self::RequestsTotal => "Requests, by Istio's standard labels.",
            Self::RequestDuration => "Request duration in milliseconds.",
            Self::RequestBytes => "Request size in bytes (wire bytes from the downstream).",
            Self::ResponseBytes => "Response size in bytes (wire bytes to the downstream).",
            Self::RequestMessages => "gRPC messages received from the downstream.",
            Self::ResponseMessages => "gRPC messages sent to the downstream.",
            Self::TcpOpened => "TCP connections opened.",
            Self::TcpClosed => "TCP connections closed.",
            Self::TcpSentBytes => "Bytes sent to the downstream over TCP.",
            Self::TcpReceivedBytes => "Bytes received from the downstream over TCP.",
        }
    }

    pub(crate) const fn unit(self) -> Option<&'static str> {
        match self {
            Self::RequestDuration => Some("milliseconds"),
            Self::RequestBytes | Self::ResponseBytes => Some("bytes"),
            _ => None,
        }
    }
}

/// The proxy's 19 default histogram bounds, used by every Istio histogram unless
/// `histogram_buckets` overrides them (`docs/reference/telemetry.md` §8.1).
pub const ISTIO_DEFAULT_BUCKETS: [f64; 19] = [
    0.5,
    1.0,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    5000.0,
    10000.0,
    30000.0,
    60000.0,
    300_000.0,
    600_000.0,
    1_800_000.0,
    3_600_000.0,
];

/// [`ISTIO_DEFAULT_BUCKETS`] as [`Buckets`].
///
/// ```
/// assert_eq!(meshtel::default_buckets().bounds(), meshtel::ISTIO_DEFAULT_BUCKETS);
/// ```
#[must_use]
pub fn default_buckets() -> Buckets {
    // Nineteen finite bounds: within every limit of `Buckets::new`.
    Buckets::new(&ISTIO_DEFAULT_BUCKETS).unwrap_or_else(|_| unreachable!("Istio's default buckets are valid"))
}
