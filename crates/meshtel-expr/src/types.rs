//! The value types of the language, named as in Istio's `ValueType` enum.

use core::fmt;
use core::str::FromStr;

/// The static type of an attribute or an expression.
///
/// ```
/// use meshtel_expr::ValueType;
/// assert_eq!("STRING_MAP".parse::<ValueType>().unwrap(), ValueType::StringMap);
/// assert_eq!(ValueType::Int64.to_string(), "INT64");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ValueType {
    /// UTF-8 text.
    String,
    /// Signed 64-bit integer.
    Int64,
    /// IEEE-754 binary64.
    Double,
    /// `true` or `false`.
    Bool,
    /// An instant with nanosecond precision.
    Timestamp,
    /// Signed 64-bit nanoseconds.
    Duration,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// Text accepted by `email()`.
    EmailAddress,
    /// Text accepted by `uri()`.
    Uri,
    /// Text accepted by `dnsName()`.
    DnsName,
    /// A map from string to string.
    StringMap,
}

impl ValueType {
    /// Every type, in declaration order.
    pub const ALL: [Self; 11] = [
        Self::String,
        Self::Int64,
        Self::Double,
        Self::Bool,
        Self::Timestamp,
        Self::Duration,
        Self::IpAddress,
        Self::EmailAddress,
        Self::Uri,
        Self::DnsName,
        Self::StringMap,
    ];

    /// The type's name as Istio's `ValueType` enum spells it (`"STRING"`, `"IP_ADDRESS"`, …;
    /// `docs/reference/expressions.md` §4.1).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::String => "STRING",
            Self::Int64 => "INT64",
            Self::Double => "DOUBLE",
            Self::Bool => "BOOL",
            Self::Timestamp => "TIMESTAMP",
            Self::Duration => "DURATION",
            Self::IpAddress => "IP_ADDRESS",
            Self::EmailAddress => "EMAIL_ADDRESS",
            Self::Uri => "URI",
            Self::DnsName => "DNS_NAME",
            Self::StringMap => "STRING_MAP",
        }
    }

    /// Whether values of this type are text (STRING and the three validated string types).
    #[must_use]
    pub const fn is_text(self) -> bool {
        matches!(self, Self::String | Self::DnsName | Self::EmailAddress | Self::Uri)
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of [`ValueType::from_str`]: the text is not one of the type names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown value type {0:?}: expected one of STRING, INT64, DOUBLE, BOOL, TIMESTAMP, DURATION, IP_ADDRESS, EMAIL_ADDRESS, URI, DNS_NAME, STRING_MAP"
)]
pub struct UnknownValueType(pub String);

impl FromStr for ValueType {
    type Err = UnknownValueType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| UnknownValueType(s.to_owned()))
    }
}
