//! Envoy's response flags that this layer can know of, and the typed error an inner service
//! returns to report one.

use std::fmt;

/// One Envoy response flag: why a stream failed, as the `response_flags` label spells it.
///
/// The layer sets [`DownstreamConnectionTermination`](Self::DownstreamConnectionTermination)
/// (`DC`) and [`UpstreamRemoteReset`](Self::UpstreamRemoteReset) (`UR`) itself; an inner
/// service reports the others with an [`UpstreamError`] or a [`ResponseFlags`] response
/// extension.
///
/// ```
/// use meshtel_tower::ResponseFlag;
/// assert_eq!(ResponseFlag::UpstreamConnectionFailure.code(), "UF");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResponseFlag {
    /// `UH`: no healthy upstream host.
    NoHealthyUpstream,
    /// `UT`: the upstream request timed out.
    UpstreamRequestTimeout,
    /// `LR`: the proxy reset the stream itself.
    LocalReset,
    /// `UR`: the upstream reset the stream (an inner error without a flag, or a response body
    /// that failed).
    UpstreamRemoteReset,
    /// `UF`: the connection to the upstream failed.
    UpstreamConnectionFailure,
    /// `UC`: the upstream connection was closed mid-stream.
    UpstreamConnectionTermination,
    /// `UO`: upstream overflow (circuit breaking).
    UpstreamOverflow,
    /// `NR`: no route for the request.
    NoRouteFound,
    /// `RL`: rate limited.
    RateLimited,
    /// `DC`: the downstream went away before the response ended (the response future or body
    /// was dropped, or the request body failed).
    DownstreamConnectionTermination,
    /// `SI`: the stream idle timeout fired.
    StreamIdleTimeout,
    /// `DPE`: the downstream broke the protocol.
    DownstreamProtocolError,
}

/// Every flag, in Envoy's fixed order (the order of its flag bits).
const ORDER: [ResponseFlag; 12] = [
    ResponseFlag::NoHealthyUpstream,
    ResponseFlag::UpstreamRequestTimeout,
    ResponseFlag::LocalReset,
    ResponseFlag::UpstreamRemoteReset,
    ResponseFlag::UpstreamConnectionFailure,
    ResponseFlag::UpstreamConnectionTermination,
    ResponseFlag::UpstreamOverflow,
    ResponseFlag::NoRouteFound,
    ResponseFlag::RateLimited,
    ResponseFlag::DownstreamConnectionTermination,
    ResponseFlag::StreamIdleTimeout,
    ResponseFlag::DownstreamProtocolError,
];

impl ResponseFlag {
    /// Envoy's short code.
    ///
    /// ```
    /// use meshtel_tower::ResponseFlag;
    /// assert_eq!(ResponseFlag::DownstreamConnectionTermination.code(), "DC");
    /// ```
    pub const fn code(self) -> &'static str {
        match self {
            Self::NoHealthyUpstream => "UH",
            Self::UpstreamRequestTimeout => "UT",
            Self::LocalReset => "LR",
            Self::UpstreamRemoteReset => "UR",
            Self::UpstreamConnectionFailure => "UF",
            Self::UpstreamConnectionTermination => "UC",
            Self::UpstreamOverflow => "UO",
            Self::NoRouteFound => "NR",
            Self::RateLimited => "RL",
            Self::DownstreamConnectionTermination => "DC",
            Self::StreamIdleTimeout => "SI",
            Self::DownstreamProtocolError => "DPE",
        }
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for ResponseFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A set of [`ResponseFlag`]s. Insert it into a response's extensions to have the layer
/// record these flags for the stream (a proxy answering `503` after a failed connect, say);
/// the layer removes it before the response goes on.
///
/// ```
/// use meshtel_tower::{ResponseFlag, ResponseFlags};
/// let mut response = http::Response::new(());
/// *response.status_mut() = http::StatusCode::NOT_FOUND;
/// response.extensions_mut().insert(ResponseFlags::from(ResponseFlag::NoRouteFound));
/// let mut flags = ResponseFlags::default();
/// flags.insert(ResponseFlag::DownstreamConnectionTermination);
/// flags.insert(ResponseFlag::UpstreamRequestTimeout);
/// let mut out = [""; ResponseFlags::MAX];
/// assert_eq!(flags.codes(&mut out), ["UT", "DC"]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResponseFlags(u16);

impl ResponseFlags {
    /// The most flags a set holds: the size of the buffer [`ResponseFlags::codes`] fills.
    pub const MAX: usize = ORDER.len();

