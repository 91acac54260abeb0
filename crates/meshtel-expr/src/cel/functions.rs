//! CEL's standard functions: `size`, the string tests, `matches`, the type conversions and
//! the timestamp and duration accessors.

use alloc::borrow::Cow;

use super::ops::{self, Result, no_overload};
use super::{Accessor, Function, calendar, text};
use crate::compile::AttrRef;
use crate::{Bag, EvalError, EvalErrorKind as K, Span, Timestamp, Value};

#[cold]
fn invalid(span: Span, message: String) -> EvalError {
    EvalError::new(K::InvalidArgument, span, message)
}

const fn name(f: Function) -> &'static str {
    match f {
        Function::Size => "size",
        Function::Contains => "contains",
        Function::StartsWith => "startsWith",
        Function::EndsWith => "endsWith",
        Function::Matches => "matches",
        Function::Int => "int",
        Function::Uint => "uint",
        Function::Double => "double",
        Function::String => "string",
        Function::Bytes => "bytes",
        Function::Bool => "bool",
        Function::Timestamp => "timestamp",
        Function::Duration => "duration",
        Function::Dyn => "dyn",
        Function::Type => "type",
        Function::Accessor(a) => accessor_name(a),
    }
}

const fn accessor_name(a: Accessor) -> &'static str {
    match a {
        Accessor::FullYear => "getFullYear",
        Accessor::Month => "getMonth",
        Accessor::DayOfYear => "getDayOfYear",
        Accessor::DayOfMonth => "getDayOfMonth",
        Accessor::Date => "getDate",
        Accessor::DayOfWeek => "getDayOfWeek",
        Accessor::Hours => "getHours",
        Accessor::Minutes => "getMinutes",
        Accessor::Seconds => "getSeconds",
        Accessor::Milliseconds => "getMilliseconds",
    }
}

/// Calls `f` on its evaluated operands (receiver first).
/// [`call`] with one operand; `string()` of a status code, the conversion labels make, first.
pub(crate) fn call1(f: Function, operand: Value<'_>, span: Span) -> Result<Value<'_>> {
    if f == Function::String
        && let Value::Int64(n) = operand
        && let Some(text) = u64::try_from(n).ok().and_then(text::small_decimal)
    {
        return Ok(Value::str(text));
    }
    call(f, &mut [operand], span)
}

/// The text of `string(n)` when it is in the static table (a status code).
#[inline]
pub(crate) fn int_text(n: i64) -> Option<&'static str> {
    u64::try_from(n).ok().and_then(text::small_decimal)
}

/// `string(a)` of an `int` attribute: the text of a status code from the static table, one
/// bag read; any other value (absent, of another type, large) the way of [`call1`].
#[inline]
pub(crate) fn string_of_int<'a, B: Bag + ?Sized>(attr: &'a AttrRef, bag: &'a B, span: Span) -> Result<Value<'a>> {
    if let Some(text) = bag.get_int(attr.as_attr()).and_then(int_text) {
        return Ok(Value::str(text));
    }
    string_of_attr(attr, bag, span)
}

#[inline(never)]
fn string_of_attr<'a, B: Bag + ?Sized>(attr: &'a AttrRef, bag: &'a B, span: Span) -> Result<Value<'a>> {
    call1(Function::String, attr.strict(bag, span)?, span)
}

pub(crate) fn call<'a>(f: Function, operands: &mut [Value<'a>], span: Span) -> Result<Value<'a>> {
    let fail = |operands: &[Value<'_>]| no_overload(name(f), &operands.iter().collect::<Vec<_>>(), span);
    match (f, &mut *operands) {
        (Function::Size, [v]) => size(v).ok_or_else(|| fail(operands)),
        (Function::Contains | Function::StartsWith | Function::EndsWith, [Value::String(s), Value::String(p)]) => {
            Ok(Value::Bool(match f {
                Function::Contains => s.contains(&**p),
                Function::StartsWith => s.starts_with(&**p),
                _ => s.ends_with(&**p),
            }))
        }
        (Function::Matches, [Value::String(s), Value::String(p)]) => {
            let re = crate::func::regex::compile(p).map_err(|why| EvalError::new(K::Regex, span, why))?;
            Ok(Value::Bool(re.is_match(s)))
        }
        (Function::Dyn, [v]) => Ok(core::mem::replace(v, Value::Null)),
        (Function::Type, [v]) => Ok(Value::Type(v.value_type())),
        (Function::Accessor(a), [v, rest @ ..]) => {
            let zone = match rest {
                [] => None,
                [Value::String(z)] => Some(&**z),
                _ => return Err(fail(operands)),
            };
            accessor(a, v, zone, span)?.ok_or_else(|| fail(operands))
        }
        (_, [v]) => convert(f, core::mem::replace(v, Value::Null), span)?.map_or_else(|v| Err(fail(&[v])), Ok),
        _ => Err(fail(operands)),
    }
}

