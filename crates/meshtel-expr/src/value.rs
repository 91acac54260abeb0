//! Runtime values, the string-map view, and the canonical text of every type.

use alloc::borrow::Cow;
use alloc::sync::Arc;
use core::fmt;
use core::net::IpAddr;

use crate::ValueType;
use crate::func::{duration, ip, time};

/// A value produced by an expression or supplied by an attribute bag.
///
/// Text borrows from the bag or the program whenever it can (`Cow::Borrowed`); only
/// `toLower` and `+` on text build new strings. String maps are borrowed views.
///
/// ```
/// use meshtel_expr::{Duration, Value};
/// assert_eq!(Value::Duration(Duration::from_nanos(90 * 60 * 1_000_000_000)).to_string(), "1h30m0s");
/// assert_eq!(Value::Double(1e6).to_string(), "1e+06");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum Value<'a> {
    /// `STRING`.
    String(Cow<'a, str>),
    /// `INT64`.
    Int64(i64),
    /// `DOUBLE`.
    Double(f64),
    /// `BOOL`.
    Bool(bool),
    /// `TIMESTAMP`.
    Timestamp(Timestamp),
    /// `DURATION`.
    Duration(Duration),
    /// `IP_ADDRESS`.
    IpAddress(IpAddr),
    /// `EMAIL_ADDRESS`: text as accepted by `email()`, unchanged.
    EmailAddress(Cow<'a, str>),
    /// `URI`: text as accepted by `uri()`, unchanged.
    Uri(Cow<'a, str>),
    /// `DNS_NAME`: text as accepted by `dnsName()` (punycode labels decoded).
    DnsName(Cow<'a, str>),
    /// `STRING_MAP`: a borrowed map view.
    StringMap(&'a dyn StringMap),
    /// CEL `uint`.
    Uint64(u64),
    /// CEL `bytes`.
    Bytes(Cow<'a, [u8]>),
    /// CEL `null`.
    Null,
    /// CEL `list`: built by list literals and the `map`/`filter` macros.
    List(Arc<[Self]>),
    /// CEL `map` built by an expression (map literals, attribute namespaces read whole), in
    /// insertion order; keys are unique.
    Map(Arc<[(Self, Self)]>),
    /// CEL `type` (the value of `type(x)` or of the name `int`).
    Type(ValueType),
}

impl<'a> Value<'a> {
    /// A `STRING` value borrowing `s`.
    #[must_use]
    pub const fn str(s: &'a str) -> Self {
        Self::String(Cow::Borrowed(s))
    }

    /// The dynamic type of this value.
    #[must_use]
    pub const fn value_type(&self) -> ValueType {
        match self {
            Self::String(_) => ValueType::String,
            Self::Int64(_) => ValueType::Int64,
            Self::Double(_) => ValueType::Double,
            Self::Bool(_) => ValueType::Bool,
            Self::Timestamp(_) => ValueType::Timestamp,
            Self::Duration(_) => ValueType::Duration,
            Self::IpAddress(_) => ValueType::IpAddress,
            Self::EmailAddress(_) => ValueType::EmailAddress,
            Self::Uri(_) => ValueType::Uri,
            Self::DnsName(_) => ValueType::DnsName,
            Self::StringMap(_) => ValueType::StringMap,
            Self::Uint64(_) => ValueType::Uint64,
            Self::Bytes(_) => ValueType::Bytes,
            Self::Null => ValueType::Null,
            Self::List(_) => ValueType::List,
            Self::Map(_) => ValueType::Map,
            Self::Type(_) => ValueType::Type,
        }
    }

    /// The text of a STRING, DNS_NAME, EMAIL_ADDRESS or URI value.
    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::String(s) | Self::DnsName(s) | Self::EmailAddress(s) | Self::Uri(s) => Some(s),
            _ => None,
        }
    }

    /// The same value, borrowing from `self` instead of owning (never allocates; a CEL list or
    /// map shares its elements).
    #[must_use]
    pub fn reborrow(&self) -> Value<'_> {
        fn b(c: &str) -> Cow<'_, str> {
            Cow::Borrowed(c)
        }
        match self {
            Self::String(s) => Value::String(b(s)),
            Self::DnsName(s) => Value::DnsName(b(s)),
            Self::EmailAddress(s) => Value::EmailAddress(b(s)),
            Self::Uri(s) => Value::Uri(b(s)),
            Self::Int64(v) => Value::Int64(*v),
            Self::Double(v) => Value::Double(*v),
            Self::Bool(v) => Value::Bool(*v),
            Self::Timestamp(v) => Value::Timestamp(*v),
            Self::Duration(v) => Value::Duration(*v),
            Self::IpAddress(v) => Value::IpAddress(*v),
            Self::StringMap(m) => Value::StringMap(*m),
            Self::Uint64(v) => Value::Uint64(*v),
            Self::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
            Self::Null => Value::Null,
            Self::List(l) => Value::List(l.clone()),
            Self::Map(m) => Value::Map(m.clone()),
            Self::Type(t) => Value::Type(*t),
        }
    }

    /// The same value owning everything it borrowed (a string map is copied into a CEL map):
    /// how a value leaves a CEL comprehension, whose variable lives only for one iteration.
    pub(crate) fn into_static(self) -> Value<'static> {
        let owned = |s: Cow<'_, str>| Cow::Owned(s.into_owned());
        match self {
            Self::String(s) => Value::String(owned(s)),
            Self::DnsName(s) => Value::DnsName(owned(s)),
            Self::EmailAddress(s) => Value::EmailAddress(owned(s)),
            Self::Uri(s) => Value::Uri(owned(s)),
            Self::Int64(v) => Value::Int64(v),
            Self::Double(v) => Value::Double(v),
            Self::Bool(v) => Value::Bool(v),
            Self::Timestamp(v) => Value::Timestamp(v),
            Self::Duration(v) => Value::Duration(v),
            Self::IpAddress(v) => Value::IpAddress(v),
            Self::StringMap(m) => {
                let mut entries = Vec::with_capacity(m.len());
                m.for_each_entry(&mut |k, v| {
                    entries.push((
                        Value::String(Cow::Owned(k.to_owned())),
                        Value::String(Cow::Owned(v.to_owned())),
                    ));
                });
                Value::Map(entries.into())
            }
            Self::Uint64(v) => Value::Uint64(v),
            Self::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Self::Null => Value::Null,
            Self::List(items) => Value::List(items.iter().map(|v| v.clone().into_static()).collect()),
            Self::Map(entries) => Value::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone().into_static(), v.clone().into_static()))
                    .collect(),
            ),
            Self::Type(t) => Value::Type(t),
        }
    }

    /// Write the canonical text of the value (`docs/reference/expressions.md` §6.7): the form used
    /// for label values.
    ///
    /// A STRING_MAP is written as `{k: v, …}` in the map's iteration order; label
    /// expressions never have that type.
    ///
    /// # Errors
    /// Only those of the writer.
    pub fn write_canonical(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            Self::String(s) | Self::DnsName(s) | Self::EmailAddress(s) | Self::Uri(s) => w.write_str(s),
            Self::Int64(v) => write!(w, "{v}"),
            Self::Double(v) => write_double(w, *v),
            Self::Bool(v) => w.write_str(if *v { "true" } else { "false" }),
            Self::Timestamp(t) => write!(w, "{t}"),
            Self::Duration(d) => write!(w, "{d}"),
            Self::IpAddress(a) => ip::write_canonical(w, *a),
            Self::StringMap(m) => {
                w.write_char('{')?;
                let mut first = true;
                let mut result = Ok(());
                m.for_each_entry(&mut |k, v| {
                    if result.is_ok() {
                        result = (|| {
                            if !first {
                                w.write_str(", ")?;
                            }
                            first = false;
                            write!(w, "{k}: {v}")
                        })();
                    }
                });
                result?;
                w.write_char('}')
            }
            Self::Uint64(v) => write!(w, "{v}"),
            Self::Bytes(b) => b.utf8_chunks().try_for_each(|chunk| {
                w.write_str(chunk.valid())?;
                if chunk.invalid().is_empty() {
                    Ok(())
                } else {
                    w.write_char(char::REPLACEMENT_CHARACTER)
                }
            }),
            Self::Null => w.write_str("null"),
            Self::List(items) => {
                w.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        w.write_str(", ")?;
                    }
                    item.write_canonical(w)?;
                }
                w.write_char(']')
            }
            Self::Map(entries) => {
                w.write_char('{')?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        w.write_str(", ")?;
                    }
                    k.write_canonical(w)?;
                    w.write_str(": ")?;
                    v.write_canonical(w)?;
                }
                w.write_char('}')
            }
            Self::Type(t) => w.write_str(t.cel_name()),
        }
    }
}

