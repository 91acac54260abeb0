//! Evaluation of a program tree against a bag (`docs/reference/expressions.md` §6): strict
//! evaluation `E[e]` and presence evaluation `P[e]` for the left operand of `|`.

use alloc::borrow::Cow;
use core::cmp::Ordering;

use crate::compile::{AttrRef, CmpOp, Const, Func1, Node, Op, Pattern};
use crate::func::{dns, email, ip, text, time, uri};
use crate::value::EmptyStringMap;
use crate::{Attr, Bag, EvalError, EvalErrorKind as K, Span, Value, ValueType as V};

type Result<T> = core::result::Result<T, EvalError>;

fn into_text(v: Value<'_>) -> Cow<'_, str> {
    match v {
        Value::String(s) | Value::DnsName(s) | Value::EmailAddress(s) | Value::Uri(s) => s,
        // The checker guarantees text here.
        _ => Cow::Borrowed(""),
    }
}

const fn into_bool(v: &Value<'_>) -> bool {
    matches!(v, Value::Bool(true))
}

/// Applies a text transformation that borrows when it changes nothing, keeping the input's
/// lifetime (and its allocation, if it owned one).
fn map_text<'a, E>(
    s: Cow<'a, str>,
    f: impl for<'x> Fn(&'x str) -> core::result::Result<Cow<'x, str>, E>,
) -> core::result::Result<Cow<'a, str>, E> {
    match s {
        Cow::Borrowed(b) => f(b),
        Cow::Owned(o) => {
            let changed = match f(&o)? {
                Cow::Borrowed(_) => None,
                Cow::Owned(n) => Some(n),
            };
            Ok(Cow::Owned(changed.unwrap_or(o)))
        }
    }
}

impl AttrRef {
    #[inline]
    pub(crate) fn lookup<'a, B: Bag + ?Sized>(&'a self, bag: &'a B) -> Option<Value<'a>> {
        bag.get(self.as_attr())
    }

    /// The attribute as a bag is asked for it.
    #[inline]
    pub(crate) fn as_attr(&self) -> Attr<'_> {
        Attr {
            id: self.id,
            name: &self.name,
        }
    }

    /// `P[attr]`: present, absent, or a conversion error.
    #[inline]
    pub(crate) fn read<'a, B: Bag + ?Sized>(&'a self, bag: &'a B, span: Span) -> Result<Option<Value<'a>>> {
        match self.lookup(bag) {
            Some(v) if v.value_type() == self.ty => Ok(Some(v)),
            Some(v) => convert(v, self.ty, &self.name, span).map(Some),
            None => Ok(None),
        }
    }

    /// `E[attr]`: the value, or a missing-attribute error.
    #[inline]
    pub(crate) fn strict<'a, B: Bag + ?Sized>(&'a self, bag: &'a B, span: Span) -> Result<Value<'a>> {
        match self.lookup(bag) {
            Some(v) if v.value_type() == self.ty => Ok(v),
            Some(v) => convert(v, self.ty, &self.name, span),
            None => Err(EvalError::missing(self.name.clone(), span)),
        }
    }

    /// The entry `key` of this map attribute: `Ok(None)` when the map is absent,
    /// `Ok(Some(None))` when the key is. (Matched in place: moving the value through
    /// `Result<Option<_>>` layouts costs more than the lookup.)
    #[inline]
    #[allow(clippy::option_option, reason = "three outcomes: no map, no key, a value")]
    pub(crate) fn entry<'a, B: Bag + ?Sized>(
        &'a self,
        bag: &'a B,
        key: &str,
        span: Span,
    ) -> Result<Option<Option<&'a str>>> {
        if let Some(map) = bag.get_map(self.as_attr()) {
            return Ok(Some(map.get(key)));
        }
        match self.lookup(bag) {
            Some(Value::StringMap(map)) => Ok(Some(map.get(key))),
            Some(v) => convert(v, self.ty, &self.name, span).map(|_| None),
            None => Ok(None),
        }
    }
}

/// Reads an attribute value as its declared type (`docs/reference/expressions.md` §6.1).
#[cold]
fn convert<'a>(v: Value<'a>, ty: V, name: &str, span: Span) -> Result<Value<'a>> {
    if v.value_type() == ty {
        return Ok(v);
    }
    let found = v.value_type();
    Ok(match (ty, v) {
        (V::String, Value::DnsName(s) | Value::EmailAddress(s) | Value::Uri(s)) => Value::String(s),
        (V::DnsName, Value::String(s) | Value::EmailAddress(s) | Value::Uri(s)) => Value::DnsName(s),
        (V::EmailAddress, Value::String(s) | Value::DnsName(s) | Value::Uri(s)) => Value::EmailAddress(s),
        (V::Uri, Value::String(s) | Value::DnsName(s) | Value::EmailAddress(s)) => Value::Uri(s),
        (V::Int64, Value::Duration(d)) => Value::Int64(d.as_nanos()),
        (V::Duration, Value::Int64(n)) => Value::Duration(crate::Duration::from_nanos(n)),
        _ => {
            return Err(EvalError::new(
                K::Conversion,
                span,
                format!("attribute '{name}' is declared {ty} but the bag holds a {found} value"),
            ));
        }
    })
}

