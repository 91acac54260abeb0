//! Conversions to and from `prost_types` (feature `prost`): `From` between
//! [`Struct`]/[`Value`] and their `prost_types` twins, and [`view_to_prost`].

use alloc::string::ToString;

use prost_types::value::Kind as PKind;

use super::{Kind, Struct, StructView, Value, ValueView};

impl From<&Struct> for prost_types::Struct {
    fn from(s: &Struct) -> Self {
        Self {
            fields: s.fields.iter().map(|(k, v)| (k.clone(), v.into())).collect(),
        }
    }
}

impl From<&Value> for prost_types::Value {
    fn from(v: &Value) -> Self {
        let kind = match v {
            Value::Unset => None,
            Value::Null => Some(PKind::NullValue(0)),
            Value::Number(n) => Some(PKind::NumberValue(*n)),
            Value::String(s) => Some(PKind::StringValue(s.clone())),
            Value::Bool(b) => Some(PKind::BoolValue(*b)),
            Value::Struct(s) => Some(PKind::StructValue(s.into())),
            Value::List(l) => Some(PKind::ListValue(prost_types::ListValue {
                values: l.iter().map(Into::into).collect(),
            })),
        };
        Self { kind }
    }
}

impl From<prost_types::Struct> for Struct {
    fn from(s: prost_types::Struct) -> Self {
        Self {
            fields: s.fields.into_iter().map(|(k, v)| (k, v.into())).collect(),
        }
    }
}

impl From<prost_types::Value> for Value {
    fn from(v: prost_types::Value) -> Self {
        match v.kind {
            None => Self::Unset,
            Some(PKind::NullValue(_)) => Self::Null,
            Some(PKind::NumberValue(n)) => Self::Number(n),
            Some(PKind::StringValue(s)) => Self::String(s),
            Some(PKind::BoolValue(b)) => Self::Bool(b),
            Some(PKind::StructValue(s)) => Self::Struct(s.into()),
            Some(PKind::ListValue(l)) => Self::List(l.values.into_iter().map(Into::into).collect()),
        }
    }
}

/// Copies a view into a `prost_types::Struct`.
///
/// ```
/// use meshtel_wire::proto::{Struct, StructView, encode_struct, view_to_prost};
/// let mut s = Struct::new();
/// s.insert("a", 1.5);
/// let p: prost_types::Struct = (&s).into();
/// assert_eq!(Struct::from(p.clone()), s);
/// let bytes = encode_struct(&s);
/// assert_eq!(view_to_prost(&StructView::parse(&bytes)?), p);
/// # Ok::<(), meshtel_wire::proto::DecodeError>(())
/// ```
#[must_use]
pub fn view_to_prost(view: &StructView<'_>) -> prost_types::Struct {
    let mut out = prost_types::Struct::default();
    for entry in view.entries() {
        out.fields
            .insert(entry.key().to_string(), value_to_prost(&entry.value()));
    }
    out
}

fn value_to_prost(view: &ValueView<'_>) -> prost_types::Value {
    let kind = match view.kind() {
        Kind::Null => Some(PKind::NullValue(0)),
        Kind::Number(n) => Some(PKind::NumberValue(n)),
        Kind::String(s) => Some(PKind::StringValue(s.to_string())),
        Kind::Bool(b) => Some(PKind::BoolValue(b)),
        Kind::Struct(s) => Some(PKind::StructValue(view_to_prost(&s))),
        Kind::List(l) => Some(PKind::ListValue(prost_types::ListValue {
            values: l.iter().map(|v| value_to_prost(&v)).collect(),
        })),
        Kind::Unset => None,
    };
    prost_types::Value { kind }
}