impl fmt::Display for Value<'_> {
    /// The canonical text (`docs/reference/expressions.md` §6.7).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_canonical(f)
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) | Self::DnsName(s) | Self::EmailAddress(s) | Self::Uri(s) => {
                write!(f, "{}({s:?})", self.value_type())
            }
            _ => write!(f, "{}({self})", self.value_type()),
        }
    }
}

impl PartialEq for Value<'_> {
    /// Structural equality for tests and callers: same type and same content (doubles by
    /// bit pattern, maps entry by entry). Language equality (`==`) is
    /// [`crate::Program`]'s business: it differs for DNS names, e-mails and URIs.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::String(a), Self::String(b))
            | (Self::DnsName(a), Self::DnsName(b))
            | (Self::EmailAddress(a), Self::EmailAddress(b))
            | (Self::Uri(a), Self::Uri(b)) => a == b,
            (Self::Int64(a), Self::Int64(b)) => a == b,
            (Self::Double(a), Self::Double(b)) => a.to_bits() == b.to_bits(),
            (Self::Bool(a), Self::Bool(b)) => a == b,
            (Self::Timestamp(a), Self::Timestamp(b)) => a == b,
            (Self::Duration(a), Self::Duration(b)) => a == b,
            (Self::IpAddress(a), Self::IpAddress(b)) => ip::same_address(*a, *b),
            (Self::StringMap(a), Self::StringMap(b)) => {
                if a.len() != b.len() {
                    return false;
                }
                let mut same = true;
                a.for_each_entry(&mut |k, v| same &= b.get(k) == Some(v));
                same
            }
            (Self::Uint64(a), Self::Uint64(b)) => a == b,
            (Self::Bytes(a), Self::Bytes(b)) => a == b,
            (Self::Null, Self::Null) => true,
            (Self::List(a), Self::List(b)) => a == b,
            (Self::Map(a), Self::Map(b)) => a == b,
            (Self::Type(a), Self::Type(b)) => a.cel_name() == b.cel_name(),
            _ => false,
        }
    }
}

