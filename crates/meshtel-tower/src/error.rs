//! Errors of building the layer.

/// Why a [`Telemetry`](crate::Telemetry) could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The local node's value for this header is not a valid HTTP header value (a node id
    /// with a control character, say).
    #[error("the local {header} value is not a valid HTTP header value")]
    InvalidHeaderValue {
        /// The header.
        header: &'static str,
    },
}
