//! Errors of building the layer.

/// Why a [`Telemetry`](crate::Telemetry) could not be configured.
///
/// ```
/// use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
/// use meshtel_tower::{BuildError, Telemetry};
/// let registry = meshtel_metrics::Registry::default();
/// let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Outbound, &PluginConfig::default(), &registry)?;
/// let err = Telemetry::new(plugin).with_local_peer(&Default::default(), "bad\nid").unwrap_err();
/// assert_eq!(err, BuildError::InvalidHeaderValue { header: "x-envoy-peer-metadata-id" });
/// # Ok::<(), meshtel::ConfigError>(())
/// ```
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
