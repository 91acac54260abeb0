//! Why a push failed, and whether trying again can help.

use std::time::Duration;

/// The error type an [`Encoder`](super::Encoder) reports: any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a target's URL was refused when the target was built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a URI at all.
    #[error("push URL {url:?} is not a valid URI: {reason}")]
    Invalid {
        /// The URL given.
        url: String,
        /// What the URI parser said.
        reason: String,
    },
    /// A scheme other than `http` (TLS to the receiver is not built in; put a local
    /// TLS-terminating proxy or collector in front).
    #[error("push URL {url:?}: scheme {scheme:?} is not supported (only http)")]
    Scheme {
        /// The URL given.
        url: String,
        /// Its scheme (empty when missing).
        scheme: String,
    },
    /// No host.
    #[error("push URL {url:?} has no host")]
    NoHost {
        /// The URL given.
        url: String,
    },
}

/// Why one push attempt to a target failed.
///
/// [`PushError::is_retryable`] separates what the next attempt may fix (the receiver
/// down, slow, overloaded or restarting) from what it cannot (the receiver refuses this
/// request: a 4xx other than 429, a body over the limit, an encoder error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The encoder failed to produce the request body.
    #[error("push to {target}: encoding the snapshot failed: {source}")]
    Encode {
        /// The target's name.
        target: String,
        /// The encoder's error.
        #[source]
        source: BoxError,
    },
    /// The encoded body is larger than [`PushConfig::max_body_bytes`](super::PushConfig::max_body_bytes).
    #[error("push to {target}: the encoded snapshot has {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The target's name.
        target: String,
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The TCP connection to the receiver could not be opened.
    #[error("push to {target}: connecting to {authority} failed: {source}")]
    Connect {
        /// The target's name.
        target: String,
        /// `host:port` of the receiver.
        authority: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The attempt (connect, request, response) took longer than the timeout.
    #[error("push to {target}: no complete response within {after:?}")]
    Timeout {
        /// The target's name.
        target: String,
        /// The timeout.
        after: Duration,
    },
    /// The HTTP exchange failed: the connection was closed or reset, or the response was
    /// not HTTP.
    #[error("push to {target}: HTTP exchange failed: {source}")]
    Transport {
        /// The target's name.
        target: String,
        /// hyper's error.
        #[source]
        source: hyper::Error,
    },
    /// The receiver answered with a status other than 2xx.
    #[error("push to {target}: the receiver answered {status}: {body}")]
    Status {
        /// The target's name.
        target: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body (at most
        /// [`PushConfig::max_response_bytes`](super::PushConfig::max_response_bytes)), lossily
        /// decoded as UTF-8.
        body: String,
    },
    /// The target's task ended abnormally (the encoder panicked, or the runtime shut
    /// down under it).
    #[error("push to {target}: the push task ended abnormally: {reason}")]
    Aborted {
        /// The target's name.
        target: String,
        /// What the runtime reported.
        reason: String,
    },
}

impl PushError {
    /// Whether a later attempt can succeed where this one failed: connection errors,
    /// timeouts, broken exchanges, 5xx and 429. The other 4xx, bodies over the limit and
    /// encoder errors are permanent: retrying would send the same refused request.
    ///
    /// ```
    /// use meshtel_tokio::push::PushError;
    /// let e = PushError::Status { target: "rw".into(), status: 503, body: String::new() };
    /// assert!(e.is_retryable());
    /// let e = PushError::Status { target: "rw".into(), status: 400, body: "out of order".into() };
    /// assert!(!e.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout { .. } | Self::Transport { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            Self::Encode { .. } | Self::TooLarge { .. } | Self::Aborted { .. } => false,
        }
    }

    /// The `reason` label of `meshtel_push_failures_total` for this error: `encode`,
    /// `too_large`, `connect`, `timeout`, `transport`, `server_error` (5xx), `rate_limited`
    /// (429), `client_error` (other 4xx and unexpected statuses) or `aborted`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Encode { .. } => "encode",
            Self::TooLarge { .. } => "too_large",
            Self::Connect { .. } => "connect",
            Self::Timeout { .. } => "timeout",
            Self::Transport { .. } => "transport",
            Self::Status { status, .. } if *status >= 500 => "server_error",
            Self::Status { status: 429, .. } => "rate_limited",
            Self::Status { .. } => "client_error",
            Self::Aborted { .. } => "aborted",
        }
    }

    /// The name of the target the attempt was for.
    pub fn target(&self) -> &str {
        match self {
            Self::Encode { target, .. }
            | Self::TooLarge { target, .. }
            | Self::Connect { target, .. }
            | Self::Timeout { target, .. }
            | Self::Transport { target, .. }
            | Self::Status { target, .. }
            | Self::Aborted { target, .. } => target,
        }
    }
}

/// Every `reason` label value, in the order of [`PushError::reason`]'s documentation.
pub(crate) const REASONS: [&str; 8] = [
    "encode",
    "too_large",
    "connect",
    "timeout",
    "transport",
    "server_error",
    "rate_limited",
    "client_error",
];
