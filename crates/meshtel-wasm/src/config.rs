//! The filter's `configuration`: a JSON object naming the role, the filter kind and the
//! plugin configuration, with the per-VM limits (`docs/wasm.md`, "Configuration").

use meshtel::{PluginConfig, Reporter};
use serde::Deserialize;

/// Why a filter configuration was rejected: `on_configure` logs this and fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration is not the JSON object the schema describes.
    #[error("filter configuration: {0}")]
    Json(String),
    /// The `plugin` member is not a valid plugin configuration.
    #[error("filter configuration, member `plugin`: {0}")]
    Plugin(#[from] meshtel::ConfigError),
    /// A limit is outside its allowed range.
    #[error("filter configuration, member `{field}`: {value} is outside {min}..={max}")]
    Limit {
        /// The member.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The smallest value allowed.
        min: u64,
        /// The largest value allowed.
        max: u64,
    },
}

/// Which side of the workload the filter runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// Server side: `reporter="destination"`; reads the peer from requests.
    Inbound,
    /// Client side: `reporter="source"`; reads the peer from responses.
    Outbound,
}

impl Role {
    /// The plugin's reporter kind for this role (`reporter: SERVER_GATEWAY` in the plugin
    /// configuration still makes an inbound filter a waypoint).
    #[must_use]
    pub const fn reporter(self) -> Reporter {
        match self {
            Self::Inbound => Reporter::Inbound,
            Self::Outbound => Reporter::Outbound,
        }
    }

    /// `inbound` or `outbound`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }
}

/// Which proxy-wasm filter a root context serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FilterKind {
    /// `envoy.filters.http.wasm`: the header exchange and the request metrics.
    Http,
    /// `envoy.filters.network.wasm`: the prefix exchange and the TCP metrics.
    Network,
}

impl FilterKind {
    /// The kind a root id stands for when the configuration does not say: a root id ending
    /// in `network` or `tcp` is the network filter, anything else the HTTP filter.
    #[must_use]
    pub fn from_root_id(root_id: &str) -> Self {
        if root_id.ends_with("network") || root_id.ends_with("tcp") {
            Self::Network
        } else {
            Self::Http
        }
    }
}

/// The raw JSON schema; unknown members are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    role: Role,
    #[serde(default)]
    filter: Option<FilterKind>,
    #[serde(default)]
    plugin: Option<serde_json::Value>,
    #[serde(default)]
    max_series: Option<u64>,
    #[serde(default)]
    max_label_value_len: Option<u64>,
    #[serde(default)]
    flush_interval_ms: Option<u64>,
    #[serde(default)]
    max_frame_payload: Option<u64>,
    #[serde(default)]
    prefix_exchange: Option<bool>,
}

/// A parsed filter configuration.
///
/// ```
/// use meshtel_wasm::{FilterConfig, FilterKind, Role};
/// let config = FilterConfig::from_json(br#"{"role": "inbound", "plugin": {"tcp_reporting_duration": "1s"}}"#, "meshtel")?;
/// assert_eq!((config.role, config.filter), (Role::Inbound, FilterKind::Http));
/// assert_eq!(config.plugin.reporting_period(), Some(std::time::Duration::from_secs(1)));
/// assert!(FilterConfig::from_json(br#"{"role": "sideways"}"#, "meshtel").is_err());
/// # Ok::<(), meshtel_wasm::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FilterConfig {
    /// Inbound or outbound.
    pub role: Role,
    /// The filter this root context serves.
    pub filter: FilterKind,
    /// The stats plugin's configuration (default: Istio's defaults, CEL).
    pub plugin: PluginConfig,
    /// Most series per metric group in this VM (then the overflow series).
    pub max_series: usize,
    /// Longest label value kept, in bytes.
    pub max_label_value_len: usize,
    /// How often the VM's metrics are copied into the host's statistics.
    pub flush_interval_ms: u64,
    /// Largest prefix-frame payload accepted from a peer, in bytes.
    pub max_frame_payload: u32,
    /// Network filter: run the prefix exchange on every connection (default `true`). The
    /// module cannot see the negotiated ALPN, so the filter belongs on the filter chains (or
    /// in front of the clusters) whose ALPN is `istio-peer-exchange`; `false` only records
    /// the TCP metrics.
    pub prefix_exchange: bool,
}

impl FilterConfig {
    /// Default [`FilterConfig::max_series`]: 1000 per group, so a VM holds a few thousand
    /// series at most (each worker thread has its own VM).
    pub const DEFAULT_MAX_SERIES: usize = 1000;
    /// Bounds of [`FilterConfig::max_series`].
    pub const MAX_SERIES_RANGE: (u64, u64) = (1, 100_000);
    /// Default [`FilterConfig::max_label_value_len`].
    pub const DEFAULT_MAX_LABEL_VALUE_LEN: usize = 256;
    /// Bounds of [`FilterConfig::max_label_value_len`].
    pub const MAX_LABEL_VALUE_LEN_RANGE: (u64, u64) = (16, 4096);
    /// Default [`FilterConfig::flush_interval_ms`].
    pub const DEFAULT_FLUSH_INTERVAL_MS: u64 = 1000;
    /// Bounds of [`FilterConfig::flush_interval_ms`].
    pub const FLUSH_INTERVAL_RANGE: (u64, u64) = (100, 60_000);

