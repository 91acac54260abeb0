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
    /// CEL: unsigned 64-bit integer (`uint`).
    Uint64,
    /// CEL: a byte string (`bytes`).
    Bytes,
    /// CEL: `null` (`null_type`).
    Null,
    /// CEL: a list of values.
    List,
    /// CEL: a map from int, uint, bool or string keys to values.
    Map,
    /// CEL: a type value (`type(1)` is `int`).
    Type,
    /// CEL: the static type of an expression whose type is known only when it is evaluated.
    Dyn,
}

impl ValueType {
    /// Every type, in declaration order.
    pub const ALL: [Self; 18] = [
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
        Self::Uint64,
        Self::Bytes,
        Self::Null,
        Self::List,
        Self::Map,
        Self::Type,
        Self::Dyn,
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
            Self::Uint64 => "UINT64",
            Self::Bytes => "BYTES",
            Self::Null => "NULL",
            Self::List => "LIST",
            Self::Map => "MAP",
            Self::Type => "TYPE",
            Self::Dyn => "DYN",
        }
    }

    /// The type's name in CEL (`"int"`, `"map"`, `"google.protobuf.Timestamp"`, …): what
    /// `type(x)` prints. The attribute language's own types keep their Istio names.
    ///
    /// ```
    /// use meshtel_expr::ValueType;
    /// assert_eq!(ValueType::Int64.cel_name(), "int");
    /// assert_eq!(ValueType::StringMap.cel_name(), "map");
    /// ```
    #[must_use]
    pub const fn cel_name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int64 => "int",
            Self::Uint64 => "uint",
            Self::Double => "double",
            Self::Bool => "bool",
            Self::Bytes => "bytes",
            Self::Null => "null_type",
            Self::List => "list",
            Self::StringMap | Self::Map => "map",
            Self::Timestamp => "google.protobuf.Timestamp",
            Self::Duration => "google.protobuf.Duration",
            Self::Type => "type",
            Self::Dyn => "dyn",
            other => other.name(),
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
    "unknown value type {0:?}: expected one of STRING, INT64, DOUBLE, BOOL, TIMESTAMP, DURATION, IP_ADDRESS, EMAIL_ADDRESS, URI, DNS_NAME, STRING_MAP, UINT64, BYTES, NULL, LIST, MAP, TYPE, DYN"
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
