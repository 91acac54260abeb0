//! Owned `Struct` and `Value` (`alloc`).

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{Kind, ListView, StructView, ValueView};

/// An owned `google.protobuf.Struct`.
///
/// Keys are kept in a `BTreeMap`, whose order (bytewise on UTF-8) is exactly
/// the deterministic serialization order, so encoding needs no sort.
///
/// ```
/// use meshtel_wire::proto::{Struct, Value, StructView, encode_struct};
/// let mut s = Struct::new();
/// s.insert("NAMESPACE", "default");
/// s.insert("LABELS", Struct::new());
/// let bytes = encode_struct(&s);
/// let back = Struct::from_view(&StructView::parse(&bytes)?);
/// assert_eq!(back, s);
/// # Ok::<(), meshtel_wire::proto::DecodeError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Struct {
    /// The fields, by key.
    pub fields: BTreeMap<String, Value>,
}

/// An owned `google.protobuf.Value`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// No kind set (encodes as zero bytes).
    #[default]
    Unset,
    /// `null_value`.
    Null,
    /// `number_value`.
    Number(f64),
    /// `string_value`.
    String(String),
    /// `bool_value`.
    Bool(bool),
    /// `struct_value`.
    Struct(Struct),
    /// `list_value`.
    List(Vec<Self>),
}

impl Struct {
    /// An empty struct.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            fields: BTreeMap::new(),
        }
    }

    /// Inserts `value` under `key`, returning the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.fields.insert(key.into(), value.into())
    }

    /// The value under `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// Copies a view, applying protobuf's rules (a repeated key keeps the
    /// last value).
    #[must_use]
    pub fn from_view(view: &StructView<'_>) -> Self {
        let mut out = Self::new();
        for entry in view.entries() {
            out.fields
                .insert(entry.key().to_string(), Value::from_view(&entry.value()));
        }
        out
    }
}

impl Value {
    /// Copies a view.
    #[must_use]
    pub fn from_view(view: &ValueView<'_>) -> Self {
        match view.kind() {
            Kind::Unset => Self::Unset,
            Kind::Null => Self::Null,
            Kind::Number(n) => Self::Number(n),
            Kind::String(s) => Self::String(s.to_string()),
            Kind::Bool(b) => Self::Bool(b),
            Kind::Struct(s) => Self::Struct(Struct::from_view(&s)),
            Kind::List(l) => Self::List(list_from_view(&l)),
        }
    }

    /// The string content, if this is a string.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The struct, if this is a struct.
    #[must_use]
    pub const fn as_struct(&self) -> Option<&Struct> {
        match self {
            Self::Struct(s) => Some(s),
            _ => None,
        }
    }
}

fn list_from_view(view: &ListView<'_>) -> Vec<Value> {
    view.iter().map(|v| Value::from_view(&v)).collect()
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Self::Number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<Struct> for Value {
    fn from(s: Struct) -> Self {
        Self::Struct(s)
    }
}

impl From<Vec<Self>> for Value {
    fn from(l: Vec<Self>) -> Self {
        Self::List(l)
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Struct {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            fields: iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        }
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    //! protobuf's JSON mapping: objects, arrays, strings, numbers, booleans,
    //! null. A value with no kind serialises as `null`.

    use alloc::string::String;
    use alloc::vec::Vec;
    use core::fmt;

    use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

    use super::{Struct, Value};

    impl Serialize for Struct {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(self.fields.len()))?;
            for (k, v) in &self.fields {
                map.serialize_entry(k, v)?;
            }
            map.end()
        }
    }

    impl Serialize for Value {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            match self {
                Self::Unset | Self::Null => serializer.serialize_unit(),
                Self::Number(n) => serializer.serialize_f64(*n),
                Self::String(s) => serializer.serialize_str(s),
                Self::Bool(b) => serializer.serialize_bool(*b),
                Self::Struct(s) => s.serialize(serializer),
                Self::List(l) => {
                    let mut seq = serializer.serialize_seq(Some(l.len()))?;
                    for v in l {
                        seq.serialize_element(v)?;
                    }
                    seq.end()
                }
            }
        }
    }

    struct ValueVisitor;

    impl<'de> Visitor<'de> for ValueVisitor {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        #[allow(clippy::cast_precision_loss, reason = "JSON numbers map to protobuf doubles")]
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
            Ok(Value::Number(v as f64))
        }
        #[allow(clippy::cast_precision_loss, reason = "JSON numbers map to protobuf doubles")]
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
            Ok(Value::Number(v as f64))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
            Ok(Value::Number(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.into()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E: de::Error>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            Value::deserialize(d)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = seq.next_element()? {
                out.push(v);
            }
            Ok(Value::List(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
            StructVisitor.visit_map(map).map(Value::Struct)
        }
    }

    struct StructVisitor;

    impl<'de> Visitor<'de> for StructVisitor {
        type Value = Struct;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Struct, A::Error> {
            let mut out = Struct::new();
            while let Some((k, v)) = map.next_entry::<String, Value>()? {
                out.fields.insert(k, v);
            }
            Ok(out)
        }
    }

    impl<'de> Deserialize<'de> for Value {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(ValueVisitor)
        }
    }

    impl<'de> Deserialize<'de> for Struct {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(StructVisitor)
        }
    }
}