fn size(v: &Value<'_>) -> Option<Value<'static>> {
    let n = match v {
        Value::String(s) => s.chars().count(),
        Value::Bytes(b) => b.len(),
        Value::List(items) => items.len(),
        Value::Map(_) | Value::StringMap(_) => ops::map_len(v),
        _ => return None,
    };
    Some(Value::Int64(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// A conversion: `Ok(Err(v))` hands the operand back when the conversion has no overload for
/// its type.
#[allow(
    clippy::too_many_lines,
    reason = "one arm per conversion and source type, as CEL's table lists them"
)]
fn convert(f: Function, v: Value<'_>, span: Span) -> Result<core::result::Result<Value<'_>, Value<'_>>> {
    let range = |what: &str| ops::overflow(what, span);
    Ok(Ok(match (f, v) {
        // A conversion to the value's own type is the identity.
        (Function::Int, v @ Value::Int64(_))
        | (Function::Uint, v @ Value::Uint64(_))
        | (Function::Double, v @ Value::Double(_))
        | (Function::Bytes, v @ Value::Bytes(_))
        | (Function::Bool, v @ Value::Bool(_))
        | (Function::Timestamp, v @ Value::Timestamp(_))
        | (Function::Duration, v @ Value::Duration(_)) => v,
        (Function::Int, Value::Uint64(u)) => Value::Int64(i64::try_from(u).map_err(|_| range("int"))?),
        (Function::Int, Value::Double(d)) => Value::Int64(double_to_int(d).ok_or_else(|| range("int"))?),
        (Function::Int, Value::String(s)) => Value::Int64(
            trimmed(&s)
                .parse()
                .map_err(|_| invalid(span, format!("cannot convert {s:?} to int")))?,
        ),
        (Function::Int, Value::Bool(b)) => Value::Int64(b.into()),
        (Function::Int, Value::Timestamp(t)) => Value::Int64(t.unix_seconds()),
        (Function::Uint, Value::Int64(i)) => Value::Uint64(u64::try_from(i).map_err(|_| range("uint"))?),
        (Function::Uint, Value::Double(d)) => Value::Uint64(double_to_uint(d).ok_or_else(|| range("uint"))?),
        (Function::Uint, Value::String(s)) => Value::Uint64(
            trimmed(&s)
                .parse()
                .map_err(|_| invalid(span, format!("cannot convert {s:?} to uint")))?,
        ),
        #[allow(
            clippy::cast_precision_loss,
            reason = "CEL's conversion rounds to the nearest double"
        )]
        (Function::Double, Value::Int64(i)) => Value::Double(i as f64),
        #[allow(
            clippy::cast_precision_loss,
            reason = "CEL's conversion rounds to the nearest double"
        )]
        (Function::Double, Value::Uint64(u)) => Value::Double(u as f64),
        (Function::Double, Value::String(s)) => Value::Double(
            parse_double(trimmed(&s)).ok_or_else(|| invalid(span, format!("cannot convert {s:?} to double")))?,
        ),
        (Function::String, v) => match to_string(v, span)? {
            Ok(s) => Value::String(s),
            Err(v) => return Ok(Err(v)),
        },
        (Function::Bytes, Value::String(s)) => Value::Bytes(match s {
            Cow::Borrowed(b) => Cow::Borrowed(b.as_bytes()),
            Cow::Owned(o) => Cow::Owned(o.into_bytes()),
        }),
        (Function::Bool, Value::String(s)) => Value::Bool(match &*s {
            "1" | "t" | "true" | "TRUE" | "True" => true,
            "0" | "f" | "false" | "FALSE" | "False" => false,
            _ => return Err(invalid(span, format!("cannot convert {s:?} to bool"))),
        }),
        (Function::Timestamp, Value::String(s)) => Value::Timestamp(parse_timestamp(&s, span)?),
        (Function::Timestamp, Value::Int64(secs)) => Value::Timestamp(ops::timestamp(secs.into(), 0, span)?),
        // Go and absl agree on the duration syntax but for `µs`, which absl does not take.
        (Function::Duration, Value::String(s)) => Value::Duration(
            Some(&*s)
                .filter(|s| !s.contains(['µ', 'μ']))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| invalid(span, format!("cannot convert {s:?} to duration")))?,
        ),
        (_, v) => return Ok(Err(v)),
    }))
}

/// Truncation toward zero, if the result is an int64.
fn double_to_int(d: f64) -> Option<i64> {
    // cel-cpp excludes -2^63 as well as 2^63; NaN fails both tests.
    #[allow(clippy::cast_possible_truncation, reason = "range checked")]
    (d > -9_223_372_036_854_775_808.0 && d < 9_223_372_036_854_775_808.0).then_some(d as i64)
}

fn double_to_uint(d: f64) -> Option<u64> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "range checked")]
    (0.0..18_446_744_073_709_551_616.0).contains(&d).then_some(d as u64)
}

