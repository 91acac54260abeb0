//! Evaluation of the CEL operations of a program tree.

use alloc::borrow::Cow;
use alloc::sync::Arc;
use core::cmp::Ordering;

use super::ops::{self, Result, no_overload};
use super::{BinaryOp, CelConst, CelOp, Loop, Macro, UnaryOp, functions};
use crate::compile::{Node, Pattern};
use crate::{Attr, AttrId, Bag, EvalError, EvalErrorKind as K, Span, Value};

#[cold]
fn no_such_key(key: &str, span: Span) -> EvalError {
    EvalError::new(K::NoSuchKey, span, format!("no such key: {key}"))
}

/// A bag with one comprehension variable bound over an outer bag.
struct Scoped<'o> {
    outer: &'o dyn Bag,
    id: AttrId,
    value: Value<'o>,
}

impl Bag for Scoped<'_> {
    fn get(&self, attr: Attr<'_>) -> Option<Value<'_>> {
        if attr.id == self.id {
            Some(self.value.reborrow())
        } else {
            self.outer.get(attr)
        }
    }
}

/// A value as a `bool`, or the error CEL gives for a non-boolean operand.
fn boolean(v: &Value<'_>, function: &str, span: Span) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(no_overload(function, &[other], span)),
    }
}

impl CelOp {
    /// Kept out of line: inlined, its frame would be paid by every evaluation of the
    /// attribute language's operations too (they share `Node::eval_other`).
    #[inline(never)]
    pub(crate) fn eval<'a, B: Bag + ?Sized>(&'a self, bag: &'a B, span: Span) -> Result<Value<'a>> {
        match self {
            Self::Const(c) => Ok(match c {
                CelConst::Uint(v) => Value::Uint64(*v),
                CelConst::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
                CelConst::Null => Value::Null,
                CelConst::Type(t) => Value::Type(*t),
            }),
            Self::Local(var) => var
                .lookup(bag)
                .ok_or_else(|| EvalError::missing(var.name.clone(), span)),
            Self::Undeclared(message) => Err(EvalError::new(K::NoSuchKey, span, message.clone())),
            Self::Namespace(children) => namespace(children, bag),
            Self::IndexConst(map, key) => match map.entry(bag, key, span)? {
                Some(Some(v)) => Ok(Value::str(v)),
                Some(None) => Err(no_such_key(key, span)),
                None => Err(EvalError::missing(map.name.clone(), span)),
            },
            Self::IndexConstOr(map, key, default) => match map.entry(bag, key, span)? {
                Some(Some(v)) => Ok(Value::str(v)),
                Some(None) => default.eval(bag),
                None => Err(EvalError::missing(map.name.clone(), span)),
            },
            Self::HasAttr(attr) => Ok(Value::Bool(attr.lookup(bag).is_some())),
            Self::HasAny(attrs) => Ok(Value::Bool(attrs.iter().any(|a| a.lookup(bag).is_some()))),
            Self::Guarded { parent, key, then } => {
                if parent.iter().any(|a| a.lookup(bag).is_some()) {
                    then.eval(bag)
                } else {
                    Err(no_such_key(key, span))
                }
            }
            Self::HasKey(map, key) => match map.entry(bag, key, span)? {
                Some(entry) => Ok(Value::Bool(entry.is_some())),
                None => Err(EvalError::missing(map.name.clone(), span)),
            },
            Self::Select(operand, field) => select(&operand.eval(bag)?, field, span),
            Self::HasField(operand, field) => has_field(&operand.eval(bag)?, field, span),
            Self::Index(pair) => index(&pair[0].eval(bag)?, &pair[1].eval(bag)?, span),
            Self::Unary(op, operand) => unary(*op, &operand.eval(bag)?, span),
            Self::Logic { and, operands } => logic(*and, operands, bag),
            Self::Conditional(parts) => {
                let condition = parts[0].eval(bag)?;
                if boolean(&condition, "_?_:_", span)? {
                    parts[1].eval(bag)
                } else {
                    parts[2].eval(bag)
                }
            }
            Self::Binary(op, pair) => binary(*op, pair[0].eval(bag)?, pair[1].eval(bag)?, span),
            Self::List(items) => Ok(Value::List(
                items.iter().map(|i| i.eval(bag)).collect::<Result<Arc<[_]>>>()?,
            )),
            Self::Map(entries) => map_literal(entries, bag),
            Self::Call(function, operands) => {
                // One operand (conversions, `size`, `type`): no array of three to fill and drop.
                if let [operand] = &operands[..] {
                    return functions::call1(*function, operand.eval(bag)?, span);
                }
                // At most three operands (the lowering's function table): on the stack.
                let mut values = [Value::Null, Value::Null, Value::Null];
                for (slot, operand) in values.iter_mut().zip(operands.iter()) {
                    *slot = operand.eval(bag)?;
                }
                let n = operands.len().min(values.len());
                functions::call(*function, &mut values[..n], span)
            }
            Self::StringOfInt(attr) => functions::string_of_int(attr, bag, span),
            Self::MatchesConst { pattern, text } => {
                let text = text.eval(bag)?;
                let Value::String(s) = &text else {
                    return Err(no_overload("matches", &[&text, &Value::str("")], span));
                };
                match pattern {
                    Pattern::Constant(Ok(re)) => Ok(Value::Bool(re.is_match(s))),
                    Pattern::Constant(Err(why)) => Err(EvalError::new(K::Regex, span, why.clone())),
                    Pattern::Dynamic(_) => Err(EvalError::new(K::Regex, span, "pattern is not a constant")),
                }
            }
            Self::Comprehension(l) => comprehension(l, bag),
        }
    }
}

