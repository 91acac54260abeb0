//! CEL's operators on runtime values, as cel-cpp evaluates them without the type checker:
//! heterogeneous equality and ordering of numbers, checked integer arithmetic, timestamp and
//! duration arithmetic, and concatenation.

use alloc::borrow::Cow;
use alloc::sync::Arc;
use core::cmp::Ordering;

use super::ast::BinaryOp;
use crate::{EvalError, EvalErrorKind as K, Span, Timestamp, Value};

pub(crate) type Result<T> = core::result::Result<T, EvalError>;

/// Seconds of 0001-01-01T00:00:00Z and of 9999-12-31T23:59:59Z: CEL's timestamp range.
pub(crate) const MIN_UNIX_SECONDS: i64 = -62_135_596_800;
pub(crate) const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

/// The CEL name of an operator's function, as error messages show it (`_+_`).
const fn function_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Or => "_||_",
        BinaryOp::And => "_&&_",
        BinaryOp::Eq => "_==_",
        BinaryOp::Ne => "_!=_",
        BinaryOp::Lt => "_<_",
        BinaryOp::Le => "_<=_",
        BinaryOp::Gt => "_>_",
        BinaryOp::Ge => "_>=_",
        BinaryOp::In => "@in",
        BinaryOp::Add => "_+_",
        BinaryOp::Sub => "_-_",
        BinaryOp::Mul => "_*_",
        BinaryOp::Div => "_/_",
        BinaryOp::Rem => "_%_",
    }
}

/// "no matching overload" for `function` applied to the operands' types.
#[cold]
pub(crate) fn no_overload(function: &str, operands: &[&Value<'_>], span: Span) -> EvalError {
    let types: Vec<&str> = operands.iter().map(|v| v.value_type().cel_name()).collect();
    EvalError::new(
        K::NoMatchingOverload,
        span,
        format!(
            "no matching overload for '{function}' applied to ({})",
            types.join(", ")
        ),
    )
}

#[cold]
pub(crate) fn overflow(what: &str, span: Span) -> EvalError {
    EvalError::new(K::Overflow, span, format!("{what} overflow"))
}

/// A number of any of CEL's three numeric types.
#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Uint(u64),
    Double(f64),
}

impl Number {
    const fn of(v: &Value<'_>) -> Option<Self> {
        match v {
            Value::Int64(i) => Some(Self::Int(*i)),
            Value::Uint64(u) => Some(Self::Uint(*u)),
            Value::Double(d) => Some(Self::Double(*d)),
            _ => None,
        }
    }
}

/// An int or uint against a double, as cel-cpp compares them: the integer converted to the
/// nearest double (`9007199254740993 == 9007199254740992.0` is true). `None` for NaN.
#[allow(clippy::cast_precision_loss, reason = "cel-cpp compares in double precision")]
fn int_vs_double(i: i128, d: f64) -> Option<Ordering> {
    (i as f64).partial_cmp(&d)
}

/// Heterogeneous numeric ordering: `None` when a NaN is involved.
fn compare_numbers(a: Number, b: Number) -> Option<Ordering> {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => Some(x.cmp(&y)),
        (Number::Uint(x), Number::Uint(y)) => Some(x.cmp(&y)),
        (Number::Int(x), Number::Uint(y)) => Some(i128::from(x).cmp(&i128::from(y))),
        (Number::Uint(x), Number::Int(y)) => Some(i128::from(x).cmp(&i128::from(y))),
        (Number::Double(x), Number::Double(y)) => x.partial_cmp(&y),
        (Number::Int(x), Number::Double(y)) => int_vs_double(i128::from(x), y),
        (Number::Uint(x), Number::Double(y)) => int_vs_double(i128::from(x), y),
        (Number::Double(x), Number::Int(y)) => int_vs_double(i128::from(y), x).map(Ordering::reverse),
        (Number::Double(x), Number::Uint(y)) => int_vs_double(i128::from(y), x).map(Ordering::reverse),
    }
}

fn text<'v>(v: &'v Value<'_>) -> Option<&'v str> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// CEL equality: numbers across types by value, lists element-wise, maps by key; values of
/// different kinds are unequal (never an error).
pub(crate) fn equal(a: &Value<'_>, b: &Value<'_>) -> bool {
    if let (Some(x), Some(y)) = (Number::of(a), Number::of(b)) {
        return compare_numbers(x, y) == Some(Ordering::Equal);
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Null, Value::Null) => true,
        (Value::Timestamp(x), Value::Timestamp(y)) => x == y,
        (Value::Duration(x), Value::Duration(y)) => x == y,
        (Value::Type(x), Value::Type(y)) => x.cel_name() == y.cel_name(),
        (Value::List(x), Value::List(y)) => x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equal(p, q)),
        (Value::Map(_) | Value::StringMap(_), Value::Map(_) | Value::StringMap(_)) => maps_equal(a, b),
        _ => false,
    }
}