fn equal(a: Value<'_>, b: Value<'_>, span: Span) -> Result<bool> {
    let cmp_err = |what: &str, x: &str, y: &str, why: &str| {
        EvalError::new(
            K::Comparison,
            span,
            format!("error comparing {what} '{x}' and '{y}': {why}"),
        )
    };
    Ok(match (a, b) {
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits(),
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Timestamp(x), Value::Timestamp(y)) => x == y,
        (Value::IpAddress(x), Value::IpAddress(y)) => ip::same_address(x, y),
        (Value::DnsName(x), Value::DnsName(y)) => {
            dns::equal(&x, &y).map_err(|why| cmp_err("dns names", &x, &y, why))?
        }
        (Value::EmailAddress(x), Value::EmailAddress(y)) => {
            email::equal(&x, &y).map_err(|why| cmp_err("e-mail addresses", &x, &y, why))?
        }
        (Value::Uri(x), Value::Uri(y)) => uri::equal(&x, &y).map_err(|why| cmp_err("uris", &x, &y, why))?,
        _ => false,
    })
}

fn order(a: &Value<'_>, b: &Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Int64(x), Value::Int64(y)) => Some(x.cmp(y)),
        (Value::Double(x), Value::Double(y)) => x.partial_cmp(y),
        (Value::Timestamp(x), Value::Timestamp(y)) => Some(x.cmp(y)),
        _ => Some(a.as_text()?.as_bytes().cmp(b.as_text()?.as_bytes())),
    }
}

fn concat<'a>(x: Cow<'a, str>, y: Cow<'a, str>) -> Cow<'a, str> {
    if y.is_empty() {
        return x;
    }
    if x.is_empty() {
        return y;
    }
    let mut s = String::with_capacity(x.len() + y.len());
    s.push_str(&x);
    s.push_str(&y);
    Cow::Owned(s)
}

impl Node {
    /// The text of a node that reads a `STRING` attribute (with or without a default) or an
    /// entry of a map attribute, when the bag has it as such; `None` sends the evaluation the
    /// general way (absent, of another type, or another kind of node). The read of most
    /// labels and conditions, without a [`Value`] built and dropped.
    #[inline]
    pub(crate) fn read_text<'a, B: Bag + ?Sized>(&'a self, bag: &'a B) -> Option<&'a str> {
        match &self.op {
            Op::Attr(attr) | Op::AttrOr(attr, _) if attr.ty == V::String => bag.get_text(attr.as_attr()),
            Op::IndexConst(map, key)
            | Op::IndexConstOr(map, key, _)
            | Op::Cel(crate::cel::CelOp::IndexConst(map, key)) => bag.get_map(map.as_attr())?.get(key),
            _ => None,
        }
    }

    /// `E[e]`: the value, or an error; an absent attribute is a missing-attribute error.
    ///
    /// The label shapes are handled here; everything else is in [`Node::eval_other`], so
    /// this function stays small and cheap to enter.
    pub(crate) fn eval<'a, B: Bag + ?Sized>(&'a self, bag: &'a B) -> Result<Value<'a>> {
        let span = self.span;
        match &self.op {
            Op::Const(c) => Ok(match c {
                Const::Text(s) => Value::String(Cow::Borrowed(s)),
                Const::Int64(v) => Value::Int64(*v),
                Const::Double(v) => Value::Double(*v),
                Const::Bool(v) => Value::Bool(*v),
                Const::Duration(d) => Value::Duration(*d),
            }),
            Op::EmptyMap => Ok(Value::StringMap(&EmptyStringMap)),
            Op::Attr(attr) => attr.strict(bag, span),
            Op::AttrOr(attr, default) => match attr.lookup(bag) {
                Some(v) if v.value_type() == attr.ty => Ok(v),
                Some(v) => convert(v, attr.ty, &attr.name, span),
                None => default.eval(bag),
            },
            Op::IndexConst(map, key) => match map.entry(bag, key, span)? {
                Some(entry) => Ok(Value::str(entry.unwrap_or(""))),
                None => Err(EvalError::missing(map.name.clone(), span)),
            },
            Op::IndexConstOr(map, key, default) => match map.entry(bag, key, span)? {
                Some(Some(entry)) => Ok(Value::str(entry)),
                _ => default.eval(bag),
            },
            Op::EqText { negate, node, text } => {
                let v = node.eval(bag)?;
                Ok(Value::Bool((v.as_text() == Some(&text[..])) != *negate))
            }
            Op::Or(n) => match n[0].present(bag)? {
                Some(v) => Ok(v),
                None => n[1].eval(bag),
            },
            Op::EqConst { .. } | Op::And(_) | Op::Lor(_) => self.test(bag).map(Value::Bool),
            Op::Conditional(n) => {
                let branch = if n[0].test(bag)? { &n[1] } else { &n[2] };
                branch.eval(bag)
            }
            Op::Cel(crate::cel::CelOp::StringOfInt(attr)) => crate::cel::functions::string_of_int(attr, bag, span),
            _ => self.eval_other(bag),
        }
    }