/// `v.field` on a value known only at run time: a map entry.
fn select<'a>(v: &Value<'a>, field: &str, span: Span) -> Result<Value<'a>> {
    match ops::lookup(v, &Value::str(field)) {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(no_such_key(field, span)),
        Err(()) => Err(EvalError::new(
            K::NoMatchingOverload,
            span,
            format!(
                "type '{}' does not support field selection ('.{field}')",
                v.value_type().cel_name()
            ),
        )),
    }
}

/// `has(v.field)` on a value known only at run time.
fn has_field(v: &Value<'_>, field: &str, span: Span) -> Result<Value<'static>> {
    match ops::lookup(v, &Value::str(field)) {
        Ok(found) => Ok(Value::Bool(found.is_some())),
        Err(()) => Err(EvalError::new(
            K::NoMatchingOverload,
            span,
            format!("invalid type for has(): '{}' has no fields", v.value_type().cel_name()),
        )),
    }
}

fn namespace<'a, B: Bag + ?Sized>(children: &'a [(Box<str>, Node)], bag: &'a B) -> Result<Value<'a>> {
    let mut entries = Vec::new();
    for (key, child) in children {
        let value = match &child.op {
            crate::compile::Op::Attr(attr) => match attr.read(bag, child.span)? {
                Some(v) => v,
                None => continue,
            },
            // A nested object none of whose attributes is present is not there at all.
            _ => match child.eval(bag)? {
                Value::Map(m) if m.is_empty() => continue,
                v => v,
            },
        };
        entries.push((Value::str(key), value));
    }
    Ok(Value::Map(entries.into()))
}

pub(crate) fn index<'a>(container: &Value<'a>, key: &Value<'_>, span: Span) -> Result<Value<'a>> {
    match container {
        Value::List(items) => {
            let position = match key {
                Value::Int64(i) => usize::try_from(*i).ok(),
                Value::Uint64(u) => usize::try_from(*u).ok(),
                Value::Double(d) if d.fract() == 0.0 && *d >= 0.0 && *d < 9.0e15 =>
                {
                    #[allow(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "integral, in range"
                    )]
                    Some(*d as usize)
                }
                Value::Double(_) => None,
                other => return Err(no_overload("_[_]", &[container, other], span)),
            };
            position.and_then(|p| items.get(p).cloned()).ok_or_else(|| {
                EvalError::new(
                    K::NoSuchKey,
                    span,
                    format!("index out of bounds: {key} (list of size {})", items.len()),
                )
            })
        }
        Value::Map(_) | Value::StringMap(_) => match ops::lookup(container, key) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(no_such_key(&key.to_string(), span)),
            Err(()) => Err(no_overload("_[_]", &[container, key], span)),
        },
        _ => Err(no_overload("_[_]", &[container, key], span)),
    }
}