fn maps_equal(a: &Value<'_>, b: &Value<'_>) -> bool {
    if map_len(a) != map_len(b) {
        return false;
    }
    let mut same = true;
    for_each_entry(a, &mut |k, v| {
        same = same && lookup(b, &k).is_ok_and(|w| w.is_some_and(|w| equal(&v, &w)));
    });
    same
}

/// The number of entries of a map value (0 for other values).
pub(crate) fn map_len(m: &Value<'_>) -> usize {
    match m {
        Value::Map(entries) => entries.len(),
        Value::StringMap(map) => map.len(),
        _ => 0,
    }
}

/// Calls `f` with every entry of a map value, in its order.
pub(crate) fn for_each_entry<'a>(m: &Value<'a>, f: &mut dyn FnMut(Value<'a>, Value<'a>)) {
    match m {
        Value::Map(entries) => entries.iter().for_each(|(k, v)| f(k.clone(), v.clone())),
        Value::StringMap(map) => {
            // The map is borrowed for 'a, but `for_each_entry` hands out shorter borrows: the
            // entries are copied.
            map.for_each_entry(&mut |k, v| {
                f(
                    Value::String(Cow::Owned(k.to_owned())),
                    Value::String(Cow::Owned(v.to_owned())),
                );
            });
        }
        _ => {}
    }
}

/// Whether `v` may be a map key: int, uint, bool or string.
pub(crate) const fn is_key(v: &Value<'_>) -> bool {
    matches!(
        v,
        Value::Int64(_) | Value::Uint64(_) | Value::Bool(_) | Value::String(_)
    )
}

/// Whether `v` may be looked up in a map: a key type, or a double (matching an int or uint
/// key of the same value).
pub(crate) const fn is_lookup_key(v: &Value<'_>) -> bool {
    is_key(v) || matches!(v, Value::Double(_))
}

/// The same key: same type and value (`1` and `1u` are two keys of one map literal).
pub(crate) fn same_key(a: &Value<'_>, b: &Value<'_>) -> bool {
    a.value_type() == b.value_type() && equal(a, b)
}

/// The value of `key` in a map value: `Ok(None)` when absent, an error when `m` is not a map
/// or `key` cannot be a key. A key of the lookup's own type wins over a numeric match of
/// another type (`{1: 'a', 1u: 'b'}[1u]` is `'b'`).
pub(crate) fn lookup<'a>(m: &Value<'a>, key: &Value<'_>) -> core::result::Result<Option<Value<'a>>, ()> {
    if !is_lookup_key(key) {
        return Err(());
    }
    match m {
        Value::StringMap(map) => Ok(text(key).and_then(|k| map.get(k)).map(Value::str)),
        Value::Map(entries) => {
            let exact = entries.iter().find(|(k, _)| same_key(k, key));
            let numeric = || {
                entries
                    .iter()
                    .find(|(k, _)| Number::of(k).is_some() && Number::of(key).is_some() && equal(k, key))
            };
            Ok(exact.or_else(numeric).map(|(_, v)| v.clone()))
        }
        _ => Err(()),
    }
}

/// CEL ordering of two values: `Ok(None)` for unordered numbers (NaN), an error for types
/// without an ordering between them.
pub(crate) fn compare(op: BinaryOp, a: &Value<'_>, b: &Value<'_>, span: Span) -> Result<Option<Ordering>> {
    if let (Some(x), Some(y)) = (Number::of(a), Number::of(b)) {
        return Ok(compare_numbers(x, y));
    }
    Ok(Some(match (a, b) {
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bytes(x), Value::Bytes(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Timestamp(x), Value::Timestamp(y)) => x.cmp(y),
        (Value::Duration(x), Value::Duration(y)) => x.as_nanos().cmp(&y.as_nanos()),
        _ => return Err(no_overload(function_name(op), &[a, b], span)),
    }))
}

/// A checked timestamp in CEL's range.
pub(crate) fn timestamp(secs: i128, nanos: i128, span: Span) -> Result<Timestamp> {
    let total = secs * 1_000_000_000 + nanos;
    let secs = total.div_euclid(1_000_000_000);
    let nanos = total.rem_euclid(1_000_000_000);
    match (i64::try_from(secs), u32::try_from(nanos)) {
        (Ok(s), Ok(n)) if (MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS).contains(&s) => Ok(Timestamp::from_unix(s, n)),
        _ => Err(overflow("timestamp", span)),
    }
}