    /// `E[e]` of a BOOL expression, as a `bool`: conditions and `&&`/`||` operands skip
    /// building a [`Value`].
    fn test<B: Bag + ?Sized>(&self, bag: &B) -> Result<bool> {
        match &self.op {
            Op::EqText { negate, node, text } => {
                if let Some(found) = node.read_text(bag) {
                    return Ok((found == &text[..]) != *negate);
                }
                Ok((node.eval(bag)?.as_text() == Some(&text[..])) != *negate)
            }
            Op::EqConst { negate, node, constant } => {
                let v = node.eval(bag)?;
                let equal = match (&v, constant) {
                    (Value::Int64(x), Const::Int64(c)) => x == c,
                    (Value::Bool(x), Const::Bool(c)) => x == c,
                    (Value::Double(x), Const::Double(c)) => x.to_bits() == c.to_bits(),
                    _ => false,
                };
                Ok(equal != *negate)
            }
            Op::And(n) => Ok(n[0].test(bag)? && n[1].test(bag)?),
            Op::Lor(n) => Ok(n[0].test(bag)? || n[1].test(bag)?),
            Op::Const(Const::Bool(b)) => Ok(*b),
            _ => Ok(into_bool(&self.eval(bag)?)),
        }
    }

    #[inline(never)]
    fn eval_other<'a, B: Bag + ?Sized>(&'a self, bag: &'a B) -> Result<Value<'a>> {
        let span = self.span;
        match &self.op {
            Op::Index(n) => {
                let map = n[0].eval(bag)?;
                let key = n[1].eval(bag)?;
                let Value::StringMap(map) = map else {
                    return Ok(Value::str(""));
                };
                Ok(Value::str(map.get(&into_text(key)).unwrap_or("")))
            }
            Op::ConditionalString(n) => {
                let c = into_bool(&n[0].eval(bag)?);
                let a = n[1].eval(bag)?;
                let b = n[2].eval(bag)?;
                Ok(if c { a } else { b })
            }
            Op::Cmp(op, n) => {
                let a = n[0].eval(bag)?;
                let b = n[1].eval(bag)?;
                let result = match op {
                    CmpOp::Eq => equal(a, b, span)?,
                    CmpOp::Ne => !equal(a, b, span)?,
                    CmpOp::Lt => order(&a, &b) == Some(Ordering::Less),
                    CmpOp::Le => matches!(order(&a, &b), Some(Ordering::Less | Ordering::Equal)),
                    CmpOp::Gt => order(&a, &b) == Some(Ordering::Greater),
                    CmpOp::Ge => matches!(order(&a, &b), Some(Ordering::Greater | Ordering::Equal)),
                };
                Ok(Value::Bool(result))
            }
            Op::Add(ty, n) => {
                let a = n[0].eval(bag)?;
                let b = n[1].eval(bag)?;
                Ok(match (ty, a, b) {
                    (_, Value::Int64(x), Value::Int64(y)) => Value::Int64(x.wrapping_add(y)),
                    (_, Value::Double(x), Value::Double(y)) => Value::Double(x + y),
                    (V::DnsName, a, b) => Value::DnsName(concat(into_text(a), into_text(b))),
                    (V::EmailAddress, a, b) => Value::EmailAddress(concat(into_text(a), into_text(b))),
                    (V::Uri, a, b) => Value::Uri(concat(into_text(a), into_text(b))),
                    (_, a, b) => Value::String(concat(into_text(a), into_text(b))),
                })
            }
            Op::Call1(f, arg) => {
                let s = into_text(arg.eval(bag)?);
                call1(*f, s, span)
            }
            Op::Match(n) => {
                let s = into_text(n[0].eval(bag)?);
                let pattern = into_text(n[1].eval(bag)?);
                Ok(Value::Bool(text::glob(&s, &pattern)))
            }
            Op::Matches { pattern, text } => match pattern {
                Pattern::Constant(compiled) => {
                    let s = into_text(text.eval(bag)?);
                    match compiled {
                        Ok(re) => Ok(Value::Bool(re.is_match(&s))),
                        Err(why) => Err(EvalError::new(K::Regex, span, why.clone())),
                    }
                }
                Pattern::Dynamic(p) => {
                    let p = into_text(p.eval(bag)?);
                    let s = into_text(text.eval(bag)?);
                    let re = crate::func::regex::compile(&p).map_err(|why| EvalError::new(K::Regex, span, why))?;
                    Ok(Value::Bool(re.is_match(&s)))
                }
            },
            Op::StartsWith(n) => {
                let s = into_text(n[0].eval(bag)?);
                let p = into_text(n[1].eval(bag)?);
                Ok(Value::Bool(s.starts_with(&*p)))
            }
            Op::EndsWith(n) => {
                let s = into_text(n[0].eval(bag)?);
                let p = into_text(n[1].eval(bag)?);
                Ok(Value::Bool(s.ends_with(&*p)))
            }
            Op::Cel(op) => op.eval(bag, span),
            Op::Const(_)
            | Op::EmptyMap
            | Op::Attr(_)
            | Op::AttrOr(..)
            | Op::IndexConst(..)
            | Op::IndexConstOr(..)
            | Op::EqText { .. }
            | Op::EqConst { .. }
            | Op::Or(_)
            | Op::And(_)
            | Op::Lor(_)
            | Op::Conditional(_) => self.eval(bag),
        }
    }