/// A read-only map from string to string, as the language sees `request.headers` or
/// `source.labels`. Implemented for the standard maps, hashbrown's map and slices of pairs.
///
/// ```
/// use meshtel_expr::StringMap;
/// let labels = [("app", "reviews"), ("version", "v1")];
/// assert_eq!(StringMap::get(&labels, "app"), Some("reviews"));
/// ```
pub trait StringMap {
    /// The value for `key`, if the key is present.
    fn get(&self, key: &str) -> Option<&str>;
    /// The number of entries.
    fn len(&self) -> usize;
    /// Whether the map is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Calls `f` with every entry, in the map's own order.
    fn for_each_entry(&self, f: &mut dyn FnMut(&str, &str));
}

impl fmt::Debug for dyn StringMap + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        self.for_each_entry(&mut |k, v| {
            m.entry(&k, &v);
        });
        m.finish()
    }
}

/// The map `emptyStringMap()` returns.
#[derive(Clone, Copy, Debug, Default)]
pub struct EmptyStringMap;

impl StringMap for EmptyStringMap {
    fn get(&self, _: &str) -> Option<&str> {
        None
    }
    fn len(&self) -> usize {
        0
    }
    fn for_each_entry(&self, _: &mut dyn FnMut(&str, &str)) {}
}