/// RFC 3339 as absl reads it for cel-cpp: `t` and `z` in either case, and a leap second
/// `:60` rolled into the next minute.
fn parse_timestamp(s: &str, span: Span) -> Result<Timestamp> {
    let fail = |e: &dyn core::fmt::Display| invalid(span, format!("cannot convert {s:?} to timestamp: {e}"));
    let mut text = s.to_owned();
    if text.get(10..11) == Some("t") {
        text.replace_range(10..11, "T");
    }
    if text.ends_with('z') {
        text.pop();
        text.push('Z');
    }
    let leap = text.get(16..19) == Some(":60");
    if leap {
        text.replace_range(17..19, "59");
    }
    let t = crate::func::time::parse_rfc3339(&text).map_err(|e| fail(&e))?;
    ops::timestamp(
        i128::from(t.unix_seconds()) + i128::from(leap),
        t.subsec_nanos().into(),
        span,
    )
}

/// Text without the ASCII white space around it (absl's `SimpleAtoi` ignores it).
fn trimmed(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// A double as absl's `SimpleAtod` reads it: decimal, `inf`/`nan` in any case, and C99
/// hexadecimal floats (`0x1p4`).
fn parse_double(s: &str) -> Option<f64> {
    if let Ok(d) = s.parse::<f64>() {
        return Some(d);
    }
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let hex = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X"))?;
    let (mantissa, exponent) = match hex.find(['p', 'P']) {
        Some(i) => (&hex[..i], hex[i + 1..].parse::<i32>().ok()?),
        None => (hex, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in whole.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in fraction.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let value = value * 2f64.powi(exponent);
    Some(if negative { -value } else { value })
}

/// `string(v)`: CEL's text of a value; `Ok(Err(v))` when `v` has no text conversion.
fn to_string(v: Value<'_>, span: Span) -> Result<core::result::Result<Cow<'_, str>, Value<'_>>> {
    let mut out = String::new();
    match v {
        Value::String(s) => return Ok(Ok(s)),
        // Status codes, the integers labels convert, borrow their text.
        Value::Int64(i) => match u64::try_from(i).ok().and_then(text::small_decimal) {
            Some(text) => return Ok(Ok(Cow::Borrowed(text))),
            None => out = i.to_string(),
        },
        Value::Uint64(u) => match text::small_decimal(u) {
            Some(text) => return Ok(Ok(Cow::Borrowed(text))),
            None => out = u.to_string(),
        },
        Value::Double(d) => text::write_double(&mut out, d).map_err(|_| invalid(span, "format".into()))?,
        Value::Bool(b) => return Ok(Ok(Cow::Borrowed(if b { "true" } else { "false" }))),
        Value::Bytes(b) => {
            return match b {
                Cow::Borrowed(b) => core::str::from_utf8(b).map(|s| Ok(Cow::Borrowed(s))),
                Cow::Owned(o) => String::from_utf8(o)
                    .map(|s| Ok(Cow::Owned(s)))
                    .map_err(|e| e.utf8_error()),
            }
            .map_err(|_| invalid(span, "invalid UTF-8 in bytes, cannot convert to string".into()));
        }
        Value::Timestamp(t) => text::write_timestamp(&mut out, t).map_err(|_| invalid(span, "format".into()))?,
        Value::Duration(d) => text::write_duration(&mut out, d).map_err(|_| invalid(span, "format".into()))?,
        other => return Ok(Err(other)),
    }
    Ok(Ok(Cow::Owned(out)))
}

/// A timestamp or duration accessor: `Ok(None)` when it has no overload for the operand.
fn accessor(a: Accessor, v: &Value<'_>, zone: Option<&str>, span: Span) -> Result<Option<Value<'static>>> {
    let t = match (v, zone) {
        (Value::Timestamp(t), _) => *t,
        (Value::Duration(d), None) => return Ok(duration_part(a, d.as_nanos()).map(Value::Int64)),
        _ => return Ok(None),
    };
    let civil = match zone {
        None => calendar::utc(t),
        Some(z) => calendar::in_zone(t, z).ok_or_else(|| invalid(span, format!("unknown time zone: {z:?}")))?,
    };
    Ok(Some(Value::Int64(match a {
        Accessor::FullYear => civil.year,
        Accessor::Month => i64::from(civil.month) - 1,
        Accessor::DayOfYear => civil.day_of_year - 1,
        Accessor::DayOfMonth => i64::from(civil.day) - 1,
        Accessor::Date => civil.day.into(),
        Accessor::DayOfWeek => civil.weekday,
        Accessor::Hours => civil.hour,
        Accessor::Minutes => civil.minute,
        Accessor::Seconds => civil.second,
        Accessor::Milliseconds => civil.millisecond,
    })))
}

/// A duration's accessor: whole hours, minutes or seconds, and the millisecond part of the
/// second; the calendar accessors have no duration overload.
const fn duration_part(a: Accessor, nanos: i64) -> Option<i64> {
    Some(match a {
        Accessor::Hours => nanos / 3_600_000_000_000,
        Accessor::Minutes => nanos / 60_000_000_000,
        Accessor::Seconds => nanos / 1_000_000_000,
        Accessor::Milliseconds => nanos / 1_000_000 % 1000,
        _ => return None,
    })
}