    /// `P[e]`: `Some(value)` when present, `None` when absent, or an error
    /// (`docs/reference/expressions.md` §6.3).
    fn present<'a, B: Bag + ?Sized>(&'a self, bag: &'a B) -> Result<Option<Value<'a>>> {
        match &self.op {
            Op::Attr(attr) => attr.read(bag, self.span),
            Op::AttrOr(attr, default) => match attr.read(bag, self.span)? {
                Some(v) => Ok(Some(v)),
                None => default.present(bag),
            },
            Op::IndexConst(map, key) => Ok(map.entry(bag, key, self.span)?.flatten().map(Value::str)),
            Op::IndexConstOr(map, key, default) => match map.entry(bag, key, self.span)? {
                Some(Some(entry)) => Ok(Some(Value::str(entry))),
                _ => default.present(bag),
            },
            Op::Index(n) => {
                let Some(Value::StringMap(map)) = n[0].present(bag)? else {
                    return Ok(None);
                };
                let Some(key) = n[1].present(bag)? else { return Ok(None) };
                Ok(map.get(&into_text(key)).map(Value::str))
            }
            Op::Or(n) => match n[0].present(bag)? {
                Some(v) => Ok(Some(v)),
                None => n[1].present(bag),
            },
            _ => self.eval(bag).map(Some),
        }
    }
}

fn call1(f: Func1, s: Cow<'_, str>, span: Span) -> Result<Value<'_>> {
    let invalid = |message: String| EvalError::new(K::InvalidArgument, span, message);
    Ok(match f {
        Func1::Size => Value::Int64(s.len() as i64),
        Func1::ToLower => Value::String(map_text(s, |x| Ok::<_, ()>(text::to_lower(x))).unwrap_or_default()),
        Func1::Ip => match ip::parse(&s) {
            Some(a) => Value::IpAddress(a),
            None => return Err(invalid(format!("could not convert {s} to IP_ADDRESS"))),
        },
        Func1::Timestamp => match time::parse_rfc3339(&s) {
            Ok(t) => Value::Timestamp(t),
            Err(e) => {
                return Err(invalid(format!(
                    "could not convert '{s}' to TIMESTAMP. expected format: '2006-01-02T15:04:05Z07:00' ({e})"
                )));
            }
        },
        Func1::DnsName => {
            let original = s.clone();
            match map_text(s, dns::validate) {
                Ok(name) => Value::DnsName(name),
                Err(why) => return Err(invalid(format!("error converting '{original}' to dns name: {why}"))),
            }
        }
        Func1::Email => match email::validate(&s) {
            Ok(()) => Value::EmailAddress(s),
            Err(why) => return Err(invalid(format!("error converting '{s}' to e-mail: {why}"))),
        },
        Func1::Uri => match uri::validate(&s) {
            Ok(()) => Value::Uri(s),
            Err(why) => return Err(invalid(format!("error converting string to uri: '{s}': {why}"))),
        },
    })
}