impl<K: AsRef<str>, V: AsRef<str>> StringMap for [(K, V)] {
    fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k.as_ref() == key).map(|(_, v)| v.as_ref())
    }
    fn len(&self) -> usize {
        <[(K, V)]>::len(self)
    }
    fn for_each_entry(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self {
            f(k.as_ref(), v.as_ref());
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> StringMap for [(K, V); N] {
    fn get(&self, key: &str) -> Option<&str> {
        StringMap::get(&self[..], key)
    }
    fn len(&self) -> usize {
        N
    }
    fn for_each_entry(&self, f: &mut dyn FnMut(&str, &str)) {
        self[..].for_each_entry(f);
    }
}

impl<K: AsRef<str>, V: AsRef<str>> StringMap for Vec<(K, V)> {
    fn get(&self, key: &str) -> Option<&str> {
        StringMap::get(&self[..], key)
    }
    fn len(&self) -> usize {
        Self::len(self)
    }
    fn for_each_entry(&self, f: &mut dyn FnMut(&str, &str)) {
        self[..].for_each_entry(f);
    }
}

/// `StringMap` for a map type with `get`, `len` and `iter` of its own (given as the impl
/// header): the three std and hashbrown maps.
macro_rules! string_map_for_map {
    ($($header:tt)*) => {
        $($header)* {
            fn get(&self, key: &str) -> Option<&str> {
                Self::get(self, key).map(AsRef::as_ref)
            }
            fn len(&self) -> usize {
                Self::len(self)
            }
            fn for_each_entry(&self, f: &mut dyn FnMut(&str, &str)) {
                for (k, v) in self.iter() {
                    f(k.borrow(), v.as_ref());
                }
            }
        }
    };
}

string_map_for_map!(impl<K, V, S> StringMap for std::collections::HashMap<K, V, S>
    where K: core::borrow::Borrow<str> + Eq + core::hash::Hash, V: AsRef<str>, S: core::hash::BuildHasher);
string_map_for_map!(impl<K, V, S> StringMap for hashbrown::HashMap<K, V, S>
    where K: core::borrow::Borrow<str> + Eq + core::hash::Hash, V: AsRef<str>, S: core::hash::BuildHasher);
string_map_for_map!(impl<K, V> StringMap for std::collections::BTreeMap<K, V>
    where K: core::borrow::Borrow<str> + Ord, V: AsRef<str>);

/// A `TIMESTAMP`: seconds and nanoseconds since the Unix epoch (UTC).
///
/// Ordering and equality are by instant. It prints as RFC 3339 in UTC with a trimmed
/// fraction: `2015-01-02T15:04:35.12Z`.
///
/// ```
/// use meshtel_expr::Timestamp;
/// let t: Timestamp = "2015-01-02T16:04:35+01:00".parse().unwrap();
/// assert_eq!(t.to_string(), "2015-01-02T15:04:35Z");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

impl Timestamp {
    /// The instant `secs` seconds and `nanos` nanoseconds after 1970-01-01T00:00:00Z.
    /// Nanoseconds of a second or more carry into the seconds.
    #[must_use]
    pub const fn from_unix(secs: i64, nanos: u32) -> Self {
        Self {
            secs: secs.saturating_add((nanos / 1_000_000_000) as i64),
            nanos: nanos % 1_000_000_000,
        }
    }

    /// Whole seconds since the epoch.
    #[must_use]
    pub const fn unix_seconds(self) -> i64 {
        self.secs
    }

    /// The nanoseconds within the second.
    #[must_use]
    pub const fn subsec_nanos(self) -> u32 {
        self.nanos
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        time::write_rfc3339(f, *self)
    }
}

impl core::str::FromStr for Timestamp {
    type Err = time::TimestampParseError;

    /// Parses RFC 3339 exactly as the language's `timestamp()` does
    /// (`docs/reference/expressions.md` §5.8).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        time::parse_rfc3339(s)
    }
}

/// A `DURATION`: signed nanoseconds, printed like Go's `Duration.String()`.
///
/// ```
/// use meshtel_expr::Duration;
/// let d: Duration = "1h30m".parse().unwrap();
/// assert_eq!(d.as_nanos(), 5_400_000_000_000);
/// assert_eq!(Duration::from_nanos(1_500_000).to_string(), "1.5ms");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(i64);

impl Duration {
    /// A duration of `nanos` nanoseconds.
    #[must_use]
    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    /// The duration in nanoseconds.
    #[must_use]
    pub const fn as_nanos(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        duration::write_go(f, self.0)
    }
}

impl core::str::FromStr for Duration {
    type Err = duration::NotADuration;

    /// Parses a Go duration string (`docs/reference/expressions.md` §2.8): `"19ms"`, `"1h30m"`,
    /// `"-1.5s"`, `"0"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        duration::parse_go(s).map(Self).ok_or(duration::NotADuration)
    }
}

/// Go's `%v` for a float64: shortest round-trip digits, exponent form when the
/// decimal exponent is below −4 or at least 6.
pub(crate) fn write_double(w: &mut dyn fmt::Write, v: f64) -> fmt::Result {
    if v.is_nan() {
        return w.write_str("NaN");
    }
    if v.is_infinite() {
        return w.write_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    }
    if v == 0.0 {
        return w.write_str(if v.is_sign_negative() { "-0" } else { "0" });
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `-1.2345e-7`.
    let mut buf = String::with_capacity(32);
    fmt::write(&mut buf, format_args!("{v:e}"))?;
    let (mantissa, exp) = buf.split_once('e').unwrap_or((buf.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    w.write_str(sign)?;
    if !(-4..6).contains(&exp) {
        w.write_str(mantissa)?;
        write!(w, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs())
    } else if exp < 0 {
        w.write_str("0.")?;
        for _ in 0..(-exp - 1) {
            w.write_char('0')?;
        }
        w.write_str(&digits)
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            w.write_str(&digits)?;
            for _ in digits.len()..int_len {
                w.write_char('0')?;
            }
            Ok(())
        } else {
            w.write_str(&digits[..int_len])?;
            w.write_char('.')?;
            w.write_str(&digits[int_len..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_go() {
        for (v, text) in [
            (100_000.0, "100000"),
            (1e6, "1e+06"),
            (1_234_567.0, "1.234567e+06"),
            (999_999.5, "999999.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (2.75, "2.75"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
            (1.5e-300, "1.5e-300"),
            (23.46, "23.46"),
            (10.0, "10"),
        ] {
            assert_eq!(Value::Double(v).to_string(), text, "{v:e}");
        }
    }
}