fn nanos_of(t: Timestamp) -> i128 {
    i128::from(t.unix_seconds()) * 1_000_000_000 + i128::from(t.subsec_nanos())
}

fn duration(nanos: i128, span: Span) -> Result<Value<'static>> {
    i64::try_from(nanos)
        .map(|n| Value::Duration(crate::Duration::from_nanos(n)))
        .map_err(|_| overflow("duration", span))
}

/// `+ - * / %` on two values.
pub(crate) fn arithmetic<'a>(op: BinaryOp, a: Value<'a>, b: Value<'a>, span: Span) -> Result<Value<'a>> {
    let int = |r: Option<i64>, zero: bool| -> Result<Value<'a>> {
        r.map(Value::Int64).ok_or_else(|| division_or_overflow(op, zero, span))
    };
    let uint = |r: Option<u64>, zero: bool| -> Result<Value<'a>> {
        r.map(Value::Uint64).ok_or_else(|| division_or_overflow(op, zero, span))
    };
    match (op, &a, &b) {
        (BinaryOp::Add, Value::Int64(x), Value::Int64(y)) => int(x.checked_add(*y), false),
        (BinaryOp::Sub, Value::Int64(x), Value::Int64(y)) => int(x.checked_sub(*y), false),
        (BinaryOp::Mul, Value::Int64(x), Value::Int64(y)) => int(x.checked_mul(*y), false),
        (BinaryOp::Div, Value::Int64(x), Value::Int64(y)) => int(x.checked_div(*y), *y == 0),
        (BinaryOp::Rem, Value::Int64(x), Value::Int64(y)) => int(x.checked_rem(*y), *y == 0),
        (BinaryOp::Add, Value::Uint64(x), Value::Uint64(y)) => uint(x.checked_add(*y), false),
        (BinaryOp::Sub, Value::Uint64(x), Value::Uint64(y)) => uint(x.checked_sub(*y), false),
        (BinaryOp::Mul, Value::Uint64(x), Value::Uint64(y)) => uint(x.checked_mul(*y), false),
        (BinaryOp::Div, Value::Uint64(x), Value::Uint64(y)) => uint(x.checked_div(*y), *y == 0),
        (BinaryOp::Rem, Value::Uint64(x), Value::Uint64(y)) => uint(x.checked_rem(*y), *y == 0),
        (BinaryOp::Add, Value::Double(x), Value::Double(y)) => Ok(Value::Double(x + y)),
        (BinaryOp::Sub, Value::Double(x), Value::Double(y)) => Ok(Value::Double(x - y)),
        (BinaryOp::Mul, Value::Double(x), Value::Double(y)) => Ok(Value::Double(x * y)),
        (BinaryOp::Div, Value::Double(x), Value::Double(y)) => Ok(Value::Double(x / y)),
        (BinaryOp::Add, Value::String(_), Value::String(_)) => Ok(concat_text(a, b)),
        (BinaryOp::Add, Value::Bytes(x), Value::Bytes(y)) => Ok(Value::Bytes(Cow::Owned([&x[..], &y[..]].concat()))),
        (BinaryOp::Add, Value::List(x), Value::List(y)) => {
            Ok(Value::List(x.iter().chain(y.iter()).cloned().collect::<Arc<[_]>>()))
        }
        _ => time_arithmetic(op, &a, &b, span),
    }
}

#[cold]
fn division_or_overflow(op: BinaryOp, zero: bool, span: Span) -> EvalError {
    match (op, zero) {
        (BinaryOp::Div, true) => EvalError::new(K::DivisionByZero, span, "division by zero"),
        (BinaryOp::Rem, true) => EvalError::new(K::DivisionByZero, span, "modulus by zero"),
        _ => overflow("integer", span),
    }
}

fn concat_text<'a>(a: Value<'a>, b: Value<'a>) -> Value<'a> {
    match (a, b) {
        (Value::String(x), Value::String(y)) if y.is_empty() => Value::String(x),
        (Value::String(x), Value::String(y)) if x.is_empty() => Value::String(y),
        (Value::String(x), Value::String(y)) => Value::String(Cow::Owned([&*x, &*y].concat())),
        (a, _) => a,
    }
}