pub(crate) fn unary(op: UnaryOp, v: &Value<'_>, span: Span) -> Result<Value<'static>> {
    match (op, v) {
        (UnaryOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
        (UnaryOp::Neg, Value::Int64(i)) => i
            .checked_neg()
            .map(Value::Int64)
            .ok_or_else(|| ops::overflow("integer", span)),
        (UnaryOp::Neg, Value::Double(d)) => Ok(Value::Double(-d)),
        (UnaryOp::Not, _) => Err(no_overload("!_", &[v], span)),
        (UnaryOp::Neg, _) => Err(no_overload("-_", &[v], span)),
    }
}

/// `&&` and `||`: a deciding operand (false for `&&`, true for `||`) wins over an error or a
/// non-boolean on either side; otherwise the first error.
fn logic<'a, B: Bag + ?Sized>(and: bool, operands: &'a [Node; 2], bag: &'a B) -> Result<Value<'a>> {
    let decisive = !and;
    let function = if and { "_&&_" } else { "_||_" };
    let first = operands[0]
        .eval(bag)
        .and_then(|v| boolean(&v, function, operands[0].span));
    if first.as_ref().is_ok_and(|b| *b == decisive) {
        return Ok(Value::Bool(decisive));
    }
    let second = operands[1]
        .eval(bag)
        .and_then(|v| boolean(&v, function, operands[1].span));
    match (first, second) {
        (_, Ok(b)) if b == decisive => Ok(Value::Bool(decisive)),
        (Err(e), _) | (Ok(_), Err(e)) => Err(e),
        (Ok(_), Ok(_)) => Ok(Value::Bool(!decisive)),
    }
}

pub(crate) fn binary<'a>(op: BinaryOp, a: Value<'a>, b: Value<'a>, span: Span) -> Result<Value<'a>> {
    let ordered = |wanted: fn(Ordering) -> bool| -> Result<Value<'a>> {
        Ok(Value::Bool(ops::compare(op, &a, &b, span)?.is_some_and(wanted)))
    };
    match op {
        BinaryOp::Eq => Ok(Value::Bool(ops::equal(&a, &b))),
        BinaryOp::Ne => Ok(Value::Bool(!ops::equal(&a, &b))),
        BinaryOp::Lt => ordered(Ordering::is_lt),
        BinaryOp::Le => ordered(Ordering::is_le),
        BinaryOp::Gt => ordered(Ordering::is_gt),
        BinaryOp::Ge => ordered(Ordering::is_ge),
        BinaryOp::In => ops::contains(&b, &a, span).map(Value::Bool),
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
            ops::arithmetic(op, a, b, span)
        }
        BinaryOp::And | BinaryOp::Or => Err(no_overload(
            if op == BinaryOp::And { "_&&_" } else { "_||_" },
            &[&a, &b],
            span,
        )),
    }
}

fn map_literal<'a, B: Bag + ?Sized>(entries: &'a [(Node, Node)], bag: &'a B) -> Result<Value<'a>> {
    let mut out: Vec<(Value<'a>, Value<'a>)> = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let key = k.eval(bag)?;
        if !ops::is_key(&key) {
            return Err(EvalError::new(
                K::NoMatchingOverload,
                k.span,
                format!("unsupported map key type: {}", key.value_type().cel_name()),
            ));
        }
        if out.iter().any(|(seen, _)| ops::same_key(seen, &key)) {
            return Err(EvalError::new(
                K::InvalidArgument,
                k.span,
                format!("duplicate map key: {key}"),
            ));
        }
        out.push((key, v.eval(bag)?));
    }
    Ok(Value::Map(out.into()))
}

/// The elements a comprehension iterates: a list's items, a map's keys.
pub(crate) fn elements<'a>(range: &Value<'a>, span: Span) -> Result<Vec<Value<'a>>> {
    match range {
        Value::List(items) => Ok(items.to_vec()),
        Value::Map(entries) => Ok(entries.iter().map(|(k, _)| k.clone()).collect()),
        Value::StringMap(_) => {
            let mut keys = Vec::new();
            ops::for_each_entry(range, &mut |k, _| keys.push(k));
            Ok(keys)
        }
        other => Err(no_overload("comprehension", &[other], span)),
    }
}

fn comprehension<'a, B: Bag + ?Sized>(l: &'a Loop, bag: &'a B) -> Result<Value<'a>> {
    let range = l.range.eval(bag)?;
    let items = elements(&range, l.range.span)?;
    let outer: &B = bag;
    let outer: &dyn Bag = &outer;
    let scoped = |value: Value<'a>| Scoped {
        outer,
        id: l.var.id,
        value,
    };
    let test = |node: &Node, item: &Value<'a>| -> Result<bool> {
        let bag = scoped(item.clone());
        let v = node.eval(&bag)?;
        boolean(&v, l.kind.name(), node.span)
    };
    match l.kind {
        Macro::All | Macro::Exists => {
            let decisive = l.kind == Macro::Exists;
            let mut error = None;
            for item in &items {
                match test(&l.body, item) {
                    Ok(b) if b == decisive => return Ok(Value::Bool(decisive)),
                    Ok(_) => {}
                    Err(e) => error = error.or(Some(e)),
                }
            }
            error.map_or(Ok(Value::Bool(!decisive)), Err)
        }
        Macro::ExistsOne => {
            let mut count = 0usize;
            for item in &items {
                count += usize::from(test(&l.body, item)?);
            }
            Ok(Value::Bool(count == 1))
        }
        Macro::Filter => {
            let mut kept = Vec::new();
            for item in items {
                if test(&l.body, &item)? {
                    kept.push(item);
                }
            }
            Ok(Value::List(kept.into()))
        }
        Macro::Map => {
            let mut mapped = Vec::with_capacity(items.len());
            for item in items {
                if let Some(filter) = &l.filter
                    && !test(filter, &item)?
                {
                    continue;
                }
                let bag = scoped(item);
                mapped.push(l.body.eval(&bag)?.into_static());
            }
            Ok(Value::List(mapped.into()))
        }
    }
}