    /// Reads the configuration Envoy passes to `on_configure`. `root_id` chooses the filter
    /// kind when the configuration has no `filter` member.
    ///
    /// # Errors
    /// [`ConfigError`]: not JSON, not the schema (unknown member, bad `role`), an invalid
    /// plugin configuration, or a limit out of range.
    pub fn from_json(bytes: &[u8], root_id: &str) -> Result<Self, ConfigError> {
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(e.to_string()))?;
        let plugin = match raw.plugin {
            None | Some(serde_json::Value::Null) => PluginConfig::default(),
            Some(value) => PluginConfig::from_value(value)?,
        };
        let limit = |field, value: Option<u64>, (min, max): (u64, u64), default: u64| match value {
            None => Ok(default),
            Some(v) if (min..=max).contains(&v) => Ok(v),
            Some(value) => Err(ConfigError::Limit { field, value, min, max }),
        };
        let frame = meshtel_wire::frame::FrameConfig::DEFAULT_MAX_PAYLOAD;
        let frame_range = (
            u64::from(meshtel_wire::frame::FrameConfig::MIN_MAX_PAYLOAD),
            u64::from(meshtel_wire::frame::FrameConfig::MAX_MAX_PAYLOAD),
        );
        Ok(Self {
            role: raw.role,
            filter: raw.filter.unwrap_or_else(|| FilterKind::from_root_id(root_id)),
            plugin,
            max_series: limit(
                "max_series",
                raw.max_series,
                Self::MAX_SERIES_RANGE,
                Self::DEFAULT_MAX_SERIES as u64,
            )? as usize,
            max_label_value_len: limit(
                "max_label_value_len",
                raw.max_label_value_len,
                Self::MAX_LABEL_VALUE_LEN_RANGE,
                Self::DEFAULT_MAX_LABEL_VALUE_LEN as u64,
            )? as usize,
            flush_interval_ms: limit(
                "flush_interval_ms",
                raw.flush_interval_ms,
                Self::FLUSH_INTERVAL_RANGE,
                Self::DEFAULT_FLUSH_INTERVAL_MS,
            )?,
            max_frame_payload: limit(
                "max_frame_payload",
                raw.max_frame_payload,
                frame_range,
                u64::from(frame),
            )? as u32,
            prefix_exchange: raw.prefix_exchange.unwrap_or(true),
        })
    }

    /// The registry limits of one VM.
    #[must_use]
    pub fn registry_config(&self) -> meshtel_metrics::Config {
        // One VM runs on one thread: one stripe per series is enough.
        meshtel_metrics::Config::default()
            .with_max_series(self.max_series)
            .with_max_label_value_len(self.max_label_value_len)
            .with_stripes(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_root_id() {
        let c = FilterConfig::from_json(br#"{"role": "outbound"}"#, "meshtel_network").expect("valid");
        assert_eq!(c.filter, FilterKind::Network);
        assert_eq!(c.role.reporter(), Reporter::Outbound);
        assert_eq!(c.max_series, FilterConfig::DEFAULT_MAX_SERIES);
        let c = FilterConfig::from_json(br#"{"role": "outbound", "filter": "http"}"#, "x_tcp").expect("valid");
        assert_eq!(c.filter, FilterKind::Http);
    }

    #[test]
    fn the_mixer_dialect_is_accepted() {
        let json = br#"{"role": "inbound", "plugin": {"expression_language": "mixer",
            "metrics": [{"dimensions": {"request_host": "request.host | \"unknown\""}}]}}"#;
        let c = FilterConfig::from_json(json, "meshtel").expect("valid");
        assert_eq!(c.plugin.metrics.len(), 1);
    }

    #[test]
    fn bad_configurations_name_the_problem() {
        let cases: [(&[u8], &str); 7] = [
            (b"", "filter configuration"),
            (b"[1]", "filter configuration"),
            (br#"{"role": "sideways"}"#, "sideways"),
            (br#"{"role": "inbound", "colour": 1}"#, "colour"),
            (br#"{"role": "inbound", "plugin": {"metrics": 3}}"#, "member `plugin`"),
            (br#"{"role": "inbound", "max_series": 0}"#, "max_series"),
            (br#"{"role": "inbound", "max_frame_payload": 1}"#, "max_frame_payload"),
        ];
        for (input, needle) in cases {
            let err = FilterConfig::from_json(input, "meshtel").expect_err("invalid");
            assert!(err.to_string().contains(needle), "{err} lacks {needle}");
        }
        // Arbitrary bytes never panic.
        for n in 0..=255u8 {
            let _ = FilterConfig::from_json(&[n, b'{', n], "meshtel");
        }
    }
}