    /// Adds `flag`.
    pub fn insert(&mut self, flag: ResponseFlag) {
        self.0 |= flag.bit();
    }

    /// Adds every flag of `other`.
    pub fn extend(&mut self, other: Self) {
        self.0 |= other.0;
    }

    /// Whether `flag` is in the set.
    pub const fn contains(self, flag: ResponseFlag) -> bool {
        self.0 & flag.bit() != 0
    }

    /// Whether the set is empty (`response_flags="-"`).
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The codes in Envoy's order, written into `out` (no allocation).
    pub fn codes<'a>(self, out: &'a mut [&'static str; Self::MAX]) -> &'a [&'static str] {
        let mut n = 0;
        for flag in ORDER {
            if self.contains(flag) {
                out[n] = flag.code();
                n += 1;
            }
        }
        &out[..n]
    }
}

impl From<ResponseFlag> for ResponseFlags {
    fn from(flag: ResponseFlag) -> Self {
        Self(flag.bit())
    }
}

/// The boxed error type of tower and hyper.
///
/// ```
/// use meshtel_tower::{BoxError, UpstreamError};
/// let e: BoxError = UpstreamError::timeout().into();
/// assert!(e.downcast_ref::<UpstreamError>().is_some());
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An inner service's failure with an Envoy meaning. Return it as the service's error (or
/// boxed, inside a [`BoxError`]): the layer records the stream with its flag and
/// `response_code="0"` (no response was sent), and passes the error on unchanged.
///
/// Any other inner error is recorded as [`ResponseFlag::UpstreamRemoteReset`].
///
/// ```
/// use meshtel_tower::{ResponseFlag, UpstreamError};
/// let e = UpstreamError::connect_failure(std::io::Error::other("refused"));
/// assert_eq!(e.flag(), ResponseFlag::UpstreamConnectionFailure);
/// assert_eq!(e.to_string(), "upstream failed (UF): refused");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("upstream failed ({flag}){}", .source.as_ref().map(|s| format!(": {s}")).unwrap_or_default())]
#[non_exhaustive]
pub struct UpstreamError {
    flag: ResponseFlag,
    #[source]
    source: Option<BoxError>,
}

impl UpstreamError {
    /// A failure with this flag and cause.
    pub fn new(flag: ResponseFlag, source: Option<BoxError>) -> Self {
        Self { flag, source }
    }

    /// `UF`: connecting to the upstream failed.
    pub fn connect_failure(source: impl Into<BoxError>) -> Self {
        Self::new(ResponseFlag::UpstreamConnectionFailure, Some(source.into()))
    }

    /// `UT`: the upstream did not answer in time.
    pub fn timeout() -> Self {
        Self::new(ResponseFlag::UpstreamRequestTimeout, None)
    }

    /// `NR`: no route matched the request.
    pub fn no_route() -> Self {
        Self::new(ResponseFlag::NoRouteFound, None)
    }

    /// `UR`: the upstream reset the stream.
    pub fn reset(source: impl Into<BoxError>) -> Self {
        Self::new(ResponseFlag::UpstreamRemoteReset, Some(source.into()))
    }

    /// The flag recorded.
    pub const fn flag(&self) -> ResponseFlag {
        self.flag
    }
}

/// The flag an inner service's error carries: an [`UpstreamError`]'s (also boxed).
pub(crate) fn flag_of_error<E: 'static>(error: &E) -> Option<ResponseFlag> {
    let any: &dyn std::any::Any = error;
    if let Some(e) = any.downcast_ref::<UpstreamError>() {
        return Some(e.flag);
    }
    any.downcast_ref::<BoxError>()
        .and_then(|b| b.downcast_ref::<UpstreamError>())
        .map(|e| e.flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_envoys_and_codes_fit() {
        let mut all = ResponseFlags::default();
        for f in ORDER {
            all.insert(f);
        }
        let mut out = [""; ResponseFlags::MAX];
        assert_eq!(
            all.codes(&mut out),
            ["UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "RL", "DC", "SI", "DPE"]
        );
        assert!(ResponseFlags::default().is_empty());
    }

    #[test]
    fn errors_are_classified_direct_and_boxed() {
        assert_eq!(
            flag_of_error(&UpstreamError::no_route()),
            Some(ResponseFlag::NoRouteFound)
        );
        let boxed: BoxError = Box::new(UpstreamError::timeout());
        assert_eq!(flag_of_error(&boxed), Some(ResponseFlag::UpstreamRequestTimeout));
        assert_eq!(flag_of_error(&std::io::Error::other("x")), None);
    }
}