fn time_arithmetic<'a>(op: BinaryOp, a: &Value<'_>, b: &Value<'_>, span: Span) -> Result<Value<'a>> {
    match (op, a, b) {
        (BinaryOp::Add, Value::Timestamp(t), Value::Duration(d))
        | (BinaryOp::Add, Value::Duration(d), Value::Timestamp(t)) => {
            timestamp(0, nanos_of(*t) + i128::from(d.as_nanos()), span).map(Value::Timestamp)
        }
        (BinaryOp::Sub, Value::Timestamp(t), Value::Duration(d)) => {
            timestamp(0, nanos_of(*t) - i128::from(d.as_nanos()), span).map(Value::Timestamp)
        }
        (BinaryOp::Sub, Value::Timestamp(x), Value::Timestamp(y)) => duration(nanos_of(*x) - nanos_of(*y), span),
        (BinaryOp::Add, Value::Duration(x), Value::Duration(y)) => {
            duration(i128::from(x.as_nanos()) + i128::from(y.as_nanos()), span)
        }
        (BinaryOp::Sub, Value::Duration(x), Value::Duration(y)) => {
            duration(i128::from(x.as_nanos()) - i128::from(y.as_nanos()), span)
        }
        _ => Err(no_overload(function_name(op), &[a, b], span)),
    }
}

/// `x in container`: list membership by CEL equality, map key presence.
pub(crate) fn contains(container: &Value<'_>, x: &Value<'_>, span: Span) -> Result<bool> {
    match container {
        Value::List(items) => Ok(items.iter().any(|item| equal(item, x))),
        Value::Map(_) | Value::StringMap(_) if is_lookup_key(x) => Ok(lookup(container, x).is_ok_and(|v| v.is_some())),
        _ => Err(no_overload("@in", &[x, container], span)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heterogeneous_numbers() {
        let lt = |a: Value<'_>, b: Value<'_>| compare(BinaryOp::Lt, &a, &b, Span::default()).unwrap();
        assert!(equal(&Value::Int64(1), &Value::Double(1.0)));
        assert!(equal(&Value::Uint64(200), &Value::Int64(200)));
        assert!(!equal(&Value::Int64(-1), &Value::Uint64(u64::MAX)));
        assert_eq!(
            lt(Value::Uint64(u64::MAX), Value::Int64(i64::MAX)),
            Some(Ordering::Greater)
        );
        // As cel-cpp: the integer is rounded to a double first.
        assert_eq!(
            lt(Value::Int64(i64::MAX), Value::Double(9.223_372_036_854_776e18)),
            Some(Ordering::Equal)
        );
        assert!(equal(
            &Value::Int64(9_007_199_254_740_993),
            &Value::Double(9_007_199_254_740_992.0)
        ));
        assert_eq!(lt(Value::Int64(2), Value::Double(2.5)), Some(Ordering::Less));
        assert_eq!(lt(Value::Int64(-2), Value::Double(-2.5)), Some(Ordering::Greater));
        assert_eq!(lt(Value::Double(f64::NAN), Value::Int64(1)), None);
        assert!(!equal(&Value::Double(f64::NAN), &Value::Double(f64::NAN)));
        assert!(!equal(&Value::Int64(1), &Value::str("1")));
        assert!(compare(BinaryOp::Lt, &Value::Int64(1), &Value::str("1"), Span::default()).is_err());
    }

    #[test]
    fn checked_arithmetic() {
        let span = Span::default();
        let kind = |op, a, b| arithmetic(op, a, b, span).unwrap_err().kind();
        assert_eq!(
            kind(BinaryOp::Add, Value::Int64(i64::MAX), Value::Int64(1)),
            K::Overflow
        );
        assert_eq!(
            kind(BinaryOp::Div, Value::Int64(i64::MIN), Value::Int64(-1)),
            K::Overflow
        );
        assert_eq!(kind(BinaryOp::Rem, Value::Int64(1), Value::Int64(0)), K::DivisionByZero);
        assert_eq!(kind(BinaryOp::Sub, Value::Uint64(0), Value::Uint64(1)), K::Overflow);
        assert_eq!(
            kind(BinaryOp::Add, Value::Int64(1), Value::Uint64(1)),
            K::NoMatchingOverload
        );
        assert_eq!(
            kind(BinaryOp::Rem, Value::Double(1.0), Value::Double(1.0)),
            K::NoMatchingOverload
        );
        assert_eq!(
            arithmetic(BinaryOp::Div, Value::Double(1.0), Value::Double(0.0), span).unwrap(),
            Value::Double(f64::INFINITY)
        );
        assert_eq!(
            arithmetic(BinaryOp::Rem, Value::Int64(-7), Value::Int64(2), span).unwrap(),
            Value::Int64(-1)
        );
    }
}
